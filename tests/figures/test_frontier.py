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


def _markers(fig, ax):
    """Marker centres in points, per method (filled β = 0 marker and open β = 0.04 marker)."""
    out = {}
    for line in ax.get_lines():
        if not line.get_gid():
            continue
        xy = line.get_transform().transform(line.get_xydata()) * 72.0 / fig.dpi
        out.setdefault(line.get_gid(), []).append(xy[:1] if not line.get_label().startswith("_") else xy)
    return {name: np.vstack(v) for name, v in out.items()}


def test_no_method_hides_another(built):
    """Methods whose markers would coincide (on the quick data GRPO, anti-distillation and the
    diversity bonus all sit near the origin of panel a) are drawn apart: every two methods'
    markers are at least 0.8 × SEPARATION points apart, while GRPO stays at the origin."""
    from modesim.figures.frontier import SEPARATION

    fig = built["frontier"].figure
    fig.canvas.draw()
    panels = [ax for ax in fig.axes if any(line.get_gid() for line in ax.get_lines())]
    assert len(panels) == 4
    for ax in panels:
        pos = _markers(fig, ax)
        names = list(pos)
        assert names[0] == "GRPO"
        origin = ax.transData.transform([0.0, 0.0]) * 72.0 / fig.dpi
        np.testing.assert_allclose(pos["GRPO"], np.vstack([origin, origin]), atol=1e-6)
        for i, a in enumerate(names):
            for b in names[i + 1:]:
                gap = np.min(np.linalg.norm(pos[a][:, None] - pos[b][None], axis=-1))
                assert gap >= 0.8 * SEPARATION, (ax.get_title(), a, b, gap)


def test_dodge_keeps_apart_what_the_data_puts_together():
    """Negative control: three methods at one point end up SEPARATION apart, the first unmoved."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    from modesim.figures.frontier import SEPARATION, _dodge

    fig = Figure(figsize=(3, 3))
    ax = fig.subplots()
    ax.set_xlim(-1, 1)
    ax.set_ylim(-1, 1)
    artists, points = {}, {}
    for name in ("a", "b", "c"):
        (line,) = ax.plot([0.0, 0.001], [0.0, 0.0], marker="o", gid=name)
        artists[name], points[name] = (line,), np.array([[0.0, 0.0], [0.001, 0.0]])
    offsets = _dodge(fig, ax, artists, points)
    assert offsets["a"] == (0.0, 0.0) and offsets["b"] != (0.0, 0.0) and offsets["c"] != offsets["b"]
    fig.canvas.draw()
    pos = {n: artists[n][0].get_transform().transform(points[n]) * 72.0 / fig.dpi for n in artists}
    for a, b in (("a", "b"), ("a", "c"), ("b", "c")):
        assert np.min(np.linalg.norm(pos[a][:, None] - pos[b][None], axis=-1)) >= SEPARATION - 1e-9
