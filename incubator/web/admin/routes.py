"""Administrators' pages: accounts, the outbox and the audit log."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import func, or_, select

from incubator.domain.roles import Role
from incubator.extensions import db
from incubator.models import AuditEvent, OutboundEmail, User
from incubator.models.outbox import OUTBOX_STATES
from incubator.services import ServiceError, accounts, queries, scope, two_factor
from incubator.web.access import role_required
from incubator.web.admin.forms import ROLE_LABELS, AccountForm, InviteForm, ResetTwoFactorForm
from incubator.web.forms import form_status, show_service_error
from incubator.web.inputs import parse_id, query_int

bp = Blueprint("admin", __name__, url_prefix="/admin")

PAGE_SIZE = 50


def _page_number() -> int:
    return query_int("page", 1)


@bp.route("/users")
@role_required(Role.ADMIN)
def users() -> Any:
    query = select(User).order_by(User.role, User.email)
    search = request.args.get("q", "").strip()[:100]
    role = request.args.get("role", "")
    if search:
        lowered = search.lower()
        query = query.where(
            or_(User.email.contains(lowered, autoescape=True),
                func.lower(User.name).contains(lowered, autoescape=True))
        )
    if role in {r.value for r in Role}:
        query = query.where(User.role == role)
    page = db.paginate(query, page=_page_number(), per_page=PAGE_SIZE, error_out=False)
    return render_template(
        "admin/users.html", page=page, search=search, role=role, role_labels=ROLE_LABELS
    )


@bp.route("/users/invite", methods=["GET", "POST"])
@role_required(Role.ADMIN)
def invite() -> Any:
    form = InviteForm()
    if form.validate_on_submit():
        try:
            user = accounts.invite_user(current_user, form.email.data, form.name.data, Role(form.role.data))
        except ServiceError as error:
            show_service_error(form, error)
        else:
            flash(_("Invitation sent to %(email)s.", email=user.email), "success")
            return redirect(url_for("admin.users"))
    return render_template("admin/invite.html", form=form), form_status(form)


@bp.route("/users/<int:user_id>", methods=["GET", "POST"])
@role_required(Role.ADMIN)
def user_detail(user_id: int) -> Any:
    user = db.session.get(User, user_id) or abort(404)
    form = AccountForm(obj=user)
    form.programmes.choices = scope.programme_choices()
    if not form.is_submitted():
        form.programmes.data = sorted(scope.programmes_of(user) or ())
    if form.validate_on_submit():
        try:
            accounts.change_role(current_user, user, Role(form.role.data))
            accounts.set_account_active(current_user, user, form.active.data)
            scope.set_scope(current_user, user, form.programmes.data or [])
        except ServiceError as error:
            show_service_error(form, error)
        else:
            flash(_("Account of %(email)s saved.", email=user.email), "success")
            return redirect(url_for("admin.users"))
    events = db.session.scalars(
        select(AuditEvent)
        .where(or_(AuditEvent.actor_id == user.id,
                   (AuditEvent.subject_type == "user") & (AuditEvent.subject_id == user.id)))
        .order_by(AuditEvent.id.desc())
        .limit(20)
    ).all()
    return render_template("admin/user_detail.html", form=form, user=user, events=events,
                           role_labels=ROLE_LABELS, reset_form=ResetTwoFactorForm(formdata=None)), form_status(form)


@bp.route("/users/<int:user_id>/two-factor/reset", methods=["POST"])
@role_required(Role.ADMIN)
def reset_two_factor(user_id: int) -> Any:
    user = db.session.get(User, user_id) or abort(404)
    if not ResetTwoFactorForm().validate_on_submit():
        abort(400)
    try:
        two_factor.reset_by_admin(current_user, user)
    except ServiceError as error:
        return render_template("errors/error.html", code=409, title=_("Nothing to reset"),
                               message=_(error.message)), 409
    flash(_("Two-factor sign-in of %(email)s is reset; they set it up again at their next sign-in.",
            email=user.email), "success")
    return redirect(url_for("admin.user_detail", user_id=user.id))


def _before() -> int | None:
    """The keyset of an older page of a log; anything else shows the newest page."""
    return parse_id(request.args.get("before", ""))


@bp.route("/outbox")
@role_required(Role.ADMIN)
def outbox() -> Any:
    status = request.args.get("status", "")
    status = status if status in OUTBOX_STATES else ""
    search = request.args.get("q", "").strip()[:100]
    counts = dict(
        db.session.execute(
            select(OutboundEmail.status, func.count()).group_by(OutboundEmail.status)
        ).all()
    )
    page = queries.outbox_page(status=status, search=search, before=_before())
    return render_template("admin/outbox.html", page=page, status=status, search=search, counts=counts,
                           states=OUTBOX_STATES, before=_before())


@bp.route("/audit")
@role_required(Role.ADMIN)
def audit() -> Any:
    action = request.args.get("action", "").strip()[:80]
    subject = request.args.get("subject", "").strip()[:40]
    subject_id = parse_id(request.args.get("subject_id", ""))
    page = queries.audit_page(action=action, subject_type=subject, subject_id=subject_id, before=_before())
    return render_template("admin/audit.html", page=page, action=action, subject=subject,
                           subject_id=subject_id or "", before=_before())
