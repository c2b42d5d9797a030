"""Invariants the database itself enforces, on SQLite and PostgreSQL alike."""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy.exc import IntegrityError

from incubator.domain.roles import Role
from incubator.extensions import db
from incubator.models import Attachment
from tests.factories import make_application, make_call


def test_second_pitch_deck_for_an_application_is_refused_by_the_database(app: Flask, make_user) -> None:
    application = make_application(make_user(Role.APPLICANT), make_call())
    for key in ("a" * 48, "b" * 48):
        db.session.add(Attachment(application_id=application.id, kind="pitch_deck", original_filename="d.pdf",
                                  storage_key=key, size_bytes=10, sha256="0" * 64))
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()


def test_many_other_documents_are_allowed_beside_one_pitch_deck(app: Flask, make_user) -> None:
    application = make_application(make_user(Role.APPLICANT), make_call())
    for index, kind in enumerate(["pitch_deck", "other", "other"]):
        db.session.add(Attachment(application_id=application.id, kind=kind, original_filename="d.pdf",
                                  storage_key=str(index) * 48, size_bytes=10, sha256="0" * 64))
    db.session.commit()
    assert len(application.attachments) == 3


@pytest.mark.parametrize(("column", "value"), [("state", "approved"), ("employees", -1)])
def test_application_columns_are_checked_by_the_database(app: Flask, make_user, column: str, value: object) -> None:
    application = make_application(make_user(Role.APPLICANT), make_call())
    setattr(application, column, value)
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()


def test_unknown_role_is_refused_by_the_database(app: Flask, make_user) -> None:
    user = make_user(Role.APPLICANT)
    user.role = "superuser"
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()
