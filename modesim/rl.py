"""Reinforcement learning: the ratio-preserving side (MATH §2).

Closed forms
    :func:`kl_regularised_optimum` (MATH §2.1) and its β → 0 :func:`filter_limit`.
Rules (``init``/``step``/``velocity``, see :mod:`modesim.rule`)
    :class:`KLRegularisedRL` (round-wise KL-regularised optimum),
    :class:`NaturalPG` (mirror descent / natural policy gradient, MATH §2.2 R3) and
    :class:`SoftmaxPG` (exact vanilla policy gradient on logits, MATH §2.2 R4).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .rule import State
from .simplex import check_positive_scalar, log_conditional, log_mass, log_normalise
from .task import Task

__all__ = [
    "kl_regularised_optimum",
    "filter_limit",
    "KLRegularisedRL",
    "NaturalPG",
    "SoftmaxPG",
]


def _log_kl_optimum(log_ref: np.ndarray, valid: np.ndarray, beta: float) -> np.ndarray:
    if beta == 0.0:
        return log_conditional(log_ref, valid, name="reference policy")
    # π* ∝ π_ref·exp(r/β) written as a penalty −(1 − r)/β on invalid modes: no overflow.
    with np.errstate(over="ignore"):
        penalty = np.where(valid, 0.0, -1.0 / beta)
    return log_normalise(log_ref + penalty)


def kl_regularised_optimum(task: Task, beta: float, *, log: bool = False) -> np.ndarray:
    """KL-regularised RL optimum ``π*_β(y) ∝ π0(y)·exp(r(y)/β)`` (MATH §2.1).

    Maximises ``E_π[r] − β·KL(π‖π0)``.  Ratios among valid modes (and among invalid
    modes) equal the base ratios for every β > 0 (Theorem R1).  ``beta = 0`` returns the
    filter limit ``π0(·|C)`` (R2).

    Parameters
    ----------
    task : Task
    beta : float >= 0
    log : bool
        Return log-probabilities instead of probabilities.

    Returns
    -------
    ndarray, shape ``task.batch_shape + (K,)``
    """
    beta = check_positive_scalar(beta, "beta", allow_zero=True)
    out = _log_kl_optimum(task.log_base, task.valid, beta)
    return out if log else np.exp(out)


def filter_limit(task: Task, *, log: bool = False) -> np.ndarray:
    """β → 0 limit of the KL-regularised optimum: ``π0(·|C)`` (MATH §2.1, R2)."""
    out = log_conditional(task.log_base, task.valid, name="base")
    return out if log else np.exp(out)


@dataclass(frozen=True)
class KLRegularisedRL:
    """Each round returns the KL-regularised optimum against a reference (MATH §2.1–2.2).

    ``π_{t+1}(y) ∝ π_ref(y)·exp(r(y)/β)`` with ``π_ref = π0`` (``reference="base"``: the
    ideal RL optimum, reached in one round and then fixed) or ``π_ref = π_t``
    (``reference="current"``: a trust-region sequence, identical to :class:`NaturalPG`
    with ``η = 1/β``).  ``beta = 0`` gives the filter limit.
    """

    beta: float = 0.1
    reference: str = "base"

    def __post_init__(self):
        object.__setattr__(self, "beta", check_positive_scalar(self.beta, "beta", allow_zero=True))
        if self.reference not in ("base", "current"):
            raise ValueError(
                f"reference must be 'base' or 'current'; got {self.reference!r}"
            )

    memoryless = True

    def init(self, task: Task) -> State:
        return State(task.log_base)

    def step(self, state: State, task: Task) -> State:
        ref = task.log_base if self.reference == "base" else state.log_policy
        return state.advance(_log_kl_optimum(ref, task.valid, self.beta))

    def velocity(self, log_policy: np.ndarray, task: Task) -> np.ndarray:
        """``g = log π*(π) − log π``: relaxation toward each round's optimum."""
        ref = task.log_base if self.reference == "base" else log_policy
        return _finite_diff(_log_kl_optimum(ref, task.valid, self.beta), log_policy)


@dataclass(frozen=True)
class NaturalPG:
    """Natural policy gradient / mirror descent: ``π_{t+1} ∝ π_t·exp(η·r)`` (MATH §2.2).

    Each step is the KL-regularised optimum with reference ``π_t`` and ``β = 1/η``, so
    ``π_t(·|C) = π0(·|C)`` for every t while ``π_t(C) → 1`` (Theorem R3).
    Continuous time: ``d log π_i/dt = η·(r_i − J)``, ``J = π(C)``.
    """

    eta: float = 1.0
    memoryless = True

    def __post_init__(self):
        object.__setattr__(self, "eta", check_positive_scalar(self.eta, "eta"))

    def init(self, task: Task) -> State:
        return State(task.log_base)

    def step(self, state: State, task: Task) -> State:
        # −η(1 − r) rather than +η·r keeps valid logits fixed and cannot overflow.
        return state.advance(log_normalise(state.log_policy - self.eta * (~task.valid)))

    def velocity(self, log_policy: np.ndarray, task: Task) -> np.ndarray:
        return np.broadcast_to(self.eta * task.reward, np.shape(log_policy)).copy()


@dataclass(frozen=True)
class SoftmaxPG:
    """Vanilla softmax policy gradient with exact gradients (MATH §2.2, R4).

    Logits ``θ`` with ``π = softmax(θ)`` and ``J = π(C)``; one step is
    ``θ_i ← θ_i + η·π_i·(r_i − J)``.  Continuous time: ``dθ_i/dt = η·π_i·(r_i − J)``.
    Not ratio preserving among valid modes: ``d/dt log(π_y/π_y') = (π_y − π_y')(1 − J)``.
    The state stores normalised logits (``θ − logsumexp θ``), which gives the same
    policy and gradient.
    """

    eta: float = 1.0
    memoryless = True

    def __post_init__(self):
        object.__setattr__(self, "eta", check_positive_scalar(self.eta, "eta"))

    def init(self, task: Task) -> State:
        return State(task.log_base)

    def step(self, state: State, task: Task) -> State:
        return state.advance(
            log_normalise(state.log_policy + self.velocity(state.log_policy, task))
        )

    def velocity(self, log_policy: np.ndarray, task: Task) -> np.ndarray:
        pi = np.exp(log_policy)
        J = np.exp(log_mass(log_policy, task.valid))[..., None]
        return self.eta * pi * (task.reward - J)


def _finite_diff(target: np.ndarray, log_policy: np.ndarray) -> np.ndarray:
    """``target − log π``, with 0 where ``π = 0`` (a mode at zero stays at zero).

    A target of zero for a mode the policy still holds would need an infinite
    velocity; that has no flow, and it is reported rather than integrated.
    """
    alive = np.isfinite(log_policy)
    if np.any(alive & np.isneginf(target)):
        raise ValueError(
            "the round's target gives zero probability to a mode the policy still holds; "
            "its continuous-time flow is undefined (use iterate for this rule)"
        )
    return np.where(alive, target - np.where(alive, log_policy, 0.0), 0.0)
