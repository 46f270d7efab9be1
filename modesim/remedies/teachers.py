"""Teachers of the remedies catalogue (theory §11): the mixture of m teachers, the contrastive teacher.

Both wrap any :class:`~modesim.Teacher` (``log_prob``, ``log_matrix``, ``demo_law`` and
``log_mixture`` of the wrapped teacher are all they use) and follow the teacher protocol,
so :class:`~modesim.SelfDistillation`, :func:`~modesim.sd_optimum` and
:class:`~modesim.SampledSD` run them unchanged.

**Mixture of m teachers** (:class:`MixtureTeacher`).  The student distils into the average
of m teachers, each conditioned on its own demonstration,

    T̄(y | d_1..d_m) = (1/m)·Σ_j T(y | d_j),      d_j ~ D i.i.d.,

with the reverse KL (average the probabilities, then take the log).  For the copy teacher
this is exactly :class:`~modesim.MultiDemoTeacher` ``(α, m)``.  Its expected log is the
geometric mean over demonstrations of an arithmetic mean over m of them: as m → ∞ it tends
to ``log E_d T(y|d)``, the forward-KL target, and the round's distortion of ratios vanishes
like 1/m (registry entry M1, :func:`~modesim.remedies.formulas.mixture_gap_leading`).
Averaging log-probabilities instead (a product of experts) gives ``E_d log T(y|d)`` for
every m: no m helps.

**Contrastive (debiased) teacher** (:class:`ContrastiveTeacher`).  Divides out the teacher's
own prior: the score ``log T(y|d) − log T(y|b)``, with ``b`` a baseline demonstration, tilts
the teacher base,

    T̃(y | d, b) = ρ(y)·T(y|d)/T(y|b) / Z(d, b).

With ``baseline="independent"`` the baseline is an independent draw from the same law D
(a "mismatched" demonstration from the same source); then ``E_{d,b} log T̃(y|d,b) = log ρ(y)
− const`` and the reverse-KL round is the identity: it preserves every ratio exactly and moves
no mass (registry entry C1).  With ``baseline="none"`` (the teacher without a demonstration,
``T(y|∅) = ρ(y)``, or with a demonstration from another prompt, which a copy teacher cannot
copy) the score is the pointwise mutual information itself and ``T̃ = T``: the round is plain
self-distillation and amplifies as before.  For a copy-type teacher
``T(y|d) = (1 − a(d))ρ(y) + a(d)·1[y = d]`` and a baseline of law D', the general result is
``Ī_deb(y) = const + (D(y) − D'(y))·L(y)``, ``L(y) = log(1 + a(y)/((1 − a(y))ρ(y)))``: the bias
is carried by D(y), how often y is demonstrated, which a baseline that does not depend on D
cannot remove.

Source: ours (theory §11); contrastive scores of this kind are proposed as
self-distillation rewards (the teacher's log-probability with the demonstration minus
without it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import combinations_with_replacement

import numpy as np
from scipy.special import gammaln

from .. import _checks as chk
from ..simplex import logsumexp_last
from ..teachers import MAX_LAW_ENTRIES, Teacher, _owner, gather, two_point_values

__all__ = ["MixtureTeacher", "ContrastiveTeacher", "compositions", "two_point_values"]

_TEACHER_METHODS = ("log_prob", "log_matrix", "demo_law", "log_mixture", "expected_log")


def _check_teacher(teacher, owner: str):
    chk.implements(teacher, "teacher", _TEACHER_METHODS,
                   "a modesim Teacher (subclass modesim.Teacher and define log_matrix)")
    n = getattr(teacher, "n_demos", None)
    if chk.integer(n, "teacher.n_demos", low=1) != 1:
        raise ValueError(
            f"{owner} wraps a teacher that reads one demonstration; got teacher.n_demos={n} "
            f"(allowed: 1)"
        )


def compositions(m: int, J: int) -> np.ndarray:
    """Every way to split ``m`` draws among ``J`` support points: int array (C(m+J−1, J−1), J).

    Row ``c`` counts how many of the m demonstrations fall on each point; rows are in a
    fixed (lexicographic) order.  :class:`MixtureTeacher` sums its expected log over these
    compositions with multinomial weights (theory §11, statement M1).

    Parameters
    ----------
    m : int >= 0
        Draws (demonstrations).
    J : int >= 1
        Support points (of a teacher's demonstration law).

    Returns
    -------
    ndarray of int64, shape ``(C(m + J − 1, J − 1), J)``
        Each row sums to ``m``.

    Raises
    ------
    ValueError
        ``m`` not an integer >= 0 or ``J`` not an integer >= 1 (bools and floats such as
        2.0 are refused).  Nothing caps the size: the number of rows grows like
        ``m^(J−1)``.

    >>> from modesim.remedies import compositions
    >>> compositions(2, 2).tolist()
    [[2, 0], [1, 1], [0, 2]]
    """
    m = chk.integer(m, "m", low=0)
    J = chk.integer(J, "J", low=1)
    count = math.comb(m + J - 1, J - 1)
    if count * J > MAX_LAW_ENTRIES:
        raise ValueError(
            f"compositions(m={m}, J={J}) has C(m + J − 1, J − 1) = {count:.3g} rows; that is too many to "
            f"enumerate (allowed: at most {MAX_LAW_ENTRIES:.3g} entries, rows × J)"
        )
    rows = []
    for combo in combinations_with_replacement(range(J), m):
        rows.append(np.bincount(np.asarray(combo, dtype=np.int64), minlength=J))
    return np.array(rows, dtype=np.int64).reshape(-1, J)


#: Up to this m the binomial weights of a two-point mixture are formed as products of powers
#: (C(m, n) ≤ 1.8e18; a power that underflows belongs to a weight below ~1e-290); beyond it,
#: in log space (one exp per n).
_BINOMIAL_PRODUCTS = 64

#: Bytes of work arrays of the binomial sum (its m + 4 arrays, one chunk of the flattened
#: input each).  Kept small: full-size temporaries, freed at the end of each round, were
#: returned to the system and faulted back in (up to 3400 page faults a round, half its time).
_SCRATCH_BYTES = 1 << 20


def _log_multinomial(counts: np.ndarray) -> np.ndarray:
    m = int(counts[0].sum()) if counts.size else 0
    lg = np.vectorize(math.lgamma, otypes=[np.float64])
    return math.lgamma(m + 1) - lg(counts + 1.0).sum(axis=-1)


@dataclass(frozen=True, eq=False)
class MixtureTeacher(Teacher):
    """The average of m teachers, each conditioned on one demonstration (theory §11, registry M1).

    ``T̄(y|d_1..d_m) = (1/m)·Σ_j T(y|d_j)`` with ``d_j ~ D`` i.i.d.; the reverse-KL target is

        E log T̄(y) = Σ_{n ∈ compositions(m, J)} Multinomial(n; m, w(y))·log(Σ_j (n_j/m)·T_j(y))

    over the law ``(w_j(y), T_j(y))`` of ``T(y|d)`` under ``d ~ D`` (the wrapped teacher's
    :meth:`~modesim.Teacher.demo_law`).  For a two-point law (copy teacher: ``d = y`` or
    not) this is the binomial sum ``Σ_n Bin(n; m, D(y))·log((1 − n/m)·T(y|d≠y) + (n/m)·T(y|y))``,
    O(K·m); for ``CopyTeacher(α)`` it *is* ``MultiDemoTeacher(α, m)``.  The mixture (forward
    target) is the wrapped teacher's: ``E T̄ = E_d T``.  As m → ∞, ``E log T̄ → log E_d T``
    (law of large numbers); the gap is ``−Var_d T(y|d)/(2m·(E_d T)²) + O(m⁻²)``
    (:func:`~modesim.remedies.formulas.mixture_gap_leading`).

    Parameters
    ----------
    teacher : Teacher
        Reads one demonstration (``n_demos == 1``).
    m : int >= 1
        Demonstrations, one per teacher of the mixture (``m = 1`` is ``teacher`` itself).

    Costs: the two-point kernel is O(K·m); a law with J points costs
    ``C(m + J − 1, J − 1)·K`` per batch entry (refused above 2·10^8 entries: e.g. the
    generic K × K law of a tilt teacher allows small K and m only).

    Raises
    ------
    ValueError
        ``teacher`` not a one-demonstration teacher, ``m`` not an integer >= 1, or a law
        too large to enumerate.

    Examples
    --------
    >>> import modesim as ms
    >>> from modesim.remedies import MixtureTeacher
    >>> task = ms.make_task([0.6, 0.3, 0.1])
    >>> ms.sd_optimum(task, teacher=MixtureTeacher(ms.CopyTeacher(0.5), 8)).round(4).tolist()
    [0.6121, 0.2978, 0.09]
    """

    teacher: object
    m: int = 4

    def __post_init__(self):
        _check_teacher(self.teacher, "MixtureTeacher")
        object.__setattr__(self, "m", chk.integer(self.m, "m", low=1))

    @property
    def n_demos(self) -> int:
        return self.m

    @property
    def param_shape(self):
        return getattr(self.teacher, "param_shape", ())

    # -------------------------------------------------------------- the law of T̄(y)

    def _law(self, log_rho, demo):
        """``(log weights, log values)`` of ``T̄(y)`` over compositions, each (..., C, K)."""
        w, lv = self.teacher.demo_law(log_rho, demo)
        w = np.asarray(w, dtype=np.float64)
        lv = np.asarray(lv, dtype=np.float64)
        m = self.m
        J, K = lv.shape[-2], lv.shape[-1]
        batch = np.broadcast_shapes(w.shape[:-2], lv.shape[:-2])
        if J == 2:
            size = (m + 1) * K * int(np.prod(batch, dtype=np.int64))
            if size > MAX_LAW_ENTRIES:
                raise ValueError(
                    f"MixtureTeacher(m={m}) enumerates the m + 1 = {m + 1} counts of a two-point demonstration "
                    f"law ({size:.3g} entries with the batch and K = {K}); that is too large (allowed: "
                    f"{MAX_LAW_ENTRIES:.3g}). Use a smaller m"
                )
            n = np.arange(m + 1, dtype=np.float64)[:, None]
            counts = None
        else:
            n_comp = math.comb(m + J - 1, J - 1)
            size = n_comp * K * int(np.prod(batch, dtype=np.int64))
            if size > MAX_LAW_ENTRIES:
                raise ValueError(
                    f"MixtureTeacher(m={m}) enumerates C(m + J − 1, J − 1) = {n_comp} compositions of a "
                    f"{J}-point demonstration law ({size:.3g} entries); that is too large (allowed: "
                    f"{MAX_LAW_ENTRIES:.3g}). Use a teacher with a two-point law (CopyTeacher) or a smaller m"
                )
            counts = compositions(m, J)
        with np.errstate(divide="ignore", invalid="ignore"):
            lw = np.log(np.clip(w, 0.0, 1.0))
            if counts is None:
                lw_hit, lw_rest = lw[..., 0:1, :], lw[..., 1:2, :]
                log_binom = (gammaln(m + 1.0) - gammaln(n + 1.0) - gammaln(m - n + 1.0))
                # n·log w_hit + (m − n)·log w_rest, with 0·log 0 = 0.
                log_p = (log_binom + np.where(n > 0, n * lw_hit, 0.0)
                         + np.where(m - n > 0, (m - n) * lw_rest, 0.0))
                log_val = np.logaddexp(np.log1p(-n / m) + lv[..., 1:2, :], np.log(n / m) + lv[..., 0:1, :])
            else:
                c = counts.astype(np.float64)                                  # (C, J)
                lmc = _log_multinomial(counts)[:, None]                        # (C, 1)
                # Σ_j c_j log w_j with 0·log 0 = 0: (..., C, K)
                terms = np.where(c[:, :, None] > 0, c[:, :, None] * lw[..., None, :, :], 0.0)
                log_p = lmc + terms.sum(axis=-2)
                frac = np.log(c / m)                                           # (C, J)
                log_val = logsumexp_last(np.swapaxes(frac[:, :, None] + lv[..., None, :, :], -1, -2))
        return log_p, log_val

    def demo_law(self, log_rho: np.ndarray, demo: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The law of ``T̄(y)`` over the compositions of the m demonstrations: ``(weights,
        log_values)``, each (..., C, K) (C = m + 1 for a two-point law)."""
        log_p, log_val = self._law(log_rho, demo)
        return np.exp(log_p), log_val

    def expected_log(self, log_rho: np.ndarray, demo: np.ndarray, *, out=None) -> np.ndarray:
        """``E_{d_1..d_m} log((1/m) Σ_j T(y|d_j))``; −inf where a composition of positive
        probability gives the value 0.  Two-point laws use the binomial sum
        (:meth:`_binomial_sum`); ``out`` (may be ``demo`` itself) receives the result when the
        binomial sum applies and its shape fits."""
        if self.m <= _BINOMIAL_PRODUCTS:
            fast = self._two_point_expected_log(log_rho, demo, out)
            if fast is not None:
                return fast
        log_p, log_val = self._law(log_rho, demo)
        p = np.exp(log_p)
        held = p > 0.0
        with np.errstate(invalid="ignore"):
            terms = np.where(held, p * log_val, 0.0)
        res = terms.sum(axis=-2)
        dead = np.any(held & np.isneginf(log_val), axis=-2)
        return np.where(dead, -np.inf, res)

    def _two_point_expected_log(self, log_rho, demo, out):
        """The binomial sum for a two-point law (:meth:`_binomial_sum`), or None (no two-point
        form, or r/h beyond the float range: the general path handles them).

        The points and their ratio r/h come from the wrapped teacher's
        ``two_point_ratio_values`` when the class that defines its law states them (the copy
        teacher: no second exp), else from :func:`two_point_values` and ``exp(log r − log h)``.
        """
        teacher = self.teacher
        stated = getattr(teacher, "two_point_ratio_values", None)
        points = None
        if stated is not None and _owner(type(teacher), "two_point_ratio_values") is _owner(type(teacher), "demo_law"):
            points = stated(log_rho)
        if points is None:
            tp = two_point_values(teacher, log_rho)
            if tp is None:
                return None
            lh, log_r = tp
            h_zero = np.isneginf(lh)
            if h_zero.any():
                lh = np.where(h_zero, 0.0, lh)
            else:
                h_zero = None
            with np.errstate(under="ignore", over="ignore", invalid="ignore"):
                ratio = np.exp(log_r - lh)
            if not ratio.max() < np.inf:                 # r/h beyond 1e308: the general path
                return None
            points = lh, log_r, ratio
        else:
            h_zero = None
        D = np.asarray(demo, dtype=np.float64)
        if not (D.min() >= 0.0 and D.max() <= 1.0):
            D = np.clip(D, 0.0, 1.0)
        if h_zero is None:
            return self._binomial_sum(D, *points, out=out)
        # h = T(y|y) = 0 (e.g. α = 0 and ρ(y) = 0): all m demonstrations on y give T̄ = 0, so
        # the value is −inf if D(y) > 0, else log r (only the n = 0 composition): exactly, and
        # without sending the whole batch to the enumerated law (which made a row's digits
        # depend on its batch).
        res = self._binomial_sum(D, *points, out=None)
        exact = np.where(D > 0.0, -np.inf, points[1])
        np.copyto(res, exact, where=np.broadcast_to(h_zero, res.shape))
        if out is not None and out.shape == res.shape and out.flags.writeable:
            out[...] = res
            return out
        return res

    def _binomial_sum(self, p, lh, log_r, ratio, out=None):
        """``Σ_n Bin(n; m, p)·log X_n``, ``X_n = ((m − n)·r + n·h)/m`` (``T̄(y)`` when n of the m
        demonstrations are y; h = T(y|y), r = T(y|d≠y)), summed as

            w_0·log r + (1 − w_0)·log h + Σ_{0<n<m} w_n·log(n/m + ((m − n)/m)·r/h)

        (each log of a number in [n/m, max(1, r/h)]: no cancellation, and the large log h and
        log r are multiplied once).  The binomial weights w_n are products of powers of p and
        q = 1 − p (no exp; m ≤ 64: C(m, n) ≤ 1.8e18, and a power that underflows belongs to a
        weight below ~1e-290).  Where r = 0 the result is −inf if q > 0 (the n = 0
        composition has positive probability, even one that underflows to 0) and the n ≥ 1
        sum if q = 0.  ``lh`` must be finite.

        O(K·m): m − 1 logs and about 6m passes of arithmetic, in chunks of the flattened
        arrays (scratch reused across chunks: no full-size temporaries, which on this
        allocator cost page faults every round).  ``out`` (may be ``p`` itself) receives the
        result when its shape fits.
        """
        shape = np.broadcast_shapes(p.shape, lh.shape, log_r.shape, ratio.shape)
        if out is None or out.shape != shape or not out.flags.writeable or not out.flags.c_contiguous:
            out = np.empty(shape)
        zero = bool(np.isneginf(log_r.min()))
        args = (p, lh, log_r, ratio)
        size = out.size
        chunk = max(2048, _SCRATCH_BYTES // (8 * (self.m + 4)))
        if size <= chunk or not all(a.shape == shape and a.flags.c_contiguous for a in args):
            self._binomial_chunk(*args, out, zero, self._scratch(shape))
            return out
        flat = [a.reshape(-1) for a in (*args, out)]
        scratch = self._scratch((chunk,))
        for i in range(0, size, chunk):
            sl = slice(i, min(i + chunk, size))
            n = sl.stop - sl.start
            self._binomial_chunk(*(f[sl] for f in flat), zero,
                                 scratch if n == chunk else [s[:n] for s in scratch])
        return out

    def _scratch(self, shape):
        """Work arrays for :meth:`_binomial_chunk` (q and its powers (m), p's power, weight,
        term, sum): views of one block."""
        return list(np.empty((self.m + 4,) + tuple(shape)))

    def _binomial_chunk(self, p, lh, log_r, ratio, res, zero, scratch):
        """One chunk of :meth:`_binomial_sum` into ``res`` (which may be ``p``: written last)."""
        m = self.m
        qpow = [None, *scratch[:m]]                      # qpow[k] = q^k
        pn, w, t, acc = scratch[m:m + 4]
        np.subtract(1.0, p, out=qpow[1])
        for k in range(2, m + 1):
            np.multiply(qpow[k - 1], qpow[1], out=qpow[k])
        w0 = qpow[m]
        if zero:                                         # some r = 0: ρ(y) = 0
            with np.errstate(invalid="ignore"):
                np.multiply(w0, log_r, out=acc)
            dead = np.isneginf(log_r)
            np.copyto(acc, -np.inf, where=dead & (qpow[1] > 0.0))
            np.copyto(acc, 0.0, where=dead & (qpow[1] == 0.0))
        else:
            np.multiply(w0, log_r, out=acc)
        np.subtract(1.0, w0, out=t)
        t *= lh
        if m == 1:
            np.add(acc, t, out=res)
            return
        acc += t
        for n in range(1, m):
            if n == 1:
                src = p
            else:
                np.multiply(src, p, out=pn)
                src = pn
            np.multiply(ratio, (m - n) / m, out=t)
            t += n / m
            np.log(t, out=t)
            np.multiply(src, qpow[m - n], out=w)
            w *= math.comb(m, n)
            t *= w
            if n == m - 1:
                np.add(acc, t, out=res)                 # p (perhaps res) is no longer read
            else:
                acc += t

    def log_mixture(self, log_rho: np.ndarray, log_demo: np.ndarray) -> np.ndarray:
        """``log E T̄(y) = log E_d T(y|d)``: the wrapped teacher's mixture."""
        return self.teacher.log_mixture(log_rho, log_demo)

    def log_matrix(self, log_rho: np.ndarray) -> np.ndarray:
        """The teacher given one demonstration repeated m times: the wrapped teacher's matrix."""
        return self.teacher.log_matrix(log_rho)

    def log_prob(self, log_rho: np.ndarray, demos: np.ndarray, y: np.ndarray) -> np.ndarray:
        """``log((1/m) Σ_j T(y | d_j))`` for demonstrations ``demos`` (..., E, m), modes ``y`` (..., E)."""
        demos = np.asarray(demos)
        m = demos.shape[-1]
        parts = [self.teacher.log_prob(log_rho, demos[..., j:j + 1], y) for j in range(m)]
        return logsumexp_last(np.stack(parts, axis=-1)) - math.log(m)

    def weighted_log_rows(self, log_rho: np.ndarray, demos: np.ndarray, w: np.ndarray) -> np.ndarray:
        """``Σ_n w_n·log T̄(·|d_n1..d_nm)`` for demonstrations (..., N, m), weights (..., N)."""
        lr = np.asarray(log_rho, dtype=np.float64)
        K = lr.shape[-1]
        demos = np.asarray(demos)
        N, m = demos.shape[-2], demos.shape[-1]
        batch = np.broadcast_shapes(lr.shape[:-1], demos.shape[:-2], np.shape(w)[:-1])
        dd = np.broadcast_to(demos[..., :, None, :], batch + (N, K, m)).reshape(batch + (N * K, m))
        yy = np.broadcast_to(np.arange(K), batch + (N, K)).reshape(batch + (N * K,))
        rows = self.log_prob(np.broadcast_to(lr, batch + (K,)), dd, yy).reshape(batch + (N, K))
        wc = np.broadcast_to(np.asarray(w, dtype=np.float64), batch + (N,))[..., None]
        dead = np.isneginf(rows)
        out = np.sum(wc * np.where(dead, 0.0, rows), axis=-2)
        return np.where(np.any(dead & (wc > 0), axis=-2), -np.inf, out)


# ------------------------------------------------------------------ contrastive teacher

_BASELINES = ("independent", "none")


#: Largest |log T(y|d)| ContrastiveTeacher accepts from a wrapped teacher (its ratios are then
#: differences of logs known to 1e-10).
_MAX_LOG_T = 1e6


@dataclass(frozen=True, eq=False)
class ContrastiveTeacher(Teacher):
    """A teacher that divides out its own prior: ``T̃(y|d, b) ∝ ρ(y)·T(y|d)/T(y|b)`` (theory §11, C1).

    ``baseline="independent"``: ``b`` is a second demonstration drawn independently from
    the same law D (``n_demos = 2``; ``demos[..., 0]`` is d, ``demos[..., 1]`` is b).  Then

        E_{d,b} log T̃(y|d,b) = log ρ(y) + E_d log T(y|d) − E_b log T(y|b) − E log Z = log ρ(y) − E log Z,

    a constant tilt of the base: the reverse-KL round from ``π0`` returns ``π0`` (every ratio
    preserved exactly, no mass moved); with the teacher on the current policy the round is
    the identity.  ``Z(d, b) = Σ_y ρ(y)·T(y|d)/T(y|b)`` (1 when d = b).

    ``baseline="none"``: ``b`` is no demonstration (or one from another prompt, which the
    teacher cannot copy), ``T(y|∅) = ρ(y)``; then ``T̃ = T`` and this teacher is the wrapped
    one (``n_demos = 1``, every method delegated): the contrastive score is the pointwise
    mutual information ``i(y; d)`` of theory §3.2, and self-distillation amplifies as before.

    Parameters
    ----------
    teacher : Teacher
        Reads one demonstration; must give ``T(y|d) > 0`` wherever ``ρ(y) > 0`` (the copy
        teacher with α < 1 does).
    baseline : {"independent", "none"}

    Costs (``"independent"``): with a two-point demonstration law (copy teacher,
    :func:`two_point_values`) ``Z(d, b) = 1 + ρ(d)(e^{L(d)} − 1) + ρ(b)(e^{−L(b)} − 1)`` in
    closed form, so ``log_prob`` and ``weighted_log_rows`` (what the sampled rules use) are
    O(E) and O(N·K) and the expected log is O(K²); any other teacher costs O(K³) per batch
    entry for the exact round (refused above 2·10^8 entries) and O(E·K) per sampled pair.

    Raises
    ------
    ValueError
        ``teacher`` not a one-demonstration teacher, an unknown ``baseline``, a teacher that
        gives ``T(y|d) = 0`` where ``ρ(y) > 0``, or a K too large for the pair table.

    Examples
    --------
    >>> import modesim as ms
    >>> from modesim.remedies import ContrastiveTeacher
    >>> task = ms.make_task([0.6, 0.3, 0.1])
    >>> ms.sd_optimum(task, teacher=ContrastiveTeacher(ms.CopyTeacher(0.5))).round(12).tolist()
    [0.6, 0.3, 0.1]
    """

    teacher: object
    baseline: str = "independent"

    def __post_init__(self):
        _check_teacher(self.teacher, "ContrastiveTeacher")
        chk.choice(self.baseline, "baseline", _BASELINES)

    @property
    def _pass(self) -> bool:
        return self.baseline == "none"

    @property
    def n_demos(self) -> int:
        return 1 if self._pass else 2

    @property
    def param_shape(self):
        return getattr(self.teacher, "param_shape", ())

    # -------------------------------------------------------------- pieces

    def _base(self, log_rho):
        lr = np.minimum(np.asarray(log_rho, dtype=np.float64), 0.0)
        batch = np.broadcast_shapes(lr.shape[:-1], self.param_shape)
        return np.broadcast_to(lr, batch + lr.shape[-1:])

    def _gains(self, lr):
        """Two-point teachers: ``(a, b)`` with ``Z(d, b') = 1 + a(d) + b(b')`` for d ≠ b', else None.

        ``T(y|d)/T(y|b') = 1`` unless y ∈ {d, b'}, so ``Z = 1 + ρ(d)(e^{L(d)} − 1) + ρ(b')(e^{−L(b')} − 1)``
        with ``L = log T(y|y) − log T(y|d≠y)``; modes with ρ = 0 contribute nothing.
        """
        tp = two_point_values(self.teacher, lr)
        if tp is None:
            return None
        lh, lrest = (np.broadcast_to(x, lr.shape) for x in tp)
        alive = lr > -np.inf
        if np.any(alive & np.isneginf(lrest)):
            self._refuse()
        with np.errstate(invalid="ignore", over="ignore"):
            L = np.where(alive, lh - lrest, 0.0)
            rho = np.exp(lr)
            a = np.where(alive, rho * np.expm1(L), 0.0)
            b = np.where(alive, rho * np.expm1(-L), 0.0)
        return a, b

    @staticmethod
    def _refuse():
        raise ValueError(
            "ContrastiveTeacher needs T(y|d) > 0 wherever the teacher base ρ(y) > 0 (it divides "
            "by T(y|b)); the wrapped teacher gives T(y|d) = 0 for some such y"
        )

    def _matrix(self, lr):
        K = lr.shape[-1]
        lT = np.broadcast_to(self.teacher.log_matrix(lr), lr.shape[:-1] + (K, K))
        alive = lr > -np.inf
        if np.any(alive[..., None, :] & np.isneginf(lT)):
            self._refuse()
        # T(y|d)/T(y|b) is read as a difference of log-probabilities; at |log T| = x float64
        # keeps them to x·1.1e-16 (16 at 1e17, where a TiltTeacher(1e17) wrapped here gave
        # [1/3, 1/3, 1/3] for an exact [0.6, 0.3, 0.1]).  Above 1e6 that is 1e-10: refused.
        big = float(np.max(np.abs(np.where(np.isfinite(lT), lT, 0.0)), initial=0.0))
        if big > _MAX_LOG_T:
            raise ValueError(
                f"ContrastiveTeacher divides T(y|d) by T(y|b) through their logarithms; the wrapped teacher's "
                f"log-probabilities reach {-big:.3g}, where float64 keeps them only to ±{big * 1.1e-16:.2g}, "
                f"so its ratios lose their digits; allowed: teachers with |log T| ≤ {_MAX_LOG_T:.0e} (e.g. "
                "a TiltTeacher with |kappa| below about 1e6)"
            )
        return lT

    def _log_z_table(self, lr):
        """``log Z[d, b]`` for every pair, (..., K, K): O(K²) for a two-point law, else O(K³)."""
        K = lr.shape[-1]
        gains = self._gains(lr)
        if gains is not None:
            a, b = gains
            with np.errstate(divide="ignore"):
                z = np.log1p(a[..., :, None] + b[..., None, :])
            return np.where(np.eye(K, dtype=bool), 0.0, z)
        size = int(np.prod(lr.shape[:-1], dtype=np.int64)) * K ** 3
        if size > MAX_LAW_ENTRIES:
            raise ValueError(
                f"ContrastiveTeacher builds log Z(d, b) for every pair of demonstrations (K³ = {K}³ "
                f"per batch entry, {size:.3g} entries); that is too large (allowed: {MAX_LAW_ENTRIES:.3g})"
            )
        lT = self._matrix(lr)
        alive = lr > -np.inf
        safe = np.where(alive[..., None, :], lT, 0.0)
        x = np.where(alive[..., None, None, :], lr[..., None, None, :] + safe[..., :, None, :] - safe[..., None, :, :],
                     -np.inf)
        return logsumexp_last(x)

    def _log_z_pairs(self, lr, d, b):
        """``log Z(d, b)`` for index arrays d, b (..., E): O(E) for a two-point law, else O(E·K)."""
        gains = self._gains(lr)
        if gains is not None:
            a, bb = gains
            with np.errstate(divide="ignore"):
                z = np.log1p(gather(a, d) + gather(bb, b))
            return np.where(d == b, 0.0, z)
        lT = self._matrix(lr)
        K = lr.shape[-1]
        batch = np.broadcast_shapes(lr.shape[:-1], d.shape[:-1])
        lT = np.broadcast_to(lT, batch + (K, K))
        alive = np.broadcast_to(lr > -np.inf, batch + (K,))
        rows_d = np.take_along_axis(lT, np.broadcast_to(d, batch + d.shape[-1:])[..., None], axis=-2)
        rows_b = np.take_along_axis(lT, np.broadcast_to(b, batch + b.shape[-1:])[..., None], axis=-2)
        x = np.where(alive[..., None, :], np.broadcast_to(lr, batch + (K,))[..., None, :]
                     + np.where(alive[..., None, :], rows_d - rows_b, 0.0), -np.inf)
        return logsumexp_last(x)

    def _score(self, lr, lT_d, lT_b, logZ):
        """``log ρ + log T(·|d) − log T(·|b) − log Z`` with zeros of ρ kept at −inf."""
        dead = np.isneginf(lr)
        with np.errstate(invalid="ignore"):
            out = lr + np.where(dead, 0.0, lT_d - lT_b) - logZ
        return np.where(dead, -np.inf, out)

    # -------------------------------------------------------------- protocol

    def log_matrix(self, log_rho: np.ndarray) -> np.ndarray:
        """One demonstration repeated (``b = d``): ``T̃ = ρ`` for every d (``"none"``: the wrapped matrix)."""
        if self._pass:
            return self.teacher.log_matrix(log_rho)
        lr = np.minimum(np.asarray(log_rho, dtype=np.float64), 0.0)
        K = lr.shape[-1]
        shape = np.broadcast_shapes(lr.shape[:-1], self.param_shape) + (K, K)
        return np.array(np.broadcast_to(lr[..., None, :], shape))

    def expected_log_up_to_constant(self, log_rho: np.ndarray, demo: np.ndarray) -> np.ndarray:
        """``log ρ(y)``: :meth:`expected_log` without its constant ``Σ_{d,b} D(d)D(b)·log Z(d, b)``.

        The reverse-KL round normalises its target, so the O(K²) (O(K³) for a generic
        teacher) table of ``log Z`` is not needed there: the round costs O(K) (theory §11, C1).
        ``"none"``: the wrapped teacher's expected log.
        """
        if self._pass:
            return self.teacher.expected_log(log_rho, demo)
        lr = self._base(log_rho)
        # The same refusals as expected_log (T(y|b) = 0 where ρ(y) > 0; huge |log T|).
        tp = two_point_values(self.teacher, lr)
        if tp is None:
            self._matrix(lr)
        elif np.any((lr > -np.inf) & np.isneginf(np.broadcast_to(tp[1], lr.shape))):
            self._refuse()
        return np.array(lr)

    def expected_log(self, log_rho: np.ndarray, demo: np.ndarray, *, out=None) -> np.ndarray:
        """``log ρ(y) − Σ_{d,b} D(d)D(b)·log Z(d, b)`` (``"none"``: the wrapped teacher's)."""
        if self._pass:
            return self.teacher.expected_log(log_rho, demo)
        lr = self._base(log_rho)
        logZ = self._log_z_table(lr)
        D = np.clip(np.asarray(demo, dtype=np.float64), 0.0, 1.0)
        pair = D[..., :, None] * D[..., None, :]
        const = np.sum(np.where(pair > 0, pair * logZ, 0.0), axis=(-2, -1))[..., None]
        return np.where(np.isneginf(lr), -np.inf, lr - const)

    def log_mixture(self, log_rho: np.ndarray, log_demo: np.ndarray) -> np.ndarray:
        """``log Σ_{d,b} D(d)D(b)·T̃(y|d,b)``, O(K³) (``"none"``: the wrapped teacher's)."""
        if self._pass:
            return self.teacher.log_mixture(log_rho, log_demo)
        lr = self._base(log_rho)
        lT, logZ = self._matrix(lr), self._log_z_table(lr)
        ld = np.asarray(log_demo, dtype=np.float64)
        alive = lr > -np.inf
        safe = np.where(alive[..., None, :], lT, 0.0)
        # (..., d, b, y): log D(d) + log D(b) + log T[d,y] − log T[b,y] − log Z[d,b]
        x = (ld[..., :, None, None] + ld[..., None, :, None] + safe[..., :, None, :] - safe[..., None, :, :]
             - logZ[..., :, :, None])
        K = lr.shape[-1]
        x = x.reshape(x.shape[:-3] + (K * K, K))
        m = logsumexp_last(np.swapaxes(x, -1, -2))
        return np.where(alive, lr + m, -np.inf)

    def log_prob(self, log_rho: np.ndarray, demos: np.ndarray, y: np.ndarray) -> np.ndarray:
        """``log T̃(y | d, b)`` for ``demos[..., 0] = d``, ``demos[..., 1] = b`` (..., E, 2): O(E)
        for a two-point teacher (O(E·K) otherwise)."""
        if self._pass:
            return self.teacher.log_prob(log_rho, demos, y)
        demos = np.asarray(demos)
        lr = self._base(log_rho)
        d, b = demos[..., 0], demos[..., 1]
        lt_d = self.teacher.log_prob(lr, demos[..., 0:1], y)
        lt_b = self.teacher.log_prob(lr, demos[..., 1:2], y)
        alive = np.broadcast_to(gather(lr, y) > -np.inf, np.broadcast_shapes(lt_d.shape, lt_b.shape))
        if np.any(alive & (np.isneginf(lt_d) | np.isneginf(lt_b))):
            self._refuse()
        return self._score(gather(lr, y), lt_d, lt_b, self._log_z_pairs(lr, d, b))

    def weighted_log_rows(self, log_rho: np.ndarray, demos: np.ndarray, w: np.ndarray) -> np.ndarray:
        """``Σ_n w_n·log T̃(·|d_n, b_n)`` from the wrapped teacher's rows (``weighted_log_rows`` of
        d and of b) and ``log Z`` of the sampled pairs."""
        if self._pass:
            return self.teacher.weighted_log_rows(log_rho, demos, w)
        demos = np.asarray(demos)
        lr = self._base(log_rho)
        wv = np.asarray(w, dtype=np.float64)
        rows_d = self.teacher.weighted_log_rows(lr, demos[..., 0:1], wv)
        rows_b = self.teacher.weighted_log_rows(lr, demos[..., 1:2], wv)
        alive = lr > -np.inf
        if np.any(alive & (np.isneginf(rows_d) | np.isneginf(rows_b))):
            self._refuse()
        lz = self._log_z_pairs(lr, demos[..., 0], demos[..., 1])
        total = wv.sum(-1, keepdims=True)
        with np.errstate(invalid="ignore"):
            out = total * np.where(alive, lr, 0.0) + np.where(alive, rows_d - rows_b, 0.0) \
                - np.sum(wv * lz, axis=-1, keepdims=True)
        return np.where(~alive & (total > 0), -np.inf, out)

    def demo_law(self, log_rho: np.ndarray, demo: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The law of ``T̃(y|d,b)`` over pairs: K² points per mode, (..., K², K)."""
        if self._pass:
            return self.teacher.demo_law(log_rho, demo)
        lr = self._base(log_rho)
        lT, logZ = self._matrix(lr), self._log_z_table(lr)
        K = lr.shape[-1]
        D = np.clip(np.asarray(demo, dtype=np.float64), 0.0, 1.0)
        pair = (D[..., :, None] * D[..., None, :]).reshape(D.shape[:-1] + (K * K,))
        vals = self._score(lr[..., None, None, :], lT[..., :, None, :], lT[..., None, :, :], logZ[..., :, :, None])
        vals = vals.reshape(vals.shape[:-3] + (K * K, K))
        shape = np.broadcast_shapes(vals.shape, pair.shape + (1,))
        return np.array(np.broadcast_to(pair[..., None], shape)), np.array(np.broadcast_to(vals, shape))
