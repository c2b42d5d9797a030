"""What every page of the application steps needs: the signed-in applicant's own application
and the context the step templates share.

Both the step routes and the attachment posts render step pages; keeping these helpers here
lets each of those modules import them without importing the other.
"""

from __future__ import annotations

from typing import Any

from flask import abort
from flask_login import current_user

from incubator.database import utcnow
from incubator.domain.applications import STEPS, ApplicationState, Step
from incubator.extensions import db
from incubator.models import Application, Call
from incubator.services import applications


def load_own_application(application_id: int) -> Application:
    """The signed-in applicant's application; anyone else's is 'not found', not 'forbidden',
    so ids reveal nothing."""
    application = db.session.get(Application, application_id)
    if application is None or application.applicant_id != current_user.id:
        abort(404)
    return application


QUESTIONS_STEP = Step("questions", "Questions for this call", ())


def steps_for(call: Call) -> tuple[Step, ...]:
    """The fixed steps, with the call's own questions as a step before "review and submit"
    when the call has any."""
    if not call.questions:
        return STEPS
    return (*STEPS[:-1], QUESTIONS_STEP, STEPS[-1])


def step_context(application: Application, step: str) -> dict[str, Any]:
    now = utcnow()
    return {
        "application": application,
        "step": next(s for s in steps_for(application.call) if s.slug == step),
        "steps": steps_for(application.call),
        "missing": applications.missing_answers(application),
        "editable": application.state == ApplicationState.DRAFT.value and application.call.is_open(now),
        "now": now,
    }
