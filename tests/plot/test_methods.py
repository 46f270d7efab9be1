"""One look per method: distinct, colour-blind safe, greyscale separable, extensible."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from modesim import plot as mp
from modesim.plot import methods

CORE = ("base", "RL", "ideal RL", "softmax PG", "GRPO", "SD", "GRPO + diversity bonus")

# Machado, Oliveira & Fernandes (2009), severity 1.0, on linear RGB.
_CVD = {
    "protanopia": [[0.152286, 1.052583, -0.204868], [0.114503, 0.786281, 0.099216],
                   [-0.003882, -0.048116, 1.051998]],
    "deuteranopia": [[0.367322, 0.860646, -0.227968], [0.280085, 0.672501, 0.047413],
                     [-0.011820, 0.042940, 0.968881]],
    "tritanopia": [[1.255528, -0.076749, -0.178779], [-0.078411, 0.930809, 0.147602],
                   [0.004733, 0.691367, 0.303900]],
}


def _linear(hex_color):
    c = np.array([int(hex_color[i:i + 2], 16) for i in (1, 3, 5)]) / 255.0
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def _lab(lin):
    """CIELAB (D65) of linear sRGB."""
    xyz = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722],
                    [0.0193, 0.1192, 0.9505]]) @ np.clip(lin, 0, 1)
    t = xyz / np.array([0.95047, 1.0, 1.08883])
    f = np.where(t > (6 / 29) ** 3, np.cbrt(t), t / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


def test_core_methods_are_registered_with_their_family_line_styles():
    assert set(CORE) <= set(mp.METHODS)
    assert {mp.method_style(n).family for n in ("RL", "ideal RL", "softmax PG", "GRPO")} == {"rl"}
    assert mp.method_style("SD").linestyle == "--" and mp.method_style("RL").linestyle == "-"
    assert mp.method_style("base").linestyle == ":"
    assert mp.method_style("GRPO + diversity bonus").linestyle == "-."


def test_every_two_core_methods_differ_in_colour_and_in_greyscale_cues():
    for a, b in itertools.combinations(CORE, 2):
        sa, sb = mp.method_style(a), mp.method_style(b)
        assert sa.color != sb.color, (a, b)
        assert not sa.colors & sb.colors, (a, b)  # not even a variant's shade is shared
        assert (sa.linestyle, sa.marker) != (sb.linestyle, sb.marker), (a, b)
        assert sa.marker != sb.marker, (a, b)


@pytest.mark.parametrize("kind", [None, *_CVD])
def test_core_method_colours_stay_apart_under_colour_vision_deficiencies(kind):
    """ΔE (CIELAB) ≥ 10 between any two core methods, as seen with full colour vision and
    as simulated for protanopia, deuteranopia and tritanopia."""
    m = np.eye(3) if kind is None else np.array(_CVD[kind])
    lab = {n: _lab(m @ _linear(mp.method_style(n).color)) for n in CORE}
    worst = min((np.linalg.norm(lab[a] - lab[b]), a, b) for a, b in itertools.combinations(CORE, 2))
    assert worst[0] >= 10, worst


def test_the_cvd_check_has_teeth():
    """A pure red and SD's vermillion: far apart to full colour vision, the same colour to a
    deuteranope (they differ along the simulation's null direction), so the measure fails."""
    m = np.array(_CVD["deuteranopia"])
    red, sd = _linear("#F70116"), _linear(mp.method_style("SD").color)
    assert np.linalg.norm(_lab(red) - _lab(sd)) > 30
    assert np.linalg.norm(_lab(m @ red) - _lab(m @ sd)) < 1


def test_labels_resolve_to_the_method_they_name():
    assert mp.find_method("SD, 3 demos").name == "SD"
    assert mp.find_method("SD: token entropy").name == "SD"
    assert mp.find_method("GRPO + diversity bonus, λ = 1").name == "GRPO + diversity bonus"
    assert mp.find_method("GRPO (N = 8)").name == "GRPO"
    assert mp.find_method("natural PG").name == "RL"
    for label in ("SDPO", "RLHF", "y₁", "K = 3", "", None):
        assert mp.find_method(label) is None
    with pytest.raises(ValueError, match="unknown method 'SDPO'; registered methods: base, RL"):
        mp.method_style("SDPO")


def test_line_keywords_and_variants():
    kw = mp.method_style("RL").line()
    assert kw == {"color": "#0072B2", "linestyle": "-", "marker": "o", "label": "RL"}
    assert mp.method_style("SD").line("SD, m = 3", lw=2)["lw"] == 2
    for n in range(1, 6):
        v = mp.method_style("SD").variants(n)
        assert len({s.color for s in v}) == n and len({s.marker for s in v}) == n
        assert all(s.color in mp.method_style("SD").colors and s.linestyle == "--" for s in v)
    assert mp.method_style("SD").variants(3)[0].color == mp.method_style("SD").color
    lum = [_lab(_linear(s.color))[0] for s in mp.method_style("SD").variants(5)]
    assert np.all(np.diff(lum) > 0)  # dark to light
    with pytest.raises(ValueError, match="n must be"):
        mp.method_style("SD").variants(6)


def _builtin():
    """The methods modesim.plot registers itself (others register theirs on import)."""
    names = ("base", "RL", "ideal RL", "softmax PG", "GRPO", "SD", "GRPO + diversity bonus")
    return {k: v for k, v in methods._REGISTRY.items() if k in names}


@pytest.fixture
def scratch_registry(monkeypatch):
    # The built-in methods only: remedies registered by modules imported earlier in the run
    # (modesim.figures.frontier) would make the test depend on import order.
    monkeypatch.setattr(methods, "_REGISTRY", _builtin())
    monkeypatch.setattr(methods, "METHODS", methods.MappingProxyType(methods._REGISTRY))
    return methods


def test_register_method_adds_a_remedy_every_figure_can_use(scratch_registry):
    style = scratch_registry.register_method("debiased teacher", family="remedy",
                                             color=mp.REMEDY_COLORS[0], marker="*")
    assert mp.method_style("debiased teacher, m = 4") == style
    assert style.linestyle == "-."


@pytest.mark.parametrize("kw, message", [
    ({"name": "SD"}, "already registered"),
    ({"aliases": ("natural PG",)}, "already registered"),
    ({"color": "#D56000"}, "too close to 'SD'"),
    ({"color": "red"}, "'#RRGGBB'"),
    ({"marker": "P"}, "marker 'P' is taken by 'GRPO \\+ diversity bonus'"),
    ({"family": "distillation"}, "family must be one of 'base', 'rl', 'sd', 'remedy'"),
    ({"name": ""}, "name must be a non-empty string"),
])
def test_register_method_refuses_clashes(scratch_registry, kw, message):
    args = {"name": "new remedy", "family": "remedy", "color": mp.REMEDY_COLORS[1], "marker": "*",
            **kw}
    name = args.pop("name")
    with pytest.raises(ValueError, match=message):
        scratch_registry.register_method(name, **args)


def test_remedy_colours_are_free():
    """The palette for remedies is free of every built-in method's colour."""
    for c in mp.REMEDY_COLORS:
        assert all(np.linalg.norm(methods._rgb(c) - methods._rgb(s.color)) >= 60
                   for s in _builtin().values())


@pytest.mark.parametrize("K", [1, 2, 3, 9, 20, 50])
def test_mode_styles_are_distinct_for_any_number_of_modes(K):
    looks = mp.mode_styles(K)
    assert len(looks) == K and len({s["color"] for s in looks}) == K
    method_colours = set().union(*(s.colors for s in mp.METHODS.values()))
    assert not {s["color"] for s in looks} & method_colours


def test_mode_labels_use_y_subscripts():
    assert mp.mode_labels(3) == ["y₁", "y₂", "y₃"]
    assert mp.mode_labels(12)[-1] == "y₁₂"


def test_legacy_colors_follow_the_registry():
    assert mp.COLORS["rl"] == mp.method_style("RL").color
    assert mp.COLORS["sd"] == mp.method_style("SD").color


def test_method_style_refuses_an_unknown_family_on_construction():
    with pytest.raises(ValueError, match=r"family must be one of 'base', 'rl', 'sd', 'remedy'; got 'SD'"):
        mp.MethodStyle("mine", "SD", "#123456", "o")
    with pytest.raises(ValueError, match=r"family must be one of .*got None"):
        mp.MethodStyle("mine", None, "#123456", "o")
    assert mp.MethodStyle("mine", "sd", "#123456", "o").linestyle == "--"
