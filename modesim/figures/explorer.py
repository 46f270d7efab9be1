"""The dynamics explorer behind ``notebooks/dynamics_explorer.ipynb`` (not a paper figure).

The notebook's sliders call :func:`explore`; the tests call it too, at every ``K`` the
sliders allow, and check the figure with :func:`modesim.plot.check_figure`.
"""

from __future__ import annotations

import numpy as np

from .. import _checks as chk
from .. import plot as mp
from ..distill import SelfDistillation
from ..dynamics import iterate
from ..metrics import pass_at_k
from ..rl import NaturalPG
from ..task import zipf_task
from ..teachers import CopyTeacher
from ._registry import FigureResult

__all__ = ["explore", "K_RANGE"]

#: The numbers of correct answers the explorer's K slider offers.
K_RANGE = (2, 20)


def explore(alpha=0.5, beta=0.0, eta=1.0, K=3, s=1.0, rounds=10, *, width="double") -> FigureResult:
    """RL and SD on a Zipf base over ``K`` correct answers and one wrong one (theory §2.2, §3.5, §4).

    The base is ``π0(y) ∝ (y + 1)^(−s)`` over ``K + 1`` modes, the last (least likely)
    wrong.  Panels: (a) RL (natural PG, step ``eta``) and (b) SD (copy teacher ``alpha``,
    KL ``beta`` to the base, step size ``eta``) for ``rounds`` rounds, every mode's
    probability; (c) pass@k when the favourite answer y₁ stops working.

    Modes get distinct colours for any ``K`` (a legend up to 8 correct answers, a colour
    bar beyond); RL and SD differ in colour, line style and markers, so curves that
    coincide (RL and SD at ``s = 0``) stay visible.

    Returns
    -------
    FigureResult
        ``data``: ``rl`` and ``sd`` (final policies), ``base``, ``valid``, ``k`` and the
        pass@k curves; ``figure`` at its printed width.

    Raises
    ------
    ValueError
        Naming the argument (checked before anything is computed): ``K`` not an integer
        in 2…20, ``rounds`` not an integer >= 1, or a single number outside its range:
        ``eta`` in (0, 1] (RL's learning rate and SD's step size), ``alpha`` in [0, 1),
        ``beta`` >= 0, ``s`` >= 0; ``width`` not a printed width.
    """
    K = chk.integer(K, "K", low=K_RANGE[0], high=K_RANGE[1])
    rounds = chk.integer(rounds, "rounds", low=1)
    eta = chk.real(eta, "eta", low=0.0, high=1.0, low_open=True, allow_array=False)
    alpha = chk.real(alpha, "alpha", low=0.0, high=1.0, high_open=True, allow_array=False)
    beta = chk.real(beta, "beta", low=0.0, allow_array=False)
    s = chk.real(s, "s", low=0.0, allow_array=False)
    mp.figure_width(width)
    valid = np.arange(K + 1) < K
    blocked = valid & (np.arange(K + 1) != 0)  # out of distribution: y₁ stops working
    task = zipf_task(K + 1, s, valid=valid, ood={"top_blocked": blocked})
    rl = iterate(NaturalPG(lr=eta), task, rounds)
    sd = iterate(SelfDistillation(teacher=CopyTeacher(alpha), beta=beta, step_size=eta), task, rounds)
    k = 2 ** np.arange(0, 9)
    data = {"rl": rl.policy[-1], "sd": sd.policy[-1], "base": task.base, "valid": valid, "k": k}
    curves = {"base": task.base, "RL": rl.policy[-1], "SD": sd.policy[-1]}
    for name, p in curves.items():
        data[f"{name}_ood"] = pass_at_k(p, blocked, k)
    with mp.style():
        fig, ax = mp.panel_figure(3, width=width, panel_height=2.0)
        labels = mp.mode_labels(K + 1)
        few = K <= 8
        mp.plot_rounds(rl.times, rl.policy, labels=labels, valid=valid, key=None, ax=ax[0])
        mp.plot_rounds(sd.times, sd.policy, labels=labels, valid=valid,
                       key=None if few else "colorbar", ax=ax[1])
        mp.plot_pass_at_k(k, {name: data[f"{name}_ood"] for name in curves}, ax=ax[2])
        if few:
            mp.shared_legend(fig, ax[0], ncols=min(K + 1, 5 if width == "double" else 3))
        mp.panel_letters(ax, [f"RL (η = {eta:g})", f"SD (α = {alpha:g}, β = {beta:g})",
                              "y₁ blocked (OOD)"])
        mp.finish_figure(fig)
    return FigureResult(data, fig)
