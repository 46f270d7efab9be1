"""Figure ``paths``: SD collapses onto one path and fails on the harder graph."""

from __future__ import annotations

import numpy as np


def test_paths_sd_collapses_to_one_path_and_fails_on_the_harder_graph(built):
    d = built["paths"].data
    assert d["SD_distinct_paths"][-1] < d["SD_distinct_paths"][0] < d["RL_distinct_paths"][-1]
    assert np.all(np.diff(d["RL_distinct_paths"]) > 0)
    assert d["SD_distinct_concepts"][-1] < d["RL_distinct_concepts"][-1]
    i16 = int(np.flatnonzero(d["k"] == 16)[0])
    assert d["SD_harder"][i16] < 0.1 < 0.9 < d["RL_harder"][i16]
    assert d["SD_in"][0] > 0.9 and d["RL_in"][0] > 0.9
    # Token entropy keeps more of its starting value than the number of strategies does.
    tok, strat = d["synonym_token_entropy"], d["synonym_distinct_strategies"]
    assert tok[-1] / tok[0] > strat[-1] / strat[0]


def test_count_axes_start_at_zero_and_rounds_end_at_the_last_round(built):
    fig = built["paths"].figure
    paths_ax, concepts_ax = fig.axes[0], fig.axes[1]
    assert paths_ax.get_ylim()[0] == 0 and concepts_ax.get_ylim()[0] == 0
    assert paths_ax.get_ylim()[1] >= float(built["paths"].data["n_valid_paths"])
    last = built["paths"].data["rounds"][-1]
    for ax in (paths_ax, concepts_ax):
        lo, hi = ax.get_xlim()
        ticks = [t for t in ax.get_xticks() if lo <= t <= hi]
        assert max(ticks) <= last
    assert concepts_ax.get_ylabel() == "distinct concepts (nodes)"
