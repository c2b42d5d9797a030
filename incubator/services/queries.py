"""Read-only queries shared by pages and commands (no writes here)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from incubator.extensions import db
from incubator.models import Call, CallProgramme, Programme, Slot


def open_calls(now: dt.datetime) -> Sequence[Call]:
    return db.session.scalars(
        select(Call)
        .where(Call.opens_at <= now, Call.closes_at > now)
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
