"""A call's own questions, their ordered options, and applicants' answers to them."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    Integer,
    Numeric,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, backref, mapped_column, relationship

from incubator.database import utcnow
from incubator.domain.questions import VARIANTS
from incubator.extensions import db
from incubator.models.applications import Attachment
from incubator.models.programmes import Call

VARIANT_VALUES = ", ".join(f"'{value}'" for value in VARIANTS)


class CallQuestion(db.Model):
    """One question of a call's own application step; its variant decides how it is answered."""

    __tablename__ = "call_questions"
    __table_args__ = (
        CheckConstraint(f"variant IN ({VARIANT_VALUES})", name="variant_known"),
        CheckConstraint("max_words IS NULL OR max_words > 0", name="max_words_positive"),
        CheckConstraint("min_number IS NULL OR max_number IS NULL OR min_number <= max_number",
                        name="number_bounds_ordered"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"), index=True)
    # Moves swap positions; ties never happen through the service, and the id breaks them anyway.
    position: Mapped[int] = mapped_column(Integer, default=0)
    variant: Mapped[str] = mapped_column(String(20))
    label: Mapped[str] = mapped_column(String(300))
    help_text: Mapped[str] = mapped_column(Text, default="")
    required: Mapped[bool] = mapped_column(Boolean, default=False)
    max_words: Mapped[int | None] = mapped_column(Integer)
    min_number: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    max_number: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))

    call: Mapped[Call] = relationship(back_populates="questions")
    options: Mapped[list[QuestionOption]] = relationship(
        back_populates="question", cascade="all, delete-orphan", order_by="QuestionOption.position"
    )


class QuestionOption(db.Model):
    """One choice of a single or multiple choice question, in the order applicants see them."""

    __tablename__ = "question_options"
    __table_args__ = (UniqueConstraint("question_id", "position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    question_id: Mapped[int] = mapped_column(ForeignKey("call_questions.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    label: Mapped[str] = mapped_column(String(200))

    question: Mapped[CallQuestion] = relationship(back_populates="options")


# The options a choice answer picked; an option someone picked cannot silently disappear.
answer_options = Table(
    "answer_options",
    db.metadata,
    Column("answer_id", ForeignKey("question_answers.id", ondelete="CASCADE"), primary_key=True),
    Column("option_id", ForeignKey("question_options.id", ondelete="RESTRICT"), primary_key=True),
)


class QuestionAnswer(db.Model):
    """An application's answer to one question; which column holds it depends on the variant."""

    __tablename__ = "question_answers"
    __table_args__ = (UniqueConstraint("application_id", "question_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id", ondelete="CASCADE"), index=True)
    question_id: Mapped[int] = mapped_column(ForeignKey("call_questions.id", ondelete="RESTRICT"), index=True)
    text_value: Mapped[str | None] = mapped_column(Text)
    number_value: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    bool_value: Mapped[bool | None] = mapped_column(Boolean)
    # A PDF answer is one of the application's documents; removing the document removes the answer.
    attachment_id: Mapped[int | None] = mapped_column(ForeignKey("attachments.id", ondelete="CASCADE"), unique=True)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    question: Mapped[CallQuestion] = relationship()
    # The ORM cascade does what ON DELETE CASCADE does on PostgreSQL, also where SQLite leaves
    # foreign keys unenforced: removing the document removes the answer it was.
    attachment: Mapped[Attachment | None] = relationship(
        backref=backref("question_answer", uselist=False, cascade="all, delete-orphan"))
    options: Mapped[list[QuestionOption]] = relationship(secondary=answer_options, order_by=QuestionOption.position)
