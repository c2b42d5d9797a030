"""What is recorded about a resident during the stay: the kinds of support and their states."""

from __future__ import annotations

from incubator.domain.i18n import N_

SUPPORT_PROGRAMMES = {
    "innovation_norway": N_("Innovation Norway"),
    "other": N_("Other programme"),
}
SUPPORT_STATES = {
    "applied": N_("applied"),
    "granted": N_("granted"),
    "declined": N_("not granted"),
}
CURRENCIES = ("NOK", "SEK", "EUR", "DKK", "USD")
MAX_AMOUNT = 10**11  # whole currency units; far above any grant, and inside a BIGINT
MAX_JOBS = 100_000
MAX_TEXT = 5000
