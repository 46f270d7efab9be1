"""Tasks: a base policy ``π0`` and a valid mask ``C`` (MATH §1).

A :class:`Task` is validated once, on construction.  Its base policy is stored as
log-probabilities so that very small entries survive; ``task.base`` exposes
probabilities.  Leading axes are batch axes (one task per prompt, seed or grid cell).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from types import MappingProxyType

import numpy as np

from .simplex import (
    _bad_rows,
    as_log_policy,
    as_mask,
    check_positive_scalar,
    check_unit_interval,
    log_mass,
    log_normalise,
    logsumexp_last,
)

__all__ = ["Task", "make_task", "zipf_task", "dirichlet_task", "two_mode_task"]


@dataclass(frozen=True, eq=False)
class Task:
    """A batch of prompts: base policy, valid mask and optional out-of-distribution masks.

    Parameters
    ----------
    log_base : ndarray, shape (..., K)
        Log-probabilities of the base (reference) policy ``π0``; each row must
        normalise (``logsumexp = 0`` within 1e-6; rows are renormalised).
    valid : ndarray of bool, broadcastable to (..., K)
        The valid set ``C`` (reward ``r(y) = 1[y ∈ C]``).  Every row needs at least
        one valid mode of positive base probability.
    ood : mapping of str to bool arrays, optional
        Named out-of-distribution valid sets, e.g. ``{"blocked": [0, 1, 1]}``.

    Use :func:`make_task` to build one from probabilities.
    """

    log_base: np.ndarray
    valid: np.ndarray
    ood: Mapping[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self):
        lb = np.asarray(self.log_base, dtype=np.float64)
        if lb.ndim == 0 or lb.shape[-1] < 1:
            raise ValueError(f"log_base must have shape (..., K); got shape {lb.shape}")
        if np.any(np.isnan(lb)) or np.any(np.isposinf(lb)):
            raise ValueError("log_base must not contain NaN or +inf")
        lse = logsumexp_last(lb)
        if np.any(np.isneginf(lse)):
            raise ValueError("log_base has a row with no positive probability")
        off = np.abs(np.expm1(lse)) > 1e-6
        if np.any(off):
            raise ValueError(
                "log_base must be normalised (probabilities summing to 1 within 1e-6); "
                f"rows at batch index {_bad_rows(off) if off.ndim else '()'} are not"
            )
        lb = lb - lse[..., None]
        valid = as_mask(self.valid, lb.shape, name="valid")
        dead = np.isneginf(log_mass(lb, valid))
        if np.any(dead):
            raise ValueError(
                "base policy gives zero probability to every valid mode at batch index "
                f"{_bad_rows(dead) if dead.ndim else '()'}; allowed: π0(C) > 0"
            )
        ood = {}
        for key, mask in dict(self.ood).items():
            if not isinstance(key, str):
                raise ValueError(f"ood keys must be strings; got {key!r}")
            ood[key] = as_mask(mask, lb.shape, name=f"ood[{key!r}]")
        object.__setattr__(self, "log_base", lb)
        object.__setattr__(self, "valid", valid)
        object.__setattr__(self, "ood", MappingProxyType(ood))

    @property
    def base(self) -> np.ndarray:
        """Base policy ``π0`` as probabilities, shape ``(..., K)``."""
        return np.exp(self.log_base)

    @property
    def n_modes(self) -> int:
        """Number of modes ``K``."""
        return self.log_base.shape[-1]

    @property
    def batch_shape(self) -> tuple[int, ...]:
        """Leading (batch) shape ``(...)``."""
        return self.log_base.shape[:-1]

    @cached_property
    def log_valid(self) -> np.ndarray:
        """``log 1[y ∈ C]``: 0 on valid modes, ``-inf`` elsewhere (adding it masks a log-policy)."""
        return np.where(self.valid, 0.0, -np.inf)

    @cached_property
    def all_valid(self) -> bool:
        """True when every mode of every prompt is valid."""
        return bool(self.valid.all())

    @property
    def reward(self) -> np.ndarray:
        """Reward ``r(y) = 1[y ∈ C]`` as float64, shape ``(..., K)``."""
        return self.valid.astype(np.float64)

    def with_base(self, log_base: np.ndarray) -> Task:
        """The same valid and OOD masks with another (log) base policy."""
        return Task(log_base, self.valid, dict(self.ood))

    def __repr__(self) -> str:
        ood = f", ood={list(self.ood)}" if self.ood else ""
        return f"Task(batch_shape={self.batch_shape}, K={self.n_modes}{ood})"


def make_task(base, valid=None, *, ood: Mapping | None = None) -> Task:
    """Build a :class:`Task` from base probabilities.

    Parameters
    ----------
    base : array_like, shape (..., K)
        Probabilities; finite, non-negative, each row summing to 1 (within 1e-6).
    valid : array_like of bool, broadcastable to (..., K), optional
        Valid set ``C``; default: every mode valid.
    ood : mapping of str to masks, optional
        Named out-of-distribution valid sets.

    Examples
    --------
    >>> t = make_task([0.6, 0.3, 0.1], ood={"blocked": [0, 1, 1]})
    >>> t.base.round(2).tolist()
    [0.6, 0.3, 0.1]
    """
    lb = as_log_policy(base, name="base")
    if valid is None:
        valid = np.ones(lb.shape, dtype=bool)
    return Task(lb, valid, dict(ood or {}))


def zipf_task(K: int, s: float = 1.0, valid=None, *, ood: Mapping | None = None) -> Task:
    """Zipf base policy ``π0(y) ∝ (y + 1)^(-s)`` over ``K`` modes.

    ``s = 0`` is uniform; larger ``s`` is more skewed.  Computed in log space.
    """
    K = _check_k(K)
    s = check_positive_scalar(s, "s", allow_zero=True)
    lb = log_normalise(-s * np.log(np.arange(1, K + 1, dtype=np.float64)))
    if valid is None:
        valid = np.ones(K, dtype=bool)
    return Task(lb, valid, dict(ood or {}))


def dirichlet_task(
    K: int,
    concentration: float = 1.0,
    seed=None,
    *,
    batch_shape: tuple[int, ...] = (),
    valid=None,
    ood: Mapping | None = None,
) -> Task:
    """Base policies drawn from a symmetric Dirichlet(concentration) over ``K`` modes.

    Sampled in log space (``log G = log Gamma(a+1) + log(U)/a``) so that small
    concentrations give tiny but non-zero probabilities instead of exact zeros.

    Parameters
    ----------
    seed : int or numpy.random.Generator
        Source of randomness (required for reproducibility; ``None`` draws fresh entropy).
    batch_shape : tuple of int
        Leading shape: one independent base policy per batch entry.
    """
    K = _check_k(K)
    a = check_positive_scalar(concentration, "concentration")
    rng = np.random.default_rng(seed)
    shape = tuple(batch_shape) + (K,)
    log_g = np.log(rng.standard_gamma(a + 1.0, size=shape)) + np.log(rng.random(shape)) / a
    lb = log_normalise(log_g)
    if valid is None:
        valid = np.ones(shape, dtype=bool)
    return Task(lb, valid, dict(ood or {}))


def two_mode_task(p: float = 0.7, *, valid_mass: float = 1.0) -> Task:
    """Two equally correct modes with base shares ``p`` and ``1 - p``.

    With ``valid_mass < 1`` a third, invalid mode carries ``1 - valid_mass``.  The OOD
    mask ``"mode0_blocked"`` keeps only mode 1 valid (the minority strategy), which is
    where a diverse policy is needed.
    """
    p = check_unit_interval(p, "p", closed_low=False, closed_high=False)
    q = check_unit_interval(valid_mass, "valid_mass", closed_low=False, closed_high=True)
    if q == 1.0:
        base = [p, 1.0 - p]
        valid = [True, True]
        blocked = [False, True]
    else:
        base = [q * p, q * (1.0 - p), 1.0 - q]
        valid = [True, True, False]
        blocked = [False, True, False]
    return make_task(base, valid, ood={"mode0_blocked": blocked})


def _check_k(K) -> int:
    if isinstance(K, bool) or not isinstance(K, (int, np.integer)) or K < 1:
        raise ValueError(f"K must be a positive integer number of modes; got {K!r}")
    return int(K)
