"""Figure ``amplification``: the amplification exponent of one SD round over parameter grids."""

from __future__ import annotations

import numpy as np

from .. import plot as mp
from ..distill import sd_optimum
from ..metrics import amplification_exponent
from ..task import make_task, zipf_task
from ..teachers import CopyTeacher
from ._registry import FigureResult, register

#: Contour levels drawn (and labelled) on both panels.
LEVELS = (1.05, 1.2, 1.5)


def _exponent(task, after):
    return amplification_exponent(np.broadcast_to(task.base, after.shape), after,
                                  np.broadcast_to(task.valid, after.shape))


@register("amplification", "Amplification exponent of one self-distillation round (slope of "
          "log π' against log π over correct answers; 1 = ratios preserved) over copy strength α "
          "and KL strength β, and over α and the base policy's skew, on one colour scale.")
def amplification(*, quick: bool, width: str) -> FigureResult:
    """:func:`modesim.amplification_exponent` of :func:`modesim.sd_optimum` (theory §3.4, S4)
    on a grid of (α, β) for the base (0.6, 0.3, 0.1), and of (α, Zipf skew s) for K = 8
    at β = 0; each grid is one batched call (parameters as arrays, theory §1).

    Raises
    ------
    ValueError
        ``quick`` not a boolean or ``width`` not ``"single"``/``"double"`` (checked by the
        registry's wrapper before anything is computed).
    """
    n = 12 if quick else 100
    alpha = np.linspace(0.02, 0.95, n)
    beta = np.linspace(0.0, 4.0, n)
    skew = np.linspace(0.25, 3.0, n)
    task = make_task([0.6, 0.3, 0.1])
    by_beta = _exponent(task, sd_optimum(task, teacher=CopyTeacher(alpha[None, :]), beta=beta[:, None]))
    # One batched task: a prompt per Zipf exponent s (K = 8) on a leading axis, α after it.
    zipf = make_task(np.stack([zipf_task(8, s).base for s in skew])[:, None, :])
    by_skew = _exponent(zipf, sd_optimum(zipf, teacher=CopyTeacher(alpha)))
    data = {"alpha": alpha, "beta": beta, "skew": skew, "by_beta": by_beta, "by_skew": by_skew}
    from matplotlib.colors import Normalize

    norm = Normalize(vmin=1.0, vmax=float(max(by_beta.max(), by_skew.max())))
    fig, ax = mp.panel_figure(2, width=width, panel_height=2.1 if width == "double" else 1.75)
    common = {"xlabel": "copy strength α", "contours": LEVELS, "norm": norm, "colorbar": False}
    mp.plot_heatmap(alpha, beta, by_beta, ylabel="KL strength β", ax=ax[0], **common)
    mp.plot_heatmap(alpha, skew, by_skew, ylabel="base skew s (Zipf, K = 8)", ax=ax[1], **common)
    from matplotlib.cm import ScalarMappable

    bar = fig.colorbar(ScalarMappable(norm, "viridis"), ax=ax, pad=0.01, aspect=25)
    bar.set_label("amplification exponent\n(1 = ratios preserved)")
    bar.ax.axhline(1.0, color="white", lw=0.5)
    if width == "double":
        titles = ["exponent over α and β, base (0.6, 0.3, 0.1)", "exponent over α and skew s, β = 0"]
    else:
        titles = ["over α, β (K = 3)", "over α, s (β = 0)"]
    mp.panel_letters(ax, titles)
    return FigureResult(data, fig)
