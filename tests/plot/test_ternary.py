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
    with pytest.raises(ValueError, match="at least 2"):
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
