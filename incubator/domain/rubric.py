"""The default rubric, modelled on the Horizon Europe and Research Council of Norway scales.

Both score each criterion 0–5 with a published meaning per level and allow half points;
both set thresholds below which a proposal is not funded whatever its total.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

LEVEL_DESCRIPTORS: dict[str, str] = {
    "0": "Fails to address the criterion, or it cannot be assessed for missing information.",
    "1": "Poor: the criterion is inadequately addressed, or there are serious weaknesses.",
    "2": "Fair: broadly addresses the criterion, but there are significant weaknesses.",
    "3": "Good: addresses the criterion well, with a number of shortcomings.",
    "4": "Very good: addresses the criterion very well, with a small number of shortcomings.",
    "5": "Excellent: addresses all aspects of the criterion; any shortcomings are minor.",
}


@dataclass(frozen=True)
class CriterionSpec:
    name: str
    description: str
    weight: Decimal
    scale_min: Decimal = Decimal(0)
    scale_max: Decimal = Decimal(5)
    step: Decimal = Decimal("0.5")
    threshold: Decimal | None = None
    descriptors: dict[str, str] = field(default_factory=lambda: dict(LEVEL_DESCRIPTORS))


DEFAULT_RUBRIC: tuple[CriterionSpec, ...] = (
    CriterionSpec(
        "Team",
        "Competence, completeness and commitment of the team; advisers and board; ability to execute.",
        Decimal(20),
        threshold=Decimal(3),
    ),
    CriterionSpec(
        "Science and innovation",
        "Scientific quality and novelty of the approach; strength of the data so far; "
        "how far it goes beyond the state of the art in cancer care.",
        Decimal(20),
        threshold=Decimal(3),
    ),
    CriterionSpec(
        "IP position",
        "Ownership, protection and freedom to operate of the key intellectual property.",
        Decimal(15),
    ),
    CriterionSpec(
        "Market and unmet need",
        "Size and clarity of the unmet medical need; patients and payers addressed; "
        "competitive landscape and route to market.",
        Decimal(15),
    ),
    CriterionSpec(
        "Stage and feasibility",
        "Development stage, realistic milestones for the residency period, funding runway and risks.",
        Decimal(15),
    ),
    CriterionSpec(
        "Fit with the cluster",
        "Need for and benefit from industrial expertise, labs and partners in the cluster or "
        "at BioVentureHub; what the company brings to the community.",
        Decimal(15),
    ),
)
