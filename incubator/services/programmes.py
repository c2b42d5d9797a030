"""Partners, sites and programmes: created and edited by managers; a delete that would orphan
calls, slots or applications is refused with the reason."""

from __future__ import annotations

from dataclasses import dataclass

from flask_babel import gettext as _
from flask_babel import ngettext
from sqlalchemy import func, select

from incubator.domain.applications import COUNTRY_NAMES
from incubator.domain.calls import is_known_timezone, slug_problem
from incubator.domain.roles import Role
from incubator.extensions import db
from incubator.models import (
    CallProgramme,
    Partner,
    Programme,
    ProgrammePreference,
    ProgrammeScope,
    Site,
    Slot,
    User,
)
from incubator.services import ServiceError
from incubator.services.audit import record_event


class InUse(ServiceError):
    """A delete refused because other records still point at the thing (answered with 409)."""


@dataclass(frozen=True)
class SiteInput:
    name: str
    organisation: str
    city: str
    country: str
    timezone: str


@dataclass(frozen=True)
class ProgrammeInput:
    name: str
    slug: str
    host_site_id: int
    partner_id: int
    summary: str
    offers: list[str]
    # ISO code of the country whose companies this programme hosts in the exchange; "" if none.
    exchange_for_country: str = ""


def _require_manager(user: User) -> None:
    if not user.has_role(Role.MANAGER):
        raise ServiceError(_("Only programme managers change programmes, partners and sites."))


def _taken(model: type, column: str, value: str, own_id: int | None) -> bool:
    attribute = getattr(model, column)
    query = select(func.count()).select_from(model).where(func.lower(attribute) == value.lower())
    if own_id is not None:
        query = query.where(model.id != own_id)
    return bool(db.session.scalar(query))


def create_partner(manager: User, name: str) -> Partner:
    _require_manager(manager)
    name = name.strip()
    if not name:
        raise ServiceError(_("Give the partner organisation a name."), field="name")
    if _taken(Partner, "name", name, None):
        raise ServiceError(_("A partner called %(name)s exists already.", name=name), field="name")
    partner = Partner(name=name)
    db.session.add(partner)
    db.session.flush()
    record_event(manager, "partner.created", "partner", partner.id, name=name)
    return partner


def _check_site(item: SiteInput, own_id: int | None) -> None:
    if not item.name.strip():
        raise ServiceError(_("Give the site a name."), field="name")
    if _taken(Site, "name", item.name.strip(), own_id):
        raise ServiceError(_("A site called %(name)s exists already.", name=item.name.strip()), field="name")
    if item.country not in COUNTRY_NAMES:
        raise ServiceError(_("Choose the site's country."), field="country")
    if not is_known_timezone(item.timezone):
        raise ServiceError(_("%(zone)s is not a time zone name; use one like Europe/Oslo.", zone=item.timezone),
                           field="timezone")


def save_site(manager: User, item: SiteInput, site: Site | None = None) -> Site:
    """Create a site, or update ``site`` when given."""
    _require_manager(manager)
    _check_site(item, site.id if site else None)
    created = site is None
    site = site or Site()
    site.name, site.organisation, site.city = item.name.strip(), item.organisation.strip(), item.city.strip()
    site.country, site.timezone = item.country, item.timezone
    db.session.add(site)
    db.session.flush()
    record_event(manager, "site.created" if created else "site.changed", "site", site.id, name=site.name)
    return site


def _joined(uses: list[str]) -> str:
    """"a, b and c" in the reader's language."""
    if len(uses) == 1:
        return uses[0]
    return _("%(first)s and %(last)s", first=", ".join(uses[:-1]), last=uses[-1])


def site_uses(site: Site) -> list[str]:
    """What still points at a site, as phrases for the refusal message."""
    uses = []
    programmes = db.session.scalar(select(func.count()).where(Programme.host_site_id == site.id))
    if programmes:
        uses.append(ngettext("%(num)d programme it hosts", "%(num)d programmes it hosts", programmes))
    slots = db.session.scalar(select(func.count()).where(Slot.site_id == site.id))
    if slots:
        uses.append(ngettext("%(num)d residency slot", "%(num)d residency slots", slots))
    return uses


def delete_site(manager: User, site: Site) -> None:
    _require_manager(manager)
    uses = site_uses(site)
    if uses:
        raise InUse(_("%(name)s cannot be deleted: it still has %(uses)s.", name=site.name, uses=_joined(uses)))
    record_event(manager, "site.deleted", "site", site.id, name=site.name)
    db.session.delete(site)
    db.session.flush()


def _check_programme(item: ProgrammeInput, own_id: int | None) -> None:
    if not item.name.strip():
        raise ServiceError(_("Give the programme a name."), field="name")
    if _taken(Programme, "name", item.name.strip(), own_id):
        raise ServiceError(_("A programme called %(name)s exists already.", name=item.name.strip()), field="name")
    problem = slug_problem(item.slug)
    if problem:
        raise ServiceError(problem, field="slug")
    if _taken(Programme, "slug", item.slug, own_id):
        raise ServiceError(_("Another programme uses the slug %(slug)s.", slug=item.slug), field="slug")
    if db.session.get(Site, item.host_site_id) is None:
        raise ServiceError(_("Choose the programme's host site."), field="host_site_id")
    if db.session.get(Partner, item.partner_id) is None:
        raise ServiceError(_("Choose the partner organisation that runs the programme."), field="partner_id")
    _check_exchange(item)


def _check_exchange(item: ProgrammeInput) -> None:
    if not item.exchange_for_country:
        return
    if item.exchange_for_country not in COUNTRY_NAMES:
        raise ServiceError(_("Choose a country from the list."), field="exchange_for_country")
    site = db.session.get(Site, item.host_site_id)
    if site is not None and site.country == item.exchange_for_country:
        raise ServiceError(_("An exchange hosts companies from another country than the host site's."),
                           field="exchange_for_country")


def save_programme(manager: User, item: ProgrammeInput, programme: Programme | None = None) -> Programme:
    """Create a programme, or update ``programme`` when given."""
    _require_manager(manager)
    _check_programme(item, programme.id if programme else None)
    created = programme is None
    programme = programme or Programme()
    programme.name, programme.slug = item.name.strip(), item.slug
    programme.host_site_id, programme.partner_id = item.host_site_id, item.partner_id
    programme.summary = item.summary.strip()
    programme.offers = [offer.strip() for offer in item.offers if offer.strip()]
    programme.exchange_for_country = item.exchange_for_country or None
    db.session.add(programme)
    db.session.flush()
    record_event(manager, "programme.created" if created else "programme.changed", "programme", programme.id,
                 name=programme.name)
    return programme


def programme_uses(programme: Programme) -> list[str]:
    uses = []
    calls = db.session.scalar(select(func.count()).where(CallProgramme.programme_id == programme.id))
    if calls:
        uses.append(ngettext("%(num)d call offering it", "%(num)d calls offering it", calls))
    slots = db.session.scalar(select(func.count()).where(Slot.programme_id == programme.id))
    if slots:
        uses.append(ngettext("%(num)d residency slot", "%(num)d residency slots", slots))
    chosen = db.session.scalar(select(func.count()).where(ProgrammePreference.programme_id == programme.id))
    if chosen:
        uses.append(ngettext("%(num)d application that chose it", "%(num)d applications that chose it", chosen))
    # Deleting it would widen those accounts' view to every programme.
    staff = db.session.scalar(select(func.count()).where(ProgrammeScope.programme_id == programme.id))
    if staff:
        uses.append(ngettext("%(num)d staff account limited to it", "%(num)d staff accounts limited to it", staff))
    return uses


def delete_programme(manager: User, programme: Programme) -> None:
    _require_manager(manager)
    uses = programme_uses(programme)
    if uses:
        raise InUse(_("%(name)s cannot be deleted: it still has %(uses)s.", name=programme.name,
                      uses=_joined(uses)))
    record_event(manager, "programme.deleted", "programme", programme.id, name=programme.name)
    db.session.delete(programme)
    db.session.flush()
