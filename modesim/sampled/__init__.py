"""Finite-sample training of softmax policies: sampled RL and sampled-demonstration SD (theory §2.3, §3.6).

The exact rules of :mod:`modesim.rl` and :mod:`modesim.distill` move a policy by its
expected update.  Here each step *samples*: N rollouts per prompt from ``π = softmax(θ)``,
rewards or demonstrations from those rollouts, and one stochastic-gradient step on θ.

=============================  ==================================================================
:mod:`.sampling`               per-entry random streams, inverse-CDF sampling, gradient kernels
:mod:`.rl`                     :class:`SampledRL`: REINFORCE, RLOO, GRPO (theory §2.3)
:mod:`.sd`                     :class:`SampledSD`: self-distillation with sampled
                               demonstrations on the shared SD shell (theory §3.1, §3.6)
:mod:`.runner`                 :func:`replicate`, :func:`train`, :func:`mean_field_distance`
:mod:`.optim`                  :class:`SGD`, :class:`Adam` on the logits (theory §8.2)
:mod:`.conventions`            GRPO group statistics and KL estimators of the public trainers
:mod:`.objectives`             per-token gradients of the reverse KL, forward KL and JSD (§8.1)
:mod:`.presets`                the public trainers' defaults: ``SampledRL.preset("trl")``,
                               ``SampledSD.preset("sdpo")`` (theory §8.2)
=============================  ==================================================================

Both rules follow the rule protocol (:mod:`modesim.rule`): :func:`modesim.iterate` runs
them, ``velocity`` gives the mean field that :func:`modesim.flow` integrates (an EMA teacher
as a second state), and seed statistics are metrics (:func:`modesim.fixation_probability`,
:func:`modesim.collapse_times`, :func:`modesim.fan`).

Mean fields (``velocity`` = the exact expected logit update per step, times ``lr``;
theory §2.3, §3.6, §6):

- REINFORCE and RLOO: ``E ĝ = π ⊙ (r − J)``, the exact softmax policy gradient
  (:class:`modesim.SoftmaxPG` with the same ``lr``; theorem R4).
- GRPO: ``E ĝ = s_N(J)·π ⊙ (r − J)``: the same orbit on a J-dependent clock
  (:func:`~modesim.sampled.rl.grpo_speed`).
- SD: ``E ĝ = −P_N(J)·∇_θ KL(π_θ ‖ exp G)`` with ``G = E_{d~D} log T(·|d)`` and ``P_N(J)``
  the chance a rollout has a demonstration: a Euclidean gradient flow on logits, not the
  natural-gradient flow of :class:`modesim.SelfDistillation`; the two share interior rest
  points when β = 0 or ``P_N = 1``, while with group demonstrations and β > 0 the KL weight
  is effectively ``β/P_N(J)`` (theory §3.6, §6).  The forward-KL and JSD objectives and the
  trainers' conventions change the per-mode term and the factors (theory §8.1, §8.2;
  :meth:`SampledSD.velocity`).
- With Adam, clipping, batch reward scaling or a diversity bonus the expected update is not a
  function of the policy: no velocity.

Randomness: one stream per batch entry, a pure function of (seed, entry, round); chunks of a
batch reproduce the whole bit for bit (:mod:`modesim.sampled.sampling`).
"""

from __future__ import annotations

from . import presets  # noqa: F401  (modesim.sampled.presets, also reached through the rules' preset())
from .optim import SGD, Adam, AdamState
from .rl import SampledRL
from .runner import (
           mean_field,  # noqa: F401 - deprecated, importable, not exported
           mean_field_distance,
           replicate,
           train,
)
from .sampling import sample_modes
from .sd import SampledSD

# ``mean_field`` (deprecated: modesim.flow) stays importable but is not exported.
__all__ = ["SampledRL", "SampledSD", "SGD", "Adam", "AdamState", "sample_modes", "replicate", "train",
           "mean_field_distance"]
