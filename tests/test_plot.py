"""modesim.plot: functions draw the data they are given, on the axes they are given.

Plots are checked by their artists and data (and ``check_figures_equal``), never by
pixel baselines.
"""

from __future__ import annotations

import subprocess
import sys

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.collections import LineCollection, PathCollection, QuadMesh  # noqa: E402
from matplotlib.testing.decorators import check_figures_equal  # noqa: E402

from modesim import plot as mp  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _ax():
    fig, axes = mp.new_figure()
    return axes[0, 0]


# ------------------------------------------------------------------ style and files


def test_importing_modesim_changes_no_rcparams():
    code = (
        "import matplotlib as mpl; before = dict(mpl.rcParams); "
        "import modesim, modesim.plot, modesim.figures; "
        "after = dict(mpl.rcParams); "
        "assert before == after, [k for k in before if before[k] != after[k]]"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_style_applies_inside_the_context_only():
    before = matplotlib.rcParams["savefig.dpi"]
    with mp.style():
        assert matplotlib.rcParams["savefig.dpi"] == 150
        assert matplotlib.rcParams["axes.prop_cycle"].by_key()["color"][:2] == ["#0072B2", "#D55E00"]
    assert matplotlib.rcParams["savefig.dpi"] == before


def test_palette_is_okabe_ito():
    assert set(mp.COLORS.values()) - {"#555555"} <= set(mp.OKABE_ITO.values())
    assert mp.COLORS["rl"] != mp.COLORS["sd"]


def test_new_figure_is_not_registered_with_pyplot():
    fig, axes = mp.new_figure(2, 3)
    assert axes.shape == (2, 3)
    assert plt.get_fignums() == []
    assert fig.get_layout_engine() is not None


def test_save_figure_writes_png_and_vector_pdf_reproducibly(tmp_path):
    fig, axes = mp.new_figure()
    mp.plot_curves([1, 2, 3], {"a": [1, 4, 9]}, ax=axes[0, 0])
    first = mp.save_figure(fig, tmp_path / "one" / "fig", ("png", "pdf"))
    assert [p.suffix for p in first] == [".png", ".pdf"]
    assert first[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    pdf = first[1].read_bytes()
    assert pdf.startswith(b"%PDF") and b"/Subtype /Image" not in pdf  # vector, not raster
    second = mp.save_figure(fig, tmp_path / "two" / "fig", ("png", "pdf"))
    assert [p.read_bytes() for p in first] == [p.read_bytes() for p in second]


def test_ax_none_draws_on_current_axes():
    fig, ax = plt.subplots()
    assert mp.plot_rounds([0, 1], [[0.5, 0.5], [0.6, 0.4]]) is ax
    assert mp.plot_curves([0, 1], {"x": [0, 1]}) is ax


# ------------------------------------------------------------------ line plots


def test_plot_rounds_draws_one_line_per_mode_with_invalid_dashed():
    p = np.array([[0.5, 0.3, 0.2], [0.6, 0.3, 0.1], [0.7, 0.3, 0.0]])
    ax = mp.plot_rounds([0, 1, 2], p, labels=["A", "B", "wrong"], valid=[1, 1, 0], ax=_ax())
    lines = ax.get_lines()
    assert [ln.get_label() for ln in lines] == ["A", "B", "wrong (invalid)"]
    for i, ln in enumerate(lines):
        np.testing.assert_array_equal(ln.get_ydata(), p[:, i])
        np.testing.assert_array_equal(ln.get_xdata(), [0, 1, 2])
    assert lines[2].get_linestyle() == "--" and lines[0].get_linestyle() == "-"


def test_plot_rounds_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="shape"):
        mp.plot_rounds([0, 1, 2], [[0.5, 0.5]], ax=_ax())


def test_plot_pass_at_k_uses_log_k_and_given_colours():
    k = 2 ** np.arange(5)
    curves = {"RL": np.linspace(0.4, 1, 5), "SD": np.linspace(0.2, 0.8, 5)}
    ax = mp.plot_pass_at_k(k, curves, colors={"RL": "#0072B2"}, ax=_ax())
    assert ax.get_xscale() == "log"
    rl, sd = ax.get_lines()
    assert matplotlib.colors.same_color(rl.get_color(), "#0072B2")
    np.testing.assert_array_equal(sd.get_ydata(), curves["SD"])
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["RL", "SD"]


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


def test_plot_eigenvalues_pairs_markers_with_lines():
    a = np.linspace(0.1, 0.9, 9)
    ax = mp.plot_eigenvalues(a, {"K = 3": 1 + a, "K = 5": 1 + a / 2},
                             {"K = 3": ([0.5], [1.5])}, ax=_ax())
    line3, markers3, line5, unity = ax.get_lines()
    assert markers3.get_color() == line3.get_color() != line5.get_color()
    np.testing.assert_array_equal(markers3.get_ydata(), [1.5])
    np.testing.assert_array_equal(unity.get_ydata(), [1.0, 1.0])


def test_plot_heatmap_draws_values_and_contours():
    x, y = np.linspace(0, 1, 4), np.linspace(0, 2, 3)
    v = np.add.outer(y, x)
    ax = mp.plot_heatmap(x, y, v, contours=[1.0], label="exp", ax=_ax())
    mesh = [c for c in ax.collections if isinstance(c, QuadMesh)]
    assert len(mesh) == 1
    np.testing.assert_array_equal(np.asarray(mesh[0].get_array()).reshape(v.shape), v)
    assert len(ax.figure.axes) == 2  # the colour bar
    with pytest.raises(ValueError, match="shape"):
        mp.plot_heatmap(x, y, v.T, ax=_ax())


def test_plot_fan_draws_mean_bands_and_samples():
    x = [0, 1, 2]
    bands = np.array([[0.0, 0.1, 0.2], [0.2, 0.3, 0.4], [0.5, 0.5, 0.5], [0.7, 0.8, 0.9], [1.0, 1.0, 1.0]])
    ax = mp.plot_fan(x, [0.5, 0.5, 0.6], bands, samples=[[0.4, 0.5, 0.6]], label="SD", ax=_ax())
    mean, sample = ax.get_lines()
    np.testing.assert_array_equal(mean.get_ydata(), [0.5, 0.5, 0.6])
    assert mean.get_label() == "SD" and sample.get_color() == mean.get_color()
    assert len(ax.collections) == 2  # 5 levels: two nested bands, the median is not filled
    outer = ax.collections[0].get_paths()[0].vertices[:, 1]
    assert outer.min() == 0.0 and outer.max() == 1.0
    with pytest.raises(ValueError, match="bands"):
        mp.plot_fan(x, [0, 0, 0], bands[:, :2], ax=_ax())


def test_plot_bars_groups_bars_per_category():
    ax = mp.plot_bars(["A", "B"], {"GRPO": [0.1, 0.0], "SD": [0.9, 0.1]}, colors={"SD": "#D55E00"}, ax=_ax())
    heights = [r.get_height() for r in ax.patches]
    assert heights == [0.1, 0.0, 0.9, 0.1]
    assert matplotlib.colors.same_color(ax.patches[2].get_facecolor(), "#D55E00")
    assert [t.get_text() for t in ax.get_xticklabels()] == ["A", "B"]
    with pytest.raises(ValueError, match="one per category"):
        mp.plot_bars(["A"], {"x": [1, 2]}, ax=_ax())


# ------------------------------------------------------------------ the triangle


def test_to_xy_maps_vertices_and_barycentre():
    np.testing.assert_allclose(mp.to_xy(np.eye(3)), mp.VERTICES)
    np.testing.assert_allclose(mp.to_xy([1 / 3] * 3), [0.5, np.sqrt(3) / 6])


def test_simplex_grid_points_lie_on_their_nodes():
    g = mp.simplex_grid(9)
    pts = g.points[g.inside]
    assert np.all(pts > 0) and np.allclose(pts.sum(-1), 1.0)
    X, Y = np.meshgrid(g.x, g.y)
    np.testing.assert_allclose(mp.to_xy(pts), np.stack([X[g.inside], Y[g.inside]], -1), atol=1e-12)
    assert np.all(np.isnan(g.points[~g.inside]))
    with pytest.raises(ValueError, match="at least 2"):
        mp.simplex_grid(1)


def test_portrait_draws_field_trajectories_and_fixed_points():
    g = mp.simplex_grid(10)
    centre = np.array([1 / 3, 1 / 3, 1 / 3])
    vel = np.where(g.inside[..., None], g.points - centre, np.nan)  # flows out of the centre
    path = np.array([[0.4, 0.3, 0.3], [0.6, 0.2, 0.2], [0.9, 0.05, 0.05]])
    fps = np.vstack([centre, np.eye(3)])
    ax = mp.plot_portrait(g, vel, trajectories=[path], fixed_points=fps,
                          stability=["unstable", "stable", "stable", "stable"], legend=True, ax=_ax())
    assert any(isinstance(c, LineCollection) for c in ax.collections)  # streamlines
    traj = [ln for ln in ax.get_lines() if len(ln.get_xdata()) == 3]
    np.testing.assert_allclose(np.column_stack([traj[0].get_xdata(), traj[0].get_ydata()]), mp.to_xy(path))
    dots = {c.get_label(): c for c in ax.collections if isinstance(c, PathCollection)}
    assert set(dots) == {"stable", "unstable"}
    np.testing.assert_allclose(dots["unstable"].get_offsets(), mp.to_xy(centre[None]))
    np.testing.assert_allclose(dots["stable"].get_offsets(), mp.VERTICES)
    assert matplotlib.colors.same_color(dots["unstable"].get_facecolor()[0], "white")


def test_portrait_of_a_zero_field_draws_no_streamlines():
    g = mp.simplex_grid(8)
    ax = mp.plot_portrait(g, np.zeros(g.points.shape), note="no flow", ax=_ax())
    assert not any(isinstance(c, LineCollection) for c in ax.collections)
    assert "no flow" in [t.get_text() for t in ax.texts]
