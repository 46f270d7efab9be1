"""Remedies: dense feedback that keeps diversity — rules, theorems and verdicts (theory §11).

The paper shows that on-policy self-distillation with sampled demonstrations amplifies the
ratios among equally correct answers and leaves the cure open.  Each candidate remedy here
is an update rule plugged into the existing protocols (a teacher, a demonstration source,
an objective or a rule), with a registered statement about its ratios
(``modesim verify --theorem <id>``) and a place on the pass@1 / pass@k frontier
(:func:`modesim.scenarios.remedies.remedy_frontier`, figure ``frontier``).

=====================================  ================================================  =========  ===========
remedy                                 plugged in as                                     registry   ratios
=====================================  ================================================  =========  ===========
forward KL into the teacher mixture    ``objective="forward"`` (exact, sampled, paths)   F1         exact (a)
reverse KL to the mixture of m         :class:`MixtureTeacher` (copy: MultiDemoTeacher)  M1         m → ∞, 1/m
contrastive (debiased) teacher         :class:`ContrastiveTeacher`                       C1         exact (b)
demonstrations balanced vs the bias    :class:`BalancedDemos`, :class:`PowerDemos`       W1, W2     exact (c)
blend of RL and SD                     :class:`DistillationBlend`, :class:`SampledBlend`  L1         μ/β → 0
teacher magnitude, reward direction    ``SampledBlend(combine="sign")``, PathBlend       H1         no
anti-distillation                      ``DistillationBlend(1, −μ)``, SampledBlend        L1         no (compresses)
diversity bonus                        ``SampledRL(diversity_bonus=λ)``                  D1         no (compresses)
=====================================  ================================================  =========  ===========

(a) iff the teacher is marginally consistent on C; (b) trivially: the round is the
identity; (c) for the teacher the law is balanced for; no power law works (W2).

Modules: :mod:`.teachers`, :mod:`.demos`, :mod:`.rules` (exact rounds), :mod:`.sampled`
(finite-sample rules), :mod:`.paths` (:class:`PathBlend`, loaded on first use),
:mod:`.formulas` (closed forms), :mod:`.catalogue` (verdicts).
"""

from __future__ import annotations

from .catalogue import CATALOGUE, Remedy, remedy, verdict_table
from .demos import BalancedDemos, PowerDemos
from .formulas import (
    blend_exponent,
    copy_gain,
    diversity_bonus_reward,
    mixture_gap_bound,
    mixture_gap_leading,
    mixture_jensen_gap,
    power_ipw_threshold,
)
from .rules import DistillationBlend, blend_optimum
from .sampled import RemedySampledSD, SampledBlend
from .teachers import ContrastiveTeacher, MixtureTeacher, compositions

__all__ = [
    "CATALOGUE",
    "Remedy",
    "remedy",
    "verdict_table",
    "MixtureTeacher",
    "ContrastiveTeacher",
    "compositions",
    "BalancedDemos",
    "PowerDemos",
    "DistillationBlend",
    "blend_optimum",
    "RemedySampledSD",
    "SampledBlend",
    "PathBlend",
    "copy_gain",
    "mixture_jensen_gap",
    "mixture_gap_leading",
    "mixture_gap_bound",
    "power_ipw_threshold",
    "blend_exponent",
    "diversity_bonus_reward",
]


def __getattr__(name: str):
    if name == "PathBlend":
        from .paths import PathBlend

        return PathBlend
    raise AttributeError(f"module 'modesim.remedies' has no attribute {name!r}")
