"""Log-space arithmetic on batched categorical policies (theory §1).

A policy is an array of shape ``(..., K)``: the last axis indexes modes and every leading
axis is a batch axis (prompts, seeds, parameter grids).  modesim stores log-probabilities
so that entries down to ``1e-300`` and below survive.  These helpers assume valid input
(validation lives in :mod:`modesim._checks`) and keep their outputs in range by
construction: a normalised log-policy has no entry above 0, even by round-off.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    "logsumexp_last",
    "log_normalise",
    "log_normalise_inplace",
    "log_mass",
    "log_conditional",
    "log_complement",
    "kl_terms",
    "BLOCK",
    "blocks",
    "exp_sum",
]

#: Elements processed per block by the large-array paths (keeps temporaries in cache).
BLOCK = 1 << 16


def blocks(K: int, size: int = 0):
    """Slices of the last axis: one slice for rows up to 4·BLOCK modes, blocks of BLOCK above.

    The choice depends on the row length only, never on the batch size, so a row's result
    is the same bits whatever batch it is computed in (chunked sweeps reproduce whole runs).
    """
    if K <= 4 * BLOCK:
        return (slice(None),)
    return tuple(slice(i, i + BLOCK) for i in range(0, K, BLOCK))


def logsumexp_last(x: np.ndarray, *, keepdims: bool = False) -> np.ndarray:
    """``log Σ exp x`` over the last axis; rows of all ``-inf`` give ``-inf``.

    The shift-by-max algorithm of :func:`scipy.special.logsumexp`, specialised to real
    input and the last axis (it runs in every round of every rule).  Large rows are summed
    in blocks, so no full-size temporary is made.
    """
    x = np.asarray(x, dtype=np.float64)
    m = x.max(axis=-1, keepdims=True)
    if not (math.isfinite(m.item()) if m.size == 1 else np.isfinite(m).all()):
        with np.errstate(divide="ignore", invalid="ignore"):
            m0 = np.where(np.isfinite(m), m, 0.0)
            s = _shifted_exp_sum(x, m0)
            out = np.where(np.isnan(m), np.nan, np.where(m == np.inf, np.inf, np.log(s) + m0))
    else:
        s = _shifted_exp_sum(x, m)
        out = np.log(s, out=s)
        out += m
    return out if keepdims else out[..., 0]


def _shifted_exp_sum(x: np.ndarray, m: np.ndarray) -> np.ndarray:
    parts = blocks(x.shape[-1], x.size)
    if len(parts) == 1:
        t = x - m
        return np.exp(t, out=t).sum(axis=-1, keepdims=True)
    s = np.zeros(m.shape)
    for sl in parts:
        t = x[..., sl] - m
        s += np.exp(t, out=t).sum(axis=-1, keepdims=True)
    return s


def exp_sum(x: np.ndarray) -> np.ndarray:
    """``Σ exp x`` over the last axis (keepdims), in blocks for large rows; ``x`` must not
    overflow (e.g. already shifted by its row maximum)."""
    parts = blocks(x.shape[-1], x.size)
    if len(parts) == 1:
        return np.exp(x).sum(axis=-1, keepdims=True)
    s = np.zeros(x.shape[:-1] + (1,))
    for sl in parts:
        s += np.exp(x[..., sl]).sum(axis=-1, keepdims=True)
    return s


def log_normalise(logits: np.ndarray) -> np.ndarray:
    """``logits − logsumexp(logits)`` over the last axis, clamped at 0: log ``softmax``.

    The clamp keeps a normalised log-policy at or below 0 even where round-off would put
    its largest entry at ``+1e-17`` (theory §1: quantities stay in range by construction).
    """
    return log_normalise_inplace(np.array(logits, dtype=np.float64))


def log_normalise_inplace(x: np.ndarray) -> np.ndarray:
    """:func:`log_normalise` written into ``x`` (a writable float64 array).

    Computed as ``(x − m) − log Σ exp(x − m)`` with ``m`` the row maximum: two subtractions,
    so the largest entry loses nothing to the size of ``m`` (``x − (m + log Σ…)`` would lose
    an ulp of ``m``, 1e-13 for logits near 600).  Rows with a non-finite maximum go through
    :func:`logsumexp_last`.
    """
    m = x.max(axis=-1, keepdims=True)
    if not (math.isfinite(m.item()) if m.size == 1 else np.isfinite(m).all()):
        x -= logsumexp_last(x, keepdims=True)
    else:
        x -= m
        x -= np.log(exp_sum(x))
    return np.minimum(x, 0.0, out=x)


def log_mass(log_policy: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``log π(C) = logsumexp_{y ∈ C} log π(y)``, shape ``(...)``."""
    return logsumexp_last(np.where(mask, log_policy, -np.inf))


def log_conditional(log_policy: np.ndarray, mask: np.ndarray, *, name: str = "policy") -> np.ndarray:
    """``log π(·|C)``: restrict to ``mask`` and renormalise in log space (theory §1).

    ``log_policy`` must be normalised; when every mode is valid it is returned as is.

    Raises
    ------
    ValueError
        If ``π(C) = 0`` in some row: the conditional distribution does not exist.
    """
    from ._checks import at_index

    if np.all(mask):
        return log_policy
    lm = log_mass(log_policy, mask)
    dead = np.isneginf(lm)
    if np.any(dead):
        raise ValueError(
            f"{name} puts zero probability on the valid set{at_index(dead)}: "
            "π(·|C) is undefined (no correct rollout can be sampled as a demonstration)"
        )
    return np.minimum(np.where(mask, log_policy - lm[..., None], -np.inf), 0.0)


def log_complement(log_p: np.ndarray) -> np.ndarray:
    """``log(1 − p_y)`` for every mode of normalised log-probabilities, to full precision.

    Where ``p_y ≤ 1/2`` this is ``log1p(−p_y)``; the largest mode of a row, if it has
    ``p_y > 1/2``, gets the log of the *other* modes' summed mass instead, so a mode
    at ``1 − 1e-30`` gives ``log(1e-30)`` rather than ``log 0``.  Accepts inputs
    normalised only to round-off (entries up to a few ulp above 0).
    """
    log_p = np.asarray(log_p, dtype=np.float64)
    with np.errstate(divide="ignore"):
        out = np.log1p(-np.exp(np.minimum(log_p, 0.0)))
    big = log_p > -np.log(2.0)
    if np.any(big):
        # Two entries can both sit at 1/2 + round-off: treat only each row's largest as big.
        top = np.argmax(log_p, axis=-1)[..., None]
        big &= np.arange(log_p.shape[-1]) == top
        others = logsumexp_last(np.where(big, -np.inf, log_p), keepdims=True)
        out = np.where(big, others, out)
    return out


def _psi_series(x: np.ndarray) -> np.ndarray:
    """``ψ(x) = x·e^x − e^x + 1 = Σ_{n≥2} (n − 1)·x^n/n!`` for |x| ≤ 1/2 (Horner, 20 terms)."""
    acc = np.zeros_like(x)
    for n in range(21, 1, -1):
        acc = acc * x + (n - 1) / _FACT[n]
    return acc * x * x


_FACT = [1.0]
for _n in range(1, 23):
    _FACT.append(_FACT[-1] * _n)


def kl_terms(log_q: np.ndarray, log_p: np.ndarray) -> np.ndarray:
    """Per-mode terms ``q·log(q/p) − q + p`` of ``KL(q‖p)``, each ≥ 0 and exactly 0 where q = p.

    Written as ``p·ψ(x)`` or ``q·(x + e^{−x} − 1)`` with ``x = log q − log p`` and
    ``ψ(x) = x e^x − e^x + 1`` summed as a series near 0, so two distributions 1e-9 apart
    give their KL (~1e-18) to full relative precision; no term overflows for tiny ``p``.
    ``q = 0`` gives ``p``; ``p = 0 < q`` gives ``+inf``.  Summed over modes of two
    normalised distributions this is ``KL(q‖p)`` (the ``−q + p`` parts cancel in total).
    """
    log_q, log_p = np.broadcast_arrays(np.asarray(log_q, float), np.asarray(log_p, float))
    qz, pz = np.isneginf(log_q), np.isneginf(log_p)
    with np.errstate(invalid="ignore", over="ignore"):
        x = np.where(qz | pz, 0.0, log_q - log_p)
        small = np.abs(x) <= 0.5
        out = np.exp(np.where(x > 0.5, log_q, log_p)) * np.where(
            small, _psi_series(np.where(small, x, 0.0)),
            np.where(x > 0.5, x + np.expm1(-x), x * np.exp(x) - np.expm1(x)),
        )
    out = np.where(qz, np.exp(log_p), out)
    out = np.where(pz & ~qz, np.inf, out)
    return np.maximum(out, 0.0)
