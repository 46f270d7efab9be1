"""Diversity metrics: pure functions of arrays (theory §4).

Policies are probabilities of shape ``(..., K)`` (last axis = modes) and masks are
boolean arrays broadcastable to them.  Unless stated otherwise a metric returns one value
per batch entry, shape ``(...)``; functions of ``k`` append ``k``'s shape.  Every
quantity with a known range stays in it by construction (pass@k in [0, 1], entropies
≥ 0, divergences as sums of non-negative terms).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from . import _checks as chk
from .simplex import kl_terms, log_conditional, logsumexp_last
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
    "kl_divergence",
    "kl_to_rl_target",
    "ratio_table",
    "fixation_probability",
    "collapse_times",
    "Fan",
    "fan",
]


def _policy_mask(policy, valid, name="valid", *, nonempty=True):
    p = chk.probabilities(policy, "policy")
    return p, chk.mask(valid, p.shape, name, nonempty=nonempty)


def log_failure(p: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """``log(1 − π(C))`` from whichever of π(C) and 1 − π(C) is small (both are summed
    directly, so neither is formed as a difference from 1)."""
    succ = np.clip(np.where(valid, p, 0.0).sum(axis=-1), 0.0, 1.0)
    fail = np.clip(np.where(valid, 0.0, p).sum(axis=-1), 0.0, 1.0)
    with np.errstate(divide="ignore"):
        return np.where(succ < 0.5, np.log1p(-np.minimum(succ, 0.5)), np.log(fail))


def pass_at_k_from_log_failure(log_fail: np.ndarray, ks: np.ndarray) -> np.ndarray:
    """``1 − exp(k·log F)`` in [0, 1] for failure log-probabilities ``log F`` (shape S) and
    k (shape Q) → shape ``S + Q``; exact in relative terms for tiny pass@k."""
    shaped = np.minimum(log_fail, 0.0).reshape(np.shape(log_fail) + (1,) * ks.ndim)
    return np.clip(0.0 - np.expm1(ks * shaped), 0.0, 1.0)


def pass_at_k(policy, valid, k, *, axis=None) -> np.ndarray:
    """Exact pass@k ``1 − (1 − π(C))^k`` (theory §4).

    Computed as ``−expm1(k·log(1 − π(C)))``, taking ``log(1 − π(C))`` as ``log1p(−π(C))``
    when π(C) is small and as the log of the summed invalid mass when it is large, so it
    keeps full relative precision for k up to 10^6 and beyond.

    Parameters
    ----------
    policy : array_like, shape (..., K)
    valid : bool array broadcastable to (..., K)
    k : int or array_like of int >= 1
    axis : int or tuple of int, optional
        Batch axes (of ``policy``'s leading axes) to average over: pass@k averaged over a
        bank of prompts.

    Returns
    -------
    ndarray in [0, 1], shape ``batch_shape + np.shape(k)`` (averaged axes removed)

    Raises
    ------
    ValueError
        Naming ``policy``, ``valid``, ``k`` or ``axis``.

    Examples
    --------
    >>> import modesim as ms
    >>> ms.pass_at_k([0.6, 0.3, 0.1], [0, 1, 1], [1, 4, 16]).round(3).tolist()
    [0.4, 0.87, 1.0]
    """
    p, v = _policy_mask(policy, valid, nonempty=False)
    ks = chk.ks(k)
    axes = None if axis is None else chk.batch_axes(axis, p.ndim - 1)
    out = pass_at_k_from_log_failure(log_failure(p, v), ks)
    return out if axes is None else out.mean(axis=axes)


def _check_counts(n, c, k):
    """Validate n, c, k of the unbiased estimator (scalars take a fast path)."""
    if all(type(x) is int for x in (n, c, k)):
        for name, x in (("n", n), ("c", c), ("k", k)):
            if x >= 2**63:
                raise ValueError(f"{name} must hold non-negative integers below 2**63; got {x!r}")
        if n < 0 or c < 0 or k < 1 or c > n or k > n:
            _check_counts(np.asarray(n), np.asarray(c), np.asarray(k))
        return n, c, k
    out = []
    for name, x in (("n", n), ("c", c), ("k", k)):
        if isinstance(x, (str, bytes, bool)) or x is None:
            raise ValueError(f"{name} must hold finite non-negative integers; got {x!r}")
        try:
            a = np.asarray(x)
        except (TypeError, ValueError):
            raise ValueError(f"{name} must hold finite non-negative integers; got {chk.describe(x)}") from None
        if (a.dtype == bool or not np.issubdtype(a.dtype, np.number) or np.iscomplexobj(a)
                or not np.all(np.isfinite(a)) or np.any(a != np.floor(a)) or np.any(a < 0)):
            raise ValueError(f"{name} must hold finite non-negative integers; got {chk.describe(x)}")
        out.append(a)
    n_, c_, k_ = out
    if np.any(k_ < 1):
        raise ValueError(f"k must be >= 1; got {chk.describe(k)}")
    if np.any(c_ > n_):
        raise ValueError(f"c must be <= n; got c={chk.describe(c)}, n={chk.describe(n)}")
    if np.any(k_ > n_):
        raise ValueError(f"k must be <= n; got k={chk.describe(k)}, n={chk.describe(n)}")
    return n_, c_, k_


#: Entries of :func:`pass_at_k_unbiased` with at least this many factors are summed on their own.
_OWN_SUM = 4096


def pass_at_k_unbiased(n, c, k) -> np.ndarray:
    """Unbiased pass@k estimator from n samples with c correct (theory §4; Chen et al. 2021).

    ``1 − C(n − c, k)/C(n, k)``, from the product form with ``min(c, k)`` factors::

        c ≤ k:  C(n−c, k)/C(n, k) = Π_{i=n−c+1}^{n} (1 − k/i)
        c > k:  C(n−c, k)/C(n, k) = Π_{j=0}^{k−1} (1 − c/(n − j))

    summed as ``log1p`` terms and returned as ``−expm1(·)``, so small estimates keep full
    relative precision even for n = 10^9 (log-gamma differences do not).  Exactly 1 when
    ``n − c < k``.  Broadcasts over ``n``, ``c`` and ``k``; the cost is proportional to
    ``Σ min(c, k)`` over the broadcast entries (one small problem never pays for a large
    one), and a scalar call costs about as much as the HumanEval reference.

    Parameters
    ----------
    n, c, k : int or array_like of int
        Samples drawn, correct samples among them, and k; broadcast together.

    Returns
    -------
    ndarray in [0, 1] (a numpy float for scalar inputs), the broadcast shape of n, c, k.

    Raises
    ------
    ValueError
        ``n``, ``c`` or ``k`` not finite non-negative integers (booleans and strings
        refused), ``k < 1``, ``c > n`` or ``k > n``.

    Notes
    -----
    Source: Chen et al., "Evaluating Large Language Models Trained on Code" (2021), the
    HumanEval estimator; the product form and its ``log1p`` summation are this project's
    (theory §4, §12).

    >>> import modesim as ms
    >>> float(ms.pass_at_k_unbiased(200, 37, 10).round(6))
    0.877375
    """
    n_, c_, k_ = _check_counts(n, c, k)
    if type(n_) is int:
        if n_ - c_ < k_:
            return np.float64(1.0)
        if c_ <= k_:
            t = np.log1p(-k_ / np.arange(n_ - c_ + 1, n_ + 1, dtype=np.float64))
        else:
            t = np.log1p(-c_ / np.arange(n_ - k_ + 1, n_ + 1, dtype=np.float64))
        return np.float64(min(max(0.0 - math.expm1(float(t.sum())), 0.0), 1.0))
    n_, c_, k_ = np.broadcast_arrays(*(x.astype(np.float64) for x in (n_, c_, k_)))
    shape = n_.shape
    n_, c_, k_ = n_.ravel(), c_.ravel(), k_.ravel()
    certain = n_ - c_ < k_
    by_c = c_ <= k_
    terms = np.where(certain, 0, np.minimum(c_, k_)).astype(np.int64)
    log_ratio = np.zeros(n_.size)
    # Factor j of an entry: 1 − num/(off + sgn·j), j < terms: c ≤ k: num = k, off = n − c + 1,
    # sgn = +1; c > k: num = c, off = n, sgn = −1.
    num = np.where(by_c, k_, c_)
    off = np.where(by_c, n_ - c_ + 1.0, n_)
    sgn = np.where(by_c, 1.0, -1.0)
    # Entries with many factors are summed on their own (a contiguous range, no gathers);
    # the rest as one ragged sum in chunks bounded by ~2^20 factors.
    big = np.flatnonzero(terms >= _OWN_SUM)
    for i in big:
        j = np.arange(terms[i], dtype=np.float64)
        log_ratio[i] = np.log1p(-num[i] / (off[i] + sgn[i] * j)).sum()
    small = np.flatnonzero((terms > 0) & (terms < _OWN_SUM))
    cnt_all = terms[small]
    ends = np.cumsum(cnt_all)
    start = 0
    while start < small.size:
        base_terms = ends[start - 1] if start else 0
        stop = max(int(np.searchsorted(ends, base_terms + (1 << 20), side="right")), start + 1)
        idx = small[start:stop]
        cnt = cnt_all[start:stop]
        pos = np.repeat(np.arange(idx.size), cnt)
        j = np.arange(cnt.sum(), dtype=np.float64) - np.repeat(np.cumsum(cnt) - cnt, cnt)
        t = np.log1p(-num[idx][pos] / (off[idx][pos] + sgn[idx][pos] * j))
        log_ratio[idx] = np.bincount(pos, weights=t, minlength=idx.size)
        start = stop
    out = np.where(certain, 1.0, np.clip(0.0 - np.expm1(log_ratio), 0.0, 1.0))
    return out.reshape(shape)


def expected_distinct(policy, valid, k) -> np.ndarray:
    """Expected number of distinct valid modes in k samples (theory §4).

    ``Σ_{y∈C} 1 − (1 − π(y))^k``.

    Each term is ``−expm1(k·log1p(−π(y)))`` (theory §12), so rare modes keep their
    relative precision.

    Parameters
    ----------
    policy : array_like, shape (..., K)
    valid : bool array broadcastable to (..., K)
        May mark no mode in a row (that row gives 0).
    k : int or array_like of int >= 1

    Returns
    -------
    ndarray, shape ``batch_shape + np.shape(k)``, in ``[0, min(k, |C|)]`` (a count of modes).

    Raises
    ------
    ValueError
        ``policy`` not probabilities of shape (..., K); ``valid`` not a boolean mask
        broadcasting to it; ``k`` not finite positive integers.

    >>> import modesim as ms
    >>> float(ms.expected_distinct([0.5, 0.5], [1, 1], 2))
    1.5
    """
    p, v = _policy_mask(policy, valid, nonempty=False)
    ks = chk.ks(k)
    with np.errstate(divide="ignore"):
        lp = np.log1p(-np.clip(p, 0.0, 1.0))
    lp = lp.reshape(lp.shape + (1,) * ks.ndim)
    per_mode = np.clip(0.0 - np.expm1(ks * lp), 0.0, 1.0)
    vv = v.reshape(v.shape + (1,) * ks.ndim)
    return np.where(vv, per_mode, 0.0).sum(axis=p.ndim - 1)


def conditional(policy, valid) -> np.ndarray:
    """``π(·|C)``: the policy restricted to the valid set and renormalised (theory §1).

    ``π(y)·1[y ∈ C]/π(C)``.

    Parameters
    ----------
    policy : array_like, shape (..., K)
    valid : bool array broadcastable to (..., K)

    Returns
    -------
    ndarray, shape (..., K)
        Probabilities, 0 off C.

    Raises
    ------
    ValueError
        ``policy`` not probabilities of shape (..., K); ``valid`` not a boolean mask
        broadcasting to it, or marking no mode in some row; ``π(C) = 0`` in some row
        (named by batch index).

    >>> import modesim as ms
    >>> ms.conditional([0.5, 0.3, 0.2], [1, 1, 0]).round(3).tolist()
    [0.625, 0.375, 0.0]
    """
    p, v = _policy_mask(policy, valid)
    mass = np.where(v, p, 0.0).sum(axis=-1, keepdims=True)
    if np.any(mass == 0):
        raise ValueError(
            "policy puts zero probability on the valid set"
            f"{chk.at_index(mass[..., 0] == 0)}; π(·|C) is undefined"
        )
    return np.where(v, p, 0.0) / mass


def _xlogx(q):
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(q > 0, q * np.log(np.where(q > 0, q, 1.0)), 0.0)


def _dist(policy, valid):
    if valid is None:
        q = chk.probabilities(policy, "policy")
        return q, np.full(q.shape[:-1], q.shape[-1])
    q = conditional(policy, valid)
    return q, np.broadcast_to(chk.mask(valid, q.shape), q.shape).sum(-1)


def entropy(policy, valid=None) -> np.ndarray:
    """Shannon entropy (nats) of ``π(·|C)``; of ``π`` when ``valid`` is None (theory §4).

    In ``[0, log |C|]`` by construction (round-off clipped; a point mass gives +0.0).

    Parameters
    ----------
    policy : array_like, shape (..., K)
    valid : bool array broadcastable to (..., K), optional

    Returns
    -------
    ndarray, shape (...), in nats.

    Raises
    ------
    ValueError
        ``policy`` not probabilities of shape (..., K); ``valid`` not a boolean mask
        broadcasting to it or empty in some row; ``π(C) = 0`` in some row.

    >>> import modesim as ms
    >>> float(ms.entropy([0.5, 0.25, 0.25]).round(4))
    1.0397
    """
    q, n = _dist(policy, valid)
    h = -_xlogx(q).sum(axis=-1)
    return np.clip(h, 0.0, np.log(n)) + 0.0


def effective_modes(policy, valid=None) -> np.ndarray:
    """Effective number of modes ``exp H(π(·|C))`` in ``[1, |C|]`` (theory §4).

    1 is a single mode, ``|C|`` the uniform distribution on C (a number of modes, no
    unit).  :func:`entropy` exponentiated.

    Parameters
    ----------
    policy : array_like, shape (..., K)
    valid : bool array broadcastable to (..., K), optional

    Returns
    -------
    ndarray, shape (...)

    Raises
    ------
    ValueError
        As :func:`entropy`: bad ``policy`` or ``valid``, or ``π(C) = 0`` in some row.

    >>> import modesim as ms
    >>> float(ms.effective_modes([0.25, 0.25, 0.25, 0.25]).round(12))
    4.0
    """
    return np.exp(entropy(policy, valid))


def renyi_entropy(policy, valid=None, *, order=2.0) -> np.ndarray:
    """Rényi entropy ``log(Σ q^a)/(1 − a)`` (nats) of ``q = π(·|C)`` (theory §4).

    ``a = 1`` is Shannon, ``a = 0`` the log of the support size, ``a = inf`` the
    min-entropy ``−log max q``; ``Σ q^a`` is formed in log space (theory §12), and for
    ``|a − 1| ≤ 1/2`` as ``log1p(Σ q·expm1((a − 1)·log q))``, so that orders near 1 keep
    full relative precision (the plain form divides round-off by ``1 − a``).  The result
    is clipped to ``[0, log |C|]``.

    Parameters
    ----------
    policy : array_like, shape (..., K)
    valid : bool array broadcastable to (..., K), optional
    order : float >= 0 or inf
        The order ``a`` (a scalar).

    Returns
    -------
    ndarray, shape (...), in nats.

    Raises
    ------
    ValueError
        ``order`` not a real scalar >= 0 (or inf); bad ``policy`` or ``valid``, or
        ``π(C) = 0`` in some row (as :func:`entropy`).

    >>> import modesim as ms
    >>> float(ms.renyi_entropy([0.5, 0.25, 0.25]).round(4))  # −log(1/4 + 1/16 + 1/16)
    0.9808
    """
    a = chk.real(order, "order", low=0.0, allow_array=False, allow_inf=True)
    q, n = _dist(policy, valid)
    if a == 1.0:
        h = -_xlogx(q).sum(axis=-1)
    elif np.isinf(a):
        h = -np.log(q.max(axis=-1))
    elif a == 0.0:
        h = np.log((q > 0).sum(axis=-1).astype(np.float64))
    else:
        with np.errstate(divide="ignore"):
            lq = np.log(q)
        if abs(a - 1.0) <= 0.5:
            # Σ q^a − 1 = Σ q·expm1((a − 1)·log q): terms of one sign, each to full relative
            # precision, so dividing log1p of it by 1 − a loses nothing as a → 1 (log Σ q^a
            # would carry round-off ~1e-16 divided by |1 − a|: 10 % error at a = 1 + 1e-15).
            s = np.sum(np.where(q > 0, q * np.expm1((a - 1.0) * np.where(q > 0, lq, 0.0)), 0.0), axis=-1)
            h = np.log1p(s) / (1.0 - a)
        else:
            # log Σ q^a in log space: no underflow for large orders (a·log q = −inf is the limit).
            with np.errstate(over="ignore"):
                h = logsumexp_last(np.where(q > 0, a * lq, -np.inf)) / (1.0 - a)
    return np.clip(h, 0.0, np.log(n)) + 0.0


def simpson_index(policy, valid=None) -> np.ndarray:
    """Simpson index ``Σ q(y)²`` of ``q = π(·|C)`` in ``[1/|C|, 1]`` (theory §4).

    The chance that two samples of ``π(·|C)`` coincide.

    Parameters
    ----------
    policy : array_like, shape (..., K)
    valid : bool array broadcastable to (..., K), optional

    Returns
    -------
    ndarray, shape (...), a probability.

    Raises
    ------
    ValueError
        Bad ``policy`` or ``valid``, or ``π(C) = 0`` in some row (as :func:`entropy`).

    >>> import modesim as ms
    >>> float(ms.simpson_index([0.5, 0.25, 0.25]))
    0.375
    """
    q, n = _dist(policy, valid)
    return np.clip(np.sum(q * q, axis=-1), 1.0 / n, 1.0)


def amplification_exponent(before, after, valid) -> np.ndarray:
    """Slope of ``log π'(y)`` against ``log π(y)`` over valid modes (theory §4).

    Least-squares slope over the valid modes with positive probability: 1 means ratios
    preserved, > 1 amplified, < 1 compressed.

    Parameters
    ----------
    before, after : array_like, shape (..., K)
        Probabilities before and after an update (same shape).
    valid : bool array broadcastable to (..., K)

    Returns
    -------
    ndarray, shape (...) (dimensionless slope).

    Raises
    ------
    ValueError
        ``before`` or ``after`` not probabilities, of different shapes; ``valid`` not a mask
        broadcasting to them or empty in some row; a row with fewer than two valid modes of
        distinct positive ``π(y)`` (no slope).

    >>> import modesim as ms
    >>> round(float(ms.amplification_exponent([0.6, 0.3, 0.1], [0.646, 0.278, 0.076], [1, 1, 1])), 2)
    1.19
    """
    p0, v = _policy_mask(before, valid)
    p1 = chk.probabilities(after, "after")
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


def kl_divergence(p, q) -> np.ndarray:
    """``KL(p‖q) = Σ_y p(y)·log(p(y)/q(y))`` (nats) as a sum of non-negative terms.

    Exactly 0 for equal inputs, accurate in relative terms for nearby ones, ``inf`` where
    ``q(y) = 0 < p(y)``.  Shapes broadcast; returns the batch shape.  Each term is
    ``q·ψ(log p − log q)``, ``ψ(x) = x e^x − e^x + 1 ≥ 0`` (theory §4, §12).

    Parameters
    ----------
    p, q : array_like, shape (..., K)
        Probabilities; leading axes broadcast.

    Returns
    -------
    ndarray, shape broadcast(...), in nats.

    Raises
    ------
    ValueError
        ``p`` or ``q`` not probabilities of shape (..., K), or shapes that do not broadcast.

    >>> import modesim as ms
    >>> float(ms.kl_divergence([0.5, 0.5], [0.5, 0.5]))
    0.0
    """
    p = chk.probabilities(p, "p")
    q = chk.probabilities(q, "q")
    try:
        if p.shape[-1] != q.shape[-1]:  # K = 1 against K = 3 would broadcast
            raise ValueError
        np.broadcast_shapes(p.shape, q.shape)
    except ValueError:
        raise ValueError(f"p of shape {p.shape} and q of shape {q.shape} must broadcast (same K modes)") from None
    with np.errstate(divide="ignore"):
        return kl_terms(np.log(p), np.log(q)).sum(axis=-1)


def kl_to_rl_target(policy, task: Task) -> np.ndarray:
    """``KL(π(·|C) ‖ π0(·|C))``: distance among valid modes from the RL target (theory §4).

    Ideal RL (theorems R1–R3) keeps this at 0; self-distillation drives it up.  A sum of
    non-negative terms (``q·log(q/q0) − q + q0``), so it is never negative.

    Parameters
    ----------
    policy : array_like, shape (..., K)
        Broadcasting against the task's batch shape.
    task : Task

    Returns
    -------
    ndarray, shape (...), in nats.

    Raises
    ------
    ValueError
        ``task`` not a :class:`~modesim.Task`; ``policy`` not probabilities of shape
        (..., K), or the task's mask not broadcasting to it; ``π(C) = 0`` in some row.

    >>> import modesim as ms
    >>> task = ms.make_task([0.5, 0.3, 0.2], [1, 1, 0])
    >>> float(ms.kl_to_rl_target(ms.kl_regularised_optimum(task, 0.1), task).round(15))
    0.0
    """
    chk.task(task)
    p, v = _policy_mask(policy, task.valid)
    with np.errstate(divide="ignore"):
        lq = log_conditional(np.log(p), v)
    lq0 = log_conditional(task.log_base, task.valid, name="the base")
    return np.where(v, kl_terms(lq, lq0), 0.0).sum(axis=-1)


def ratio_table(policy, valid, *, by=None) -> tuple[np.ndarray, np.ndarray]:
    """Pairwise ratios ``π(y)/π(y')`` among the valid modes of one prompt (theory §2.1, §3.4).

    The quantity R1 preserves and S4 amplifies: compare the table of a policy with the
    base's.

    Parameters
    ----------
    policy : array_like, shape (K,)
    valid : bool array, shape (K,)
    by : array_like of shape (K,), optional
        Order the valid modes by decreasing ``by`` (e.g. the base policy), so that entries
        above the diagonal are pairs with ``by(y) ≥ by(y')``; default: by mode index.

    Returns
    -------
    modes : ndarray of int, shape (m,)
        Indices of the valid modes (in the chosen order).
    ratios : ndarray, shape (m, m)
        ``ratios[i, j] = π(modes[i]) / π(modes[j])`` (computed in log space, ``inf`` above
        the float range); ``inf`` where only the denominator is 0, and 1 where both are 0.

    Raises
    ------
    ValueError
        ``policy`` not probabilities of shape (K,) (a batched policy is refused); ``valid``
        not a mask of that shape with a valid mode; ``by`` not probabilities of shape (K,).

    >>> import modesim as ms
    >>> modes, r = ms.ratio_table([0.5, 0.3, 0.2], [1, 1, 0])
    >>> modes.tolist(), r.round(3).tolist()
    ([0, 1], [[1.0, 1.667], [0.6, 1.0]])
    """
    p = chk.probabilities(policy, "policy")
    if p.ndim != 1:
        raise ValueError(f"ratio_table takes one policy of shape (K,); got shape {p.shape}")
    v = chk.mask(valid, p.shape)
    modes = np.flatnonzero(v)
    if by is not None:
        key = chk.probabilities(by, "by", n_modes=p.shape[-1])
        if key.ndim != 1:
            raise ValueError(f"by must have shape ({p.shape[-1]},); got shape {key.shape}")
        modes = modes[np.argsort(-key[modes], kind="stable")]
    with np.errstate(divide="ignore"):
        lp = np.log(p[modes])
    zero = np.isneginf(lp)
    with np.errstate(over="ignore", invalid="ignore"):
        ratios = np.exp(lp[:, None] - lp[None, :])
    both = zero[:, None] & zero[None, :]
    ratios = np.where(zero[None, :] & ~zero[:, None], np.inf, ratios)
    return modes, np.where(both, 1.0, ratios)


# ------------------------------------------------------------------ outcomes across seeds
# Statistics of many finite-sample runs (modesim.sampled.train): which mode fixes, when a
# run collapses, and the spread of a mode's probability over time (theory §2.3, §3.6, §4).


def _unit_eps(eps) -> float:
    return chk.real(eps, "eps", low=0.0, high=1.0, low_open=True, high_open=True, allow_array=False)


def fixation_probability(policy, *, eps: float = 1e-3, axis=0) -> np.ndarray:
    """Fraction of seeds in which each mode has fixed: ``mean_seeds 1[π(y) > 1 − eps]`` (theory §4).

    Parameters
    ----------
    policy : array_like, shape (..., K)
        Final policies with a seed axis (e.g. ``traj.policy[-1]`` from :func:`modesim.train`).
    eps : float in (0, 1)
    axis : int or tuple of int
        The seed (batch) axis or axes to average over.

    Returns
    -------
    ndarray in [0, 1], shape of ``policy`` without ``axis``; summed over modes at most 1.

    Raises
    ------
    ValueError
        Naming ``policy`` (NaN, negative, rows not summing to 1), ``eps`` or ``axis``.

    >>> import modesim as ms
    >>> ms.fixation_probability([[0.9999, 0.0001], [0.5, 0.5]]).tolist()
    [0.5, 0.0]
    """
    p = chk.probabilities(policy, "policy")
    eps = _unit_eps(eps)
    if p.ndim < 2:
        raise ValueError(f"policy must have a seed axis before the modes (shape (n_seeds, ..., K)); got shape {p.shape}")
    axes = chk.batch_axes(axis, p.ndim - 1, "axis")
    return np.mean(p > 1.0 - eps, axis=axes)


def collapse_times(trajectory, valid=None, *, eps: float = 1e-3) -> np.ndarray:
    """First recorded time at which one (valid) mode holds more than ``1 − eps``, per run (theory §4).

    Parameters
    ----------
    trajectory : Trajectory
        Recorded with ``record_policy=True`` (e.g. from :func:`modesim.train`).
    valid : bool array broadcastable to the policies (..., K), optional
        Only these modes count; every row must mark at least one.
    eps : float in (0, 1)

    Returns
    -------
    ndarray of float, shape = the trajectory's batch shape
        The time (a step index for :func:`modesim.train`), ``-1`` where no collapse was
        recorded.

    Raises
    ------
    ValueError
        For a trajectory without policies, a mask that marks no mode in some row, or bad
        ``eps``.
    """
    eps = _unit_eps(eps)
    lp = getattr(trajectory, "log_policy", None)
    if lp is None or not hasattr(trajectory, "times"):
        raise ValueError(
            "trajectory must be a modesim Trajectory recorded with record_policy=True; "
            f"got {chk.describe(trajectory)}"
        )
    if valid is not None:
        v = chk.mask(valid, lp.shape[1:], "valid")
        lp = np.where(v, lp, -np.inf)
    hit = lp.max(-1) > np.log1p(-eps)
    first = np.argmax(hit, axis=0)
    return np.where(hit.any(axis=0), np.asarray(trajectory.times, dtype=np.float64)[first], -1.0)


@dataclass(frozen=True, eq=False)
class Fan:
    """Quantile bands of a quantity across seeds over time (theory §4).

    A plain record returned by :func:`fan` (it checks nothing itself).

    Attributes
    ----------
    times : ndarray, shape (T,)
    levels : ndarray, shape (L,)
        Quantile levels, e.g. (0.05, 0.25, 0.5, 0.75, 0.95).
    bands : ndarray, shape (L, T, ...)
        ``bands[i, t]`` = the ``levels[i]`` quantile at time ``t`` (remaining batch axes kept).
    mean : ndarray, shape (T, ...)
    """

    times: np.ndarray
    levels: np.ndarray
    bands: np.ndarray
    mean: np.ndarray


def fan(trajectory, mode: int, *, levels=(0.05, 0.25, 0.5, 0.75, 0.95), seed_axis: int = 0) -> Fan:
    """The fan of ``π_t(mode)`` across seeds: quantile bands at every recorded time (theory §4).

    ``seed_axis`` indexes the trajectory's batch axes (0 for :func:`modesim.train`).

    Parameters
    ----------
    trajectory : Trajectory
        Recorded with ``record_policy=True``, batch shape ``(n_seeds, ...)``.
    mode : int in [0, K)
    levels : array_like of float in [0, 1], shape (L,)
    seed_axis : int >= 0

    Returns
    -------
    Fan
        ``bands`` of shape ``(L, T, ...)`` and ``mean`` ``(T, ...)`` (probabilities), the
        seed axis removed.

    Raises
    ------
    ValueError
        Naming ``trajectory`` (no recorded policy, or no seed axis), ``mode`` (not an
        integer in [0, K)), ``levels`` (not a 1-D array in [0, 1]) or ``seed_axis`` (not a
        batch axis).
    """
    lp = getattr(trajectory, "log_policy", None)
    if lp is None or not hasattr(trajectory, "times"):
        raise ValueError(
            "trajectory must be a modesim Trajectory recorded with record_policy=True; "
            f"got {chk.describe(trajectory)}"
        )
    K = lp.shape[-1]
    mode = chk.integer(mode, "mode", low=0, high=K - 1)
    q = chk.real(levels, "levels", low=0.0, high=1.0)
    q = np.atleast_1d(q)
    if q.ndim != 1 or q.size == 0:
        raise ValueError(f"levels must be a 1-D array of quantile levels in [0, 1]; got {chk.describe(levels)}")
    if lp.ndim < 3:
        raise ValueError(
            "fan needs a trajectory with a seed axis (batch shape (n_seeds, ...), e.g. from "
            f"modesim.train); this one has batch shape {lp.shape[1:-1]}"
        )
    axis = chk.integer(seed_axis, "seed_axis", low=0, high=lp.ndim - 3) + 1
    x = np.exp(lp[..., mode])
    return Fan(times=trajectory.times, levels=q, bands=np.quantile(x, q, axis=axis), mean=x.mean(axis=axis))
