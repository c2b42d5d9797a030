"""The reviewer's list, a page at a time: what to review, by when, and how far they got.

A reviewer with hundreds of assignments (600 each at 100,000 applications and 500 reviewers)
must not get them all on one page, and the page is the one every reviewer opens first, so it
is one statement: the page's rows, how many there are in all (a window count) and whether the
reviewer has filled in their profile. Order as ``reviews.reviewer_assignments``: newest call
first, within a call the most pressing due date first, undated ones last.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import ColumnElement, Exists, Integer, Select, and_, bindparam, case, exists, func, select

from incubator.extensions import db
from incubator.models import Application, Assignment, Call, Review, ReviewerProfile, User
from incubator.services.conflicts import visible_to_reviewer
from incubator.services.paging import PageNumbers
from incubator.services.reviews import HIDDEN_FROM_REVIEWERS, AssignmentRow

PAGE_SIZE = 25
MAX_PAGE = 10_000  # far beyond any reviewer's load; keeps OFFSET a small number


@dataclass(frozen=True)
class AssignmentPage(PageNumbers):
    rows: list[AssignmentRow]
    page: int
    pages: int
    total: int
    has_profile: bool


def assignment_page(reviewer: User, requested: int, per_page: int = PAGE_SIZE) -> AssignmentPage:
    """Page ``requested`` (1-based) of the reviewer's assignments, conflicted ones left out; a
    page past the last (an old link after assignments went) shows the last one."""
    page = min(max(requested, 1), MAX_PAGE)
    parameters = {"reviewer_id": reviewer.id, "limit": per_page, "offset": (page - 1) * per_page}
    rows = db.session.execute(_page_statement(), parameters).all()
    if rows:
        total, profile = rows[0][-2], bool(rows[0][-1])
    else:  # an empty page (no assignments, or past the last): count on their own
        total = db.session.scalar(_count_statement(), parameters) or 0
        if total and page > 1:
            return assignment_page(reviewer, math.ceil(total / per_page), per_page)
        profile = bool(db.session.scalar(select(_has_profile()), parameters))
    return AssignmentPage(
        rows=[AssignmentRow(application_id=app_id, company_name=company, application_state=app_state,
                            call_id=call_id, call_title=title, call_timezone=timezone, review_deadline=deadline,
                            due_at=due_at or deadline, review_state=review_state)
              for due_at, app_id, company, app_state, call_id, title, timezone, deadline, review_state, *_ in rows],
        page=page, pages=max(math.ceil(total / per_page), 1), total=total, has_profile=profile)


# The statements are built once, with the reviewer and the page as parameters: putting this one
# together (and SQLAlchemy's cache key for it) cost more than PostgreSQL took to run it.

def _has_profile() -> Exists:
    return exists().where(ReviewerProfile.user_id == bindparam("reviewer_id"))


def _shown() -> tuple[ColumnElement[bool], ...]:
    # visible_to_reviewer's "assigned" half repeats what the join says, yet it stays: without it
    # PostgreSQL's generic plan for the prepared statement (psycopg prepares a statement after
    # its fifth run on a connection) scans every assignment, 6.3 ms at 10,000 applications
    # instead of 0.34 ms.
    reviewer_id = bindparam("reviewer_id")
    return (Assignment.reviewer_id == reviewer_id, visible_to_reviewer(reviewer_id),
            Application.state.not_in([state.value for state in HIDDEN_FROM_REVIEWERS]))


@cache
def _page_statement() -> Select[Any]:
    due = func.coalesce(Assignment.due_at, Call.review_deadline)
    return (
        select(Assignment.due_at, Application.id, Application.company_name, Application.state,
               Call.id, Call.title, Call.timezone, Call.review_deadline, Review.state,
               func.count().over(), _has_profile())
        .join(Application, Application.id == Assignment.application_id)
        .join(Call, Call.id == Application.call_id)
        .outerjoin(Review, and_(Review.application_id == Application.id,
                                Review.reviewer_id == bindparam("reviewer_id")))
        .where(*_shown())
        .order_by(Call.opens_at.desc(), Call.id, case((due.is_(None), 1), else_=0), due,
                  Application.company_name, Application.id)
        .limit(bindparam("limit", type_=Integer)).offset(bindparam("offset", type_=Integer))
    )


@cache
def _count_statement() -> Select[tuple[int]]:
    return (select(func.count()).select_from(Assignment)
            .join(Application, Application.id == Assignment.application_id).where(*_shown()))
