"""Forms of the reviewer's pages. Formats are checked here; the rules (the criterion's scale and
step, what submitting requires, the deadline) are the service's, so they hold for every caller."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    IntegerField,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from incubator.domain.applications import FOCUS_AREAS
from incubator.models import Criterion
from incubator.services.reviews import (
    MAX_AFFILIATION_LENGTH,
    MAX_COMMENT_LENGTH,
    MAX_EXPERTISE_LENGTH,
    MAX_LOAD_LIMIT,
)
from incubator.web.forms import translated_choices

CONFIDENCE_CHOICES = [
    ("", _l("— choose —")),
    ("1", _l("1 — outside my expertise")),
    ("2", _l("2 — some familiarity")),
    ("3", _l("3 — familiar with the field")),
    ("4", _l("4 — knowledgeable")),
    ("5", _l("5 — expert in this area")),
]


def _strip(value: str | None) -> str:
    return value.strip() if isinstance(value, str) else ""


MAX_SCORE_MAGNITUDE = Decimal("999.99")
MIN_SCORE_ADJUSTED_EXPONENT = -30  # 1E-1000000 is no score either


def show_number(value: Decimal) -> str:
    """4.50 → "4.5", 3.00 → "3": levels the way people write them."""
    text = format(value.normalize(), "f")
    return text


def parse_score(value: str) -> Decimal | None:
    """A posted score as a Decimal; empty means "not scored yet"."""
    value = value.strip()
    if not value:
        return None
    number = Decimal(value)  # raises InvalidOperation for anything not a number
    if not number.is_finite():
        raise InvalidOperation(value)
    # A score column holds NUMERIC(5,2); beyond it, checking the scale's step overflowed
    # Decimal arithmetic (1E+1000000) before the scale rule could say "outside the scale".
    if number.copy_abs() > MAX_SCORE_MAGNITUDE or number.adjusted() < MIN_SCORE_ADJUSTED_EXPONENT:
        raise InvalidOperation(value)
    return number


class ScoreField(RadioField):
    """A criterion's radio group of allowed levels.

    Any number is accepted here, even one off the scale: whether it is allowed is the scoring
    rule's to say, in the criterion's words. Only something that is not a number at all is
    refused here, with the criterion named.
    """

    def __init__(self, *args: Any, criterion_name: str = "", **kwargs: Any) -> None:
        kwargs.setdefault("validate_choice", False)
        super().__init__(*args, coerce=str, **kwargs)
        self.criterion_name = criterion_name
        self.score: Decimal | None = None

    def process_formdata(self, valuelist: list[Any]) -> None:
        if not valuelist:
            return
        self.data = str(valuelist[0])
        try:
            self.score = parse_score(self.data)
        except InvalidOperation as error:
            raise ValueError(_("%(criterion)s: give a number.", criterion=self.criterion_name)) from error

    def process_data(self, value: Any) -> None:
        self.score = value if isinstance(value, Decimal) else None
        self.data = show_number(value) if isinstance(value, Decimal) else ""


def allowed_levels(criterion: Criterion) -> list[Decimal]:
    levels, value = [], Decimal(criterion.scale_min)
    while value <= criterion.scale_max:
        levels.append(value)
        value += criterion.step
    return levels


def level_label(criterion: Criterion, level: Decimal) -> str:
    """"3 — Good: …" for a whole level with a descriptor; just the number otherwise (half points)."""
    descriptor = criterion.descriptors.get(show_number(level)) if level == level.to_integral_value() else None
    return f"{show_number(level)} — {descriptor}" if descriptor else show_number(level)


class ReviewForm(FlaskForm):
    """The review; ``review_form_for`` adds one ``score_<criterion id>`` field per criterion."""

    criteria: Sequence[Criterion] = ()

    comment_committee = TextAreaField(
        _l("Comment for the committee"),
        validators=[Optional(), Length(max=MAX_COMMENT_LENGTH,
                                       message=_l("Use at most %(max)d characters.", max=MAX_COMMENT_LENGTH))],
        filters=[_strip],
        description=_l("Strengths, weaknesses and what the committee should discuss. Required to submit."),
        render_kw={"rows": 6, "maxlength": MAX_COMMENT_LENGTH},
    )
    comment_applicant = TextAreaField(
        _l("Comment for the applicant (optional)"),
        validators=[Optional(), Length(max=MAX_COMMENT_LENGTH,
                                       message=_l("Use at most %(max)d characters.", max=MAX_COMMENT_LENGTH))],
        filters=[_strip],
        description=_l("May be quoted in the decision letter if the programme manager chooses so."),
        render_kw={"rows": 4, "maxlength": MAX_COMMENT_LENGTH},
    )
    confidence = SelectField(_l("Your confidence in this review"), choices=CONFIDENCE_CHOICES, default="",
                             description=_l("Required to submit."))
    save_draft = SubmitField(_l("Save draft"))
    submit_review = SubmitField(_l("Submit review"))

    def score_fields(self) -> list[tuple[Criterion, ScoreField]]:
        return [(criterion, self[f"score_{criterion.id}"]) for criterion in self.criteria]

    def scores(self) -> dict[int, Decimal | None]:
        return {criterion.id: field.score for criterion, field in self.score_fields()}

    def confidence_value(self) -> int | None:
        return int(self.confidence.data) if self.confidence.data else None


def review_form_for(criteria: Sequence[Criterion], **kwargs: Any) -> ReviewForm:
    """A ReviewForm with a radio group per criterion of the call, in rubric order."""

    class CallReviewForm(ReviewForm):
        pass

    for criterion in criteria:
        choices = [("", _("Not scored yet"))]
        choices += [(show_number(level), level_label(criterion, level)) for level in allowed_levels(criterion)]
        setattr(CallReviewForm, f"score_{criterion.id}",
                ScoreField(criterion.name, choices=choices, default=None, criterion_name=criterion.name,
                           description=criterion.description))
    form = CallReviewForm(**kwargs)
    form.criteria = list(criteria)
    return form


class ConflictForm(FlaskForm):
    reason = TextAreaField(
        _l("Why you have a conflict of interest"),
        validators=[DataRequired(message=_l("Say briefly why there is a conflict.")),
                    Length(max=2000, message=_l("Use at most %(max)d characters.", max=2000))],
        filters=[_strip],
        description=_l("E.g. a shareholding, a family tie, a recent collaboration or a competing company."),
        render_kw={"rows": 3, "maxlength": 2000},
    )
    whole_company = BooleanField(_l("The whole company: I cannot review any application from it"))
    declare = SubmitField(_l("Declare conflict"))


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class ProfileForm(FlaskForm):
    focus_areas = MultiCheckboxField(_l("Focus areas you can review"), choices=translated_choices(FOCUS_AREAS))
    expertise = TextAreaField(
        _l("Expertise"),
        validators=[Optional(), Length(max=MAX_EXPERTISE_LENGTH,
                                       message=_l("Use at most %(max)d characters.", max=MAX_EXPERTISE_LENGTH))],
        filters=[_strip],
        description=_l("Fields, methods and industries you know well; used to suggest assignments."),
        render_kw={"rows": 5, "maxlength": MAX_EXPERTISE_LENGTH},
    )
    max_load = IntegerField(
        _l("Most applications you can review per call"),
        validators=[InputRequired(message=_l("Enter a whole number from 0 to %(max)d.", max=MAX_LOAD_LIMIT)),
                    NumberRange(min=0, max=MAX_LOAD_LIMIT,
                                message=_l("Enter a whole number from 0 to %(max)d.", max=MAX_LOAD_LIMIT))],
        render_kw={"min": 0, "max": MAX_LOAD_LIMIT, "inputmode": "numeric"},
    )
    affiliation = StringField(
        _l("Affiliation"),
        validators=[Optional(), Length(max=MAX_AFFILIATION_LENGTH,
                                       message=_l("Use at most %(max)d characters.", max=MAX_AFFILIATION_LENGTH))],
        filters=[_strip],
        description=_l("Your employer or institution; it helps find conflicts of interest early."),
        render_kw={"autocomplete": "organization"},
    )
    reminders_paused = BooleanField(
        _l("Pause my review reminders (for example while on leave)"),
        description=_l("No reminder emails until you untick this; your due dates stay as they are."))
    save = SubmitField(_l("Save profile"))


class DiscussionForm(FlaskForm):
    body = TextAreaField(_l("Add to the committee's discussion"), render_kw={"rows": 3}, validators=[
        DataRequired(message=_l("Write something before posting.")), Length(max=5000)])
    submit = SubmitField(_l("Post"))
