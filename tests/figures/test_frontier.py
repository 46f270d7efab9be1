"""Figure ``frontier``: every remedy relative to GRPO on both environments (theory §11)."""

from __future__ import annotations

import numpy as np

from modesim import plot as mp
from modesim.figures.frontier import REMEDY_LOOKS
from modesim.remedies import CATALOGUE


def test_frontier_data_is_relative_to_grpo(built):
    d = built["frontier"].data
    assert list(d["columns"]) == ["pass@1", "pass@16", "ood pass@16"]
    for env in ("prompt_bank", "graph"):
        methods = list(d[f"{env}_methods"])
        assert methods[:2] == ["GRPO", "SD"]
        rel, val = d[f"{env}_relative"], d[f"{env}_values"]
        assert rel.shape == val.shape == (len(methods), 2, 3)
        np.testing.assert_array_equal(rel[0], 0.0)
        np.testing.assert_allclose(rel, val - val[:1], atol=1e-15)
    assert len(d["prompt_bank_methods"]) == 10 and len(d["graph_methods"]) == 6


def test_every_remedy_has_its_registered_look(built):
    """Each catalogue entry is a registered method of the remedy family, drawn in its colour."""
    for r in CATALOGUE:
        style = mp.method_style(r.name)
        assert style.name == r.name and style.family == "remedy"
    assert set(REMEDY_LOOKS) | {"GRPO + diversity bonus"} == {r.name for r in CATALOGUE}
    fig = built["frontier"].figure
    drawn = {line.get_label(): line for ax in fig.axes for line in ax.get_lines() if not line.get_label().startswith("_")}
    for name, line in drawn.items():
        assert line.get_color().upper() == mp.method_style(name).color
