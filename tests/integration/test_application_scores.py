"""The stored per-application statistics behind the ranking board (``models.application_scores``)
follow every change of a review, and the board read from them lists the same rows, in the same
order and with the same ranks, as the whole-call computation from the reviews themselves.
SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal
from types import SimpleNamespace

import pytest
from flask import Flask
from sqlalchemy import delete, select

from incubator.database import utcnow
from incubator.domain.roles import Role
from incubator.domain.scoring import aggregate_many
from incubator.extensions import db
from incubator.models import (
    Application,
    ApplicationScore,
    Assignment,
    Call,
    ProgrammePreference,
    Review,
    User,
)
from incubator.models.application_scores import rebuild_call_scores
from incubator.services import committee
from incubator.services.applications import withdraw_application
from incubator.services.assignments import unassign_reviewer
from incubator.services.conflicts import set_conflict_by_manager
from incubator.services.ranking import (
    FLAGS,
    SORT_KEYS,
    BoardQuery,
    RankingRow,
    ranking_chunks,
    ranking_for_call,
    ranking_page,
    ranking_positions,
    rows_for_applications,
)
from incubator.services.reviews import save_review
from tests.factories import make_application, make_call
from tests.factories_reviews import make_applicant, make_assignment, make_review, make_reviewer, make_rubric
from tests.support import ranking_reference
from tests.support.ranking_reference import ranking_in_python
from tests.support.statements import statements_sent

NOW = utcnow()


def stored(application: Application) -> ApplicationScore | None:
    db.session.expire_all()
    return db.session.get(ApplicationScore, application.id)


@pytest.fixture
def small(app: Flask, make_user) -> SimpleNamespace:
    call = make_call(disagreement_threshold=Decimal("0.5"))
    criteria = make_rubric(call, [{"name": "Team", "weight": Decimal(2), "threshold": Decimal(3)},
                                  {"name": "Market", "weight": Decimal(1)}])
    application = make_application(make_applicant(), call, state="submitted", complete=True, company_name="Solo")
    reviewers = [make_reviewer() for _ in range(3)]
    for reviewer in reviewers:
        make_assignment(application, reviewer)
    manager = make_user(Role.MANAGER)
    return SimpleNamespace(call=call, criteria=criteria, application=application, reviewers=reviewers,
                           manager=manager)


def submit(small: SimpleNamespace, reviewer: User, team: float, market: float) -> Review:
    scores = {small.criteria[0].id: Decimal(str(team)), small.criteria[1].id: Decimal(str(market))}
    review = save_review(reviewer, small.application, scores, "Committee note.", "", 3, submit=True, now=NOW)
    db.session.commit()
    return review


def test_submitting_and_editing_reviews_keep_the_row_current(small: SimpleNamespace) -> None:
    assert stored(small.application) is None  # no submitted review, no row
    submit(small, small.reviewers[0], 4, 4)  # weighted 4.0
    row = stored(small.application)
    assert (row.reviews_submitted, row.mean, row.negated_mean, row.std, row.below_threshold) == (1, 4.0, -4.0, 0.0, 0)
    assert row.ranked and row.call_id == small.call.id and row.submitted_at == small.application.submitted_at

    submit(small, small.reviewers[1], 2, 2)  # weighted 2.0; Team mean 3 meets the threshold
    row = stored(small.application)
    assert (row.reviews_submitted, row.mean, row.median, row.minimum, row.maximum) == (2, 3.0, 3.0, 2.0, 4.0)
    assert (row.std, row.below_threshold) == (1.0, 0)

    submit(small, small.reviewers[1], 1, 1)  # an edit of a submitted review: Team mean 2.5 < 3
    row = stored(small.application)
    assert (row.reviews_submitted, row.mean, row.below_threshold) == (2, 2.5, 1)


def test_a_draft_does_not_count_and_a_review_taken_back_to_draft_leaves(small: SimpleNamespace) -> None:
    review = submit(small, small.reviewers[0], 4, 4)
    scores = {small.criteria[0].id: Decimal(1), small.criteria[1].id: Decimal(1)}
    save_review(small.reviewers[1], small.application, scores, "", "", None, submit=False, now=NOW)
    db.session.commit()
    assert stored(small.application).reviews_submitted == 1
    review = db.session.get(Review, review.id)
    review.state, review.submitted_at = "draft", None  # reopened (no service does it yet; any flush counts)
    db.session.commit()
    assert stored(small.application) is None


def test_a_conflict_deleting_a_review_refreshes_the_row(small: SimpleNamespace) -> None:
    submit(small, small.reviewers[0], 4, 4)
    submit(small, small.reviewers[1], 2, 2)
    set_conflict_by_manager(small.manager, small.reviewers[1], small.application, "Former employer.",
                            whole_company=False, now=NOW)
    db.session.commit()
    row = stored(small.application)
    assert (row.reviews_submitted, row.mean) == (1, 4.0)
    set_conflict_by_manager(small.manager, small.reviewers[0], small.application, "Co-founder.",
                            whole_company=False, now=NOW)
    db.session.commit()
    assert stored(small.application) is None


def test_removing_an_assignment_with_a_draft_and_deleting_reviews_refresh_the_row(small: SimpleNamespace) -> None:
    submit(small, small.reviewers[0], 4, 4)
    scores = {small.criteria[0].id: Decimal(1), small.criteria[1].id: Decimal(1)}
    save_review(small.reviewers[2], small.application, scores, "", "", None, submit=False, now=NOW)
    assignment = db.session.scalar(select(Assignment).where(Assignment.reviewer_id == small.reviewers[2].id))
    unassign_reviewer(small.manager, assignment)
    db.session.commit()
    assert stored(small.application).reviews_submitted == 1
    db.session.delete(db.session.scalar(select(Review).where(Review.reviewer_id == small.reviewers[0].id)))
    db.session.commit()
    assert stored(small.application) is None


def test_withdrawing_unranks_and_deleting_the_application_removes_the_row(small: SimpleNamespace) -> None:
    submit(small, small.reviewers[0], 4, 4)
    application = db.session.get(Application, small.application.id)
    withdraw_application(application, application.applicant, "Funded elsewhere.", NOW)
    db.session.commit()
    row = stored(small.application)
    assert row is not None and row.ranked is False
    assert ranking_positions(small.call) == {}
    application = db.session.get(Application, small.application.id)
    db.session.execute(delete(Review).where(Review.application_id == application.id))  # SQLite does not cascade
    db.session.delete(application)
    db.session.commit()
    assert db.session.scalar(select(ApplicationScore)) is None


# --- The board read from the stored statistics against the whole-call computation ---------------


@pytest.fixture
def random_call(app: Flask, monkeypatch: pytest.MonkeyPatch) -> Call:
    """Forty applications with 0–4 submitted reviews on a coarse scale (many tied means), some
    withdrawn, some with overdue assignments, one or two programmes, shared submission times."""
    # The oracle reads every review (exact medians), not count/sum/min/max, whose middle score
    # sum − min − max can be off by one float step and so reorder tied medians.
    monkeypatch.setattr(ranking_reference.ReviewTotals, "has_more_than_three", property(lambda _: True))
    rng = random.Random(15)
    call = make_call(disagreement_threshold=Decimal("0.4"))
    criteria = make_rubric(call, [
        {"name": "Team", "weight": Decimal(2), "threshold": Decimal("2.5"), "step": Decimal(1)},
        {"name": "Market", "weight": Decimal(1), "step": Decimal(1)},
    ])
    programmes = [offered.programme_id for offered in call.programmes]
    reviewers = [make_reviewer() for _ in range(6)]
    moments = [NOW - dt.timedelta(days=3), NOW - dt.timedelta(days=2)]
    for number in range(40):
        state = rng.choice(["submitted", "submitted", "under_review", "accepted", "withdrawn"])
        application = make_application(make_applicant(), call, state=state, complete=True,
                                       company_name=rng.choice(["Acme", "Borealis", "cobalt", "Delta", ""]) + str(number % 3))
        application.submitted_at = rng.choice(moments)
        db.session.execute(delete(ProgrammePreference).where(ProgrammePreference.application_id == application.id))
        chosen = rng.sample(programmes, rng.choice([1, len(programmes)]))
        db.session.add_all(ProgrammePreference(application_id=application.id, programme_id=programme_id, rank=rank)
                           for rank, programme_id in enumerate(chosen, start=1))
        db.session.commit()
        for reviewer in rng.sample(reviewers, rng.randint(0, 4)):
            make_assignment(application, reviewer, due_at=rng.choice([NOW - dt.timedelta(days=1), None]))
            if rng.random() < 0.8:
                make_review(application, reviewer, {criteria[0].id: rng.randint(1, 4), criteria[1].id: rng.randint(1, 4)},
                            state=rng.choice(["submitted", "submitted", "submitted", "draft"]))
    return call


def _rounded(value: object) -> object:
    # The whole-call path rebuilds a middle score as sum − min − max (off by one float step at
    # times); the stored statistics come from the scores themselves. Order and ranks must agree exactly.
    return round(value, 9) if isinstance(value, float) else value


def summary(row: RankingRow) -> tuple:
    return (row.application_id, row.rank, row.company_name, row.state, row.programmes, row.reviews_submitted,
            row.reviews_assigned, row.reviews_overdue, tuple(_rounded(value) for value in row.scores),
            {key: _rounded(value) for key, value in row.criterion_means.items()}, row.threshold_failures,
            row.flag_count)


OPTION_SETS = [
    {"sort": sort, "descending": descending} for sort in SORT_KEYS if sort != "normalised" for descending in (False, True)
] + [{"flag": flag} for flag in FLAGS] + [
    {"state": "withdrawn"}, {"state": "accepted", "sort": "rank"}, {"programme": 0}, {"programme": 0, "sort": "company"},
    {"programme": 0, "flag": "threshold", "sort": "rank", "descending": True},
]


@pytest.mark.parametrize("options", OPTION_SETS, ids=lambda options: "-".join(f"{k}={v}" for k, v in options.items()))
def test_the_stored_board_lists_what_the_reviews_say(random_call: Call, options: dict) -> None:
    arguments = {"sort": "mean", "descending": True, **options}  # ranking_for_call's defaults
    if "programme" in arguments:
        arguments["programme_id"] = random_call.programmes[arguments.pop("programme")].programme_id
    query = BoardQuery.of(**arguments)
    expected = [summary(row) for row in ranking_in_python(random_call, query, now=NOW)]
    assert [summary(row) for row in ranking_for_call(random_call, now=NOW, **arguments)] == expected
    # Pages of 7 cover the same list, in order; numbers past either end show the last or first page.
    pages = [ranking_page(random_call, query, page=number, page_size=7, now=NOW) for number in range(1, 9)]
    assert [summary(row) for page in pages for row in page.items][:len(expected)] == expected
    assert all(page.total == len(expected) for page in pages)
    last = max((len(expected) + 6) // 7, 1)
    assert [summary(row) for row in ranking_page(random_call, query, page=99, page_size=7, now=NOW).items] == \
        [summary(row) for row in pages[last - 1].items]
    assert ranking_page(random_call, query, page=0, page_size=7, now=NOW).page == 1


@pytest.mark.parametrize("descending", [False, True])
@pytest.mark.parametrize("programme", [None, 0])
def test_pages_sorted_by_company_list_the_unnamed_last_in_either_direction(
        random_call: Call, descending: bool, programme: int | None) -> None:
    """Sorted by company, the named rows are read apart from the unnamed ones (an index serves
    their order in both directions): pages that end inside, at and past the named rows agree with
    the whole-call computation, and so does a page that starts past them; so does the CSV's
    single statement. Unnamed (NULL or '') rows follow in rank order, as the whole-call sort has them."""
    applications = db.session.scalars(select(Application).where(Application.call_id == random_call.id)
                                      .order_by(Application.id)).all()
    for application in applications[::4]:
        application.company_name = ""
    for application in applications[1::9]:
        application.company_name = None
    db.session.commit()
    programme_id = None if programme is None else random_call.programmes[programme].programme_id
    query = BoardQuery.of(sort="company", descending=descending, programme_id=programme_id)
    expected = [summary(row) for row in ranking_in_python(random_call, query, now=NOW)]
    unnamed = [row for row in expected if not row[2]]
    assert unnamed and expected[-len(unnamed):] == unnamed  # last, whatever the direction
    for size in (3, 5, 7):
        pages = [ranking_page(random_call, query, page=number, page_size=size, now=NOW)
                 for number in range(1, -(-len(expected) // size) + 1)]
        assert [summary(row) for page in pages for row in page.items] == expected, size
    assert [summary(row) for row in ranking_for_call(random_call, now=NOW, sort="company", descending=descending,
                                                     programme_id=programme_id)] == expected


def test_ties_rank_by_submission_then_id_and_positions_follow_the_board(random_call: Call) -> None:
    board = ranking_for_call(random_call, sort="rank", descending=False, now=NOW)
    ranked = [row for row in board if row.rank is not None]
    assert [row.rank for row in ranked] == list(range(1, len(ranked) + 1))
    assert any(a.scores.mean == b.scores.mean for a, b in zip(ranked, ranked[1:], strict=False))  # ties exist
    assert ranking_positions(random_call) == {row.application_id: row.rank for row in ranked}


def test_stored_means_are_the_aggregates_of_the_reviews(random_call: Call) -> None:
    reviews = db.session.execute(select(Review.application_id, Review.weighted_score).where(
        Review.state == "submitted")).all()
    expected = aggregate_many([a for a, _ in reviews], [float(w) for _, w in reviews])
    rows = {row.application_id: row for row in db.session.scalars(select(ApplicationScore))}
    assert set(rows) == set(expected)
    for application_id, aggregate in expected.items():
        row = rows[application_id]
        assert (row.reviews_submitted, row.mean, row.median, row.std, row.minimum, row.maximum) == tuple(aggregate)[:6]
    before = {application_id: (row.mean, row.below_threshold) for application_id, row in rows.items()}
    db.session.execute(delete(ApplicationScore))
    rebuild_call_scores(db.session.connection(), random_call.id)
    db.session.commit()
    assert {row.application_id: (row.mean, row.below_threshold)
            for row in db.session.scalars(select(ApplicationScore))} == before


def test_rows_of_a_few_applications_and_the_committee_row_carry_the_board_ranks(random_call: Call) -> None:
    board = {row.application_id: row for row in ranking_for_call(random_call, state=None, now=NOW)}
    normalised = {row.application_id: row for row in ranking_for_call(random_call, normalised=True, now=NOW)}
    ids = sorted(board)[:9]
    rows = rows_for_applications(random_call, ids)
    assert {i: summary(rows[i]) for i in ids} == {i: summary(board[i]) for i in ids}
    for application_id in ids:
        row = committee.ranking_row(db.session.get(Application, application_id))
        assert summary(row) == summary(board[application_id])
        expected = normalised[application_id].normalised
        assert row.normalised.mean == pytest.approx(expected.mean, abs=1e-9) if expected.mean is not None \
            else row.normalised.mean is None


def test_the_csv_streams_in_chunks_binding_each_chunk_as_one_parameter(app: Flask, random_call: Call) -> None:
    query = BoardQuery.of(sort="rank")
    expected = [summary(row) for row in ranking_in_python(random_call, query, all_criterion_means=True, now=NOW)]
    with statements_sent() as sent:
        chunks = list(ranking_chunks(random_call, query, all_criterion_means=True, now=NOW, chunk_size=4))
    assert all(len(chunk) <= 4 for chunk in chunks) and len(chunks) == -(-len(expected) // 4)
    assert [summary(row) for chunk in chunks for row in chunk] == expected
    assert max(one.bound for one in sent) < 12  # a chunk's ids are one parameter, not one each


def test_the_normalised_board_is_the_whole_call_computation(random_call: Call) -> None:
    page = ranking_page(random_call, BoardQuery.of(sort="normalised", descending=True), page=1, page_size=10, now=NOW)
    expected = ranking_reference.sort_rows(ranking_in_python(random_call, BoardQuery.of(normalised=True), now=NOW),
                                 "normalised", True)
    assert [row.application_id for row in page.items] == [row.application_id for row in expected[:10]]


def test_a_board_page_costs_the_same_statements_for_a_small_and_a_larger_call(
        small: SimpleNamespace, random_call: Call) -> None:
    """A full first page (one row here: the small call has one), whatever the call's size; a
    page reaching past the ranked rows reads the unranked ones too (two more statements)."""
    submit(small, small.reviewers[0], 4, 4)
    def page_statements(call: Call, **options: object) -> int:
        db.session.expire_all()
        call = db.session.get(Call, call.id)
        call.criteria, call.programmes  # noqa: B018  (loaded before counting, as a request's view has them)
        with statements_sent() as statements:
            ranking_page(call, BoardQuery.of(**options), page=1, page_size=1, now=NOW)
        return len(statements)

    for options in ({"sort": "rank"}, {"sort": "company"}, {"sort": "mean", "descending": True},
                    {"sort": "rank", "descending": True}):
        assert page_statements(small.call, **options) == page_statements(random_call, **options), options


def test_the_migration_fills_the_table_as_the_unit_of_work_does(random_call: Call) -> None:
    """The revision's backfill (its own SQL and the domain's functions) gives the same rows."""
    import importlib.util
    from pathlib import Path

    path = next(Path(__file__).parents[2].glob("migrations/versions/5b1e0c7d9a21_*.py"))
    spec = importlib.util.spec_from_file_location("application_scores_revision", path)
    revision = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(revision)

    def snapshot() -> dict:
        db.session.expire_all()
        return {row.application_id: (row.call_id, row.ranked, row.submitted_at, row.reviews_submitted, row.mean,
                                     row.negated_mean, row.median, row.std, row.minimum, row.maximum,
                                     row.below_threshold, row.criterion_means)
                for row in db.session.scalars(select(ApplicationScore))}

    kept = snapshot()
    assert kept
    db.session.execute(delete(ApplicationScore))
    revision._backfill(db.session.connection())
    assert snapshot() == kept


def test_reviews_submitted_at_the_same_moment_are_all_counted(app: Flask, small: SimpleNamespace) -> None:
    """Each submission recomputes the row from every review it can see; the second waits for
    the first (the row lock on the applications, and already the match counter's update of the
    call row in the same flush), so neither overwrites the other with a stale count, and neither
    deadlocks (FOR UPDATE did, against the flush's foreign-key locks)."""
    import threading

    application_id = small.application.id
    reviewer_ids = [reviewer.id for reviewer in small.reviewers]
    criterion_ids = [criterion.id for criterion in small.criteria]
    db.session.remove()
    barrier = threading.Barrier(len(reviewer_ids))
    errors: list[BaseException] = []

    def submit_as(reviewer_id: int, value: int) -> None:
        with app.app_context():
            try:
                reviewer = db.session.get(User, reviewer_id)
                application = db.session.get(Application, application_id)
                application.call.criteria  # noqa: B018  (loaded before the race)
                barrier.wait()
                save_review(reviewer, application, {criterion_id: Decimal(value) for criterion_id in criterion_ids},
                            "Note.", "", 3, submit=True, now=NOW)
                db.session.commit()
            except BaseException as error:  # noqa: BLE001  (reported below, not lost in the thread)
                errors.append(error)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=submit_as, args=(reviewer_id, value))
               for value, reviewer_id in enumerate(reviewer_ids, start=2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    row = db.session.get(ApplicationScore, application_id)
    assert (row.reviews_submitted, row.mean, row.minimum, row.maximum) == (3, 3.0, 2.0, 4.0)
