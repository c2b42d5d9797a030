"""Retention: rejected and withdrawn applications are anonymised once their period is over.

Nothing is kept longer than its purpose needs. After ``RETENTION_YEARS`` (default 3) from the
released rejection or the withdrawal, an application loses what identifies or describes the
company, exactly as an erasure would (``privacy.anonymise_application``): the statistics and the
record of decisions stay. Accepted and waitlisted applications are not touched (residencies
and waiting lists still refer to them), nor unreleased decisions (still reversible).

The job selects only what is due and not yet anonymised, in bounded batches, so running it
twice, or in two scheduler processes, does no harm; each anonymisation is an audit event.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from flask import current_app
from sqlalchemy import and_, or_, select

from incubator.domain.applications import ApplicationState
from incubator.extensions import db
from incubator.models import Application
from incubator.services.audit import record_event
from incubator.services.privacy import anonymise_application

BATCH_SIZE = 500


@dataclass(frozen=True)
class RetentionCandidate:
    application_id: int
    state: str
    since: dt.datetime
    call_title: str


def retention_cutoff(now: dt.datetime, years: int) -> dt.datetime:
    """``years`` calendar years before ``now`` (29 February falls back to the 28th)."""
    if years < 1:
        raise ValueError("the retention period is at least one year")
    try:
        return now.replace(year=now.year - years)
    except ValueError:
        return now.replace(year=now.year - years, day=28)


def _due(now: dt.datetime, limit: int) -> list[Application]:
    cutoff = retention_cutoff(now, int(current_app.config["RETENTION_YEARS"]))
    return list(db.session.scalars(
        select(Application)
        .where(Application.anonymised_at.is_(None), or_(
            and_(Application.state == ApplicationState.REJECTED.value,
                 Application.decision_released_at <= cutoff),
            and_(Application.state == ApplicationState.WITHDRAWN.value, Application.withdrawn_at <= cutoff),
        ))
        .order_by(Application.id)
        .limit(limit)
    ))


def _since(application: Application) -> dt.datetime:
    moment = (application.withdrawn_at if application.state == ApplicationState.WITHDRAWN.value
              else application.decision_released_at)
    assert moment is not None  # the query selected on it
    return moment


def due_for_anonymisation(now: dt.datetime, limit: int = BATCH_SIZE) -> list[RetentionCandidate]:
    """What a run at ``now`` would anonymise (at most ``limit``); changes nothing."""
    return [RetentionCandidate(application.id, application.state, _since(application), application.call.title)
            for application in _due(now, limit)]


def anonymise_expired(now: dt.datetime, limit: int = BATCH_SIZE) -> list[RetentionCandidate]:
    """Anonymise one batch of applications past their retention period; the caller commits."""
    done = []
    for application in _due(now, limit):
        candidate = RetentionCandidate(application.id, application.state, _since(application),
                                       application.call.title)
        anonymise_application(application, now)
        record_event(None, "application.anonymised", "application", application.id, rule="retention",
                     state=application.state, since=candidate.since.isoformat(),
                     retention_years=int(current_app.config["RETENTION_YEARS"]))
        done.append(candidate)
    db.session.flush()
    return done
