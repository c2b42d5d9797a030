"""Twenty startups accept offers for the last place of a slot at the same moment: exactly one
gets it, the others are told clearly, and the slot never holds more than its capacity.

Real concurrent requests: one thread per startup, each with its own logged-in test client (so
its own app context, session and database connection), released together by a barrier.
Runs on PostgreSQL (row lock, SELECT … FOR UPDATE) and on SQLite (database write lock).
"""

from __future__ import annotations

import datetime as dt
import shutil
import threading
from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from incubator import create_app
from incubator.database import utcnow
from incubator.domain.roles import Role
from incubator.extensions import db
from incubator.models import Offer, Residency
from tests.conftest import base_config, csrf_token, log_in
from tests.factories import make_call
from tests.integration.test_residencies_service import decided, make_slot

STARTUPS = 20


def test_twenty_concurrent_accepts_for_the_last_place(app: Flask, make_user) -> None:
    call = make_call()
    slot = make_slot(call, capacity=1)
    now = utcnow()
    clients: list[tuple[FlaskClient, int, str]] = []
    for _ in range(STARTUPS):
        application = decided(make_user, call)
        offer = Offer(application=application, slot=slot, state="offered", starts_on=dt.date(2027, 1, 1),
                      ends_on=dt.date(2028, 1, 1), response_deadline=now + dt.timedelta(days=7), offered_at=now)
        db.session.add(offer)
        db.session.commit()
        client = app.test_client()
        assert log_in(client, application.applicant.email).status_code == 302
        clients.append((client, offer.id, csrf_token(client, f"/offers/{offer.id}")))
    db.session.remove()  # the test's own connection must not hold anything while they race

    barrier = threading.Barrier(STARTUPS)
    results: list[tuple[int, str]] = []
    lock = threading.Lock()

    def accept(client: FlaskClient, offer_id: int, token: str) -> None:
        barrier.wait()
        response = client.post(f"/offers/{offer_id}/accept", data={"csrf_token": token})
        with lock:
            results.append((response.status_code, response.get_data(as_text=True)))

    threads = [threading.Thread(target=accept, args=entry) for entry in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    statuses = sorted(status for status, _ in results)
    assert statuses == [302] + [409] * (STARTUPS - 1), statuses
    for status, body in results:
        if status == 409:
            assert "the last place in this slot has just been taken" in body
    assert db.session.scalar(select(func.count()).select_from(Residency)) == 1
    assert db.session.scalar(select(func.count()).select_from(Offer).where(Offer.state == "accepted")) == 1
    assert db.session.scalar(select(func.count()).select_from(Offer).where(Offer.state == "offered")) == STARTUPS - 1


def test_offer_pages_are_only_for_applicants(app: Flask, make_user) -> None:
    """The other roles get 403 on the offer page (ids of other startups: 404, see test_offers)."""
    reviewer = make_user(Role.REVIEWER)
    client = app.test_client()
    log_in(client, reviewer.email)
    assert client.get("/offers/1").status_code == 403


def test_sqlite_writers_wait_thirty_seconds_for_the_write_lock(sqlite_template: Path, tmp_path: Path) -> None:
    """The twenty accepts above queue for SQLite's one write lock; the driver's default 5 s
    was too short for the last of them on a busy machine ("database is locked")."""
    path = tmp_path / "db.sqlite3"
    shutil.copyfile(sqlite_template, path)
    app = create_app(base_config(f"sqlite:///{path}", tmp_path))
    with app.app_context():
        connection = db.engine.raw_connection()
        try:
            assert connection.cursor().execute("PRAGMA busy_timeout").fetchone() == (30_000,)
        finally:
            connection.close()
        db.engine.dispose()
