"""A call's own questions: managers define and order them; applicants answer them in their
draft; answers are checked by the variant's one validation path in domain.questions."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from flask_babel import gettext as _
from sqlalchemy import delete, exists, select
from sqlalchemy.orm import selectinload

from incubator.domain.questions import (
    Answer,
    AnswerProblem,
    QuestionSpec,
    Variant,
    check_answer,
    definition_problems,
    missing,
)
from incubator.domain.roles import Role
from incubator.extensions import db
from incubator.models import Application, Call, CallQuestion, QuestionAnswer, QuestionOption, User
from incubator.models.questions import answer_options
from incubator.services import ServiceError
from incubator.services.audit import record_event
from incubator.services.id_sets import among


class QuestionLocked(ServiceError):
    """A question change refused because applicants already answered it (409)."""


class AnswersInvalid(ServiceError):
    """Some answers do not fit their questions; ``problems`` maps question id to the reason."""

    def __init__(self, problems: dict[int, str]) -> None:
        super().__init__("Some answers need fixing; see the questions marked below.")
        self.problems = problems


@dataclass(frozen=True)
class QuestionInput:
    variant: str
    label: str
    help_text: str = ""
    required: bool = False
    max_words: int | None = None
    min_number: Decimal | None = None
    max_number: Decimal | None = None
    options: list[str] = field(default_factory=list)


def spec_of(question: CallQuestion) -> QuestionSpec:
    return QuestionSpec(variant=Variant(question.variant), label=question.label, required=question.required,
                        max_words=question.max_words, min_number=question.min_number,
                        max_number=question.max_number, option_ids=tuple(o.id for o in question.options),
                        option_labels=tuple(o.label for o in question.options))


def answer_of(row: QuestionAnswer | None) -> Answer | None:
    if row is None:
        return None
    return Answer(text=row.text_value, number=row.number_value, yes=row.bool_value,
                  option_ids=tuple(option.id for option in row.options), attachment_id=row.attachment_id)


def _require_manager(user: User) -> None:
    if not user.has_role(Role.MANAGER):
        raise ServiceError(_("Only programme managers change a call's questions."))


def _check(item: QuestionInput) -> None:
    if item.variant not in {variant.value for variant in Variant}:
        raise ServiceError(_("Choose what kind of question this is."), field="variant")
    spec = QuestionSpec(variant=Variant(item.variant), label=item.label, required=item.required,
                        max_words=item.max_words, min_number=item.min_number, max_number=item.max_number,
                        option_labels=tuple(item.options))
    problems = definition_problems(spec)
    if problems:
        raise ServiceError(" ".join(problems))


def is_answered(question: CallQuestion) -> bool:
    return bool(db.session.scalar(select(exists().where(QuestionAnswer.question_id == question.id))))


def _fill(question: CallQuestion, item: QuestionInput) -> None:
    question.variant, question.label = item.variant, item.label.strip()
    question.help_text, question.required = item.help_text.strip(), item.required
    question.max_words, question.min_number, question.max_number = item.max_words, item.min_number, item.max_number
    labels = [label.strip() for label in item.options if label.strip()]
    question.options.clear()
    db.session.flush()  # free the (question, position) pairs before the new rows take them
    question.options.extend(QuestionOption(position=position, label=label) for position, label in enumerate(labels))


def add_question(manager: User, call: Call, item: QuestionInput) -> CallQuestion:
    _require_manager(manager)
    _check(item)
    if call.state == "archived":
        raise QuestionLocked(_("An archived call no longer changes."))
    question = CallQuestion(position=max((q.position for q in call.questions), default=-1) + 1)
    call.questions.append(question)
    _fill(question, item)
    db.session.flush()
    record_event(manager, "call.question_added", "call", call.id, question_id=question.id, label=question.label)
    return question


def _ensure_unanswered(question: CallQuestion, doing: str) -> None:
    if is_answered(question):
        if doing == "deleted":
            raise QuestionLocked(_("“%(label)s” cannot be deleted: applicants have already answered it.",
                                   label=question.label))
        raise QuestionLocked(_("“%(label)s” cannot be changed: applicants have already answered it.",
                               label=question.label))


def update_question(manager: User, question: CallQuestion, item: QuestionInput) -> None:
    _require_manager(manager)
    _check(item)
    _ensure_unanswered(question, "changed")
    _fill(question, item)
    db.session.flush()
    record_event(manager, "call.question_changed", "call", question.call_id, question_id=question.id)


def delete_question(manager: User, question: CallQuestion) -> None:
    _require_manager(manager)
    _ensure_unanswered(question, "deleted")
    call_id, question_id = question.call_id, question.id
    db.session.delete(question)
    db.session.flush()
    record_event(manager, "call.question_deleted", "call", call_id, question_id=question_id)


def move_question(manager: User, question: CallQuestion, step: int) -> None:
    """Swap the question with its neighbour above (step -1) or below (+1); at an end, nothing moves."""
    _require_manager(manager)
    siblings = list(question.call.questions)
    index = siblings.index(question)
    other = index + step
    if not 0 <= other < len(siblings):
        return
    # Renumber all first, so two questions never share a position after the swap.
    siblings[index], siblings[other] = siblings[other], siblings[index]
    for position, sibling in enumerate(siblings):
        sibling.position = position
    db.session.flush()
    db.session.expire(question.call, ["questions"])


def answers_by_question(application: Application) -> dict[int, QuestionAnswer]:
    rows = db.session.scalars(select(QuestionAnswer).where(QuestionAnswer.application_id == application.id))
    return {row.question_id: row for row in rows}


def missing_question_labels(application: Application) -> list[str]:
    questions = list(application.call.questions)
    if not questions:
        return []
    rows = answers_by_question(application)
    return missing([spec_of(q) for q in questions], [answer_of(rows.get(q.id)) for q in questions])


def store_answers(application: Application, raw: Mapping[int, str | Sequence[str] | None], now: dt.datetime) -> None:
    """Store a draft's answers to the call's questions; partial is fine, malformed is not (then
    nothing is saved and each problem is named). Who may do this is the caller's check."""
    checked: dict[int, Answer] = {}
    problems: dict[int, str] = {}
    for question in application.call.questions:
        value = raw.get(question.id)
        try:
            checked[question.id] = check_answer(spec_of(question), list(value) if isinstance(value, list | tuple)
                                                else value)
        except AnswerProblem as problem:
            problems[question.id] = str(problem)
    if problems:
        raise AnswersInvalid(problems)
    own_documents = {attachment.id for attachment in application.attachments}
    for question_id, answer in checked.items():
        if answer.attachment_id is not None and answer.attachment_id not in own_documents:
            problems[question_id] = "Upload a PDF file."
    if problems:
        raise AnswersInvalid(problems)
    rows = answers_by_question(application)
    options = {o.id: o for q in application.call.questions for o in q.options}
    for question_id, answer in checked.items():
        row = rows.get(question_id)
        if answer.is_empty:
            if row is not None:
                db.session.delete(row)
            continue
        if row is None:
            row = QuestionAnswer(application_id=application.id, question_id=question_id)
            db.session.add(row)
        row.text_value, row.number_value, row.bool_value = answer.text, answer.number, answer.yes
        row.attachment_id = answer.attachment_id
        row.options = [options[option_id] for option_id in answer.option_ids]
        row.updated_at = now
    db.session.flush()


def answer_text(question: CallQuestion, row: QuestionAnswer | None) -> str:
    """An answer as one line of text, for pages, the ranking CSV and the applicant's export."""
    answer = answer_of(row)
    if answer is None or answer.is_empty:
        return ""
    if answer.text is not None:
        return answer.text
    if answer.number is not None:
        return str(answer.number)
    if answer.yes is not None:
        return "yes" if answer.yes else "no"
    if row is not None and row.attachment is not None:
        return row.attachment.original_filename
    labels = {option.id: option.label for option in question.options}
    return "; ".join(labels[option_id] for option_id in answer.option_ids)


def answered_questions(application: Application) -> list[tuple[CallQuestion, str]]:
    """Every question of the call with the application's answer as text ('' when unanswered)."""
    rows = answers_by_question(application)
    return [(question, answer_text(question, rows.get(question.id))) for question in application.call.questions]


def answers_for_call(call: Call, application_ids: Sequence[int]) -> dict[int, dict[int, str]]:
    """{application id: {question id: answer text}} for the ranking CSV, one query per chunk of ids."""
    if not application_ids or not call.questions:
        return {}
    questions = {question.id: question for question in call.questions}
    # Chosen options and PDF names in two more queries, not one lazy load per answer.
    # The ids as one parameter (a chunk of the CSV is a thousand of them).
    rows = db.session.scalars(select(QuestionAnswer).where(among(QuestionAnswer.application_id, application_ids))
                              .options(selectinload(QuestionAnswer.options), selectinload(QuestionAnswer.attachment)))
    texts: dict[int, dict[int, str]] = {}
    for row in rows:
        if row.question_id in questions:
            texts.setdefault(row.application_id, {})[row.question_id] = answer_text(questions[row.question_id], row)
    return texts


def erase_answers(application: Application) -> None:
    """Remove every answer of an application (its owner erased their account): answers are
    free text the person wrote, so anonymising keeps none of them."""
    answer_ids = select(QuestionAnswer.id).where(QuestionAnswer.application_id == application.id)
    db.session.execute(delete(answer_options).where(answer_options.c.answer_id.in_(answer_ids)))
    db.session.execute(delete(QuestionAnswer).where(QuestionAnswer.application_id == application.id))
