"""Two first saves of a one-per-key row at once give no 500 (issue 14 item 7).

``preferences_of`` (settings page, unsubscribe link), the reviewer profile and a call's
reminder policy read a row and create it when missing; so does recording a conflict. The deterministic test holds a
competing insert open in another connection while the service runs, which is exactly the
losing interleaving; the request test sends real concurrent requests from threads.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, insert, select

from incubator.database import utcnow
from incubator.domain.roles import Role
from incubator.extensions import db
from incubator.models import Application, Conflict, User
from incubator.models.reminders import NotificationPreference
from incubator.services import preferences, tokens
from incubator.services.conflicts import record_conflict
from incubator.services.rows import get_or_create
from tests.conftest import csrf_token, log_in
from tests.factories import make_application, make_call

ROUNDS = 5
CONCURRENT = 6


def test_the_loser_of_a_first_insert_race_reads_the_winners_row(app: Flask, make_user: Callable[..., User]) -> None:
    user_id = make_user(Role.REVIEWER).id
    db.session.remove()
    competitor = db.engine.connect()
    transaction = competitor.begin()
    competitor.execute(insert(NotificationPreference).values(user_id=user_id, unsubscribed_at=None,
                                                             updated_at=func.now()))
    outcome: dict[str, object] = {}

    def first_save() -> None:
        with app.app_context():
            try:  # blocks on the competitor's uncommitted row, then must not fail
                outcome["row"] = get_or_create(NotificationPreference, user_id=user_id).user_id
                db.session.commit()
            except Exception as error:  # noqa: BLE001  # reported below as the test's failure
                outcome["error"] = error
                db.session.rollback()

    thread = threading.Thread(target=first_save)
    thread.start()
    time.sleep(0.5)  # let the service read nothing and reach its insert
    transaction.commit()
    competitor.close()
    thread.join(timeout=30)
    assert "error" not in outcome, outcome.get("error")
    assert outcome["row"] == user_id
    assert db.session.scalar(select(func.count()).select_from(NotificationPreference)) == 1


def test_concurrent_first_unsubscribes_and_settings_saves_give_no_500(app: Flask,
                                                                      make_user: Callable[..., User]) -> None:
    for _ in range(ROUNDS):
        user = make_user(Role.REVIEWER)
        statuses = race_first_saves(app, user)
        assert len(statuses) == CONCURRENT and all(status < 500 for status in statuses), statuses
        assert preferences.is_unsubscribed(db.session.get(User, user.id))


def race_first_saves(app: Flask, user: User) -> list[int]:
    """Half the requests through the settings page, half through the email link, all at once."""
    requests = []
    for index in range(CONCURRENT):
        client = app.test_client()
        if index % 2:
            assert log_in(client, user.email).status_code == 302
            requests.append((client, "/notifications/subscription",
                             {"reminders": "off", "csrf_token": csrf_token(client, "/notifications/")}))
        else:
            requests.append((client, f"/unsubscribe/{tokens.unsubscribe_token(user.email)}", {}))
    db.session.remove()  # the test's own connection must hold nothing while they race
    barrier = threading.Barrier(CONCURRENT)
    statuses: list[int] = []

    def save(client: FlaskClient, url: str, data: dict[str, str]) -> None:
        barrier.wait()
        statuses.append(client.post(url, data=data).status_code)

    threads = [threading.Thread(target=save, args=entry) for entry in requests]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return statuses


def test_the_same_conflict_declared_twice_at_once_gives_one_row_and_no_error(app: Flask,
                                                                             make_user: Callable[..., User]) -> None:
    reviewer = make_user(Role.REVIEWER)
    manager = make_user(Role.MANAGER)
    application = make_application(make_user(Role.APPLICANT), make_call(), state="submitted", complete=True)
    reviewer_id, manager_id, application_id = reviewer.id, manager.id, application.id
    db.session.remove()
    competitor = db.engine.connect()
    transaction = competitor.begin()
    competitor.execute(insert(Conflict).values(reviewer_id=reviewer_id, application_id=application_id,
                                               reason="Former colleague", source="declared",
                                               created_by_id=reviewer_id, created_at=utcnow()))
    outcome: dict[str, object] = {}

    def declare() -> None:
        with app.app_context():
            try:  # blocks on the competitor's uncommitted row, then must not fail
                conflict = record_conflict(db.session.get(User, manager_id), db.session.get(User, reviewer_id),
                                           db.session.get(Application, application_id), "Co-founder",
                                           source="manager", now=utcnow())
                outcome["reason"] = conflict.reason
                db.session.commit()
            except Exception as error:  # noqa: BLE001  # reported below as the test's failure
                outcome["error"] = error
                db.session.rollback()

    thread = threading.Thread(target=declare)
    thread.start()
    time.sleep(0.5)
    transaction.commit()
    competitor.close()
    thread.join(timeout=30)
    assert "error" not in outcome, outcome.get("error")
    assert outcome["reason"] == "Former colleague"  # the winner's row
    assert db.session.scalar(select(func.count()).select_from(Conflict)) == 1
