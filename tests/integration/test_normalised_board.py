"""The normalised ranking board from its stored snapshot (``models.normalised_scores``), on
SQLite and PostgreSQL: the same rows as the whole-call computation in Python
(``tests/support/ranking_reference.py``, the definition), pages that add up to the board,
recomputed when and only when the call's reviews changed, once when two requests find it stale
together, and limited to a scoped manager's programmes."""

from __future__ import annotations

import datetime as dt
import threading
import time
from contextlib import nullcontext
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from incubator.database import utcnow
from incubator.domain.scoring import normalise_scores, weighted_scale
from incubator.extensions import db
from incubator.models import (
    Application,
    Call,
    NormalisedScore,
    NormalisedSnapshot,
    Review,
    Score,
    User,
)
from incubator.services import ranking
from incubator.services.ranking import (
    BoardQuery,
    RankingRow,
    criterion_rules,
    ranking_chunks,
    ranking_count,
    ranking_for_call,
    ranking_page,
)
from incubator.services.scope import limited_to
from tests.factories import make_application, make_call
from tests.factories_reviews import make_applicant, make_assignment, make_review, make_reviewer, make_rubric
from tests.support.ranking_reference import ranking_in_python
from tests.support.statements import statements_sent

NOW = utcnow()
PAST = NOW - dt.timedelta(days=2)

# (team, science) per reviewer and application; weighted = (2·team + science) / 3 on 0–5.
#   r1: six reviews, spread;  r2: three, all 3.0 (flat);  r3: one (< 2, kept raw);
#   r4, r5, r6: two to three;  r7: 0, 0, 0 and 5 (its 5 maps above the scale: clipped).
# A has five reviews (a median needing every score), E none, W is withdrawn.
REVIEWS: dict[str, dict[str, tuple[float, float]]] = {
    "Alpha": {"r1": (4, 4), "r2": (3, 3), "r4": (5, 4.5), "r5": (2, 3), "r6": (4.5, 5)},
    "Beta": {"r1": (2, 2), "r2": (3, 3), "r3": (5, 5)},
    "Gamma": {"r1": (1, 1), "r4": (5, 5), "r7": (0, 0)},
    "Delta": {"r1": (3, 4), "r2": (3, 3), "r5": (1, 0), "r7": (0, 0)},
    "Foxtrot": {"r5": (4, 4), "r6": (0.5, 1), "r7": (0, 0)},
    "Golf": {"r6": (3, 3), "r1": (5, 5), "r7": (5, 5)},
    "Withdrawn": {"r1": (5, 5)},
}
EXCHANGE_ONLY = ("Beta", "Delta")


@pytest.fixture
def call_data(app: Flask) -> SimpleNamespace:
    call = make_call(disagreement_threshold=Decimal("1.00"))
    criteria = make_rubric(call, [{"name": "Team", "weight": Decimal(2), "threshold": Decimal(3)},
                                  {"name": "Science", "weight": Decimal(1)}])
    reviewers = {f"r{number}": make_reviewer() for number in range(1, 8)}
    occ, exchange = (offered.programme_id for offered in call.programmes)
    apps = {}
    for offset, name in enumerate([*REVIEWS, "Echo"]):
        state = "withdrawn" if name == "Withdrawn" else "submitted"
        application = make_application(make_applicant(), call, state=state, complete=True, company_name=name)
        # Distinct submission times (the rank's tie-break), some programme preferences elsewhere.
        application.submitted_at = NOW - dt.timedelta(hours=offset + 1)
        if name in EXCHANGE_ONLY:
            application.preferences[0].programme_id = exchange
        db.session.commit()
        apps[name] = application
    make_assignment(apps["Echo"], reviewers["r1"], due_at=PAST)
    for name, given in REVIEWS.items():
        for reviewer, (team, science) in given.items():
            make_assignment(apps[name], reviewers[reviewer], due_at=PAST)
            make_review(apps[name], reviewers[reviewer], {criteria[0].id: team, criteria[1].id: science})
    return SimpleNamespace(call=call, criteria=criteria, reviewers=reviewers, apps=apps, occ=occ, exchange=exchange)


def assert_close(mine: tuple[Any, ...], theirs: tuple[Any, ...]) -> None:
    """Two aggregates: counts, flags and missing values equal, figures to float rounding."""
    assert len(mine) == len(theirs)
    for value, expected in zip(mine, theirs, strict=True):
        if isinstance(expected, float):
            assert value == pytest.approx(expected, rel=1e-12, abs=1e-12)
        else:
            assert value == expected


def assert_same_rows(stored: list[RankingRow], computed: list[RankingRow]) -> None:
    """Row for row, the snapshot's board is the Python computation's (floats to rounding: the
    call's mean sums the reviews in the order the database returns them)."""
    assert [row.application_id for row in stored] == [row.application_id for row in computed]
    for mine, theirs in zip(stored, computed, strict=True):
        assert (mine.rank, mine.state, mine.company_name, mine.programmes) == (
            theirs.rank, theirs.state, theirs.company_name, theirs.programmes)
        assert (mine.reviews_submitted, mine.reviews_assigned, mine.reviews_overdue) == (
            theirs.reviews_submitted, theirs.reviews_assigned, theirs.reviews_overdue)
        assert_close(mine.scores, theirs.scores)
        assert mine.normalised is not None and theirs.normalised is not None
        assert_close(mine.normalised, theirs.normalised)
        assert mine.criterion_means == pytest.approx(theirs.criterion_means, rel=1e-12)
        assert mine.threshold_failures == theirs.threshold_failures


BOARDS = [
    {"sort": "rank"}, {"sort": "rank", "descending": True},
    {"sort": "normalised", "descending": True}, {"sort": "normalised"},
    {"sort": "mean", "descending": True}, {"sort": "median"}, {"sort": "company"},
    {"sort": "submitted"}, {"sort": "reviews", "descending": True}, {"sort": "flags", "descending": True},
    {"sort": "state"}, {"sort": "range", "descending": True},
    {"state": "withdrawn"}, {"flag": "threshold"}, {"flag": "overdue", "sort": "normalised", "descending": True},
]


@pytest.mark.parametrize("options", BOARDS, ids=lambda options: "-".join(f"{k}={v}" for k, v in options.items()))
def test_the_stored_board_is_the_python_computation(call_data: SimpleNamespace, options: dict[str, Any]) -> None:
    options = {"sort": "rank", "descending": False, **options}  # ranking_for_call's defaults differ
    query = BoardQuery.of(normalised=True, **options)
    computed = ranking_in_python(call_data.call, query, all_criterion_means=True, now=NOW)
    stored = ranking_for_call(call_data.call, normalised=True, all_criterion_means=True, now=NOW, **options)
    assert_same_rows(stored, computed)
    assert ranking_count(call_data.call, query) == len(computed)
    # Pages of two add up to the board, each with the same ranks.
    paged: list[RankingRow] = []
    for number in range(1, len(computed) // 2 + 2):
        page = ranking_page(call_data.call, query, page=number, page_size=2, now=NOW)
        assert page.total == len(computed)
        paged += page.items
    computed_few = ranking_in_python(call_data.call, query, now=NOW)  # thresholds' means only, as a page
    assert_same_rows(paged, computed_few)


def test_the_data_covers_the_hard_cases(call_data: SimpleNamespace) -> None:
    """More than three reviews, one-review and flat reviewers, and a clipped score all occur."""
    rows = {row.company_name: row for row in ranking_for_call(call_data.call, normalised=True, now=NOW)}
    assert rows["Alpha"].normalised.count == 5 and rows["Echo"].normalised.count == 0
    rules = criterion_rules(call_data.call)
    reviews = db.session.execute(
        select(Review.application_id, Review.reviewer_id, Review.weighted_score)
        .join(Application, Application.id == Review.application_id).where(Application.call_id == call_data.call.id))
    corrected = normalise_scores([(a, r, float(s)) for a, r, s in reviews], weighted_scale(rules))
    r7 = call_data.reviewers["r7"].id
    assert corrected[(call_data.apps["Golf"].id, r7)] == 5.0  # clipped: M + z·S is above the scale
    assert rows["Golf"].normalised.maximum == 5.0


def test_the_snapshot_rows_are_stored_once_per_listed_application(call_data: SimpleNamespace) -> None:
    ranking_for_call(call_data.call, normalised=True, now=NOW)
    stored = {row.application_id: row for row in db.session.scalars(
        select(NormalisedScore).where(NormalisedScore.call_id == call_data.call.id))}
    assert set(stored) == {call_data.apps[name].id for name in REVIEWS}  # Echo has no review
    assert not stored[call_data.apps["Withdrawn"].id].ranked
    assert all(row.negated_mean == -row.mean for row in stored.values())
    snapshot = db.session.get(NormalisedSnapshot, call_data.call.id)
    version = db.session.scalar(select(Call.insights_version).where(Call.id == call_data.call.id))
    assert snapshot.inputs_version == version


def recomputed(statements: list[Any]) -> bool:
    return any("DELETE FROM normalised_scores" in sent.statement for sent in statements)


def test_recomputed_only_after_a_change_to_the_reviews(call_data: SimpleNamespace) -> None:
    call = call_data.call
    query = BoardQuery.of(normalised=True)
    with statements_sent() as first:
        ranking_page(call, query, page=1, page_size=100, now=NOW)
    with statements_sent() as again:
        before = ranking_page(call, query, page=1, page_size=100, now=NOW)
    assert recomputed(first) and not recomputed(again)
    assert len(again) < len(first)

    # Beta's single-review reviewer becomes the harshest: every normalised figure may move.
    review = db.session.scalar(select(Review).where(Review.application_id == call_data.apps["Beta"].id,
                                                    Review.reviewer_id == call_data.reviewers["r3"].id))
    for score in review.scores:
        score.value = Decimal(0)
    review.weighted_score = Decimal(0)
    db.session.commit()
    with statements_sent() as after_change:
        after = ranking_page(call, query, page=1, page_size=100, now=NOW)
    assert recomputed(after_change)
    assert_same_rows(after.items, ranking_in_python(call, query, now=NOW))
    beta = call_data.apps["Beta"].id
    assert ({row.application_id: row.normalised.mean for row in after.items}[beta]
            < {row.application_id: row.normalised.mean for row in before.items}[beta])


def test_a_withdrawal_leaves_the_ranks_at_once(call_data: SimpleNamespace) -> None:
    call = call_data.call
    ranking_for_call(call, normalised=True, now=NOW)
    alpha = call_data.apps["Alpha"]
    alpha.state, alpha.withdrawn_at = "withdrawn", NOW
    db.session.commit()
    rows = ranking_for_call(call, normalised=True, sort="rank", descending=False, now=NOW)
    assert alpha.id not in {row.application_id for row in rows}
    assert_same_rows(rows, ranking_in_python(call, BoardQuery.of(normalised=True), now=NOW))


def test_scoped_staff_see_their_programmes_rows_ranked_among_themselves(call_data: SimpleNamespace) -> None:
    call = call_data.call
    for programme, names in ((call_data.exchange, set(EXCHANGE_ONLY)),
                             (call_data.occ, {"Alpha", "Gamma", "Foxtrot", "Golf", "Echo"})):
        for options in ({"sort": "rank", "descending": False}, {"sort": "normalised", "descending": True},
                        {"sort": "rank", "descending": True}):
            query = BoardQuery.of(normalised=True, **options)
            with limited_to([programme]):
                stored = ranking_for_call(call, normalised=True, now=NOW, **options)
                page = ranking_page(call, query, page=1, page_size=2, now=NOW)
                computed = ranking_in_python(call, query, now=NOW)
            assert {row.company_name for row in stored} == names
            assert_same_rows(stored, computed)
            assert_same_rows(page.items, computed[:2])
            assert sorted(row.rank for row in stored if row.rank) == list(range(1, len(names) + 1 - ("Echo" in names)))


def test_the_csv_chunks_read_the_snapshot(call_data: SimpleNamespace) -> None:
    query = BoardQuery.of(normalised=True, sort="normalised", descending=True)
    chunks = list(ranking_chunks(call_data.call, query, all_criterion_means=True, now=NOW, chunk_size=3))
    assert [len(chunk) for chunk in chunks] == [3, 3, 1]
    assert_same_rows([row for chunk in chunks for row in chunk],
                     ranking_in_python(call_data.call, query, all_criterion_means=True, now=NOW))


def test_statements_do_not_grow_with_the_call(app: Flask) -> None:
    """The recomputation and the page it serves (a full page: the last one reads the unranked
    rows too): a fixed number of statements at 6 and 60 applications, the rows inserted by one
    executemany."""
    counts = []
    for size in (6, 60):
        call = make_call()
        criteria = make_rubric(call, [{"name": "Only", "weight": Decimal(1)}])
        reviewers = [make_reviewer() for _ in range(4)]
        for i in range(size):
            application = make_application(make_applicant(), call, state="submitted", complete=True,
                                           company_name=f"Company {i}")
            for k in range(3):
                reviewer = reviewers[(i + k) % 4]
                db.session.add(Review(application_id=application.id, reviewer_id=reviewer.id, state="submitted",
                                      weighted_score=Decimal((i * 7 + k * 3) % 11) / 2, created_at=NOW,
                                      updated_at=NOW, submitted_at=NOW,
                                      scores=[Score(criterion_id=criteria[0].id, value=Decimal((i * 7 + k * 3) % 11) / 2)]))
        db.session.commit()
        db.session.expire_all()
        with statements_sent() as cold:
            page = ranking_page(db.session.get(Call, call.id), BoardQuery.of(normalised=True), page=1, page_size=5,
                                now=NOW)
        with statements_sent() as warm:
            ranking_page(db.session.get(Call, call.id), BoardQuery.of(normalised=True), page=1, page_size=5, now=NOW)
        inserts = [sent for sent in cold if sent.statement.startswith("INSERT INTO normalised_scores")]
        assert len(inserts) == 1 and len(page.items) == 5
        counts.append((len(cold), len(warm)))
    assert counts[0] == counts[1]


# SQLite has one writer at a time: a second request cannot compute or commit meanwhile, so the
# races below exist only on PostgreSQL.
postgresql_only = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


@postgresql_only
def test_two_requests_finding_it_stale_compute_it_once(app: Flask, call_data: SimpleNamespace,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """Both read a stale version; the first locks the snapshot row and computes, the second
    waits for its commit and finds it current: no error, no duplicate, one computation."""
    call_id = call_data.call.id
    computations: list[int] = []
    real = ranking.normalised_columns

    def slow_rows(call: Call) -> Any:
        computations.append(call.id)
        time.sleep(0.5)  # long enough for the other request to reach the lock
        return real(call)

    monkeypatch.setattr(ranking, "normalised_columns", slow_rows)
    db.session.remove()
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []
    totals: list[int] = []

    def request() -> None:
        with app.app_context():
            try:
                call = db.session.get(Call, call_id)
                call.criteria  # noqa: B018  (loaded before the race)
                barrier.wait()
                page = ranking_page(call, BoardQuery.of(normalised=True), page=1, page_size=100, now=NOW)
                totals.append(len(page.items))
                db.session.commit()
            except BaseException as error:  # noqa: BLE001  (reported below, not lost in the thread)
                errors.append(error)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=request) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert computations == [call_id] and totals == [7, 7]
    stored = db.session.scalar(select(func.count()).select_from(NormalisedScore)
                               .where(NormalisedScore.call_id == call_id))
    assert stored == len(REVIEWS)


def test_an_unknown_user_change_does_not_matter(call_data: SimpleNamespace) -> None:
    """Reading the board twice with nothing changed in between serves the same snapshot."""
    ranking_for_call(call_data.call, normalised=True, now=NOW)
    computed_at = db.session.get(NormalisedSnapshot, call_data.call.id).computed_at
    db.session.add(User(email="someone@example.org", name="Someone", role="applicant"))
    db.session.commit()
    ranking_for_call(call_data.call, normalised=True, now=NOW)
    db.session.expire_all()
    assert db.session.get(NormalisedSnapshot, call_data.call.id).computed_at == computed_at


@postgresql_only
def test_a_change_committed_while_computing_leaves_the_snapshot_stale(app: Flask, call_data: SimpleNamespace,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """A review changed by another request after this one read the reviews: the snapshot is
    stored with the counter read before them, so the next board computes it again instead of
    showing figures without that change as current."""
    review_id = db.session.scalar(select(Review.id).where(Review.application_id == call_data.apps["Beta"].id,
                                                          Review.reviewer_id == call_data.reviewers["r3"].id))
    real = ranking._reviews_as_arrays

    def change_after_reading(call_id: int) -> Any:
        read = real(call_id)

        def other_request() -> None:
            with app.app_context():
                review = db.session.get(Review, review_id)
                for score in review.scores:
                    score.value = Decimal(0)
                review.weighted_score = Decimal(0)
                db.session.commit()
                db.session.remove()

        thread = threading.Thread(target=other_request)
        thread.start()
        thread.join(timeout=30)
        return read

    monkeypatch.setattr(ranking, "_reviews_as_arrays", change_after_reading)
    query = BoardQuery.of(normalised=True)
    ranking_page(call_data.call, query, page=1, page_size=100, now=NOW)
    db.session.commit()
    monkeypatch.setattr(ranking, "_reviews_as_arrays", real)
    with statements_sent() as statements:
        page = ranking_page(call_data.call, query, page=1, page_size=100, now=NOW)
    assert recomputed(statements)
    assert_same_rows(page.items, ranking_in_python(call_data.call, query, now=NOW))


@pytest.mark.parametrize("descending", [False, True])
@pytest.mark.parametrize("scoped", [False, True])
def test_pages_sorted_by_company_list_the_unnamed_last_in_rank_order(
        call_data: SimpleNamespace, descending: bool, scoped: bool) -> None:
    """Sorted by company, the named rows are read apart from the unnamed ones (an index serves
    their order either way): pages ending inside, at and past the named rows, and pages starting
    past them, agree with the whole-call computation, as does the CSV's single statement. NULL
    and '' are both no company: the unnamed follow in normalised rank order, not '' before NULL."""
    for name, company in (("Alpha", None), ("Beta", ""), ("Foxtrot", None), ("Echo", ""), ("Withdrawn", None)):
        call_data.apps[name].company_name = company
    db.session.commit()
    call = call_data.call
    query = BoardQuery.of(normalised=True, sort="company", descending=descending)
    with limited_to([call_data.occ]) if scoped else nullcontext():
        expected = ranking_in_python(call, query, all_criterion_means=True, now=NOW)
        unnamed = [row for row in expected if not row.company_name]
        assert len(unnamed) >= 2 and expected[-len(unnamed):] == unnamed
        # Rank order among the unnamed, not '' apart from NULL.
        assert [row.application_id for row in unnamed] == [
            row.application_id for row in sorted(unnamed, key=lambda row: (row.rank is None, row.rank or 0,
                                                                            row.application_id))]
        assert_same_rows(ranking_for_call(call, normalised=True, all_criterion_means=True, now=NOW,
                                          sort="company", descending=descending), expected)
        few = ranking_in_python(call, query, now=NOW)
        for size in (1, 2, 3):
            pages = [ranking_page(call, query, page=number, page_size=size, now=NOW)
                     for number in range(1, -(-len(few) // size) + 1)]
            assert_same_rows([row for page in pages for row in page.items], few)
