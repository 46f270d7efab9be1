"""Figure ``training``: sampled SD fixes more often and loses more diversity than GRPO; its
bimodal outcomes are drawn cluster by cluster."""

from __future__ import annotations

import numpy as np
import pytest

from modesim.figures.training import clusters


def test_training_sd_fixes_more_often_and_loses_more_diversity_than_grpo(built):
    d = built["training"].data
    assert d["SD_effective_modes"][-1] < d["GRPO_effective_modes"][-1] < d["GRPO_effective_modes"][0]
    assert d["SD_fixation"].sum() > d["GRPO_fixation"].sum()
    assert d["SD_fixation"][3] == 0.0  # never on the wrong answer
    lo, hi = d["SD_effective_modes_band"]
    assert np.all(lo <= d["SD_effective_modes_median"] + 1e-12)
    assert np.all(d["SD_effective_modes_median"] <= hi + 1e-12)


def test_each_cluster_is_drawn_apart_and_the_shares_add_up(built):
    d = built["training"].data
    for label in ("GRPO", "SD"):
        shares = [float(d[f"{label}_share_y{m}"]) for m in (1, 2, 3)]
        assert sum(shares) == pytest.approx(1.0)
        assert d[f"{label}_median_y1"][-1] > 0.5  # the y₁ cluster ends on y₁
        if f"{label}_median_y2" in d:
            assert d[f"{label}_median_y2"][-1] < 0.5
        # Every run starts at the base, where the mean field starts too.
        assert d[f"{label}_median_y1"][0] == pytest.approx(0.42, rel=1e-12)
        assert d[f"{label}_mean_field"][0] == pytest.approx(0.42, rel=1e-12)


def test_clusters_pick_the_favoured_correct_answer():
    final = np.array([[0.9, 0.05, 0.0, 0.05], [0.1, 0.2, 0.0, 0.7], [0.2, 0.1, 0.7, 0.0]])
    assert clusters(final, np.array([1, 1, 1, 0], bool)).tolist() == [0, 1, 2]


@pytest.mark.parametrize("final, valid, match", [
    ([[0.5, 0.6]], [1, 1], r"final must sum to 1 along the last axis"),
    ([[0.5, np.nan]], [1, 1], r"final must be finite"),
    ([0.5, 0.5], [1, 1], r"final must have shape \(seeds, K\); got shape \(2,\)"),
    ("x", [1, 1], r"final must be an array of probabilities"),
    ([[0.5, 0.5]], [1, 1, 0], r"valid of shape \(3,\) does not fit the policy shape \(1, 2\): it needs 2 entries"),
    ([[0.5, 0.5]], [0, 0], r"valid must mark at least one mode as valid in every row"),
    ([[0.5, 0.5]], [2, 1], r"valid must be a boolean mask"),
])
def test_clusters_refuse_bad_inputs_by_name(final, valid, match):
    with pytest.raises(ValueError, match=match):
        clusters(final, valid)
