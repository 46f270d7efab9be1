"""Line plots draw the data they are given, in the registered looks, on the axes they are given.

Plots are checked by their artists and data (and ``check_figures_equal``), never by
pixel baselines.
"""

from __future__ import annotations

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.collections import PolyCollection, QuadMesh
from matplotlib.colors import Normalize, same_color
from matplotlib.testing.decorators import check_figures_equal

from modesim import plot as mp


def test_ax_none_draws_on_current_axes():
    fig, ax = plt.subplots()
    assert mp.plot_rounds([0, 1], [[0.5, 0.5], [0.6, 0.4]]) is ax
    assert mp.plot_curves([0, 1], {"x": [0, 1]}) is ax


def test_plot_rounds_names_modes_y_i_and_colours_them_distinctly(ax):
    p = np.array([[0.5, 0.3, 0.2], [0.6, 0.3, 0.1], [0.7, 0.3, 0.0]])
    mp.plot_rounds([0, 1, 2], p, valid=[1, 1, 0], ax=ax)
    lines = ax.get_lines()
    assert [ln.get_label() for ln in lines] == ["y₁", "y₂", "y₃ (wrong)"]
    for i, ln in enumerate(lines):
        np.testing.assert_array_equal(ln.get_ydata(), p[:, i])
        np.testing.assert_array_equal(ln.get_xdata(), [0, 1, 2])
    assert lines[2].get_linestyle() == "--" and lines[0].get_linestyle() == "-"
    assert [ln.get_color() for ln in lines[:2]] == [s["color"] for s in mp.mode_styles(2)]
    assert ax.get_legend() is not None


def test_plot_rounds_keys_many_modes_with_a_colour_bar(ax):
    K = 20
    p = np.full((3, K), 1.0 / K)
    mp.plot_rounds([0, 1, 2], p, ax=ax)
    assert ax.get_legend() is None
    bars = [a for a in ax.figure.axes if a.get_label() == "<colorbar>"]
    assert len(bars) == 1
    assert len({ln.get_color() for ln in ax.get_lines()}) == K
    with pytest.raises(ValueError, match="key must be"):
        mp.plot_rounds([0, 1, 2], p, key="table", ax=ax)


def test_plot_rounds_rejects_mismatched_shapes(ax):
    with pytest.raises(ValueError, match="shape"):
        mp.plot_rounds([0, 1, 2], [[0.5, 0.5]], ax=ax)


def test_round_ticks_stop_at_the_last_round(ax):
    ax.plot(np.arange(21), np.arange(21))
    mp.round_ticks(ax, 20)
    ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
    assert max(ticks) == 20 and all(float(t).is_integer() for t in ticks)


def test_curves_named_after_methods_take_the_method_look(ax):
    mp.plot_curves([0, 1, 2], {"RL": [1, 2, 3], "SD, 3 demos": [3, 2, 1], "other": [2, 2, 2]}, ax=ax)
    rl, sd, other = ax.get_lines()
    assert same_color(rl.get_color(), mp.method_style("RL").color) and rl.get_linestyle() == "-"
    assert same_color(sd.get_color(), mp.method_style("SD").color) and sd.get_linestyle() == "--"
    assert other.get_marker() in ("None", None, "")


def test_plot_pass_at_k_uses_log_k_integer_ticks_and_draws_the_spread(ax):
    k = 2 ** np.arange(5)
    curves = {"RL": np.linspace(0.4, 1, 5), "SD": np.linspace(0.2, 0.8, 5)}
    spread = {"SD": np.stack([curves["SD"] - 0.1, curves["SD"] + 0.1])}
    mp.plot_pass_at_k(k, curves, spread=spread, ax=ax)
    assert ax.get_xscale() == "log"
    rl, sd = ax.get_lines()
    assert same_color(rl.get_color(), mp.method_style("RL").color)
    np.testing.assert_array_equal(sd.get_ydata(), curves["SD"])
    (band,) = [c for c in ax.collections if isinstance(c, PolyCollection)]
    ys = band.get_paths()[0].vertices[:, 1]
    assert ys.min() == pytest.approx(0.1) and ys.max() == pytest.approx(0.9)
    assert same_color(band.get_facecolor()[0][:3], mp.method_style("SD").color)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["RL", "SD"]
    ax.figure.canvas.draw()
    assert [t.get_text() for t in ax.get_xticklabels()] == ["1", "2", "4", "8", "16"]


@check_figures_equal(extensions=["png"])
def test_plot_curves_equals_plain_matplotlib(fig_test, fig_ref):
    x = np.arange(4)
    mp.plot_curves(x, {"a": x**2, "b": x}, colors={"a": "C1", "b": "C0"}, styles={"b": ":"},
                   xlabel="round", ylabel="y", legend=False, ax=fig_test.subplots())
    ax = fig_ref.subplots()
    ax.plot(x, x**2, color="C1")
    ax.plot(x, x, color="C0", ls=":")
    ax.set_xlabel("round")
    ax.set_ylabel("y")


def test_plot_eigenvalues_pairs_markers_with_lines_in_one_legend_entry(ax):
    a = np.linspace(0.1, 0.9, 9)
    looks = mp.method_style("SD").variants(2)
    mp.plot_eigenvalues(a, {"K = 3": 1 + a, "K = 5": 1 + a / 2}, {"K = 3": ([0.5], [1.5])},
                        styles=looks, ax=ax)
    line3, markers3, line5, unity = ax.get_lines()
    assert markers3.get_color() == line3.get_color() != line5.get_color()
    assert markers3.get_marker() == looks[0].marker and markers3.get_linestyle() == "None"
    np.testing.assert_array_equal(markers3.get_ydata(), [1.5])
    np.testing.assert_array_equal(unity.get_ydata(), [1.0, 1.0])
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["K = 3", "K = 5"]


def test_plot_heatmap_draws_values_on_a_shared_norm_with_contours(ax):
    x, y = np.linspace(0, 1, 4), np.linspace(0, 2, 3)
    v = np.add.outer(y, x)
    norm = Normalize(0.0, 10.0)
    mp.plot_heatmap(x, y, v, contours=[1.0], norm=norm, colorbar=False, ax=ax)
    (mesh,) = [c for c in ax.collections if isinstance(c, QuadMesh)]
    np.testing.assert_array_equal(np.asarray(mesh.get_array()).reshape(v.shape), v)
    assert mesh.norm is norm and mesh.get_rasterized()
    assert len(ax.figure.axes) == 1
    mp.plot_heatmap(x, y, v, ax=ax)
    assert len(ax.figure.axes) == 2  # the colour bar
    with pytest.raises(ValueError, match="shape"):
        mp.plot_heatmap(x, y, v.T, ax=ax)


def test_plot_fan_draws_mean_bands_and_samples(ax):
    x = [0, 1, 2]
    bands = np.array([[0.0, 0.1, 0.2], [0.2, 0.3, 0.4], [0.5, 0.5, 0.5], [0.7, 0.8, 0.9], [1.0, 1.0, 1.0]])
    mp.plot_fan(x, [0.5, 0.5, 0.6], bands, samples=[[0.4, 0.5, 0.6]], label="SD", linestyle="--",
                ax=ax)
    mean, sample = ax.get_lines()
    np.testing.assert_array_equal(mean.get_ydata(), [0.5, 0.5, 0.6])
    assert mean.get_label() == "SD" and sample.get_color() == mean.get_color()
    assert mean.get_linestyle() == "--"
    assert len(ax.collections) == 2  # 5 levels: two nested bands, the median is not filled
    outer = ax.collections[0].get_paths()[0].vertices[:, 1]
    assert outer.min() == 0.0 and outer.max() == 1.0
    with pytest.raises(ValueError, match="bands"):
        mp.plot_fan(x, [0, 0, 0], bands[:, :2], ax=ax)


def test_plot_bars_groups_bars_per_category_in_method_colours_with_hatches(ax):
    mp.plot_bars(["y₁", "y₂"], {"GRPO": [0.1, 0.0], "SD": [0.9, 0.1]}, ax=ax)
    heights = [r.get_height() for r in ax.patches]
    assert heights == [0.1, 0.0, 0.9, 0.1]
    assert matplotlib.colors.same_color(ax.patches[0].get_facecolor(), mp.method_style("GRPO").color)
    assert matplotlib.colors.same_color(ax.patches[2].get_facecolor(), mp.method_style("SD").color)
    assert ax.patches[0].get_hatch() in (None, "") and ax.patches[2].get_hatch()
    assert [t.get_text() for t in ax.get_xticklabels()] == ["y₁", "y₂"]
    with pytest.raises(ValueError, match="one per category"):
        mp.plot_bars(["y₁"], {"x": [1, 2]}, ax=ax)


def test_mode_labels_refuses_a_bad_count_by_name():
    assert mp.mode_labels(3) == ["y₁", "y₂", "y₃"]
    assert mp.mode_labels(np.int64(1)) == ["y₁"]
    for bad, match in ((0, r"n_modes must be an integer >= 1; got 0"), (-2, r"n_modes must be an integer >= 1"),
                       (2.0, r"n_modes must be an integer; got 2\.0"), ("3", r"n_modes must be an integer; got '3'")):
        with pytest.raises(ValueError, match=match):
            mp.mode_labels(bad)


def test_round_ticks_refuses_a_bad_last_round_by_name(ax):
    for bad, match in ((0, r"last must be a finite number > 0; got 0"), ("20", r"last must be a real number"),
                       (np.inf, r"last must be a finite number > 0; got inf")):
        with pytest.raises(ValueError, match=match):
            mp.round_ticks(ax, bad)
    mp.round_ticks(ax, 2.5)


@pytest.mark.parametrize("call, match", [
    (lambda: mp.plot_rounds([], np.zeros((0, 3))), r"rounds must be a non-empty 1-D array of finite numbers; got \[\]"),
    (lambda: mp.plot_rounds([0, np.nan], [[0.5, 0.5], [0.5, 0.5]]), r"rounds must be a non-empty 1-D array"),
    (lambda: mp.plot_rounds([0, 1], [[0.5, 0.5], [0.5, 0.5]], labels=["a"]), r"labels must name the K = 2 modes; got 1"),
    (lambda: mp.plot_rounds([0, 1], [[0.5, 0.5], [0.5, 0.5]], valid=[1, 0, 1]), r"valid of shape \(3,\)"),
    (lambda: mp.plot_curves([], {"a": []}, integer_x=True), r"x must be a non-empty 1-D array of finite numbers; got \[\]"),
    (lambda: mp.plot_curves([1, 2], {"a": [1]}), r"curves\['a'\] must have the shape of x, \(2,\); got \(1,\)"),
    (lambda: mp.plot_curves([1, 2], {"a": ["p", "q"]}), r"curves\['a'\] must be an array of numbers"),
])
def test_line_plots_name_a_bad_argument(call, match):
    """Unchecked inputs used to give IndexError (labels, valid, empty x) or matplotlib's errors."""
    with pytest.raises(ValueError, match=match):
        call()


def test_a_single_round_is_drawn():
    ax = mp.plot_rounds([0], [[0.6, 0.3, 0.1]])
    assert len(ax.lines) == 3
    plt.close(ax.figure)


@pytest.mark.parametrize("call, match", [
    # curves not a mapping, or an empty one (AttributeError / matplotlib's "no artists" warning)
    (lambda: mp.plot_curves([1, 2, 3], [[.1, .2, .3]]), r"curves must be a mapping \(a dict\) of label → array"),
    (lambda: mp.plot_curves([1, 2, 3], {}), r"curves must have at least one entry .*; got an empty mapping"),
    (lambda: mp.plot_curves([1, 2], {"a": [1, 2]}, styles=["--"]), r"styles must be a mapping"),
    (lambda: mp.plot_curves([1, 2], {"a": [1, 2]}, styles={"a": 3}), r"styles\['a'\] must be a MethodStyle"),
    (lambda: mp.plot_curves([1, 2], {"a": [1, 2]}, colors="red"), r"colors must be a mapping"),
    (lambda: mp.plot_pass_at_k([1, 2], [[.1, .2]]), r"curves must be a mapping"),
    (lambda: mp.plot_eigenvalues([0, 1], [[1, 2]]), r"closed_form must be a mapping"),
    (lambda: mp.plot_bars(["a", "b"], [[1, 2]]), r"groups must be a mapping"),
    (lambda: mp.plot_bars(["a", "b"], {}), r"groups must have at least one entry"),
    (lambda: mp.plot_bars("ab", {"x": [1, 2]}), r"categories must be a sequence of names .*; got 'ab'"),
    # ax not an Axes (AttributeError before)
    (lambda: mp.plot_rounds([0, 1], [[.5, .5], [.5, .5]], ax="x"),
     r"ax must be a matplotlib Axes \(or None for the current axes\); got 'x'"),
    (lambda: mp.plot_curves([0, 1], {"a": [0, 1]}, ax=mp.new_figure()[1]), r"ax must be a matplotlib Axes.*axes\[0, 0\]"),
    (lambda: mp.round_ticks("x", 3), r"ax must be a matplotlib Axes; got 'x'"),
    # plot_rounds: the policy's rows must be probabilities; labels a list of K names
    (lambda: mp.plot_rounds([0, 1], [[.5, .5], [np.nan, .5]]), r"policy must be finite; got"),
    (lambda: mp.plot_rounds([0, 1], [[.5, .5], [.7, .5]]), r"policy must sum to 1 .* at batch index \(1,\)"),
    (lambda: mp.plot_rounds([0, 1], [[1.5, -.5], [.5, .5]]), r"policy must be non-negative"),
    (lambda: mp.plot_rounds([0, 1], [[.5, .5], [.5, .5]], labels="ab"), r"labels must be a list of K = 2 mode names; got 'ab'"),
    # plot_pass_at_k: k >= 1 integers, 1-D; pass@k in [0, 1]; spread of shape (2, n) by label
    (lambda: mp.plot_pass_at_k([0, 4, 16], {"RL": [.4, .8, 1]}), r"k must hold finite positive integers; got \[0, 4, 16\]"),
    (lambda: mp.plot_pass_at_k([1.5, 4, 16], {"RL": [.4, .8, 1]}), r"k must hold finite positive integers"),
    (lambda: mp.plot_pass_at_k([[1, 4, 16]], {"RL": [.4, .8, 1]}), r"k must be a 1-D array"),
    (lambda: mp.plot_pass_at_k([1, 4, 16], {"RL": [.4, .8, 1.5]}), r"curves\['RL'\] must be in \[0, 1\]; got 1\.5"),
    (lambda: mp.plot_pass_at_k([1, 4, 16], {"RL": [.4, np.nan, 1]}), r"curves\['RL'\] must be in \[0, 1\]; got nan"),
    (lambda: mp.plot_pass_at_k([1, 4, 16], {"RL": [.4, .8]}), r"curves\['RL'\] must have the shape of k, \(3,\); got \(2,\)"),
    (lambda: mp.plot_pass_at_k([1, 4, 16], {"RL": [.4, .8, 1]}, spread={"RL": [0.1]}),
     r"spread\['RL'\] must have shape \(2, 3\) \(a lower and an upper row, one column per k\); got \(1,\)"),
    (lambda: mp.plot_pass_at_k([1, 4, 16], {"RL": [.4, .8, 1]}, spread={"SD": np.zeros((2, 3))}),
     r"spread\['SD'\] labels no curve; the curves are 'RL'"),
    (lambda: mp.plot_pass_at_k([1, 4, 16], {"RL": [.4, .8, 1]}, spread={"RL": [[0, 0, 0], [1, 1, 2]]}),
     r"spread\['RL'\] must be in \[0, 1\]; got 2\.0"),
    (lambda: mp.plot_pass_at_k([1, 4, 16], {"RL": [.4, .8, 1]}, spread=[[0, 0, 0], [1, 1, 1]]), r"spread must be a mapping"),
    # shapes checked before matplotlib's "x and y must have same first dimension"
    (lambda: mp.plot_fan([0, 1, 2], [0.1, 0.2]), r"mean must have shape \(3,\) \(one value per x\); got \(2,\)"),
    (lambda: mp.plot_fan([0, 1, 2], [0.1, 0.2, 0.3], samples=[[1, 2]]), r"samples must have shape \(S, T\) with T = 3"),
    (lambda: mp.plot_fan([], []), r"x must be a non-empty 1-D array"),
    (lambda: mp.plot_eigenvalues([0, 1, 2], {"a": [1, 2]}), r"closed_form\['a'\] must have the shape of alpha, \(3,\); got \(2,\)"),
    (lambda: mp.plot_eigenvalues([0, 1, 2], {"a": [1, 2, 3]}, {"a": ([0, 1], [1])}),
     r"numeric\['a'\]\[1\] \(values\) must have shape \(2,\), one per alpha point; got \(1,\)"),
    (lambda: mp.plot_eigenvalues([0, 1, 2], {"a": [1, 2, 3]}, {"a": [0.5]}), r"numeric\['a'\] must be a pair \(alpha_points, values\)"),
    (lambda: mp.plot_eigenvalues([0, 1, 2], {"a": [1, 2, 3]}, {"b": ([0.5], [1])}), r"numeric\['b'\] labels no closed-form curve"),
    (lambda: mp.plot_eigenvalues([0, 1, 2], {"a": [1, 2, 3]}, styles=["--"]), r"styles\[0\] must be a MethodStyle"),
    (lambda: mp.plot_eigenvalues([0, 1, 2], {"a": [1, 2, 3]}, styles=[]),
     r"styles must have one MethodStyle \(or None\) per closed-form curve \(1\); got 0 entries"),
    (lambda: mp.plot_heatmap([0, 1], [0, 1], np.zeros((2, 2)), contours="x"), r"contours must be a real number"),
    (lambda: mp.plot_heatmap([0, np.nan], [0, 1], np.zeros((2, 2))), r"x must be a non-empty 1-D array of finite numbers"),
])
def test_plots_name_a_bad_argument_before_drawing(call, match):
    """Each used to raise AttributeError, a bare unpacking error or matplotlib's own error, warn,
    or draw silently (NaN policy rows, pass@k outside [0, 1], k < 1 on a log axis)."""
    with pytest.raises(ValueError, match=match):
        call()


def test_the_checked_plots_still_draw_valid_input():
    """The checks refuse nothing the docstrings allow (warnings are errors under pytest)."""
    with mp.style():
        _fig, axes = mp.new_figure(2, 3)
    ax, ax1, ax2, ax3, ax4, ax5 = axes.ravel()
    k = np.array([1, 4, 16])
    mp.plot_pass_at_k(k, {"RL": [.4, .8, 1.0], "SD": (0.0, 0.5, 1.0)},
                      spread={"RL": [[.3, .7, 1.0], [.5, .9, 1.0]]}, colors={"other": "red"}, ax=ax)
    assert len(ax.get_lines()) == 2 and len(ax.collections) == 1
    mp.plot_rounds([0, 1], [[.5, .5], [.5 + 1e-9, .5]], labels=("a", "b"), ax=ax1)
    mp.plot_eigenvalues([0, 1, 2], {"a": [1, 2, 3]}, {"a": (np.array([0.5]), [1.5])},
                        styles=[None], ax=ax2)
    mp.plot_fan(np.arange(3), [0.1, 0.2, 0.3], samples=[[0.1, 0.2, 0.3]], ax=ax3)
    mp.plot_heatmap([0, 1], [0, 1], [[0, 1], [1, 2]], contours=1.0, colorbar=False, ax=ax4)
    mp.plot_bars(("y₁", "y₂"), {"SD": np.array([0.5, 0.5])}, colors={"SD": "#D55E00", "RL": "C0"}, ax=ax5)
