"""Which programmes a staff account is limited to (partners' own view, issue 12 item 3).

A manager or reviewer with no rows here is unscoped and sees everything; with rows, only the
applications, slots, offers, residencies and calls of those programmes (see
``incubator.services.scope``). Administrators are never scoped, whatever rows they have.
"""

from __future__ import annotations

from sqlalchemy import ForeignKey
from sqlalchemy.orm import Mapped, mapped_column

from incubator.extensions import db


class ProgrammeScope(db.Model):
    __tablename__ = "user_programme_scopes"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    programme_id: Mapped[int] = mapped_column(ForeignKey("programmes.id", ondelete="RESTRICT"), primary_key=True,
                                              index=True)
