"""The dynamics explorer (the notebook's slider function) stays readable from K = 2 to K = 20."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import modesim as ms
from modesim import plot as mp
from modesim.figures.explorer import K_RANGE, explore

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "dynamics_explorer.ipynb"


@pytest.mark.parametrize("K, s", [(2, 1.0), (8, 1.0), (9, 0.0), (20, 1.0), (20, 0.0)])
def test_the_explorer_is_readable_for_every_number_of_answers(K, s):
    result = explore(K=K, s=s)
    mp.check_figure(result.figure)  # fonts, legends off the curves, letters, nothing clipped
    rl_panel, sd_panel = result.figure.axes[:2]
    for ax in (rl_panel, sd_panel):
        valid_lines = [ln for ln in ax.get_lines() if not ln.get_label().endswith("(wrong)")]
        assert len(valid_lines) == K
        assert len({ln.get_color() for ln in valid_lines}) == K  # distinct colours per mode


def test_at_k_20_modes_are_keyed_by_a_colour_bar_and_at_8_by_a_legend():
    many = explore(K=20).figure
    assert [a.get_label() for a in many.axes].count("<colorbar>") == 1 and not many.legends
    few = explore(K=8).figure
    assert len(few.legends[0].get_texts()) == 9


def test_identical_rl_and_sd_curves_stay_visible():
    """At s = 0 the correct answers start uniform, a fixed point of both rules among them:
    RL's and SD's pass@k lie within a line's width of each other, and differ in colour,
    line style and marker so both show."""
    result = explore(K=6, s=0.0)
    np.testing.assert_allclose(result.data["RL_ood"], result.data["SD_ood"], atol=0.01)
    lines = {ln.get_label(): ln for ln in result.figure.axes[2].get_lines()}
    rl, sd = lines["RL"], lines["SD"]
    assert rl.get_color() != sd.get_color()
    assert rl.get_linestyle() != sd.get_linestyle() and rl.get_marker() != sd.get_marker()


def test_rl_keeps_ratios_and_sd_concentrates():
    out = explore()
    valid = out.data["valid"]
    np.testing.assert_allclose(ms.conditional(out.data["rl"], valid),
                               ms.conditional(out.data["base"], valid), rtol=1e-12)
    assert out.data["sd"][0] > out.data["base"][0]


def test_k_outside_the_slider_range_is_named():
    with pytest.raises(ValueError, match="K must be"):
        explore(K=1)
    with pytest.raises(ValueError, match="K must be"):
        explore(K=21)


@pytest.mark.parametrize("kw, match", [
    ({"eta": 2.0}, r"eta must be in \(0, 1\]; got 2\.0"),  # was named step_size (SD's field)
    ({"eta": 0.0}, r"eta must be in \(0, 1\]; got 0\.0"),  # was named lr (RL's field)
    ({"eta": "a"}, r"eta must be a real number"),
    ({"eta": np.array([0.5, 0.6])}, r"eta must be a single real number"),  # was a policy-shape error
    ({"alpha": np.array([0.1, 0.2])}, r"alpha must be a single real number"),
    ({"alpha": 1.0}, r"alpha must be in \[0, 1\); got 1\.0"),
    ({"beta": np.array([0.1, 0.2])}, r"beta must be a single real number"),
    ({"beta": -1.0}, r"beta must be a finite number >= 0; got -1\.0"),
    ({"s": np.nan}, r"s must be a finite number >= 0; got nan"),
    ({"rounds": 2.5}, r"rounds must be an integer; got 2\.5"),
    ({"width": "wide"}, r"width must be one of 'single', 'double'; got 'wide'"),
])
def test_explore_names_its_own_arguments(kw, match):
    with pytest.raises(ValueError, match=match):
        explore(**kw)


def test_the_notebook_sliders_cover_the_tested_range_and_call_explore():
    cells = json.loads(NOTEBOOK.read_text(encoding="utf-8"))["cells"]
    source = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
    assert "from modesim.figures.explorer import K_RANGE, explore" in source
    assert "IntSlider(value=3, min=K_RANGE[0], max=K_RANGE[1]" in source
    assert K_RANGE == (2, 20)
