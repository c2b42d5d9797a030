"""Read-only queries shared by pages and commands (no writes here)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import selectinload

from incubator.extensions import db
from incubator.models import AuditEvent, Call, CallProgramme, OutboundEmail, Programme, Slot

T = TypeVar("T")


def open_calls(now: dt.datetime) -> Sequence[Call]:
    return db.session.scalars(
        select(Call)
        .where(Call.state == "published", Call.opens_at <= now, Call.closes_at > now)
        .options(selectinload(Call.programmes).selectinload(CallProgramme.programme))
        .order_by(Call.closes_at)
    ).all()


def all_calls() -> Sequence[Call]:
    return db.session.scalars(
        select(Call)
        .options(selectinload(Call.programmes).selectinload(CallProgramme.programme))
        .order_by(Call.opens_at.desc())
    ).all()


def all_programmes() -> Sequence[Programme]:
    return db.session.scalars(
        select(Programme).options(selectinload(Programme.host_site)).order_by(Programme.name)
    ).all()


def all_slots(limit: int | None = None) -> Sequence[Slot]:
    """Slots in inventory order; ``limit`` keeps an overview bounded (the slots page paginates)."""
    return db.session.scalars(
        select(Slot)
        .options(selectinload(Slot.programme), selectinload(Slot.site))
        .order_by(Slot.programme_id, Slot.starts_on, Slot.label, Slot.id)
        .limit(limit)
    ).all()


LOG_PAGE_SIZE = 50


@dataclass(frozen=True)
class NewestFirstPage(Generic[T]):
    """A keyset page of a log read newest first: ``next_before`` is the id the next (older)
    page starts below, None on the last page. No OFFSET and no COUNT, so page 2,000 of a
    100,000-row log costs what page 1 does."""

    items: list[T]
    next_before: int | None


def _newest_first(query: Select[tuple[T]], id_column: Any, before: int | None, per_page: int) -> NewestFirstPage[T]:
    if before is not None:
        query = query.where(id_column < before)
    items = list(db.session.scalars(query.order_by(id_column.desc()).limit(per_page + 1)))
    more = len(items) > per_page
    items = items[:per_page]
    return NewestFirstPage(items, items[-1].id if more else None)  # type: ignore[attr-defined]


def audit_page(*, action: str = "", subject_type: str = "", subject_id: int | None = None,
               before: int | None = None, per_page: int = LOG_PAGE_SIZE) -> NewestFirstPage[AuditEvent]:
    """Audit events, newest first, filtered by action prefix and by subject."""
    query = select(AuditEvent).options(selectinload(AuditEvent.actor))
    if action:
        query = query.where(AuditEvent.action.startswith(action, autoescape=True))
    if subject_type:
        query = query.where(AuditEvent.subject_type == subject_type)
    if subject_id is not None:
        query = query.where(AuditEvent.subject_id == subject_id)
    return _newest_first(query, AuditEvent.id, before, per_page)


def outbox_page(*, status: str = "", search: str = "", before: int | None = None,
                per_page: int = LOG_PAGE_SIZE) -> NewestFirstPage[OutboundEmail]:
    """Queued emails, newest first, filtered by status and searched by recipient or subject."""
    query = select(OutboundEmail)
    if status:
        query = query.where(OutboundEmail.status == status)
    if search:
        lowered = search.lower()
        query = query.where(or_(func.lower(OutboundEmail.to_address).contains(lowered, autoescape=True),
                                func.lower(OutboundEmail.subject).contains(lowered, autoescape=True)))
    return _newest_first(query, OutboundEmail.id, before, per_page)
