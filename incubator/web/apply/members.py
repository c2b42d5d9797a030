"""The team on an application: who is on it, invitations, join requests, ownership, leaving.

Every view reads the application through ``load_own_application`` (the membership rules), and
each change is one call into ``services.membership``.
"""

from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import BooleanField, SelectField, SubmitField

from incubator.database import utcnow
from incubator.domain.membership import ROLE_LABELS, Permission
from incubator.domain.roles import Role
from incubator.extensions import db
from incubator.models import Application
from incubator.services import ServiceError, membership
from incubator.web.access import login_required, role_required
from incubator.web.apply import bp
from incubator.web.apply.forms import JoinForm
from incubator.web.apply.steps import load_call, load_own_application
from incubator.web.forms import email_field, form_status, show_service_error


def _role_choices() -> list[tuple[str, Any]]:
    return [("editor", _l("Editor: edits and submits")), ("viewer", _l("Viewer: reads only"))]


class InviteForm(FlaskForm):
    email = email_field(_l("Their email address"))
    role = SelectField(_l("Role"), choices=_role_choices, default="editor")
    invite = SubmitField(_l("Send the invitation"))


class MemberForm(FlaskForm):
    role = SelectField(_l("Role"), choices=_role_choices)
    may_respond = BooleanField(_l("May answer offers and withdraw"))
    change = SubmitField(_l("Save"))


class ConfirmForm(FlaskForm):
    """A button whose meaning is the URL it posts to (remove, transfer, leave)."""

    confirm = SubmitField(_l("Confirm"))


class DecideRequestForm(FlaskForm):
    decision = SelectField(_l("Answer"), choices=[("approve", _l("Add as editor")), ("decline", _l("Decline"))])
    answer = SubmitField(_l("Answer"))


class AcceptInvitationForm(FlaskForm):
    accept = SubmitField(_l("Join the application"))


def _page(application: Application, invite_form: InviteForm | None = None, status: int = 200) -> Any:
    manage = membership.can(current_user, application, Permission.MANAGE)
    return render_template(
        "apply/members.html", application=application, manage=manage,
        my_role=membership.role_of(current_user, application), role_labels=ROLE_LABELS,
        invite_form=invite_form or InviteForm(), confirm_form=ConfirmForm(),
        member_forms={member.id: MemberForm(prefix=f"m{member.id}", role=member.role,
                                            may_respond=member.may_respond) for member in application.members},
        requests=membership.pending_requests(application) if manage else [],
        decide_form=DecideRequestForm(),
    ), status


def _back(application: Application) -> Any:
    return redirect(url_for("apply.members", application_id=application.id))


def _change(application_id: int, form: FlaskForm, change: Any, done: str) -> Any:
    """Run one owner's change from a posted form: a refusal is shown on the team page (409)."""
    application = load_own_application(application_id, Permission.MANAGE)
    if not form.validate_on_submit():
        abort(400)
    try:
        change(application)
    except ServiceError as error:
        db.session.rollback()
        flash(error.message, "danger")
        return _page(load_own_application(application_id, Permission.READ), status=409)
    flash(done, "success")
    return _back(application)


@bp.route("/applications/<int:application_id>/members")
@role_required(Role.APPLICANT)
def members(application_id: int) -> Any:
    return _page(load_own_application(application_id, Permission.READ))


@bp.route("/applications/<int:application_id>/members/invite", methods=["POST"])
@role_required(Role.APPLICANT)
def invite_member(application_id: int) -> Any:
    application = load_own_application(application_id, Permission.MANAGE)
    form = InviteForm()
    if form.validate_on_submit():
        try:
            membership.invite(current_user, application, form.email.data, form.role.data, utcnow())
        except ServiceError as error:
            show_service_error(form, error)
            return _page(load_own_application(application_id, Permission.MANAGE), form, 409)
        flash(_("Invitation sent to %(email)s.", email=form.email.data), "success")
        return _back(application)
    return _page(application, form, form_status(form))


@bp.route("/applications/<int:application_id>/members/<int:member_id>", methods=["POST"])
@role_required(Role.APPLICANT)
def change_member(application_id: int, member_id: int) -> Any:
    form = MemberForm(prefix=f"m{member_id}")
    return _change(application_id, form, lambda application: membership.set_member_role(
        current_user, application, member_id, form.role.data, bool(form.may_respond.data)), _("Saved."))


@bp.route("/applications/<int:application_id>/members/<int:member_id>/remove", methods=["POST"])
@role_required(Role.APPLICANT)
def remove_member(application_id: int, member_id: int) -> Any:
    return _change(application_id, ConfirmForm(), lambda application: membership.remove_member(
        current_user, application, member_id), _("The member was removed from the application."))


@bp.route("/applications/<int:application_id>/members/<int:member_id>/transfer", methods=["POST"])
@role_required(Role.APPLICANT)
def transfer_ownership(application_id: int, member_id: int) -> Any:
    return _change(application_id, ConfirmForm(), lambda application: membership.transfer_ownership(
        current_user, application, member_id), _("The ownership was transferred."))


@bp.route("/applications/<int:application_id>/join-requests/<int:request_id>", methods=["POST"])
@role_required(Role.APPLICANT)
def decide_join_request(application_id: int, request_id: int) -> Any:
    form = DecideRequestForm()
    return _change(application_id, form, lambda application: membership.decide_request(
        current_user, application, request_id, form.decision.data == "approve", utcnow()), _("Answered."))


@bp.route("/applications/<int:application_id>/leave", methods=["POST"])
@role_required(Role.APPLICANT)
def leave(application_id: int) -> Any:
    application = load_own_application(application_id, Permission.READ)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        membership.leave(current_user, application)
    except ServiceError as error:
        db.session.rollback()
        flash(error.message, "danger")
        return _page(load_own_application(application_id, Permission.READ), status=409)
    flash(_("You left the application."), "info")
    return redirect(url_for("main.dashboard"))


@bp.route("/calls/<slug>/join", methods=["POST"])
@role_required(Role.APPLICANT)
def request_to_join(slug: str) -> Any:
    call = load_call(slug)
    form = JoinForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        membership.request_to_join(current_user, call, form.country.data, form.org_number.data, utcnow())
    except ServiceError as error:
        db.session.rollback()
        flash(error.message, "danger")
        return redirect(url_for("apply.call_detail", slug=call.slug))
    flash(_("Your request is sent. The owner of the application will be asked to add you."), "success")
    return redirect(url_for("main.dashboard"))


@bp.route("/invitations/<token>", methods=["GET", "POST"])
@login_required
def invitation(token: str) -> Any:
    now = utcnow()
    found = membership.find_invitation(token, now)
    form = AcceptInvitationForm()
    if found is None:
        return render_template("apply/invitation.html", invitation=None, form=None), 404
    application = db.session.get(Application, found.application_id)
    if form.validate_on_submit():
        try:
            application = membership.accept_invitation(current_user, token, now)
        except ServiceError as error:
            db.session.rollback()
            flash(error.message, "danger")
            return render_template("apply/invitation.html", invitation=found, application=application,
                                   form=form), 409
        flash(_("You joined the application."), "success")
        return redirect(url_for("apply.show_application", application_id=application.id))
    return render_template("apply/invitation.html", invitation=found, application=application, form=form,
                           role_labels=ROLE_LABELS), form_status(form)
