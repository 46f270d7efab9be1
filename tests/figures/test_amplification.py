"""Figure ``amplification``: exponents over parameter grids, one batched call each, one scale."""

from __future__ import annotations

import numpy as np
from matplotlib.collections import QuadMesh

import modesim as ms
from modesim.figures import build_figure


def test_amplification_exceeds_one_grows_with_alpha_shrinks_with_beta(built):
    d = built["amplification"].data
    assert d["by_beta"].shape == (d["beta"].size, d["alpha"].size)
    assert d["by_skew"].shape == (d["skew"].size, d["alpha"].size)
    for grid in (d["by_beta"], d["by_skew"]):
        assert np.all(grid > 1.0)
        assert np.all(np.diff(grid, axis=1) > 0)
    assert np.all(np.diff(d["by_beta"], axis=0) < 0)


def test_the_batched_grid_matches_one_call_per_grid_point(built):
    d = built["amplification"].data
    task = ms.make_task([0.6, 0.3, 0.1])
    for i, j in [(0, 0), (3, 7), (-1, -1)]:
        after = ms.sd_optimum(task, teacher=ms.CopyTeacher(d["alpha"][j]), beta=d["beta"][i])
        assert d["by_beta"][i, j] == ms.amplification_exponent(task.base, after, task.valid)
        zipf = ms.zipf_task(8, d["skew"][i])
        after = ms.sd_optimum(zipf, teacher=ms.CopyTeacher(d["alpha"][j]))
        np.testing.assert_allclose(d["by_skew"][i, j],
                                   ms.amplification_exponent(zipf.base, after, zipf.valid), rtol=1e-13)


def test_both_panels_share_one_colour_scale(built):
    fig = built["amplification"].figure
    panels = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
    meshes = [c for ax in panels for c in ax.collections if isinstance(c, QuadMesh)]
    assert len(meshes) == 2 and meshes[0].norm is meshes[1].norm
    d = built["amplification"].data
    assert meshes[0].norm.vmin == 1.0 and meshes[0].norm.vmax >= max(d["by_beta"].max(), d["by_skew"].max())


def test_the_full_figure_is_resolved():
    d = build_figure("amplification").data
    assert d["by_beta"].shape == (100, 100) and d["by_skew"].shape == (100, 100)
