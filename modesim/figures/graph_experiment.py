"""Figure ``graph_experiment``: the paper's controlled experiment on concept graphs (theory §10)."""

from __future__ import annotations

import numpy as np

from .. import plot as mp
from ..scenarios.concept_graphs import SPLIT_ORDER, graph_experiment
from ._registry import FigureResult, register


def _styles(methods):
    """One registered look per method; a method's β settings and ablations are its shades."""
    out = {}
    for family in ("GRPO", "SD"):
        members = [m for m in methods if m.startswith(family)]
        for m, style in zip(members, mp.method_style(family).variants(len(members))):
            out[m] = style
    return out


@register("graph_experiment", "The controlled graph experiment: one log-linear next-concept policy "
          "shared by many concept graphs, trained with N = 8 rollouts by GRPO or by "
          "self-distillation (EMA teacher, KL β to the base); in-distribution pass@1 and "
          "harder-graph pass@16 over training, how strongly each method sharpens the base, "
          "and pass@16 on each split (exact, by dynamic programming).")
def graph_experiment_figure(*, quick: bool, width: str) -> FigureResult:
    """:func:`modesim.scenarios.graph_experiment` (theory §10.4) at a reduced size (the README's
    table comes from the full run).

    Raises
    ------
    ValueError
        ``quick`` not a boolean or ``width`` not ``"single"``/``"double"`` (checked by the
        registry's wrapper before anything is computed).

    Notes
    -----
    Source: the experiment's design is the paper's (arXiv 2606.26091); the model is ours
    (theory §10).
    """
    if quick:
        res = graph_experiment(quick=True, steps=60, n_train=8, n_eval=8, every=20)
    else:
        res = graph_experiment(n_train=32, n_eval=32, steps=600, n_seeds=1, every=25)
    trained = [m for m in res.methods if m in res.curves]
    styles = _styles(trained)
    step = res.curves[trained[0]]["step"]
    j = res.features.index("log_base") if "log_base" in res.features else 0
    data = {"step": step, "methods": np.array(res.methods)}
    for m in trained:
        data[f"{m} in pass@1"] = res.curves[m]["in_distribution pass@1"]
        data[f"{m} harder pass@16"] = res.curves[m]["harder pass@16"]
        data[f"{m} weight"] = res.curves[m]["theta"][:, j]
    for m in res.methods:
        data[f"{m} pass@16 by split"] = np.array([res.values[m][s]["pass@16"] for s in SPLIT_ORDER])

    fig, ax = mp.panel_figure(4, width=width, panel_height=2.0 if width == "double" else 1.8)
    curve = {m: data[f"{m} in pass@1"] for m in trained}
    mp.plot_curves(step, curve, styles=styles, xlabel="training step", ylabel="pass@1", legend=False, ax=ax[0])
    mp.plot_curves(step, {m: data[f"{m} harder pass@16"] for m in trained}, styles=styles,
                   xlabel="training step", ylabel="pass@16", legend=False, ax=ax[1])
    mp.plot_curves(step, {m: data[f"{m} weight"] for m in trained}, styles=styles, xlabel="training step",
                   ylabel="weight on log π0", legend=False, ax=ax[2])
    groups = {m: data[f"{m} pass@16 by split"] for m in res.methods}
    colors = {m: s.color for m, s in styles.items()}
    short = {"in_distribution": "in dist.", "larger": "larger", "harder": "harder"}
    mp.plot_bars([short[s] for s in SPLIT_ORDER], groups, colors=colors, ylabel="pass@16",
                 legend=False, ax=ax[3])
    mp.shared_legend(fig, ax[3], ncols=4 if width == "double" else 2)
    titles = ["in distribution", "harder graphs", "sharpening of the base", "pass@16 by split"]
    mp.panel_letters(ax, titles)
    return FigureResult(data, fig)
