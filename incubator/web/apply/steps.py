"""What every page of the application steps needs: the public call, the signed-in applicant's
own application and the context the step templates share.

The step routes, the attachment posts and the team pages all use these; keeping them here
lets each of those modules import them without importing another.
"""

from __future__ import annotations

from typing import Any

from flask import abort
from flask_login import current_user
from sqlalchemy import select

from incubator.database import utcnow
from incubator.domain.applications import STEPS, ApplicationState, Step
from incubator.domain.membership import Permission
from incubator.extensions import db
from incubator.models import Application, Call
from incubator.services import applications, membership


def load_own_application(application_id: int, permission: Permission = Permission.EDIT) -> Application:
    """An application of the signed-in person's team. Anyone off the team (a removed member
    too) gets 'not found', not 'forbidden', so ids reveal nothing; a member whose role does not
    allow ``permission`` (a viewer editing) gets 'forbidden'."""
    try:
        return membership.application_for(current_user, application_id, permission)
    except membership.NotMember:
        abort(404)
    except membership.NotPermitted:
        abort(403)


def load_call(slug: str) -> Call:
    """A call the public may see: drafts, and calls not yet opened, are 'not found'."""
    call = db.session.scalar(select(Call).where(Call.slug == slug))
    if call is None or not call.is_public(utcnow()):
        abort(404)
    return call


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
        "editable": (application.state == ApplicationState.DRAFT.value and application.call.is_open(now)
                     and membership.can(current_user, application, Permission.EDIT)),
        "now": now,
    }
