"""Template filters: times shown in the call's time zone, durations in words."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from functools import lru_cache
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_date
from babel.dates import format_datetime as format_zoned_datetime
from babel.numbers import format_decimal
from flask import Flask, current_app, url_for
from flask_babel import get_locale, ngettext
from flask_babel import gettext as _

from incubator.domain.applications import (
    DEVELOPMENT_STAGES,
    FOCUS_AREAS,
    RESIDENCY_PURPOSES,
    SPACE_TYPES,
    STATE_LABELS,
)
from incubator.domain.organisations import format_registration_number
from incubator.domain.roles import Role
from incubator.models import Call
from incubator.services.offers import open_offer_for
from incubator.services.questions import answered_questions
from incubator.services.visibility import applicant_view
from incubator.web.markdown import render_markdown
from incubator.web.navigation import main_navigation


def in_zone(value: dt.datetime | None, zone: str | None = None) -> dt.datetime | None:
    if value is None:
        return None
    return value.astimezone(ZoneInfo(zone or current_app.config["DEFAULT_TIMEZONE"]))


# Each language names itself in the switcher, so a reader finds theirs on any page.
LANGUAGE_NAMES = {"en": "English", "nb": "Norsk (bokmål)", "sv": "Svenska"}


def local_datetime(value: dt.datetime | None, zone: str | None = None) -> str:
    """'28 Feb 2027, 12:00 CET' ('28 feb. 2027, 12:00 CET' in nb) in the given zone (the call's),
    whatever the server's; month names follow the reader's language."""
    if value is None:
        return ""
    return _formatted_datetime(value, zone or current_app.config["DEFAULT_TIMEZONE"], get_locale())


@lru_cache(maxsize=4096)
def _formatted_datetime(value: dt.datetime, zone: str, locale: Locale | None) -> str:
    # A list repeats the same few dates (a call's deadline on every row), and Babel's formatting
    # is the dearest part of a row: the text depends on nothing but these three, so it is kept.
    local = value.astimezone(ZoneInfo(zone))
    text = format_zoned_datetime(local, "dd MMM y, HH:mm", tzinfo=local.tzinfo, locale=locale)
    return f"{text} {local.tzname()}"


def month_year(value: dt.date | None) -> str:
    """'June 2027', 'juni 2027': a residency month in the reader's language."""
    return "" if value is None else format_date(value, "LLLL y", locale=get_locale())


def long_date(value: dt.date | None) -> str:
    """'01 March 2027', '01 mars 2027'."""
    return "" if value is None else format_date(value, "dd MMMM y", locale=get_locale())


def month_short(value: dt.date | None) -> str:
    """'Jun 2027', 'jun. 2027'."""
    return "" if value is None else format_date(value, "LLL y", locale=get_locale())


def short_date(value: dt.date | None) -> str:
    """'01 Jun 2027', '01 jun. 2027'."""
    return "" if value is None else format_date(value, "dd MMM y", locale=get_locale())


def country_name(code: str) -> str:
    """A country by its ISO code, named in the reader's language (Babel's CLDR names)."""
    return Locale.parse(str(get_locale() or "en")).territories.get(code, code)


def exchange_direction(value: str | None) -> str:
    """An exchange direction ("NO-SE") as "Norway → Sweden (NO→SE)", in the reader's language."""
    if not value:
        return ""
    origin, _separator, host = value.partition("-")
    return f"{country_name(origin)} → {country_name(host)} ({origin}→{host})"


def local_number(value: float | int | None) -> str:
    """12 345,5 in nb and sv, 12,345.5 in en."""
    return "" if value is None else format_decimal(value, locale=get_locale())


def link_before_id(endpoint: str) -> str:
    """The URL of ``endpoint`` up to its ``application_id``, which ends it: building one URL per
    page instead of one per row was a tenth of the reviewer's list."""
    sentinel = 987654321
    url = url_for(endpoint, application_id=sentinel)
    assert url.endswith(str(sentinel)), url  # a rule with more after the id would need url_for per row
    return url.removesuffix(str(sentinel))


def time_left(deadline: dt.datetime, now: dt.datetime) -> str:
    remaining = deadline - now
    if remaining.total_seconds() <= 0:
        return _("closed")
    days, hours = remaining.days, remaining.seconds // 3600
    if days >= 2:
        # To the nearest day: a 14-day offer read a second after it was sent has 13 days and
        # 23:59:59 left, which truncating showed as "13 days left".
        nearest = round(remaining / dt.timedelta(days=1))
        return ngettext("%(num)d day left", "%(num)d days left", nearest)
    hours += days * 24
    if hours >= 1:
        return ngettext("%(num)d hour left", "%(num)d hours left", hours)
    minutes = max(remaining.seconds // 60, 1)
    return ngettext("%(num)d minute left", "%(num)d minutes left", minutes)


class TranslatedLabels(Mapping[str, str]):
    """A domain label table (marked with ``N_``) read in the reader's language, in pages and
    emails alike, so no template can forget the ``_()``."""

    def __init__(self, labels: Mapping[str, str]) -> None:
        self._labels = labels

    def __getitem__(self, key: str) -> str:
        return _(self._labels[key])

    def __iter__(self) -> Iterator[str]:
        return iter(self._labels)

    def __len__(self) -> int:
        return len(self._labels)


def call_text(call: Call, name: str) -> str:
    """`{{ call | call_text("title") }}`: the call's text in the reader's language (the
    recipient's in an email rendered under force_locale), else its main text."""
    locale = get_locale()
    return call.text(name, str(locale) if locale else None)


def register_filters(app: Flask) -> None:
    app.jinja_env.add_extension("jinja2.ext.do")
    app.jinja_env.filters["local_datetime"] = local_datetime
    app.jinja_env.filters["number"] = local_number
    app.jinja_env.filters["month_year"] = month_year
    app.jinja_env.filters["month_short"] = month_short
    app.jinja_env.filters["short_date"] = short_date
    app.jinja_env.filters["country_name"] = country_name
    app.jinja_env.filters["exchange_direction"] = exchange_direction
    app.jinja_env.filters["long_date"] = long_date
    app.jinja_env.filters["markdown"] = render_markdown
    app.jinja_env.filters["call_text"] = call_text
    app.jinja_env.filters["registration_number"] = format_registration_number
    app.jinja_env.globals["time_left"] = time_left
    app.jinja_env.globals["main_navigation"] = main_navigation
    app.jinja_env.globals["Role"] = Role
    app.jinja_env.globals["get_locale"] = get_locale

    @app.context_processor
    def language_context() -> dict[str, object]:
        supported = current_app.config["SUPPORTED_LOCALES"]
        return {"current_locale": str(get_locale() or current_app.config["BABEL_DEFAULT_LOCALE"]),
                "language_choices": [(code, LANGUAGE_NAMES.get(code, code)) for code in supported]}
    # What the applicant may know of an application's state (an unreleased decision is hidden).
    app.jinja_env.globals["shown_state"] = lambda application: applicant_view(application).state
    app.jinja_env.globals["open_offer_for"] = open_offer_for
    app.jinja_env.globals["call_answers"] = answered_questions
    app.jinja_env.globals["labels"] = {
        "focus": TranslatedLabels(FOCUS_AREAS), "stage": TranslatedLabels(DEVELOPMENT_STAGES),
        "purpose": TranslatedLabels(RESIDENCY_PURPOSES), "space": TranslatedLabels(SPACE_TYPES),
        "state": TranslatedLabels(STATE_LABELS),
    }
