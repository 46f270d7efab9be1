"""Figure ``pass_at_k``: SD falls behind out of distribution; the spread across prompts is drawn."""

from __future__ import annotations

import numpy as np
from matplotlib.collections import PolyCollection

import modesim as ms
from modesim.figures.pass_at_k import _prompt_bank


def test_pass_at_k_sd_flattens_out_of_distribution(built):
    d = built["pass_at_k"].data
    i16 = int(np.flatnonzero(d["k"] == 16)[0])
    assert d["SD_ood"][i16] < d["RL_ood"][i16]
    assert d["SD_ood"][i16] < d["base_ood"][i16]
    assert d["SD_in"][0] > d["base_in"][0] and d["RL_in"][0] > d["base_in"][0]
    for key in ("base_in", "RL_in", "SD_in", "base_ood", "RL_ood", "SD_ood"):
        assert np.all(np.diff(d[key]) >= -1e-15) and np.all(d[key] <= 1.0)


def test_the_bands_are_the_quartiles_of_the_per_prompt_pass_at_k(built):
    """Recomputed here prompt by prompt (one task per prompt), not from the batched call."""
    d = built["pass_at_k"].data
    task = _prompt_bank(32)
    per_prompt = np.array([ms.pass_at_k(task.base[i], task.valid[i], d["k"]) for i in range(32)])
    np.testing.assert_allclose(d["base_in"], per_prompt.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(d["base_in_quantiles"], np.quantile(per_prompt, [0.25, 0.75], axis=0),
                               rtol=1e-12)
    lo, hi = d["base_in_quantiles"]
    assert np.all(lo <= hi) and np.any(hi - lo > 0.05)  # a visible spread
    fig = built["pass_at_k"].figure
    bands = [c for ax in fig.axes for c in ax.collections if isinstance(c, PolyCollection)]
    assert len(bands) == 6  # three methods, two panels
