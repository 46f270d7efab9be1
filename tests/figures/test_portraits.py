"""Figure ``phase_portraits``: rest points by stability, flows, and a time scale that shows
softmax PG's drift as slow."""

from __future__ import annotations

import numpy as np

from modesim import plot as mp


def test_phase_portraits_fixed_points_and_flows(built):
    d = built["phase_portraits"].data
    centre = np.full(3, 1 / 3)

    def kind_at(key, point):
        i = np.argmin(np.abs(d[f"{key}_fixed_points"] - point).sum(-1))
        assert np.abs(d[f"{key}_fixed_points"][i] - point).sum() < 1e-6
        return d[f"{key}_stability"][i]

    # Copy teacher: unstable interior fixed point, stable vertices (S6).
    assert kind_at("sd_copy", centre) == "unstable"
    assert all(kind_at("sd_copy", v) == "stable" for v in np.eye(3))
    # Anti-copying teacher: the reverse (S5).
    assert kind_at("sd_anti", centre) == "stable"
    assert all(kind_at("sd_anti", v) == "unstable" for v in np.eye(3))
    # Natural PG never moves π(·|C) (R3); softmax PG moves it toward the richer answer (R4).
    assert np.nanmax(np.abs(d["npg_velocity"])) < 1e-12
    np.testing.assert_allclose(d["npg_trajectories"], np.broadcast_to(d["npg_trajectories"][:, :1], d["npg_trajectories"].shape), atol=1e-12)
    start, end = d["softmax_pg_trajectories"][3][[0, -1]]  # starts at (0.5, 0.3, 0.2)
    assert end[0] > start[0] and end[2] < start[2]
    # SD copy trajectories that start off-centre end near the vertex of their favourite.
    for path in d["sd_copy_trajectories"][3:]:
        assert np.argmax(path[-1]) == np.argmax(path[0]) and path[-1].max() > path[0].max()


def test_every_panel_runs_the_same_rounds_and_softmax_pg_is_the_slow_one(built):
    """At round 10 SD has all but reached the favourite's vertex; softmax PG has covered
    less than half of the way, and is still short of it at the last round (R4: the drift
    dies with the wrong mass)."""
    d = built["phase_portraits"].data
    rounds = int(d["rounds"])
    for key in ("npg", "softmax_pg", "sd_copy", "sd_anti"):
        assert d[f"{key}_trajectories"].shape == (9, rounds + 1, 3)
    soft, sd = d["softmax_pg_trajectories"][3], d["sd_copy_trajectories"][3]
    assert sd[10, 0] > 0.95
    assert soft[10, 0] - soft[0, 0] < 0.5 * (1 - soft[0, 0])
    assert 0.5 < soft[-1, 0] < 0.99


def test_streamlines_share_one_speed_scale(built):
    from matplotlib.collections import LineCollection

    fig = built["phase_portraits"].figure
    panels = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
    streams = [c for ax in panels for c in ax.collections if isinstance(c, LineCollection)]
    assert len(streams) == 3  # natural PG has no field to draw
    (norm,) = {c.norm for c in streams}
    lo, hi = built["phase_portraits"].data["speed_range"]
    assert norm.vmin <= lo < hi <= norm.vmax
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert labels[:2] == ["stable rest point", "unstable rest point"]
    assert labels[2:] == ["start"] + [f"round {t}" for t in (10, 100, 1000) if t <= rounds(built)]
    assert [t.get_text() for t in fig.axes[0].texts][:3] == ["y₁", "y₂", "y₃"]
    assert mp.method_style("softmax PG").color != mp.method_style("SD").color


def rounds(built):
    return int(built["phase_portraits"].data["rounds"])
