"""Figure ``ablations``: what stops (or does not stop) self-distillation's collapse."""

from __future__ import annotations

import numpy as np

from .. import plot as mp
from ..demos import UniformDemos
from ..dynamics import iterate
from ..metrics import effective_modes
from ..rl import NaturalPG
from ..sampled import SampledRL, SampledSD, train
from ..teachers import MultiDemoTeacher
from ._common import ALPHA, EFFECTIVE_MODES, demo_task, sd
from ._registry import FigureResult, register


def _effective_modes_over_rounds(rule, task, rounds) -> np.ndarray:
    return iterate(rule, task, rounds, metrics=["effective_modes"], record_policy=False).metrics[
        "effective_modes"
    ]


@register("ablations", "Ablations (effective number of correct answers over rounds): several "
          "demonstrations in context still collapse; uniformly diverse external "
          "demonstrations do not collapse in this model; a KL penalty to the base stops "
          "collapse part-way while a KL to the current policy only slows it; in finite-sample "
          "training a diversity bonus keeps GRPO on all correct answers.")
def ablations(*, quick: bool, width: str) -> FigureResult:
    """Ablations of theory §7: demonstrations in context, demonstration source, KL strength
    and reference, and finite-sample GRPO with a diversity bonus against sampled SD.

    The exact rounds use the running example and the copy teacher (theory §3.3, §3.5); the
    sampled panel follows theory §2.3 and §3.6.

    Raises
    ------
    ValueError
        ``quick`` not a boolean or ``width`` not ``"single"``/``"double"`` (checked by the
        registry's wrapper before anything is computed).

    Notes
    -----
    Source: the ablations are the paper's (arXiv 2606.26091, as summarised in theory §7);
    the model of them is ours.
    """
    task = demo_task()
    rounds = 6 if quick else 30
    betas = np.array([0.03, 0.3, 3.0]) if quick else np.geomspace(0.01, 30.0, 15)
    data: dict[str, np.ndarray] = {"rounds": np.arange(rounds + 1), "betas": betas}
    data["RL"] = _effective_modes_over_rounds(NaturalPG(lr=1.0), task, rounds)
    for m in (1, 3, 8):
        data[f"demos_m{m}"] = _effective_modes_over_rounds(
            sd(teacher=MultiDemoTeacher(ALPHA, m)), task, rounds)
    data["source_self"] = data["demos_m1"]
    data["source_uniform"] = _effective_modes_over_rounds(sd(demos=UniformDemos()), task, rounds)
    for ref in ("base", "current"):
        data[f"beta_ref_{ref}"] = np.array([
            _effective_modes_over_rounds(sd(beta=b, reference=ref), task, rounds)[-1] for b in betas
        ])
    # Finite-sample training (theory §2.3, §3.6): GRPO with and without a diversity bonus
    # against sampled self-distillation with and without a KL to the base.
    steps, seeds = (40, 16) if quick else (300, 100)
    sampled = {  # data key: (legend label, rule)
        "sampled_grpo": ("GRPO", SampledRL(lr=1.0, seed=0)),
        "sampled_grpo_bonus": ("GRPO + diversity bonus", SampledRL(lr=1.0, diversity_bonus=1.0, seed=0)),
        "sampled_sd": ("SD", SampledSD(lr=1.0, seed=0)),
        "sampled_sd_beta1": ("SD, β = 1", SampledSD(lr=1.0, beta=1.0, seed=0)),
    }
    for key, (_, rule) in sampled.items():
        traj = train(rule, task, steps, n_seeds=seeds, every=5)
        data["steps"] = traj.times
        data[key] = effective_modes(traj.policy, task.valid).mean(axis=1)

    fig, ax = mp.panel_figure(4, width=width, panel_height=2.5 if width == "double" else 2.4, sharey=True)
    sd2, sd3 = mp.method_style("SD").variants(2), mp.method_style("SD").variants(3)
    mp.plot_curves(
        data["rounds"], {"RL": data["RL"], **{f"SD, {m} demo{'s' if m > 1 else ''}": data[f"demos_m{m}"]
                                              for m in (1, 3, 8)}},
        styles={"SD, 1 demo": sd3[0], "SD, 3 demos": sd3[1], "SD, 8 demos": sd3[2]},
        xlabel="round", integer_x=True, ax=ax[0],
    )
    mp.plot_curves(
        data["rounds"], {"RL": data["RL"], "SD, own demos": data["source_self"],
                         "SD, uniform demos": data["source_uniform"]},
        styles={"SD, own demos": sd2[0], "SD, uniform demos": sd2[1]},
        xlabel="round", integer_x=True, ax=ax[1],
    )
    mp.plot_curves(
        betas, {"SD, KL to π0": data["beta_ref_base"], "SD, KL to π_t": data["beta_ref_current"]},
        styles={"SD, KL to π0": sd2[0], "SD, KL to π_t": sd2[1]}, legend=False,
        xlabel="KL strength β", ax=ax[2],
    )
    ax[2].set_xscale("log")
    ax[2].axhline(data["RL"][-1], **mp.method_style("RL").line(marker=""), lw=0.8)
    ax[2].legend()
    mp.plot_curves(
        data["steps"], {label: data[key] for key, (label, _) in sampled.items()},
        styles={"SD": sd2[0], "SD, β = 1": sd2[1]}, xlabel="step", integer_x=True, ax=ax[3],
    )
    for a in ax:
        a.set_ylim(0.9, 3.15)
        a.set_ylabel(EFFECTIVE_MODES if a.get_subplotspec().is_first_col() else "")
    mp.panel_letters(ax, ["demos in context", "demo source", f"after {rounds} rounds",
                          f"sampled, {seeds} seeds"])
    return FigureResult(data, fig)
