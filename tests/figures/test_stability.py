"""Figure ``stability``: S8's closed form against the numerical tangent-space Jacobian."""

from __future__ import annotations

import numpy as np

from modesim import plot as mp


def test_stability_numeric_jacobian_matches_s8(built):
    d = built["stability"].data
    assert float(d["max_abs_error"]) < 1e-5
    for key in [k for k in d if k.startswith("closed_")]:
        assert np.all(d[key] > 1.0)
    i = int(np.argmin(np.abs(d["alpha_numeric"] - 0.5)))
    np.testing.assert_allclose(d["numeric_K3"][i], 1 + (np.log(4) - 0.75) / 3, atol=1e-5)  # theory S8


def test_sweeps_are_drawn_in_shades_of_sd(built):
    fig = built["stability"].figure
    sd = mp.method_style("SD")
    for ax in fig.axes:
        curves = [ln for ln in ax.get_lines() if ln.get_label().startswith("SD")]
        assert len(curves) >= 2
        assert all(ln.get_color().upper() in sd.colors for ln in curves)
        assert len({ln.get_color() for ln in curves}) == len(curves)
