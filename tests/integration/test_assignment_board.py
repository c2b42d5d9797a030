"""The assignment board's reads on a real database: keyset pages of applications and reviewers
(boundaries, ties, unknown positions), search and filters, the look-ups behind the hand
assignment fields, and a large call read and cleared without one bound parameter per id."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, insert, select

from incubator.database import utcnow
from incubator.domain.roles import Role
from incubator.extensions import db
from incubator.models import Application, Assignment, Call, CallReviewer, User
from incubator.services import ServiceError
from incubator.services.assignment_board import (
    BoardFilter,
    application_named,
    application_page,
    reviewer_named,
    reviewer_page,
    suggest_applications,
    suggest_reviewers,
)
from incubator.services.assignments import existing_pairs, remove_unstarted_assignments
from tests.factories import make_application, make_call
from tests.factories_reviews import make_applicant, make_assignment, make_reviewer
from tests.support.statements import statements_sent


@pytest.fixture
def call(app: Flask) -> Call:
    return make_call(reviewers_per_application=2)


def application(call: Call, name: str | None, state: str = "submitted") -> Application:
    return make_application(make_applicant(), call, state=state, complete=True, company_name=name)


def names(page: Any) -> list[str | None]:
    return [row.application.company_name for row in page.items]


def all_pages(call: Call, board: BoardFilter, per_page: int) -> list[list[str | None]]:
    pages, after = [], None
    while True:
        page = application_page(call, board, after, per_page=per_page)
        pages.append(names(page))
        assert len(page.items) <= per_page
        if page.next_after is None:
            return pages
        after = page.next_after


# ----------------------------------------------------------------------------- keyset pages


def test_pages_walk_the_call_by_name_without_gaps_or_repeats(call: Call) -> None:
    for name in ("Echo", "alpha", "Delta", "Bravo", "Charlie"):
        application(call, name)
    application(call, "Draft Co", state="draft")

    assert all_pages(call, BoardFilter(), 2) == [["Bravo", "Charlie"], ["Delta", "Echo"], ["alpha"]]


def test_a_full_last_page_has_no_next_and_equal_names_page_by_id(call: Call) -> None:
    first, second, third, fourth = (application(call, "Same") for _ in range(4))

    pages = [application_page(call, BoardFilter(), None, per_page=2)]
    pages.append(application_page(call, BoardFilter(), pages[0].next_after, per_page=2))

    assert [[row.application.id for row in page.items] for page in pages] == [[first.id, second.id],
                                                                              [third.id, fourth.id]]
    assert pages[0].next_after == second.id and pages[1].next_after is None


def test_an_unknown_or_foreign_position_starts_at_the_top(call: Call) -> None:
    application(call, "Alpha"), application(call, "Beta")
    elsewhere = application(make_call(), "Zulu")

    assert names(application_page(call, BoardFilter(), 99999)) == ["Alpha", "Beta"]
    assert names(application_page(call, BoardFilter(), elsewhere.id)) == ["Alpha", "Beta"]


def test_an_application_without_a_name_is_paged_like_the_others(call: Call) -> None:
    nameless = application(call, None, state="withdrawn")
    application(call, "Alpha")

    assert all_pages(call, BoardFilter(), 1) == [[None], ["Alpha"]]
    assert application_page(call, BoardFilter(), None, per_page=1).next_after == nameless.id


# ------------------------------------------------------------------------ search and filters


def test_search_by_name_part_or_number_and_wildcards_are_literal(call: Call) -> None:
    alpha, _beta = application(call, "Alpha Onc"), application(call, "Beta Rad")
    application(call, "100% Bio")

    assert names(application_page(call, BoardFilter(search="onc"))) == ["Alpha Onc"]
    assert names(application_page(call, BoardFilter(search=f"#{alpha.id}"))) == ["Alpha Onc"]
    assert names(application_page(call, BoardFilter(search="%"))) == ["100% Bio"]
    assert names(application_page(call, BoardFilter(search="_"))) == []


def test_filter_by_state_and_by_missing_reviewers(call: Call) -> None:
    full, half = application(call, "Full"), application(call, "Half")
    application(call, "Empty"), application(call, "Decided", state="accepted")
    first, second = make_reviewer(), make_reviewer()
    make_assignment(full, first), make_assignment(full, second), make_assignment(half, first)

    assert names(application_page(call, BoardFilter(state="accepted"))) == ["Decided"]
    assert names(application_page(call, BoardFilter(missing_only=True))) == ["Empty", "Half"]
    assert names(application_page(call, BoardFilter(state="no such state"))) == ["Decided", "Empty", "Full", "Half"]


def stored_and_counted(call: Call) -> dict[str | None, tuple[int, int]]:
    """Per application: the stored assignment count and a fresh count of its assignments."""
    counted = (select(func.count()).select_from(Assignment)
               .where(Assignment.application_id == Application.id).scalar_subquery())
    rows = db.session.execute(select(Application.company_name, Application.assignment_count, counted)
                              .where(Application.call_id == call.id)).all()
    return {name: (stored, fresh) for name, stored, fresh in rows}


def test_the_stored_assignment_count_follows_every_way_assignments_come_and_go(call: Call) -> None:
    # The "missing reviewers" filter reads applications.assignment_count, kept by triggers on
    # assignments (per statement on PostgreSQL, so one insert of several rows for the same
    # application counts each): ORM and Core inserts, deletes of either kind, a moved assignment.
    one, two = application(call, "One"), application(call, "Two")
    first, second, third = make_reviewer(), make_reviewer(), make_reviewer()
    make_assignment(one, first)
    db.session.execute(insert(Assignment), [
        {"application_id": application_id, "reviewer_id": reviewer.id, "source": "auto", "assigned_at": utcnow()}
        for application_id, reviewer in ((one.id, second), (two.id, first), (two.id, second))])
    db.session.commit()
    assert stored_and_counted(call) == {"One": (2, 2), "Two": (2, 2)}

    db.session.delete(db.session.scalars(select(Assignment).where(Assignment.application_id == two.id,
                                                                  Assignment.reviewer_id == first.id)).one())
    moved = db.session.scalars(select(Assignment).where(Assignment.application_id == one.id,
                                                        Assignment.reviewer_id == second.id)).one()
    moved.application_id, moved.reviewer_id = two.id, third.id
    db.session.commit()
    assert stored_and_counted(call) == {"One": (1, 1), "Two": (2, 2)}
    moved.due_at = utcnow()  # an update that moves nothing counts nothing
    db.session.commit()
    assert stored_and_counted(call) == {"One": (1, 1), "Two": (2, 2)}
    assert names(application_page(call, BoardFilter(missing_only=True))) == ["One"]

    remove_unstarted_assignments(call)  # one Core DELETE over the call
    db.session.commit()
    assert stored_and_counted(call) == {"One": (0, 0), "Two": (0, 0)}
    assert names(application_page(call, BoardFilter(missing_only=True))) == ["One", "Two"]


def test_rows_carry_their_own_reviewers_and_nothing_of_other_pages(call: Call) -> None:
    alpha, beta = application(call, "Alpha"), application(call, "Beta")
    rita = make_reviewer()
    make_assignment(alpha, rita), make_assignment(beta, rita)

    [row] = application_page(call, BoardFilter(), None, per_page=1).items

    assert row.application.id == alpha.id and [a.assignment.reviewer_id for a in row.assigned] == [rita.id]


# --------------------------------------------------------------------------------- reviewers


def test_reviewer_pages_search_and_the_pool(call: Call, make_user: Any) -> None:
    reviewers = [make_reviewer(max_load=3) for _ in range(5)]
    make_user(Role.MANAGER)

    first = reviewer_page(call, per_page=2)
    rest = reviewer_page(call, after=first.next_after, per_page=2)
    last = reviewer_page(call, after=rest.next_after, per_page=2)

    ids = [row.reviewer.user.id for page in (first, rest, last) for row in page.items]
    assert sorted(ids) == sorted(r.id for r in reviewers) and len(set(ids)) == 5
    assert last.next_after is None
    assert [row.reviewer.user.id for row in reviewer_page(call, search=reviewers[2].email).items] == [reviewers[2].id]
    db.session.add(CallReviewer(call_id=call.id, reviewer_id=reviewers[4].id, min_load=1, max_load=7,
                                added_at=utcnow()))
    db.session.commit()
    [only] = reviewer_page(call).items
    assert (only.reviewer.user.id, only.reviewer.min_load, only.reviewer.max_load) == (reviewers[4].id, 1, 7)


# ------------------------------------------------------------------------------- look-ups


def test_an_application_is_found_by_reference_number_or_exact_name(call: Call) -> None:
    alpha = application(call, "Alpha Onc")
    application(call, "Twin"), application(call, "Twin")
    decided = application(call, "Decided", state="accepted")
    foreign = application(make_call(), "Elsewhere")

    assert application_named(call, f"Whatever it says (#{alpha.id})") == alpha
    assert application_named(call, str(alpha.id)) == alpha
    assert application_named(call, "  alpha onc ") == alpha
    with pytest.raises(ServiceError, match="Several applications are called Twin"):
        application_named(call, "Twin")
    for text in ("Decided", str(decided.id), str(foreign.id), "Nobody", "x" * 500, "99999999999"):
        with pytest.raises(ServiceError, match="Choose an application of this call"):
            application_named(call, text)
    assert [a.company_name for a in suggest_applications(call, "t")] == ["Twin", "Twin"]


def test_a_reviewer_is_found_by_reference_email_or_name_and_others_are_refused(call: Call, make_user: Any) -> None:
    rita = make_reviewer()
    manager = make_user(Role.MANAGER)
    retired = make_reviewer()
    retired.active = False
    db.session.commit()

    assert reviewer_named(f"Someone (#{rita.id})") == rita
    assert reviewer_named(rita.email.upper()) == rita
    assert reviewer_named(rita.name) == rita
    for text in (str(manager.id), manager.email, retired.email, "nobody"):
        with pytest.raises(ServiceError, match="Choose one of the active reviewers."):
            reviewer_named(text)
    assert suggest_reviewers(rita.email) == [rita]
    assert retired not in suggest_reviewers("reviewer")


# ------------------------------------------------------------------------ a very large call

# Large enough that one bound parameter per id would stand out (PostgreSQL refuses a statement
# with more than 65,535, which is what a 100,000-application call hit): every statement the board
# and the clearing send is checked to bind fewer than MOST_PARAMETERS values, so a list of ids
# bound one by one fails here at any size, without building a call of 70,000.
LARGE = 3_000
MOST_PARAMETERS = 100


def test_a_large_call_reads_and_clears_without_a_parameter_per_id(call: Call) -> None:
    now = utcnow()
    rita = make_reviewer()
    first_user = (db.session.scalar(select(func.max(User.id))) or 0) + 1
    db.session.execute(insert(User), [{"id": first_user + i, "email": f"f{i}@large.example", "name": f"F {i}",
                                       "role": "applicant", "created_at": now} for i in range(LARGE)])
    first_application = (db.session.scalar(select(func.max(Application.id))) or 0) + 1
    db.session.execute(insert(Application), [
        {"id": first_application + i, "call_id": call.id, "applicant_id": first_user + i, "state": "submitted",
         "company_name": f"Company {i:05d}", "consent": True, "residency_purposes": [], "created_at": now,
         "updated_at": now, "submitted_at": now - dt.timedelta(days=1)} for i in range(LARGE)])
    db.session.execute(insert(Assignment), [
        {"application_id": first_application + i, "reviewer_id": rita.id, "source": "auto", "assigned_at": now}
        for i in range(LARGE)])
    db.session.commit()

    with statements_sent() as sent:
        assert len(existing_pairs(call)) == LARGE
        page = application_page(call, BoardFilter(missing_only=True))
        assert len(page.items) == 50 and page.items[0].application.company_name == "Company 00000"
        assert reviewer_page(call).items[0].load == LARGE
        removed = remove_unstarted_assignments(call)
        db.session.commit()
    widest = max(one.bound for one in sent)
    assert 0 < widest < MOST_PARAMETERS, widest
    assert len(removed) == LARGE
    assert db.session.scalar(select(func.count()).select_from(Assignment)) == 0
