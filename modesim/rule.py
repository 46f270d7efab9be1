"""The update-rule protocol shared by every method (DESIGN: policy, task, rule).

A rule is a small frozen object with ``init``/``step`` (in the spirit of optax)::

    state = rule.init(task)          # round 0: the base policy
    state = rule.step(state, task)   # one round of training

and a ``velocity(log_policy, task)`` used by the continuous-time :func:`~modesim.flow`:
the flow is ``d log π_i/dt = g_i − Σ_j π_j g_j`` with ``g = rule.velocity(...)``
(replicator form, MATH §6).  ``State`` carries the policy as log-probabilities plus
whatever else a rule needs (e.g. the logits of an EMA teacher) in ``aux``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Protocol, runtime_checkable

import numpy as np

from .simplex import log_normalise
from .task import Task

__all__ = ["State", "Rule", "apply_map"]


@dataclass(frozen=True, eq=False)
class State:
    """The state of a rule after ``round`` rounds.

    Attributes
    ----------
    log_policy : ndarray, shape (..., K)
        Normalised log-probabilities of the current policy (``-inf`` for zero).
    round : int
        Number of rounds taken since ``init``.
    aux : mapping
        Rule-specific extra state (e.g. ``"teacher_log_base"`` for an EMA teacher).
    """

    log_policy: np.ndarray
    round: int = 0
    aux: Mapping[str, np.ndarray] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def policy(self) -> np.ndarray:
        """Current policy as probabilities, shape ``(..., K)``."""
        return np.exp(self.log_policy)

    def advance(self, log_policy: np.ndarray, **aux) -> State:
        """The next state: ``round + 1``, a new policy and updated ``aux`` entries."""
        merged = dict(self.aux)
        merged.update(aux)
        return replace(
            self, log_policy=log_policy, round=self.round + 1, aux=MappingProxyType(merged)
        )


@runtime_checkable
class Rule(Protocol):
    """Protocol every update rule follows (RL rules, self-distillation, path rules)."""

    def init(self, task: Task) -> State:
        """Round 0: the base policy and any auxiliary state."""

    def step(self, state: State, task: Task) -> State:
        """One round of the update."""


def apply_map(rule, log_policy: np.ndarray, task: Task) -> np.ndarray:
    """One round of a *memoryless* rule as a map on log-policies: ``log π ↦ log π'``.

    Used for fixed points and Jacobians.  Rules whose state holds more than the policy
    (e.g. an EMA teacher) are not maps on the simplex and are rejected.
    """
    if not getattr(rule, "memoryless", False):
        raise ValueError(
            f"{type(rule).__name__} keeps state beyond the policy (e.g. an EMA or frozen "
            "teacher); fixed points and Jacobians need a memoryless rule "
            "(teacher_base='current')"
        )
    state = rule.init(task)
    state = replace(state, log_policy=log_normalise(log_policy))
    return rule.step(state, task).log_policy
