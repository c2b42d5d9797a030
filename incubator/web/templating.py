"""Template filters: times shown in the call's time zone, durations in words."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from flask import Flask, current_app
from flask_babel import get_locale, ngettext
from flask_babel import gettext as _

from incubator.domain.applications import (
    DEVELOPMENT_STAGES,
    FOCUS_AREAS,
    RESIDENCY_PURPOSES,
    SPACE_TYPES,
    STATE_LABELS,
)
from incubator.domain.roles import Role
from incubator.services.offers import open_offer_for
from incubator.services.questions import answered_questions
from incubator.services.visibility import applicant_view
from incubator.web.markdown import render_markdown


def in_zone(value: dt.datetime | None, zone: str | None = None) -> dt.datetime | None:
    if value is None:
        return None
    return value.astimezone(ZoneInfo(zone or current_app.config["DEFAULT_TIMEZONE"]))


def local_datetime(value: dt.datetime | None, zone: str | None = None) -> str:
    """'28 Feb 2027, 12:00 CET' in the given zone (the call's), whatever the server's."""
    local = in_zone(value, zone)
    if local is None:
        return ""
    return f"{local:%d %b %Y, %H:%M} {local.tzname()}"


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


def register_filters(app: Flask) -> None:
    app.jinja_env.add_extension("jinja2.ext.do")
    app.jinja_env.filters["local_datetime"] = local_datetime
    app.jinja_env.filters["markdown"] = render_markdown
    app.jinja_env.globals["time_left"] = time_left
    app.jinja_env.globals["Role"] = Role
    app.jinja_env.globals["get_locale"] = get_locale
    # What the applicant may know of an application's state (an unreleased decision is hidden).
    app.jinja_env.globals["shown_state"] = lambda application: applicant_view(application).state
    app.jinja_env.globals["open_offer_for"] = open_offer_for
    app.jinja_env.globals["call_answers"] = answered_questions
    app.jinja_env.globals["labels"] = {
        "focus": FOCUS_AREAS, "stage": DEVELOPMENT_STAGES, "purpose": RESIDENCY_PURPOSES,
        "space": SPACE_TYPES, "state": STATE_LABELS,
    }
