"""A call's rubric, editable by managers until reviewing starts (the first review exists)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from flask_babel import gettext as _
from sqlalchemy import exists, select

from incubator.domain.roles import Role
from incubator.extensions import db
from incubator.models import Application, Call, Criterion, Review, User
from incubator.services import ServiceError
from incubator.services.audit import record_event


@dataclass(frozen=True)
class CriterionInput:
    name: str
    description: str
    weight: Decimal
    scale_min: Decimal
    scale_max: Decimal
    step: Decimal
    threshold: Decimal | None
    descriptors: dict[str, str]


def reviewing_started(call: Call) -> bool:
    return bool(db.session.scalar(select(exists().where(
        Review.application_id == Application.id, Application.call_id == call.id))))


MAX_LEVELS = 101  # a reviewer picks one level per criterion from a row of radio buttons


def _is_number(text: str) -> bool:
    try:
        return Decimal(text).is_finite()
    except InvalidOperation:
        return False


def criterion_problems(item: CriterionInput) -> list[str]:
    problems = []
    if item.weight <= 0:
        problems.append(f"{item.name}: the weight must be above 0.")
    if item.scale_max <= item.scale_min:
        problems.append(f"{item.name}: the scale's maximum must be above its minimum.")
    elif item.step <= 0 or (item.scale_max - item.scale_min) % item.step != 0:
        problems.append(f"{item.name}: the step must divide the scale evenly.")
    elif (item.scale_max - item.scale_min) / item.step >= MAX_LEVELS:
        problems.append(f"{item.name}: the scale may have at most {MAX_LEVELS} levels.")
    if not all(_is_number(level) for level in item.descriptors):
        problems.append(f"{item.name}: each level descriptor starts with a number, like 3 = good.")
    if item.threshold is not None and not item.scale_min <= item.threshold <= item.scale_max:
        problems.append(f"{item.name}: the threshold must lie on the scale.")
    return problems


def replace_rubric(manager: User, call: Call, items: Sequence[CriterionInput]) -> None:
    """Replace the call's criteria as a whole, in the given order."""
    if not manager.has_role(Role.MANAGER):
        raise ServiceError(_("Only programme managers edit rubrics."))
    if reviewing_started(call):
        raise ServiceError(_("Reviewing has started; the rubric can no longer change."))
    if not items:
        raise ServiceError(_("A rubric needs at least one criterion."))
    names = [item.name.strip().lower() for item in items]
    if len(set(names)) != len(names):
        raise ServiceError(_("Each criterion needs its own name."))
    problems = [problem for item in items for problem in criterion_problems(item)]
    if problems:
        raise ServiceError(" ".join(problems))
    call.criteria.clear()
    db.session.flush()  # free the (call, position) pairs before the new rows take them
    call.criteria.extend(
        Criterion(position=position, name=item.name.strip(), description=item.description.strip(),
                  weight=item.weight, scale_min=item.scale_min, scale_max=item.scale_max, step=item.step,
                  threshold=item.threshold, descriptors=item.descriptors)
        for position, item in enumerate(items)
    )
    db.session.flush()
    record_event(manager, "call.rubric_changed", "call", call.id, criteria=[item.name for item in items])
