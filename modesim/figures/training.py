"""Figure ``training``: finite-sample GRPO against sampled self-distillation across seeds."""

from __future__ import annotations

import numpy as np

from .. import _checks as chk
from .. import plot as mp
from ..dynamics import flow
from ..metrics import effective_modes, fixation_probability
from ..sampled import SampledRL, SampledSD, train
from ._common import EFFECTIVE_MODES, MODE_LABELS, demo_task
from ._registry import FigureResult, register

#: Quantiles drawn as bands (within each outcome cluster, and across seeds for diversity).
QUANTILES = (0.25, 0.75)
#: A run has fixed on a mode when that mode holds more than ``1 − FIX_EPS`` of the policy.
FIX_EPS = 1e-2


def clusters(final: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """The outcome of each seed: the index of the correct mode it ends up favouring.

    ``final`` has shape (seeds, K); returns shape (seeds,).  Sampled SD's outcomes are
    bimodal (most seeds fix on the favourite y₁, a few on y₂), so the figure follows each
    cluster on its own instead of drawing one band across both (theory §3.6: finite-sample
    SD; S6 for the exact rule's single outcome).

    Parameters
    ----------
    final : array_like, shape (seeds, K)
        Each seed's final policy (probabilities: finite, >= 0, rows summing to 1).
    valid : array_like of bool (or 0/1), broadcasting to (seeds, K)
        The correct modes; every row must mark at least one.

    Raises
    ------
    ValueError
        Naming ``final`` when it is not probabilities of shape (seeds, K), or ``valid``
        when it is not a boolean mask broadcasting to ``final``'s shape with at least one
        valid mode per row.
    """
    chk.probabilities(final, "final")
    final = np.asarray(final, dtype=np.float64)  # as given: the outcome is an argmax
    if final.ndim != 2:
        raise ValueError(f"final must have shape (seeds, K); got shape {final.shape}")
    valid = chk.mask(valid, final.shape, "valid")
    return np.argmax(np.where(valid, final, -np.inf), axis=-1)


@register("training", "Finite-sample training (N = 8 rollouts per step) on the running example: "
          "the favourite answer's probability across seeds, split by the answer each seed ends "
          "on (median and middle half of each group, with its number of seeds), the mean-field "
          "limit, the effective number of correct answers, and how often each answer fixes.")
def training(*, quick: bool, width: str) -> FigureResult:
    """:mod:`modesim.sampled`: GRPO against sampled-demo SD across seeds (theory §2.3, §3.6).

    (a, b) π(y₁) of every seed, grouped by the correct answer the seed favours at the end:
    each group's median with its 25–75 % band, labelled with the group's number of seeds,
    and the mean field (:func:`modesim.flow`); (c) effective number of correct answers,
    median and 25–75 % band across seeds; (d) fraction of seeds fixed on each answer.

    Raises
    ------
    ValueError
        ``quick`` not a boolean or ``width`` not ``"single"``/``"double"`` (checked by the
        registry's wrapper before anything is computed).

    Notes
    -----
    Source: GRPO's advantage as introduced with DeepSeekMath (Shao et al., 2024) and the
    sampled SD design of the paper and the public trainers (theory §2.3, §3.6).
    """
    task = demo_task()
    steps, seeds, every = (150, 24, 10) if quick else (600, 400, 10)
    rules = {"GRPO": SampledRL(lr=1.0, seed=0), "SD": SampledSD(lr=1.0, seed=1)}
    data: dict[str, np.ndarray] = {"quantile_levels": np.array(QUANTILES)}
    for label, rule in rules.items():
        traj = train(rule, task, steps, n_seeds=seeds, every=every)
        data["steps"] = traj.times
        fav = traj.policy[:, :, 0]  # (T, seeds)
        data[f"{label}_outcome"] = clusters(traj.policy[-1], task.valid)
        for mode in range(3):
            members = data[f"{label}_outcome"] == mode
            data[f"{label}_share_y{mode + 1}"] = np.array(members.mean())
            if members.any():
                data[f"{label}_median_y{mode + 1}"] = np.median(fav[:, members], axis=1)
                data[f"{label}_band_y{mode + 1}"] = np.quantile(fav[:, members], QUANTILES, axis=1)
        data[f"{label}_mean_field"] = flow(rule, task, traj.times.astype(float)).policy[:, 0]
        eff = effective_modes(traj.policy, task.valid)  # (T, seeds)
        data[f"{label}_effective_modes"] = eff.mean(axis=1)
        data[f"{label}_effective_modes_median"] = np.median(eff, axis=1)
        data[f"{label}_effective_modes_band"] = np.quantile(eff, QUANTILES, axis=1)
        data[f"{label}_fixation"] = fixation_probability(traj.policy[-1], eps=FIX_EPS)

    fig, ax = mp.panel_figure(4, width=width, panel_height=2.1)
    x = data["steps"]
    for j, label in enumerate(rules):
        looks = mp.method_style(label).variants(3)
        for mode in range(3):
            key = f"{label}_median_y{mode + 1}"
            if key not in data:
                continue
            count = int((data[f"{label}_outcome"] == mode).sum())
            mp.plot_fan(x, data[key], data[f"{label}_band_y{mode + 1}"], color=looks[mode].color,
                        linestyle=looks[mode].linestyle,
                        label=f"{MODE_LABELS[mode]}: {count}", ax=ax[j])
        ax[j].plot(x, data[f"{label}_mean_field"], **mp.REFERENCE, ls=":", label="mean field")
        ax[j].set(xlabel="step", ylim=(-0.02, 1.02))
        mp.round_ticks(ax[j], x[-1])
        ax[j].legend(handlelength=1.6, title="seeds ending on")
    ax[0].set_ylabel(f"π({MODE_LABELS[0]}), the favourite")
    for label in rules:
        style = mp.method_style(label)
        ax[2].fill_between(x, *data[f"{label}_effective_modes_band"], color=style.color, alpha=0.15, lw=0)
    mp.plot_curves(x, {lab: data[f"{lab}_effective_modes_median"] for lab in rules},
                   xlabel="step", integer_x=True, ylabel=EFFECTIVE_MODES, legend=False, ax=ax[2])
    ax[2].legend(title="median, 25–75 %")
    ax[2].set_ylim(0.95, 3.05)
    mp.plot_bars(MODE_LABELS, {lab: data[f"{lab}_fixation"] for lab in rules},
                 ylabel=f"fraction of seeds\nfixed (π > {1 - FIX_EPS:g})", ax=ax[3])
    ax[3].set_ylim(0, 1.05)
    mp.panel_letters(ax, [f"GRPO, {seeds} seeds", f"SD, {seeds} seeds", "diversity",
                          f"after {steps} steps"])
    return FigureResult(data, fig)
