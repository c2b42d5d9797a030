"""A call's own questions as plain data: what a valid question is, and what a valid answer is.

One validation path per variant, used by the service both when a draft is saved (the answer's
format) and at submission (required answers present). No Flask, no database.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from enum import StrEnum

from incubator.domain.ids import as_row_id


class Variant(StrEnum):
    SHORT_TEXT = "short_text"
    LONG_TEXT = "long_text"
    SINGLE_CHOICE = "single_choice"
    MULTIPLE_CHOICE = "multiple_choice"
    NUMBER = "number"
    YES_NO = "yes_no"
    PDF_UPLOAD = "pdf_upload"


VARIANTS = tuple(variant.value for variant in Variant)
CHOICE_VARIANTS = (Variant.SINGLE_CHOICE, Variant.MULTIPLE_CHOICE)
SHORT_TEXT_MAX_CHARS = 300
LONG_TEXT_MAX_CHARS = 20000


class AnswerProblem(ValueError):
    """An answer that does not fit its question; the message is shown beside the field."""


@dataclass(frozen=True)
class QuestionSpec:
    variant: Variant
    label: str
    required: bool = False
    max_words: int | None = None
    min_number: Decimal | None = None
    max_number: Decimal | None = None
    option_ids: tuple[int, ...] = field(default_factory=tuple)
    option_labels: tuple[str, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class Answer:
    """A checked answer; exactly the part its variant uses is set."""

    text: str | None = None
    number: Decimal | None = None
    yes: bool | None = None
    option_ids: tuple[int, ...] = ()
    attachment_id: int | None = None  # the uploaded PDF, stored like the application's other documents

    @property
    def is_empty(self) -> bool:
        return (self.text is None and self.number is None and self.yes is None and not self.option_ids
                and self.attachment_id is None)


def definition_problems(spec: QuestionSpec) -> list[str]:
    """Why a question as a manager defined it cannot be asked; empty when it can."""
    problems = []
    if not spec.label.strip():
        problems.append("A question needs its text.")
    labels = [label.strip() for label in spec.option_labels]
    if spec.variant in CHOICE_VARIANTS:
        if not [label for label in labels if label]:
            problems.append("A choice question needs at least one option.")
        elif len({label.lower() for label in labels if label}) != len([label for label in labels if label]):
            problems.append("Each option needs its own text.")
    elif any(labels):
        problems.append("Only choice questions have options.")
    if spec.max_words is not None and spec.variant != Variant.LONG_TEXT:
        problems.append("Only long text questions have a word limit.")
    if spec.max_words is not None and spec.max_words < 1:
        problems.append("A word limit must be at least 1.")
    has_bounds = spec.min_number is not None or spec.max_number is not None
    if has_bounds and spec.variant != Variant.NUMBER:
        problems.append("Only number questions have bounds.")
    if spec.min_number is not None and spec.max_number is not None and spec.min_number > spec.max_number:
        problems.append("The lowest number allowed must not be above the highest.")
    return problems


def count_words(text: str) -> int:
    return len(text.split())


def check_answer(spec: QuestionSpec, raw: str | list[str] | None) -> Answer:
    """Turn what an applicant sent into an Answer, or raise AnswerProblem saying what is wrong.

    An empty value is a valid (empty) answer here: drafts may be partial; ``missing`` decides
    at submission whether a required question was left empty.
    """
    values = [value.strip() for value in raw] if isinstance(raw, list) else ([raw.strip()] if raw else [])
    values = [value for value in values if value]
    if not values:
        return Answer()
    checker = _CHECKERS[spec.variant]
    return checker(spec, values)


def _short_text(spec: QuestionSpec, values: list[str]) -> Answer:
    if len(values[0]) > SHORT_TEXT_MAX_CHARS:
        raise AnswerProblem(f"Keep this answer to at most {SHORT_TEXT_MAX_CHARS} characters.")
    return Answer(text=values[0])


def _long_text(spec: QuestionSpec, values: list[str]) -> Answer:
    text = values[0]
    if len(text) > LONG_TEXT_MAX_CHARS:
        raise AnswerProblem(f"Keep this answer to at most {LONG_TEXT_MAX_CHARS} characters.")
    words = count_words(text)
    if spec.max_words is not None and words > spec.max_words:
        raise AnswerProblem(f"Keep this answer to at most {spec.max_words} words (it has {words}).")
    return Answer(text=text)


def _number(spec: QuestionSpec, values: list[str]) -> Answer:
    try:
        number = Decimal(values[0].replace(",", "."))
    except InvalidOperation as error:
        raise AnswerProblem("Enter a number, like 12 or 3.5.") from error
    if not number.is_finite() or abs(number) >= Decimal("1e12"):
        raise AnswerProblem("Enter a number, like 12 or 3.5.")
    if number != number.quantize(Decimal("0.01")):
        raise AnswerProblem("Use at most two decimals.")
    if spec.min_number is not None and number < spec.min_number:
        raise AnswerProblem(f"Enter a number of at least {spec.min_number}.")
    if spec.max_number is not None and number > spec.max_number:
        raise AnswerProblem(f"Enter a number of at most {spec.max_number}.")
    return Answer(number=number)


def _yes_no(spec: QuestionSpec, values: list[str]) -> Answer:
    if values[0] not in ("yes", "no"):
        raise AnswerProblem("Answer yes or no.")
    return Answer(yes=values[0] == "yes")


def _chosen_ids(spec: QuestionSpec, values: list[str]) -> tuple[int, ...]:
    try:
        chosen = [int(value) for value in values]
    except ValueError as error:
        raise AnswerProblem("Choose one of the options shown.") from error
    if any(option not in spec.option_ids for option in chosen):
        raise AnswerProblem("Choose one of the options shown.")
    return tuple(option for option in spec.option_ids if option in chosen)


def _single_choice(spec: QuestionSpec, values: list[str]) -> Answer:
    if len(values) > 1:
        raise AnswerProblem("Choose only one option.")
    return Answer(option_ids=_chosen_ids(spec, values))


def _multiple_choice(spec: QuestionSpec, values: list[str]) -> Answer:
    return Answer(option_ids=_chosen_ids(spec, values))


def _pdf_upload(spec: QuestionSpec, values: list[str]) -> Answer:
    # The file itself is checked where every upload is (services.attachments); here the answer
    # is the stored document's id, and the service makes sure it is this application's.
    attachment_id = as_row_id(values[0])
    if attachment_id is None:
        raise AnswerProblem("Upload a PDF file.")
    return Answer(attachment_id=attachment_id)


_CHECKERS = {
    Variant.SHORT_TEXT: _short_text,
    Variant.LONG_TEXT: _long_text,
    Variant.NUMBER: _number,
    Variant.YES_NO: _yes_no,
    Variant.SINGLE_CHOICE: _single_choice,
    Variant.MULTIPLE_CHOICE: _multiple_choice,
    Variant.PDF_UPLOAD: _pdf_upload,
}


def missing(specs: list[QuestionSpec], answers: list[Answer | None]) -> list[str]:
    """The labels of required questions left unanswered, in the order they are asked."""
    return [spec.label for spec, answer in zip(specs, answers, strict=True)
            if spec.required and (answer is None or answer.is_empty)]
