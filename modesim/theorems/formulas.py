"""Closed forms the theorems state (theory §3.4–§3.5), written once and checked elsewhere.

The registry's checks compare what the rules compute against these formulas; the sympy
derivations in :mod:`modesim.symbolic` prove them (``tests/test_symbolic.py`` compares the
two to 1e-9).

>>> from modesim.theorems import s8_eigenvalue
>>> round(s8_eigenvalue(3, 0.5), 4)
1.2121
"""

from __future__ import annotations

import numpy as np

from .. import _checks as chk

__all__ = ["f_alpha", "f_alpha_prime", "s8_eigenvalue"]


#: Terms of Σ vⁿ/n kept for v < 1/8: the first dropped term is below 1e-17 relative.
_SERIES_TERMS = 20


def _odds(alpha) -> np.ndarray:
    """``c = α/(1 − α)`` for a validated copy strength α ∈ [0, 1)."""
    a = np.asarray(chk.real(alpha, "alpha", low=0.0, high=1.0, high_open=True), dtype=np.float64)
    return a / (1.0 - a)


def _log1p_ratio(c: np.ndarray, p: np.ndarray) -> np.ndarray:
    """``log(1 + c/p)`` for ``c ≥ 0``, ``p > 0``, to full precision even when ``c/p`` overflows.

    ``log1p(c/p)`` is exact while ``c/p`` is finite; beyond 1e300 the 1 is below
    round-off and ``log c − log p`` is the same number without the overflow.
    """
    with np.errstate(divide="ignore", over="ignore"):
        u = c / p
        big = u > 1e300
        return np.where(big, np.log(np.where(big, c, 1.0)) - np.log(p), np.log1p(np.where(big, 0.0, u)))


def f_alpha(p, alpha):
    """``f_α(p) = p·log(1 + α/((1 − α)·p))``, with ``f_α(0) = 0`` (theory §3.4, S4).

    The copy teacher's expected pointwise information is ``Ī(y) = log(1 − α) + f_α(p)``
    for ``p = π0(y|C)`` when every mode is valid.

    Parameters
    ----------
    p : float or array in [0, 1]
    alpha : float or array in [0, 1)
        Copy strength; broadcasts against ``p``.

    Returns
    -------
    ndarray of the broadcast shape (nats), ``≥ 0``.

    Raises
    ------
    ValueError
        ``p`` outside [0, 1] or ``alpha`` outside [0, 1) (NaN and ±inf included); arrays
        that do not broadcast together (naming both shapes).

    Notes
    -----
    Source: ours (theory §3.4, S4; derived in :func:`modesim.symbolic.copy_information`).
    """
    p = np.asarray(chk.real(p, "p", low=0.0, high=1.0), dtype=np.float64)
    c = _odds(alpha)
    chk.param_shape(p=p if p.ndim else 0.0, alpha=c)
    safe = np.where(p > 0, p, 1.0)
    return np.where(p > 0, safe * _log1p_ratio(c, safe), 0.0)


def f_alpha_prime(p, alpha):
    """``f_α'(p) = log(1 + u) − u/(1 + u)``, ``u = α/((1 − α)·p)`` (theory §3.5, S8).

    Positive for every ``α ∈ (0, 1)`` and ``p ∈ (0, 1]``: ``h(u) = log(1 + u) − u/(1 + u)``
    has ``h(0) = 0`` and ``h'(u) = u/(1 + u)² > 0``.

    Parameters
    ----------
    p : float or array in (0, 1]
    alpha : float or array in [0, 1)

    Returns
    -------
    ndarray of the broadcast shape of ``p`` and ``alpha`` (0-d for scalars), in nats,
    ``≥ 0`` (0 at α = 0).

    Raises
    ------
    ValueError
        ``p`` outside (0, 1] or ``alpha`` outside [0, 1) (NaN and ±inf included); arrays
        that do not broadcast together (naming both shapes).

    Notes
    -----
    Source: ours (theory §3.4, S4; :func:`modesim.symbolic.f_alpha_prime`).
    """
    p = np.asarray(chk.real(p, "p", low=0.0, high=1.0, low_open=True), dtype=np.float64)
    c = _odds(alpha)
    chk.param_shape(p=p if p.ndim else 0.0, alpha=c)
    # With v = u/(1 + u) = c/(c + p) (finite even when u overflows),
    # f_α' = −log(1 − v) − v = Σ_{n≥2} vⁿ/n: the series avoids the cancellation for small v.
    v = c / (c + p)
    small = v < 0.125
    vs = np.where(small, v, 0.0)
    series = np.zeros_like(vs)
    for n in range(_SERIES_TERMS + 1, 1, -1):
        series = vs * (1.0 / n + series)
    series = vs * series
    return np.where(small, series, _log1p_ratio(c, p) - v)


def s8_eigenvalue(K: int, alpha, beta=0.0):
    """``λ = 1 + (1/K)·f_α'(1/K)/(1 + β)``: the S8 eigenvalue at the uniform point (theory §3.5, statement S8).

    The tangent-space Jacobian of the compounding copy-teacher map at ``p = 1/K`` (every
    mode valid) is ``λ·I``; ``λ > 1`` for every ``α ∈ (0, 1)``, so the uniform point is
    unstable.

    Parameters
    ----------
    K : int >= 2
        Number of modes.
    alpha : float or array in [0, 1)
    beta : float or array >= 0
        KL strength.

    Returns
    -------
    float (or an array of the broadcast shape when ``alpha``/``beta`` are arrays)
        Dimensionless (a growth factor per round of a tangent perturbation).

    Raises
    ------
    ValueError
        ``K`` not an integer >= 2, ``alpha`` outside [0, 1) or ``beta`` negative (NaN and
        ±inf refused); ``alpha`` and ``beta`` arrays that do not broadcast together
        (naming both shapes).

    Notes
    -----
    Source: ours (theory §3.5, statement S8; :func:`modesim.symbolic.s8_jacobian`).
    """
    K = chk.integer(K, "K", low=2)
    beta = np.asarray(chk.real(beta, "beta", low=0.0), dtype=np.float64)
    chk.param_shape(alpha=chk.real(alpha, "alpha", low=0.0, high=1.0, high_open=True), beta=beta if beta.ndim else 0.0)
    lam = 1.0 + f_alpha_prime(1.0 / K, alpha) / (K * (1.0 + beta))
    return float(lam) if np.ndim(lam) == 0 else lam
