"""Calls as managers run them: create, edit, clone, publish and move through the lifecycle.

Once a call has opened, an edit that would invalidate work applicants already did (an earlier
deadline, a narrower eligibility, a programme someone chose taken away) is refused with the
reason; a later deadline is allowed and logged.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

from flask_babel import gettext as _
from sqlalchemy import func, select, update

from incubator.domain.applications import COUNTRY_NAMES
from incubator.domain.calls import is_known_timezone, narrows_eligibility, next_state, slug_problem
from incubator.domain.roles import Role
from incubator.extensions import db
from incubator.models import (
    Application,
    Assignment,
    Call,
    CallProgramme,
    CallQuestion,
    CallReminderPolicy,
    Criterion,
    Programme,
    ProgrammePreference,
    QuestionOption,
    User,
)
from incubator.models.programmes import CALL_TEXT_LOCALES, TRANSLATED_CALL_TEXTS
from incubator.services import ServiceError
from incubator.services.audit import record_event

# The longest title, description and eligibility summary, in any language.
TEXT_LIMITS = {"title": 200, "description": 20000, "eligibility_summary": 5000}


class CallConflict(ServiceError):
    """A change refused because of the call's state or the work already done in it (409)."""


@dataclass(frozen=True)
class OfferedProgramme:
    programme_id: int
    eligible_countries: list[str] = field(default_factory=list)
    eligibility_note: str = ""


@dataclass(frozen=True)
class CallInput:
    title: str
    slug: str
    description: str
    eligibility_summary: str
    timezone: str
    opens_at: dt.datetime
    closes_at: dt.datetime
    review_deadline: dt.datetime | None
    decision_date: dt.date | None
    reviewers_per_application: int
    disagreement_threshold: Decimal
    programmes: list[OfferedProgramme]
    # {"nb": {"title": ..., "description": ..., "eligibility_summary": ...}}; empty texts fall back.
    translations: dict[str, dict[str, str]] = field(default_factory=dict)


def _require_manager(user: User) -> None:
    if not user.has_role(Role.MANAGER):
        raise ServiceError(_("Only programme managers change calls."))


def _slug_taken(slug: str, own_id: int | None) -> bool:
    query = select(func.count()).select_from(Call).where(Call.slug == slug)
    if own_id is not None:
        query = query.where(Call.id != own_id)
    return bool(db.session.scalar(query))


def _check_slug(slug: str, own_id: int | None) -> None:
    problem = slug_problem(slug)
    if problem:
        raise ServiceError(problem, field="slug")
    if _slug_taken(slug, own_id):
        raise ServiceError(_("Another call uses the web address %(slug)s; choose another slug.", slug=slug), field="slug")


def _check_translations(translations: dict[str, dict[str, str]]) -> None:
    """The same limits as the main texts, so a translation never outgrows what a page shows."""
    for locale, texts in translations.items():
        for name, value in texts.items():
            limit = TEXT_LIMITS.get(name)
            if limit is not None and len(value.strip()) > limit:
                raise ServiceError(_("A translated text is longer than %(limit)s characters.", limit=limit),
                                   field=f"{name}_{locale}")


def _check_input(item: CallInput, own_id: int | None) -> None:
    if not item.title.strip():
        raise ServiceError(_("Give the call a title."), field="title")
    _check_slug(item.slug, own_id)
    if not is_known_timezone(item.timezone):
        raise ServiceError(_("%(zone)s is not a time zone name; use one like Europe/Oslo.", zone=item.timezone),
                           field="timezone")
    if item.closes_at <= item.opens_at:
        raise ServiceError(_("The call must close after it opens."), field="closes_at")
    if item.review_deadline is not None and item.review_deadline <= item.closes_at:
        raise ServiceError(_("Reviews are due after the call closes."), field="review_deadline")
    if item.decision_date is not None:
        earliest = (item.review_deadline or item.closes_at).date()
        if item.decision_date < earliest:
            raise ServiceError(_("The decision date comes after the reviews are due and the call closes."),
                               field="decision_date")
    if item.reviewers_per_application < 1:
        raise ServiceError(_("Each application needs at least one reviewer."), field="reviewers_per_application")
    if item.disagreement_threshold <= 0:
        raise ServiceError(_("The disagreement threshold must be above 0."), field="disagreement_threshold")
    _check_translations(item.translations)
    if not item.programmes:
        raise ServiceError(_("Offer at least one programme in the call."))
    for offered in item.programmes:
        unknown = [code for code in offered.eligible_countries if code not in COUNTRY_NAMES]
        if unknown:
            raise ServiceError(_("Unknown country code(s): %(codes)s. Use codes like NO or SE.", codes=", ".join(unknown)))
        if db.session.get(Programme, offered.programme_id) is None:
            raise ServiceError(_("One of the programmes does not exist any more."))


def create_call(manager: User, item: CallInput) -> Call:
    """A new call, as a draft nobody outside the managers sees."""
    _require_manager(manager)
    _check_input(item, None)
    call = Call(state="draft")
    _apply(call, item)
    _set_programmes(call, item.programmes)
    db.session.add(call)
    db.session.flush()
    record_event(manager, "call.created", "call", call.id, slug=call.slug)
    return call


def _apply(call: Call, item: CallInput) -> None:
    call.title, call.slug = item.title.strip(), item.slug
    call.description, call.eligibility_summary = item.description.strip(), item.eligibility_summary.strip()
    call.timezone, call.opens_at, call.closes_at = item.timezone, item.opens_at, item.closes_at
    call.review_deadline, call.decision_date = item.review_deadline, item.decision_date
    call.reviewers_per_application = item.reviewers_per_application
    call.disagreement_threshold = item.disagreement_threshold
    call.translations = _clean_translations(item.translations)


def _clean_translations(given: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
    """Only the known texts in supported languages other than English, stripped; an empty text
    is left out so the reader gets the main one rather than nothing."""
    cleaned: dict[str, dict[str, str]] = {}
    for locale in CALL_TEXT_LOCALES:
        texts = {name: value.strip() for name, value in given.get(locale, {}).items()
                 if name in TRANSLATED_CALL_TEXTS and value.strip()}
        if texts:
            cleaned[locale] = texts
    return cleaned


def _set_programmes(call: Call, offered: list[OfferedProgramme]) -> None:
    existing = {row.programme_id: row for row in call.programmes}
    wanted = {item.programme_id for item in offered}
    for row in [row for row in call.programmes if row.programme_id not in wanted]:
        call.programmes.remove(row)
    for position, item in enumerate(offered):
        row = existing.get(item.programme_id)
        if row is None:
            row = CallProgramme(programme_id=item.programme_id)
            call.programmes.append(row)
        row.position, row.eligible_countries = position, list(item.eligible_countries)
        row.eligibility_note = item.eligibility_note.strip()


def _chosen_programme_ids(call: Call) -> set[int]:
    return set(db.session.scalars(
        select(ProgrammePreference.programme_id).join(Application).where(Application.call_id == call.id)
    ))


def opened_call_problems(call: Call, item: CallInput, now: dt.datetime) -> list[str]:
    """Why an edit of an opened call would invalidate applicants' work; empty when it would not."""
    if not call.has_opened(now):
        return []
    problems = []
    if item.opens_at != call.opens_at:
        problems.append("The call has opened; its opening time can no longer change.")
    if item.closes_at < call.closes_at:
        problems.append("The call has opened; its closing time can only move later.")
    offered = {row.programme_id: row for row in call.programmes}
    kept = {entry.programme_id: entry for entry in item.programmes}
    chosen = _chosen_programme_ids(call)
    for programme_id, row in offered.items():
        if programme_id not in kept and programme_id in chosen:
            problems.append(f"{row.programme.name} cannot be removed: applicants have chosen it.")
        elif programme_id in kept and narrows_eligibility(row.eligible_countries, kept[programme_id].eligible_countries):
            problems.append(f"{row.programme.name}: eligibility cannot be narrowed once the call has opened.")
    return problems


def update_call(manager: User, call: Call, item: CallInput, now: dt.datetime) -> Call:
    _require_manager(manager)
    _check_input(item, call.id)
    if call.state == "archived":
        raise CallConflict(_("An archived call no longer changes."))
    problems = opened_call_problems(call, item, now)
    if problems:
        raise CallConflict(" ".join(problems))
    extended = {name: (getattr(call, name), getattr(item, name)) for name in ("closes_at", "review_deadline")
                if getattr(call, name) is not None and getattr(item, name) is not None
                and getattr(item, name) > getattr(call, name)}
    previous_review_deadline = call.review_deadline
    _apply(call, item)
    _set_programmes(call, item.programmes)
    db.session.flush()
    if call.review_deadline != previous_review_deadline:
        _assignments_follow_review_deadline(call, previous_review_deadline)
    record_event(manager, "call.changed", "call", call.id, slug=call.slug)
    if extended and call.has_opened(now):
        record_event(manager, "call.deadline_extended", "call", call.id,
                     **{name: {"from": old.isoformat(), "to": new.isoformat()} for name, (old, new) in extended.items()})
    return call


def _assignments_follow_review_deadline(call: Call, previous: dt.datetime | None) -> None:
    """An assignment is due at the call's review deadline as it stood when it was made
    (``services.assignments``), or has no date while the call had none. Those still due then
    follow the deadline when it moves: an extension reaches every reviewer's list, calendar and
    reminders and the board's overdue counts, instead of calling them late from the old date.
    An assignment due at another moment keeps it."""
    followed = Assignment.due_at.is_(None) if previous is None else Assignment.due_at == previous
    of_this_call = Assignment.application_id.in_(select(Application.id).where(Application.call_id == call.id))
    # A bulk UPDATE (a call has thousands); through the session, so the counters of what the
    # board, the insights and the match runs read move with it (models.insight_inputs).
    db.session.execute(update(Assignment).where(of_this_call, followed).values(due_at=call.review_deadline)
                       .execution_options(synchronize_session=False))


def publish_call(manager: User, call: Call, now: dt.datetime) -> None:
    """Draft -> published: the call shows publicly from its opening time."""
    _require_manager(manager)
    if call.state != "draft":
        raise CallConflict(_("Only a draft can be published; this call is already past that."))
    if call.closes_at <= now:
        raise CallConflict(_("The closing time is in the past; move it later before publishing."))
    if not call.programmes:
        raise CallConflict(_("Offer at least one programme before publishing."))
    call.state = "published"
    db.session.flush()
    record_event(manager, "call.published", "call", call.id, slug=call.slug)


def advance_call(manager: User, call: Call, now: dt.datetime) -> str:
    """Move a published call one step on (closed, reviewing, ... archived); returns the new state."""
    _require_manager(manager)
    if call.state == "draft":
        raise CallConflict(_("Publish the draft first."))
    following = next_state(call.state)
    if following is None:
        raise CallConflict(_("An archived call is at the end of its life."))
    if following == "closed" and now < call.closes_at:
        raise CallConflict(_("The call is still open; it can be closed once its closing time has passed."))
    previous, call.state = call.state, following
    db.session.flush()
    record_event(manager, "call.state_changed", "call", call.id, previous=previous, state=following)
    return following


def clone_call(manager: User, source: Call, title: str, slug: str) -> Call:
    """A new draft with the source's programmes, eligibility, rubric, questions, reminder
    policy and thresholds; dates are copied too, for the manager to move."""
    _require_manager(manager)
    if not title.strip():
        raise ServiceError(_("Give the new call a title."), field="title")
    _check_slug(slug, None)
    call = Call(state="draft", title=title.strip(), slug=slug, description=source.description,
                eligibility_summary=source.eligibility_summary, timezone=source.timezone,
                opens_at=source.opens_at, closes_at=source.closes_at, review_deadline=source.review_deadline,
                decision_date=source.decision_date, reviewers_per_application=source.reviewers_per_application,
                disagreement_threshold=source.disagreement_threshold,
                translations={locale: dict(texts) for locale, texts in (source.translations or {}).items()})
    call.programmes = [CallProgramme(programme_id=row.programme_id, position=row.position,
                                     eligible_countries=list(row.eligible_countries),
                                     eligibility_note=row.eligibility_note) for row in source.programmes]
    call.criteria = [Criterion(position=c.position, name=c.name, description=c.description, weight=c.weight,
                               scale_min=c.scale_min, scale_max=c.scale_max, step=c.step,
                               descriptors=dict(c.descriptors), threshold=c.threshold) for c in source.criteria]
    call.questions = [_copy_question(question) for question in source.questions]
    db.session.add(call)
    db.session.flush()
    _copy_reminder_policy(source, call, manager)
    record_event(manager, "call.cloned", "call", call.id, source_call_id=source.id, slug=slug)
    return call


def _copy_question(question: CallQuestion) -> CallQuestion:
    return CallQuestion(position=question.position, variant=question.variant, label=question.label,
                        help_text=question.help_text, required=question.required, max_words=question.max_words,
                        min_number=question.min_number, max_number=question.max_number,
                        options=[QuestionOption(position=o.position, label=o.label) for o in question.options])


def _copy_reminder_policy(source: Call, call: Call, manager: User) -> None:
    policy = db.session.get(CallReminderPolicy, source.id)
    if policy is None:
        return
    columns = [column.key for column in CallReminderPolicy.__table__.columns
               if column.key not in ("call_id", "updated_at", "updated_by_id")]
    copy = CallReminderPolicy(call_id=call.id, updated_by_id=manager.id,
                              **{name: getattr(policy, name) for name in columns})
    db.session.add(copy)
    db.session.flush()
