"""Factories for the reviewing side: rubric criteria, reviewers, assignments and reviews.

Like ``tests.factories`` they write straight to the database and commit. ``make_call`` creates
no criteria, so ``make_rubric`` adds them; ``make_review`` stores the weighted score the way the
reviews service does, with ``domain.scoring.weighted_score``.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from incubator.database import utcnow
from incubator.domain.roles import Role
from incubator.domain.rubric import DEFAULT_RUBRIC
from incubator.domain.scoring import weighted_score
from incubator.extensions import db
from incubator.models import (
    Application,
    Assignment,
    Call,
    Criterion,
    Review,
    ReviewerProfile,
    Score,
    User,
)
from incubator.services.ranking import criterion_rules

_numbers = itertools.count(1)


def make_rubric(call: Call, criteria: Sequence[Mapping[str, Any]] | None = None) -> list[Criterion]:
    """The call's criteria: the given dicts (name, weight, threshold, ...) or the default rubric."""
    specs: list[Mapping[str, Any]] = list(criteria) if criteria is not None else [
        {"name": spec.name, "description": spec.description, "weight": spec.weight, "scale_min": spec.scale_min,
         "scale_max": spec.scale_max, "step": spec.step, "threshold": spec.threshold,
         "descriptors": dict(spec.descriptors)}
        for spec in DEFAULT_RUBRIC
    ]
    rows = []
    for position, spec in enumerate(specs):
        values: dict[str, Any] = {"scale_min": Decimal(0), "scale_max": Decimal(5), "step": Decimal("0.5"),
                                  "descriptors": {}, "description": ""}
        values.update(spec)
        rows.append(Criterion(call=call, position=position, **values))
    db.session.add_all(rows)
    db.session.commit()
    return rows


def make_applicant(**fields: Any) -> User:
    number = next(_numbers)
    user = User(email=f"founder{number}@startup{number}.example", name=f"Founder {number}",
                role=Role.APPLICANT.value, **fields)
    db.session.add(user)
    db.session.commit()
    return user


def make_reviewer(**profile: Any) -> User:
    """A reviewer account with a reviewer profile (``profile`` sets its fields)."""
    number = next(_numbers)
    user = User(email=f"reviewer{number}@reviewers.example", name=f"Reviewer {number}", role=Role.REVIEWER.value)
    db.session.add(user)
    db.session.flush()
    db.session.add(ReviewerProfile(user_id=user.id, **profile))
    db.session.commit()
    return user


def make_assignment(application: Application, reviewer: User, due_at: dt.datetime | None = None) -> Assignment:
    assignment = Assignment(application_id=application.id, reviewer_id=reviewer.id, source="manual",
                            assigned_at=utcnow(), due_at=due_at)
    db.session.add(assignment)
    db.session.commit()
    return assignment


def make_review(application: Application, reviewer: User, scores: Mapping[int, Any], state: str = "submitted",
                submitted_at: dt.datetime | None = None, **fields: Any) -> Review:
    """A review with one score per criterion and its stored weighted score."""
    rules = criterion_rules(application.call)
    total = weighted_score(rules, scores)
    now = utcnow()
    review = Review(
        application_id=application.id, reviewer_id=reviewer.id, state=state,
        weighted_score=Decimal(str(round(total, 4))), created_at=now, updated_at=now,
        submitted_at=(submitted_at or now) if state == "submitted" else None, **fields,
    )
    review.scores = [Score(criterion_id=criterion_id, value=Decimal(str(value))) for criterion_id, value in scores.items()]
    db.session.add(review)
    db.session.commit()
    return review
