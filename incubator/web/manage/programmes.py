"""Managers' pages for programmes, their partner organisations, and sites."""

from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from sqlalchemy.orm import selectinload
from wtforms import SelectField, StringField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, Length

from incubator.domain.roles import Role
from incubator.extensions import db
from incubator.models import Partner, Programme, Site
from incubator.services import ServiceError
from incubator.services import programmes as service
from incubator.web.access import role_required
from incubator.web.forms import country_choices, form_status, show_service_error
from incubator.web.manage.routes import bp

PAGE_SIZE = 25


def _page_number() -> int:
    return max(request.args.get("page", 1, type=int) or 1, 1)


class SiteForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(message=_l("Give the site a name.")), Length(max=200)])
    organisation = StringField(_l("Organisation"), validators=[DataRequired(message=_l("Name the organisation.")),
                                                               Length(max=200)])
    city = StringField(_l("City"), validators=[DataRequired(message=_l("Name the city.")), Length(max=100)])
    country = SelectField(_l("Country"), choices=[("", _l("— choose —")), *country_choices()])
    timezone = StringField(_l("Time zone"), default="Europe/Oslo",
                           validators=[DataRequired(message=_l("Give the time zone.")), Length(max=64)],
                           description=_l("An IANA time zone name, like Europe/Oslo or Europe/Stockholm."))
    submit = SubmitField(_l("Save site"))


class ProgrammeForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(message=_l("Give the programme a name.")),
                                               Length(max=200)])
    slug = StringField(_l("Slug"), validators=[DataRequired(message=_l("Give the programme a slug.")),
                                               Length(max=80)],
                       description=_l("Lowercase letters, digits and hyphens, like occ-incubator."))
    partner_id = SelectField(_l("Partner organisation that runs it"), coerce=int)
    host_site_id = SelectField(_l("Host site"), coerce=int)
    summary = TextAreaField(_l("Summary"), validators=[Length(max=5000)], render_kw={"rows": 3})
    offers = TextAreaField(_l("What residents get, one per line"), validators=[Length(max=2000)],
                           render_kw={"rows": 3})
    exchange_for_country = SelectField(
        _l("Exchange for companies from"), default="",
        choices=[("", _l("— not part of an exchange —")), *country_choices()],
        description=_l("Stays of companies from this country count in the exchange report, e.g. BioVentureHub "
                       "in Gothenburg for companies from Norway."))
    submit = SubmitField(_l("Save programme"))

    def set_choices(self) -> None:
        partners = db.session.scalars(select(Partner).order_by(Partner.name)).all()
        sites = db.session.scalars(select(Site).order_by(Site.name)).all()
        self.partner_id.choices = [(0, _("— choose —"))] + [(p.id, p.name) for p in partners]
        self.host_site_id.choices = [(0, _("— choose —"))] + [(s.id, s.name) for s in sites]


class PartnerForm(FlaskForm):
    name = StringField(_l("New partner organisation"),
                       validators=[DataRequired(message=_l("Give the partner organisation a name.")),
                                   Length(max=200)])
    submit = SubmitField(_l("Add partner"))


class DeleteForm(FlaskForm):
    submit = SubmitField(_l("Delete"))


def _programmes_page(partner_form: PartnerForm, status: int = 200) -> Any:
    query = select(Programme).options(selectinload(Programme.host_site), selectinload(Programme.partner)) \
        .order_by(Programme.name)
    page = db.paginate(query, page=_page_number(), per_page=PAGE_SIZE, error_out=False)
    partners = db.session.scalars(select(Partner).order_by(Partner.name)).all()
    return render_template("manage/programmes.html", page=page, partners=partners, partner_form=partner_form), status


@bp.route("/programmes")
@role_required(Role.MANAGER)
def programmes() -> Any:
    return _programmes_page(PartnerForm())


@bp.route("/programmes/partners", methods=["POST"])
@role_required(Role.MANAGER)
def add_partner() -> Any:
    form = PartnerForm()
    if form.validate_on_submit():
        try:
            service.create_partner(current_user, form.name.data)
        except ServiceError as error:
            show_service_error(form, error)
        else:
            flash(_("Partner added."), "success")
            return redirect(url_for("manage.programmes"))
    return _programmes_page(form, 400)


def _programme_input(form: ProgrammeForm) -> service.ProgrammeInput:
    return service.ProgrammeInput(
        name=form.name.data or "", slug=(form.slug.data or "").strip(), host_site_id=form.host_site_id.data or 0,
        partner_id=form.partner_id.data or 0, summary=form.summary.data or "",
        offers=(form.offers.data or "").splitlines(), exchange_for_country=form.exchange_for_country.data or "")


def _edit_programme(programme: Programme | None) -> Any:
    if programme is not None and request.method == "GET":
        form = ProgrammeForm(obj=programme, offers="\n".join(programme.offers))
        form.partner_id.data = programme.partner_id or 0
        form.exchange_for_country.data = programme.exchange_for_country or ""
    else:
        form = ProgrammeForm()
    form.set_choices()
    if form.validate_on_submit():
        try:
            service.save_programme(current_user, _programme_input(form), programme)
        except ServiceError as error:
            show_service_error(form, error)
        else:
            flash(_("Programme saved."), "success")
            return redirect(url_for("manage.programmes"))
    return render_template("manage/programme_form.html", form=form, programme=programme,
                           delete_form=DeleteForm()), form_status(form)


@bp.route("/programmes/new", methods=["GET", "POST"])
@role_required(Role.MANAGER)
def new_programme() -> Any:
    return _edit_programme(None)


@bp.route("/programmes/<int:programme_id>/edit", methods=["GET", "POST"])
@role_required(Role.MANAGER)
def edit_programme(programme_id: int) -> Any:
    return _edit_programme(db.session.get(Programme, programme_id) or abort(404))


@bp.route("/programmes/<int:programme_id>/delete", methods=["POST"])
@role_required(Role.MANAGER)
def delete_programme(programme_id: int) -> Any:
    programme = db.session.get(Programme, programme_id) or abort(404)
    if not DeleteForm().validate_on_submit():
        abort(400)
    try:
        service.delete_programme(current_user, programme)
    except ServiceError as error:
        db.session.rollback()
        flash(error.message, "danger")
        return _programmes_page(PartnerForm(), 409)
    flash(_("Programme deleted."), "info")
    return redirect(url_for("manage.programmes"))


@bp.route("/sites")
@role_required(Role.MANAGER)
def sites() -> Any:
    return _sites_page()


def _sites_page(status: int = 200) -> Any:
    page = db.paginate(select(Site).order_by(Site.name), page=_page_number(), per_page=PAGE_SIZE, error_out=False)
    return render_template("manage/sites.html", page=page), status


def _site_input(form: SiteForm) -> service.SiteInput:
    return service.SiteInput(name=form.name.data or "", organisation=form.organisation.data or "",
                             city=form.city.data or "", country=form.country.data or "",
                             timezone=(form.timezone.data or "").strip())


def _edit_site(site: Site | None) -> Any:
    form = SiteForm(obj=site) if site is not None and request.method == "GET" else SiteForm()
    if form.validate_on_submit():
        try:
            service.save_site(current_user, _site_input(form), site)
        except ServiceError as error:
            show_service_error(form, error)
        else:
            flash(_("Site saved."), "success")
            return redirect(url_for("manage.sites"))
    return render_template("manage/site_form.html", form=form, site=site, delete_form=DeleteForm()), form_status(form)


@bp.route("/sites/new", methods=["GET", "POST"])
@role_required(Role.MANAGER)
def new_site() -> Any:
    return _edit_site(None)


@bp.route("/sites/<int:site_id>/edit", methods=["GET", "POST"])
@role_required(Role.MANAGER)
def edit_site(site_id: int) -> Any:
    return _edit_site(db.session.get(Site, site_id) or abort(404))


@bp.route("/sites/<int:site_id>/delete", methods=["POST"])
@role_required(Role.MANAGER)
def delete_site(site_id: int) -> Any:
    site = db.session.get(Site, site_id) or abort(404)
    if not DeleteForm().validate_on_submit():
        abort(400)
    try:
        service.delete_site(current_user, site)
    except ServiceError as error:
        db.session.rollback()
        flash(error.message, "danger")
        return _sites_page(409)
    flash(_("Site deleted."), "info")
    return redirect(url_for("manage.sites"))
