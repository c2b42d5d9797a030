"""Co-applicants: invitations, join requests, roles on every applicant route, ownership, leaving,
emails to the whole team, export and erasure; and organisations with validated numbers."""

from __future__ import annotations

import datetime as dt
import io
import json
import re
import zipfile

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from incubator.database import utcnow
from incubator.domain.roles import Role
from incubator.extensions import db
from incubator.models import (
    Application,
    ApplicationMember,
    Call,
    JoinRequest,
    Offer,
    Organisation,
    OutboundEmail,
    User,
)
from incubator.services.demo import seed_demo_data
from tests.conftest import PASSWORD, csrf_token, log_in
from tests.factories import make_application, make_call
from tests.integration.test_residencies_service import make_slot
from tests.web.test_apply import COMPLETE_STEPS, fill_everything, save, start


@pytest.fixture
def call(app: Flask) -> Call:
    """The demo call (open, both programmes), as the application tests use."""
    seed_demo_data(utcnow())
    db.session.commit()
    return db.session.scalar(select(Call))


def client_for(app: Flask, user: User) -> FlaskClient:
    client = app.test_client()
    log_in(client, user.email)
    return client


def post(client: FlaskClient, url: str, page: str, **data):
    data["csrf_token"] = csrf_token(client, page)
    return client.post(url, data=data)


def add_member(application: Application, user: User, role: str = "editor", may_respond: bool = False) -> int:
    member = ApplicationMember(application_id=application.id, user_id=user.id, role=role, may_respond=may_respond)
    db.session.add(member)
    db.session.commit()
    return member.id


def team(make_user, role: str = "editor", may_respond: bool = False, state: str = "draft"):
    owner, colleague = make_user(Role.APPLICANT), make_user(Role.APPLICANT)
    application = make_application(owner, make_call(), state=state, complete=True)
    member_id = add_member(application, colleague, role, may_respond)
    return owner, colleague, application, member_id


def make_offer(application: Application) -> Offer:
    now = utcnow()
    offer = Offer(application=application, slot=make_slot(application.call), state="offered",
                  starts_on=dt.date(2027, 1, 1), ends_on=dt.date(2028, 1, 1),
                  response_deadline=now + dt.timedelta(days=7), offered_at=now)
    db.session.add(offer)
    db.session.commit()
    return offer


# ------------------------------------------------------------------------------ invitations


def test_owner_invites_a_colleague_who_accepts_edits_and_submits(app: Flask, applicant_client: FlaskClient,
                                                                   make_user, call) -> None:
    application_id = start(applicant_client, call)
    fill_everything(applicant_client, application_id)
    colleague = make_user(Role.APPLICANT, email="cofounder@example.org")
    members_page = f"/applications/{application_id}/members"
    response = post(applicant_client, f"{members_page}/invite", members_page, email="CoFounder@example.org",
                    role="editor")
    assert response.status_code == 302
    email = db.session.scalar(select(OutboundEmail).where(OutboundEmail.kind == "member_invitation"))
    assert email.to_address == "cofounder@example.org"
    token = re.search(r"/invitations/(\S+)", email.body_text).group(1)

    other = client_for(app, colleague)
    assert other.get(f"/applications/{application_id}").status_code == 404  # not yet on it
    assert "Join the application" in other.get(f"/invitations/{token}").get_data(as_text=True)
    response = post(other, f"/invitations/{token}", f"/invitations/{token}")
    assert response.status_code == 302
    assert other.get(f"/invitations/{token}").status_code == 404  # the link works once

    assert save(other, application_id, "team", team="Three founders now.").status_code == 302
    assert "Three founders now." in other.get(f"/applications/{application_id}").get_data(as_text=True)
    review = f"/applications/{application_id}/steps/review"
    response = post(other, f"/applications/{application_id}/submit", review, consent="y")
    assert response.status_code == 302, response.get_data(as_text=True)
    assert db.session.get(Application, application_id).state == "submitted"
    received = set(db.session.scalars(select(OutboundEmail.to_address).where(
        OutboundEmail.kind == "application_submitted")))
    assert received == {applicant_client.user.email, colleague.email}  # type: ignore[attr-defined]


def test_an_invitee_without_an_account_registers_and_lands_on_the_invitation(app: Flask,
                                                                             applicant_client: FlaskClient,
                                                                             call) -> None:
    application_id = start(applicant_client, call)
    members_page = f"/applications/{application_id}/members"
    post(applicant_client, f"{members_page}/invite", members_page, email="new.founder@example.org", role="editor")
    email = db.session.scalar(select(OutboundEmail).where(OutboundEmail.kind == "member_invitation"))
    invitation = re.search(r"/invitations/\S+", email.body_text).group(0)

    newcomer = app.test_client()
    login_page = newcomer.get(invitation)
    assert login_page.status_code == 302
    login_url = login_page.headers["Location"]
    page = newcomer.get(login_url).get_data(as_text=True)
    register_url = re.search(r'href="(/register\?next=[^"]+)"', page).group(1).replace("&amp;", "&")
    response = newcomer.post(register_url, data={
        "name": "New Founder", "email": "new.founder@example.org", "password": PASSWORD, "confirm": PASSWORD,
        "accept_terms": "y", "csrf_token": csrf_token(newcomer, register_url)})
    assert response.status_code == 302
    back_to_login = response.headers["Location"]
    response = newcomer.post(back_to_login, data={"email": "new.founder@example.org", "password": PASSWORD,
                                                  "csrf_token": csrf_token(newcomer, back_to_login)})
    assert response.status_code == 302
    assert response.headers["Location"] == invitation
    assert "Join the application" in newcomer.get(invitation).get_data(as_text=True)


def test_a_next_that_leaves_the_site_is_not_carried_to_registration(client: FlaskClient) -> None:
    page = client.get("/login?next=//evil.example/phish").get_data(as_text=True)
    assert 'href="/register"' in page
    response = client.get("/register?next=https://evil.example/").get_data(as_text=True)
    assert 'href="/login"' in response


def test_a_forged_or_expired_invitation_is_refused(app: Flask, make_user) -> None:
    owner, colleague, application, _ = team(make_user)
    client = client_for(app, make_user(Role.APPLICANT))
    assert client.get("/invitations/not-a-valid-token").status_code == 404
    response = client.post("/invitations/not-a-valid-token",
                           data={"csrf_token": csrf_token(client, "/password/change")})
    assert response.status_code == 404
    assert db.session.scalars(select(ApplicationMember)).all() == application.members


def test_only_the_owner_invites(app: Flask, make_user) -> None:
    owner, colleague, application, _ = team(make_user, role="editor")
    client = client_for(app, colleague)
    page = f"/applications/{application.id}/members"
    response = post(client, f"{page}/invite", page, email="someone@example.org", role="editor")
    assert response.status_code == 403
    assert db.session.scalar(select(OutboundEmail).where(OutboundEmail.kind == "member_invitation")) is None


def test_an_invitation_with_a_bad_email_says_so(applicant_client: FlaskClient) -> None:
    application = make_application(applicant_client.user, make_call())  # type: ignore[attr-defined]
    page = f"/applications/{application.id}/members"
    response = post(applicant_client, f"{page}/invite", page, email="not an address", role="owner")
    assert response.status_code == 400
    assert "Enter a valid email address" in response.get_data(as_text=True)


# ---------------------------------------------------------------------------- join requests


def test_a_second_founder_asks_to_join_and_the_owner_approves(app: Flask, applicant_client: FlaskClient,
                                                               make_user, call) -> None:
    first = start(applicant_client, call)
    assert save(applicant_client, first, "company", country="NO", org_number="923609016").status_code == 302
    founder = make_user(Role.APPLICANT)
    other = client_for(app, founder)
    second = start(other, call)
    response = save(other, second, "company", country="NO", org_number="923 609 016")
    page = response.get_data(as_text=True)
    assert response.status_code == 400 and 'id="join-form"' in page and "Ask to join that application" in page
    response = post(other, f"/calls/{call.slug}/join", f"/applications/{second}/steps/company", country="NO",
                    org_number="923609016")
    assert response.status_code == 302
    request = db.session.scalar(select(JoinRequest))
    assert request.user_id == founder.id and request.state == "pending"
    owner_mail = db.session.scalar(select(OutboundEmail).where(OutboundEmail.kind == "join_request"))
    assert owner_mail.to_address == applicant_client.user.email  # type: ignore[attr-defined]

    members_page = f"/applications/{first}/members"
    assert founder.name in applicant_client.get(members_page).get_data(as_text=True)
    response = post(applicant_client, f"/applications/{first}/join-requests/{request.id}", members_page,
                    decision="approve")
    assert response.status_code == 302
    assert [m.user_id for m in db.session.get(Application, first).members] == [founder.id]
    assert other.get(f"/applications/{first}").status_code == 200


def test_a_join_request_for_an_unknown_number_is_refused(app: Flask, applicant_client: FlaskClient, call) -> None:
    start(applicant_client, call)
    response = post(applicant_client, f"/calls/{call.slug}/join", f"/calls/{call.slug}", country="NO",
                    org_number="923609016")
    assert response.status_code == 302
    assert db.session.scalar(select(JoinRequest)) is None
    page = applicant_client.get(f"/calls/{call.slug}").get_data(as_text=True)
    assert "No application for this organisation number exists in this call." in page


def test_only_the_owner_answers_a_join_request(app: Flask, make_user) -> None:
    owner, colleague, application, _ = team(make_user, role="editor")
    stranger = make_user(Role.APPLICANT)
    request = JoinRequest(application_id=application.id, user_id=stranger.id, state="pending")
    db.session.add(request)
    db.session.commit()
    client = client_for(app, colleague)
    response = post(client, f"/applications/{application.id}/join-requests/{request.id}",
                    f"/applications/{application.id}/members", decision="approve")
    assert response.status_code == 403
    assert db.session.get(JoinRequest, request.id).state == "pending"


# -------------------------------------------------------------------- roles on every route


def applicant_urls(application: Application, offer: Offer) -> dict[str, list[str]]:
    attachment = application.attachments[0].id
    base = f"/applications/{application.id}"
    return {
        "read": [base, f"{base}/members", f"{base}/attachments/{attachment}", f"/offers/{offer.id}"],
        "edit": [f"{base}/steps/company", f"{base}/steps/review"],
        "respond": [f"{base}/withdraw"],
        "edit_posts": [f"{base}/steps/team", f"{base}/submit", f"{base}/attachments",
                       f"{base}/attachments/{attachment}/delete"],
        "respond_posts": [f"{base}/withdraw", f"/offers/{offer.id}/accept", f"/offers/{offer.id}/decline"],
        "manage_posts": [f"{base}/members/invite", f"{base}/members/1/remove", f"{base}/members/1/transfer"],
    }


@pytest.mark.parametrize(("role", "may_respond", "allowed"), [
    ("editor", False, {"read", "edit"}),
    ("viewer", False, {"read"}),
    ("viewer", True, {"read", "respond"}),
])
def test_each_role_reaches_what_it_may_and_gets_403_elsewhere(app: Flask, make_user, role: str,
                                                              may_respond: bool, allowed: set[str]) -> None:
    owner, colleague, application, _ = team(make_user, role=role, may_respond=may_respond)
    offer = make_offer(application)
    client = client_for(app, colleague)
    urls = applicant_urls(application, offer)
    token = csrf_token(client, "/password/change")
    for kind in ("read", "edit", "respond"):
        for url in urls[kind]:
            status = client.get(url).status_code
            assert (status in (200, 302)) if kind in allowed else status == 403, (url, status)
    for kind in ("edit_posts", "respond_posts", "manage_posts"):
        if kind.removesuffix("_posts") in allowed:
            continue
        for url in urls[kind]:
            assert client.post(url, data={"csrf_token": token}).status_code == 403, url
    db.session.expire_all()
    assert db.session.get(Application, application.id).state == "draft"
    assert db.session.get(Offer, offer.id).state == "offered"


def test_a_removed_member_gets_404_everywhere(app: Flask, make_user) -> None:
    owner, colleague, application, member_id = team(make_user, role="editor", may_respond=True)
    offer = make_offer(application)
    client = client_for(app, colleague)
    urls = applicant_urls(application, offer)
    assert client.get(urls["read"][0]).status_code == 200
    owner_client = client_for(app, owner)
    members_page = f"/applications/{application.id}/members"
    assert post(owner_client, f"{members_page}/{member_id}/remove", members_page).status_code == 302
    token = csrf_token(client, "/password/change")
    for url in urls["read"] + urls["edit"] + urls["respond"]:
        assert client.get(url).status_code == 404, url
    for url in urls["edit_posts"] + urls["respond_posts"] + urls["manage_posts"] + [
            f"/applications/{application.id}/leave"]:
        assert client.post(url, data={"csrf_token": token}).status_code == 404, url
    assert f"/applications/{application.id}" not in client.get("/dashboard").get_data(as_text=True)


def test_a_member_allowed_to_respond_accepts_the_offer(app: Flask, make_user) -> None:
    owner, colleague, application, _ = team(make_user, role="viewer", may_respond=True, state="accepted")
    offer = make_offer(application)
    client = client_for(app, colleague)
    response = post(client, f"/offers/{offer.id}/accept", f"/offers/{offer.id}")
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(Offer, offer.id).state == "accepted"
    confirmed = set(db.session.scalars(select(OutboundEmail.to_address).where(
        OutboundEmail.kind == "offer_accepted")))
    assert confirmed == {owner.email, colleague.email}


def test_an_editor_sees_the_offer_but_cannot_answer_it(app: Flask, make_user) -> None:
    owner, colleague, application, _ = team(make_user, role="editor", state="accepted")
    offer = make_offer(application)
    client = client_for(app, colleague)
    page = client.get(f"/offers/{offer.id}").get_data(as_text=True)
    assert "a member the owner allowed, answers this offer" in page and "/accept" not in page


def test_the_owner_changes_a_role_and_the_permission_follows(app: Flask, make_user) -> None:
    owner, colleague, application, member_id = team(make_user, role="editor")
    client = client_for(app, colleague)
    assert client.get(f"/applications/{application.id}/steps/team").status_code == 200
    page = f"/applications/{application.id}/members"
    response = post(client_for(app, owner), f"{page}/{member_id}", page, **{f"m{member_id}-role": "viewer"})
    assert response.status_code == 302
    assert client.get(f"/applications/{application.id}/steps/team").status_code == 403


# ------------------------------------------------------------------------ ownership, leaving


def test_ownership_is_transferred_and_the_old_owner_stays_as_editor(app: Flask, make_user) -> None:
    owner, colleague, application, member_id = team(make_user)
    page = f"/applications/{application.id}/members"
    assert post(client_for(app, owner), f"{page}/{member_id}/transfer", page).status_code == 302
    db.session.expire_all()
    application = db.session.get(Application, application.id)
    assert application.applicant_id == colleague.id
    assert [(m.user_id, m.role, m.may_respond) for m in application.members] == [(owner.id, "editor", True)]
    assert "Invite a colleague" in client_for(app, colleague).get(page).get_data(as_text=True)


def test_ownership_cannot_go_to_someone_who_owns_another_application_in_the_call(app: Flask, make_user) -> None:
    owner, colleague, application, member_id = team(make_user)
    make_application(colleague, application.call)
    page = f"/applications/{application.id}/members"
    response = post(client_for(app, owner), f"{page}/{member_id}/transfer", page)
    assert response.status_code == 409 and "already owns another application" in response.get_data(as_text=True)
    assert db.session.get(Application, application.id).applicant_id == owner.id


def test_a_member_leaves_and_the_owner_cannot(app: Flask, make_user) -> None:
    owner, colleague, application, _ = team(make_user)
    url, page = f"/applications/{application.id}/leave", f"/applications/{application.id}/members"
    response = post(client_for(app, owner), url, page)
    assert response.status_code == 409 and "transfer the ownership" in response.get_data(as_text=True)
    client = client_for(app, colleague)
    assert post(client, url, page).status_code == 302
    assert client.get(f"/applications/{application.id}").status_code == 404


# -------------------------------------------------------------------- emails, export, erasure


def test_decision_and_offer_emails_go_to_every_active_member(app: Flask, make_user) -> None:
    from incubator.services.decisions import _queue_decision_email

    owner, colleague, application, _ = team(make_user, role="viewer", state="accepted")
    gone = make_user(Role.APPLICANT)
    gone.active = False
    add_member(application, gone)
    application.decision_released_at = utcnow()
    _queue_decision_email(application)
    db.session.commit()
    told = set(db.session.scalars(select(OutboundEmail.to_address).where(OutboundEmail.kind == "decision")))
    assert told == {owner.email, colleague.email}


def test_a_members_export_includes_the_application_they_work_on(app: Flask, make_user) -> None:
    owner, colleague, application, _ = team(make_user, role="viewer")
    archive = zipfile.ZipFile(io.BytesIO(client_for(app, colleague).get("/account/export").data))
    exported = json.loads(archive.read("applications.json"))
    assert [(entry["id"], entry["your_role"]) for entry in exported] == [(application.id, "viewer")]


def erase(client: FlaskClient):
    return post(client, "/account/erase", "/account/erase", password=PASSWORD, confirm="y")


def test_erasing_an_owner_hands_the_application_to_an_editor(app: Flask, make_user) -> None:
    owner, colleague, application, _ = team(make_user, role="editor", state="submitted")
    assert erase(client_for(app, owner)).status_code == 302
    db.session.expire_all()
    kept = db.session.get(Application, application.id)
    assert kept.applicant_id == colleague.id and kept.members == [] and kept.company_name == "TumourTech AS"


def test_erasing_an_owner_whose_team_has_only_viewers_is_refused(app: Flask, make_user) -> None:
    owner, colleague, application, _ = team(make_user, role="viewer")
    response = erase(client_for(app, owner))
    assert response.status_code in (400, 409)
    assert "no editor who could own it" in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(User, owner.id).active and db.session.get(Application, application.id) is not None


def test_erasing_a_member_takes_them_off_the_team(app: Flask, make_user) -> None:
    owner, colleague, application, _ = team(make_user, role="editor")
    assert erase(client_for(app, colleague)).status_code == 302
    db.session.expire_all()
    assert db.session.get(Application, application.id).members == []


# ----------------------------------------------------------------------------- organisations


def test_a_wrong_check_digit_is_refused_with_a_clear_message(applicant_client: FlaskClient, call) -> None:
    application_id = start(applicant_client, call)
    response = save(applicant_client, application_id, "company", country="NO", org_number="923 609 017")
    assert response.status_code == 400
    assert "the check digit does not match" in response.get_data(as_text=True)
    assert db.session.get(Application, application_id).org_number is None


def test_a_valid_number_becomes_an_organisation_shown_formatted(applicant_client: FlaskClient, call) -> None:
    application_id = start(applicant_client, call)
    data = dict(COMPLETE_STEPS["company"], country="SE", org_number="5567037485")
    assert save(applicant_client, application_id, "company", **data).status_code == 302
    application = db.session.get(Application, application_id)
    organisation = db.session.get(Organisation, application.organisation_id)
    assert (organisation.country, organisation.registration_number, organisation.name) == (
        "SE", "5567037485", "TumourTech AS")
    assert "556703-7485" in applicant_client.get(f"/applications/{application_id}").get_data(as_text=True)


def test_a_team_is_bounded(app: Flask, applicant_client: FlaskClient, make_user) -> None:
    from incubator.services.membership import MAX_MEMBERS

    application = make_application(applicant_client.user, make_call())  # type: ignore[attr-defined]
    for _ in range(MAX_MEMBERS):
        add_member(application, make_user(Role.APPLICANT))
    page = f"/applications/{application.id}/members"
    response = post(applicant_client, f"{page}/invite", page, email="one.more@example.org", role="viewer")
    assert response.status_code == 409
    assert f"at most {MAX_MEMBERS} members" in response.get_data(as_text=True)


def test_the_privacy_page_names_only_applications_that_block_erasure(app: Flask, make_user) -> None:
    owner, colleague, application, _ = team(make_user, role="editor", state="submitted")
    make_application(owner, make_call(), state="submitted", complete=True, company_name="Solo AS")
    page = client_for(app, owner).get("/account/privacy").get_data(as_text=True)
    assert "Solo AS" in page  # owned alone and in review: erasure waits for it
    assert "TumourTech AS" not in page  # the team keeps it, so erasure is not blocked


def test_an_offer_reminder_reaches_the_whole_team_once(app: Flask, make_user) -> None:
    from incubator.services.offers import remind_expiring_offers

    owner, colleague, application, _ = team(make_user, role="viewer", state="accepted")
    offer = make_offer(application)
    offer.response_deadline = utcnow() + dt.timedelta(days=1)
    db.session.commit()
    assert remind_expiring_offers(utcnow()) == 1
    assert remind_expiring_offers(utcnow()) == 0  # the owner's key is the ledger: once per offer
    db.session.commit()
    reminded = sorted(db.session.scalars(select(OutboundEmail.to_address).where(
        OutboundEmail.kind == "offer_reminder")))
    assert reminded == sorted([owner.email, colleague.email])
