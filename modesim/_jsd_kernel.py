"""The JSD round's Halley iteration compiled with numba (theory §8.1, "The compiled kernel").

Imported only when the optional extra ``modesim[fast]`` (numba) is installed and a JSD round
is solved (:func:`modesim.jsd_solve._kernel`): ``import modesim`` never loads numba.  It
takes blocks of at most 512 rows, or of rows of at least 16 modes
(:func:`modesim.jsd_solve._kernel_takes`).
:func:`solve_rows` runs, row by row, the iteration of the numpy solve
(:func:`modesim.jsd_solve._jsd_rows`), with its constants: the reverse-KL start, a Halley
step per mode with ν from the linearised constraint, the second-order ν once every Newton
step is below 1e-4, and the stop after such a step below 5e-6 (a first-order one below
1e-7).  The result of a row it solves depends on that row alone.

Where it differs from the numpy solve, it does so for speed at the same accuracy (theory
§8.1): no float32 phase; once every log π has moved by less than 0.1 since the last logs,
``log(1 + r)`` is updated by Taylor polynomials instead of recomputed (longer ones above a
move of 1e-2); ``π·e^δ`` likewise once every |δ| < 0.1; products and sums are contracted
into fused multiply-adds where the compiler finds them (``fastmath={"contract"}``, one
rounding instead of two); sums are blocked and compensated (:func:`_fsum`); the fresh
logs and exps are taken a work array at a time by loops the compiler vectorises
(:func:`log_pass`, :func:`exp_pass`: fdlibm's algorithms, below one ulp, against libm's
scalar calls).  The two solves agree to ~1e-14 in log space (``tests/test_jsd.py``).

It solves the ordinary rows and leaves the others to the numpy solve, the general mechanism
(``status[r] = 1``): λ < 0.1 (the forward start), a ratio λT/((1 − λ)π) beyond e^±650 (the
log form), a reference zero under β > 0 or any non-finite input (modes held at zero), a
mode more than a nat above its root (the Newton step on log(−φ)), a step that stopped
shrinking above 1e-7 (the at-resolution stop), or no convergence in :data:`MAX_ITER`
iterations.
"""

from __future__ import annotations

import math

import numba
import numpy as np

#: Iterations before a row is handed to the numpy solve (typical rows take 3–4).
MAX_ITER = 60
#: Work arrays of K in ``scratch`` besides the 4J of the law and its intermediates.
ARRAYS = 9


@numba.njit(cache=True, nogil=True, inline="always")
def _add(s, c, x):  # pragma: no cover - compiled
    """Neumaier's compensated sum: ``(s, c)`` after adding ``x`` (the total is ``s + c``)."""
    t = s + x
    if abs(s) >= abs(x):
        c += (s - t) + x
    else:
        c += (x - t) + s
    return t, c


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _fsum(a, n):  # pragma: no cover - compiled
    """``Σ a[:n]``: blocks of eight added as a balanced tree (three roundings each), the block
    sums by Neumaier's compensated sum: an error of a few ulp of Σ|a| whatever n (numpy's
    pairwise sum: O(log n)), and the additions of a block pipeline instead of waiting on
    one running total."""
    s = 0.0
    c = 0.0
    i = 0
    while i + 8 <= n:
        blk = ((a[i] + a[i + 1]) + (a[i + 2] + a[i + 3])) + ((a[i + 4] + a[i + 5]) + (a[i + 6] + a[i + 7]))
        s, c = _add(s, c, blk)
        i += 8
    while i < n:
        s, c = _add(s, c, a[i])
        i += 1
    return s + c


# The logs and exps of whole work arrays, in loops the compiler vectorises (a call to libm's
# log or exp is scalar: ~9 ns an element inside the kernel, against ~2.5 ns here).  The
# algorithms are fdlibm's (Sun Microsystems, 1993; the ones glibc's and musl's scalar
# functions descend from): error below 1 ulp, measured below 0.80 ulp (log) and 0.90 ulp (exp)
# against 200-bit references (``tests/test_jsd.py``).  The bits of a float are read and
# written through an int64 view of the same array.
_LN2_HI = 6.93147180369123816490e-01      # ln 2 to 32 bits (k·ln2_hi is exact for |k| < 2^11)
_LN2_LO = 1.90821492927058770002e-10      # ln 2 − ln2_hi
_INV_LN2 = 1.44269504088896338700e+00
_LG1, _LG2, _LG3, _LG4, _LG5, _LG6, _LG7 = (
    6.666666666666735130e-01, 3.999999999940941908e-01, 2.857142874366239149e-01, 2.222219843214978396e-01,
    1.818357216161805012e-01, 1.531383769920937332e-01, 1.479819860511658591e-01)
_P1, _P2, _P3, _P4, _P5 = (1.66666666666666019037e-01, -2.77777777770155933842e-03, 6.61375632143793436117e-05,
                           -1.65339022054652515390e-06, 4.13813679705723846039e-08)
#: x + 1.5·2^52 rounds x (|x| < 2^51) to an integer, held in the low bits of the sum.
_SHIFT = 6755399441055744.0
_SHIFT_BITS = 0x4338000000000000
_TWO_M1000 = 9.33263618503218878990e-302   # 2^−1000
#: exp overflows above this (fdlibm's o_threshold; e^709.782712893384 itself is the largest
#: finite float, 1.7976931348622732e308).
_EXP_MAX = 7.09782712893383973096e+02


@numba.njit(cache=True, nogil=True, error_model="numpy", fastmath={"contract"})
def log_pass(x, a, n):  # pragma: no cover - compiled
    """``a[:n] = log(x[:n])`` for x ≥ 1 (``1 + r`` here), +inf and NaN (kept).  ``x`` may
    be ``a`` (in place; the same results, but the compiled loop then finds the arrays
    overlapping and runs scalar).

    fdlibm's ``__ieee754_log``: a = 2^k·m with m in [√2/2, √2), f = m − 1, s = f/(2 + f),
    ``log m = f − (f²/2 − s·(f²/2 + R(s²)))`` with R its degree-14 minimax polynomial, plus
    k·ln 2 in two parts.  Arguments below 1 (down to the smallest normal) are handled too; zero,
    negatives and subnormals are not (the kernel never has them here)."""
    xi = x.view(np.int64)
    ai = a.view(np.int64)
    for i in range(n):
        xv = x[i]
        b = xi[i]
        hx = (b >> 32) & 0xfffff
        half = (hx + 0x95f64) & 0x100000            # m ≥ √2: take m/2, k + 1
        k = (b >> 52) - 1023 + (half >> 20)
        ai[i] = (b & 0xfffffffffffff) | ((half ^ 0x3ff00000) << 32)
        f = a[i] - 1.0
        s = f / (2.0 + f)
        dk = float(k)
        z = s * s
        w = z * z
        R = z * (_LG1 + w * (_LG3 + w * (_LG5 + w * _LG7))) + w * (_LG2 + w * (_LG4 + w * _LG6))
        hfsq = 0.5 * f * f
        v1 = dk * _LN2_HI - ((hfsq - (s * (hfsq + R) + dk * _LN2_LO)) - f)
        v2 = dk * _LN2_HI - ((s * (f - R) - dk * _LN2_LO) - f)
        v = v1 if ((hx - 0x6147a) | (0x6b851 - hx)) > 0 else v2
        a[i] = v if xv < math.inf else xv


@numba.njit(cache=True, nogil=True, error_model="numpy", fastmath={"contract"})
def exp_pass(x, a, n):  # pragma: no cover - compiled
    """``a[:n] = exp(x[:n])`` for any x (``x`` may be ``a``, as for :func:`log_pass`).

    fdlibm's ``__ieee754_exp``: a = k·ln 2 + r (ln 2 in two parts, k by rounding a/ln 2),
    ``e^r = 1 − ((lo − r·c/(2 − c)) − hi)`` with c = r − r²·P(r²) (P of degree 4), then
    2^k put into the exponent bits (k < −1021: 2^(k+1000) there, then × 2^−1000, so that a
    subnormal result is rounded once).  Below −745.2 the result is 0, above ln(2^1024)
    (≈ 709.78) inf, and NaN stays NaN."""
    ai = a.view(np.int64)
    for i in range(n):
        xv = x[i]
        a[i] = xv * _INV_LN2 + _SHIFT
        k = ai[i] - _SHIFT_BITS
        kd = a[i] - _SHIFT
        hi = xv - kd * _LN2_HI
        lo = kd * _LN2_LO
        r = hi - lo
        t = r * r
        c = r - t * (_P1 + t * (_P2 + t * (_P3 + t * (_P4 + t * _P5))))
        a[i] = 1.0 - ((lo - (r * c) / (2.0 - c)) - hi)
        deep = k < -1021
        ai[i] = ai[i] + ((k + 1000 if deep else k) << 52)
        v = a[i] * _TWO_M1000 if deep else a[i]
        a[i] = 0.0 if xv <= -745.2 else (v if xv <= _EXP_MAX else xv + math.inf)


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _normalise(u, p, tmp, K):  # pragma: no cover - compiled
    """``u -= log Σ e^u`` and ``p = e^u`` (shifted by the largest u first; ``tmp``: a work
    array); False if not finite."""
    m = -math.inf
    for y in range(K):
        m = max(m, u[y])
    if not (abs(m) < math.inf):
        return False
    for y in range(K):
        tmp[y] = u[y] - m
    exp_pass(tmp, p, K)
    tot = _fsum(p, K)
    lt = math.log(tot)
    shift = m + lt
    inv = 1.0 / tot
    for y in range(K):
        # p = e^(u − m)/Σ made e^u as u is stored after the shift (to ulp(u) ≈ 1e-13 apart
        # at u ≈ −600, which a first step below 0.1, by Taylor steps of π, never repairs):
        # the two roundings of u (u − m, u − shift) differ by (un − a) + log Σ, to first order.
        a = u[y] - m
        un = u[y] - shift
        p[y] *= inv * (1.0 + ((un - a) + lt))
        u[y] = un
    return True


_RO1, _RO2 = (numba.types.Array(numba.float64, d, "A", readonly=True) for d in (1, 2))
#: Returns the number of rows left to the numpy solve.  Inputs read-only (a broadcast view
#: or a writeable array both match), any strides.
_SIG = numba.types.int64(_RO2, _RO2, _RO2, numba.boolean, _RO2, _RO1, _RO1,
                        numba.float64[:, :], numba.int8[:], _RO1, numba.float64[:, ::1])


@numba.njit(_SIG, cache=True, nogil=True, error_model="numpy", fastmath={"contract"})
def solve_rows(W, A, L, has_linear, lref, beta, lam, out, status, consts, scratch):  # pragma: no cover - compiled
    """Solve every row of a block; returns how many rows it left to the numpy solve.

    ``W``, ``A`` (J, R·K): the law's weights and log values; ``L`` (J, R·K) its values when
    ``has_linear`` (else ignored); ``lref`` (R, K); ``beta``/``lam`` (R,), or (1,) for one
    value for every row; ``out`` (R, K) receives log π; ``status`` (R,) 0 solved, 1 left to
    the numpy solve; ``consts`` (ratio range, cubic-from, cubic tolerance, step tolerance,
    forward start; :func:`modesim.jsd_solve._kernel_consts`, read at each call so that
    the two solves share them); ``scratch`` (4J + :data:`ARRAYS`, K).  Writes only
    ``out``, ``status`` and ``scratch``.

    The work of an iteration is split into passes over a row's modes (reciprocals and
    products, then the logs, then φ and its derivatives, then the compensated sums), so
    that the compiler can vectorise the arithmetic passes; only ``log`` and ``exp`` are scalar
    calls.
    """
    J = W.shape[0]
    R, K = lref.shape
    ratio_range, cubic_from, cubic_tol, step_tol, forward_start = consts[0], consts[1], consts[2], consts[3], consts[4]
    o = 4 * J
    u, p, ip, phi, d1, hh, nw, lr, S = (scratch[o], scratch[o + 1], scratch[o + 2], scratch[o + 3], scratch[o + 4],
                                        scratch[o + 5], scratch[o + 6], scratch[o + 7], scratch[o + 8])
    left = R
    last_lm = math.nan
    om = lo = odds = 0.0
    for r in range(R):
        status[r] = 1
        lm = lam[r if lam.shape[0] > 1 else 0]
        b = beta[r if beta.shape[0] > 1 else 0]
        if not (lm >= forward_start and lm < 1.0 and b >= 0.0 and b < math.inf):
            continue
        if lm != last_lm:     # (λ is usually one value for every row)
            last_lm = lm
            om = 1.0 - lm
            lo = math.log(lm) - math.log1p(-lm)
            odds = lm / om
        inv = 1.0 / (1.0 + b)
        wb = b * inv
        base = r * K
        # The row's law as λT/(1 − λ) and (1 − λ)·w, and the start (theory §3.2):
        # u = E_d log T/(1 + β) + (β/(1 + β))·log π_ref (β = 0: the reference is ignored).
        bad = 0
        for y in range(K):
            u[y] = 0.0
        for j in range(J):
            Tj, Wj = scratch[j], scratch[J + j]
            for y in range(K):
                a = A[j, base + y]
                w = W[j, base + y]
                x = a + lo
                bad += not (w >= 0.0 and x > -ratio_range and x < ratio_range)
                u[y] += w * a
                Wj[y] = om * w
            if has_linear:
                for y in range(K):
                    Tj[y] = odds * L[j, base + y]
            else:
                for y in range(K):
                    Tj[y] = math.exp(A[j, base + y] + lo)
        if b > 0.0:
            for y in range(K):
                v = lref[r, y]
                bad += not (v > -math.inf)
                lr[y] = v
                u[y] = u[y] * inv + wb * v
        if bad or not _normalise(u, p, S, K):
            continue
        big = math.inf
        moved = math.inf    # a bound on the last move of every log π (see below)
        lt = 0.0
        for _ in range(MAX_ITER):
            # log(1 + r) (r = λT/((1 − λ)π); λ ≥ 0.1: log(1 + r), as the numpy solve with
            # precise=False), by Taylor increments or afresh (by :func:`log_pass`).
            lowest = math.inf
            for y in range(K):
                lowest = min(lowest, u[y])
            if not (lowest > -ratio_range):
                break
            if moved < 1e-2:
                # Every log π moved by Δ = δ − log Σ with |Δ| ≤ ``moved`` since the last logs:
                # log(1 + r e^{−Δ}) = log(1 + r) + log1p(σ·expm1(−Δ)), σ = 1 − 1/(1 + r), both
                # by their Taylor polynomials.  Below 1e-2: x = σ·expm1(−Δ), |x| < 0.0101, log1p
                # to x⁸ (error below x⁹/9 < 1.2e-19), expm1 to Δ⁶ (below |Δ|⁷/5040 < 2e-18).
                # Below 0.1 (the step after the first, typically): |x| ≤ e^0.1 − 1 < 0.1052,
                # log1p to x¹⁷ (below x¹⁸/18 < 1.5e-19), expm1 to Δ¹⁰ (below Δ¹¹/11! < 2.6e-19).
                # The same value as a fresh log to about an ulp, at the cost of a few products
                # (a log is ~4.5 ns an element here, scalar).
                for j in range(J):
                    Oj, Ij = scratch[2 * J + j], scratch[3 * J + j]
                    for y in range(K):
                        d = lt - nw[y]
                        e = d * (1.0 + d * 0.5 * (1.0 + d * (1.0 / 3.0) * (1.0 + d * 0.25 * (
                            1.0 + d * 0.2 * (1.0 + d * (1.0 / 6.0))))))
                        x = (1.0 - Ij[y]) * e
                        Oj[y] += x * (1.0 - x * (0.5 - x * ((1.0 / 3.0) - x * (0.25 - x * (0.2 - x * (
                            (1.0 / 6.0) - x * ((1.0 / 7.0) - x * 0.125)))))))
            elif moved < 0.1:
                for y in range(K):
                    d = lt - nw[y]
                    S[y] = d * (1.0 + d * (1.0 / 2.0) * (1.0 + d * (1.0 / 3.0) * (1.0 + d * (1.0 / 4.0) * (
                        1.0 + d * (1.0 / 5.0) * (1.0 + d * (1.0 / 6.0) * (1.0 + d * (1.0 / 7.0) * (
                            1.0 + d * (1.0 / 8.0) * (1.0 + d * (1.0 / 9.0) * (1.0 + d * (1.0 / 10.0))))))))))
                for j in range(J):
                    Oj, Ij = scratch[2 * J + j], scratch[3 * J + j]
                    for y in range(K):
                        x = (1.0 - Ij[y]) * S[y]
                        Oj[y] += x * (1.0 - x * (1.0 / 2.0 - x * (1.0 / 3.0 - x * (1.0 / 4.0 - x * (
                            1.0 / 5.0 - x * (1.0 / 6.0 - x * (1.0 / 7.0 - x * (1.0 / 8.0 - x * (
                                1.0 / 9.0 - x * (1.0 / 10.0 - x * (1.0 / 11.0 - x * (1.0 / 12.0 - x * (
                                    1.0 / 13.0 - x * (1.0 / 14.0 - x * (1.0 / 15.0 - x * (
                                        1.0 / 16.0 - x * (1.0 / 17.0)))))))))))))))))
            else:
                for y in range(K):
                    ip[y] = 1.0 / p[y]
                for j in range(J):
                    Tj, Oj, Ij = scratch[j], scratch[2 * J + j], scratch[3 * J + j]
                    for y in range(K):
                        Ij[y] = 1.0 + Tj[y] * ip[y]     # (Ij is rewritten below)
                    log_pass(Ij, Oj, K)
                    for y in range(K):
                        # log1p(r) = log(u) + (r − (u − 1))/u, u = 1 + r rounded (its rounding
                        # put back; its square is below 1e-32): a bare log(1 + r) is ~1e-16
                        # off whatever r, which moves a mode by that over φ', down to 6e-5
                        # (as the numpy solve, _jsd_eval).
                        Oj[y] += (Tj[y] * ip[y] - (Ij[y] - 1.0)) / Ij[y]
            # φ = β·(u − log π_ref) − Σ w·log(1 + r), φ' = β + Σ w·σ (σ = r/(1 + r)) and
            # Σ w·σ(1 − σ); kept as φ, 1/φ' and h = φ''/(2φ').  σ = T/(π + T) and
            # 1 − σ = π/(π + T) (kept for the next increments) from one division.
            if b > 0.0:
                for y in range(K):
                    phi[y] = b * (u[y] - lr[y])
            else:
                for y in range(K):
                    phi[y] = 0.0
            for j in range(J):
                Tj, Wj, Oj, Ij = scratch[j], scratch[J + j], scratch[2 * J + j], scratch[3 * J + j]
                for y in range(K):
                    phi[y] -= Wj[y] * Oj[y]
                if j == 0:
                    for y in range(K):
                        iv = 1.0 / (p[y] + Tj[y])
                        iy = p[y] * iv
                        Ij[y] = iy
                        sw = Wj[y] * (Tj[y] * iv)
                        d1[y] = b + sw
                        hh[y] = sw * iy
                else:
                    for y in range(K):
                        iv = 1.0 / (p[y] + Tj[y])
                        iy = p[y] * iv
                        Ij[y] = iy
                        sw = Wj[y] * (Tj[y] * iv)
                        d1[y] += sw
                        hh[y] += sw * iy
            ok = True
            for y in range(K):
                ok &= d1[y] > 0.0 and abs(phi[y]) < math.inf
            if not ok:
                break
            # ν from the linearised constraint Σ π·(ν − φ)/φ' = 0, and the Newton steps.
            for y in range(K):
                idd = 1.0 / d1[y]
                d1[y] = idd
                hh[y] = (-0.5 * hh[y]) * idd
                q = p[y] * idd
                S[y] = q
                ip[y] = q * phi[y]
            qs = _fsum(S, K)
            nu = _fsum(ip, K) / qs
            low = math.inf
            high = -math.inf
            for y in range(K):
                n = (nu - phi[y]) * d1[y]
                nw[y] = n
                low = min(low, n)
                high = max(high, n)
            if low < -1.0:      # a mode far above its root: the numpy solve's log-Newton step
                break
            cubic = max(-low, high) <= cubic_from
            if cubic:           # the multiplier to second order (jsd_solve._second_order_nu)
                for y in range(K):
                    n = nw[y]
                    S[y] = p[y] * ((0.5 * n * n) - hh[y] * (n * n))
                eps = _fsum(S, K) / qs
                for y in range(K):
                    nw[y] -= eps * d1[y]
            # Halley steps (denominator kept ≥ 1/2); then π·e^δ, by exp or, when every
            # |δ| < 1e-2, by its Taylor polynomial to δ⁶ (relative error below δ⁷/5040 < 2e-18),
            # below 0.1 to δ¹⁰ (below δ¹¹/11! < 2.6e-19).  δ is the step as u took it, the
            # rounded u + δ less u (exact while |δ| ≤ |u|), so that π stays e^u as stored.
            prev = big
            for y in range(K):
                nw[y] = nw[y] / max(hh[y] * nw[y] + 1.0, 0.5)
            big = 0.0
            for y in range(K):
                st = nw[y]
                un = u[y] + st
                nw[y] = un - u[y]
                u[y] = un
                big = max(big, abs(st))
            if big < 1e-2:
                for y in range(K):
                    st = nw[y]
                    em1 = st * (1.0 + st * 0.5 * (1.0 + st * (1.0 / 3.0) * (1.0 + st * 0.25 * (
                        1.0 + st * 0.2 * (1.0 + st * (1.0 / 6.0))))))
                    p[y] += p[y] * em1
            elif big < 0.1:
                for y in range(K):
                    st = nw[y]
                    em1 = st * (1.0 + st * (1.0 / 2.0) * (1.0 + st * (1.0 / 3.0) * (1.0 + st * (1.0 / 4.0) * (
                        1.0 + st * (1.0 / 5.0) * (1.0 + st * (1.0 / 6.0) * (1.0 + st * (1.0 / 7.0) * (
                            1.0 + st * (1.0 / 8.0) * (1.0 + st * (1.0 / 9.0) * (1.0 + st * (1.0 / 10.0))))))))))
                    p[y] += p[y] * em1
            else:
                # From u itself, not p·e^δ: u has just been rounded (to ulp(u), ~1e-13 while a
                # mode climbs from −650), and the result is u − log Σ p, so p must be e^u as
                # stored, not as it would be exactly (found by review: Σπ − 1 was −1e-13).
                exp_pass(u, p, K)
            tot = _fsum(p, K)
            if not (big < math.inf and tot > 1e-280 and tot < math.inf):
                break
            lt = math.log(tot)
            if big < (cubic_tol if cubic else step_tol):
                for y in range(K):
                    out[r, y] = min(u[y] - lt, 0.0)
                status[r] = 0
                left -= 1
                break
            if big > 0.1 * prev and big < 1e-3:
                break       # stopped shrinking: the numpy solve's at-resolution stop decides
            it = 1.0 / tot
            for y in range(K):
                # π/Σ, made e^u as u is stored after the shift (as in _normalise): the
                # rounding of u − log Σ, (un − u) + log Σ, is added to first order.
                un = u[y] - lt
                p[y] *= it * (1.0 + ((un - u[y]) + lt))
                u[y] = un
            moved = big + abs(lt)
    return left
