"""The pure rules of a call's own questions: what a question needs, one check per variant."""

from __future__ import annotations

from decimal import Decimal

import pytest

from incubator.domain.questions import (
    Answer,
    AnswerProblem,
    QuestionSpec,
    Variant,
    check_answer,
    definition_problems,
    missing,
)


def spec(variant: Variant, **fields) -> QuestionSpec:
    return QuestionSpec(variant=variant, label="Q", **fields)


def test_choice_question_without_options_is_refused() -> None:
    assert definition_problems(spec(Variant.SINGLE_CHOICE, option_labels=("", " "))) == [
        "A choice question needs at least one option."]
    assert definition_problems(spec(Variant.MULTIPLE_CHOICE, option_labels=("A", "a"))) == [
        "Each option needs its own text."]
    assert definition_problems(spec(Variant.SINGLE_CHOICE, option_labels=("A", "B"))) == []


def test_settings_of_another_variant_are_refused() -> None:
    assert definition_problems(spec(Variant.SHORT_TEXT, max_words=10, option_labels=("A",))) == [
        "Only choice questions have options.", "Only long text questions have a word limit."]
    assert definition_problems(spec(Variant.YES_NO, min_number=Decimal(1))) == ["Only number questions have bounds."]
    assert definition_problems(spec(Variant.NUMBER, min_number=Decimal(5), max_number=Decimal(1))) == [
        "The lowest number allowed must not be above the highest."]
    assert definition_problems(QuestionSpec(variant=Variant.YES_NO, label="  ")) == ["A question needs its text."]


def test_long_text_counts_words_against_its_limit() -> None:
    question = spec(Variant.LONG_TEXT, max_words=3)
    assert check_answer(question, "one two  three") == Answer(text="one two  three")
    with pytest.raises(AnswerProblem, match=r"at most 3 words \(it has 4\)"):
        check_answer(question, "one two three four")


def test_short_text_is_bounded() -> None:
    with pytest.raises(AnswerProblem, match="at most 300 characters"):
        check_answer(spec(Variant.SHORT_TEXT), "x" * 301)


@pytest.mark.parametrize(("raw", "message"), [
    ("lots", "Enter a number, like 12 or 3.5."), ("NaN", "Enter a number"), ("1.234", "Use at most two decimals."),
    ("-1", "Enter a number of at least 0."), ("101", "Enter a number of at most 100.")])
def test_number_bounds_and_format(raw: str, message: str) -> None:
    question = spec(Variant.NUMBER, min_number=Decimal(0), max_number=Decimal(100))
    with pytest.raises(AnswerProblem, match=message):
        check_answer(question, raw)


def test_number_accepts_a_decimal_comma() -> None:
    assert check_answer(spec(Variant.NUMBER), "3,5") == Answer(number=Decimal("3.5"))


def test_yes_no_and_choices() -> None:
    assert check_answer(spec(Variant.YES_NO), "no") == Answer(yes=False)
    with pytest.raises(AnswerProblem, match="Answer yes or no."):
        check_answer(spec(Variant.YES_NO), "maybe")
    single = spec(Variant.SINGLE_CHOICE, option_ids=(7, 8))
    assert check_answer(single, ["8"]) == Answer(option_ids=(8,))
    with pytest.raises(AnswerProblem, match="Choose only one option."):
        check_answer(single, ["7", "8"])
    with pytest.raises(AnswerProblem, match="Choose one of the options shown."):
        check_answer(single, ["9"])
    several = spec(Variant.MULTIPLE_CHOICE, option_ids=(7, 8, 9))
    assert check_answer(several, ["9", "7"]) == Answer(option_ids=(7, 9))  # in the question's order


def test_empty_answers_are_valid_drafts_and_missing_names_required_ones() -> None:
    required = QuestionSpec(variant=Variant.SHORT_TEXT, label="Biosafety level", required=True)
    optional = QuestionSpec(variant=Variant.SHORT_TEXT, label="Anything else")
    empty = check_answer(required, "   ")
    assert empty.is_empty
    assert missing([required, optional], [empty, None]) == ["Biosafety level"]
    assert missing([required, optional], [Answer(text="BSL-2"), None]) == []


def test_pdf_answer_is_the_id_of_a_stored_document() -> None:
    question = spec(Variant.PDF_UPLOAD)
    assert check_answer(question, "12") == Answer(attachment_id=12)
    assert not Answer(attachment_id=12).is_empty
    with pytest.raises(AnswerProblem, match="Upload a PDF file."):
        check_answer(question, "deck.pdf")
