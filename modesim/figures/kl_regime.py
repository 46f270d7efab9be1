"""Figure ``kl_regime``: where self-distillation with a KL penalty to the base collapses (theory §8.4)."""

from __future__ import annotations

import numpy as np

from .. import plot as mp
from ..kl_strength import collapse_regime
from ._registry import FigureResult, register


@register("kl_regime", "Collapse depth of self-distillation with a KL penalty to the base over copy "
          "strength α and KL strength β (two correct answers, base 0.6 : 0.4): log10 of the "
          "minority's share at the rest point, the closed-form threshold β_c(α) below which the "
          "out-of-distribution pass@16 is under 1 %, the instability threshold β*(α) of the "
          "diverse state, and the band of β practitioners use (0 to 0.04).", width="single")
def kl_regime(*, quick: bool, width: str) -> FigureResult:
    """The (α, β) regime map of :func:`modesim.collapse_regime` (theory §8.4, theorems K1, K2): exact rest
    points of the compounding copy-teacher round with KL to π0, the K1 threshold
    ``β_c(α) = log(1 − α)/log δ`` (δ = 1e-2) and the K2 threshold ``β*(α)``.

    Raises
    ------
    ValueError
        ``quick`` not a boolean or ``width`` not ``"single"``/``"double"`` (checked by the
        registry's wrapper before anything is computed).
    """
    n_alpha, n_beta = (10, 12) if quick else (60, 80)
    alpha = np.linspace(0.05, 0.95, n_alpha)
    beta = np.geomspace(1e-3, 1.0, n_beta)
    r = collapse_regime(alpha, beta, p0=0.6, k=16, tol=1e-2)
    data = {"alpha": r.alpha, "beta": r.beta, "log10_depth": r.log10_depth,
            "ood_pass_at_16": r.ood_pass_at_k, "critical_beta": r.critical_beta,
            "instability_beta": r.instability_beta, "practice_beta": np.array(r.practice_beta)}
    from matplotlib.colors import Normalize

    floor = -12.0
    depth = np.maximum(r.log10_depth, floor)
    fig, ax = mp.panel_figure(1, width=width, panel_height=2.4)
    ax = ax[0]
    log_beta = np.log10(r.beta)  # the map is drawn on a log10 β axis, ticks written as β
    mp.plot_heatmap(r.alpha, log_beta, depth.T, xlabel="copy strength α", ylabel="KL strength β to π0",
                    norm=Normalize(vmin=floor, vmax=0.0), cmap="viridis", colorbar=False, ax=ax)
    from matplotlib import patheffects

    halo = [patheffects.withStroke(linewidth=2.6, foreground="white")]  # readable on dark and light
    ax.plot(r.alpha, np.log10(r.critical_beta), color="black", lw=1.2, ls="-", path_effects=halo,
            label="β_c: OOD pass@16 = 1 %")
    ax.plot(r.alpha, np.log10(np.clip(r.instability_beta, r.beta[0], None)), color="black", lw=1.0, ls="--",
            path_effects=halo, label="β*: diverse state unstable")
    lo, hi = r.practice_beta
    ax.axhspan(log_beta[0], np.log10(hi), facecolor="none", edgecolor="0.65", hatch="////", lw=0,
               label="β in practice (≤ 0.04)")
    ax.set_ylim(log_beta[0], log_beta[-1])
    ax.set_yticks([-3, -2, -1, 0], ["0.001", "0.01", "0.1", "1"])
    from matplotlib.cm import ScalarMappable

    bar = fig.colorbar(ScalarMappable(Normalize(vmin=floor, vmax=0.0), "viridis"), ax=ax, pad=0.02)
    bar.set_label("log10 minority share\nat the rest point")
    ax.legend(loc="upper left", framealpha=0.8)
    mp.panel_letters([ax], ["collapse depth over α and β"])
    return FigureResult(data, fig)
