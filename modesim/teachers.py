"""Teachers conditioned on a demonstration, and demonstration sources (MATH §3.3).

A **teacher** turns its own base policy ``ρ`` (frozen ``π0``, the current policy, or an
EMA) and a demonstration ``d`` into ``T(y | d)``.  The self-distillation rule only needs
two expectations over demonstrations ``d ~ D``:

- ``expected_log(log_rho, demo)``: ``E_{d~D}[log T(y|d)]`` (reverse-KL target, the
  geometric mean of the teachers, MATH §3.2 S1);
- ``log_mixture(log_rho, log_demo)``: ``log E_{d~D}[T(y|d)]`` (forward-KL target, the
  arithmetic mean, MATH §3.2 S2);

and ``matrix(log_rho)`` gives the whole row-stochastic ``T[..., d, y]`` for small K
(tests, brute force).  The copy and identity-tilt teachers cost O(K) per call; teachers
defined by a K × K matrix cost one matrix product.

``log_rho`` is the teacher base as normalised log-probabilities.  In ``expected_log`` the
demonstration distribution ``D`` is an expectation *weight*, passed as probabilities
(``demo``): an entry below the float64 floor contributes nothing there, and the
probability form avoids numpy's slow ``exp(-inf)`` on every round.  In ``log_mixture``
``D`` is mixed with ``ρ``, so it is passed in log space (``log_demo``) and tiny modes keep
their exact weight.

A **demonstration source** maps the teacher base to ``D`` (supported on the valid set
C): ``distribution(log_rho, task)`` gives probabilities, ``log_distribution(log_rho,
task)`` log-probabilities.

Every method takes arrays of shape ``(..., K)`` with leading batch axes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.stats import binom

from .simplex import (
    as_policy,
    check_unit_interval,
    log_conditional,
    log_normalise,
    logsumexp_last,
)
from .task import Task

__all__ = [
    "CopyTeacher",
    "TiltTeacher",
    "MultiDemoTeacher",
    "MatrixTeacher",
    "ConditionedDemos",
    "UniformDemos",
    "FixedDemo",
    "ExplicitDemos",
]


def _softplus_shift(log_c: float, log_rho: np.ndarray) -> np.ndarray:
    """``log(1 + c/ρ)`` computed as ``softplus(log c − log ρ)``, exact for every ρ ≥ 0."""
    return np.logaddexp(0.0, log_c - log_rho)


# --------------------------------------------------------------------------- teachers


@dataclass(frozen=True)
class CopyTeacher:
    """Copy teacher ``T(y|d) = (1 − α)·ρ(y) + α·1[y = d]`` (MATH §3.3).

    The Dirichlet-predictive teacher: with demonstrations from ``ρ(·|C)`` and every mode
    valid it is marginally consistent.  ``alpha = 0`` ignores the demonstration.

    ``E_d log T(y|d) = log((1 − α)ρ(y)) + D(y)·log(1 + α/((1 − α)ρ(y)))`` (MATH §3.4):
    O(K), stable for ρ(y) down to 0.
    """

    alpha: float = 0.5

    def __post_init__(self):
        object.__setattr__(self, "alpha", check_unit_interval(self.alpha, "alpha"))

    def expected_log(self, log_rho: np.ndarray, demo: np.ndarray) -> np.ndarray:
        a = self.alpha
        if a == 0.0:
            return np.array(log_rho, dtype=np.float64, copy=True)
        # E log T = log((1−α)ρ) + D·g with g = log(1 + α/((1−α)ρ)), written as
        # g = log1p(ρ(1−α)/α) + log(α/(1−α)) − log ρ: no overflow for tiny ρ (log ρ stays
        # in log space), and the cancellation for ρ ≫ α only costs a few ulp of absolute
        # error in a log-probability, which is what matters.
        shape = np.broadcast_shapes(np.shape(log_rho), np.shape(demo))
        with np.errstate(invalid="ignore"):
            gain = np.exp(np.broadcast_to(log_rho, shape))
            gain *= (1.0 - a) / a
            np.log1p(gain, out=gain)
            gain += np.log(a / (1.0 - a))
            gain -= log_rho
            gain *= demo
            out = gain
            out += log_rho
            out += np.log1p(-a)
        zero = np.isneginf(log_rho)
        if np.any(zero):
            # ρ(y) = 0: E log T = D(y)·log α + (1 − D(y))·log 0, finite only if D(y) = 1.
            out = np.where(zero, np.where(demo == 1.0, np.log(a), -np.inf), out)
        return out

    def log_mixture(self, log_rho: np.ndarray, log_demo: np.ndarray) -> np.ndarray:
        a = self.alpha
        if a == 0.0:
            return np.array(log_rho, dtype=np.float64, copy=True)
        return np.logaddexp(np.log1p(-a) + log_rho, np.log(a) + log_demo)

    def matrix(self, log_rho: np.ndarray) -> np.ndarray:
        rho = np.exp(log_rho)
        K = rho.shape[-1]
        return (1.0 - self.alpha) * rho[..., None, :] + self.alpha * np.eye(K)


@dataclass(frozen=True)
class TiltTeacher:
    """Tilt teacher ``T(y|d) ∝ ρ(y)·exp(κ·s(y, d))`` (MATH §3.3).

    ``similarity=None`` is the identity ``s(y, d) = 1[y = d]`` and costs O(K):
    ``log T(y|d) = log ρ(y) + κ·1[y = d] − log(1 + ρ(d)·(e^κ − 1))``.
    A K × K ``similarity`` (``s[d, y]``, e.g. shared edges of two paths) builds the
    matrix each round.  ``kappa < 0`` is an anti-copying teacher (MATH §3.4 S5).
    """

    kappa: float = 1.0
    similarity: np.ndarray | None = None

    def __post_init__(self):
        try:
            k = float(self.kappa)
        except (TypeError, ValueError):
            raise ValueError(f"kappa must be a finite real number; got {self.kappa!r}") from None
        if not np.isfinite(k):
            raise ValueError(f"kappa must be a finite real number; got {self.kappa!r}")
        object.__setattr__(self, "kappa", k)
        if self.similarity is not None:
            s = np.asarray(self.similarity, dtype=np.float64)
            if s.ndim != 2 or s.shape[0] != s.shape[1] or not np.all(np.isfinite(s)):
                raise ValueError(
                    "similarity must be a finite square matrix s[d, y]; got "
                    f"shape {s.shape}"
                )
            object.__setattr__(self, "similarity", s)

    def _log_norm(self, log_rho):
        # log Z(d) = log((1 − ρ(d)) + ρ(d)·e^κ), with log(1 − ρ) = log(−expm1(log ρ)) so that
        # ρ(d) ≈ 1 keeps its precision and no e^κ is ever formed.
        with np.errstate(divide="ignore"):
            return np.logaddexp(np.log(-np.expm1(log_rho)), log_rho + self.kappa)

    def expected_log(self, log_rho: np.ndarray, demo: np.ndarray) -> np.ndarray:
        if self.similarity is not None:
            return _matrix_expected_log(self.log_matrix(log_rho), demo)
        mean_log_norm = np.sum(demo * self._log_norm(log_rho), axis=-1, keepdims=True)
        return log_rho + self.kappa * demo - mean_log_norm

    def log_mixture(self, log_rho: np.ndarray, log_demo: np.ndarray) -> np.ndarray:
        """``log ρ(y) + log(Σ_{d≠y} D(d)/Z(d) + D(y)·e^κ/Z(y))``, all in log space.

        The leave-one-out sum comes from prefix and suffix ``logaddexp`` accumulations,
        so nothing is subtracted and the cost stays O(K).
        """
        if self.similarity is not None:
            return _matrix_log_mixture(self.log_matrix(log_rho), log_demo)
        log_rho, log_demo = np.broadcast_arrays(np.asarray(log_rho, float), np.asarray(log_demo, float))
        log_norm = self._log_norm(log_rho)
        A = log_demo - log_norm
        pad = np.full(A.shape[:-1] + (1,), -np.inf)
        prefix = np.logaddexp.accumulate(np.concatenate([pad, A[..., :-1]], axis=-1), axis=-1)
        rev = A[..., ::-1]
        suffix = np.logaddexp.accumulate(np.concatenate([pad, rev[..., :-1]], axis=-1), axis=-1)[..., ::-1]
        others = np.logaddexp(prefix, suffix)
        own = log_demo + self.kappa - log_norm
        return log_rho + np.logaddexp(others, own)

    def log_matrix(self, log_rho: np.ndarray) -> np.ndarray:
        """``log T[..., d, y]``."""
        K = log_rho.shape[-1]
        s = np.eye(K) if self.similarity is None else self.similarity
        if s.shape != (K, K):
            raise ValueError(f"similarity has shape {s.shape}; the policy has K = {K} modes")
        return log_normalise(log_rho[..., None, :] + self.kappa * s)

    def matrix(self, log_rho: np.ndarray) -> np.ndarray:
        return np.exp(self.log_matrix(log_rho))


@dataclass(frozen=True)
class MultiDemoTeacher:
    """Copy teacher with ``m`` demonstrations in context (MATH §3.3, the K_demo ablation).

    ``T(y | d_1..d_m) = (1 − α)·ρ(y) + (α/m)·#{j : d_j = y}``, with ``d_j ~ D`` i.i.d.
    The count of ``y`` among the demonstrations is Binomial(m, D(y)), so
    ``E log T(y) = Σ_n Bin(n; m, D(y))·log((1 − α)ρ(y) + α n/m)``: O(K·m).
    ``m = 1`` is :class:`CopyTeacher`.
    """

    alpha: float = 0.5
    m: int = 3

    def __post_init__(self):
        object.__setattr__(self, "alpha", check_unit_interval(self.alpha, "alpha"))
        if isinstance(self.m, bool) or not isinstance(self.m, (int, np.integer)) or self.m < 1:
            raise ValueError(f"m must be a positive integer number of demonstrations; got {self.m!r}")

    def expected_log(self, log_rho: np.ndarray, demo: np.ndarray) -> np.ndarray:
        a, m = self.alpha, int(self.m)
        if a == 0.0:
            return np.array(log_rho, dtype=np.float64, copy=True)
        shape = np.broadcast_shapes(np.shape(log_rho), np.shape(demo))
        out = np.log1p(-a) + np.broadcast_to(log_rho, shape)
        extra = np.zeros(shape)
        for n in range(1, m + 1):
            weight = binom.pmf(n, m, demo)
            with np.errstate(invalid="ignore"):
                extra += weight * _softplus_shift(np.log(a * n / ((1.0 - a) * m)), log_rho)
        with np.errstate(invalid="ignore"):
            out = out + extra
        zero = np.isneginf(log_rho)
        if np.any(zero):
            # Only all-demos-equal-y (probability D(y)^m) gives a finite log; finite iff D(y)=1.
            out = np.where(zero, np.where(demo == 1.0, np.log(a), -np.inf), out)
        return out

    def log_mixture(self, log_rho: np.ndarray, log_demo: np.ndarray) -> np.ndarray:
        return CopyTeacher(self.alpha).log_mixture(log_rho, log_demo)

    def matrix(self, log_rho: np.ndarray) -> np.ndarray:
        """Teacher given a single repeated demonstration ``d_1 = … = d_m = d``."""
        return CopyTeacher(self.alpha).matrix(log_rho)


@dataclass(frozen=True, eq=False)
class MatrixTeacher:
    """User-supplied teacher: a row-stochastic matrix ``T[d, y]`` or a callable (MATH §3.3).

    ``T`` may be an array of shape ``(K, K)`` (or ``(..., K, K)`` matching the batch),
    fixed regardless of the teacher base, or a callable ``log_rho ↦ T`` evaluated each
    round.  Each expectation costs one matrix product.
    """

    T: np.ndarray | Callable[[np.ndarray], np.ndarray]

    def __post_init__(self):
        if not callable(self.T):
            object.__setattr__(self, "T", self._check(self.T))

    @staticmethod
    def _check(T) -> np.ndarray:
        T = np.asarray(T, dtype=np.float64)
        if T.ndim < 2 or T.shape[-1] != T.shape[-2]:
            raise ValueError(f"T must have shape (..., K, K) with T[d, y]; got shape {T.shape}")
        return as_policy(T, name="T (each row T[d, :])")

    def matrix(self, log_rho: np.ndarray) -> np.ndarray:
        T = self._check(self.T(log_rho)) if callable(self.T) else self.T
        if T.shape[-1] != log_rho.shape[-1]:
            raise ValueError(f"T has K = {T.shape[-1]} modes; the policy has {log_rho.shape[-1]}")
        return T

    def log_matrix(self, log_rho: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore"):
            return np.log(self.matrix(log_rho))

    def expected_log(self, log_rho: np.ndarray, demo: np.ndarray) -> np.ndarray:
        return _matrix_expected_log(self.log_matrix(log_rho), demo)

    def log_mixture(self, log_rho: np.ndarray, log_demo: np.ndarray) -> np.ndarray:
        return _matrix_log_mixture(self.log_matrix(log_rho), log_demo)


def _matrix_expected_log(log_T: np.ndarray, demo: np.ndarray) -> np.ndarray:
    """``Σ_d D(d)·log T[d, y]`` as one matrix product.

    A zero ``T[d, y]`` with ``D(d) > 0`` makes the expectation −inf; with ``D(d) = 0`` it
    contributes nothing.  Both parts come from one product with ``[log T | 1[T = 0]]``.
    """
    K = log_T.shape[-1]
    zero = np.isneginf(log_T)
    stacked = np.concatenate([np.where(zero, 0.0, log_T), zero.astype(np.float64)], axis=-1)
    prod = np.matmul(demo[..., None, :], stacked)[..., 0, :]
    return np.where(prod[..., K:] > 0, -np.inf, prod[..., :K])


def _matrix_log_mixture(log_T: np.ndarray, log_demo: np.ndarray) -> np.ndarray:
    """``log Σ_d D(d)·T[d, y]`` computed in log space."""
    return logsumexp_last(np.swapaxes(log_demo[..., :, None] + log_T, -1, -2))


# ------------------------------------------------------------- demonstration sources


@dataclass(frozen=True)
class ConditionedDemos:
    """Self-generated demonstrations ``D = ρ(·|C)``: the teacher base's correct rollouts.

    Raises ``ValueError`` when ``ρ(C) = 0``: there is no correct rollout to sample
    (MATH §3.5 S6).
    """

    def distribution(self, log_rho: np.ndarray, task: Task) -> np.ndarray:
        rho = np.exp(log_rho)
        if task.all_valid:
            return rho
        rho *= task.valid
        mass = rho.sum(axis=-1, keepdims=True)
        if np.any(mass < 1e-280):
            # Valid mass near the float floor: renormalise in log space instead (this
            # also raises, naming the rows, where ρ(C) = 0).
            return np.exp(log_conditional(log_rho, task.valid, name="teacher base"))
        rho /= mass
        return rho

    def log_distribution(self, log_rho: np.ndarray, task: Task) -> np.ndarray:
        return log_conditional(log_rho, task.valid, name="teacher base")


@dataclass(frozen=True)
class UniformDemos:
    """Diverse external demonstrations: ``D`` uniform over the valid set C."""

    def distribution(self, log_rho: np.ndarray, task: Task) -> np.ndarray:
        v = np.broadcast_to(task.valid, np.broadcast_shapes(task.valid.shape, np.shape(log_rho)))
        return v / v.sum(axis=-1, keepdims=True)

    def log_distribution(self, log_rho: np.ndarray, task: Task) -> np.ndarray:
        with np.errstate(divide="ignore"):
            return np.log(self.distribution(log_rho, task))


@dataclass(frozen=True)
class FixedDemo:
    """A single fixed reference demonstration (OPSD-style): ``D = δ_mode``.

    ``mode`` must be valid in every prompt of the task.
    """

    mode: int

    def __post_init__(self):
        if isinstance(self.mode, bool) or not isinstance(self.mode, (int, np.integer)) or self.mode < 0:
            raise ValueError(f"mode must be a non-negative integer; got {self.mode!r}")

    def distribution(self, log_rho: np.ndarray, task: Task) -> np.ndarray:
        K = task.n_modes
        if self.mode >= K:
            raise ValueError(f"mode must be < K = {K}; got {self.mode}")
        if not np.all(task.valid[..., self.mode]):
            raise ValueError(f"mode {self.mode} is not valid in every prompt; demonstrations must be valid")
        out = np.zeros(np.broadcast_shapes(np.shape(log_rho), task.valid.shape))
        out[..., self.mode] = 1.0
        return out

    def log_distribution(self, log_rho: np.ndarray, task: Task) -> np.ndarray:
        with np.errstate(divide="ignore"):
            return np.log(self.distribution(log_rho, task))


@dataclass(frozen=True, eq=False)
class ExplicitDemos:
    """An explicit demonstration distribution ``D`` given as ``probs``, shape ``(..., K)``.

    ``D`` must be a distribution supported on the valid set; checked on use.
    """

    probs: np.ndarray

    def __post_init__(self):
        object.__setattr__(self, "probs", as_policy(self.probs, name="probs"))

    def distribution(self, log_rho: np.ndarray, task: Task) -> np.ndarray:
        D = self.probs
        D = np.broadcast_to(D, np.broadcast_shapes(D.shape, np.shape(log_rho)))
        if np.any((D > 0) & ~task.valid):
            raise ValueError("distribution puts mass on invalid modes; demonstrations must be valid")
        return D

    def log_distribution(self, log_rho: np.ndarray, task: Task) -> np.ndarray:
        with np.errstate(divide="ignore"):
            return np.log(self.distribution(log_rho, task))
