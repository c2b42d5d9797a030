"""The reviewer's side of reviewing: their assignments, scoring an application, their profile.

Each public function that writes is one state change; it checks who acts and whether the
change is allowed now, flushes, and leaves the commit to the caller. Who may see an
application is decided by ``services.conflicts`` alone (assigned and not conflicted), so a
conflict hides an application from every function here.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from flask import has_request_context
from flask_babel import gettext
from sqlalchemy import and_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from incubator.database import utcnow
from incubator.domain.applications import FOCUS_AREAS, ApplicationState
from incubator.domain.roles import Role
from incubator.domain.scoring import CriterionRule, score_problem, weighted_score
from incubator.extensions import db
from incubator.models import Application, Assignment, Call, Criterion, Review, ReviewerProfile, Score, User
from incubator.services import ServiceError
from incubator.services.applications import NotAllowed
from incubator.services.audit import record_event
from incubator.services.conflicts import reviewer_can_see, visible_to_reviewer
from incubator.services.ranking import criterion_rules
from incubator.services.rows import get_or_create

# Reviews are written while the committee looks at an application, and only then.
REVIEWABLE_STATES = frozenset({ApplicationState.SUBMITTED, ApplicationState.UNDER_REVIEW})
# A reviewer keeps seeing decided applications (their review stays readable); drafts were never
# theirs to see, and a withdrawn application is no longer the committee's business.
HIDDEN_FROM_REVIEWERS = frozenset({ApplicationState.DRAFT, ApplicationState.WITHDRAWN})

MAX_COMMENT_LENGTH = 10_000
MAX_EXPERTISE_LENGTH = 5_000
MAX_AFFILIATION_LENGTH = 200
MAX_LOAD_LIMIT = 200
DEFAULT_MAX_LOAD = 10  # what a new ReviewerProfile row holds until the reviewer says otherwise
CONFIDENCE_RANGE = range(1, 6)


def _(template: str, **params: object) -> str:
    """A message in the reader's language during a request; plain English from commands and
    tests, where there is no reader (the app's locale selector needs a request)."""
    if has_request_context():
        return gettext(template, **params)
    return template % params if params else template


class InvalidAnswers(ServiceError):
    """Several answers of a form refused at once, each with its field, so every problem is
    shown beside its own input in one round trip."""

    def __init__(self, errors: Mapping[str, str]) -> None:
        first_field, first_message = next(iter(errors.items()))
        super().__init__(first_message, field=first_field)
        self.errors = dict(errors)


# --- Who may review what ------------------------------------------------------------------------

def reviewer_may_open(reviewer: User, application: Application) -> bool:
    """The reviewer's pages show the application: assigned, not conflicted, not draft/withdrawn."""
    return application.state_enum not in HIDDEN_FROM_REVIEWERS and reviewer_can_see(reviewer, application)


def _ensure_assigned(reviewer: User, application: Application) -> None:
    if not reviewer_may_open(reviewer, application):
        # The web layer turns this into 404: an id must not reveal that an application exists.
        raise NotAllowed(_("You are not assigned to this application."))


def deadline_passed(call: Call, now: dt.datetime) -> bool:
    return call.review_deadline is not None and now >= call.review_deadline


def review_is_open(application: Application, now: dt.datetime) -> bool:
    """Whether reviews of this application may still be written or changed."""
    return application.state_enum in REVIEWABLE_STATES and not deadline_passed(application.call, now)


def _ensure_open(application: Application, now: dt.datetime) -> None:
    if deadline_passed(application.call, now):
        raise ServiceError(_("The review deadline has passed; reviews can no longer be saved or changed."))
    if application.state_enum not in REVIEWABLE_STATES:
        raise ServiceError(_("This application is no longer under review."))


# --- Reading -----------------------------------------------------------------------------------

def review_of(reviewer: User, application: Application) -> Review | None:
    return db.session.scalar(
        select(Review).where(Review.application_id == application.id, Review.reviewer_id == reviewer.id)
        .options(selectinload(Review.scores))
    )


def assignment_of(reviewer: User, application: Application) -> Assignment | None:
    return db.session.scalar(
        select(Assignment).where(Assignment.application_id == application.id, Assignment.reviewer_id == reviewer.id)
    )


def others_reviews_visible(reviewer: User, application: Application) -> bool:
    """Others' reviews only after submitting one's own, so nobody anchors on a colleague's score."""
    if not reviewer_may_open(reviewer, application):
        return False
    own = review_of(reviewer, application)
    return own is not None and own.state == "submitted"


def other_reviews(reviewer: User, application: Application) -> Sequence[Review]:
    """The other reviewers' submitted reviews, or nothing while the reviewer's own is not submitted."""
    if not others_reviews_visible(reviewer, application):
        return []
    return db.session.scalars(
        select(Review)
        .where(Review.application_id == application.id, Review.reviewer_id != reviewer.id,
               Review.state == "submitted")
        .options(selectinload(Review.scores), selectinload(Review.reviewer))
        .order_by(Review.submitted_at, Review.id)
    ).all()


@dataclass(frozen=True)
class AssignmentRow:
    """One line of the reviewer's list: what to review, by when, and how far they got."""

    application_id: int
    company_name: str | None
    application_state: str
    call_id: int
    call_title: str
    call_timezone: str
    review_deadline: dt.datetime | None
    due_at: dt.datetime | None  # the assignment's own date, else the call's review deadline
    review_state: str | None  # None: not started

    def is_overdue(self, now: dt.datetime) -> bool:
        return self.due_at is not None and now >= self.due_at and self.review_state != "submitted"


def reviewer_assignments(reviewer: User) -> list[AssignmentRow]:
    """The reviewer's assignments, conflicted applications left out, ordered by call then due date.

    One query with outer-joined reviews, so the page costs the same for 5 or 500 assignments.
    """
    rows = db.session.execute(
        select(Assignment.due_at, Application.id, Application.company_name, Application.state,
               Call.id, Call.title, Call.timezone, Call.review_deadline, Review.state)
        .join(Application, Application.id == Assignment.application_id)
        .join(Call, Call.id == Application.call_id)
        .outerjoin(Review, and_(Review.application_id == Application.id, Review.reviewer_id == reviewer.id))
        .where(Assignment.reviewer_id == reviewer.id, visible_to_reviewer(reviewer.id),
               Application.state.not_in([state.value for state in HIDDEN_FROM_REVIEWERS]))
        .order_by(Call.opens_at.desc(), Call.id, Application.company_name, Application.id)
    ).all()
    result = [
        AssignmentRow(application_id=app_id, company_name=company, application_state=app_state, call_id=call_id,
                      call_title=title, call_timezone=timezone, review_deadline=deadline,
                      due_at=due_at or deadline, review_state=review_state)
        for due_at, app_id, company, app_state, call_id, title, timezone, deadline, review_state in rows
    ]
    # Within a call, the most pressing first; undated ones last.
    order = {call_id: position for position, call_id in enumerate(dict.fromkeys(row.call_id for row in result))}
    far_future = dt.datetime.max.replace(tzinfo=dt.UTC)
    return sorted(result, key=lambda row: (order[row.call_id], row.due_at or far_future))


# --- Writing a review --------------------------------------------------------------------------

def _score_problems(criteria: Sequence[Criterion], rules: Mapping[int, CriterionRule],
                    scores: Mapping[int, Decimal | None], completing: bool) -> dict[str, str]:
    problems: dict[str, str] = {}
    for criterion in criteria:
        field = f"score_{criterion.id}"
        value = scores.get(criterion.id)
        if value is None:
            if completing:
                problems[field] = _("Score %(criterion)s before submitting.", criterion=criterion.name)
            continue
        # The domain names the criterion in its message and hands over template and parameters
        # separately, so the sentence can be translated here.
        problem = score_problem(rules[criterion.id], value)
        if problem is not None:
            problems[field] = _(problem.template, **problem.params)
    return problems


def _answer_problems(comment_committee: str, comment_applicant: str, confidence: int | None,
                     completing: bool) -> dict[str, str]:
    problems: dict[str, str] = {}
    if completing and not comment_committee:
        problems["comment_committee"] = _("Write a comment for the committee before submitting.")
    for field, text in (("comment_committee", comment_committee), ("comment_applicant", comment_applicant)):
        if len(text) > MAX_COMMENT_LENGTH:
            problems[field] = _("Use at most %(max)d characters.", max=MAX_COMMENT_LENGTH)
    if confidence is None:
        if completing:
            problems["confidence"] = _("Say how confident you are in this review before submitting.")
    elif confidence not in CONFIDENCE_RANGE:
        problems["confidence"] = _("Confidence is a number from 1 to 5.")
    return problems


def _store_scores(review: Review, criteria: Sequence[Criterion], scores: Mapping[int, Decimal | None]) -> None:
    """Make the review's scores exactly the given non-empty values (None or absent clears one)."""
    existing = {score.criterion_id: score for score in review.scores}
    for criterion in criteria:
        value = scores.get(criterion.id)
        score = existing.get(criterion.id)
        if value is None:
            if score is not None:
                review.scores.remove(score)
        elif score is None:
            review.scores.append(Score(criterion_id=criterion.id, value=value))
        else:
            score.value = value


def _weighted(rules: Mapping[int, CriterionRule], scores: Mapping[int, Decimal | None]) -> Decimal | None:
    """Stored for the ranking's aggregate query; only meaningful once every criterion is scored."""
    values = {criterion_id: scores.get(criterion_id) for criterion_id in rules}
    if not values or any(value is None for value in values.values()):
        return None
    total = weighted_score(list(rules.values()), values)  # type: ignore[arg-type]  # no None left
    return Decimal(str(total)).quantize(Decimal("0.0001"))


def save_review(reviewer: User, application: Application, scores: Mapping[int, Decimal | None],
                comment_committee: str, comment_applicant: str, confidence: int | None, *,
                submit: bool, now: dt.datetime) -> Review:
    """Save the reviewer's draft, or submit it; a submitted review can be edited until the deadline.

    ``scores`` maps criterion id to value; a criterion absent or None has no score (allowed in
    a draft). A submitted review stays submitted and complete: edits to it are checked as
    strictly as the submission was.
    """
    _ensure_assigned(reviewer, application)
    _ensure_open(application, now)
    criteria = list(application.call.criteria)
    rules = {rule.id: rule for rule in criterion_rules(application.call)}
    if set(scores) - set(rules):
        raise ServiceError(_("A score was given for a criterion that is not part of this call."))
    comment_committee, comment_applicant = comment_committee.strip(), comment_applicant.strip()
    review = review_of(reviewer, application)
    # An edit of a submitted review must leave it as complete as its submission was.
    completing = submit or (review is not None and review.state == "submitted")
    problems = _score_problems(criteria, rules, scores, completing)
    problems.update(_answer_problems(comment_committee, comment_applicant, confidence, completing))
    if problems:
        raise InvalidAnswers(problems)

    if review is None:
        review = Review(application_id=application.id, reviewer_id=reviewer.id, state="draft",
                        created_at=now, updated_at=now, scores=[])
        db.session.add(review)
    first_submission = submit and review.state == "draft"
    _store_scores(review, criteria, scores)
    review.comment_committee = comment_committee
    review.comment_applicant = comment_applicant
    review.confidence = confidence
    review.weighted_score = _weighted(rules, scores)
    review.updated_at = now
    if first_submission:
        review.state = "submitted"
        review.submitted_at = now
    try:
        db.session.flush()
    except IntegrityError as exc:  # the same review started in another window a moment ago
        db.session.rollback()
        raise ServiceError(_("Your review was saved from another window meanwhile; reload the page and try again.")) from exc
    record_event(reviewer, "review.submitted" if first_submission else "review.saved", "application",
                 application.id, review_id=review.id, state=review.state,
                 scored=sum(1 for criterion in criteria if scores.get(criterion.id) is not None),
                 criteria=len(criteria))
    return review


# --- The reviewer's profile --------------------------------------------------------------------

def reviewer_profile(user: User) -> ReviewerProfile | None:
    return db.session.get(ReviewerProfile, user.id)


def _profile_problems(focus_areas: set[str], expertise: str, max_load: int | None,
                      affiliation: str, min_load: int | None) -> dict[str, str]:
    problems: dict[str, str] = {}
    if focus_areas - set(FOCUS_AREAS):
        problems["focus_areas"] = _("Choose focus areas from the list.")
    if len(expertise) > MAX_EXPERTISE_LENGTH:
        problems["expertise"] = _("Use at most %(max)d characters.", max=MAX_EXPERTISE_LENGTH)
    if max_load is None or not 0 <= max_load <= MAX_LOAD_LIMIT:
        problems["max_load"] = _("Enter a whole number from 0 to %(max)d.", max=MAX_LOAD_LIMIT)
    elif min_load is not None and max_load < min_load:
        # The minimum is set by a programme manager; the database refuses a maximum below it.
        problems["max_load"] = _("Your programme manager expects at least %(min)d reviews from you per call.",
                                 min=min_load)
    if len(affiliation) > MAX_AFFILIATION_LENGTH:
        problems["affiliation"] = _("Use at most %(max)d characters.", max=MAX_AFFILIATION_LENGTH)
    return problems


def update_reviewer_profile(user: User, focus_areas: Iterable[str], expertise: str, max_load: int | None,
                            affiliation: str, *, reminders_paused: bool = False,
                            now: dt.datetime | None = None) -> ReviewerProfile:
    """What the reviewer knows and can take on; creates the profile on first save."""
    if not user.has_role(Role.REVIEWER):
        raise NotAllowed(_("Only reviewers have a reviewer profile."))
    now = now or utcnow()
    chosen = set(focus_areas)
    expertise, affiliation = expertise.strip(), affiliation.strip()
    profile = reviewer_profile(user)
    problems = _profile_problems(chosen, expertise, max_load, affiliation,
                                 profile.min_load if profile else None)
    if problems:
        raise InvalidAnswers(problems)
    profile = get_or_create(ReviewerProfile, user_id=user.id)  # two first saves at once: no 500
    profile.focus_areas = [area for area in FOCUS_AREAS if area in chosen]  # in the list's order
    profile.expertise = expertise
    profile.max_load = max_load
    profile.reminders_paused = reminders_paused
    profile.updated_at = now
    user.affiliation = affiliation or None
    db.session.flush()
    record_event(user, "reviewer.profile_updated", "user", user.id, focus_areas=profile.focus_areas,
                 max_load=max_load, reminders_paused=reminders_paused)
    return profile
