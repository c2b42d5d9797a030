"""Programme managers' pages."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Blueprint, render_template
from flask_babel import lazy_gettext as _l

from incubator.database import utcnow
from incubator.domain.roles import Role
from incubator.services import queries
from incubator.web.access import role_required

bp = Blueprint("manage", __name__, url_prefix="/manage")

# Lazy, so module-level labels follow the reader's language.
CALL_STATE_LABELS = {"draft": _l("draft"), "published": _l("published"), "closed": _l("closed"),
                     "reviewing": _l("reviewing"), "deciding": _l("deciding"), "decided": _l("decided"),
                     "archived": _l("archived")}

SLOTS_ON_OVERVIEW = 20


@bp.route("/")
@role_required(Role.MANAGER)
def overview() -> Any:
    return render_template(
        "manage/overview.html",
        calls=queries.all_calls(),
        programmes=queries.all_programmes(),
        slots=queries.all_slots(limit=SLOTS_ON_OVERVIEW),  # the slots page lists them all, paginated
        # Periods end on the first day after them; the table names the last month inside.
        last_month=lambda day: day - dt.timedelta(days=1),
        now=utcnow(),
        state_labels=CALL_STATE_LABELS,
    )
