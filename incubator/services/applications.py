"""The applicant's side of an application: start, save each step, submit, withdraw.

Each public function is one state change; it checks who acts and whether the change is
allowed now, flushes, and leaves the commit to the caller.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError

from incubator.domain.applications import (
    STEP_SLUGS,
    WITHDRAWABLE_STATES,
    ApplicationState,
    ProgrammeRule,
    missing_by_step,
    preference_problems,
)
from incubator.domain.membership import Permission
from incubator.domain.organisations import RegistrationProblem, check_registration_number
from incubator.domain.roles import Role
from incubator.extensions import db
from incubator.links import public_url
from incubator.models import Application, ApplicationMember, Call, Organisation, ProgrammePreference, User
from incubator.services import ServiceError
from incubator.services.audit import record_event
from incubator.services.exchange import application_direction
from incubator.services.membership import applications_of as team_applications
from incubator.services.membership import can, recipients
from incubator.services.notifications import call_title, queue_email
from incubator.services.questions import missing_question_labels
from incubator.services.visibility import applicant_view

# The fields each step may change; anything else in the submitted data is ignored.
STEP_FIELDS: dict[str, tuple[str, ...]] = {
    "company": ("company_name", "country", "org_number", "founded_year", "employees", "website"),
    "focus": ("focus_area", "development_stage", "funding_raised_eur"),
    "team": ("team",),
    "project": ("project_summary", "unmet_need"),
    "residency": ("residency_purposes", "space_type", "space_needs"),
    "preferences": ("desired_start", "desired_length_months"),
    "attachments": (),
    "review": ("consent",),
}


class NotAllowed(ServiceError):
    """The person may not do this to this application (shown as 403/404 by the web layer)."""


def programme_rules(call: Call) -> list[ProgrammeRule]:
    return [
        ProgrammeRule(offered.programme_id, offered.programme.name, tuple(offered.eligible_countries),
                      offered.eligibility_note)
        for offered in call.programmes
    ]


def application_values(application: Application) -> dict[str, Any]:
    """The answers as plain data, for completeness checks and exports."""
    values = {column.key: getattr(application, column.key) for column in Application.__table__.columns}
    values["preferences"] = [pref.programme_id for pref in application.preferences]
    values["pitch_deck"] = [a.id for a in application.attachments if a.kind == "pitch_deck"]
    return values


def missing_answers(application: Application) -> dict[str, list[str]]:
    missing = missing_by_step(application_values(application))
    questions = missing_question_labels(application)
    if questions:
        missing["questions"] = questions
    return missing


def _ensure_may(application: Application, user: User, permission: Permission) -> None:
    if not can(user, application, permission):
        raise NotAllowed(_("This is not your application."))


def _ensure_call_open(call: Call, now: dt.datetime) -> None:
    if call.state == "draft":
        raise NotAllowed(_("This call is not published."))
    if now < call.opens_at:
        raise ServiceError(_("This call is not open yet."))
    if now >= call.closes_at or call.state != "published":
        raise ServiceError(_("The call closed; applications can no longer be changed or submitted."))


def ensure_editable(application: Application, user: User, now: dt.datetime) -> None:
    _ensure_may(application, user, Permission.EDIT)
    if application.state != ApplicationState.DRAFT.value:
        raise ServiceError(_("A submitted application can no longer be changed."))
    _ensure_call_open(application.call, now)


def find_application_for(user: User, call: Call) -> Application | None:
    """The person's own application in the call, else one they are a member of."""
    member_of = select(ApplicationMember.application_id).where(ApplicationMember.user_id == user.id)
    return db.session.scalars(
        select(Application)
        .where(Application.call_id == call.id,
               or_(Application.applicant_id == user.id, Application.id.in_(member_of)))
        .order_by((Application.applicant_id == user.id).desc(), Application.id)
    ).first()


def start_application(user: User, call: Call, now: dt.datetime) -> Application:
    """A draft for this call, or the applicant's existing one (one per applicant per call)."""
    if user.role != Role.APPLICANT.value:
        raise NotAllowed(_("Only startup accounts apply for residency."))
    existing = db.session.scalar(
        select(Application).where(Application.call_id == call.id, Application.applicant_id == user.id))
    if existing is not None:
        return existing
    _ensure_call_open(call, now)
    application = Application(call=call, applicant=user, state=ApplicationState.DRAFT.value,
                              created_at=now, updated_at=now)
    db.session.add(application)
    db.session.flush()
    record_event(user, "application.started", "application", application.id, call_id=call.id)
    return application


def save_step(application: Application, user: User, step: str, data: Mapping[str, Any],
              now: dt.datetime) -> None:
    """Store one step's answers in the draft."""
    if step not in STEP_SLUGS:
        raise ServiceError(_("Unknown step."))
    ensure_editable(application, user, now)
    for field in STEP_FIELDS[step]:
        if field in data:
            setattr(application, field, data[field])
    if step == "company":
        application.country = application.country.upper() if application.country else None
        application.org_number = checked_org_number(application.country, application.org_number)
        _ensure_company_unique(application)
        application.organisation = organisation_for(application.country, application.org_number,
                                                    application.company_name, now)
    if step == "preferences" and "programme_ids" in data:
        _set_preferences(application, list(data["programme_ids"]))
    application.updated_at = now
    db.session.flush()


def checked_org_number(country: str | None, value: str | None) -> str | None:
    checked = check_registration_number(country, value)
    if isinstance(checked, RegistrationProblem):
        raise ServiceError(_(checked.message, scheme=_(checked.scheme)), field="org_number")
    return checked


class CompanyTaken(ServiceError):
    """Another application in the call has this organisation: its owner may add the person."""


def _ensure_company_unique(application: Application) -> None:
    if not application.org_number:
        return
    with db.session.no_autoflush:  # check before the new number reaches the unique constraint
        clash = db.session.scalar(
            select(Application.id).where(
                Application.call_id == application.call_id,
                Application.country == application.country,
                Application.org_number == application.org_number,
                Application.id != application.id,
            )
        )
    if clash is not None:
        raise CompanyTaken(
            _("An application for a company with this organisation number already exists in this call. "
              "Ask to join it below: its owner will be asked to add you."),
            field="org_number",
        )


def _set_preferences(application: Application, programme_ids: Sequence[int]) -> None:
    problems = preference_problems(programme_rules(application.call), application.country, programme_ids)
    if problems:
        raise ServiceError(" ".join(problems), field="programme_ids")
    # Replace the ranking as a whole; the flush between keeps (application, rank) unique.
    application.preferences.clear()
    db.session.flush()
    application.preferences.extend(
        ProgrammePreference(programme_id=programme_id, rank=rank)
        for rank, programme_id in enumerate(programme_ids, start=1)
    )


def submit_application(application: Application, user: User, now: dt.datetime) -> None:
    ensure_editable(application, user, now)
    missing = missing_answers(application)
    if missing:
        labels = [label for labels in missing.values() for label in labels]
        raise ServiceError("Some answers are missing: " + ", ".join(labels) + ".")
    problems = preference_problems(programme_rules(application.call), application.country,
                                   [pref.programme_id for pref in application.preferences])
    if problems:
        raise ServiceError(" ".join(problems))
    direction = application_direction(application)  # loads the programmes: before the state changes
    application.state = ApplicationState.SUBMITTED.value
    application.exchange_direction = direction
    application.submitted_at = now
    application.updated_at = now
    try:
        db.session.flush()
    except IntegrityError as exc:  # a concurrent submit of the same company slipped past the check
        db.session.rollback()
        raise ServiceError(_("An application for this company was submitted meanwhile.")) from exc
    record_event(user, "application.submitted", "application", application.id, call_id=application.call_id)
    for person in recipients(application):  # the whole team hears that it went in
        queue_email(
            person.email,
            _l("Application received: %(call)s", call=call_title(application.call)),
            "application_submitted",
            kind="application_submitted",
            locale=person.locale,
            user=person,
            application=application,
            link=public_url("apply.show_application", application_id=application.id),
        )


def can_withdraw(application: Application) -> bool:
    """An unreleased decision is still "under review" for the applicant, who may withdraw."""
    return ApplicationState(applicant_view(application).state) in WITHDRAWABLE_STATES


def withdraw_application(application: Application, user: User, reason: str, now: dt.datetime) -> None:
    _ensure_may(application, user, Permission.RESPOND)
    if not can_withdraw(application):
        raise ServiceError(_("A decided or withdrawn application can no longer be withdrawn."))
    previous = application.state
    application.state = ApplicationState.WITHDRAWN.value
    application.withdrawn_at = now
    application.withdrawal_reason = reason.strip() or None
    application.updated_at = now
    db.session.flush()
    record_event(user, "application.withdrawn", "application", application.id,
                 previous_state=previous, reason=application.withdrawal_reason)


def can_view_application(user: User, application: Application) -> bool:
    """The team, programme managers, and reviewers assigned to it without a conflict."""
    if can(user, application, Permission.READ) or user.has_role(Role.MANAGER):
        return True
    hidden_from_reviewers = (ApplicationState.DRAFT.value, ApplicationState.WITHDRAWN.value)
    if user.has_role(Role.REVIEWER) and application.state not in hidden_from_reviewers:
        from incubator.services.conflicts import reviewer_can_see

        return reviewer_can_see(user, application)
    return False


def applications_of(user: User) -> Sequence[Application]:
    return team_applications(user)


def organisation_for(country: str | None, number: str | None, name: str | None,
                     now: dt.datetime) -> Organisation | None:
    """The organisation with this country and number, created on first use (a race with another
    founder creating it at the same moment ends with both on the one row)."""
    if not country or not number:
        return None
    query = select(Organisation).where(Organisation.country == country, Organisation.registration_number == number)
    with db.session.no_autoflush:
        found = db.session.scalar(query)
    if found is not None:
        if name and not found.name:
            found.name = name
        return found
    try:
        with db.session.begin_nested():
            organisation = Organisation(country=country, registration_number=number, name=name, created_at=now)
            db.session.add(organisation)
    except IntegrityError:
        return db.session.scalar(query)
    return organisation
