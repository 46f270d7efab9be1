"""Figure ``ablations``: collapse and its limits (demonstrations, source, KL, diversity bonus)."""

from __future__ import annotations

import numpy as np


def test_ablations_show_collapse_and_its_limits(built):
    d = built["ablations"].data
    rl = d["RL"]
    np.testing.assert_allclose(rl, rl[0])
    for m in (1, 3, 8):
        assert np.all(np.diff(d[f"demos_m{m}"]) < 0) and d[f"demos_m{m}"][-1] < rl[-1]
    assert d["demos_m1"][-1] < d["demos_m3"][-1] < d["demos_m8"][-1]
    assert np.all(np.diff(d["source_uniform"]) > 0)  # uniform demos flatten π(·|C)
    assert np.all(d["beta_ref_base"] >= d["beta_ref_current"] - 1e-12)
    assert np.all(np.diff(d["beta_ref_base"]) > 0)


def test_ablation_diversity_bonus_keeps_grpo_diverse(built):
    d = built["ablations"].data
    bonus, grpo, sd = d["sampled_grpo_bonus"], d["sampled_grpo"], d["sampled_sd"]
    assert bonus[-1] > grpo[-1] > sd[-1]
    assert bonus[-1] > d["RL"][0]  # the bonus pushes past the base's ratios toward uniform
    assert sd[-1] < 0.6 * sd[0]


def test_one_colour_per_method_across_the_panels(built):
    """Plain SD is the same colour in every panel; its variants are shades of it."""
    from modesim import plot as mp

    fig = built["ablations"].figure
    sd = mp.method_style("SD")
    for ax in fig.axes:
        for line in ax.get_lines():
            label = line.get_label()
            if label in ("SD", "SD, 1 demo", "SD, own demos", "SD, KL to π0"):
                assert line.get_color() == sd.color, label
            elif label.startswith("SD"):
                assert line.get_color() in sd.colors and line.get_color() != sd.color, label
