"""One form per step of the application. Formats are checked here; what is required to
submit is checked at submission (a draft may be saved half-done)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import (
    BooleanField,
    HiddenField,
    IntegerField,
    MonthField,
    SelectField,
    SelectMultipleField,
    StringField,
    SubmitField,
    TextAreaField,
    URLField,
)
from wtforms.validators import DataRequired, Length, NumberRange, Optional, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from incubator.domain.applications import (
    DEVELOPMENT_STAGES,
    FOCUS_AREAS,
    RESIDENCY_LENGTHS,
    RESIDENCY_PURPOSES,
    SPACE_TYPES,
)
from incubator.web.forms import country_choices, translated_choices

CHOOSE = ("", _l("— choose —"))


def _strip(value: str | None) -> str | None:
    if isinstance(value, str):
        value = value.strip()
        return value or None
    return value


def _text(label: str, max_length: int, description: str | None = None) -> TextAreaField:
    return TextAreaField(
        label,
        validators=[Optional(), Length(max=max_length, message=_l("Use at most %(max)d characters.", max=max_length))],
        filters=[_strip],
        description=description,
        render_kw={"rows": 6, "maxlength": max_length},
    )


class SaveButtons:
    save = SubmitField(_l("Save and continue"))


class CompanyForm(FlaskForm, SaveButtons):
    company_name = StringField(_l("Company name"), validators=[Optional(), Length(max=200)], filters=[_strip],
                               render_kw={"autocomplete": "organization"})
    country = SelectField(_l("Country of registration"),
                          choices=[CHOOSE, *country_choices()], default="")
    org_number = StringField(_l("Organisation number"), validators=[Optional(), Length(max=40)], filters=[_strip],
                             description=_l("As in the national business register, e.g. 923 609 016."))
    founded_year = IntegerField(_l("Year founded"), validators=[Optional(), NumberRange(
        min=1900, max=dt.date.today().year, message=_l("Enter a year between 1900 and this year."))])
    employees = IntegerField(_l("Number of employees"), validators=[Optional(), NumberRange(
        min=0, max=100_000, message=_l("Enter a whole number from 0."))])
    website = URLField(_l("Website"), validators=[Optional(), Length(max=300)], filters=[_strip],
                       description=_l("Starting with https://"))

    def validate_website(self, field: URLField) -> None:
        if field.data and not field.data.lower().startswith(("http://", "https://")):
            raise ValidationError(_l("Enter a web address starting with https://"))


class FocusForm(FlaskForm, SaveButtons):
    focus_area = SelectField(_l("Focus area"), choices=[CHOOSE, *translated_choices(FOCUS_AREAS)], default="")
    development_stage = SelectField(_l("Development stage"), choices=[CHOOSE, *translated_choices(DEVELOPMENT_STAGES)], default="")
    funding_raised_eur = IntegerField(_l("Funding raised so far (EUR)"), validators=[Optional(), NumberRange(
        min=0, max=2_000_000_000, message=_l("Enter an amount in euros, without spaces or dots."))])


class TeamForm(FlaskForm, SaveButtons):
    team = _text(_l("Team"), 5000, _l("Founders and key people: roles, background, time committed, advisers."))


class ProjectForm(FlaskForm, SaveButtons):
    project_summary = _text(_l("Project summary"), 5000, _l("What you develop, the science behind it, and where it stands."))
    unmet_need = _text(_l("Unmet need"), 3000, _l("Which patients or clinicians need it, and why current options fall short."))


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class ResidencyForm(FlaskForm, SaveButtons):
    residency_purposes = MultiCheckboxField(_l("What the residency is for"), choices=translated_choices(RESIDENCY_PURPOSES))
    space_type = SelectField(_l("Space needed"), choices=[CHOOSE, *translated_choices(SPACE_TYPES)], default="")
    space_needs = _text(_l("Space needs in detail"), 2000, _l("Desks, lab type and safety level, equipment."))


class PreferencesForm(FlaskForm, SaveButtons):
    first_choice = SelectField(_l("First choice"), choices=[CHOOSE], default="")
    second_choice = SelectField(_l("Second choice (optional)"), choices=[CHOOSE], default="")
    desired_start = MonthField(_l("Desired start month"), validators=[Optional()],
                               description=_l("Format: YYYY-MM"))
    desired_length_months = SelectField(
        _l("Desired length"), choices=[CHOOSE, *((str(n), _l("%(n)d months", n=n)) for n in RESIDENCY_LENGTHS)],
        default="")

    def set_programmes(self, programmes: list[tuple[int, str]]) -> None:
        options = [(str(programme_id), name) for programme_id, name in programmes]
        self.first_choice.choices = [CHOOSE, *options]
        self.second_choice.choices = [CHOOSE, *options]

    def ranked_programme_ids(self) -> list[int]:
        ranked = [self.first_choice.data, self.second_choice.data]
        return [int(value) for value in ranked if value]

    def validate_second_choice(self, field: SelectField) -> None:
        if field.data and not self.first_choice.data:
            raise ValidationError(_l("Choose a first choice before a second one."))
        if field.data and field.data == self.first_choice.data:
            raise ValidationError(_l("Choose a different programme than your first choice, or none."))

    def validate_desired_start(self, field: MonthField) -> None:
        if field.data and field.data < dt.date.today().replace(day=1):
            raise ValidationError(_l("Choose a month from now on."))


class QuestionsForm(FlaskForm, SaveButtons):
    """CSRF and the save button; the call's own questions are read from the request by id,
    since each call asks different ones."""


class SubmitForm(FlaskForm):
    consent = BooleanField(_l("I consent to Oslo Cancer Cluster processing this application and sharing it with "
                              "the reviewers and, for the exchange, with AstraZeneca BioVentureHub."))
    submit = SubmitField(_l("Submit application"))


class WithdrawForm(FlaskForm):
    reason = TextAreaField(_l("Reason (optional)"), validators=[Optional(), Length(max=2000)], filters=[_strip],
                           render_kw={"rows": 3})
    submit = SubmitField(_l("Withdraw application"))


class StartForm(FlaskForm):
    submit = SubmitField(_l("Start an application"))


STEP_FORMS: dict[str, type[FlaskForm]] = {
    "company": CompanyForm,
    "focus": FocusForm,
    "team": TeamForm,
    "project": ProjectForm,
    "residency": ResidencyForm,
    "preferences": PreferencesForm,
}


KIND_CHOICES = [("pitch_deck", _l("Pitch deck")), ("other", _l("Other document"))]


class AttachmentUploadForm(FlaskForm):
    kind = SelectField(_l("Kind of document"), choices=KIND_CHOICES, default="pitch_deck",
                       description=_l("A new pitch deck replaces the one uploaded before."))
    file = FileField(_l("PDF file"),
                     validators=[FileRequired(message=_l("Choose a PDF file to upload."))],
                     render_kw={"accept": "application/pdf,.pdf"})
    submit = SubmitField(_l("Upload"))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.file.description = _("PDF only, up to %(mb)d MB.", mb=max_upload_mb())


def max_upload_mb() -> int:
    return max(current_app.config["MAX_UPLOAD_BYTES"] // (1024 * 1024), 1)


class JoinForm(FlaskForm):
    country = HiddenField(validators=[DataRequired(), Length(max=2)])
    org_number = HiddenField(validators=[DataRequired(), Length(max=40)])
    ask = SubmitField(_l("Ask to join that application"))
