"""Tests that pin every guard (issue 14 item 10): each fails when its guard is removed.

- Every POST rule refuses a request without a CSRF token (400, nothing changed); only the
  one-click unsubscribe is exempt, and that is asserted.
- A role table for every POST rule: a signed-in user without the role gets 403 even with a
  valid token and the page's own form, and nothing changes; a logged-out visitor is sent to log
  in. (GET is walked by tests/web/test_access.py.)
- Deadlines are exclusive: a submission exactly at ``closes_at`` or later, and an offer answered
  exactly at its deadline, are refused; eligibility is checked again at submit; a hand placement
  into a slot that is already full is refused at confirm.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from incubator.database import utcnow
from incubator.domain.roles import Role
from incubator.extensions import csrf, db
from incubator.models import Application, Offer, User
from incubator.services import ServiceError
from incubator.services import applications as application_service
from incubator.services import offers as offer_service
from tests.conftest import csrf_token
from tests.factories import make_application, make_call
from tests.integration.test_residencies_service import decided, make_slot
from tests.web.walk import (
    DatabaseWatch,
    ParsedForm,
    World,
    allowed_roles,
    build_path,
    build_world,
    collect_forms,
    forms_on,
    routes,
    valid_argument,
    without_csrf,
)

CSRF_EXEMPT_ENDPOINTS = {"notifications.unsubscribe"}  # RFC 8058: mail clients post without a form


@pytest.fixture
def everyone(app: Flask, client: FlaskClient, applicant_client: FlaskClient, reviewer_client: FlaskClient,
             manager_client: FlaskClient, admin_client: FlaskClient) -> dict[Role | None, FlaskClient]:
    return {None: client, Role.APPLICANT: applicant_client, Role.REVIEWER: reviewer_client,
            Role.MANAGER: manager_client, Role.ADMIN: admin_client}


# ------------------------------------------------------------------------------------ CSRF


def test_only_the_one_click_unsubscribe_is_exempt_from_csrf(app: Flask) -> None:
    exempt = {rule.endpoint for rule in app.url_map.iter_rules()
              if f"{app.view_functions[rule.endpoint].__module__}.{app.view_functions[rule.endpoint].__name__}"
              in csrf._exempt_views}
    assert exempt == CSRF_EXEMPT_ENDPOINTS
    assert not csrf._exempt_blueprints
    assert app.config.get("WTF_CSRF_ENABLED", True) and app.config.get("WTF_CSRF_CHECK_DEFAULT", True)


def test_every_post_without_a_csrf_token_is_400_and_changes_nothing(
        app: Flask, everyone: dict[Role | None, FlaskClient]) -> None:
    world = build_world(app, everyone)
    forms = collect_forms(app, world)
    checked = set()
    with DatabaseWatch() as watch:
        for rule, method in routes(app):
            if method != "POST" or rule.endpoint in CSRF_EXEMPT_ENDPOINTS:
                continue
            refuse_without_token(world, forms, app, rule, watch)
            checked.add(rule.endpoint)
    assert {"auth.login", "auth.logout", "admin.user_detail", "apply.submit", "manage.rubric",
            "review.application", "apply.accept_offer"} <= checked


def refuse_without_token(world: World, forms: dict[str, ParsedForm], app: Flask, rule: Any,
                         watch: DatabaseWatch) -> None:
    """The page's own form, posted without its token by someone the page lets in."""
    role = min(allowed_roles(app, rule.endpoint), key=lambda r: r is not None)  # public: logged out
    path = build_path(rule.rule, {name: valid_argument(name, world) for name in rule.arguments})
    page_form = forms.get(f"POST {path}")
    data = without_csrf(page_form.fields) if page_form else {}
    response = world.clients[role].post(path, data=data)
    assert response.status_code == 400, (rule.endpoint, role, response.status_code)
    assert "did not come from this site" in response.get_data(as_text=True), rule.endpoint
    assert watch.changed_since_last_look() == [], rule.endpoint


def test_the_exempt_unsubscribe_still_works_without_a_token(app: Flask, client: FlaskClient,
                                                            make_user: Callable[..., User]) -> None:
    from incubator.services import preferences, tokens

    user = make_user(Role.REVIEWER)
    response = client.post(f"/unsubscribe/{tokens.unsubscribe_token(user.email)}")
    assert response.status_code == 200
    assert preferences.is_unsubscribed(db.session.get(User, user.id))


# ------------------------------------------------------------------------------ role table


def test_every_post_refuses_the_wrong_role_with_403_and_changes_nothing(
        app: Flask, everyone: dict[Role | None, FlaskClient]) -> None:
    world = build_world(app, everyone)
    forms = collect_forms(app, world)
    refused = 0
    with DatabaseWatch() as watch:
        for rule, method in routes(app):
            if method != "POST":
                continue
            allowed = allowed_roles(app, rule.endpoint)
            path = build_path(rule.rule, {name: valid_argument(name, world) for name in rule.arguments})
            page_form = forms.get(f"POST {path}")
            for role in set(everyone) - allowed:
                data = {**(without_csrf(page_form.fields) if page_form else {}), "csrf_token": world.csrf[role]}
                response = everyone[role].post(path, data=data)
                if role is None:
                    assert response.status_code == 302, (rule.endpoint, response.status_code)
                    assert response.headers["Location"].startswith("/login?next="), rule.endpoint
                else:
                    assert response.status_code == 403, (rule.endpoint, role, response.status_code)
                assert watch.changed_since_last_look() == [], (rule.endpoint, role)
                refused += 1
    assert refused > 50


def test_a_manager_posting_a_valid_form_to_an_admin_user_page_gets_403(
        admin_client: FlaskClient, manager_client: FlaskClient, make_user: Callable[..., User]) -> None:
    target = make_user(Role.REVIEWER)
    page = f"/admin/users/{target.id}"
    form = next(form for form in forms_on(page, admin_client.get(page).get_data(as_text=True))
                if form.action == page and form.method == "POST")
    data = {**without_csrf(form.fields), "role": Role.ADMIN.value, "csrf_token": csrf_token(manager_client, "/password/change")}
    response = manager_client.post(page, data=data)
    assert response.status_code == 403
    db.session.expire_all()
    assert db.session.get(User, target.id).role == Role.REVIEWER.value
    # The same form from an administrator is accepted, so the 403 above is the role check.
    data["csrf_token"] = csrf_token(admin_client, page)
    assert admin_client.post(page, data=data).status_code == 302
    db.session.expire_all()
    assert db.session.get(User, target.id).role == Role.ADMIN.value


# ------------------------------------------------------------------------- deadlines, rules


def test_a_complete_draft_is_refused_exactly_at_closes_at_and_after(app: Flask,
                                                                    make_user: Callable[..., User]) -> None:
    closes_at = utcnow() + dt.timedelta(days=1)
    call = make_call(closes_at=closes_at)
    applicant = make_user(Role.APPLICANT)
    draft = make_application(applicant, call, complete=True)
    for moment in (closes_at, closes_at + dt.timedelta(microseconds=1), closes_at + dt.timedelta(days=3)):
        with pytest.raises(ServiceError, match="The call closed"):
            application_service.submit_application(draft, applicant, moment)
        db.session.rollback()
    application_service.submit_application(draft, applicant, closes_at - dt.timedelta(seconds=1))
    assert draft.state == "submitted"


def test_submitting_after_the_call_closed_is_refused_over_the_web(applicant_client: FlaskClient) -> None:
    call = make_call(opens_at=utcnow() - dt.timedelta(days=30), closes_at=utcnow() - dt.timedelta(seconds=1))
    draft = make_application(applicant_client.user, call, complete=True)  # type: ignore[attr-defined]
    response = applicant_client.post(f"/applications/{draft.id}/submit",
                                     data={"consent": "y",
                                           "csrf_token": csrf_token(applicant_client, "/password/change")})
    assert response.status_code == 409
    assert "The call closed" in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Application, draft.id).state == "draft"


def test_eligibility_is_checked_again_at_submit(applicant_client: FlaskClient) -> None:
    call = make_call()
    exchange = call.programmes[1]  # BioVentureHub exchange: companies registered in Norway only
    assert exchange.eligible_countries == ["NO"]
    draft = make_application(applicant_client.user, call, complete=True)  # type: ignore[attr-defined]
    draft.preferences[0].programme_id = exchange.programme_id  # chosen while the country was NO
    db.session.commit()
    step = f"/applications/{draft.id}/steps/company"
    company = next(form for form in forms_on(step, applicant_client.get(step).get_data(as_text=True))
                   if form.method == "POST")
    assert applicant_client.post(step, data={**company.fields, "country": "SE"}).status_code == 302
    db.session.expire_all()
    assert db.session.get(Application, draft.id).country == "SE"
    response = applicant_client.post(f"/applications/{draft.id}/submit",
                                     data={"consent": "y", "csrf_token": csrf_token(applicant_client, step)})
    assert response.status_code == 409
    assert "BioVentureHub" in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Application, draft.id).state == "draft"


def test_an_offer_answered_exactly_at_its_deadline_is_refused(app: Flask, make_user: Callable[..., User]) -> None:
    call = make_call()
    slot = make_slot(call, capacity=2)
    now = utcnow()
    offers = []
    for _ in range(2):
        application = decided(make_user, call)
        offer = Offer(application=application, slot=slot, state="offered", starts_on=dt.date(2027, 1, 1),
                      ends_on=dt.date(2028, 1, 1), response_deadline=now + dt.timedelta(days=7), offered_at=now)
        db.session.add(offer)
        offers.append(offer)
    db.session.commit()
    for answer in (offer_service.accept_offer, offer_service.decline_offer):
        for offer in offers:
            with pytest.raises(ServiceError, match="deadline to answer this offer has passed"):
                answer(offer.application.applicant, offer, offer.response_deadline)
            db.session.rollback()
    early = offers[0].response_deadline - dt.timedelta(seconds=1)
    offer_service.accept_offer(offers[0].application.applicant, offers[0], early)
    assert offers[0].state == "accepted"


def test_a_hand_placement_into_a_full_slot_is_refused_at_confirm(app: Flask, make_user: Callable[..., User]) -> None:
    manager = make_user(Role.MANAGER)
    call = make_call()
    slot = make_slot(call, capacity=1)
    first, second = decided(make_user, call), decided(make_user, call)
    offer = offer_service.confirm_offers(manager, call, {first.id: slot.id}, 14, utcnow())[0]
    offer_service.accept_offer(first.applicant, offer, utcnow())
    db.session.commit()
    with pytest.raises(ServiceError, match="would hold 2 startups"):
        offer_service.confirm_offers(manager, call, {second.id: slot.id}, 14, utcnow())
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(Offer)) == 1
