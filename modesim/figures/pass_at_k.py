"""Figure ``pass_at_k``: pass@k of base, RL and SD over a bank of prompts, with its spread."""

from __future__ import annotations

import numpy as np

from .. import plot as mp
from ..dynamics import iterate
from ..metrics import pass_at_k
from ..rl import NaturalPG
from ..scenarios import BLOCKED, prompt_bank
from ..task import Task
from ._common import sd
from ._registry import FigureResult, register

#: Quantiles of the per-prompt pass@k drawn as the band around each mean.
QUANTILES = (0.25, 0.75)


def _prompt_bank(n_prompts: int) -> Task:
    """A bank of prompts from :func:`modesim.scenarios.prompt_bank`: six modes, four correct,
    valid mass between 0.3 and 0.95, valid shares halving from the favourite down.

    Out of distribution ("top_blocked"), each prompt's favourite correct mode under π0
    stops working.
    """
    bank = prompt_bank(n_prompts, 6, n_valid=4, valid_mass=(0.3, 0.95), decay=0.5, seed=0)
    return Task(bank.log_base, bank.valid, {"top_blocked": bank.ood[BLOCKED]})


@register("pass_at_k", "pass@k against k for the base policy, RL and self-distillation after "
          "five rounds on a bank of prompts (mean over prompts, band: middle half of the "
          "prompts): in distribution all three saturate, out of distribution (favourite answer "
          "blocked) SD falls far behind RL.", width="single")
def pass_at_k_figure(*, quick: bool, width: str) -> FigureResult:
    """pass@k (theory §4) of base, RL and SD over a bank of prompts, in and out of
    distribution (each prompt's favourite correct answer blocked): the bank's mean and the
    25–75 % quantiles of the per-prompt values.

    Raises
    ------
    ValueError
        ``quick`` not a boolean or ``width`` not ``"single"``/``"double"`` (checked by the
        registry's wrapper before anything is computed).
    """
    task = _prompt_bank(32 if quick else 256)
    rounds = 5
    k = 2 ** np.arange(0, 7 if quick else 11)
    policies = {
        "base": task.base,
        "RL": iterate(NaturalPG(lr=1.0), task, rounds, record_policy=False).final.policy,
        "SD": iterate(sd(), task, rounds, record_policy=False).final.policy,
    }
    data = {"k": k, "quantile_levels": np.array(QUANTILES)}
    for label, p in policies.items():
        for split, valid in (("in", task.valid), ("ood", task.ood["top_blocked"])):
            per_prompt = pass_at_k(p, valid, k)  # (prompts, len(k))
            data[f"{label}_{split}"] = per_prompt.mean(axis=0)
            data[f"{label}_{split}_quantiles"] = np.quantile(per_prompt, QUANTILES, axis=0)
    fig, ax = mp.panel_figure(2, width=width, panel_height=1.9, sharey=True)
    for j, split in enumerate(("in", "ood")):
        mp.plot_pass_at_k(k, {lab: data[f"{lab}_{split}"] for lab in policies},
                          spread={lab: data[f"{lab}_{split}_quantiles"] for lab in policies},
                          legend=False, ax=ax[j])
    ax[1].legend(title="band: 25–75 %\nof prompts")
    ax[1].set_ylabel("")
    mp.panel_letters(ax, ["in distribution", "favourite blocked"])
    return FigureResult(data, fig)
