"""The Oslo–Gothenburg exchange: which stays count in it, and in which direction.

A programme can be the exchange's place for companies of one country (BioVentureHub in
Gothenburg for Norwegian companies, the OCC Incubator in Oslo for Swedish ones). A stay of such
a company in such a programme, hosted in another country, is an exchange stay from the company's
country to the host's: "NO-SE" or "SE-NO". Seen from OCC in Oslo, NO-SE is sent, SE-NO received.
"""

from __future__ import annotations

import datetime as dt

SENT = "NO-SE"  # Norwegian startups residing in Sweden
RECEIVED = "SE-NO"  # Swedish startups residing in Norway
DIRECTIONS = (SENT, RECEIVED)


def exchange_direction(company_country: str | None, exchange_for_country: str | None,
                       host_country: str | None) -> str | None:
    """"NO-SE" for a Norwegian company in a programme that is the exchange for Norway and hosted
    in Sweden; None when any of it is missing or the stay is not an exchange."""
    if not company_country or not host_country or company_country != exchange_for_country:
        return None
    if host_country == company_country:
        return None
    return f"{company_country}-{host_country}"


def residency_months(starts_on: dt.date, ends_on: dt.date) -> int:
    """Months of a stay ``[starts_on, ends_on)`` that starts on a first of a month; a month the
    stay ends inside counts whole, as occupancy does. The SQL in services/exchange.py agrees."""
    months = (ends_on.year - starts_on.year) * 12 + ends_on.month - starts_on.month
    return months + (1 if ends_on.day > 1 else 0)
