"""Reminders: the sweep that finds what is due and writes one digest email per recipient.

Exactly once: every reminder has a deterministic key (``domain.reminders.reminder_key``). A sweep
claims the keys it found due with one ``INSERT ... ON CONFLICT (key) DO NOTHING RETURNING key``
into ``sent_reminders`` and writes outbox rows only for the keys it won, in the same transaction.
Two schedulers sweeping at once both try to insert the same keys; the database lets each key in
once (on PostgreSQL the second insert waits for the first transaction and then skips), so every
reminder reaches the outbox exactly once. A crash mid-sweep rolls the whole transaction back and
the next sweep finds the same keys again: nothing lost.

Cost: a sweep issues the same handful of SQL statements whether 10 or 100,000 assignments are
pending (the rows are streamed, the claims and the emails are written by one statement each
from a JSON array), so its query count does not grow with the data; see
``bench/bench_reminder_sweep.py``.

Managers are also reminded of residencies' quarterly check-ins (``domain.check_ins``), with keys
in the same ledger, so those reach them exactly once too. A manager limited to some programmes
(a partner's staff) is reminded only of what is theirs: check-ins of residents in their
programmes' slots, escalations about applications in their programmes, digests of calls offering
one of them, whose figures count only the applications of their programmes (one query per
distinct scope: partners are few).

Like every service, the sweep only flushes; its caller (the scheduler job, ``flask reminders
sweep``, a test) commits.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_datetime
from flask import current_app, render_template
from flask_babel import force_locale, get_locale
from sqlalchemy import (
    ColumnElement,
    Integer,
    Select,
    String,
    and_,
    case,
    cast,
    column,
    func,
    literal,
    or_,
    select,
    true,
    type_coerce,
    union_all,
)
from sqlalchemy.dialects import postgresql

from incubator.database import UTCDateTime, utcnow
from incubator.domain import check_ins
from incubator.domain import reminders as policy_domain
from incubator.domain.applications import IN_REVIEW_STATES
from incubator.domain.reminders import (
    DEFAULT_POLICY,
    CallSchedule,
    DueReminder,
    OpenDraft,
    PendingReview,
    PolicyError,
    ReminderPolicy,
)
from incubator.domain.roles import Role
from incubator.extensions import db
from incubator.links import public_url
from incubator.models import (
    Application,
    ApplicationMember,
    Assignment,
    Call,
    CallProgramme,
    OutboundEmail,
    ProgrammeScope,
    Residency,
    ResidencyCheckIn,
    Review,
    ReviewerProfile,
    Slot,
    User,
)
from incubator.models.programmes import translated_call_text
from incubator.models.reminders import CallReminderPolicy, NotificationPreference, SentReminder
from incubator.services import ServiceError
from incubator.services.audit import record_event
from incubator.services.notifications import OUTBOX_DIRTY, outside_request_context
from incubator.services.rows import dialect_insert, get_or_create
from incubator.services.scope import applications_in
from incubator.services.tokens import unsubscribe_token

IN_REVIEW = [state.value for state in IN_REVIEW_STATES]


# --- Policies ---------------------------------------------------------------------------------

def policy_for(call: Call) -> ReminderPolicy:
    row = db.session.get(CallReminderPolicy, call.id)
    return row.to_policy() if row is not None else DEFAULT_POLICY


def save_policy(actor: User, call: Call, policy: ReminderPolicy) -> CallReminderPolicy:
    try:
        policy.validate()
    except PolicyError as error:
        raise ServiceError(str(error), field=error.field) from error
    row = get_or_create(CallReminderPolicy, call_id=call.id)
    row.enabled = policy.enabled
    row.reviewer_days_before = list(policy.reviewer_days_before)
    row.overdue_every_days = policy.overdue_every_days
    row.overdue_max = policy.overdue_max
    row.escalate_with_overdue = policy.escalate_with_overdue
    row.applicant_days_before = list(policy.applicant_days_before)
    row.manager_digest_weekday = policy.manager_digest_weekday
    row.manager_digest_hour = policy.manager_digest_hour
    row.updated_at = utcnow()
    row.updated_by_id = actor.id
    record_event(actor, "reminders.policy_saved", "call", call.id,
                 reviewer_days_before=list(policy.reviewer_days_before),
                 applicant_days_before=list(policy.applicant_days_before), enabled=policy.enabled)
    db.session.flush()
    return row


# --- The sweep --------------------------------------------------------------------------------

@dataclass
class SweepReport:
    due: int = 0  # reminders found due and not yet sent
    claimed: int = 0  # of which this sweep won the key
    emails: int = 0  # digests written to the outbox
    recipients: list[int] = field(default_factory=list)


@dataclass
class _Context:
    """What the sweep read, to render the digests without querying again."""

    calls: dict[int, dict[str, Any]] = field(default_factory=dict)
    reviews: dict[int, dict[str, Any]] = field(default_factory=dict)  # by assignment id
    drafts: dict[int, dict[str, Any]] = field(default_factory=dict)  # by application id
    people: dict[int, tuple[str, str]] = field(default_factory=dict)  # id -> (name, email)
    locales: dict[int, str | None] = field(default_factory=dict)  # id -> chosen language
    notify_reviewer: dict[int, bool] = field(default_factory=dict)  # assignment id -> may remind
    digest_stats: dict[int, dict[str, int]] = field(default_factory=dict)
    # A limited manager's digest figures: per (their programmes, call), their applications only.
    scoped_digest_stats: dict[tuple[frozenset[int], int], dict[str, int]] = field(default_factory=dict)
    scopes: dict[int, frozenset[int]] = field(default_factory=dict)  # limited managers' programmes
    residencies: dict[int, str] = field(default_factory=dict)  # residency id -> company


def _load_calls(now: dt.datetime) -> tuple[dict[int, CallSchedule], _Context]:
    """Calls still collecting or reviewing, with their policies (one query)."""
    horizon = now - dt.timedelta(days=60)
    rows = db.session.execute(
        select(Call.id, Call.title, Call.translations, Call.timezone, Call.closes_at, Call.review_deadline,
               CallReminderPolicy)
        .outerjoin(CallReminderPolicy, CallReminderPolicy.call_id == Call.id)
        .where(or_(Call.closes_at >= horizon, Call.review_deadline >= horizon))
    ).all()
    default_zone = current_app.config.get("DEFAULT_TIMEZONE", "Europe/Oslo")
    schedules: dict[int, CallSchedule] = {}
    context = _Context()
    for call_id, title, translations, timezone, closes_at, deadline, policy_row in rows:
        policy = policy_row.to_policy() if policy_row is not None else DEFAULT_POLICY
        schedules[call_id] = CallSchedule(policy, policy_domain.zone_of(timezone, default_zone))
        context.calls[call_id] = {"id": call_id, "title": title, "translations": translations,
                                  "timezone": timezone, "closes_at": closes_at, "review_deadline": deadline}
    return schedules, context


def _bounds(schedules: dict[int, CallSchedule]) -> tuple[dt.timedelta, dt.timedelta]:
    policies = [schedule.policy for schedule in schedules.values()] or [DEFAULT_POLICY]
    return max(p.lookback for p in policies), max(p.lookahead for p in policies)


def _pending_reviews(now: dt.datetime, lookback: dt.timedelta, lookahead: dt.timedelta,
                     context: _Context, call_id: int | None = None) -> list[PendingReview]:
    """Assignments with an unsubmitted review of an application in review, due in the window.

    Paused reviewers are left out entirely; unsubscribed or deactivated ones are kept (their
    managers are still told when a review is overdue) but get no reminder themselves.
    """
    due = func.coalesce(Assignment.due_at, Call.review_deadline)
    query = (
        select(Assignment.id, Assignment.reviewer_id, Application.call_id, due, Assignment.assigned_at,
               Application.id, Application.company_name, User.name, User.email, User.active,
               NotificationPreference.unsubscribed_at, User.locale)
        .join(Application, Application.id == Assignment.application_id)
        .join(Call, Call.id == Application.call_id)
        .join(User, User.id == Assignment.reviewer_id)
        .outerjoin(Review, and_(Review.application_id == Assignment.application_id,
                                Review.reviewer_id == Assignment.reviewer_id))
        .outerjoin(ReviewerProfile, ReviewerProfile.user_id == Assignment.reviewer_id)
        .outerjoin(NotificationPreference, NotificationPreference.user_id == Assignment.reviewer_id)
        .where(
            Application.state.in_(IN_REVIEW),
            or_(Review.id.is_(None), Review.state != "submitted"),
            or_(ReviewerProfile.user_id.is_(None), ReviewerProfile.reminders_paused.is_(False)),
            due.is_not(None), due >= now - lookback, due <= now + lookahead,
        )
    )
    if call_id is not None:
        query = query.where(Application.call_id == call_id)
    pending = []
    for (assignment_id, reviewer_id, row_call_id, due_at, assigned_at, application_id, company, name, email,
         active, unsubscribed_at, locale) in db.session.execute(query.execution_options(yield_per=5000)):
        pending.append(PendingReview(assignment_id, reviewer_id, row_call_id, due_at, assigned_at))
        context.reviews[assignment_id] = {"application_id": application_id, "company": company,
                                          "call_id": row_call_id, "due_at": due_at, "reviewer_id": reviewer_id}
        context.people[reviewer_id] = (name, email)
        context.locales[reviewer_id] = locale
        context.notify_reviewer[assignment_id] = bool(active) and unsubscribed_at is None
    return pending


def _open_drafts(now: dt.datetime, lookahead: dt.timedelta, context: _Context,
                 call_id: int | None = None) -> list[OpenDraft]:
    """Drafts of calls closing within ``lookahead``: one row per person to remind, the owner
    and every member of the team (each their own reminder, key and language)."""
    def drafts_to(recipient: Any, *team: Any) -> Select[Any]:
        query = select(Application.id, recipient, Application.call_id, Call.closes_at, Application.created_at,
                       User.name, User.email, User.locale).join(Call, Call.id == Application.call_id)
        for join in team:
            query = query.join(*join)
        query = (
            query.join(User, User.id == recipient)
            .outerjoin(NotificationPreference, NotificationPreference.user_id == recipient)
            .where(Application.state == "draft", Application.anonymised_at.is_(None), User.active.is_(True),
                   NotificationPreference.unsubscribed_at.is_(None),
                   Call.closes_at > now, Call.closes_at <= now + lookahead)
        )
        return query.where(Application.call_id == call_id) if call_id is not None else query

    query = union_all(drafts_to(Application.applicant_id),
                      drafts_to(ApplicationMember.user_id,
                                (ApplicationMember, ApplicationMember.application_id == Application.id)))
    drafts = []
    for application_id, person_id, row_call_id, closes_at, created_at, name, email, locale in db.session.execute(
            query.execution_options(yield_per=5000)):
        drafts.append(OpenDraft(application_id, person_id, row_call_id, closes_at, created_at))
        context.drafts[application_id] = {"call_id": row_call_id, "closes_at": closes_at}
        context.people[person_id] = (name, email)
        context.locales[person_id] = locale
    return drafts


def _managers(context: _Context) -> tuple[list[int], dict[int, frozenset[int]]]:
    """The managers to remind, and the programmes of those limited to some (absent: all)."""
    rows = db.session.execute(
        select(User.id, User.name, User.email, User.locale, ProgrammeScope.programme_id)
        .outerjoin(NotificationPreference, NotificationPreference.user_id == User.id)
        .outerjoin(ProgrammeScope, ProgrammeScope.user_id == User.id)
        .where(User.role == Role.MANAGER.value, User.active.is_(True),
               NotificationPreference.unsubscribed_at.is_(None))
        .order_by(User.id)
    ).all()
    ids: list[int] = []
    scopes: dict[int, set[int]] = {}
    for user_id, name, email, locale, programme_id in rows:
        if user_id not in context.people:
            ids.append(user_id)
        context.people[user_id] = (name, email)
        context.locales[user_id] = locale
        if programme_id is not None:
            scopes.setdefault(user_id, set()).add(programme_id)
    return ids, {user_id: frozenset(programmes) for user_id, programmes in scopes.items()}


def _call_programmes(call_ids: Sequence[int]) -> dict[int, frozenset[int]]:
    """The programmes each call offers: whose limited managers get its digest (a few calls)."""
    found: dict[int, set[int]] = {}
    if call_ids:
        for call_id, programme_id in db.session.execute(
                select(CallProgramme.call_id, CallProgramme.programme_id)
                .where(CallProgramme.call_id.in_(list(call_ids)))):
            found.setdefault(call_id, set()).add(programme_id)
    return {call_id: frozenset(programmes) for call_id, programmes in found.items()}


def _escalations_in_scope(reminders: list[DueReminder], scopes: dict[int, frozenset[int]],
                          context: _Context) -> list[DueReminder]:
    """Drop escalations telling a limited manager about applications outside their programmes:
    one query per distinct scope (partners are few), over the escalated applications only."""
    limited = [r for r in reminders if r.kind == policy_domain.ESCALATION and r.recipient_id in scopes]
    if not limited:
        return reminders
    application_of = {r.subject_id: context.reviews[r.subject_id]["application_id"] for r in limited}
    rows = [{"id": application_id} for application_id in sorted(set(application_of.values()))]
    visible: dict[frozenset[int], set[int]] = {}
    for scope in {scopes[r.recipient_id] for r in limited}:
        source, c = _json_source(rows, {"id": Integer()})
        visible[scope] = set(db.session.scalars(
            select(c["id"]).select_from(source).where(applications_in(scope, c["id"]))))
    return [r for r in reminders if r.kind != policy_domain.ESCALATION or r.recipient_id not in scopes
            or application_of[r.subject_id] in visible[scopes[r.recipient_id]]]


def _digest_call_ids(now: dt.datetime, schedules: dict[int, CallSchedule], context: _Context) -> list[int]:
    """Calls whose managers get a weekly digest now: in review, digest switched on."""
    ids = []
    for call_id, schedule in schedules.items():
        call = context.calls[call_id]
        deadline = call["review_deadline"]
        if (schedule.policy.manager_digest_weekday is not None and deadline is not None
                and call["closes_at"] <= now <= deadline + schedule.policy.lookback):
            ids.append(call_id)
    return ids


def _digest_stats(call_ids: Sequence[int], now: dt.datetime,
                  scope: frozenset[int] | None) -> dict[int, dict[str, int]]:
    """Per call: assignments of applications in review, reviews submitted, reviews overdue;
    with a ``scope``, of the applications of those programmes only (services.scope)."""
    due = func.coalesce(Assignment.due_at, Call.review_deadline)
    submitted = case((Review.state == "submitted", 1), else_=0)
    overdue = case((and_(or_(Review.id.is_(None), Review.state != "submitted"), due < now), 1), else_=0)
    query = (
        select(Application.call_id, func.count(Assignment.id), func.sum(submitted), func.sum(overdue))
        .join(Application, Application.id == Assignment.application_id)
        .join(Call, Call.id == Application.call_id)
        .outerjoin(Review, and_(Review.application_id == Assignment.application_id,
                                Review.reviewer_id == Assignment.reviewer_id))
        .where(Application.call_id.in_(sorted(call_ids)), Application.state.in_(IN_REVIEW))
        .group_by(Application.call_id)
    )
    if scope is not None:
        query = query.where(applications_in(scope, Application.id))
    stats = {call_id: {"assigned": 0, "submitted": 0, "overdue": 0} for call_id in call_ids}
    for call_id, assigned, done, late in db.session.execute(query):
        stats[call_id] = {"assigned": int(assigned or 0), "submitted": int(done or 0), "overdue": int(late or 0)}
    return stats


def _load_digest_stats(call_ids: Sequence[int], now: dt.datetime, context: _Context) -> None:
    if call_ids:
        context.digest_stats.update(_digest_stats(call_ids, now, None))


def _load_scoped_digest_stats(reminders: Sequence[DueReminder], scopes: dict[int, frozenset[int]],
                              now: dt.datetime, context: _Context) -> None:
    """The figures of the digests going to limited managers, counted over their programmes'
    applications: one query per distinct scope (partners are few), over their digests' calls."""
    context.scopes = scopes
    calls_of: dict[frozenset[int], set[int]] = {}
    for reminder in reminders:
        if reminder.kind == policy_domain.DIGEST and reminder.recipient_id in scopes:
            calls_of.setdefault(scopes[reminder.recipient_id], set()).add(reminder.subject_id)
    for scope, call_ids in calls_of.items():
        for call_id, stats in _digest_stats(sorted(call_ids), now, scope).items():
            context.scoped_digest_stats[(scope, call_id)] = stats


def _residency_stays(now: dt.datetime, zone: ZoneInfo,
                     context: _Context) -> tuple[list[check_ins.ResidencyStay], set[tuple[int, dt.date]]]:
    """Active residencies that may have a check-in near ``now``, and the check-ins recorded near it
    (two queries, however many residents)."""
    today = now.astimezone(zone).date()
    earliest, latest = today - check_ins.REMIND_LOOKBACK, today + check_ins.REMIND_LOOKAHEAD
    rows = db.session.execute(
        select(Residency.id, Residency.starts_on, Residency.ends_on, Application.company_name, Slot.programme_id)
        .join(Application, Application.id == Residency.application_id)
        .join(Slot, Slot.id == Residency.slot_id)
        .where(Residency.state == "active", Residency.starts_on <= latest, Residency.ends_on > earliest)
        .execution_options(yield_per=5000))
    stays = []
    for residency_id, starts_on, ends_on, company, programme_id in rows:
        stays.append(check_ins.ResidencyStay(residency_id, starts_on, ends_on, programme_id))
        context.residencies[residency_id] = company or f"#{residency_id}"
    if not stays:
        return stays, set()
    done = db.session.execute(
        select(ResidencyCheckIn.residency_id, ResidencyCheckIn.due_on)
        .where(ResidencyCheckIn.due_on >= earliest, ResidencyCheckIn.due_on <= latest))
    return stays, {(residency_id, due_on) for residency_id, due_on in done}


def _recently_claimed(now: dt.datetime, window: dt.timedelta) -> set[str]:
    """Keys claimed recently: enough to skip what is already sent without a query per key."""
    return set(db.session.scalars(select(SentReminder.key).where(SentReminder.created_at >= now - window)))


# --- Bulk writes from a JSON array: one statement however many rows ---------------------------

def _json_source(rows: list[dict[str, Any]], columns: dict[str, Any]) -> tuple[Any, dict[str, ColumnElement[Any]]]:
    """A FROM clause over ``rows`` (JSON) and its typed columns, on PostgreSQL or SQLite."""
    payload = json.dumps(rows, separators=(",", ":"))
    if db.session.get_bind().dialect.name == "postgresql":
        source = func.json_to_recordset(cast(literal(payload, String()), postgresql.JSON)).table_valued(
            *(column(name, type_) for name, type_ in columns.items())).render_derived(with_types=True)
        return source, {name: source.c[name] for name in columns}
    each = func.json_each(literal(payload, String())).table_valued("value")
    return each, {name: type_coerce(func.json_extract(each.c.value, f"$.{name}"), type_)
                  for name, type_ in columns.items()}


def _claim(reminders: Sequence[DueReminder], sweep_id: str, now: dt.datetime) -> set[str]:
    """Insert the keys; return those this sweep won (the others were claimed by someone else)."""
    if not reminders:
        return set()
    rows = [{"key": r.key, "kind": r.kind, "recipient_id": r.recipient_id, "subject_id": r.subject_id,
             "occasion": r.occasion} for r in reminders]
    source, c = _json_source(rows, {"key": String(), "kind": String(), "recipient_id": Integer(),
                                    "subject_id": Integer(), "occasion": String()})
    # Always in key order, so two sweepers inserting overlapping sets wait for each other
    # instead of deadlocking.
    selected = (select(c["key"], c["kind"], c["recipient_id"], c["subject_id"], c["occasion"],
                       literal(sweep_id, String()), literal(now, UTCDateTime()))
                .select_from(source).where(true()).order_by(c["key"]))
    statement = (
        dialect_insert(SentReminder)
        .from_select(["key", "kind", "recipient_id", "subject_id", "occasion", "sweep_id", "created_at"], selected)
        .on_conflict_do_nothing(index_elements=["key"])
        .returning(SentReminder.key)
    )
    return set(db.session.scalars(statement))


def _write_emails(emails: list[dict[str, Any]], now: dt.datetime) -> None:
    if not emails:
        return
    source, c = _json_source(emails, {"to_address": String(), "subject": String(), "body_text": String(),
                                      "dedupe_key": String()})
    selected = select(c["to_address"], c["subject"], c["body_text"], c["dedupe_key"],
                      literal("reminders", String()), literal("pending", String()), literal(0, Integer()),
                      literal(now, UTCDateTime()), literal(now, UTCDateTime())).select_from(source)
    db.session.execute(
        dialect_insert(OutboundEmail).from_select(
            ["to_address", "subject", "body_text", "dedupe_key", "kind", "status", "attempts", "created_at",
             "next_attempt_at"], selected)
    )
    db.session.info[OUTBOX_DIRTY] = True


# --- Rendering ---------------------------------------------------------------------------------

class _Renderer:
    """What every digest of one sweep shares, worked out once: links, local times, labels."""

    SENTINEL = 987654321

    def __init__(self) -> None:
        from flask_babel import gettext as _

        self.default_zone = current_app.config.get("DEFAULT_TIMEZONE")
        self._times: dict[tuple[dt.datetime, str | None], str] = {}
        self._review_link = public_url("review.application", application_id=self.SENTINEL)
        self._call_link = public_url("manage.call_hub", call_id=self.SENTINEL)
        self._residency_link = public_url("manage.residency_follow_up", residency_id=self.SENTINEL)
        self.common = {
            "dashboard": public_url("main.dashboard"),
            "assignments_link": public_url("review.assignments"),
            # Translated once per sweep rather than once per line of every digest.
            "labels": {
                "hello": _("Hello %(name)s,"), "reviews": _("Reviews waiting for you:"),
                "due": _("due %(due)s"), "overdue": _("overdue since %(due)s"),
                "all_assignments": _("All your assignments:"), "escalations": _("Reviews past their deadline:"),
                "draft": _("Your application is saved as a draft and not submitted yet."),
                "closes": _("the call closes %(closes)s"), "continue": _("Continue where you left off:"),
                "progress": _("Reviewing progress this week:"),
                "progress_line": _("%(submitted)d of %(assigned)d reviews submitted, %(overdue)d overdue; "
                                   "reviews due %(due)s"),
                "check_ins": _("Residency check-ins to hold and record:"),
                "check_in_due": _("check-in due %(due)s"),
                "signature": _("Oslo Cancer Cluster"),
                "why": _("You get this reminder because of your role in the OCC Incubator residency service. "
                         "Stop reminders with one click:"),
            },
        }

    def local(self, value: dt.datetime | None, timezone: str | None) -> str:
        if value is None:
            return ""
        key = (value, timezone)
        text = self._times.get(key)
        if text is None:
            local = value.astimezone(policy_domain.zone_of(timezone, self.default_zone))
            # Weekday and month in the recipient's language (the renderer is per language).
            words = format_datetime(local, "EEE dd MMM y, HH:mm", tzinfo=local.tzinfo, locale=get_locale())
            text = self._times[key] = f"{words} {local.tzname()}"
        return text

    def review_link(self, application_id: int) -> str:
        return self._review_link.replace(str(self.SENTINEL), str(application_id))

    def call_link(self, call_id: int) -> str:
        return self._call_link.replace(str(self.SENTINEL), str(call_id))

    def residency_link(self, residency_id: int) -> str:
        return self._residency_link.replace(str(self.SENTINEL), str(residency_id))

    @staticmethod
    def day(value: dt.date) -> str:
        return format_date(value, "d MMMM y", locale=get_locale())


def _render_digest(recipient_id: int, items: list[DueReminder], context: _Context, now: dt.datetime,
                   renderer: _Renderer) -> dict[str, Any]:
    from flask_babel import gettext as _
    from flask_babel import ngettext

    name, address = context.people[recipient_id]
    reviews, escalations, drafts, digests, follow_ups = [], [], [], [], []
    for item in items:
        if item.kind == policy_domain.REVIEWER:
            info = context.reviews[item.subject_id]
            call = context.calls[info["call_id"]]
            reviews.append({"company": info["company"] or f"#{info['application_id']}", "call": call["title"],
                            "due": renderer.local(info["due_at"], call["timezone"]), "due_at": info["due_at"],
                            "overdue": info["due_at"] <= now, "link": renderer.review_link(info["application_id"])})
        elif item.kind == policy_domain.ESCALATION:
            info = context.reviews[item.subject_id]
            call = context.calls[info["call_id"]]
            escalations.append({"company": info["company"] or f"#{info['application_id']}", "call": call["title"],
                                "reviewer": context.people[info["reviewer_id"]][0],
                                "due": renderer.local(info["due_at"], call["timezone"])})
        elif item.kind == policy_domain.DRAFT:
            info = context.drafts[item.subject_id]
            call = context.calls[info["call_id"]]
            # Applicants read the call's title in their language (the digest renders under it).
            title = translated_call_text(call["title"], call["translations"], "title", str(get_locale() or ""))
            drafts.append({"call": title, "closes": renderer.local(info["closes_at"], call["timezone"])})
        elif item.kind == policy_domain.DIGEST:
            call = context.calls[item.subject_id]
            scope = context.scopes.get(recipient_id)
            stats = (context.digest_stats.get(item.subject_id, {}) if scope is None
                     else context.scoped_digest_stats.get((scope, item.subject_id), {}))
            digests.append({"call": call["title"], **stats,
                            "due": renderer.local(call["review_deadline"], call["timezone"]),
                            "link": renderer.call_link(item.subject_id)})
        elif item.kind == policy_domain.CHECK_IN:
            due_on = check_ins.due_on_of(item.occasion)
            follow_ups.append({"company": context.residencies[item.subject_id], "due_on": due_on,
                               "due": renderer.day(due_on), "link": renderer.residency_link(item.subject_id)})
    reviews.sort(key=lambda r: (not r["overdue"], r["due_at"], r["company"]))
    follow_ups.sort(key=lambda r: (r["due_on"], r["company"]))
    if reviews:
        overdue = sum(1 for r in reviews if r["overdue"])
        subject = (ngettext("Overdue: %(num)d review is past its deadline", "Overdue: %(num)d reviews are past their deadline", overdue)
                   if overdue else ngettext("Reminder: %(num)d review due soon", "Reminder: %(num)d reviews due soon", len(reviews)))
    elif escalations:
        subject = ngettext("%(num)d review is overdue", "%(num)d reviews are overdue", len(escalations))
    elif drafts:
        subject = _("Your application is not submitted yet")
    elif follow_ups:
        subject = ngettext("%(num)d residency check-in is due", "%(num)d residency check-ins are due",
                           len(follow_ups))
    else:
        subject = _("Weekly reviewing progress")
    unsubscribe = public_url("notifications.unsubscribe", token=unsubscribe_token(address))
    body = render_template("emails/reminder_digest.txt", name=name, reviews=reviews, escalations=escalations,
                           drafts=drafts, digests=digests, check_ins=follow_ups, unsubscribe_link=unsubscribe, **renderer.common)
    return {"to_address": address, "subject": subject[:250], "body_text": body}


def sweep(now: dt.datetime | None = None) -> SweepReport:
    """Find every reminder due at ``now``, claim it once, and queue one digest per recipient."""
    now = now or utcnow()
    report = SweepReport()
    schedules, context = _load_calls(now)
    zone = policy_domain.zone_of(None, current_app.config.get("DEFAULT_TIMEZONE", "Europe/Oslo"))
    stays, done = _residency_stays(now, zone, context)
    if not schedules and not stays:
        return report
    lookback, lookahead = _bounds(schedules)
    managers, scopes = _managers(context)
    window = max(lookback + lookahead + dt.timedelta(days=8),
                 check_ins.REMIND_LOOKBACK + check_ins.REMIND_LOOKAHEAD + dt.timedelta(days=8))
    already = _recently_claimed(now, window)
    reminders: list[DueReminder] = []
    if schedules:
        pending = _pending_reviews(now, lookback, lookahead, context)
        drafts = _open_drafts(now, lookahead, context)
        digest_calls = _digest_call_ids(now, schedules, context)
        _load_digest_stats(digest_calls, now, context)
        plan = policy_domain.plan_sweep(now, schedules, pending, drafts, managers, digest_calls, already, scopes,
                                        _call_programmes(digest_calls) if scopes else None)
        # A reviewer who unsubscribed (or was deactivated) gets no reminder; escalations still go.
        reminders = [r for r in plan.reminders
                     if r.kind != policy_domain.REVIEWER or context.notify_reviewer.get(r.subject_id, False)]
        reminders = _escalations_in_scope(reminders, scopes, context)
        _load_scoped_digest_stats(reminders, scopes, now, context)
    reminders += check_ins.plan_check_in_reminders(now, stays, done, managers, zone, already, scopes)
    report.due = len(reminders)
    sweep_id = str(uuid.uuid4())
    won = _claim(reminders, sweep_id, now)
    report.claimed = len(won)
    grouped: dict[int, list[DueReminder]] = {}
    for reminder in reminders:
        if reminder.key in won:
            grouped.setdefault(reminder.recipient_id, []).append(reminder)
    emails = []
    with outside_request_context():
        # One renderer per language: labels and dates are worked out once per language per sweep.
        renderers: dict[str, _Renderer] = {}
        default = current_app.config["BABEL_DEFAULT_LOCALE"]
        for recipient_id in sorted(grouped):
            locale = context.locales.get(recipient_id) or default
            with force_locale(locale):
                renderer = renderers.get(locale) or renderers.setdefault(locale, _Renderer())
                email = _render_digest(recipient_id, grouped[recipient_id], context, now, renderer)
            email["dedupe_key"] = f"reminders:{recipient_id}:{sweep_id}"
            emails.append(email)
    _write_emails(emails, now)
    report.emails = len(emails)
    report.recipients = sorted(grouped)
    return report


# --- What is coming, for a call's managers -----------------------------------------------------

@dataclass(frozen=True)
class UpcomingReminder:
    at: dt.datetime
    kind: str
    recipient: str
    about: str
    occasion: str
    state: str  # "sent", "due" (at the next sweep) or "scheduled"


def upcoming_for_call(call: Call, now: dt.datetime, limit: int = 500) -> list[UpcomingReminder]:
    """For each pending review and open draft of the call: the reminder due now and the next one."""
    policy = policy_for(call)
    zone = policy_domain.zone_of(call.timezone, current_app.config.get("DEFAULT_TIMEZONE"))
    context = _Context()
    pending = _pending_reviews(now, policy.lookback, dt.timedelta(days=3650), context, call_id=call.id)
    drafts = _open_drafts(now, dt.timedelta(days=3650), context, call_id=call.id)
    sent = _recently_claimed(now, dt.timedelta(days=3650)) if (pending or drafts) else set()
    rows: list[UpcomingReminder] = []
    if not policy.enabled:
        return rows

    def add(kind: str, recipient_id: int, subject_id: int, about: str,
            occasions: list[policy_domain.Occasion], not_before: dt.datetime, due_at: dt.datetime) -> None:
        current = policy_domain.reviewer_current(occasions, due_at, now, not_before)
        if current is not None:
            key = policy_domain.reminder_key(kind, recipient_id, subject_id, current.name)
            rows.append(UpcomingReminder(current.at, kind, context.people[recipient_id][0], about, current.name,
                                         "sent" if key in sent else "due"))
        upcoming = policy_domain.next_occasion(occasions, now)
        if upcoming is not None:
            rows.append(UpcomingReminder(upcoming.at, kind, context.people[recipient_id][0], about, upcoming.name,
                                         "scheduled"))

    for review in pending:
        info = context.reviews[review.assignment_id]
        if not context.notify_reviewer.get(review.assignment_id):
            continue
        add(policy_domain.REVIEWER, review.reviewer_id, review.assignment_id,
            info["company"] or f"#{info['application_id']}",
            policy_domain.reviewer_occasions(policy, review.due_at, zone), review.assigned_at, review.due_at)
    for draft in drafts:
        add(policy_domain.DRAFT, draft.applicant_id, draft.application_id, call.title,
            policy_domain.applicant_occasions(policy, draft.closes_at, zone), draft.created_at, draft.closes_at)
    rows.sort(key=lambda row: (row.at, row.recipient))
    return rows[:limit]
