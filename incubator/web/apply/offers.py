"""The startup's offer page: accept or decline a residency place before the deadline."""

from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import SubmitField

from incubator.database import utcnow
from incubator.domain.membership import Permission
from incubator.domain.roles import Role
from incubator.extensions import db
from incubator.models import Offer
from incubator.services import ServiceError, membership, offers
from incubator.web.access import role_required
from incubator.web.apply import bp


class AcceptForm(FlaskForm):
    submit = SubmitField(_l("Accept the place"))


class DeclineForm(FlaskForm):
    submit = SubmitField(_l("Decline the offer"))


def load_own_offer(offer_id: int, permission: Permission = Permission.READ) -> Offer:
    """An offer to the signed-in person's team; anyone else's is 'not found', so ids reveal
    nothing. The whole team reads it; answering needs the owner or a member allowed to."""
    offer = db.session.get(Offer, offer_id)
    if offer is None or membership.role_of(current_user, offer.application) is None:
        abort(404)
    if not membership.can(current_user, offer.application, permission):
        abort(403)
    return offer


def _page(offer: Offer, error: str | None = None, status: int = 200) -> Any:
    now = utcnow()
    return render_template("apply/offer.html", offer=offer, application=offer.application, slot=offer.slot, now=now,
                           answerable=offer.state == "offered" and now < offer.response_deadline,
                           may_respond=membership.can(current_user, offer.application, Permission.RESPOND),
                           accept_form=AcceptForm(), decline_form=DeclineForm(), error=error), status


@bp.route("/offers/<int:offer_id>")
@role_required(Role.APPLICANT)
def offer(offer_id: int) -> Any:
    return _page(load_own_offer(offer_id))


def _answer(offer_id: int, form: FlaskForm, accept: bool) -> Any:
    offer = load_own_offer(offer_id, Permission.RESPOND)
    if not form.validate_on_submit():
        return _page(offer, _("Your form expired or did not come from this site. Submit it again."), 400)
    try:
        if accept:
            offers.accept_offer(current_user, offer, utcnow())
        else:
            offers.decline_offer(current_user, offer, utcnow())
    except offers.OfferNotFound:
        abort(404)
    except ServiceError as error:
        db.session.rollback()  # nothing half-done; show the offer as it really stands
        return _page(load_own_offer(offer_id), error.message, 409)
    if accept:
        flash(_("You accepted the place. Welcome! A confirmation is on its way by email."), "success")
    else:
        flash(_("You declined the offer. Thank you for letting us know."), "info")
    return redirect(url_for("apply.offer", offer_id=offer_id))


@bp.route("/offers/<int:offer_id>/accept", methods=["POST"])
@role_required(Role.APPLICANT)
def accept_offer(offer_id: int) -> Any:
    return _answer(offer_id, AcceptForm(), accept=True)


@bp.route("/offers/<int:offer_id>/decline", methods=["POST"])
@role_required(Role.APPLICANT)
def decline_offer(offer_id: int) -> Any:
    return _answer(offer_id, DeclineForm(), accept=False)
