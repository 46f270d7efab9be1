"""Teachers conditioned on demonstrations (theory §3.3).

A **teacher** turns its own base policy ``ρ`` (frozen ``π0``, the current policy, or an
EMA) and a demonstration ``d`` into ``T(y | d)``.  Every teacher is a :class:`Teacher`:
a subclass defines ``log_matrix(log_rho)`` (``log T[..., d, y]``) and inherits generic
implementations of everything the rules need; the built-in teachers override them with
O(K) kernels.  The protocol:

============================================  =====================================================
``expected_log(log_rho, demo)``               ``E_{d~D}[log T(y|d)]``: reverse-KL target (geometric
                                              mean of the teachers, theory §3.2 S1); ``demo`` = D
                                              as probabilities (an expectation weight)
``expected_log_up_to_constant(log_rho, demo)``  optional: ``E_{d~D}[log T(y|d)] + c`` with ``c`` one
                                              number per row; the reverse-KL round normalises, so
                                              it calls this when a teacher has a cheaper form
                                              (``ContrastiveTeacher``: O(K) instead of O(K²))
``log_mixture(log_rho, log_demo)``            ``log E_{d~D}[T(y|d)]``: forward-KL target (arithmetic
                                              mean, S2); ``log_demo`` = log D
``log_prob(log_rho, demos, y)``               ``log T(y | d_1..d_m)`` for sampled demonstrations
                                              ``demos`` (..., E, m) and modes ``y`` (..., E)
``weighted_log_rows(log_rho, demos, w)``      ``Σ_n w_n·log T(·|d_n)`` over a group, (..., K)
``two_point_log_values(log_rho)``             optional: ``(log T(y|y), log T(y|d ≠ y))`` for a teacher
                                              whose law has the two-point form (the copy teacher)
``two_point_ratio_values(log_rho)``           optional: ``(log T(y|y), log T(y|d ≠ y), T(y|d ≠ y)/T(y|y))``,
                                              or None (the copy teacher, for α ≥ 1e-290)
``demo_law(log_rho, demo)``                   the law of ``T(y|d)`` under ``d ~ D`` for every mode y:
                                              support points ``(weights, log_values)``, each
                                              (..., J, K) (the JSD objective, theory §8.1)
``log_matrix(log_rho)`` / ``matrix``          the whole ``T[..., d, y]`` (small K, brute force)
``n_demos``                                   demonstrations in the teacher's context (m)
``param_shape``                               broadcast shape of array-valued parameters
============================================  =====================================================

``log_rho`` is the teacher base as normalised log-probabilities of shape ``(..., K)``;
every kernel accepts inputs normalised only to round-off (entries a few ulp above 0).
Real parameters (α, κ) may be arrays broadcasting against the batch axes (theory §1).

**Demonstration law** (``demo_law``).  For each mode ``y`` the random variable ``T(y|d)``,
``d ~ D``, takes finitely many values: point ``j`` has probability ``weights[..., j, y]``
and value ``exp(log_values[..., j, y])`` (``Σ_j weights[..., j, y] = 1``).  The generic
version has one point per demonstration (``J = K``, from ``log_matrix``: O(K²) memory);
the copy teacher has two points (``d = y`` and ``d ≠ y``), the m-demonstration teacher
``m + 1`` (the binomial count of ``y`` among the demonstrations).  Any objective that is
a per-mode function of the teacher's value can be averaged over demonstrations with it:
``E_d h(T(y|d)) = Σ_j weights[..., j, y]·h(exp(log_values[..., j, y]))``.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from . import _checks as chk
from ._vmath import exp_into, log_into
from .simplex import BLOCK, blocks, log_complement, log_normalise, logsumexp_last

__all__ = ["gather", "scatter_add", "Teacher", "CopyTeacher", "TiltTeacher", "MultiDemoTeacher", "MatrixTeacher",
           "MAX_LAW_ENTRIES"]

#: Largest number of entries (batch × J × K) a generic ``demo_law`` builds (~1.6 GB).
MAX_LAW_ENTRIES = 2 * 10**8
#: Largest |κ| of :class:`TiltTeacher`.
MAX_KAPPA = 1e300


def gather(x: np.ndarray, idx: np.ndarray, extra: int = 1) -> np.ndarray:
    """``x[..., idx]`` per batch row: ``x`` (B..., K), ``idx`` (B..., *E) with ``extra`` = len(E).

    ``x``'s batch axes broadcast against ``idx``'s; the result has ``idx``'s shape.
    """
    batch = idx.shape[: idx.ndim - extra]
    x = np.broadcast_to(x, np.broadcast_shapes(batch, x.shape[:-1]) + x.shape[-1:])
    idx = np.broadcast_to(idx, x.shape[:-1] + idx.shape[idx.ndim - extra:])
    flat = idx.reshape(idx.shape[: idx.ndim - extra] + (-1,))
    return np.take_along_axis(x, flat, axis=-1).reshape(idx.shape)


def scatter_add(idx: np.ndarray, w: np.ndarray, K: int) -> np.ndarray:
    """``out[..., k] = Σ_e w[..., e]·1[idx[..., e] = k]`` by one ``bincount`` over the batch.

    ``idx`` and ``w`` have shape (B..., E); no (B..., E, K) one-hot is built.
    """
    batch = idx.shape[:-1]
    B = int(np.prod(batch, dtype=np.int64))
    rows = np.arange(B).reshape(batch + (1,)) * K
    counts = np.bincount((rows + idx).ravel(), weights=np.broadcast_to(w, idx.shape).ravel(), minlength=B * K)
    return counts.reshape(batch + (K,))


class Teacher:
    """Base class of teachers: define ``log_matrix`` (and ``param_shape`` for array parameters).

    A teacher maps its base ``ρ`` (log-probabilities, shape (..., K)) and a demonstration
    ``d`` to ``T(·|d)`` (theory §3.3).  The generic methods below read the whole matrix
    ``log T[..., d, y]`` (shape (..., K, K)) and cost O(K²) per batch entry; subclasses
    override them with faster kernels.  ``n_demos`` is 1 unless the teacher reads several
    demonstrations at once.  The base class takes no arguments and checks nothing; a
    subclass validates its own parameters once, in ``__post_init__``.
    """

    n_demos: int = 1

    @property
    def param_shape(self) -> tuple[int, ...]:
        """Broadcast shape of the teacher's array-valued parameters (``()`` for scalars)."""
        return ()

    def log_matrix(self, log_rho: np.ndarray) -> np.ndarray:
        """``log T[..., d, y]``, shape ``(..., K, K)``."""
        raise NotImplementedError(f"{type(self).__name__} must define log_matrix(log_rho)")

    def matrix(self, log_rho: np.ndarray) -> np.ndarray:
        """``T[..., d, y]`` (rows are distributions over y)."""
        return np.exp(self.log_matrix(log_rho))

    def expected_log(self, log_rho: np.ndarray, demo: np.ndarray, *, out=None) -> np.ndarray:
        """``Σ_d D(d)·log T[d, y]``; a zero ``T[d, y]`` with ``D(d) > 0`` gives −inf.

        ``out`` is a hint: an implementation may write its result there (it may be ``demo``
        itself, so read each block of ``demo`` before writing it) or ignore it.
        """
        return _matrix_expected_log(self.log_matrix(log_rho), demo)

    def log_mixture(self, log_rho: np.ndarray, log_demo: np.ndarray) -> np.ndarray:
        """``log Σ_d D(d)·T[d, y]`` in log space."""
        lT = self.log_matrix(log_rho)
        return logsumexp_last(np.swapaxes(log_demo[..., :, None] + lT, -1, -2))

    def log_prob(self, log_rho: np.ndarray, demos: np.ndarray, y: np.ndarray) -> np.ndarray:
        """``log T(y | d)`` read from the matrix (``demos[..., 0]`` is the demonstration)."""
        lT = self.log_matrix(log_rho)
        K = lT.shape[-1]
        d, y = np.broadcast_arrays(demos[..., 0], y)
        return gather(lT.reshape(lT.shape[:-2] + (K * K,)), d * K + y)

    def weighted_log_rows(self, log_rho: np.ndarray, demos: np.ndarray, w: np.ndarray) -> np.ndarray:
        """``Σ_n w_n·log T(·|d_n)`` for demonstrations ``demos`` (B..., N, m), weights (B..., N)."""
        lT = self.log_matrix(log_rho)
        K = lT.shape[-1]
        batch = demos.shape[:-2]
        lT = np.broadcast_to(lT, batch + (K, K))
        rows = np.take_along_axis(lT, demos[..., :1], axis=-2)
        zero = np.isneginf(rows)
        out = np.sum(w[..., None] * np.where(zero, 0.0, rows), axis=-2)
        return np.where(np.any(zero & (w[..., None] > 0), axis=-2), -np.inf, out)

    def demo_law(self, log_rho: np.ndarray, demo: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The law of ``T(y|d)`` under ``d ~ D``: ``(weights, log_values)``, each (..., J, K).

        Generic version: one support point per demonstration (``J = K``), point ``d`` with
        weight ``D(d)`` and value ``T[d, y]`` read from :meth:`log_matrix` (theory §8.1).
        Costs K² per batch entry.

        Ownership: a *writeable* array returned here is handed over to the caller (the JSD
        solve uses it as a work buffer); an override that returns arrays it keeps must
        return read-only views of them (as this one does, via ``np.broadcast_to``).

        Raises
        ------
        ValueError
            When the batch × K × K law would exceed :data:`MAX_LAW_ENTRIES` entries (use a
            teacher with a compact law, e.g. the copy teacher, at large K).
        """
        lr = np.asarray(log_rho, dtype=np.float64)
        D = np.asarray(demo, dtype=np.float64)
        K = lr.shape[-1]
        batch = np.broadcast_shapes(lr.shape[:-1], D.shape[:-1], self.param_shape)
        size = int(np.prod(batch, dtype=np.int64)) * K * K
        if size > MAX_LAW_ENTRIES:
            raise ValueError(
                f"{type(self).__name__}.demo_law builds one support point per demonstration "
                f"(K × K = {K} × {K} per batch entry, {size:.3g} entries); that is too large "
                f"(allowed: {MAX_LAW_ENTRIES:.3g}). Use a teacher with a compact law (CopyTeacher, "
                f"MultiDemoTeacher) or fewer modes"
            )
        lT = self.log_matrix(lr)
        shape = np.broadcast_shapes(lT.shape, D.shape[:-1] + (K, 1))
        return np.broadcast_to(np.clip(D, 0.0, 1.0)[..., :, None], shape), np.broadcast_to(lT, shape)


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


# ------------------------------------------------------------------------ copy teacher


#: Smallest α for which :meth:`CopyTeacher.two_point_ratio_values` states its points.
_RATIO_ALPHA = 1e-290


def _check_alpha(alpha):
    return chk.real(alpha, "alpha", low=0.0, high=1.0, high_open=True)


@dataclass(frozen=True, eq=False)
class CopyTeacher(Teacher):
    """Copy teacher ``T(y|d) = (1 − α)·ρ(y) + α·1[y = d]`` (theory §3.3).

    The Dirichlet-predictive teacher: with demonstrations from ``ρ(·|C)`` and every mode
    valid it is marginally consistent.  ``alpha = 0`` ignores the demonstration; ``alpha``
    may be an array (a grid of copy strengths).

    ``E_d log T(y|d) = log((1 − α)ρ(y)) + D(y)·log(1 + α/((1 − α)ρ(y)))`` (theory §3.4):
    O(K), exact for ρ(y) down to 0, computed in blocks of the mode axis (no full-size
    temporaries; ``out`` may be ``demo`` itself).

    Parameters
    ----------
    alpha : float or array in [0, 1)
        Copy strength α (dimensionless); an array is a grid whose shape joins the batch.

    Raises
    ------
    ValueError
        ``alpha`` not a real number (or array of them) in [0, 1).

    Notes
    -----
    Source: modesim's model of a teacher conditioned on a correct rollout (theory §3.3);
    in the paper (arXiv 2606.26091) the teacher is the model itself with the demonstration
    in context.  The closed forms S4 and S4b (theory §3.4) are this project's.

    >>> import numpy as np
    >>> import modesim as ms
    >>> ms.CopyTeacher(0.5).expected_log(np.log([0.5, 0.5]), np.array([1.0, 0.0])).round(4).tolist()
    [-0.2877, -1.3863]
    """

    alpha: float = 0.5

    def __post_init__(self):
        a = _check_alpha(self.alpha)
        object.__setattr__(self, "alpha", a)
        ac = chk.col(a)
        with np.errstate(divide="ignore", over="ignore"):
            # (1 − α)/α, log(α/(1 − α)), log(1 − α), log α: constants of every round.
            consts = ((1.0 - ac) / np.float64(ac), np.log(ac) - np.log1p(-ac), np.log1p(-ac), np.log(ac))
        object.__setattr__(self, "_consts", consts)
        # α below ~1e-308 overflows (1 − α)/α: such teachers use the softplus form.
        tiny = np.asarray((ac > 0) & ~np.isfinite(consts[0]))
        object.__setattr__(self, "_softplus", bool(tiny.any()))

    @property
    def param_shape(self):
        return chk.param_shape(self.alpha)

    def expected_log(self, log_rho: np.ndarray, demo: np.ndarray, *, out=None) -> np.ndarray:
        """``E_{d~D} log T(y|d)`` (theory §3.4); written into ``out`` when its shape fits."""
        c1, log_c, log_1ma, log_a = self._consts
        lr = np.asarray(log_rho, dtype=np.float64)
        D = np.asarray(demo, dtype=np.float64)
        if not isinstance(self.alpha, np.ndarray) and self.alpha == 0.0:
            return np.array(np.broadcast_to(lr, np.broadcast_shapes(lr.shape, D.shape)))
        if lr.shape != D.shape or isinstance(self.alpha, np.ndarray):
            shape = np.broadcast_shapes(lr.shape, D.shape, np.shape(c1))
            lr, D = np.broadcast_to(lr, shape), np.broadcast_to(D, shape)
        shape = lr.shape
        if out is None or out.shape != shape:
            out = None
        if shape[-1] <= 4 * BLOCK:
            return self._small(lr, D, out)
        # log1p(ρ(1−α)/α) + log(α/(1−α)) − log ρ = log(1 + α/((1−α)ρ)): no overflow for tiny
        # ρ; for ρ ≫ α the cancellation costs a few ulp of absolute error in a log-probability.
        with np.errstate(invalid="ignore", over="ignore"):
            for sl in blocks(shape[-1], lr.size):
                t = self._kernel(lr[..., sl], D[..., sl])
                if out is None and sl == slice(None):
                    out = t
                else:
                    if out is None:
                        out = np.empty(shape)
                    out[..., sl] = t
        if np.isnan(out).any():
            out = self._fix_zeros(lr, D, out)
        return out

    def _small(self, lr, D, out):
        """The same kernel in one block, without per-block bookkeeping (small rounds).

        A teacher base without zeros (the common case) produces no inf·0, so no
        ``errstate`` is needed on this path.
        """
        c1, log_c, log_1ma, log_a = self._consts
        if lr.min() == -np.inf or isinstance(self.alpha, np.ndarray):
            with np.errstate(invalid="ignore", over="ignore"):
                t = self._kernel(lr, D)
            return self._fix_zeros(lr, D, t) if np.isnan(t).any() else t
        return self._kernel(lr, D)

    def _kernel(self, lr, D):
        c1, log_c, log_1ma, _ = self._consts
        if self._softplus:
            return np.logaddexp(0.0, log_c - lr) * D + lr + log_1ma
        t = np.exp(lr)
        t *= c1
        np.log1p(t, out=t)
        t += log_c
        t -= lr
        t *= D
        t += lr
        t += log_1ma
        return t

    def _fix_zeros(self, lr, D, out):
        # ρ(y) = 0: E log T = D(y)·log α + (1 − D(y))·log 0, finite only if D(y) = 1; α = 0
        # entries of a grid ignore the demonstration (log T = log ρ).
        log_a = self._consts[3]
        out = np.where(lr == -np.inf, np.where(D == 1.0, np.broadcast_to(log_a, lr.shape), -np.inf), out)
        if isinstance(self.alpha, np.ndarray):
            out = np.where(np.broadcast_to(chk.col(self.alpha) == 0.0, lr.shape), lr, out)
        return out

    def log_mixture(self, log_rho: np.ndarray, log_demo: np.ndarray) -> np.ndarray:
        a = chk.col(self.alpha)
        with np.errstate(divide="ignore"):
            return np.logaddexp(np.log1p(-a) + log_rho, np.log(a) + log_demo)

    def log_matrix(self, log_rho: np.ndarray) -> np.ndarray:
        K = log_rho.shape[-1]
        a = chk.col(chk.col(self.alpha))
        with np.errstate(divide="ignore"):
            return np.logaddexp(np.log1p(-a) + log_rho[..., None, :], np.log(a) + np.log(np.eye(K)))

    def log_prob(self, log_rho: np.ndarray, demos: np.ndarray, y: np.ndarray) -> np.ndarray:
        """``log((1 − α)ρ(y) + α·#{j : d_j = y}/m)`` (m = ``n_demos``)."""
        m = demos.shape[-1]
        hits = (demos == y[..., None]).sum(-1)
        a = chk.col(self.alpha)
        with np.errstate(divide="ignore"):
            return np.logaddexp(np.log1p(-a) + gather(log_rho, y), np.log(a * hits / m))

    def weighted_log_rows(self, log_rho: np.ndarray, demos: np.ndarray, w: np.ndarray) -> np.ndarray:
        """Copy rows differ from ``(1 − α)ρ`` only at the demonstrated modes: O(N·m²)."""
        K = log_rho.shape[-1]
        m = demos.shape[-1]
        total = w.sum(-1, keepdims=True)
        dead = np.isneginf(log_rho)
        a = chk.col(self.alpha)
        base = np.log1p(-a) + np.where(dead, 0.0, log_rho)
        hits = (demos[..., :, None] == demos[..., None, :]).sum(-1) if m > 1 else 1
        at = gather(base, demos, extra=2)
        ab = chk.col(a)
        with np.errstate(divide="ignore"):
            # Each distinct demonstrated mode is counted once: divide by its multiplicity.
            gain = (np.logaddexp(at, np.log(ab * hits / m)) - at) / hits
        flat = demos.reshape(demos.shape[:-2] + (-1,))
        weights = (w[..., None] * gain).reshape(flat.shape)
        out = total * base + scatter_add(flat, weights, K)
        return np.where(dead, -np.inf, out)

    def _log_hit(self, hit: np.ndarray, rest: np.ndarray, value=None, *, fast: bool = False) -> None:
        """``hit ← log(e^rest + α)``, from ``value`` = ``e^rest + α`` (≥ α; ``hit`` itself, in
        place, when None).  ``fast``: by :func:`modesim._vmath.log_into` (the JSD solve's path).

        The value is 0 only where α = 0 and ``e^rest`` underflowed (ρ(y) < e^−745): there the
        log is ``log(e^rest + α)`` in log space, i.e. ``rest`` (before, −inf: a mode the
        teacher holds was read as one it never gives).
        """
        value = hit if value is None else value
        lowest = value.min()
        with np.errstate(divide="ignore"):
            if fast:        # (every entry by the same log, whatever the rest of the block holds)
                log_into(value, hit, lowest)
            else:
                np.log(value, out=hit)
        if lowest > 0.0:
            return
        with np.errstate(divide="ignore"):
            np.copyto(hit, np.logaddexp(rest, self._consts[3]), where=np.isneginf(hit))

    def two_point_log_values(self, log_rho: np.ndarray, *, out=None, linear=None) -> tuple[np.ndarray, np.ndarray]:
        """``(log T(y|y), log T(y|d ≠ y)) = (log((1 − α)ρ(y) + α), log((1 − α)ρ(y)))``, each (..., K).

        The values of :meth:`demo_law` without building the (..., 2, K) law: the remedies that
        need only the two points (:func:`two_point_values`) read them here, contiguous (theory
        §8.1, §11).  ``out``: an optional (2, ..., K) float64 array to write them into
        (``out[0]``, ``out[1]``); ``linear``: an optional (2, ..., K) array that receives the
        values themselves, ``T(y|y)`` and ``T(y|d ≠ y)``, which this teacher forms before their
        logs anyway (the JSD solve reads them instead of exponentiating the logs).  With
        ``linear`` (the JSD solve's path) the exp and the log are :mod:`modesim._vmath`'s: the
        compiled kernel's vectorised ones when it is in use (within an ulp of numpy's).
        """
        a = chk.col(self.alpha)
        lr = np.asarray(log_rho, dtype=np.float64)
        if out is None:
            rest = np.minimum(lr, 0.0) + self._consts[2]          # log(1 − α) + log ρ (broadcast)
            hit = np.empty_like(rest)
        else:
            hit, rest = out[0], out[1]
            np.minimum(lr, 0.0, out=rest)
            rest += self._consts[2]
        if linear is None:
            np.exp(rest, out=hit)
            hit += a
            self._log_hit(hit, rest)
        else:
            exp_into(rest, linear[1])                              # (1 − α)ρ(y)
            np.add(linear[1], a, out=linear[0])                    # (1 − α)ρ(y) + α
            self._log_hit(hit, rest, linear[0], fast=True)
        return hit, rest

    def two_point_ratio_values(self, log_rho: np.ndarray):
        """``(log h, log r, r/h)`` with ``h = T(y|y) = (1 − α)ρ(y) + α`` and ``r = T(y|d ≠ y) =
        (1 − α)ρ(y)``: the two points of :meth:`demo_law` and their ratio, each (..., K); None
        when some α is below 1e-290 (α = 0 included).

        The ratio comes from the sum that :meth:`two_point_log_values` forms anyway
        (``r/h = e/(e + α)``, ``e = exp(log ρ)·(1 − α)``): one division instead of a second
        exp.  It is used where it is at most 1 and matters (an underflowed e against
        α ≥ 1e-290 changes it by under 1e-30 of its size, or by less than 1e-290): the mixture
        teacher's binomial sum (theory §11).  ``log r`` is :meth:`two_point_log_values`'s.
        """
        a = self.alpha
        if (a.min() if isinstance(a, np.ndarray) else a) < _RATIO_ALPHA:
            return None
        ac = chk.col(a)
        log_r = np.minimum(np.asarray(log_rho, dtype=np.float64), 0.0)
        ratio = np.exp(log_r)
        if isinstance(a, np.ndarray):
            ratio, log_r = ratio * (1.0 - ac), log_r + self._consts[2]
        else:
            ratio *= 1.0 - a
            log_r += self._consts[2]
        hit = ratio + ac
        ratio /= hit
        np.log(hit, out=hit)
        return hit, log_r, ratio

    def demo_law(self, log_rho: np.ndarray, demo: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Two support points per mode (theory §8.1): ``d = y`` with weight ``D(y)`` and value
        ``(1 − α)ρ(y) + α``; ``d ≠ y`` with weight ``1 − D(y)`` and value ``(1 − α)ρ(y)``.
        O(K); shapes (..., 2, K)."""
        a = chk.col(self.alpha)
        lr = np.asarray(log_rho, dtype=np.float64)
        D = np.asarray(demo, dtype=np.float64)
        shape = np.broadcast_shapes(lr.shape, D.shape, np.shape(a))
        law = shape[:-1] + (2, shape[-1])
        values, weights = np.empty(law), np.empty(law)
        hit, rest = values[..., 0, :], values[..., 1, :]
        np.minimum(lr, 0.0, out=rest)
        rest += self._consts[2]                                 # log(1 − α)
        # (1 − α)ρ(y) + α ≥ α: no underflow, so the sum is formed directly (log 0 only for
        # α = 0 where ρ(y) = 0: the errstate is needed only then).
        np.exp(rest, out=hit)
        hit += a
        self._log_hit(hit, rest)
        w0 = weights[..., 0, :]
        np.maximum(D, 0.0, out=w0)
        np.minimum(w0, 1.0, out=w0)
        np.subtract(1.0, w0, out=weights[..., 1, :])
        return weights, values


@dataclass(frozen=True, eq=False)
class MultiDemoTeacher(CopyTeacher):
    """Copy teacher with ``m`` demonstrations in context (theory §3.3, the K_demo ablation).

    ``T(y | d_1..d_m) = (1 − α)·ρ(y) + (α/m)·#{j : d_j = y}``, with ``d_j ~ D`` i.i.d.
    The count of ``y`` among the demonstrations is Binomial(m, D(y)), so
    ``E log T(y) = Σ_n Bin(n; m, D(y))·log((1 − α)ρ(y) + α n/m)``: O(K·m).
    ``m = 1`` is :class:`CopyTeacher`.  ``log_mixture`` and ``log_matrix`` are the copy
    teacher's (the mixture does not depend on m; the matrix is the teacher given a single
    repeated demonstration).

    Parameters
    ----------
    alpha : float or array in [0, 1)
        Copy strength α, split over the m demonstrations.
    m : int >= 1
        Demonstrations in the teacher's context.

    Raises
    ------
    ValueError
        ``alpha`` not a real number (or array) in [0, 1); ``m`` not an integer >= 1.

    Notes
    -----
    Source: the paper's ablation with three demonstrations in context (arXiv 2606.26091;
    theory §3.3, §7); the binomial form of ``E log T`` is this project's.

    E log T = Σ_n Bin(n; 3, ½)·log(¼ + n/6) at ρ = D = (½, ½):

    >>> import numpy as np
    >>> import modesim as ms
    >>> t = ms.MultiDemoTeacher(0.5, m=3)
    >>> t.expected_log(np.log([0.5, 0.5]), np.array([0.5, 0.5])).round(4).tolist()
    [-0.7397, -0.7397]
    """

    alpha: float = 0.5
    m: int = 3

    def __post_init__(self):
        super().__post_init__()
        object.__setattr__(self, "m", chk.integer(self.m, "m", low=1))

    @property
    def n_demos(self) -> int:
        return self.m

    def expected_log(self, log_rho: np.ndarray, demo: np.ndarray, *, out=None) -> np.ndarray:
        m = self.m
        if m == 1:
            return super().expected_log(log_rho, demo, out=out)
        a = chk.col(self.alpha)
        shape = np.broadcast_shapes(np.shape(log_rho), np.shape(demo), np.shape(a))
        lr = np.broadcast_to(np.minimum(log_rho, 0.0), shape)
        D = np.clip(demo, 0.0, 1.0)
        with np.errstate(divide="ignore"):
            log_d, log_nd = np.log(D), np.log1p(-D)
        out = np.log1p(-a) + lr
        extra = np.zeros(shape)
        with np.errstate(divide="ignore", invalid="ignore"):
            log_c = np.log(a) - np.log1p(-a)
            for n in range(1, m + 1):
                log_w = math.lgamma(m + 1) - math.lgamma(n + 1) - math.lgamma(m - n + 1)
                log_w = log_w + n * log_d + np.where(m - n > 0, (m - n) * log_nd, 0.0)
                term = np.logaddexp(0.0, log_c + math.log(n / m) - lr)
                extra += np.where(np.isneginf(log_w), 0.0, np.exp(log_w) * term)
            out = out + extra
        zero = np.isneginf(lr)
        if np.any(zero):
            # Only all-demos-equal-y (probability D(y)^m) gives a finite log; finite iff D(y)=1.
            with np.errstate(divide="ignore"):
                out = np.where(zero, np.where(D == 1.0, np.broadcast_to(np.log(a), shape), -np.inf), out)
        return out

    def demo_law(self, log_rho: np.ndarray, demo: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``m + 1`` support points per mode (theory §8.1): the count ``n`` of ``y`` among the
        demonstrations is Binomial(m, D(y)); point ``n`` has value ``(1 − α)ρ(y) + α·n/m``.
        O(K·m); shapes (..., m + 1, K)."""
        m = self.m
        if m == 1:
            return super().demo_law(log_rho, demo)
        a = chk.col(chk.col(self.alpha))
        lr = np.minimum(np.asarray(log_rho, dtype=np.float64), 0.0)[..., None, :]
        D = np.clip(np.asarray(demo, dtype=np.float64), 0.0, 1.0)[..., None, :]
        n = np.arange(m + 1, dtype=np.float64)[:, None]
        log_binom = np.array([math.lgamma(m + 1) - math.lgamma(k + 1) - math.lgamma(m - k + 1)
                              for k in range(m + 1)])[:, None]
        with np.errstate(divide="ignore", invalid="ignore"):
            log_d, log_nd = np.log(D), np.log1p(-D)
            # n·log D and (m − n)·log(1 − D), with 0·log 0 = 0.
            lw = log_binom + np.where(n > 0, n * log_d, 0.0) + np.where(m - n > 0, (m - n) * log_nd, 0.0)
            values = np.logaddexp(np.log1p(-a) + lr, np.log(a * n / m))
        weights = np.exp(lw)
        shape = np.broadcast_shapes(weights.shape, values.shape)
        return np.broadcast_to(weights, shape), np.broadcast_to(values, shape)


# ------------------------------------------------------------------------ tilt teacher


@dataclass(frozen=True, eq=False)
class TiltTeacher(Teacher):
    """Tilt teacher ``T(y|d) ∝ ρ(y)·exp(κ·s(y, d))`` (theory §3.3).

    ``similarity=None`` is the identity ``s(y, d) = 1[y = d]`` and costs O(K):
    ``log T(y|d) = log ρ(y) + κ·1[y = d] − log Z(d)``, ``Z(d) = 1 − ρ(d) + ρ(d)·e^κ``,
    with ``log(1 − ρ(d))`` from the other modes' mass when ρ(d) > 1/2 (so a teacher base at
    a vertex keeps full precision).  A K × K ``similarity`` (``s[d, y]``, e.g. shared edges
    of two paths) builds the matrix each round.  ``kappa < 0`` is an anti-copying teacher
    (theory §3.4 S5); ``kappa`` may be an array.

    Parameters
    ----------
    kappa : float or array in [-1e300, 1e300]
        Tilt strength κ (nats per unit of similarity); any finite real.
    similarity : array_like, shape (K, K), optional
        ``s[d, y]``; None is the identity.

    Raises
    ------
    ValueError
        ``kappa`` outside [-1e300, 1e300] (or an array with such values); ``similarity`` not a finite
        square matrix.  :meth:`log_matrix` (and the rules using it): a ``similarity`` whose
        size is not the policy's K.

    Notes
    -----
    Source: this project's (theory §3.3); S5 uses it as the negative control of
    amplification.

    >>> import numpy as np
    >>> import modesim as ms
    >>> ms.TiltTeacher(1.0).expected_log(np.log([0.5, 0.5]), np.array([1.0, 0.0])).round(4).tolist()
    [-0.3133, -1.3133]
    """

    kappa: float = 1.0
    similarity: np.ndarray | None = None

    def __post_init__(self):
        # |κ| <= 1e300: sums of a few κ-sized log-probabilities stay floats (±1e308 overflowed).
        object.__setattr__(self, "kappa", chk.real(self.kappa, "kappa", low=-MAX_KAPPA, high=MAX_KAPPA))
        if self.similarity is not None:
            s = chk.numeric_array(self.similarity, "similarity", "a finite square matrix s[d, y]")
            if s.ndim != 2 or s.shape[0] != s.shape[1] or not np.all(np.isfinite(s)):
                raise ValueError(
                    "similarity must be a finite square matrix s[d, y]; got "
                    f"{chk.describe(self.similarity)}"
                )
            object.__setattr__(self, "similarity", s)

    @property
    def param_shape(self):
        return chk.param_shape(self.kappa)

    def log_norm(self, log_rho: np.ndarray) -> np.ndarray:
        """``log Z(d) = log(1 − ρ(d) + ρ(d)·e^κ)`` for every d (identity similarity)."""
        k = chk.col(self.kappa)
        return np.logaddexp(log_complement(log_rho), np.minimum(log_rho, 0.0) + k)

    def _log_norm_minus_kappa(self, log_rho: np.ndarray) -> np.ndarray:
        """``log Z(d) − κ = log(ρ(d) + (1 − ρ(d))·e^−κ)``, formed without cancelling κ.

        ``log ρ(d) + κ − log Z(d)`` (the log-probability of copying d) computed as a difference
        loses an ulp of κ: 0.1 nats at κ = 1e15.
        """
        k = chk.col(self.kappa)
        return np.logaddexp(log_complement(log_rho) - k, np.minimum(log_rho, 0.0))

    def expected_log(self, log_rho: np.ndarray, demo: np.ndarray, *, out=None) -> np.ndarray:
        if self.similarity is not None:
            return super().expected_log(log_rho, demo)
        ln = self.log_norm(log_rho)
        mean_log_norm = np.sum(np.where(demo > 0, demo * ln, 0.0), axis=-1, keepdims=True)
        return log_rho + chk.col(self.kappa) * demo - mean_log_norm

    def log_mixture(self, log_rho: np.ndarray, log_demo: np.ndarray) -> np.ndarray:
        """``log ρ(y) + log(Σ_{d≠y} D(d)/Z(d) + D(y)·e^κ/Z(y))``, all in log space.

        The leave-one-out sum comes from prefix and suffix ``logaddexp`` accumulations,
        so nothing is subtracted and the cost stays O(K).
        """
        if self.similarity is not None:
            return super().log_mixture(log_rho, log_demo)
        k = chk.col(self.kappa)
        shape = np.broadcast_shapes(np.shape(log_rho), np.shape(log_demo), np.shape(k))
        log_rho, log_demo = np.broadcast_to(log_rho, shape), np.broadcast_to(log_demo, shape)
        log_norm = self.log_norm(log_rho)
        A = log_demo - log_norm
        pad = np.full(A.shape[:-1] + (1,), -np.inf)
        prefix = np.logaddexp.accumulate(np.concatenate([pad, A[..., :-1]], axis=-1), axis=-1)
        rev = A[..., ::-1]
        suffix = np.logaddexp.accumulate(np.concatenate([pad, rev[..., :-1]], axis=-1), axis=-1)[..., ::-1]
        others = np.logaddexp(prefix, suffix)
        own = log_demo - self._log_norm_minus_kappa(log_rho)        # log D(y) + κ − log Z(y)
        return log_rho + np.logaddexp(others, own)

    def log_matrix(self, log_rho: np.ndarray) -> np.ndarray:
        K = log_rho.shape[-1]
        s = np.eye(K) if self.similarity is None else self.similarity
        if s.shape != (K, K):
            raise ValueError(f"similarity has shape {s.shape}; the policy has K = {K} modes")
        k = chk.col(chk.col(self.kappa))
        return log_normalise(log_rho[..., None, :] + k * s)

    def log_prob(self, log_rho: np.ndarray, demos: np.ndarray, y: np.ndarray) -> np.ndarray:
        if self.similarity is not None:
            return super().log_prob(log_rho, demos, y)
        d = demos[..., 0]
        lr_y = gather(np.minimum(log_rho, 0.0), y)
        copied = lr_y - gather(self._log_norm_minus_kappa(log_rho), d)       # y = d: κ cancelled exactly
        return np.where(d == y, copied, lr_y - gather(self.log_norm(log_rho), d))

    def weighted_log_rows(self, log_rho: np.ndarray, demos: np.ndarray, w: np.ndarray) -> np.ndarray:
        """Identity-tilt rows differ from ``ρ`` only at the demonstration: O(N)."""
        if self.similarity is not None:
            return super().weighted_log_rows(log_rho, demos, w)
        K = log_rho.shape[-1]
        d = demos[..., 0]
        dead = np.isneginf(log_rho)
        total = w.sum(-1, keepdims=True)
        # Row y: total·log ρ(y) − Σ_{n: d_n ≠ y} w_n log Z(d_n) − Σ_{n: d_n = y} w_n (log Z(y) − κ).
        # The first sum is a leave-one-out sum over modes of G(m) = Σ_{n: d_n = m} w_n log Z(m),
        # formed from prefix and suffix sums (nothing subtracted: log Z ≈ κ for a large κ, and
        # κ·w − w·log Z would lose an ulp of κ); the second is the copied rollouts' own term.
        G = scatter_add(d, w * gather(self.log_norm(log_rho), d), K)
        zero = np.zeros(G.shape[:-1] + (1,))
        before = np.cumsum(np.concatenate([zero, G[..., :-1]], axis=-1), axis=-1)
        after = np.cumsum(np.concatenate([zero, G[..., :0:-1]], axis=-1), axis=-1)[..., ::-1]
        own = scatter_add(d, w, K) * self._log_norm_minus_kappa(log_rho)
        out = total * np.where(dead, 0.0, np.minimum(log_rho, 0.0)) - (before + after) - own
        return np.where(dead, -np.inf, out)


# ---------------------------------------------------------------------- matrix teacher


@dataclass(frozen=True, eq=False)
class MatrixTeacher(Teacher):
    """User-supplied teacher: a row-stochastic matrix ``T[d, y]`` or a callable (theory §3.3).

    ``T`` may be an array of shape ``(K, K)`` (or ``(..., K, K)`` matching the batch),
    fixed regardless of the teacher base, or a callable ``log_rho ↦ T`` evaluated each
    round (checked each call).  Each expectation costs one matrix product.

    Parameters
    ----------
    T : array_like, shape (..., K, K), or callable
        Probabilities ``T[d, y]``, each row summing to 1 (within 1e-6), or a function of
        the teacher base's log-probabilities (..., K) returning such an array.

    Raises
    ------
    ValueError
        ``T`` not of shape (..., K, K) or its rows not probabilities (negative, non-finite,
        not summing to 1) — on construction for an array, at each round for a callable;
        a ``T`` whose K differs from the policy's (at the first round).

    >>> import numpy as np
    >>> import modesim as ms
    >>> ms.MatrixTeacher([[0.9, 0.1], [0.2, 0.8]]).log_mixture(np.log([0.5, 0.5]),
    ...                                                        np.log([0.5, 0.5])).round(4).tolist()
    [-0.5978, -0.7985]
    """

    T: np.ndarray | Callable[[np.ndarray], np.ndarray]

    def __post_init__(self):
        if not callable(self.T):
            object.__setattr__(self, "T", self._check(self.T))

    @staticmethod
    def _check(T) -> np.ndarray:
        arr = chk.numeric_array(T, "T", "an array of shape (..., K, K) with T[d, y]")
        if arr.ndim < 2 or arr.shape[-1] != arr.shape[-2]:
            raise ValueError(f"T must have shape (..., K, K) with T[d, y]; got {chk.describe(T)}")
        return chk.probabilities(arr, "T (each row T[d, :])")

    def matrix(self, log_rho: np.ndarray) -> np.ndarray:
        T = self._check(self.T(log_rho)) if callable(self.T) else self.T
        if T.shape[-1] != log_rho.shape[-1]:
            raise ValueError(f"T has K = {T.shape[-1]} modes; the policy has {log_rho.shape[-1]}")
        return T

    def log_matrix(self, log_rho: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore"):
            return np.log(self.matrix(log_rho))


def _owner(cls, name: str):
    """The class in ``cls``'s method resolution order that defines ``name``."""
    return next((c for c in cls.__mro__ if name in vars(c)), None)


@functools.lru_cache(maxsize=64)
def _states_two_points(cls) -> tuple[bool, bool, bool]:
    """Whether ``cls`` states its two points (``two_point_log_values`` defined by the class
    that defines ``demo_law``), and whether that method takes ``out`` and ``linear``
    (keyword-only)."""
    if getattr(cls, "two_point_log_values", None) is None or _owner(cls, "two_point_log_values") is not _owner(
            cls, "demo_law"):
        return False, False, False
    code = getattr(cls.two_point_log_values, "__code__", None)
    keywords = () if code is None else code.co_varnames[code.co_argcount:code.co_argcount + code.co_kwonlyargcount]
    return True, "out" in keywords, "linear" in keywords


def two_point_values(teacher, log_rho, *, probe=True, out=None, linear=None):
    """``(log T(y|y), log T(y|d ≠ y))`` when ``teacher``'s demonstration law has the two-point form, else None.

    The teacher protocol documents a two-point law (:meth:`~modesim.Teacher.demo_law`, J = 2)
    as "d = y" (weight D(y)) and "d ≠ y" (weight 1 − D(y)): ``T(y|d)`` then takes one value
    for every d ≠ y, as for the copy teacher.  The law is probed with a demonstration law whose
    entries all differ, and accepted only if its first point carries exactly those weights.
    Shapes (..., K) each.  With ``probe=False`` only a teacher that states its two points
    (``two_point_log_values``, defined by the same class as ``demo_law``) is read; any other
    gives None without calling its law (the JSD solve, theory §8.1, which then builds the law).
    ``out``: an optional (2, ..., K) array the two points are written into; ``linear`` (only
    with ``out``): one that receives their values ``exp(out)``, from the teacher when its
    ``two_point_log_values`` takes ``linear`` (the copy teacher forms them anyway), else
    exponentiated here.
    """
    lr = np.asarray(log_rho, dtype=np.float64)
    stated, takes_out, takes_linear = _states_two_points(type(teacher))
    if linear is not None and out is None:
        raise TypeError("two_point_values: linear= needs out=")
    if stated and linear is not None and takes_linear and takes_out:
        hit, rest = teacher.two_point_log_values(lr, out=out, linear=linear)
        if not (np.may_share_memory(hit, out[0]) and np.may_share_memory(rest, out[1])):
            out[0], out[1] = hit, rest
            np.exp(out, out=linear)
        return out[0], out[1]
    if linear is not None:
        points = two_point_values(teacher, lr, probe=probe, out=out)
        if points is not None:
            with np.errstate(under="ignore"):
                np.exp(out, out=linear)
        return points
    if stated:
        # The teacher states its two points (contiguous, no probe); a subclass that changed
        # its law without restating them (MultiDemoTeacher, a user's) is probed instead.
        direct = teacher.two_point_log_values
        if out is None:
            return direct(lr)
        if takes_out:
            hit, rest = direct(lr, out=out)
            # A user's override may take ``out`` and still return fresh arrays: the points
            # must end up in ``out`` (the JSD solve reads the buffer).
            for slot, v in ((out[0], hit), (out[1], rest)):
                v = np.asarray(v)
                if not (v.shape == slot.shape and v.strides == slot.strides
                        and v.__array_interface__["data"][0] == slot.__array_interface__["data"][0]):
                    slot[...] = v
            return out[0], out[1]
        out[0], out[1] = direct(lr)
        return out[0], out[1]
    if not probe:
        return None
    law_probe = _probe(lr.shape[-1])
    try:
        w, lv = teacher.demo_law(lr, law_probe)
    except ValueError:
        return None
    w, lv = np.asarray(w), np.asarray(lv)
    if lv.shape[-2] != 2 or not np.all(w[..., 0, :] == law_probe):
        return None
    if out is not None:
        out[0], out[1] = lv[..., 0, :], lv[..., 1, :]
        return out[0], out[1]
    return lv[..., 0, :], lv[..., 1, :]


@functools.lru_cache(maxsize=16)
def _probe(K: int) -> np.ndarray:
    """A demonstration law whose entries all differ (read-only), for :func:`two_point_values`."""
    probe = np.arange(1, K + 1, dtype=np.float64) / (K * (K + 1) / 2)
    probe.flags.writeable = False
    return probe
