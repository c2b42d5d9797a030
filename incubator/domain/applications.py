"""What an application is made of, when it is complete, and who may hold which programme.

Pure data and rules: the steps of the form, the choices offered, the states and the moves
between them, eligibility by the call's rules, and what is still missing before submission.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from incubator.domain.i18n import N_


class ApplicationState(StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    UNDER_REVIEW = "under_review"
    ACCEPTED = "accepted"
    WAITLISTED = "waitlisted"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"


STATE_LABELS: dict[str, str] = {
    "draft": N_("Draft"),
    "submitted": N_("Submitted"),
    "under_review": N_("Under review"),
    "accepted": N_("Accepted"),
    "waitlisted": N_("Waitlisted"),
    "rejected": N_("Not accepted"),
    "withdrawn": N_("Withdrawn"),
}

DECIDED_STATES = frozenset({ApplicationState.ACCEPTED, ApplicationState.WAITLISTED, ApplicationState.REJECTED})
# Withdrawal is possible at any point before a decision, and only then.
WITHDRAWABLE_STATES = frozenset({ApplicationState.DRAFT, ApplicationState.SUBMITTED, ApplicationState.UNDER_REVIEW})
# An account cannot be erased while a committee is looking at one of its applications.
IN_REVIEW_STATES = frozenset({ApplicationState.SUBMITTED, ApplicationState.UNDER_REVIEW})

FOCUS_AREAS: dict[str, str] = {
    "oncology_therapeutics": N_("Oncology therapeutics"),
    "immuno_oncology": N_("Immuno-oncology"),
    "radiopharmaceuticals": N_("Radiopharmaceuticals"),
    "diagnostics": N_("Diagnostics"),
    "digital_health_ai": N_("Digital health / AI"),
    "medtech": N_("Medtech"),
    "other": N_("Other"),
}

DEVELOPMENT_STAGES: dict[str, str] = {
    "idea": N_("Idea / discovery"),
    "preclinical": N_("Preclinical"),
    "clinical_phase_1": N_("Clinical phase I"),
    "clinical_phase_2": N_("Clinical phase II or later"),
    "prototype": N_("Prototype (device, diagnostic or software)"),
    "regulatory": N_("Regulatory approval / CE marking under way"),
    "market": N_("On the market"),
}

RESIDENCY_PURPOSES: dict[str, str] = {
    "lab": N_("Lab space"),
    "office": N_("Office space"),
    "industrial_expertise": N_("Access to industrial expertise"),
    "international_link": N_("An international link"),
}

SPACE_TYPES: dict[str, str] = {
    "office_desk": N_("Office desk"),
    "lab_bench": N_("Lab bench"),
    "office_lab": N_("Office and lab"),
}

RESIDENCY_LENGTHS = (3, 6, 9, 12, 18, 24)


@dataclass(frozen=True)
class Step:
    slug: str
    title: str
    required: tuple[tuple[str, str], ...]  # (field, label) that must be filled to submit


STEPS: tuple[Step, ...] = (
    Step("company", N_("Company"), (("company_name", N_("Company name")), ("country", N_("Country of registration")),
                                ("org_number", N_("Organisation number")), ("founded_year", N_("Year founded")),
                                ("employees", N_("Number of employees")))),
    Step("focus", N_("Focus and stage"), (("focus_area", N_("Focus area")), ("development_stage", N_("Development stage")))),
    Step("team", N_("Team"), (("team", N_("Team")),)),
    Step("project", N_("Project"), (("project_summary", N_("Project summary")), ("unmet_need", N_("Unmet need")))),
    Step("residency", N_("Residency needs"), (("residency_purposes", N_("What the residency is for")),
                                          ("space_type", N_("Space needed")))),
    Step("preferences", N_("Programmes and timing"), (("preferences", N_("Programme preferences")),
                                                  ("desired_start", N_("Desired start month")),
                                                  ("desired_length_months", N_("Desired length")))),
    Step("attachments", N_("Attachments"), (("pitch_deck", N_("Pitch deck (PDF)")),)),
    Step("review", N_("Review and submit"), (("consent", N_("Consent to processing")),)),
)
STEP_SLUGS = tuple(step.slug for step in STEPS)


def missing_by_step(values: Mapping[str, object]) -> dict[str, list[str]]:
    """For each step, the labels of required answers still empty; empty dict = complete."""
    missing: dict[str, list[str]] = {}
    for step in STEPS:
        labels = [label for name, label in step.required if _is_empty(values.get(name))]
        if labels:
            missing[step.slug] = labels
    return missing


def _is_empty(value: object) -> bool:
    if value is None or value is False:
        return True
    if isinstance(value, str | list | tuple | set | dict):
        return len(value) == 0
    return False


@dataclass(frozen=True)
class ProgrammeRule:
    """One programme of a call with the countries its applicants must be registered in."""

    programme_id: int
    name: str
    eligible_countries: tuple[str, ...]  # empty: open to companies from anywhere
    note: str = ""


def ineligibility_reason(rule: ProgrammeRule, country: str | None) -> str | None:
    """Why a company registered in ``country`` cannot apply to this programme, or None."""
    if not rule.eligible_countries:
        return None
    if not country:
        return f"{rule.name} is for companies registered in {_country_list(rule.eligible_countries)}; enter your country of registration first."
    if country.upper() not in rule.eligible_countries:
        return f"{rule.name} is for companies registered in {_country_list(rule.eligible_countries)}."
    return None


def preference_problems(rules: Sequence[ProgrammeRule], country: str | None,
                        ranked_programme_ids: Sequence[int]) -> list[str]:
    """Every reason the ranked choice of programmes is not acceptable."""
    by_id = {rule.programme_id: rule for rule in rules}
    problems: list[str] = []
    if len(set(ranked_programme_ids)) != len(ranked_programme_ids):
        problems.append("Rank each programme at most once.")
    for programme_id in ranked_programme_ids:
        rule = by_id.get(programme_id)
        if rule is None:
            problems.append("One of the chosen programmes is not part of this call.")
            continue
        reason = ineligibility_reason(rule, country)
        if reason:
            problems.append(reason)
    return problems


COUNTRY_NAMES: dict[str, str] = {
    "NO": "Norway", "SE": "Sweden", "DK": "Denmark", "FI": "Finland", "IS": "Iceland",
    "DE": "Germany", "NL": "Netherlands", "BE": "Belgium", "FR": "France", "GB": "United Kingdom",
    "IE": "Ireland", "ES": "Spain", "IT": "Italy", "PT": "Portugal", "AT": "Austria",
    "CH": "Switzerland", "PL": "Poland", "EE": "Estonia", "LV": "Latvia", "LT": "Lithuania",
    "CZ": "Czechia", "HU": "Hungary", "US": "United States", "CA": "Canada", "IL": "Israel",
}


def _country_list(codes: Sequence[str]) -> str:
    names = [COUNTRY_NAMES.get(code, code) for code in codes]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


def normalise_org_number(value: str | None) -> str | None:
    """Organisation numbers are compared without spaces, dots or dashes ("923 609 016" = "923609016")."""
    if value is None:
        return None
    cleaned = "".join(ch for ch in value if ch.isalnum()).upper()
    return cleaned or None
