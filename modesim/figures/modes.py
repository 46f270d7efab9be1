"""Figure ``mode_probabilities``: each mode's probability over rounds, RL against SD."""

from __future__ import annotations

from .. import plot as mp
from ..dynamics import iterate
from ..metrics import effective_modes
from ..rl import NaturalPG
from ._common import EFFECTIVE_MODES, MODE_LABELS, demo_task, sd
from ._registry import FigureResult, register


@register("mode_probabilities", "Probability of each mode over rounds: RL keeps the ratios "
          "among correct answers, self-distillation concentrates on the favourite.")
def mode_probabilities(*, quick: bool, width: str) -> FigureResult:
    """Natural-PG RL (η = 1; theory §2.2, R3) against copy-teacher SD (α = 0.5; §3.5, S6, S7)
    on the running example: (a, b) every mode's probability, (c) the effective number of
    correct answers (theory §4).

    Raises
    ------
    ValueError
        ``quick`` not a boolean or ``width`` not ``"single"``/``"double"`` (checked by the
        registry's wrapper before anything is computed).
    """
    task = demo_task()
    rounds = 4 if quick else 12
    rl = iterate(NaturalPG(lr=1.0), task, rounds)
    sdt = iterate(sd(), task, rounds)
    data = {
        "rounds": rl.times,
        "rl": rl.policy,
        "sd": sdt.policy,
        "rl_effective_modes": effective_modes(rl.policy, task.valid),
        "sd_effective_modes": effective_modes(sdt.policy, task.valid),
    }
    fig, ax = mp.panel_figure(3, width=width, panel_height=1.95)
    mp.plot_rounds(data["rounds"], data["rl"], labels=MODE_LABELS, valid=task.valid, key=None,
                   ax=ax[0])
    mp.plot_rounds(data["rounds"], data["sd"], labels=MODE_LABELS, valid=task.valid, key=None,
                   ax=ax[1])
    mp.plot_curves(data["rounds"], {"RL": data["rl_effective_modes"], "SD": data["sd_effective_modes"]},
                   xlabel="round", integer_x=True, ylabel=EFFECTIVE_MODES, ax=ax[2])
    ax[2].set_ylim(0.9, 3.1)
    mp.shared_legend(fig, ax[0])
    mp.panel_letters(ax, ["RL: natural PG", "SD: copy teacher", "correct-answer diversity"])
    return FigureResult(data, fig)
