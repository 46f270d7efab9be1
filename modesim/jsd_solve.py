"""The exact optimum of a JSD self-distillation round (theory §8.1, J1): a batched Halley solve.

:func:`_jsd_solve` minimises ``E_d JSD_λ(T(·|d)‖π) + β·KL(π‖π_ref)`` given the teacher's
demonstration law (:func:`_jsd_law`); :func:`modesim.sd_target` and
:class:`modesim.SelfDistillation` with ``objective="jsd"`` call it (kept apart from
:mod:`modesim.distill`, which holds the rules and the divergence itself).  Rows are solved in
cache-sized blocks with one work allocation per round (see :func:`_jsd_solve`).
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import threading

import numpy as np

from . import _checks as chk
from .rule import combine_forward, combine_reverse
from .simplex import logsumexp_last
from .teachers import _states_two_points, two_point_values

_DISJOINT = ("the self-distillation target gives zero probability to every mode (the teacher "
             "and the KL reference have disjoint supports)")

#: Iterations of the batched Halley solve before it gives up (typical rounds take 2–4).
_JSD_MAX_ITER = 100
#: Stop after a step whose largest |Δ log π| is below this: the next error is ~C·step², below 1e-14.
_JSD_STEP_TOL = 1e-7
#: The ratio form r = e^{c − u} = e^c·e^{−u} is used while every exponent stays below this.
_JSD_RATIO_RANGE = 650.0
#: Iterations after which the numpy solve gives modes whose steps change sign a trust
#: region (:func:`_jsd_rows`); typical blocks end in 2–4 iterations, untouched by it.
_JSD_SAFEGUARD_FROM = 8
#: Teacher log-probabilities below −this are exact zeros for the JSD solve: a mode held only
#: with ``T ≤ e^−10^4`` ends at ``log π ≈ log T + O(20)`` (λ ≤ 1 − 1e-8), far below the float
#: range, or, with β > 0, where the KL term alone puts it; the Newton iterations would
#: otherwise have to travel 10^20 nats for a TiltTeacher(1e20) (it did not converge).
_JSD_NEGLIGIBLE_LOG = 1e4


#: Below this λ the solve starts from the forward target and forms log(1 + r) with log1p.
_JSD_FORWARD_START = 0.1
#: Entries per support point evaluated at once (J = 2; the temporaries of a block stay in cache).
_JSD_BLOCK = 16384
#: Entries (rows × K) the solve takes through its iterations at once (:func:`_jsd_solve`).
_JSD_ROWS = 32768
#: The multiplier is corrected to second order (:func:`_second_order_nu`) once every Newton
#: step is below this many nats: in the steps that may end the solve (below
#: :data:`_JSD_CUBIC_TOL`) and the one before; earlier its cost buys no iteration.
_JSD_CUBIC_FROM = 1e-4
#: Stop after a step that took the second-order multiplier and whose largest |Δ log π| is
#: below this: the iteration is then cubic, and ν is left off by ~step³ ≈ 1e-16, the size of
#: float64's own rounding of φ.  Each mode is off by that over ``φ'_y·Σ π/φ'``, as the
#: rounding alone makes it (theory §8.1: the per-step constant has no universal bound; it
#: is ≤ 0.081 on random inputs and 1.11 on an adversarial row).
_JSD_CUBIC_TOL = 5e-6
#: Blocks of at least this many entries first iterate in float32 (:func:`_f32_phase`; below,
#: the numpy calls it adds cost more than it saves).
_JSD_F32_MIN = 2048
#: The float32 phase hands over to float64 after a step below this: the error is then
#: ~C·step² ≲ 1e-6 (its multiplier is first order, C ≲ 0.1), float32's own resolution of
#: the root.
_JSD_F32_HANDOVER = 3e-3
#: The float32 phase runs while every log T, log π (and Newton step) is within ± this: the
#: ratios T/π stay below e^80 < float32's largest number.
_JSD_F32_RANGE = 40.0
#: Iterations the float32 phase takes at most before it hands back its start.
_JSD_F32_MAX_ITER = 6
#: Work arrays of the float32 phase besides its copy of the law.
_F32_ARRAYS = 9
#: The float32 phase is not tried when the start, β or log π_ref exceeds this in size: with
#: |u| ≤ 40 and β ≤ 1e30, β·(u − log π_ref) stays ~40·(1 + β), within float32 (3.4e38).
_F32_LIMIT = 1e30


def _jsd_law(teacher, log_rho: np.ndarray, demo: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The demonstration law point-major: ``(weights, log_values)``, each (J, ..., K).

    A teacher that states its two points (:func:`~modesim.teachers.two_point_values` with
    ``probe=False``: the copy teacher) gives ``(D, 1 − D)`` and ``(log T(y|y), log T(y|d ≠ y))``
    as two contiguous slabs; any other teacher's :meth:`~modesim.Teacher.demo_law`
    (..., J, K) is read point-major (views; the solve copies them once)."""
    D = np.asarray(demo, dtype=np.float64)
    lr = np.asarray(log_rho, dtype=np.float64)
    pshape = tuple(getattr(teacher, "param_shape", ()))
    shape = np.broadcast_shapes(lr.shape, D.shape, pshape + (1,))
    if pshape == () and lr.shape == D.shape == shape and _states_two_points(type(teacher))[0]:
        return _TwoPointRows(teacher, lr.reshape(-1, shape[-1]), D.reshape(-1, shape[-1]), shape), None
    lv = np.empty((2,) + shape)
    if two_point_values(teacher, lr, probe=False, out=lv) is None:
        w, lv = teacher.demo_law(log_rho, demo)
        return (np.moveaxis(np.asarray(w, dtype=np.float64), -2, 0),
                np.moveaxis(np.asarray(lv, dtype=np.float64), -2, 0))
    w = np.empty((2,) + shape)
    np.clip(D, 0.0, 1.0, out=w[0])
    np.subtract(1.0, w[0], out=w[1])
    return w, lv


class _TwoPointRows:
    """The law of a teacher that states its two points (scalar parameters), written block by
    block of rows into the solve's reused law buffers (:func:`_jsd_solve`): no full-size law
    is allocated (fresh memory costs about a log pass per array on some hosts)."""

    J = 2

    def __init__(self, teacher, lr, D, shape):
        self.teacher, self.lr, self.D, self.shape = teacher, lr, D, shape

    def fill(self, rs: slice, W: np.ndarray, A: np.ndarray, L: np.ndarray) -> None:
        """Rows ``rs`` into ``W``, ``A``, ``L`` (2, n, K): weights ``(D, 1 − D)``, log values as
        :func:`_jsd_law`, and the values themselves (which the copy teacher forms anyway)."""
        two_point_values(self.teacher, self.lr[rs], probe=False, out=A, linear=L)
        np.clip(self.D[rs], 0.0, 1.0, out=W[0])
        np.subtract(1.0, W[0], out=W[1])


def _point_sum(a: np.ndarray, b: np.ndarray, out=None, scratch=None) -> np.ndarray:
    """``Σ_j a[j]·b[j]`` over the leading (point) axis of two (J, N) arrays, into ``out`` (N,)
    if given (``scratch`` (N,): a free array, so that no temporary is made)."""
    if a.shape[0] > 2:        # J up to K (a generic law): one einsum, no loop over points
        return np.einsum("jn,jn->n", a, b, out=out)
    out = np.multiply(a[0], b[0], out=out)
    if a.shape[0] == 2:
        out += np.multiply(a[1], b[1], out=scratch)
    return out


def _finish_eval(f, f1, h, q, p, u, beta, lref, scratch) -> None:
    """Turn the sums ``f = Σ w·log(1 + r)``, ``f1 = Σ w·σ``, ``h = Σ w·σ(1 − σ)`` (``w`` the
    (1 − λ)-scaled weights) into ``φ``, ``φ'``, ``h = φ''/(2φ')`` (in [−1/2, 0]) and ``q = π/φ'`` (in place;
    flat slices of equal length; ``beta`` None, a float or a slice; ``lref`` None or a slice;
    ``scratch`` a free array of the same length).

    ``φ = β·(u − log π_ref) − f``, ``φ' = f1 + β``.  Where φ' underflows (the student holds
    ~e^700 times the teacher's mass, β ≈ 0) the curvature ratio is set to its bound and φ'
    floored, which keeps the Halley step finite.
    """
    if beta is None:
        np.negative(f, out=f)
    else:
        t = np.subtract(u, lref, out=scratch)
        t *= beta
        np.subtract(t, f, out=f)
        f1 += beta
    if f1.min() > 0.0:
        h /= f1
    else:
        with np.errstate(invalid="ignore", divide="ignore"):
            h /= f1
        h[~(f1 > 0.0)] = 1.0
        np.maximum(f1, 1e-300 if f1.dtype == np.float64 else 1e-30, out=f1)
    h *= -0.5
    np.divide(p, f1, out=q)


def _jsd_eval(Tp, wom, p, u, beta, lref, f, f1, h, q, precise) -> None:
    """``φ``, ``φ'``, ``φ''/(2φ')`` and ``π/φ'`` at every entry (:func:`_finish_eval`), from
    ``r = Tp/π`` (``Tp = λT/(1 − λ)``, ``wom = (1 − λ)·w``, both (J, N); the rest (N,)).

    Evaluated in blocks of entries with three scratch arrays reused from block to block, so
    that the temporaries stay in cache and no full-size array is allocated: two logs (J = 2)
    and a few multiplications per entry.  ``log(1 + r)`` is ``log1p(r)`` below λ = 0.1
    (``precise``); above, ``log(u) + (r − (u − 1))/u`` with ``u = 1 + r`` rounded: the
    rounding of u put back to first order (its square is below 1e-32), as accurate as numpy's
    log1p and cheaper.  A bare ``log(1 + r)`` carries an absolute error of ~1e-16 whatever r,
    and a mode moves by that over φ', which reaches 6e-5 (α = 1 − 1e-6, λ = 0.9: modes were
    1.8e-13 off; found by review).
    """
    J, N = Tp.shape
    b = min(N, _JSD_BLOCK if J <= 2 else max(1, 2 * _JSD_BLOCK // J))
    scalar_beta = beta is None or not isinstance(beta, np.ndarray)
    R_, ONE, L_, C_ = (np.empty((J, b), dtype=Tp.dtype) for _ in range(4))
    for n0 in range(0, N, b):
        s = slice(n0, min(N, n0 + b))
        n = s.stop - n0
        r, one, L, c = R_[:, :n], ONE[:, :n], L_[:, :n], C_[:, :n]
        pb = p[s]
        np.divide(Tp[:, s], pb, out=r)
        np.add(r, 1.0, out=one)
        if precise:
            np.log1p(r, out=L)
        else:
            np.log(one, out=L)
            np.subtract(one, 1.0, out=c)                # u − 1, exact
            np.subtract(r, c, out=c)                    # e = r − (u − 1), the rounding of u
            c /= one
            L += c                                      # log(u) + e/u = log1p(r) (to (e/u)²)
        w = wom[:, s]
        L *= w
        r /= one                                        # σ = r/(1 + r)
        r *= w
        fb, f1b, hb = f[s], f1[s], h[s]
        if J == 2:  # a reduction over a short leading axis is slower than one add
            np.add(L[0], L[1], out=fb)
            np.add(r[0], r[1], out=f1b)
            r /= one                                    # w·σ(1 − σ)
            np.add(r[0], r[1], out=hb)
        else:
            L.sum(axis=0, out=fb)
            r.sum(axis=0, out=f1b)
            r /= one
            r.sum(axis=0, out=hb)
        _finish_eval(fb, f1b, hb, q[s], pb, u[s], beta if scalar_beta else beta[s],
                     None if lref is None else lref[s], L[0])


def _jsd_eval_log(lc, wom, p, u, beta, lref, f, f1, h, q) -> None:
    """:func:`_jsd_eval` from logs, for ratios beyond the float range: ``x = log(λT/(1 − λ)) − u``,
    ``log(1 + r) = softplus(x)``, ``σ = 1/(1 + e^{−x})``."""
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        x = lc - u
        t = np.exp(-np.abs(x))
        L = np.maximum(x, 0.0) + np.log1p(t)
        sg = np.where(x >= 0, 1.0 / (1.0 + t), t / (1.0 + t))
    np.sum(wom * L, axis=0, out=f)
    ws = wom * sg
    ws.sum(axis=0, out=f1)
    ws *= 1.0 - sg
    ws.sum(axis=0, out=h)
    _finish_eval(f, f1, h, q, p, u, beta, lref, np.empty_like(f))


def _newton(f, f1, q, rows, scratch):
    """ν per row from the linearised constraint ``Σ π·(ν − φ)/φ' = 0`` and the Newton steps
    ``N = (ν − φ)/φ'``, written into ``q`` (which holds ``π/φ'``); returns ``(N, ν, Σ π/φ')``
    (flat (N,) arrays of rows ``rows``; ν and the sum (R, 1))."""
    q2, f2 = q.reshape(rows), f.reshape(rows)
    qs = _row_sums(q2)
    nu = _row_sums(np.multiply(q2, f2, out=scratch.reshape(rows)))
    nu /= qs
    newton = np.subtract(nu, f2, out=q2).reshape(-1)   # into q: the sums above were its last use
    newton /= f1
    return newton, nu, qs


def _second_order_nu(newton, h, f1, p, qs, rows, t, s) -> None:
    """Shift ν so that the constraint holds to second order in the step (in place on the
    Newton steps ``newton``; ``t``, ``s`` free arrays).

    The Halley step is ``δ = N − h·N² + O(N³)`` (``h = φ''/(2φ')``), so ``Σ π·e^δ = 1``
    reads ``Σ π·(N + (1/2 − h)·N²) = O(N³)``.  With ``N = N₀ + ε/φ'`` and ``Σ π·N₀ = 0``
    (the linearised ν): ``ε = −Σ π·(1/2 − h)·N₀² / Σ π/φ'``.  The multiplier is then
    accurate to O(N³) like the per-mode Halley steps, and the iteration converges cubically
    (theory §8.1), which :data:`_JSD_CUBIC_TOL` relies on."""
    np.multiply(newton, newton, out=t)
    np.multiply(h, t, out=s)
    t *= 0.5
    t -= s
    t *= p
    eps = _row_sums(t.reshape(rows))
    eps /= qs
    newton -= np.divide(eps, f1.reshape(rows), out=s.reshape(rows)).reshape(-1)


def _halley(newton, h):
    """The Halley steps ``δ = N/(1 + h·N)`` (denominator kept ≥ 1/2), written into ``h``."""
    step = np.multiply(h, newton, out=h)
    step += 1.0
    np.maximum(step, 0.5, out=step)
    return np.divide(newton, step, out=step)


def _f32_phase(u, Tp, wom, beta_f, lref_f, rows, buf32) -> bool:
    """Move the start ``u`` ((N,) float64, in place) towards the root by the same iteration in
    float32; returns whether it did.

    float32's ``log`` and ``exp`` are vectorised where float64's are not (about 3× faster
    on an AVX2 host) and its arithmetic moves half the bytes, so an evaluation costs about a
    third.  The iterations reach float32's resolution of the root (~1e-6 nats); the float64
    iterations that follow (:func:`_jsd_rows`) take the result to the last digit and decide
    convergence, so this phase only chooses where they start.  It hands back ``u``
    unchanged when an exponent leaves ±:data:`_JSD_F32_RANGE` (ratios beyond float32's
    range), a mode sits more than a nat above its root, or a value is not finite, and
    before any cast when the start, β or log π_ref is beyond ±:data:`_F32_LIMIT` (a cast
    beyond float32's range overflows with a warning; such blocks are far outside the range
    the phase could run in anyway, or their β·(u − log π_ref) would overflow).
    ``buf32`` is (2J + _F32_ARRAYS, N) float32 scratch."""
    if not (float(u.min()) > -_F32_LIMIT
            and (beta_f is None or float(np.max(beta_f)) < _F32_LIMIT)
            and (lref_f is None or float(lref_f.min()) > -_F32_LIMIT)):
        return False
    J, N = Tp.shape
    T32, W32 = buf32[:J], buf32[J:2 * J]
    u32, p32, f, f1, h, q, s, b32, l32 = buf32[2 * J:2 * J + _F32_ARRAYS]
    np.copyto(T32, Tp, casting="same_kind")
    np.copyto(W32, wom, casting="same_kind")
    np.copyto(u32, u, casting="same_kind")
    beta32 = beta_f
    if isinstance(beta_f, np.ndarray):
        beta32 = b32
        np.copyto(b32, beta_f, casting="same_kind")
    lref32 = None
    if lref_f is not None:
        lref32 = l32
        np.copyto(l32, lref_f, casting="same_kind")
    u2, p2 = u32.reshape(rows), p32.reshape(rows)
    for _ in range(_JSD_F32_MAX_ITER):
        with np.errstate(under="ignore", over="ignore"):
            np.exp(u32, out=p32)
        total = _row_sums(p2)
        if not ((total > 1e-30).all() and (total < 1e30).all()):
            return False
        u2 -= np.log(total)
        p2 /= total
        if not float(u32.min()) > -_JSD_F32_RANGE:
            return False
        _jsd_eval(T32, W32, p32, u32, beta32, lref32, f, f1, h, q, False)
        newton = _newton(f, f1, q, rows, s)[0]
        if not (float(newton.min()) >= -1.0 and float(newton.max()) < _JSD_F32_RANGE):
            return False
        step = _halley(newton, h)
        u32 += step
        if max(float(step.max()), -float(step.min())) < _JSD_F32_HANDOVER:
            np.copyto(u, u32)
            return True
    return False


def _log_newton(step, f, nu, u, Tp, lc, wom, beta, lref) -> None:
    """Replace large downward Halley steps by Newton steps on ``log(−φ)`` (in place).

    A mode far above its solution (the student holds e^(tens or hundreds) times the
    teacher's mass) sits in φ's exponential regime, ``φ ≈ −A·e^{−u}``, where a Halley step
    moves only ~2 nats (and a Newton step overshoots without bound when φ' underflows);
    ``log(−φ)`` is linear there, so Newton on it lands on the root in one step.  Where a
    tiny β term dominates −φ the log-step may overshoot to the left, into φ's linear
    regime, from which the next (Halley) step is exact.  Everything is in log space:
    ``log(−φ)`` and ``log φ'`` are log-sums of ``log w + log softplus(x)`` and
    ``log w + log σ(x)``, ``x = log(λT/(1 − λ)) − u`` (no underflow for any depth).
    ``Tp``/``lc``/``wom`` are (J, N); the rest (N,) (``beta`` None, a float or (N,)).
    """
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        x = (np.log(Tp) if lc is None else lc) - u
        sp = np.maximum(x, 0.0) + np.log1p(np.exp(-np.abs(x)))
        log_sp = np.where(x < -35.0, x, np.log(sp))                 # log softplus(x)
        log_sig = x - sp                                            # log σ(x)
        log_w = np.log(wom)
        lneg = logsumexp_last((log_w + log_sp).T)                   # log((1 − λ)Σ w L)
        lf1 = logsumexp_last((log_w + log_sig).T)                   # log((1 − λ)Σ w σ)
        if beta is not None:
            B = beta * (u - lref)                                   # φ = −e^{lneg} + B
            ok = B < np.exp(lneg)
            lneg = np.where(B <= 0, np.logaddexp(lneg, np.log(-B)), lneg + np.log1p(-B * np.exp(-lneg)))
            lf1 = np.logaddexp(lf1, np.log(beta))
        else:
            ok = True
        ok = ok & (nu < 0) & (step < -1.0)
        cand = -(np.log(-nu) - lneg) * np.exp(lneg - lf1)
        use = ok & np.isfinite(cand) & (cand < 0)
    np.copyto(step, cand, where=use)


def _owned(a: np.ndarray, shape: tuple) -> np.ndarray:
    """``a`` as a C-contiguous float64 array of ``shape`` that may be overwritten: ``a`` itself
    when it is a writeable array it owns (a fresh result of :func:`_jsd_law`), else a copy."""
    if a.shape == shape and a.dtype == np.float64 and a.flags.writeable and a.flags.owndata and a.flags.c_contiguous:
        return a
    return np.array(np.broadcast_to(a, shape), dtype=np.float64)


def _flat(a, shape: tuple, N: int):
    """A per-row or per-entry quantity as a flat (N,) array (a float stays a float)."""
    if not isinstance(a, np.ndarray):
        return a
    return np.ascontiguousarray(np.broadcast_to(a, shape)).reshape(N)


def _jsd_solve(weights, log_values, log_ref, beta, lam) -> np.ndarray:
    """The JSD round's optimum (theory §8.1, J1), normalised log-probabilities (..., K).

    Minimises ``F(π) = E_d JSD_λ(T(·|d)‖π) + β·KL(π‖π_ref)`` for the demonstration law
    ``(weights, log_values)``, point-major: each (J, ..., K) (:func:`_jsd_law`; writeable
    arrays the caller owns are reused as buffers).  The stationarity conditions are
    separable given a multiplier ν: ``φ_y(u_y) = ν`` with ``u = log π`` and::

        φ_y(u) = −(1 − λ)·Σ_j w_{jy}·log(1 + r_{jy}) + β·(u − log π_ref(y)),
        r_{jy} = λ·T_{jy}/((1 − λ)·e^u),

    increasing and concave in u (φ' = (1 − λ)·Σ_j w·r/(1 + r) + β, φ'' = −(1 − λ)·Σ_j
    w·r/(1 + r)²).  Each iteration evaluates φ, φ', φ'' at every mode, takes ν from the
    linearised constraint ``Σ_y π_y·(ν − φ_y)/φ'_y = 0`` (leaving out modes more than a nat
    above their root), a Halley step per mode (a Newton step on log(−φ) for modes far above
    their root) and renormalises (one exp pass).  Once every step is below 1e-4, ν is
    corrected to second order (:func:`_second_order_nu`) and the iteration is cubic; it
    stops after such a step below 5e-6 (ν is then off by ~1e-16, float64's own rounding
    of φ), or after a first-order step below 1e-7.  Blocks of at least 2,048 entries first
    iterate in float32 (:func:`_f32_phase`), which only moves the start.  The start is
    the reverse-KL (geometric-mean) target for λ ≥ 0.1 and the forward (arithmetic-mean)
    one below, the exact limits as λ → 1 and λ → 0.  ``r`` is formed as ``(λT/(1 − λ))·(1/π)`` while every exponent is within ±650,
    else from logs.

    Modes the optimum leaves at zero: β > 0 and π_ref(y) = 0 (infinite KL), or β = 0 and
    the teacher never holds y.

    With numba installed (the ``fast`` extra) a block of at most 512 rows, or of rows of at
    least 16 modes, goes first to the same iteration compiled (:mod:`modesim._jsd_kernel`,
    row by row, a row's result independent of the others; larger blocks of short rows are
    faster here).  The rows it leaves (λ < 0.1, ratios beyond e^±650, modes held at zero, a
    mode far above its root, no convergence), the other blocks, and every row without numba
    or with ``MODESIM_NUMBA=0`` take the numpy iteration described here.  The two agree to
    ~1e-14.

    Rows are independent: the solve runs block by block of about 32k entries, each block to
    its own convergence with work arrays that stay in cache and are reused, so that the only
    full-size arrays are the law and the result (fresh memory costs as much as a log pass
    on some hosts: the pages are faulted in on first write); the work memory is kept for
    the thread's next round (:func:`_work_memory`).  ``weights`` may instead be
    the block-wise law of a two-point teacher (:class:`_TwoPointRows`, ``log_values``
    None): then the law too is written a block at a time into reused buffers.
    """
    lref = np.asarray(log_ref, dtype=np.float64)
    if isinstance(weights, _TwoPointRows):
        law, J, law_shape = weights, 2, weights.shape
        K, law_batch = law_shape[-1], law_shape[:-1]
    else:
        law = None
        w = np.asarray(weights, dtype=np.float64)
        lT = np.asarray(log_values, dtype=np.float64)
        K = lT.shape[-1]
        J = np.broadcast_shapes(w.shape[:1], lT.shape[:1])[0]
        law_batch = np.broadcast_shapes(w.shape[1:-1], lT.shape[1:-1])
    batch = law_batch
    if not (lref.shape[:-1] == batch and not isinstance(beta, np.ndarray) and not isinstance(lam, np.ndarray)):
        batch = np.broadcast_shapes(law_batch, lref.shape[:-1], np.shape(beta), np.shape(lam))
    if law is not None and batch != law_batch:
        # β, λ or the reference add batch axes (a grid): the block-wise law reads its rows by
        # the solve's row index, so it is formed once at its own shape and broadcast.
        n_law = math.prod(law_batch)
        w, lT, lin = (np.empty((J, n_law, K)) for _ in range(3))
        law.fill(slice(0, n_law), w, lT, lin)
        w, lT = w.reshape((J,) + law_shape), lT.reshape((J,) + law_shape)
        law = None
    shape = batch + (K,)
    if law is None:     # the point axis leads: a grid's extra batch axes go after it
        w, lT = _points_first(w, len(shape)), _points_first(lT, len(shape))
    R = math.prod(batch)
    has_beta = not (not isinstance(beta, np.ndarray) and beta == 0.0)
    lam_r, beta_r = _per_row(lam, batch, R), _per_row(beta, batch, R)
    rb = max(1, _JSD_ROWS // K)
    # Every work array of a block (and, for a two-point teacher, the block's law) is carved
    # from one allocation, reused by every block and kept for the thread's next round
    # (:func:`_work_memory`): fresh memory is faulted in on first write.
    nb = min(R, rb) * K
    kernel = _kernel()
    rows_nb = _WORK_ARRAYS + (0 if law is None else 3 * J)
    k_rows = 4 * J + _KERNEL_ARRAYS      # the kernel's scratch, (4J + 9)·K
    if kernel is None or k_rows * K > _KERNEL_MAX_SCRATCH:
        k_rows = 0
    precise = bool((np.min(lam) if isinstance(lam, np.ndarray) else lam) < _JSD_FORWARD_START)
    n32 = 0 if precise or nb < _JSD_F32_MIN else (2 * J + _F32_ARRAYS) * nb
    with _work_memory(rows_nb * nb + k_rows * K, n32) as (flat, flat32):
        buf = flat[:rows_nb * nb].reshape(rows_nb, nb)
        k_scratch = flat[rows_nb * nb:].reshape(k_rows, K)
        buf32 = None if n32 == 0 else flat32.reshape(2 * J + _F32_ARRAYS, nb)
        work = buf[:_WORK_ARRAYS]
        if law is None:
            W = _owned(w, (J,) + shape).reshape(J, R * K)       # w, later (1 − λ)·w
            A = _owned(lT, (J,) + shape).reshape(J, R * K)      # log T, later λT/(1 − λ)
        else:  # the law of a block at a time
            W, A, L = (buf[_WORK_ARRAYS + i * J:_WORK_ARRAYS + (i + 1) * J] for i in range(3))
        lref = (lref if lref.shape == shape else np.broadcast_to(lref, shape)).reshape(R, K)
        if kernel is not None:      # per-row β and λ as the kernel reads them: (1,) or (R,)
            k_beta, k_lam, consts = _kernel_param(beta_r), _kernel_param(lam_r), _kernel_consts()
        out = np.empty((R, K))
        no_optimum = None
        for r0 in range(0, R, rb):
            rs = slice(r0, min(R, r0 + rb))
            n = rs.stop - r0
            if law is None:
                Wb, Ab, Lb = W[:, r0 * K:rs.stop * K], A[:, r0 * K:rs.stop * K], None
            else:
                Wb, Ab, Lb = W[:, :n * K], A[:, :n * K], L[:, :n * K]
                law.fill(rs, Wb.reshape(J, n, K), Ab.reshape(J, n, K), Lb.reshape(J, n, K))
            sel, out_b = rs, out[rs]
            if kernel is not None and no_optimum is None and _kernel_takes(n, K, J):
                # The compiled iteration first; the rows it leaves (status 1) go through the
                # checks and the numpy solve below, as every row does without numba.
                status = np.empty(n, np.int8)
                if kernel(Wb, Ab, Ab if Lb is None else Lb, Lb is not None, lref[rs],
                          k_beta[rs] if k_beta.size > 1 else k_beta, k_lam[rs] if k_lam.size > 1 else k_lam,
                          out_b, status, consts, k_scratch) == 0:
                    continue
                left = np.flatnonzero(status)
                Wb, Ab = _take_rows(Wb, left, K), _take_rows(Ab, left, K)
                Lb = None if Lb is None else _take_rows(Lb, left, K)
                sel, n = r0 + left, left.size
                out_b = np.empty((n, K))
            a_lo = float(Ab.min(initial=0.0))
            if a_lo < -_JSD_NEGLIGIBLE_LOG:
                np.copyto(Ab, -np.inf, where=Ab < -_JSD_NEGLIGIBLE_LOG)
                a_lo = -np.inf
            lr_b = lref[sel]
            # (minima instead of isneginf(...).any(): one pass and no temporary)
            if (has_beta and float(lr_b.min()) == -np.inf) or a_lo == -np.inf:
                # Rows where every mode is left at zero have no optimum (every such row of the
                # batch is named: the remaining blocks are only checked).
                with np.errstate(invalid="ignore"):
                    unheld = ~np.any((Wb > 0) & (Ab > -np.inf), axis=0).reshape(n, K)
                b_r = _rows(beta_r, sel)
                dead = np.where(b_r > 0, np.isneginf(lr_b), unheld) if has_beta else unheld
                if dead.all(axis=-1).any():
                    if no_optimum is None:
                        no_optimum = np.zeros(R, bool)
                    no_optimum[sel] = dead.all(axis=-1)
            if no_optimum is not None:
                continue
            _jsd_rows(Wb, Ab, lr_b, _rows(beta_r, sel), _rows(lam_r, sel), has_beta, precise,
                      out_b, work[:, :n * K], Lb,
                      None if buf32 is None or n * K < _JSD_F32_MIN else buf32[:, :n * K])
            if out_b.base is not out:
                out[sel] = out_b
        if no_optimum is not None:
            raise ValueError(f"{_DISJOINT}{chk.at_index(no_optimum.reshape(batch))}")
        return out.reshape(shape)


#: Work memory kept between rounds, per thread (:func:`_work_memory`).
_WORK_MEMORY = threading.local()
#: Largest work allocation (float64 elements, 8 MB) kept for the next round; a larger one
#: (rows of more than ~100k modes, a K-point law's kernel scratch) is freed as usual.
_WORK_MEMORY_KEPT = 2**20


@contextlib.contextmanager
def _work_memory(n: int, n32: int):
    """Flat float64 (n,) and float32 (n32,) work arrays for one solve, reused from the
    previous solve of this thread.

    Fresh memory is faulted in by the kernel on first write, ~1 µs a page here, so that a
    round's 5 MB of work arrays cost as much as a log pass (1,856 page faults a round at
    10^4 × K = 16; 721 with the reuse, from the law and the result).  glibc hands large
    freed blocks back to the system, so the next round would fault them in again.  The
    arrays are taken out of the thread's store while in use (a solve started from inside
    another, e.g. by a teacher's own code, gets fresh ones) and kept after it when they
    are at most :data:`_WORK_MEMORY_KEPT` elements.  Their contents never reach a result:
    every work array is written before it is read.
    """
    store = _WORK_MEMORY.__dict__
    kept, kept32 = store.pop("d", None), store.pop("f", None)
    flat = kept if kept is not None and kept.size >= n else np.empty(n)
    flat32 = kept32
    if n32 and (kept32 is None or kept32.size < n32):
        flat32 = np.empty(n32, dtype=np.float32)
    try:
        yield flat[:n], (None if flat32 is None else flat32[:n32])
    finally:
        # The larger array that stays within the bound goes back (a round beyond it leaves
        # the memory kept before it in place).
        for key, new, old in (("d", flat, kept), ("f", flat32, kept32)):
            back = new if new is not None and new.size <= _WORK_MEMORY_KEPT else old
            if back is not None:
                store[key] = back


#: The kernel takes a block of at most this many rows, or any block of rows of at least
#: :data:`_KERNEL_WIDE` modes; larger blocks of shorter rows are faster in the numpy solve
#: (its passes run over the whole block, the kernel's per-row work does not shrink with K).
#: Kernel against numpy, whole blocks of 4k–64k rows (2026-11-30): K = 2 2.3×, K = 4 1.7×,
#: K = 8 1.25×, K = 12 1.03–1.10×, K = 16 0.95–0.99×, K = 24 0.87–0.94×, K = 32 0.84×;
#: at 512 rows of K = 16, 0.7×.
_KERNEL_ROWS = 512
_KERNEL_WIDE = 16
#: The kernel's scratch, (4J + 9)·K floats for a J-point law, may not exceed this many
#: (32 MB): a teacher whose law has K points (tilt, matrix, power-copy) and K in the
#: thousands stays with the numpy solve (K = 4000 took 0.9 GB against 0.5 GB).
_KERNEL_MAX_SCRATCH = 2**22


def _kernel_takes(rows: int, K: int, J: int) -> bool:
    """Whether a block of ``rows`` rows of K modes and a J-point law goes to the kernel."""
    return (rows <= _KERNEL_ROWS or K >= _KERNEL_WIDE) and (4 * J + _KERNEL_ARRAYS) * K <= _KERNEL_MAX_SCRATCH


def _kernel_param(x) -> np.ndarray:
    """A per-row parameter (a float or (R, 1)) as the kernel reads it: (1,) or (R,) float64."""
    if isinstance(x, np.ndarray):
        return np.ascontiguousarray(x, dtype=np.float64).reshape(-1)
    return np.array([x], dtype=np.float64)


def _take_rows(a: np.ndarray, rows: np.ndarray, K: int) -> np.ndarray:
    """Rows ``rows`` of a (J, n·K) block as a fresh contiguous (J, len(rows)·K) array."""
    J = a.shape[0]
    return _rows_view(a, a.shape[1] // K, K)[:, rows].reshape(J, rows.size * K)


def _points_first(a: np.ndarray, ndim: int) -> np.ndarray:
    """A (J, ..., K) law array with unit axes after J, so that it has ``ndim`` axes besides J."""
    pad = (1,) * (ndim - (a.ndim - 1))
    return a.reshape(a.shape[:1] + pad + a.shape[1:]) if pad else a


def _kernel_consts() -> np.ndarray:
    """The solve's constants in the order :func:`modesim._jsd_kernel.solve_rows` reads them
    (read at each call, so that both solves see the same values)."""
    return np.array([_JSD_RATIO_RANGE, _JSD_CUBIC_FROM, _JSD_CUBIC_TOL, _JSD_STEP_TOL, _JSD_FORWARD_START])


#: Work arrays of K the kernel takes besides its four (J, K) ones
#: (:data:`modesim._jsd_kernel.ARRAYS`; a test checks that they agree).
_KERNEL_ARRAYS = 9


#: Why the compiled kernel is not in use when numba is installed but it could not be loaded
#: (None otherwise); the numpy solve, exact too, is used instead.  ``modesim.show_versions()``
#: reports it.
_KERNEL_ERROR: Exception | None = None


@functools.lru_cache(maxsize=1)
def _kernel_from_numba():
    global _KERNEL_ERROR
    try:
        from ._jsd_kernel import solve_rows
    except ModuleNotFoundError as exc:
        if exc.name not in ("numba", "llvmlite"):
            raise
        return None
    except Exception as exc:  # a numba that cannot load or compile here (old numpy, no cache dir)
        _KERNEL_ERROR = exc
        return None
    return solve_rows


def _kernel():
    """The compiled iteration (:mod:`modesim._jsd_kernel`) when numba is installed (the
    ``fast`` extra) and the environment variable ``MODESIM_NUMBA`` is not ``0``; else None
    (the numpy solve alone; ``0``, ``false``, ``no`` and ``off`` in any case turn it off).
    The first call in a process loads it from numba's cache, or compiles it once (a few
    seconds)."""
    if os.environ.get("MODESIM_NUMBA", "1").strip().lower() in _NUMBA_OFF:
        return None
    return _kernel_from_numba()


#: Values of ``MODESIM_NUMBA`` (any case, stripped) that turn the compiled kernel off.
_NUMBA_OFF = ("0", "false", "no", "off")


def _per_row(x, batch: tuple, R: int):
    """A per-row parameter as a float or an (R, 1) array."""
    c = chk.col(x)
    if not isinstance(c, np.ndarray):
        return c
    return np.broadcast_to(c, batch + (1,)).reshape(R, 1)


def _rows_view(a: np.ndarray, R: int, K: int) -> np.ndarray:
    """A (J, R·K) array as a (J, R, K) view (never a copy: in-place updates must reach ``a``)."""
    v = a.view()
    v.shape = (a.shape[0], R, K)
    return v


def _row_sums(a: np.ndarray) -> np.ndarray:
    """Row sums of an (R, K) array as (R, 1): a matrix–vector product for short rows (numpy's
    reduction over a short last axis is ~8× slower; for K ≤ 128 both add in sequence, to the
    same accuracy), numpy's pairwise sum otherwise (and for a single row)."""
    R, K = a.shape
    if K <= 128 and R > 1:
        return (a @ _ones(K, a.dtype.char))[:, None]
    return a.sum(axis=-1, keepdims=True)


@functools.lru_cache(maxsize=16)
def _ones(K: int, dtype: str = "d") -> np.ndarray:
    ones = np.ones(K, dtype=dtype)
    ones.flags.writeable = False
    return ones


def _at_resolution(step: np.ndarray, u: np.ndarray) -> bool:
    """Every step below the tolerance or within 8 ulp of its u: a mode that β ≪ 1 holds at
    ``u ≈ log π_ref + ν/β`` (|u| ~ 1e11) cannot be resolved to 1e-7 in float64; the rounding
    of ν alone moves it by ulp(ν)/β ≈ ulp(u), so the iteration has converged there."""
    with np.errstate(invalid="ignore"):
        tol = np.fmax(8.0 * np.spacing(np.abs(u)), _JSD_STEP_TOL)
    return bool(np.all(np.abs(step) < tol))


def _largest_ulp(u: np.ndarray) -> float:
    """The spacing of floats at the largest finite |u| (u ≤ 0; −inf marks a mode left at zero)."""
    lo = float(u.min())
    if lo == -np.inf:
        lo = float(np.min(u, where=u > -np.inf, initial=0.0))
    return float(np.spacing(-lo))


def _rows(x, rs: slice):
    return x[rs] if isinstance(x, np.ndarray) else x


#: Work arrays (each of a block's length) that :func:`_jsd_rows` takes from :func:`_jsd_solve`.
_WORK_ARRAYS = 6


def _jsd_rows(W, A, lref, beta_c, lam_c, has_beta, precise, out, work, linear=None, buf32=None) -> None:
    """:func:`_jsd_solve` on a block of rows: ``W``, ``A`` (J, n·K) views of the law (overwritten),
    ``lref`` (n, K), ``beta_c``/``lam_c`` floats or (n, 1); writes log π into ``out`` (n, K),
    using ``work`` (_WORK_ARRAYS, n·K) as scratch.  ``linear`` (J, n·K): the law's values
    ``exp(A)`` when the teacher formed them (then λT/(1 − λ) costs a product, not an exp).
    ``buf32`` (2J + _F32_ARRAYS, n·K) float32: scratch for a float32 phase
    (:func:`_f32_phase`), or None."""
    J = W.shape[0]
    R, K = lref.shape
    N = R * K
    shape = (R, K)
    om = 1.0 - lam_c
    log_odds = np.log(lam_c) - np.log1p(-lam_c)            # log(λ/(1 − λ)), scalar or (n, 1)
    any_ref_zero = has_beta and float(lref.min()) == -np.inf
    ref_zero = np.isneginf(lref) if any_ref_zero else False
    safe_lref = np.where(ref_zero, 0.0, lref) if any_ref_zero else lref
    beta = beta_c[:, 0] if isinstance(beta_c, np.ndarray) else beta_c   # per row, for combine_*

    f, f1, h, q, p, scratch = work
    g = out.reshape(N)                                      # E_d log T, then the start, then log π
    with np.errstate(invalid="ignore"):
        _point_sum(W, A, g, scratch)                        # nan from 0·(−inf)
        if np.isnan(g).any():
            _point_sum(W, np.where(W > 0, A, 0.0), g, scratch)
    g = out
    if isinstance(log_odds, np.ndarray):
        _rows_view(A, R, K)[...] += log_odds                # log(λT/(1 − λ)), per row
    else:
        A += log_odds                                       # log(λT/(1 − λ))
    lo = float(A.min())
    if lo == -np.inf:
        lo = float(np.min(np.where(np.isneginf(A), np.inf, A)))
    hi = float(A.max())
    ratio_ok = lo > -_JSD_RATIO_RANGE and hi < _JSD_RATIO_RANGE
    m = log_m = None
    with np.errstate(divide="ignore"):
        if ratio_ok and linear is not None:                 # λT/(1 − λ) from the values
            lc, Tp = None, A
            odds = lam_c / om
            if isinstance(odds, np.ndarray):
                np.multiply(_rows_view(linear, R, K), odds, out=_rows_view(A, R, K))
            else:
                np.multiply(linear, odds, out=A)
            if float(Tp.min()) > 0.0:
                held = True
            else:
                m = _point_sum(W.reshape(J, N), Tp).reshape(shape)
                held = m > 0.0
        elif ratio_ok:
            lc, Tp = None, np.exp(A, out=A).reshape(J, N)   # λT/(1 − λ), in place
            if float(Tp.min()) > 0.0:
                held = True                                 # every T > 0 (the weights sum to 1)
            else:
                m = _point_sum(W.reshape(J, N), Tp).reshape(shape)   # (λ/(1 − λ))·E_d T
                held = m > 0.0
        else:
            lc, Tp = A.reshape(J, N), None
            log_m = logsumexp_last(np.moveaxis(A + np.log(W), 0, -1)).reshape(shape)
            held = log_m > -np.inf
    if isinstance(om, np.ndarray):
        _rows_view(W, R, K)[...] *= om
    else:
        W *= om
    wom = W
    dead = None
    if any_ref_zero or held is not True and not held.all():
        unheld = ~np.asarray(held)
        dead = np.broadcast_to(np.where(beta_c > 0, ref_zero, unheld) if has_beta else unheld, shape)
        if not dead.any():
            dead = None
    rev = g
    combine_reverse(rev, lref, beta, out=rev)
    near_forward = lam_c < _JSD_FORWARD_START
    if (near_forward.any() if isinstance(near_forward, np.ndarray) else near_forward) or not np.isfinite(rev).all():
        if log_m is None:
            if m is None:
                m = _point_sum(W, Tp).reshape(shape) / om
            with np.errstate(divide="ignore"):
                log_m = np.log(m)
        fwd = combine_forward(log_m - log_odds, lref, beta)           # log E_d T, mixed with π_ref
        with np.errstate(invalid="ignore"):
            np.copyto(rev, fwd, where=near_forward | ~np.isfinite(rev))
    u = rev
    if dead is not None:
        u[dead] = -np.inf
    beta_f = _flat(beta_c, shape, N) if has_beta else None
    lref_f = None if not has_beta else _flat(safe_lref, shape, N)
    if (buf32 is not None and dead is None and lc is None and not precise
            and max(-lo, hi) < _JSD_F32_RANGE):
        _f32_phase(u.reshape(N), Tp, wom, beta_f, lref_f, (R, K), buf32)
    # Normalise with one exp pass (u ≤ 0: no overflow); rows whose every entry underflows are
    # shifted by their maximum first.
    p = p.reshape(shape)
    with np.errstate(under="ignore", over="ignore"):
        np.exp(u, out=p)
    total = _row_sums(p)
    if not ((total > 1e-280).all() and (total < np.inf).all()):
        u -= u.max(axis=-1, keepdims=True)
        np.exp(u, out=p)
        total = _row_sums(p)
    u -= np.log(total)
    p /= total
    # Work buffers of the loop, flat (N,) views of (R, K) arrays (no allocation per iteration).
    u, p = u.reshape(N), p.reshape(N)
    rows = (R, K)
    dead_f = None if dead is None else np.ascontiguousarray(dead).reshape(N)

    big = np.inf
    cap = last = None
    for it in range(_JSD_MAX_ITER):
        us = u if dead_f is None else np.where(dead_f, 0.0, u)
        pe = p if dead_f is None else np.where(dead_f, 1.0, p)
        if ratio_ok and float(us.min()) > -_JSD_RATIO_RANGE:
            _jsd_eval(Tp, wom, pe, us, beta_f, lref_f, f, f1, h, q, precise)
        else:
            if lc is None:
                with np.errstate(divide="ignore"):
                    lc = np.log(Tp)                 # once; −inf where T = 0
            _jsd_eval_log(lc, wom, pe, us, beta_f, lref_f, f, f1, h, q)
        if dead_f is not None:
            f1[dead_f], h[dead_f], q[dead_f] = 1.0, 0.0, 0.0
        newton, nu, qs = _newton(f, f1, q, rows, scratch)
        low = float(newton.min())
        cubic = False
        if low < -1.0:
            # Modes more than a nat above their root: their linearisation is worthless (they
            # end with negligible mass), so ν comes from the rest.
            f2 = f.reshape(rows)
            far = newton < -1.0
            qn = np.divide(p if dead_f is None else np.where(dead_f, 0.0, p), f1).reshape(rows)
            qn[far.reshape(rows)] = 0.0
            qs = qn.sum(axis=-1, keepdims=True)
            nu = np.where(qs > 0, np.sum(qn * f2, axis=-1, keepdims=True) / np.where(qs > 0, qs, 1.0), nu)
            np.subtract(nu, f2, out=newton.reshape(rows))
            newton /= f1
        elif dead_f is None and max(-low, float(newton.max())) <= _JSD_CUBIC_FROM:
            _second_order_nu(newton, h, f1, p, qs, rows, f, scratch)
            cubic = True
        step = _halley(newton, h)
        low = float(step.min())
        if low < -1.0:
            nu_f = np.broadcast_to(nu, rows).reshape(N)
            _log_newton(step, f, nu_f, us, Tp, lc, wom, beta_f, lref_f)
            low = float(step.min())
        if it >= _JSD_SAFEGUARD_FROM:
            # A block still iterating after this many steps (typical ones end in 2–4): a mode
            # whose steps change sign is given a trust region, half its last step but at
            # least a nat, doubled again after each step of the same sign.  Without it a mode sitting in the
            # β-dominated regime above its root (φ ≈ β·(u − log π_ref) > 0 > ν, where neither
            # a Halley nor a log-Newton step is sound) overshot by ~800 nats, came back past
            # its start and cycled (found by review: CopyTeacher(1e-9), uniform
            # demonstrations, β = 1e-4, a base down to e^−104).
            if cap is None:
                cap, last = np.full(N, np.inf), np.zeros(N)
            turn = step * last
            np.multiply(cap, 2.0, out=cap, where=turn > 0)
            np.maximum(np.abs(last) * 0.5, 1.0, out=cap, where=turn < 0)     # never below a nat
            np.clip(step, -cap, cap, out=step)
            np.copyto(last, step)
            low = float(step.min())
        u += step
        if dead_f is not None:
            step[dead_f] = 0.0
            low = float(step.min())
        prev, big = big, max(float(step.max()), -low)
        # A step that stopped shrinking (the iteration converges cubically otherwise) may be at
        # the float resolution of u: then it has converged.  (Below 1e-3 nats, or below a few
        # ulp of the largest |u|: a mode held at log π_ref ≈ −1e20 cannot move by its steps
        # of a few nats.)
        if (big < (_JSD_CUBIC_TOL if cubic else _JSD_STEP_TOL)
                or (big > 0.1 * prev and (big < 1e-3 or big < 8.0 * _largest_ulp(u))
                    and _at_resolution(step, u))):
            # Last step: Σ π·e^δ = Σ π·(1 + δ + δ²/2 + δ³/6) to a relative δ⁴/24 < 1e-21,
            # without an exp pass.  δ is clipped to ±1 in the polynomial: a larger step is
            # at the resolution of |u| > 2^50, where π = 0 (its cube would overflow).
            c = np.clip(step, -1.0, 1.0, out=f)
            t = np.multiply(c, 1.0 / 6.0, out=scratch)
            t += 0.5
            t *= c
            t += 1.0
            step *= t
            step *= p
            u2, p2, s2 = u.reshape(rows), p.reshape(rows), step.reshape(rows)
            ps = _row_sums(p2)
            u2 -= np.log1p(_row_sums(s2) / ps) + np.log(ps)
            np.minimum(u2, 0.0, out=u2)
            return
        if not np.isfinite(big):
            break
        with np.errstate(over="ignore"):
            np.exp(u, out=p)
        u2, p2 = u.reshape(rows), p.reshape(rows)
        total = _row_sums(p2)
        if (total > 0.0).all() and (total < np.inf).all():
            u2 -= np.log(total)
            p2 /= total
        else:  # every entry of a row under- or overflowed: normalise in log space
            u2 -= logsumexp_last(u2, keepdims=True)
            np.exp(u, out=p)
    # Rows whose Halley iteration did not settle (extreme inputs: a mode's steps of 10^6
    # nats under a tiny β move ν with them) are solved one by one by the bracketed method.
    with np.errstate(divide="ignore"):
        lc_all = lc if lc is not None else np.log(Tp)
    last = np.abs(step).reshape(rows).max(axis=-1)
    for r in np.flatnonzero(~(last < _JSD_STEP_TOL)):
        sl = slice(r * K, (r + 1) * K)
        b = 0.0 if beta_f is None else float(beta_f[sl][0] if isinstance(beta_f, np.ndarray) else beta_f)
        u[sl] = _bracketed_row(lc_all[:, sl], wom[:, sl], b, None if lref_f is None else lref_f[sl],
                               None if dead_f is None else dead_f[sl], u[sl])


def _bracketed_row(lc, w, beta: float, lref, dead, start) -> np.ndarray:
    """One row's optimum by nested bracketed solves (theory §8.1): the fallback for rows the
    Halley iteration does not settle.  Returns normalised log π (K,).

    Given ν the stationarity conditions separate: φ_y(u) = −Σ_j w_jy·softplus(lc_jy − u) +
    β·(u − log π_ref(y)) is increasing in u, so each mode's root is bracketed (by doubling
    from the start) and found by Newton steps kept inside the bracket (bisection when a step
    leaves it).  Σ_y e^{u_y(ν)} is increasing in ν, so ν is found the same way on
    h(ν) = log Σ e^{u(ν)} (h' = Σ (e^u/φ')/Σ e^u), with ν < 0 when β = 0 (φ < 0 there).
    ``lc`` = log(λT/(1 − λ)), ``w`` = (1 − λ)·weights, both (J, K); ``dead`` marks modes
    held at zero.  Slow (a few thousand evaluations of φ) but certain to converge.
    """
    K = lc.shape[1]
    live = np.ones(K, bool) if dead is None else ~dead
    lc, w = lc[:, live], w[:, live]
    ref = np.zeros(int(live.sum())) if lref is None or beta == 0.0 else lref[live]
    u0 = start[live]
    u0 = np.where(np.isfinite(u0), u0, 0.0)

    def phi(u):     # φ and φ' in the iteration's log form (_jsd_eval_log; π/φ' is not needed)
        f, f1, h, q = (np.empty(u.size) for _ in range(4))
        _jsd_eval_log(lc, w, np.zeros(u.size), u, beta if beta > 0.0 else None, ref if beta > 0.0 else None,
                      f, f1, h, q)
        return f, f1

    def bracket(nu, u, sign):
        """Points below (sign −1) or above (+1) each mode's root at ν, by doubling steps."""
        pt, d = u.copy(), np.ones_like(u)
        for _ in range(1100):
            f = phi(pt)[0]
            move = (f > nu) if sign < 0 else (f < nu)
            if not move.any():
                return pt
            pt = np.where(move, pt + sign * d, pt)
            d = np.where(move, 2.0 * d, d)
        raise RuntimeError("the JSD round's optimum could not be bracketed (please report this input)")

    def modes(nu, u):
        lo, hi = bracket(nu, u, -1), bracket(nu, u, +1)
        u = np.clip(u, lo, hi)
        for _ in range(400):
            f, f1 = phi(u)
            g = f - nu
            hi = np.where(g > 0, u, hi)
            lo = np.where(g < 0, u, lo)
            with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
                new = u - g / f1
            new = np.where((new > lo) & (new < hi), new, 0.5 * (lo + hi))
            tol = 4.0 * np.spacing(np.maximum(np.abs(u), 1.0))
            done = (np.abs(new - u) <= tol) | (hi - lo <= tol) | (g == 0)
            u = np.where(g == 0, u, new)
            if done.all():
                return u
        raise RuntimeError("the JSD round's optimum did not converge in its bracketed solve (please report this input)")

    def h(nu, u):
        u = modes(nu, u)
        m = float(u.max())
        e = np.exp(u - m)
        total = float(e.sum())
        return u, m + math.log(total), float(np.sum(e / phi(u)[1])) / total

    nu = float(np.median(phi(u0)[0]))
    if beta == 0.0:
        nu = min(nu, -1e-300)
    u, hv, dh = h(nu, u0)
    lo_nu, hi_nu = (nu, math.inf) if hv < 0 else (-math.inf, nu)
    d = 1.0
    while math.isinf(lo_nu) or math.isinf(hi_nu):                     # bracket ν
        if math.isinf(hi_nu):       # upwards: ν + d, or towards 0⁻ when β = 0 (φ < 0)
            trial = lo_nu + d if beta > 0.0 else lo_nu / (2.0 * d)
        else:                       # downwards: h → −∞ as ν → −∞
            trial = hi_nu - d * max(1.0, abs(hi_nu))
        u, hv, dh = h(trial, u)
        if hv < 0:
            lo_nu = trial
        else:
            hi_nu = trial
        d *= 2.0
        if d > 1e300:
            raise RuntimeError("the JSD round's multiplier could not be bracketed (please report this input)")
    nu = lo_nu
    for _ in range(400):
        u, hv, dh = h(nu, u)
        if hv < 0:
            lo_nu = nu
        elif hv > 0:
            hi_nu = nu
        new = nu - hv / dh if dh > 0 else 0.5 * (lo_nu + hi_nu)
        if not lo_nu < new < hi_nu:
            new = 0.5 * (lo_nu + hi_nu)
        if abs(hv) <= 4e-16 or hi_nu - lo_nu <= 4.0 * np.spacing(max(abs(lo_nu), abs(hi_nu))):
            break
        nu = new
    out = np.full(K, -np.inf)
    out[live] = u - hv
    return np.minimum(out, 0.0)
