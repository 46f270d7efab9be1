"""Closed forms of the remedies (theory §11), each validated through :mod:`modesim._checks`.

=====================================  ==========================================================
:func:`copy_gain`                      ``L(y) = log(1 + α/((1 − α)ρ(y)))``: the copy teacher's gain
:func:`mixture_jensen_gap`             exact ``E log X − log E X``, ``X = (1 − α)ρ + α·Bin(m, p)/m``
:func:`mixture_gap_leading`            its leading term ``−α²p(1 − p)/(2m·((1 − α)ρ + αp)²)``
:func:`mixture_gap_bound`              an explicit bound on the rest (O(m⁻²))
:func:`power_ipw_threshold`            ``ρ*_e``: where ``ρ^(1−e)·L(ρ)`` turns from rising to falling
:func:`blend_exponent`                 ``μ/(μ + β)``: the blended round's share of SD's distortion
:func:`diversity_bonus_reward`         ``E[r | y]`` of GRPO's diversity bonus
=====================================  ==========================================================
"""

from __future__ import annotations

import math

import numpy as np

from .. import _checks as chk

__all__ = [
    "copy_gain",
    "mixture_jensen_gap",
    "mixture_gap_leading",
    "mixture_gap_bound",
    "power_ipw_threshold",
    "blend_exponent",
    "diversity_bonus_reward",
]


def _alpha(alpha):
    return chk.real(alpha, "alpha", low=0.0, high=1.0, high_open=True)


def copy_gain(rho, alpha):
    """``L(ρ) = log(1 + α/((1 − α)·ρ))``, the copy teacher's log-gain of a demonstrated mode (theory §11).

    ``Ī(y) = log(1 − α) + D(y)·L(ρ(y))`` for the copy teacher (theory §3.3); evaluated as
    ``softplus(log(α/(1 − α)) − log ρ)`` (no overflow for tiny ρ).  The balanced law is
    ``D* ∝ 1/L`` on C; no power law ``D ∝ ρ^(1−e)`` balances (statements W1, W2).

    Parameters
    ----------
    rho : float or array in (0, 1]
        Teacher-base probability ρ(y) of the mode.
    alpha : float or array in [0, 1)
        Copy strength; broadcasts against ``rho``.

    Returns
    -------
    float or ndarray
        A float for scalar inputs, else an array of the broadcast shape of ``rho`` and
        ``alpha``; in nats, ≥ 0 (0 at α = 0).

    Raises
    ------
    ValueError
        ``rho`` outside (0, 1] or ``alpha`` outside [0, 1) (NaN and ±inf included; the
        message names the first offending grid index); array arguments that do not
        broadcast together (naming the shapes).

    Notes
    -----
    Source: the copy teacher's closed form (theory §3.3); its role in the remedies is ours
    (theory §11).

    >>> from modesim.remedies import copy_gain
    >>> round(float(copy_gain(0.5, 0.5)), 6)
    1.098612
    """
    r = chk.real(rho, "rho", low=0.0, high=1.0, low_open=True)
    a = _alpha(alpha)
    chk.param_shape(rho=r, alpha=a)
    with np.errstate(divide="ignore"):
        z = np.log(a) - np.log1p(-np.asarray(a)) - np.log(r)
    out = np.logaddexp(0.0, z)
    return float(out) if np.ndim(out) == 0 else out


def _gap_args(alpha, m, rho, p):
    a = _alpha(alpha)
    m = chk.integer(m, "m", low=1)
    r = chk.real(rho, "rho", low=0.0, high=1.0, low_open=True)
    q = chk.real(p, "p", low=0.0, high=1.0)
    chk.param_shape(alpha=a, rho=r, p=q)
    return np.asarray(a, dtype=np.float64), m, np.asarray(r, dtype=np.float64), np.asarray(q, dtype=np.float64)


def _log1p_minus_x(x: np.ndarray) -> np.ndarray:
    """``log(1 + x) − x`` to a few ulp of its own size: a series for |x| ≤ 1/4, else direct."""
    x = np.asarray(x, dtype=np.float64)
    small = np.abs(x) <= 0.25
    xs = np.where(small, x, 0.0)
    series = np.zeros_like(xs)
    power = xs * xs
    for k in range(2, 30):                 # 0.25^k/k < 1e-18 by k = 29
        series += (-1.0) ** (k + 1) * power / k
        power = power * xs
    with np.errstate(divide="ignore", invalid="ignore"):
        direct = np.log1p(np.where(small, 0.0, x)) - np.where(small, 0.0, x)
    return np.where(small, series, direct)


def _scalar(x):
    return float(x) if np.ndim(x) == 0 else x


def mixture_jensen_gap(alpha, m, rho, p):
    """``E log X − log E X`` for ``X = (1 − α)ρ + α·Bin(m, p)/m``, exactly (theory §11, M1).

    The reverse-KL round of the mixture of m copy teachers tilts the base by this gap:
    with ``ρ = π0(y)`` and ``p = D(y)`` (``= π0(y|C)`` for self-generated demonstrations),
    ``Ī_m(y) = log((1 − α)ρ + αp) − log ρ + gap``.  Summed over n = 0 … m with binomial
    weights formed in log space (``math.lgamma``) and ``log(X/μ)`` as
    ``log1p(α(n/m − p)/μ)`` (no cancellation); O(m) per entry.  ≤ 0 (Jensen), 0 at p ∈ {0, 1}.

    Parameters
    ----------
    alpha : float or array in [0, 1)
        Copy strength.
    m : int >= 1
        Demonstrations (teachers in the mixture).
    rho : float or array in (0, 1]
        Teacher-base probability ``ρ = π0(y)``.
    p : float or array in [0, 1]
        Demonstration probability ``p = D(y)``.

    Returns
    -------
    float or ndarray
        A float for scalar inputs, else an array of the broadcast shape of ``alpha``,
        ``rho`` and ``p``; in nats, ≤ 0.

    Raises
    ------
    ValueError
        ``alpha`` outside [0, 1), ``m`` not an integer >= 1, ``rho`` outside (0, 1] or ``p``
        outside [0, 1] (NaN and ±inf included); array arguments that do not broadcast
        together (naming the shapes).

    Notes
    -----
    Source: ours (theory §11, M1).

    >>> from modesim.remedies import mixture_jensen_gap
    >>> round(float(mixture_jensen_gap(0.5, 1, 0.6, 0.6)), 6)
    -0.10465
    """
    a, m, r, q = _gap_args(alpha, m, rho, p)
    shape = np.broadcast_shapes(a.shape, r.shape, q.shape)
    a, r, q = (np.broadcast_to(x, shape) for x in (a, r, q))
    n = np.arange(m + 1, dtype=np.float64).reshape((m + 1,) + (1,) * len(shape))
    lb = np.array([math.lgamma(m + 1) - math.lgamma(k + 1) - math.lgamma(m - k + 1) for k in range(m + 1)])
    lb = lb.reshape(n.shape)
    with np.errstate(divide="ignore", invalid="ignore"):
        lw = lb + np.where(n > 0, n * np.log(q), 0.0) + np.where(m - n > 0, (m - n) * np.log1p(-q), 0.0)
        w = np.exp(lw)
        mean = (1.0 - a) * r + a * q
        # log(X_n/μ) = log1p(x_n), x_n = α(n/m − p)/μ, and Σ_n w_n x_n = 0: summing
        # log1p(x) − x (≈ −x²/2) avoids cancelling the first-order terms.
        val = _log1p_minus_x(a * (n / m - q) / mean)
    out = np.sum(w * np.where(w > 0, val, 0.0), axis=0)        # w = 0 where val may be -inf
    return _scalar(np.minimum(out, 0.0))


def mixture_gap_leading(alpha, m, rho, p):
    """``−α²·p(1 − p)/(2m·μ²)``, ``μ = (1 − α)ρ + αp``: the 1/m term of the Jensen gap (theory §11, M1).

    ``Var X = α²p(1 − p)/m`` and ``E log X = log μ − Var X/(2μ²) + O(m⁻²)``.  With every
    mode valid and self-generated demonstrations (ρ = p) it is ``−α²(1 − p)/(2mp)``, so the
    mixture's round changes ``log(π(y)/π(y'))`` by ``(α²/(2m(1 + β)))·(1/p' − 1/p) + O(m⁻²)``:
    it amplifies, at a rate 1/m.

    Parameters
    ----------
    alpha, m, rho, p
        As :func:`mixture_jensen_gap`.

    Returns
    -------
    float or ndarray
        A float for scalar inputs, else an array of the broadcast shape of ``alpha``,
        ``rho`` and ``p``; in nats, ≤ 0 (0 at p ∈ {0, 1}; −inf where ``α/μ`` overflows).

    Raises
    ------
    ValueError
        As :func:`mixture_jensen_gap`: an argument outside its range, or array arguments
        that do not broadcast together (naming the shapes).

    Notes
    -----
    Source: ours (theory §11, M1).

    >>> from modesim.remedies import mixture_gap_leading
    >>> round(float(mixture_gap_leading(0.5, 10, 0.6, 0.6)), 6)
    -0.008333
    """
    a, m, r, q = _gap_args(alpha, m, rho, p)
    mu = (1.0 - a) * r + a * q
    v = q * (1.0 - q)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        x = a / mu                                    # ≤ 1/p where v > 0: finite unless p is tiny
        out = np.where(v > 0, -(x * x) * v / (2.0 * m), 0.0)
    return _scalar(out)


def mixture_gap_bound(alpha, m, rho, p):
    """An explicit bound on ``|gap − leading|`` for the Jensen gap of the mixture of m copy teachers (theory §11, M1).

    With ``X = c + α·B/m``, ``B ~ Bin(m, p)``, ``c = (1 − α)ρ``, ``μ = E X = c + αp``, the
    cubic Taylor expansion of log at μ gives ``gap = −σ²/(2μ²) + κ₃/(3μ³) + E R`` with
    ``σ² = α²p(1−p)/m`` (the leading term), ``κ₃ = α³p(1−p)(1−2p)/m²`` and a remainder R
    bounded on two regions (s = 3/4):

    - X ≥ sμ: Lagrange's form ``R = −(X − μ)⁴/(4ξ⁴)`` with ξ ≥ sμ, so
      ``|E[R; X ≥ sμ]| ≤ μ₄/(4s⁴μ⁴)``, ``μ₄ = E(X − μ)⁴ = α⁴p(1−p)(1 + 3(m−2)p(1−p))/m³``;
    - X < sμ (X ≥ c): ``|R| ≤ log(μ/c) + 1 + 1/2 + 1/3``, and by Chernoff's bound
      ``P(X < sμ) = P(B/m < q') ≤ exp(−m·KL(q'‖p))``, ``q' = p − (1 − s)μ/α`` (0 when q' ≤ 0).

    So ``|gap − leading| ≤ |κ₃|/(3μ³) + μ₄/(4s⁴μ⁴) + exp(−m·KL(q'‖p))·(log(μ/c) + 11/6)``,
    which is O(m⁻²) (the tail term is exponentially small).  Needs ρ > 0 (so c > 0).

    Parameters
    ----------
    alpha, m, rho, p
        As :func:`mixture_jensen_gap`.

    Returns
    -------
    float or ndarray
        A float for scalar inputs, else an array of the broadcast shape of ``alpha``,
        ``rho`` and ``p``; in nats, ≥ 0 (+inf where ``α/μ`` overflows).

    Raises
    ------
    ValueError
        As :func:`mixture_jensen_gap`: an argument outside its range, or array arguments
        that do not broadcast together (naming the shapes).

    Notes
    -----
    Source: ours (theory §11, M1: the derivation of the bound).

    >>> from modesim.remedies import mixture_gap_bound
    >>> bool(mixture_gap_bound(0.5, 100, 0.6, 0.6) < 1e-4)
    True
    """
    a, m, r, q = _gap_args(alpha, m, rho, p)
    s = 0.75
    c = (1.0 - a) * r
    mu = c + a * q
    v = q * (1.0 - q)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
        x = a / mu                                    # α/μ; the bound is +inf when it overflows
        third = np.where(v > 0, x ** 3 * v * np.abs(1.0 - 2.0 * q) / (3.0 * m * m), 0.0)
        fourth = np.where(v > 0, x ** 4 * v * (1.0 + 3.0 * (m - 2) * v) / (4.0 * s ** 4 * m ** 3), 0.0)
        qq = q - (1.0 - s) * mu / np.where(a > 0, a, 1.0)
        inside = (a > 0) & (qq > 0) & (v > 0)
        qs = np.where(inside, qq, 0.5 * q)
        # KL(q'‖p) for 0 < q' < p < 1 (Bernoulli relative entropy).
        kl = qs * np.log(qs / q) + (1.0 - qs) * (np.log1p(-qs) - np.log1p(-q))
        weight = np.where(inside, np.exp(-m * kl), 0.0)
        tail = np.where(weight > 0, weight * (np.log(mu / c) + 11.0 / 6.0), 0.0)
    return _scalar(third + fourth + tail)


def power_ipw_threshold(alpha, exponent):
    """``ρ*_e = κ/u*_e``: below it ``h_e(ρ) = ρ^(1−e)·log(1 + κ/ρ)`` rises, above it falls (theory §11, W2).

    κ = α/(1 − α); u*_e is the positive root of ``(1 − e)·log(1 + u) = u/(1 + u)``
    (``φ(u) = (1 − e)log(1 + u) − u/(1 + u)`` falls from φ(0) = 0 to its minimum at
    u = e/(1 − e), then rises without bound), found by bisection to full precision.  With
    the copy teacher and demonstrations ``D ∝ ρ^(1−e)`` on C, one round amplifies the ratio of
    two valid modes that both have ``π0 < ρ*_e`` and compresses it when both have
    ``π0 > ρ*_e``.  ``e ≤ 0`` gives ``+inf`` (h rises everywhere), ``e ≥ 1`` gives 0.

    Parameters
    ----------
    alpha : float or array in (0, 1)
        Copy strength (κ = α/(1 − α)).
    exponent : float or array (finite)
        The reweighting exponent e of ``D ∝ ρ^(1−e)``.

    Returns
    -------
    float or ndarray
        A float for scalar inputs, else an array of the broadcast shape of ``alpha`` and
        ``exponent``: a probability threshold in [0, +inf] (0 for e ≥ 1, +inf for e ≤ 0).

    Raises
    ------
    ValueError
        ``alpha`` outside (0, 1) or ``exponent`` not finite (the message names the first
        offending grid index); array arguments that do not broadcast together (naming the
        shapes).

    Notes
    -----
    Source: ours (theory §11, W2).

    >>> from modesim.remedies import power_ipw_threshold
    >>> round(float(power_ipw_threshold(0.5, 0.5)), 6)
    0.255001
    """
    a = np.asarray(chk.real(alpha, "alpha", low=0.0, high=1.0, low_open=True, high_open=True), dtype=np.float64)
    e = np.asarray(chk.real(exponent, "exponent"), dtype=np.float64)
    chk.param_shape(alpha=a if a.ndim else 0.0, exponent=e if e.ndim else 0.0)
    a, e = np.broadcast_arrays(a, e)
    inner = (e > 0) & (e < 1)
    es = np.where(inner, e, 0.5)
    # In t = log(1 + u) the root solves (1 − e)·t = 1 − exp(−t); φ < 0 at the minimum
    # t = −log(1 − e) and φ > 0 at t = 1/(1 − e), so the bracket needs no search and u* never
    # has to be formed (it exceeds the float range for e near 1, where ρ* underflows to 0).
    lo = -np.log1p(-es)
    hi = 1.0 / (1.0 - es)
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        phi = (1.0 - es) * mid + np.expm1(-mid)
        lo, hi = np.where(phi > 0, lo, mid), np.where(phi > 0, mid, hi)
        if np.all(hi - lo <= 4 * np.finfo(float).eps * hi):
            break
    t = 0.5 * (lo + hi)
    kappa = a / (1.0 - a)
    with np.errstate(under="ignore"):
        star = kappa * np.exp(-t) / -np.expm1(-t)       # κ/u* with u* = expm1(t), overflow-free
    out = np.where(inner, star, np.where(e <= 0, np.inf, 0.0))
    return _scalar(out)


def blend_coefficients(reward_weight, distill_weight, beta):
    """``(λ_r, μ, β)/(μ + β)`` and the sign of ``μ + β``, without overflow (theory §11, L1).

    ``μ`` and ``β`` are first divided by ``max(|μ|, β)`` (the coefficients are ratios, so
    this changes nothing but the range): ``μ + β`` of two weights near the largest float would
    otherwise overflow, and a common scale that includes ``λ_r`` would underflow a tiny ``μ``
    to 0 (``0/0``).  The sign of ``μ + β`` is read exactly from ``μ > −β``.  Returns
    ``(a_r, a_g, a_ref, positive)`` with ``positive`` the boolean ``μ + β > 0``; where it is
    False the coefficients are meaningless.  ``a_r`` is +inf where its true value exceeds the
    float range (``λ_r`` huge against ``μ + β``).  Inputs are validated reals (scalars or
    arrays broadcasting together).
    """
    lam, mu, b = (np.asarray(x, dtype=np.float64) for x in (reward_weight, distill_weight, beta))
    positive = mu > -b
    m = np.maximum(np.abs(mu), b)
    m = np.where(m > 0, m, 1.0)
    mu, b = mu / m, b / m
    s = mu + b
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        safe = np.where(positive, s, 1.0)
        return (lam / m) / safe, mu / safe, b / safe, positive


def blend_exponent(distill_weight, beta):
    """``μ/(μ + β)``: the blended round changes valid log-ratios by this times ``Ī(y) − Ī(y')`` (theory §11, L1).

    For the round maximising ``λ_r·E_π r − μ·E_d KL(π‖T_d) − β·KL(π‖π0)`` (μ + β > 0).
    μ > 0 (a blend of RL and distillation) keeps the sign of self-distillation's distortion
    (all of it at β = 0, for any reward weight), μ < 0 (anti-distillation) reverses it.
    Computed by :func:`blend_coefficients` (no overflow for weights up to the largest float).

    Parameters
    ----------
    distill_weight : float or array (any sign)
        μ.
    beta : float or array >= 0
        KL strength to the base; ``distill_weight + beta > 0`` everywhere.

    Returns
    -------
    float or ndarray
        A float for scalar inputs, else an array of the broadcast shape of the two
        arguments (dimensionless; in (0, 1] for μ > 0, negative for μ < 0).

    Raises
    ------
    ValueError
        ``distill_weight`` not finite, ``beta`` negative or not finite, or
        ``distill_weight + beta ≤ 0`` anywhere (the round's objective is then unbounded);
        array arguments that do not broadcast together (naming the shapes).

    Notes
    -----
    Source: ours (theory §11, L1).

    >>> from modesim.remedies import blend_exponent
    >>> round(blend_exponent(0.5, 0.04), 12)
    0.925925925926
    """
    mu = chk.real(distill_weight, "distill_weight")
    b = chk.real(beta, "beta", low=0.0)
    chk.param_shape(distill_weight=mu, beta=b)
    _, a_g, _, positive = blend_coefficients(0.0, mu, b)
    if not np.all(positive):
        raise ValueError("distill_weight + beta must be > 0 (the blended round's objective is otherwise unbounded); "
                         f"got distill_weight={chk.describe(distill_weight)}, beta={chk.describe(beta)}")
    return _scalar(a_g)


def diversity_bonus_reward(policy, valid, n_rollouts, bonus):
    """``E[r_n | y_n = y] = 1[y ∈ C]·(1 + λ(N − 1)(1 − π(y))/N)`` for GRPO's diversity bonus (theory §11, D1).

    The reward of :class:`~modesim.SampledRL` is ``r_n = 1[y_n ∈ C]·(1 + λ(1 − c_n/N))``
    with ``c_n = 1 + Bin(N − 1, π(y_n))`` rollouts of the group in y_n's mode.

    Parameters
    ----------
    policy : array (..., K)
        Probabilities, rows summing to 1 (within 1e-6).
    valid : bool array broadcasting against ``policy``
        The valid set C (rows may be empty).
    n_rollouts : int >= 1
        Group size N.
    bonus : float or array >= 0
        λ; an array joins the batch (theory §1, parameter grids).

    Returns
    -------
    ndarray of shape ``broadcast(policy.shape[:-1], np.shape(bonus)) + (K,)``
        The expected reward per mode (reward units: 1 for a correct rollout without the
        bonus), 0 off C.

    Raises
    ------
    ValueError
        ``policy`` not probabilities of shape (..., K), ``valid`` not a boolean (0/1) mask
        broadcasting to ``policy``, ``n_rollouts`` not an integer >= 1, or ``bonus``
        negative or not finite; a ``bonus`` array that does not broadcast against the
        policy's batch shape (naming the shapes).

    Notes
    -----
    Source: the bonus as :class:`~modesim.SampledRL` implements it (theory §2.3); its
    expectation is ours (theory §11, D1).

    >>> from modesim.remedies import diversity_bonus_reward
    >>> diversity_bonus_reward([0.5, 0.5], [True, False], 8, 1.0).tolist()
    [1.4375, 0.0]
    """
    p = chk.probabilities(policy, "policy")
    v = chk.mask(valid, p.shape, "valid", nonempty=False)
    n = chk.integer(n_rollouts, "n_rollouts", low=1)
    lam = chk.real(bonus, "bonus", low=0.0)
    if np.ndim(lam) and np.ndim(lam) > 0:
        try:
            np.broadcast_shapes(np.shape(lam), p.shape[:-1])
        except ValueError:
            raise ValueError(f"bonus of shape {np.shape(lam)} does not broadcast against the policy's batch "
                             f"shape {p.shape[:-1]} (one bonus per batch entry)") from None
    return np.where(v, 1.0 + chk.col(lam) * ((n - 1) * (1.0 - p) / n), 0.0)   # factor <= 1: no overflow
