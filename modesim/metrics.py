"""Diversity metrics: pure functions of arrays (MATH §4).

Policies are probabilities of shape ``(..., K)`` (last axis = modes) and masks are
boolean arrays broadcastable to them.  Unless stated otherwise, a metric returns one
value per batch entry, shape ``(...)``; functions of ``k`` append ``k``'s shape.
"""

from __future__ import annotations

import numpy as np

from .simplex import _describe, as_mask, as_policy, log_conditional, logsumexp_last
from .task import Task

__all__ = [
    "pass_at_k",
    "pass_at_k_unbiased",
    "expected_distinct",
    "conditional",
    "entropy",
    "effective_modes",
    "renyi_entropy",
    "simpson_index",
    "amplification_exponent",
    "kl_to_rl_target",
    "ratio_table",
]


def _ks(k) -> np.ndarray:
    ks = np.asarray(k)
    if ks.size == 0 or not np.issubdtype(ks.dtype, np.number) or np.any(ks < 1) or np.any(
        ks != np.floor(ks)
    ):
        raise ValueError(f"k must hold positive integers; got {_describe(k)}")
    return ks.astype(np.float64)


def _policy_mask(policy, valid, name="valid"):
    p = as_policy(policy)
    return p, as_mask(valid, p.shape, name=name)


def _log_fail(p: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """``log(1 − π(C))``, from whichever of π(C) and 1 − π(C) is small (both are summed
    directly, so neither is formed as a difference from 1)."""
    succ = np.clip(np.where(valid, p, 0.0).sum(axis=-1), 0.0, 1.0)
    fail = np.clip(np.where(valid, 0.0, p).sum(axis=-1), 0.0, 1.0)
    with np.errstate(divide="ignore"):
        return np.where(succ < 0.5, np.log1p(-np.minimum(succ, 0.5)), np.log(fail))


def pass_at_k(policy, valid, k, *, axis=None) -> np.ndarray:
    """Exact pass@k ``1 − (1 − π(C))^k`` (MATH §4).

    Computed as ``−expm1(k·log(1 − π(C)))``, taking ``log(1 − π(C))`` as
    ``log1p(−π(C))`` when π(C) is small and as the log of the summed invalid mass when it
    is large, so it keeps full relative precision for k up to 10^6 and beyond.

    Parameters
    ----------
    policy : array_like, shape (..., K)
    valid : bool array broadcastable to (..., K)
    k : int or array_like of int >= 1
    axis : int or tuple of int, optional
        Batch axes (of ``policy``'s leading axes) to average over: pass@k averaged over
        a bank of prompts.

    Returns
    -------
    ndarray, shape ``batch_shape + np.shape(k)`` (averaged axes removed)
    """
    p, v = _policy_mask(policy, valid)
    ks = _ks(k)
    log_fail = _log_fail(p, v)
    shaped = log_fail.reshape(log_fail.shape + (1,) * ks.ndim)
    out = -np.expm1(ks * shaped)
    if axis is not None:
        nb = log_fail.ndim
        axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
        if not all(isinstance(a, (int, np.integer)) and -nb <= a < nb for a in axes):
            raise ValueError(
                f"axis must name batch axes of the policy (between {-nb} and {nb - 1}; "
                f"the policy has {nb} batch axes); got {axis!r}"
            )
        out = out.mean(axis=tuple(a % nb for a in axes))
    return out


def pass_at_k_unbiased(n, c, k) -> np.ndarray:
    """Unbiased pass@k estimator from n samples with c correct (MATH §4).

    ``1 − C(n − c, k)/C(n, k)``, from the product form with ``min(c, k)`` factors::

        c ≤ k:  C(n−c, k)/C(n, k) = Π_{i=n−c+1}^{n} (1 − k/i)
        c > k:  C(n−c, k)/C(n, k) = Π_{j=0}^{k−1} (1 − c/(n − j))

    summed as ``log1p`` terms and returned as ``−expm1(·)``, so small estimates keep
    full relative precision even for n = 10^9 (log-gamma differences do not).  Exactly 1
    when ``n − c < k``.  Broadcasts over ``n``, ``c`` and ``k``; the cost is
    O(max min(c, k)) vector operations.
    """
    n_, c_, k_ = (np.asarray(x) for x in (n, c, k))
    for name, x in (("n", n_), ("c", c_), ("k", k_)):
        if (
            not np.issubdtype(x.dtype, np.number)
            or not np.all(np.isfinite(x))
            or np.any(x != np.floor(x))
            or np.any(x < 0)
        ):
            raise ValueError(f"{name} must hold finite non-negative integers; got {_describe(x)}")
    if np.any(k_ < 1):
        raise ValueError(f"k must be >= 1; got {_describe(k_)}")
    if np.any(c_ > n_):
        raise ValueError(f"c must be <= n; got c={_describe(c_)}, n={_describe(n_)}")
    if np.any(k_ > n_):
        raise ValueError(f"k must be <= n; got k={_describe(k_)}, n={_describe(n_)}")
    n_, c_, k_ = np.broadcast_arrays(*(x.astype(np.float64) for x in (n_, c_, k_)))
    certain = n_ - c_ < k_
    by_c = c_ <= k_
    terms = np.where(certain, 0.0, np.minimum(c_, k_))
    log_ratio = np.zeros(n_.shape)
    chunk = max(1, 1_000_000 // max(1, n_.size))
    j = 0
    while j < terms.max(initial=0.0):
        idx = np.arange(j, j + chunk, dtype=np.float64).reshape((-1,) + (1,) * n_.ndim)
        active = idx < terms
        with np.errstate(divide="ignore", invalid="ignore"):
            # c ≤ k: factor (1 − k/i) with i = n − c + 1 + j; c > k: (1 − c/(n − j)).
            t = np.where(by_c, np.log1p(-k_ / (n_ - c_ + 1 + idx)), np.log1p(-c_ / (n_ - idx)))
        log_ratio += np.where(active, t, 0.0).sum(axis=0)
        j += chunk
    return np.where(certain, 1.0, -np.expm1(log_ratio)) + 0.0  # + 0.0: no -0.0 when c = 0


def expected_distinct(policy, valid, k) -> np.ndarray:
    """Expected number of distinct valid modes in k samples: ``Σ_{y∈C} 1 − (1 − π(y))^k``.

    Returns shape ``batch_shape + np.shape(k)``.
    """
    p, v = _policy_mask(policy, valid)
    ks = _ks(k)
    with np.errstate(divide="ignore"):
        lp = np.log1p(-np.clip(p, 0.0, 1.0))
    lp = lp.reshape(lp.shape + (1,) * ks.ndim)
    per_mode = -np.expm1(ks * lp)
    vv = v.reshape(v.shape + (1,) * ks.ndim)
    return np.where(vv, per_mode, 0.0).sum(axis=p.ndim - 1)


def conditional(policy, valid) -> np.ndarray:
    """``π(·|C)``: the policy restricted to the valid set and renormalised (MATH §1).

    Raises ``ValueError`` if ``π(C) = 0`` in some row.
    """
    p, v = _policy_mask(policy, valid)
    mass = np.where(v, p, 0.0).sum(axis=-1, keepdims=True)
    if np.any(mass == 0):
        raise ValueError("policy puts zero probability on the valid set; π(·|C) is undefined")
    return np.where(v, p, 0.0) / mass


def _xlogx(q):
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(q > 0, q * np.log(np.where(q > 0, q, 1.0)), 0.0)


def entropy(policy, valid=None) -> np.ndarray:
    """Shannon entropy (nats) of ``π(·|C)``; of ``π`` when ``valid`` is None (MATH §4)."""
    q = as_policy(policy) if valid is None else conditional(policy, valid)
    return -_xlogx(q).sum(axis=-1)


def effective_modes(policy, valid=None) -> np.ndarray:
    """Effective number of modes ``exp H(π(·|C))`` (1 = one mode, ``|C|`` = uniform)."""
    return np.exp(entropy(policy, valid))


def renyi_entropy(policy, valid=None, *, order: float = 2.0) -> np.ndarray:
    """Rényi entropy ``log(Σ q^a)/(1 − a)`` of ``q = π(·|C)``; ``a = 1`` is Shannon,
    ``a = inf`` is min-entropy ``−log max q``."""
    a = float(order)
    if not (a >= 0) or np.isnan(a):
        raise ValueError(f"order must be >= 0; got {order!r}")
    q = as_policy(policy) if valid is None else conditional(policy, valid)
    if a == 1.0:
        return -_xlogx(q).sum(axis=-1)
    if np.isinf(a):
        return -np.log(q.max(axis=-1))
    if a == 0.0:
        return np.log((q > 0).sum(axis=-1).astype(np.float64))
    with np.errstate(divide="ignore"):
        lq = np.log(q)
    # log Σ q^a in log space: no underflow for large orders.
    return logsumexp_last(np.where(q > 0, a * lq, -np.inf)) / (1.0 - a)


def simpson_index(policy, valid=None) -> np.ndarray:
    """Simpson index ``Σ q(y)^2`` of ``q = π(·|C)``: the chance two samples coincide."""
    q = as_policy(policy) if valid is None else conditional(policy, valid)
    return np.sum(q * q, axis=-1)


def amplification_exponent(before, after, valid) -> np.ndarray:
    """Slope of ``log π'(y)`` against ``log π(y)`` over valid modes (MATH §4).

    Least-squares slope over the valid modes with positive probability: 1 means ratios
    preserved, > 1 amplified, < 1 compressed.

    Raises
    ------
    ValueError
        If a row has fewer than two valid modes with distinct ``π(y)`` (no slope).
    """
    p0, v = _policy_mask(before, valid)
    p1 = as_policy(after, name="after")
    if p1.shape != p0.shape:
        raise ValueError(f"after has shape {p1.shape}; before has shape {p0.shape}")
    use = v & (p0 > 0) & (p1 > 0)
    with np.errstate(divide="ignore"):
        x = np.where(use, np.log(np.where(use, p0, 1.0)), 0.0)
        y = np.where(use, np.log(np.where(use, p1, 1.0)), 0.0)
    n = use.sum(axis=-1)
    xm = x.sum(-1) / np.maximum(n, 1)
    ym = y.sum(-1) / np.maximum(n, 1)
    dx = np.where(use, x - xm[..., None], 0.0)
    dy = np.where(use, y - ym[..., None], 0.0)
    sxx = (dx * dx).sum(-1)
    if np.any(sxx <= 1e-300) or np.any(n < 2):
        raise ValueError(
            "amplification_exponent needs, in every row, at least two valid modes with "
            "distinct positive probabilities before the update"
        )
    return (dx * dy).sum(-1) / sxx


def kl_to_rl_target(policy, task: Task) -> np.ndarray:
    """``KL(π(·|C) ‖ π0(·|C))``: distance among valid modes from the RL target (MATH §4).

    Ideal RL (R1–R3) keeps this at 0; self-distillation drives it up.
    """
    q = conditional(policy, task.valid)
    log_q0 = log_conditional(task.log_base, task.valid, name="base")
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(q > 0, q * (np.log(np.where(q > 0, q, 1.0)) - log_q0), 0.0)
    return terms.sum(axis=-1)


def ratio_table(policy, valid) -> tuple[np.ndarray, np.ndarray]:
    """Pairwise ratios ``π(y)/π(y')`` among the valid modes of one prompt.

    Returns
    -------
    modes : ndarray of int, shape (m,)
        Indices of the valid modes.
    ratios : ndarray, shape (m, m)
        ``ratios[i, j] = π(modes[i]) / π(modes[j])``; ``inf`` where only the denominator
        is 0, and 1 where both are 0 (two modes at zero are equally likely).
    """
    p = as_policy(policy)
    if p.ndim != 1:
        raise ValueError(f"ratio_table takes one policy of shape (K,); got shape {p.shape}")
    v = as_mask(valid, p.shape)
    modes = np.flatnonzero(v)
    sub = p[modes]
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = sub[:, None] / sub[None, :]
    both_zero = (sub[:, None] == 0) & (sub[None, :] == 0)
    return modes, np.where(both_zero, 1.0, ratios)
