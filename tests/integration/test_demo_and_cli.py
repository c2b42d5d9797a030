"""Demo data, command-line entry points, and migrations that match the models."""

from __future__ import annotations

from flask import Flask
from sqlalchemy import func, select

from incubator.extensions import db
from incubator.models import Call, Criterion, Programme, Slot, User
from incubator.services.demo import DEMO_PASSWORD, demo_logins
from tests.conftest import log_in


def test_demo_seed_creates_programmes_call_rubric_slots_and_accounts_once(app: Flask) -> None:
    runner = app.test_cli_runner()
    first = runner.invoke(args=["demo", "seed"])
    assert first.exit_code == 0, first.output
    assert "Demo data created." in first.output
    for login in demo_logins():
        assert f"{login.email}" in first.output
    second = runner.invoke(args=["demo", "seed"])
    assert "Demo data already present; nothing changed." in second.output
    assert db.session.scalars(select(Programme.name).order_by(Programme.name)).all() == [
        "BioVentureHub exchange", "OCC Incubator"]
    assert db.session.scalar(select(func.count()).select_from(Call)) == 1
    assert db.session.scalar(select(func.count()).select_from(Criterion)) == 6
    assert db.session.scalar(select(func.count()).select_from(Slot)) == 5
    assert db.session.scalar(select(func.count()).select_from(User)) == 4


def test_demo_logins_work_for_all_four_roles(app: Flask) -> None:
    app.test_cli_runner().invoke(args=["demo", "seed"])
    expected_landing = {"applicant": "/dashboard", "reviewer": "/dashboard", "manager": "/dashboard", "admin": "/dashboard"}
    pages = {"applicant": "/dashboard", "reviewer": "/review/", "manager": "/manage/", "admin": "/admin/users"}
    for login in demo_logins():
        client = app.test_client()
        response = log_in(client, login.email, DEMO_PASSWORD)
        assert response.headers["Location"] == expected_landing[login.role.value]
        assert client.get(pages[login.role.value]).status_code == 200, login.role


def test_users_create_command_refuses_weak_password(app: Flask) -> None:
    runner = app.test_cli_runner()
    result = runner.invoke(args=["users", "create", "--email", "ops@occ.no", "--name", "Ops",
                                 "--role", "admin", "--password", "short"])
    assert result.exit_code == 1
    assert "Use at least 10 characters." in result.output
    result = runner.invoke(args=["users", "create", "--email", "ops@occ.no", "--name", "Ops",
                                 "--role", "admin", "--password", "a long admin passphrase"])
    assert result.exit_code == 0, result.output
    assert db.session.scalar(select(User.role).where(User.email == "ops@occ.no")) == "admin"


def test_migrations_match_the_models(app: Flask) -> None:
    result = app.test_cli_runner().invoke(args=["db", "check"])
    assert result.exit_code == 0, result.output
    assert result.exception is None


def test_outbox_deliver_command_reports_counts(app: Flask) -> None:
    result = app.test_cli_runner().invoke(args=["outbox", "deliver"])
    assert result.exit_code == 0
    assert result.output.strip() == "sent 0, retrying 0, failed 0"
