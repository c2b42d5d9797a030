"""Demo data, command-line entry points, and migrations that match the models."""

from __future__ import annotations

from flask import Flask
from sqlalchemy import func, select

from incubator.database import utcnow
from incubator.domain.organisations import check_registration_number
from incubator.extensions import db
from incubator.models import Application, Call, Criterion, Programme, Residency, Slot, User
from incubator.services.assignments import auto_assign
from incubator.services.demo import DEMO_PASSWORD, demo_logins
from incubator.services.exchange import exchange_balance
from incubator.services.ranking import ranking_for_call
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
    # The open call and a decided previous one, each with the default rubric, and an earlier
    # exchange intake; five future slots, three that hold the previous intake's residents now,
    # two that held the exchange's.
    assert db.session.scalar(select(func.count()).select_from(Call)) == 3
    assert db.session.scalar(select(func.count()).select_from(Criterion)) == 12
    assert db.session.scalar(select(func.count()).select_from(Slot)) == 10
    # Six demo logins (two limited to BioVentureHub), five more reviewers, fourteen founders.
    assert db.session.scalar(select(func.count()).select_from(User)) == 25
    assert "(sees only the BioVentureHub exchange)" in first.output


def test_demo_staffs_the_open_call_without_warnings(app: Flask) -> None:
    app.test_cli_runner().invoke(args=["demo", "seed"])
    call = db.session.scalar(select(Call).where(Call.closes_at > utcnow()))
    manager = db.session.scalar(select(User).where(User.email == "manager@demo.example"))
    with app.test_request_context():
        report = auto_assign(manager, call, now=utcnow())
    assert report.created == 10  # five applications, two reviewers each
    assert report.unfilled == [] and report.underloaded == [] and report.not_willing_used == 0
    assert call.bidding_is_open(utcnow())


def test_demo_previous_call_is_decided_released_and_its_residents_are_in_place(app: Flask) -> None:
    app.test_cli_runner().invoke(args=["demo", "seed"])
    previous = db.session.scalar(select(Call).where(Call.closes_at < utcnow()).order_by(Call.closes_at.desc()))
    applications = db.session.scalars(select(Application).where(Application.call_id == previous.id)).all()
    assert sorted(a.state for a in applications) == ["accepted"] * 3 + ["rejected"] * 2 + ["waitlisted"]
    assert all(a.decision_released_at is not None for a in applications)
    rows = ranking_for_call(previous)
    assert [row.rank for row in rows] == [1, 2, 3, 4, 5, 6]
    assert rows[0].company_name == "RadioTarget AS" and rows[0].reviews_submitted == 2
    today = utcnow().date()
    residents = db.session.scalars(select(Residency).where(Residency.state == "active")).all()
    assert len(residents) == 3 and all(r.starts_on <= today < r.ends_on for r in residents)
    manager = app.test_client()
    log_in(manager, "manager@demo.example", DEMO_PASSWORD)
    radiotarget = next(a for a in applications if a.company_name == "RadioTarget AS")
    page = manager.get(f"/manage/applications/{radiotarget.id}/committee").get_data(as_text=True)
    assert "Kari Nordmann" in page and "Eva Lind" in page and "Weighted total" in page
    assert "The committee valued your clinical progress" in page
    assert "RadioTarget AS" in manager.get("/manage/occupancy").get_data(as_text=True)


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


def test_demo_exchange_report_and_bioventurehub_view(app: Flask) -> None:
    app.test_cli_runner().invoke(args=["demo", "seed"])
    years = exchange_balance()
    assert sum(year.sent for year in years) == 2 and sum(year.received for year in years) == 2
    assert sum(year.received_months for year in years) == 18
    hub = app.test_client()
    log_in(hub, "bvh-manager@demo.example", DEMO_PASSWORD)
    residencies = hub.get("/manage/residencies").get_data(as_text=True)
    assert "Bergen Cell AS" in residencies and "Göteborg Onco AB" not in residencies
    report = hub.get("/manage/exchange.csv").get_data(as_text=True).splitlines()[1:]
    assert sum(int(line.split(",")[3]) for line in report) == 0  # received stays are OCC's


def test_every_demo_company_has_a_registration_number_the_apply_form_would_accept(app: Flask) -> None:
    app.test_cli_runner().invoke(args=["demo", "seed"])
    numbers = db.session.execute(select(Application.country, Application.org_number)).all()
    assert len(numbers) > 10
    for country, number in numbers:
        assert check_registration_number(country, number) == number, (country, number)
