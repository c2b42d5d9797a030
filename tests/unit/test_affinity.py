"""Tests for incubator.domain.affinity: range, ranking by focus and by text, empty texts."""

from __future__ import annotations

import numpy as np
import pytest

from incubator.domain.affinity import (
    FOCUS_WEIGHT,
    TEXT_WEIGHT,
    ApplicationTopics,
    ReviewerInterests,
    affinity_matrix,
    application_text,
    focus_matrix,
    text_similarity,
)

IMMUNO_EXPERT = ReviewerInterests(
    ["immuno_oncology", "oncology_therapeutics"],
    "Oncologist and immunologist: T cell biology, checkpoint inhibitors, CAR-T cell therapy and cancer vaccines.",
)
DEVICE_ENGINEER = ReviewerInterests(
    ["medtech"], "Biomedical engineer: surgical devices, CE marking under the MDR, manufacturing scale-up.",
)
IMMUNO_APPLICATION = ApplicationTopics("immuno_oncology", application_text(
    project_summary="A personalised cancer vaccine that primes T cells against tumour neoantigens.",
    unmet_need="Most patients do not respond to checkpoint inhibitors.",
    team="Immunologists from the Radium Hospital.",
    focus_area="immuno_oncology", development_stage="preclinical",
))
MEDTECH_APPLICATION = ApplicationTopics("medtech", application_text(
    project_summary="A handheld surgical device that finds tumour margins during breast surgery.",
    unmet_need="One in five operations must be repeated because tumour tissue is left behind.",
    team="Engineers and a breast surgeon.",
    focus_area="medtech", development_stage="prototype",
))


def test_immunology_expert_ranks_immuno_oncology_above_medtech() -> None:
    affinity = affinity_matrix([IMMUNO_EXPERT], [IMMUNO_APPLICATION, MEDTECH_APPLICATION])
    assert affinity[0, 0] > affinity[0, 1]


def test_each_application_prefers_the_matching_reviewer() -> None:
    affinity = affinity_matrix([IMMUNO_EXPERT, DEVICE_ENGINEER], [IMMUNO_APPLICATION, MEDTECH_APPLICATION])
    assert affinity.shape == (2, 2)
    assert affinity[0, 0] > affinity[1, 0]
    assert affinity[1, 1] > affinity[0, 1]


def test_text_alone_ranks_reviewers_when_no_focus_area_matches() -> None:
    immunologist = ReviewerInterests([], IMMUNO_EXPERT.expertise)
    engineer = ReviewerInterests([], DEVICE_ENGINEER.expertise)
    affinity = affinity_matrix([immunologist, engineer], [IMMUNO_APPLICATION])
    assert affinity[0, 0] > affinity[1, 0] >= 0.0
    assert affinity[0, 0] <= TEXT_WEIGHT


def test_focus_match_alone_gives_the_focus_weight() -> None:
    affinity = affinity_matrix([ReviewerInterests(["medtech"], "")], [ApplicationTopics("medtech", "")])
    assert affinity[0, 0] == pytest.approx(FOCUS_WEIGHT)


def test_identical_texts_and_matching_focus_give_one() -> None:
    text = "radioligand therapy for neuroendocrine tumours"
    affinity = affinity_matrix([ReviewerInterests(["radiopharmaceuticals"], text)],
                               [ApplicationTopics("radiopharmaceuticals", text)])
    assert affinity[0, 0] == pytest.approx(1.0)


def test_values_stay_within_zero_and_one() -> None:
    reviewers = [IMMUNO_EXPERT, DEVICE_ENGINEER, ReviewerInterests(["diagnostics"], "liquid biopsy, ctDNA")]
    applications = [IMMUNO_APPLICATION, MEDTECH_APPLICATION, ApplicationTopics(None, "ctDNA liquid biopsy")]
    affinity = affinity_matrix(reviewers, applications)
    assert affinity.dtype == np.float64
    assert ((affinity >= 0.0) & (affinity <= 1.0)).all()


def test_empty_texts_give_zero_rows_without_error() -> None:
    reviewers = [ReviewerInterests([], ""), IMMUNO_EXPERT]
    applications = [ApplicationTopics(None, ""), IMMUNO_APPLICATION]
    affinity = affinity_matrix(reviewers, applications)
    assert affinity[0].tolist() == [0.0, 0.0]
    assert affinity[:, 0].tolist() == [0.0, 0.0]
    assert affinity[1, 1] > 0.0


@pytest.mark.parametrize("texts", [("", ""), ("the and of", "it is"), ("   ", "\n")])
def test_no_vocabulary_at_all_gives_zeros(texts: tuple[str, str]) -> None:
    assert text_similarity([texts[0]], [texts[1]]).tolist() == [[0.0]]


@pytest.mark.parametrize("reviewers, applications", [(0, 2), (2, 0), (0, 0)])
def test_empty_sides_give_an_empty_matrix_of_the_right_shape(reviewers: int, applications: int) -> None:
    affinity = affinity_matrix([IMMUNO_EXPERT] * reviewers, [IMMUNO_APPLICATION] * applications)
    assert affinity.shape == (reviewers, applications)


def test_focus_matrix_matches_membership_and_ignores_missing_focus() -> None:
    matrix = focus_matrix([IMMUNO_EXPERT, ReviewerInterests([], "")],
                          [IMMUNO_APPLICATION, MEDTECH_APPLICATION, ApplicationTopics(None, "x")])
    assert matrix.tolist() == [[1.0, 0.0, 0.0], [0.0, 0.0, 0.0]]


def test_application_text_uses_labels_and_skips_empty_parts() -> None:
    text = application_text(project_summary="  A vaccine. ", unmet_need=None, team="",
                            focus_area="immuno_oncology", development_stage="unknown-stage")
    assert text == "A vaccine.\nImmuno-oncology"


def test_words_common_to_every_text_weigh_less_than_distinctive_ones() -> None:
    # "cancer" is in every text; "radioligand" only in one application and the reviewer's.
    reviewer = ReviewerInterests([], "cancer radioligand")
    applications = [ApplicationTopics(None, "cancer radioligand chemistry"),
                    ApplicationTopics(None, "cancer cancer cancer screening")]
    similarity = text_similarity([reviewer.expertise], [a.text for a in applications])
    assert similarity[0, 0] > similarity[0, 1]
