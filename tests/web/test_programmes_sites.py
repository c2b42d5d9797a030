"""Managers list, create, edit and delete programmes, partners and sites; a delete that would
orphan data is refused with the reason."""

from __future__ import annotations

import datetime as dt

from flask.testing import FlaskClient
from sqlalchemy import select

from incubator.domain.roles import Role
from incubator.extensions import db
from incubator.models import AuditEvent, Partner, Programme, Site, Slot
from tests.conftest import csrf_token
from tests.factories import make_application, make_call

SITE = {"name": "Karolinska Science Park", "organisation": "KI Innovations", "city": "Stockholm",
        "country": "SE", "timezone": "Europe/Stockholm"}


def _site(**overrides: str) -> Site:
    site = Site(**{**SITE, **overrides})
    db.session.add(site)
    db.session.commit()
    return site


def _partner(name: str = "Oslo Cancer Cluster") -> Partner:
    partner = Partner(name=name)
    db.session.add(partner)
    db.session.commit()
    return partner


def post_site(client: FlaskClient, path: str, **overrides: str):
    return client.post(path, data={**SITE, **overrides, "csrf_token": csrf_token(client, path)})


def test_manager_creates_and_edits_a_site(manager_client: FlaskClient) -> None:
    response = post_site(manager_client, "/manage/sites/new")
    assert response.status_code == 302, response.get_data(as_text=True)
    site = db.session.scalar(select(Site).where(Site.name == SITE["name"]))
    assert (site.city, site.country, site.timezone) == ("Stockholm", "SE", "Europe/Stockholm")
    response = post_site(manager_client, f"/manage/sites/{site.id}/edit", city="Solna")
    assert response.status_code == 302
    db.session.refresh(site)
    assert site.city == "Solna"
    assert "Solna" in manager_client.get("/manage/sites").get_data(as_text=True)
    actions = db.session.scalars(select(AuditEvent.action).where(AuditEvent.subject_type == "site")).all()
    assert actions == ["site.created", "site.changed"]


def test_site_with_an_unknown_time_zone_is_refused(manager_client: FlaskClient) -> None:
    response = post_site(manager_client, "/manage/sites/new", timezone="Europe/Atlantis")
    assert response.status_code == 400
    assert "Europe/Atlantis is not a time zone name; use one like Europe/Oslo." in response.get_data(as_text=True)
    assert db.session.scalar(select(Site).where(Site.name == SITE["name"])) is None


def test_site_with_a_taken_name_or_no_country_is_refused(manager_client: FlaskClient) -> None:
    _site()
    response = post_site(manager_client, "/manage/sites/new", name=SITE["name"].upper())
    assert response.status_code == 400
    assert "A site called KAROLINSKA SCIENCE PARK exists already." in response.get_data(as_text=True)
    response = post_site(manager_client, "/manage/sites/new", name="Elsewhere", country="")
    assert response.status_code == 400
    assert "Choose the site&#39;s country." in response.get_data(as_text=True)


def test_unused_site_is_deleted(manager_client: FlaskClient) -> None:
    site = _site()
    path = f"/manage/sites/{site.id}/delete"
    response = manager_client.post(path, data={"csrf_token": csrf_token(manager_client, f"/manage/sites/{site.id}/edit")})
    assert response.status_code == 302
    assert db.session.scalar(select(Site).where(Site.name == SITE["name"])) is None


def test_deleting_a_site_that_hosts_a_programme_or_slots_is_refused(manager_client: FlaskClient) -> None:
    call = make_call()
    site = call.programmes[0].programme.host_site
    db.session.add(Slot(programme=call.programmes[0].programme, site=site, label="Desks", space_type="office_desk",
                        capacity=2, starts_on=dt.date(2027, 1, 1), ends_on=dt.date(2028, 1, 1)))
    db.session.commit()
    token = csrf_token(manager_client, f"/manage/sites/{site.id}/edit")
    response = manager_client.post(f"/manage/sites/{site.id}/delete", data={"csrf_token": token})
    assert response.status_code == 409
    assert (f"{site.name} cannot be deleted: it still has 1 programme it hosts and 1 residency slot."
            in response.get_data(as_text=True))
    assert db.session.get(Site, site.id) is not None


def programme_data(site: Site, partner: Partner, **overrides: str) -> dict[str, str]:
    return {"name": "Stockholm exchange", "slug": "stockholm-exchange", "partner_id": str(partner.id),
            "host_site_id": str(site.id), "summary": "Lab space in Solna", "offers": "office\nlab\n", **overrides}


def test_manager_creates_and_edits_a_programme_with_its_partner(manager_client: FlaskClient) -> None:
    site, partner = _site(), _partner()
    data = programme_data(site, partner)
    response = manager_client.post("/manage/programmes/new",
                                   data={**data, "csrf_token": csrf_token(manager_client, "/manage/programmes/new")})
    assert response.status_code == 302, response.get_data(as_text=True)
    programme = db.session.scalar(select(Programme).where(Programme.slug == "stockholm-exchange"))
    assert (programme.partner_id, programme.host_site_id, programme.offers) == (partner.id, site.id, ["office", "lab"])
    path = f"/manage/programmes/{programme.id}/edit"
    assert 'value="Stockholm exchange"' in manager_client.get(path).get_data(as_text=True)
    response = manager_client.post(path, data={**data, "summary": "Office only",
                                               "csrf_token": csrf_token(manager_client, path)})
    assert response.status_code == 302
    db.session.refresh(programme)
    assert programme.summary == "Office only"
    page = manager_client.get("/manage/programmes").get_data(as_text=True)
    assert "Stockholm exchange" in page and "Oslo Cancer Cluster" in page


def test_programme_without_partner_or_with_a_bad_or_taken_slug_is_refused(manager_client: FlaskClient) -> None:
    site, partner = _site(), _partner()
    make_call()  # creates the programme with slug occ-incubator
    cases = [({"partner_id": "0"}, "Choose the partner organisation that runs the programme."),
             ({"slug": "Stockholm Exchange"}, "Use lowercase letters, digits and single hyphens in the slug"),
             ({"slug": "occ-incubator"}, "Another programme uses the slug occ-incubator."),
             ({"name": "OCC Incubator"}, "A programme called OCC Incubator exists already.")]
    for overrides, message in cases:
        data = programme_data(site, partner, **overrides)
        response = manager_client.post("/manage/programmes/new", data={
            **data, "csrf_token": csrf_token(manager_client, "/manage/programmes/new")})
        assert response.status_code == 400, overrides
        assert message in response.get_data(as_text=True), overrides
    assert db.session.scalar(select(Programme).where(Programme.name == "Stockholm exchange")) is None


def test_manager_adds_a_partner_and_a_duplicate_is_refused(manager_client: FlaskClient) -> None:
    token = csrf_token(manager_client, "/manage/programmes")
    assert manager_client.post("/manage/programmes/partners",
                               data={"name": "AstraZeneca BioVentureHub", "csrf_token": token}).status_code == 302
    response = manager_client.post("/manage/programmes/partners",
                                   data={"name": "astrazeneca bioventurehub", "csrf_token": token})
    assert response.status_code == 400
    assert "A partner called astrazeneca bioventurehub exists already." in response.get_data(as_text=True)
    assert db.session.scalars(select(Partner.name)).all() == ["AstraZeneca BioVentureHub"]


def test_unused_programme_is_deleted(manager_client: FlaskClient) -> None:
    site, partner = _site(), _partner()
    programme = Programme(name="Lone programme", slug="lone", host_site_id=site.id, partner_id=partner.id,
                          summary="", offers=[])
    db.session.add(programme)
    db.session.commit()
    token = csrf_token(manager_client, f"/manage/programmes/{programme.id}/edit")
    assert manager_client.post(f"/manage/programmes/{programme.id}/delete",
                               data={"csrf_token": token}).status_code == 302
    assert db.session.scalar(select(Programme).where(Programme.slug == "lone")) is None


def test_deleting_a_programme_offered_and_chosen_is_refused_with_the_reason(manager_client: FlaskClient,
                                                                            make_user) -> None:
    call = make_call()
    make_application(make_user(Role.APPLICANT), call, complete=True)
    programme = call.programmes[0].programme
    token = csrf_token(manager_client, f"/manage/programmes/{programme.id}/edit")
    response = manager_client.post(f"/manage/programmes/{programme.id}/delete", data={"csrf_token": token})
    assert response.status_code == 409
    page = response.get_data(as_text=True)
    assert "OCC Incubator cannot be deleted: it still has 1 call offering it and 1 application that chose it." \
        in page
    assert db.session.get(Programme, programme.id) is not None


def test_programme_and_site_pages_are_for_managers_only(reviewer_client: FlaskClient,
                                                        applicant_client: FlaskClient) -> None:
    site = _site()
    for client in (reviewer_client, applicant_client):
        for path in ("/manage/programmes", "/manage/programmes/new", "/manage/sites", "/manage/sites/new",
                     f"/manage/sites/{site.id}/edit"):
            assert client.get(path).status_code == 403, path
        assert client.post(f"/manage/sites/{site.id}/delete").status_code in (400, 403)
    assert db.session.get(Site, site.id) is not None


def test_unknown_programme_or_site_is_404(manager_client: FlaskClient) -> None:
    assert manager_client.get("/manage/programmes/999/edit").status_code == 404
    assert manager_client.get("/manage/sites/999/edit").status_code == 404
