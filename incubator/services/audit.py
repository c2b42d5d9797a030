"""Audit trail: one row per state change a person makes."""

from __future__ import annotations

from typing import Any

from flask import has_request_context, request

from incubator.extensions import db
from incubator.models import AuditEvent, User


def record_event(
    actor: User | None,
    action: str,
    subject_type: str,
    subject_id: int | None,
    **details: Any,
) -> AuditEvent:
    event = AuditEvent(
        actor_id=actor.id if actor is not None else None,
        action=action,
        subject_type=subject_type,
        subject_id=subject_id,
        details=details,
        ip_address=request.remote_addr if has_request_context() else None,
    )
    db.session.add(event)
    return event
