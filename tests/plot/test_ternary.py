"""The probability triangle: geometry, and portraits that draw what they are given."""

from __future__ import annotations

import matplotlib
import numpy as np
import pytest
from matplotlib.collections import LineCollection, PathCollection
from matplotlib.colors import LogNorm

from modesim import plot as mp


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
    with pytest.raises(ValueError, match=r"n must be an integer >= 2; got 1"):
        mp.simplex_grid(1)


def test_portrait_draws_field_trajectories_time_marks_and_fixed_points(ax):
    g = mp.simplex_grid(10)
    centre = np.array([1 / 3, 1 / 3, 1 / 3])
    vel = np.where(g.inside[..., None], g.points - centre, np.nan)  # flows out of the centre
    path = np.array([[0.4, 0.3, 0.3], [0.6, 0.2, 0.2], [0.9, 0.05, 0.05]])
    fps = np.vstack([centre, np.eye(3)])
    norm = LogNorm(1e-3, 1.0)
    mp.plot_portrait(g, vel, trajectories=[path], fixed_points=fps, marks=[1, 2], speed_norm=norm,
                     stability=["unstable", "stable", "stable", "stable"], legend=True, ax=ax)
    streams = [c for c in ax.collections if isinstance(c, LineCollection)]
    assert streams and streams[0].norm is norm  # speeds on the shared scale
    by_label = {ln.get_label(): ln for ln in ax.get_lines()}
    traj = [ln for ln in ax.get_lines() if len(ln.get_xdata()) == 3]
    np.testing.assert_allclose(np.column_stack([traj[0].get_xdata(), traj[0].get_ydata()]), mp.to_xy(path))
    np.testing.assert_allclose(by_label["round 2"].get_xydata(), mp.to_xy(path[2:3]))
    assert by_label["round 1"].get_marker() == mp.MARK_MARKERS[0]
    dots = {c.get_label(): c for c in ax.collections if isinstance(c, PathCollection)}
    assert set(dots) == {"stable", "unstable"}
    np.testing.assert_allclose(dots["unstable"].get_offsets(), mp.to_xy(centre[None]))
    np.testing.assert_allclose(dots["stable"].get_offsets(), mp.VERTICES)
    assert matplotlib.colors.same_color(dots["unstable"].get_facecolor()[0], "white")
    assert [t.get_text() for t in ax.texts] == ["y₁", "y₂", "y₃"]
    with pytest.raises(ValueError, match="at most 4 rounds"):
        mp.plot_portrait(g, vel, trajectories=[path], marks=[0, 1, 1, 2, 2], ax=ax)


def test_portrait_of_a_zero_field_draws_no_streamlines(ax):
    g = mp.simplex_grid(8)
    mp.plot_portrait(g, np.zeros(g.points.shape), note="no flow", ax=ax)
    assert not any(isinstance(c, LineCollection) for c in ax.collections)
    assert "no flow" in [t.get_text() for t in ax.texts]


def test_legend_handles_explain_marks_and_rest_points():
    assert [h.get_label() for h in mp.mark_handles([10, 100])] == ["start", "round 10", "round 100"]
    assert [h.get_label() for h in mp.stability_handles()] == ["stable rest point", "unstable rest point"]


@pytest.mark.parametrize("p, match", [
    ([0.5, 0.5], r"p must have K = 3 modes on its last axis; got shape \(2,\)"),
    ([0.5, 0.6, 0.1], r"p must sum to 1"),
    ([1.2, -0.1, -0.1], r"p must be non-negative"),
    ("abc", r"p must be an array of probabilities"),
    ([np.nan, 0.5, 0.5], r"p must be finite"),
])
def test_to_xy_refuses_non_probabilities_by_name(p, match):
    with pytest.raises(ValueError, match=match):
        mp.to_xy(p)


def test_to_xy_of_displacements_checks_only_shape_and_finiteness():
    np.testing.assert_allclose(mp.to_xy([-1.0, 1.0, 0.0], displacement=True), [1.0, 0.0])
    with pytest.raises(ValueError, match=r"p must have shape \(\.\.\., 3\)"):
        mp.to_xy([0.1, -0.1], displacement=True)
    with pytest.raises(ValueError, match=r"p must be finite"):
        mp.to_xy([np.inf, 0.0, 0.0], displacement=True)
    with pytest.raises(ValueError, match=r"displacement must be True or False"):
        mp.to_xy([1.0, 0.0, 0.0], displacement="yes")


@pytest.mark.parametrize("kw, match", [
    ({"n": 2.5}, r"n must be an integer; got 2\.5"),
    ({"n": "30"}, r"n must be an integer; got '30'"),
    ({"n": 0}, r"n must be an integer >= 2; got 0"),
    ({"margin": 0.4}, r"margin must be in \[0, 0\.333333\); got 0\.4"),
    ({"margin": -0.1}, r"margin must be in \[0, 0\.333333\)"),
    ({"margin": np.nan}, r"margin must be"),
])
def test_simplex_grid_refuses_bad_arguments_by_name(kw, match):
    with pytest.raises(ValueError, match=match):
        mp.simplex_grid(**kw)
    assert mp.simplex_grid(2, margin=0.0).inside.any()


def test_mark_handles_refuses_more_than_four_marks_and_non_rounds():
    # it used to drop the fifth mark silently (zip over the four markers)
    with pytest.raises(ValueError, match=r"marks: at most 4 rounds can be marked .*got 5"):
        mp.mark_handles([1, 2, 3, 4, 5])
    with pytest.raises(ValueError, match=r"marks must be a sequence of rounds"):
        mp.mark_handles(10)
    with pytest.raises(ValueError, match=r"marks\[1\] must be an integer >= 0; got -1"):
        mp.mark_handles([10, -1])
    with pytest.raises(ValueError, match=r"marks\[0\] must be an integer; got 1\.5"):
        mp.mark_handles([1.5])
    assert len(mp.mark_handles([1, 2, 3, 4])) == 5


def _portrait_inputs():
    g = mp.simplex_grid(6)
    vel = np.where(g.inside[..., None], g.points - 1 / 3, np.nan)
    return g, vel


@pytest.mark.parametrize("kw, match", [
    ({"fixed_points": [[1 / 3] * 3], "stability": ["stabel"]},
     r"stability\[0\] must be one of 'stable', 'unstable', 'neutral'; got 'stabel'"),
    ({"fixed_points": [[1 / 3] * 3], "stability": ["stable", "stable"]},
     r"stability must have one entry per fixed point \(1\); got 2"),
    ({"fixed_points": [[0.5, 0.5, 0.5]]}, r"fixed_points must sum to 1"),
    ({"fixed_points": [1 / 3] * 3}, r"fixed_points must have shape \(T, 3\)"),
    ({"trajectories": [[[0.5, 0.5]]]}, r"trajectories\[0\] must have K = 3 modes"),
    ({"trajectories": [[1 / 3] * 3]}, r"trajectories\[0\] must have shape \(T, 3\)"),
    ({"density": 0}, r"density must be a finite number > 0; got 0"),
    ({"marks": [0, -1]}, r"marks\[1\] must be an integer >= 0"),
    # a string used to be split into letters (labels "abc": three vertex names a, b, c)
    ({"labels": "abc"}, r"labels must be a sequence of 3 vertex names \(a list of strings\); got 'abc'"),
    ({"labels": ["a", "b"]}, r"labels must name the 3 vertices \(modes\); got 2 entries"),
    ({"trajectories": 5}, r"trajectories must be a sequence of arrays of shape \(T, 3\); got 5"),
    ({"fixed_points": [[1 / 3] * 3], "stability": 5}, r"stability must be a sequence of labels"),
    ({"fixed_points": [[1 / 3] * 3, [1, 0, 0]], "stability": "stable"},
     r"stability must have one entry per fixed point \(2\); got 1"),
])
def test_portrait_refuses_bad_arguments_by_name(ax, kw, match):
    g, vel = _portrait_inputs()
    with pytest.raises(ValueError, match=match):
        mp.plot_portrait(g, vel, ax=ax, **kw)


def test_portrait_refuses_a_bad_grid_or_velocity_by_name(ax):
    g, vel = _portrait_inputs()
    with pytest.raises(ValueError, match=r"grid must be a SimplexGrid"):
        mp.plot_portrait(g.points, vel, ax=ax)
    with pytest.raises(ValueError, match=r"velocity must have the grid's shape \(6, 6, 3\); got shape \(6, 6, 2\)"):
        mp.plot_portrait(g, vel[..., :2], ax=ax)
    with pytest.raises(ValueError, match=r"velocity must be finite at the grid's inside nodes"):
        mp.plot_portrait(g, np.full(vel.shape, np.nan), ax=ax)
    mp.plot_portrait(g, vel, trajectories=[[[0.5, 0.3, 0.2], [0.6, 0.2, 0.2]]], marks=[5],
                     fixed_points=[[1 / 3] * 3], stability=["neutral"], ax=ax)  # a mark past the end: not drawn


def test_portrait_reads_one_stability_string_as_one_label_and_refuses_a_non_axes(ax):
    g, vel = _portrait_inputs()
    mp.plot_portrait(g, vel, fixed_points=[[1 / 3] * 3], stability="unstable", labels=("a", "b", "c"), ax=ax)
    (dot,) = ax.collections[-1:]
    assert dot.get_label() == "unstable"
    with pytest.raises(ValueError, match=r"ax must be a matplotlib Axes \(or None for the current axes\); got 3"):
        mp.plot_portrait(g, vel, ax=3)
