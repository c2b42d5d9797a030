"""Company registration numbers: checked per country where a national scheme is known.

Norway (organisasjonsnummer), Sweden (organisationsnummer), Denmark (CVR) and Finland
(Y-tunnus) are validated with python-stdnum, which knows each scheme's length and check digit;
elsewhere the number is free text. Numbers are stored compact (digits only for the known
schemes) so "923 609 016" and "923609016" are the same company, and shown in the national
format.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType

from stdnum.dk import cvr
from stdnum.exceptions import InvalidChecksum, InvalidFormat, InvalidLength, ValidationError
from stdnum.fi import ytunnus
from stdnum.no import orgnr as no_orgnr
from stdnum.se import orgnr as se_orgnr

from incubator.domain.i18n import N_

SCHEMES: dict[str, ModuleType] = {"NO": no_orgnr, "SE": se_orgnr, "DK": cvr, "FI": ytunnus}

# What each scheme is called, for messages and help texts.
SCHEME_NAMES: dict[str, str] = {
    "NO": N_("Norwegian organisation number (9 digits)"),
    "SE": N_("Swedish organisation number (10 digits)"),
    "DK": N_("Danish CVR number (8 digits)"),
    "FI": N_("Finnish business ID (Y-tunnus, 7 digits and a check digit)"),
}

SEPARATORS = str.maketrans("", "", " -.\t\u00a0")

WRONG_CHECK_DIGIT = N_("This is not a valid %(scheme)s: the check digit does not match. Check for a typing error.")
WRONG_LENGTH = N_("This is not a valid %(scheme)s: it has the wrong number of digits.")
WRONG_FORMAT = N_("This is not a valid %(scheme)s: use only digits, spaces and dashes.")


@dataclass(frozen=True)
class RegistrationProblem:
    """Why a number was refused: a message to translate and the scheme name to put in it."""

    message: str
    scheme: str


def free_text(value: str) -> str:
    """Numbers outside the known schemes are compared without spaces, dots or dashes."""
    return "".join(ch for ch in value if ch.isalnum()).upper()


def check_registration_number(country: str | None, value: str | None) -> str | RegistrationProblem | None:
    """The compact number to store, a problem to show, or None when nothing was given."""
    if value is None or not value.strip():
        return None
    scheme = SCHEMES.get((country or "").upper())
    if scheme is None:
        return free_text(value) or None
    name = SCHEME_NAMES[(country or "").upper()]
    try:
        # Not every scheme's own clean-up drops dashes and dots (Norway's keeps dashes).
        return str(scheme.validate(value.translate(SEPARATORS)))
    except InvalidChecksum:
        return RegistrationProblem(WRONG_CHECK_DIGIT, name)
    except InvalidLength:
        return RegistrationProblem(WRONG_LENGTH, name)
    except (InvalidFormat, ValidationError):
        return RegistrationProblem(WRONG_FORMAT, name)


def format_registration_number(compact: str | None, country: str | None) -> str:
    """The number as the national register writes it (e.g. 923 609 016, 556703-7485)."""
    if not compact:
        return ""
    scheme = SCHEMES.get((country or "").upper())
    formatter = getattr(scheme, "format", None)
    if formatter is None or not scheme.is_valid(compact):  # stored before validation existed
        return compact
    try:
        return str(formatter(compact))
    except (ValidationError, ValueError):  # an old number stored before validation existed
        return compact
