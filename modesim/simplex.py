"""Validation and log-space helpers for batched categorical policies (MATH §1).

A policy is an array of shape ``(..., K)``: the last axis indexes modes and every
leading axis is a batch axis (prompts, seeds, parameter grids).  Internally modesim
stores log-probabilities so that entries down to ``1e-300`` and below survive; these
helpers convert, validate and normalise in log space.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "as_log_policy",
    "as_policy",
    "as_mask",
    "log_normalise",
    "logsumexp_last",
    "log_mass",
    "log_conditional",
    "check_positive_scalar",
    "check_unit_interval",
]

#: Tolerance on ``|sum(p) - 1|`` accepted by :func:`as_policy` before renormalising.
SUM_TOLERANCE = 1e-6


def _describe(value) -> str:
    arr = np.asarray(value)
    if arr.size <= 8:
        return repr(arr.tolist()) if arr.ndim else repr(arr.item())
    return f"array of shape {arr.shape}"


def _bad_rows(mask: np.ndarray) -> str:
    idx = np.argwhere(mask)
    shown = ", ".join(str(tuple(int(i) for i in row)) for row in idx[:5])
    more = "" if len(idx) <= 5 else f" and {len(idx) - 5} more"
    return shown + more


def as_policy(p, *, name: str = "policy") -> np.ndarray:
    """Validate probabilities and return them as a float64 array of shape ``(..., K)``.

    Entries must be finite and non-negative, and each row must sum to one within
    ``SUM_TOLERANCE`` (1e-6); rows within that tolerance are renormalised exactly.

    Raises
    ------
    ValueError
        Naming ``name``, the offending value and what is allowed.
    """
    arr = np.asarray(p, dtype=np.float64)
    if arr.ndim == 0 or arr.shape[-1] == 0:
        raise ValueError(
            f"{name} must be an array of shape (..., K) with K >= 1 modes; got {_describe(p)}"
        )
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite; got {_describe(p)}")
    if np.any(arr < 0):
        raise ValueError(f"{name} must be non-negative; got {_describe(p)}")
    total = arr.sum(axis=-1, keepdims=True)
    off = np.abs(total - 1.0) > SUM_TOLERANCE
    if np.any(off):
        raise ValueError(
            f"{name} must sum to 1 along the last axis (within {SUM_TOLERANCE:g}); "
            f"sums are {_describe(total[..., 0])}"
        )
    return arr / total


def as_log_policy(p, *, name: str = "policy") -> np.ndarray:
    """Validate probabilities like :func:`as_policy` and return their logarithm.

    Zero probabilities map to ``-inf``.
    """
    arr = as_policy(p, name=name)
    with np.errstate(divide="ignore"):
        return np.log(arr)


def as_mask(mask, shape: tuple[int, ...], *, name: str = "valid") -> np.ndarray:
    """Validate a boolean mode mask and broadcast it to ``shape``.

    Accepts booleans or the integers 0/1.  Each row (last axis) must contain at least
    one ``True``: an empty valid set has no correct answer to train towards.
    """
    arr = np.asarray(mask)
    if arr.dtype != bool:
        if not np.issubdtype(arr.dtype, np.number) or not np.all(np.isin(arr, (0, 1))):
            raise ValueError(f"{name} must be a boolean mask (or 0/1); got {_describe(mask)}")
        arr = arr.astype(bool)
    try:
        arr = np.broadcast_to(arr, shape)
    except ValueError:
        raise ValueError(
            f"{name} of shape {arr.shape} does not broadcast to the policy shape {shape}"
        ) from None
    empty = ~arr.any(axis=-1)
    if np.any(empty):
        raise ValueError(
            f"{name} must mark at least one mode as valid in every row; "
            f"empty rows at batch index {_bad_rows(empty)}"
        )
    return arr


def logsumexp_last(x: np.ndarray, *, keepdims: bool = False) -> np.ndarray:
    """``log Σ exp x`` over the last axis; rows of all ``-inf`` give ``-inf``.

    The same shift-by-max algorithm as :func:`scipy.special.logsumexp`, specialised to
    real input and the last axis (it runs on every round of every rule, and the
    general routine is several times slower on a batch of short rows).
    """
    x = np.asarray(x, dtype=np.float64)
    # Fast path without the shift: exact whenever no row sum overflows or gets near the
    # underflow floor (entries lost to underflow are then < 1e-28 of the sum).
    with np.errstate(over="ignore"):
        s = np.exp(x).sum(axis=-1, keepdims=True)
    if np.all(s > 1e-280) and np.all(s < 1e280):
        out = np.log(s, out=s)
    else:
        m = x.max(axis=-1, keepdims=True)
        m[~np.isfinite(m)] = 0.0
        s = np.exp(x - m).sum(axis=-1, keepdims=True)
        with np.errstate(divide="ignore"):
            out = np.log(s, out=s) + m
    return out if keepdims else out[..., 0]


def log_normalise(logits: np.ndarray) -> np.ndarray:
    """Return ``logits - logsumexp(logits, axis=-1)``: log-probabilities of ``softmax``."""
    logits = np.asarray(logits, dtype=np.float64)
    return logits - logsumexp_last(logits, keepdims=True)


def log_mass(log_policy: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``log π(C) = logsumexp_{y ∈ C} log π(y)``, shape ``(...)``."""
    return logsumexp_last(np.where(mask, log_policy, -np.inf))


def log_conditional(log_policy: np.ndarray, mask: np.ndarray, *, name: str = "policy"):
    """``log π(·|C)``: restrict to ``mask`` and renormalise in log space (MATH §1).

    ``log_policy`` must be normalised; when every mode is valid it is returned as is.

    Raises
    ------
    ValueError
        If ``π(C) = 0`` in some row: the conditional distribution does not exist.
    """
    if mask.all():
        return log_policy
    lm = log_mass(log_policy, mask)
    dead = np.isneginf(lm)
    if np.any(dead):
        raise ValueError(
            f"{name} puts zero probability on the valid set at batch index "
            f"{_bad_rows(dead) if dead.ndim else '()'}: π(·|C) is undefined "
            "(no correct rollout can be sampled as a demonstration)"
        )
    return np.where(mask, log_policy - lm[..., None], -np.inf)


def check_positive_scalar(value, name: str, *, allow_zero: bool = False) -> float:
    """Return ``value`` as a float after checking it is finite and > 0 (or >= 0)."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a real number; got {value!r}") from None
    ok = np.isfinite(v) and (v >= 0 if allow_zero else v > 0)
    if not ok:
        allowed = "a finite number >= 0" if allow_zero else "a finite number > 0"
        raise ValueError(f"{name} must be {allowed}; got {value!r}")
    return v


def check_unit_interval(value, name: str, *, closed_low=True, closed_high=False) -> float:
    """Return ``value`` as a float after checking it lies in the stated unit interval."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a real number; got {value!r}") from None
    lo_ok = v >= 0 if closed_low else v > 0
    hi_ok = v <= 1 if closed_high else v < 1
    if not (np.isfinite(v) and lo_ok and hi_ok):
        interval = ("[" if closed_low else "(") + "0, 1" + ("]" if closed_high else ")")
        raise ValueError(f"{name} must lie in {interval}; got {value!r}")
    return v
