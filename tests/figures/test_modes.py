"""Figure ``mode_probabilities``: RL keeps the ratios among correct answers, SD concentrates."""

from __future__ import annotations

import numpy as np

import modesim as ms


def test_mode_probabilities_rl_keeps_ratios_sd_concentrates(built):
    d = built["mode_probabilities"].data
    valid = np.array([1, 1, 1, 0], bool)
    base_c = ms.conditional(d["rl"][0], valid)
    np.testing.assert_allclose(ms.conditional(d["rl"], valid), np.broadcast_to(base_c, d["rl"].shape), atol=1e-12)
    assert np.all(np.diff(d["sd"][:, 0]) > 0)  # the favourite answer gains every round
    assert np.all(np.diff(d["sd_effective_modes"]) < 0)
    np.testing.assert_allclose(d["rl_effective_modes"], d["rl_effective_modes"][0])


def test_modes_are_named_y_i_and_drawn_in_mode_colours(built):
    fig = built["mode_probabilities"].figure
    legend = fig.legends[0]
    assert [t.get_text() for t in legend.get_texts()] == ["y₁", "y₂", "y₃", "y₄ (wrong)"]
    rl_panel = fig.axes[0]
    colours = [ln.get_color() for ln in rl_panel.get_lines()[:3]]
    assert colours == [s["color"] for s in ms.plot.mode_styles(3)]
