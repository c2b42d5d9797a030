"""The committee's view of an application: its reviews, score summary, discussion and note.

Who sees what is decided here, in one place:

* managers see everything: every review with its scores and both comments, the thread and
  the note;
* reviewers join the discussion of an application only after submitting their own review of
  it, and never while conflicted (``reviews.others_reviews_visible`` says exactly that);
* applicants see only the note's shared part, and only once the decision is released.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from incubator.domain.roles import Role
from incubator.extensions import db
from incubator.models import Application, CommitteeComment, CommitteeNote, Review, User
from incubator.services import ServiceError
from incubator.services.audit import record_event
from incubator.services.ranking import RankingRow, normalised_of, ranking_row_of
from incubator.services.reviews import others_reviews_visible
from incubator.services.visibility import applicant_view

MAX_COMMENT_LENGTH = 5000
MAX_NOTE_LENGTH = 10000


class NotAllowed(ServiceError):
    """The person may not take part in this discussion: HTTP 403/404 in the web layer."""


@dataclass(frozen=True)
class ReviewDetail:
    review: Review
    scores: dict[int, float]  # criterion id -> score


def reviews_of(application: Application) -> list[ReviewDetail]:
    """Every review of the application (submitted first, then drafts), with its scores."""
    rows = db.session.scalars(
        select(Review).where(Review.application_id == application.id)
        .options(selectinload(Review.scores), selectinload(Review.reviewer))
        .order_by(Review.state.desc(), Review.submitted_at, Review.id)  # 'submitted' > 'draft'
    ).all()
    return [ReviewDetail(review, {score.criterion_id: float(score.value) for score in review.scores})
            for review in rows]


def ranking_row(application: Application) -> RankingRow | None:
    """The application's line of the call's raw ranking (rank, mean, median, flags) with its
    normalised mean, without ranking the call: the rank counts the rows ahead of it, and the
    normalised mean needs only its reviewers' and the call's score statistics."""
    row = ranking_row_of(application)
    if row is not None:
        row.normalised = normalised_of(application)
    return row


# --------------------------------------------------------------------------- discussion


def may_discuss(user: User, application: Application) -> bool:
    if user.has_role(Role.MANAGER):
        return True
    return user.has_role(Role.REVIEWER) and others_reviews_visible(user, application)


def thread(user: User, application: Application) -> list[CommitteeComment]:
    """The discussion, oldest first; refused to anyone who may not take part."""
    if not may_discuss(user, application):
        raise NotAllowed(_("The committee's discussion opens to you once you submit your review."))
    return list(db.session.scalars(
        select(CommitteeComment).where(CommitteeComment.application_id == application.id)
        .options(selectinload(CommitteeComment.author))
        .order_by(CommitteeComment.created_at, CommitteeComment.id)
    ))


def post_comment(author: User, application: Application, body: str, now: dt.datetime) -> CommitteeComment:
    if not may_discuss(author, application):
        raise NotAllowed(_("The committee's discussion opens to you once you submit your review."))
    body = body.strip()
    if not body:
        raise ServiceError(_("Write something before posting."), field="body")
    if len(body) > MAX_COMMENT_LENGTH:
        raise ServiceError(_("A comment has at most %(max)d characters.", max=MAX_COMMENT_LENGTH), field="body")
    comment = CommitteeComment(application_id=application.id, author_id=author.id, body=body, created_at=now)
    db.session.add(comment)
    db.session.flush()
    record_event(author, "committee.comment_posted", "application", application.id, comment_id=comment.id)
    return comment


# ------------------------------------------------------------------------------- the note


def note_of(application: Application) -> CommitteeNote | None:
    return db.session.get(CommitteeNote, application.id)


def save_note(manager: User, application: Application, internal: str, shared: str, now: dt.datetime) -> CommitteeNote:
    """The decision rationale; the shared part is frozen once the decision is released."""
    if not manager.has_role(Role.MANAGER):
        raise NotAllowed(_("Only programme managers write the committee's note."))
    internal, shared = internal.strip(), shared.strip()
    for text, field in ((internal, "internal"), (shared, "shared")):
        if len(text) > MAX_NOTE_LENGTH:
            raise ServiceError(_("A note has at most %(max)d characters.", max=MAX_NOTE_LENGTH), field=field)
    note = note_of(application)
    if (application.decision_released_at is not None and shared != (note.shared if note else "")):
        raise ServiceError(_("The decision is released; the part shared with the applicant can no longer change."),
                           field="shared")
    if note is None:
        note = CommitteeNote(application_id=application.id)
        db.session.add(note)
    note.internal, note.shared, note.updated_by_id, note.updated_at = internal, shared, manager.id, now
    db.session.flush()
    record_event(manager, "committee.note_saved", "application", application.id, shared=bool(shared))
    return note


def shared_note_for_applicant(application: Application) -> str | None:
    """The note's shared part, once the decision is released; never the internal part."""
    if not applicant_view(application).decision_released:  # the one rule of what applicants see
        return None
    note = note_of(application)
    return note.shared if note is not None and note.shared else None
