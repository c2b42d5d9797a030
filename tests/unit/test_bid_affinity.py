"""Bids on top of the affinity: the documented weights, and "not willing" far below any gain."""

from __future__ import annotations

import numpy as np

from incubator.domain.affinity import BID_WEIGHTS, NOT_WILLING_AFFINITY, with_bids


def test_bids_add_their_documented_weights_and_leave_the_input_alone() -> None:
    affinity = np.array([[0.1, 0.4, 0.3], [0.9, 0.0, 0.2]])
    adjusted = with_bids(affinity, {(0, 0): "eager", (0, 1): "willing", (1, 0): "not_willing", (1, 2): "conflict"})
    assert BID_WEIGHTS == {"eager": 0.5, "willing": 0.2}
    np.testing.assert_allclose(adjusted, [[0.6, 0.6, 0.3], [NOT_WILLING_AFFINITY, 0.0, 0.2]])
    assert affinity[0, 0] == 0.1  # a copy, not the caller's matrix


def test_a_not_willing_pair_costs_more_than_rearranging_six_pairs_can_gain() -> None:
    # The best a pair can reach is 1 (affinity) + 0.5 (eager).
    assert -6 * (1 + max(BID_WEIGHTS.values())) > NOT_WILLING_AFFINITY
