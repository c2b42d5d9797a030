"""What a manager scoped to some programmes may change (issue 12 item 3).

Reading is limited by the query filter in ``incubator.services.scope``: a scoped manager sees
their programmes' share of every page. Changing is limited here: they may act on what is
wholly theirs (an application's decision and committee notes, offers, residencies, slots,
assignments of applications they see, the follow-up of their residents). Actions on a whole call (its texts, rubric, questions,
reviewer pool, publishing, the automatic assignment, the match run, releasing decisions) and on
programmes and sites affect other partners' applicants too, so they need a manager with the
whole picture: a scoped manager gets 403 saying so. New actions are refused until listed here.
"""

from __future__ import annotations

from flask import request
from flask_babel import gettext as _
from werkzeug.exceptions import Forbidden

from incubator.services.scope import is_scoped
from incubator.web.manage.routes import bp

# Endpoints whose rows are all found through the scoped queries, so a scoped manager cannot
# reach another partner's data with them.
SCOPED_MANAGER_ACTIONS = frozenset({
    "manage.decide", "manage.undo", "manage.decide_in_bulk",
    "manage.committee_comment", "manage.committee_note",
    "manage.assignments", "manage.delete_assignment",
    "manage.withdraw_offer",
    "manage.complete_residency", "manage.end_residency", "manage.extend_residency",
    # A partner follows its own residents: support, OCC membership, check-ins, the final report.
    "manage.residency_membership", "manage.residency_support", "manage.residency_support_status",
    "manage.residency_check_in", "manage.residency_report",
    "manage.new_slot", "manage.edit_slot", "manage.delete_slot",
})


class WholePictureNeeded(Forbidden):
    """403 with the reason, for the error page."""

    def __init__(self) -> None:
        super().__init__()
        self.user_message = _("Your account is limited to some programmes, and this action concerns every "
                              "programme of the call. Ask a programme manager without such a limit to do it.")


@bp.before_request
def refuse_whole_picture_actions() -> None:
    if request.method == "POST" and is_scoped() and request.endpoint not in SCOPED_MANAGER_ACTIONS:
        raise WholePictureNeeded()
