"""Registration numbers per country: valid, wrong check digit, wrong length, spaces and dashes."""

from __future__ import annotations

import pytest

from incubator.domain.organisations import (
    WRONG_CHECK_DIGIT,
    WRONG_FORMAT,
    WRONG_LENGTH,
    RegistrationProblem,
    check_registration_number,
    format_registration_number,
)

# (country, a valid number as people type it, its compact form, the register's format,
#  the same number with the last digit changed, one digit too few)
KNOWN = [
    ("NO", "923 609 016", "923609016", "923 609 016", "923609017", "92360901"),
    ("SE", "556703-7485", "5567037485", "556703-7485", "5567037486", "556703748"),
    ("DK", "13 58 56 28", "13585628", "13585628", "13585627", "1358562"),
    ("FI", "2077474-0", "20774740", "2077474-0", "2077474-1", "207747-0"),
]


@pytest.mark.parametrize(("country", "typed", "compact", "formatted", "_wrong", "_short"), KNOWN)
def test_a_valid_number_is_stored_compact_and_shown_formatted(country, typed, compact, formatted, _wrong,
                                                              _short) -> None:
    assert check_registration_number(country, typed) == compact
    assert format_registration_number(compact, country) == formatted


@pytest.mark.parametrize(("country", "_typed", "compact", "_formatted", "_wrong", "_short"), KNOWN)
def test_spaces_and_dashes_anywhere_are_accepted(country, _typed, compact, _formatted, _wrong, _short) -> None:
    spaced = " - ".join(compact[i:i + 2] for i in range(0, len(compact), 2))
    assert check_registration_number(country, f" {spaced} ") == compact
    assert check_registration_number(country.lower(), compact) == compact


@pytest.mark.parametrize(("country", "_typed", "_compact", "_formatted", "wrong", "_short"), KNOWN)
def test_a_wrong_check_digit_is_refused(country, _typed, _compact, _formatted, wrong, _short) -> None:
    problem = check_registration_number(country, wrong)
    assert isinstance(problem, RegistrationProblem) and problem.message == WRONG_CHECK_DIGIT


@pytest.mark.parametrize(("country", "_typed", "_compact", "_formatted", "_wrong", "short"), KNOWN)
def test_a_wrong_length_is_refused(country, _typed, _compact, _formatted, _wrong, short) -> None:
    problem = check_registration_number(country, short)
    assert isinstance(problem, RegistrationProblem) and problem.message == WRONG_LENGTH
    too_long = check_registration_number(country, short + "00000")
    assert isinstance(too_long, RegistrationProblem) and too_long.message == WRONG_LENGTH


def test_the_issue_example_12345_is_refused_for_norway() -> None:
    problem = check_registration_number("NO", "12345")
    assert isinstance(problem, RegistrationProblem) and problem.message == WRONG_LENGTH


def test_letters_in_a_known_scheme_are_refused() -> None:
    problem = check_registration_number("NO", "92360901A")
    assert isinstance(problem, RegistrationProblem) and problem.message == WRONG_FORMAT


def test_other_countries_take_free_text_compared_without_punctuation() -> None:
    assert check_registration_number("DE", "HRB 12345-b") == "HRB12345B"
    assert check_registration_number(None, "ab.12") == "AB12"
    assert format_registration_number("HRB12345B", "DE") == "HRB12345B"


def test_nothing_given_is_nothing_stored() -> None:
    assert check_registration_number("NO", None) is None
    assert check_registration_number("NO", "   ") is None
    assert format_registration_number(None, "NO") == ""


def test_a_number_stored_before_validation_is_shown_as_it_was() -> None:
    assert format_registration_number("12345", "NO") == "12345"
