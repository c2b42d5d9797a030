"""One scheduler leads through a lease row, the others stand by; every job run leaves a heartbeat.

In-process and on both backends: the lease rules themselves. The same with real processes and
SIGKILL is in tests/topology/test_topology.py.
"""

from __future__ import annotations

import datetime as dt
import time

import pytest
from flask import Flask
from sqlalchemy import select

from incubator.database import utcnow
from incubator.extensions import db
from incubator.models import JobHeartbeat, OutboundEmail, SchedulerLease
from incubator.scheduler import Intervals, Leadership, _job_runner, build_scheduler
from incubator.services.scheduling import claim_lease, current_lease, record_job_run, release_lease

LEASE = dt.timedelta(seconds=30)


def claim(holder: str, now: dt.datetime) -> bool:
    held = claim_lease(holder, now, LEASE)
    db.session.commit()
    return held


def test_first_claim_takes_the_lease_and_others_wait_until_it_expires(app: Flask) -> None:
    now = utcnow()
    assert claim("a", now)
    assert not claim("b", now + dt.timedelta(seconds=29))
    assert claim("b", now + dt.timedelta(seconds=30))  # expired: the standby takes it
    assert not claim("a", now + dt.timedelta(seconds=31))  # the old leader does not get it back
    lease = current_lease()
    assert (lease.holder, lease.acquired_at, lease.expires_at) == ("b", now + dt.timedelta(seconds=30),
                                                                    now + dt.timedelta(seconds=60))


def test_renewing_extends_the_lease_and_keeps_when_it_was_acquired(app: Flask) -> None:
    now = utcnow()
    assert claim("a", now)
    assert claim("a", now + dt.timedelta(seconds=10))
    lease = current_lease()
    assert (lease.acquired_at, lease.renewed_at, lease.expires_at) == (
        now, now + dt.timedelta(seconds=10), now + dt.timedelta(seconds=40))
    assert db.session.scalar(select(SchedulerLease.name)) == "scheduler"


def test_released_lease_is_free_at_once(app: Flask) -> None:
    now = utcnow()
    assert claim("a", now)
    release_lease("b", now)  # not b's to release
    db.session.commit()
    assert not claim("b", now + dt.timedelta(seconds=1))
    release_lease("a", now + dt.timedelta(seconds=1))
    db.session.commit()
    assert claim("b", now + dt.timedelta(seconds=1))


def test_only_the_leader_runs_jobs_and_its_runs_leave_heartbeats(app: Flask) -> None:
    leader, standby = Leadership(app, 30, 10), Leadership(app, 30, 10)
    assert leader.renew() == (True, False)
    assert standby.renew() == (False, False)
    db.session.add(OutboundEmail(to_address="a@example.org", subject="s", body_text="b", kind="test"))
    db.session.commit()
    for who in (standby, leader):
        build_scheduler(app, Intervals(), who).get_job("outbox-delivery").func()
    db.session.expire_all()
    [beat] = db.session.scalars(select(JobHeartbeat)).all()
    assert (beat.job, beat.holder, beat.runs, beat.last_status, beat.last_items) == (
        "outbox-delivery", leader.holder, 1, "ok", 1)
    assert db.session.scalar(select(OutboundEmail.status)) == "sent"

    leader.release()
    assert not leader.is_leader()
    assert standby.renew() == (True, False)


def test_a_leader_that_cannot_renew_stops_leading_before_its_lease_expires(app: Flask) -> None:
    leadership = Leadership(app, lease_seconds=0.6, renew_seconds=0.3)
    assert leadership.renew()[0]
    time.sleep(0.35)  # lease - renew has passed without a renewal
    assert not leadership.is_leader()
    lease = current_lease()
    assert lease.expires_at > utcnow()  # while the row says the lease still runs: no overlap with a standby


def test_lease_must_outlast_the_renewal_interval(app: Flask) -> None:
    with pytest.raises(ValueError, match="longer than the time between renewals"):
        Leadership(app, lease_seconds=10, renew_seconds=10)


def test_failed_run_is_recorded_and_keeps_the_last_success(app: Flask) -> None:
    leadership = Leadership(app, 30, 10)
    leadership.renew()
    outcomes = iter([3, RuntimeError("SMTP is down")])

    def job() -> int:
        outcome = next(outcomes)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    run = _job_runner(app, "reminder-sweep", job, leadership)
    run()
    db.session.expire_all()
    first_success = db.session.get(JobHeartbeat, "reminder-sweep").last_success_at
    run()
    db.session.expire_all()
    beat = db.session.get(JobHeartbeat, "reminder-sweep")
    assert (beat.runs, beat.failures, beat.items_total, beat.last_status) == (2, 1, 3, "failed")
    assert beat.last_error == "RuntimeError: SMTP is down"
    assert beat.last_success_at == first_success is not None


def test_heartbeat_totals_add_up(app: Flask) -> None:
    start = utcnow()
    for items in (2, 5):
        record_job_run("reminder-sweep", "a", start, start + dt.timedelta(seconds=1.5), items=items)
    db.session.commit()
    beat = db.session.get(JobHeartbeat, "reminder-sweep")
    assert (beat.runs, beat.items_total, beat.last_items, beat.last_duration_seconds) == (2, 7, 5, 1.5)


def test_cli_refuses_a_renewal_interval_as_long_as_the_lease(app: Flask) -> None:
    result = app.test_cli_runner().invoke(args=["scheduler", "run", "--lease-seconds", "5", "--renew-every", "5"])
    assert result.exit_code == 1
    assert "--renew-every must be shorter than --lease-seconds" in result.output
