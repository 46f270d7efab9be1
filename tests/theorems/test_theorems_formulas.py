"""Closed forms of modesim.theorems.formulas against 50-digit mpmath (theory §3.4–§3.5)."""

from __future__ import annotations

import mpmath as mp
import numpy as np
import pytest

import modesim as ms
from modesim.theorems import f_alpha, f_alpha_prime, s8_eigenvalue

mp.mp.dps = 50

PS = [1e-300, 1e-12, 1e-3, 0.1, 0.5, 0.9, 1.0]
ALPHAS = [0.0, 1e-12, 1e-6, 0.01, 0.1, 0.5, 0.9, 0.999]


def _exact_f(p, a):
    p, c = mp.mpf(p), mp.mpf(a) / (1 - mp.mpf(a))
    return p * mp.log(1 + c / p)


def _exact_f_prime(p, a):
    """d/dp of p·log(1 + c/p), by mpmath's numerical differentiation (not the closed form)."""
    c = mp.mpf(a) / (1 - mp.mpf(a))
    return mp.diff(lambda q: q * mp.log(1 + c / q), mp.mpf(p))


@pytest.mark.parametrize("a", ALPHAS)
@pytest.mark.parametrize("p", PS)
def test_f_alpha_to_the_last_digits(p, a):
    exact = _exact_f(p, a)
    got = f_alpha(p, a)
    if exact == 0:
        assert got == 0.0
    else:
        assert abs(got - exact) <= 4e-16 * exact


@pytest.mark.parametrize("a", ALPHAS[1:])
@pytest.mark.parametrize("p", [1e-12, 1e-3, 0.1, 0.5, 0.9, 1.0])
def test_f_alpha_prime_is_the_derivative(p, a):
    """No cancellation for small u = α/((1 − α)p): f_α' ≈ u²/2 keeps its relative precision."""
    exact = _exact_f_prime(p, a)
    assert abs(f_alpha_prime(p, a) - exact) <= 1e-15 * exact
    assert f_alpha_prime(p, a) > 0


def test_extremes():
    assert f_alpha(0.0, 0.5) == 0.0
    # A subnormal p: the value is subnormal too, exact to its absolute precision.
    assert f_alpha(5e-324, 0.5) == pytest.approx(float(_exact_f(5e-324, 0.5)), abs=1e-323)
    # u = c/p overflows: log(1 + u) − 1 without inf − inf.
    assert f_alpha_prime(1e-310, 0.5) == pytest.approx(float(mp.log(1 / mp.mpf(1e-310)) - 1), rel=1e-15)
    assert f_alpha_prime(0.5, 0.0) == 0.0


def test_arrays_broadcast():
    p = np.array([0.1, 0.5, 1.0])
    a = np.array([[0.2], [0.7]])
    out = f_alpha(p, a)
    assert out.shape == (2, 3)
    assert out[1, 2] == pytest.approx(float(_exact_f(1.0, 0.7)), rel=1e-15)
    assert f_alpha_prime(p, a).shape == (2, 3)
    assert s8_eigenvalue(3, np.array([0.2, 0.5])).shape == (2,)


def test_s8_worked_number():
    """K = 3, α = 0.5, β = 0: λ = 1 + (log 4 − 3/4)/3 (theory §3.5)."""
    assert s8_eigenvalue(3, 0.5) == pytest.approx(float(1 + (mp.log(4) - mp.mpf(3) / 4) / 3), rel=1e-16)
    assert isinstance(s8_eigenvalue(3, 0.5), float)


@pytest.mark.parametrize("K, alpha, beta", [(2, 0.3, 0.0), (4, 0.8, 1.5), (6, 0.05, 0.2)])
def test_s8_eigenvalue_is_the_map_jacobian(K, alpha, beta):
    rule = ms.SelfDistillation(teacher=ms.CopyTeacher(alpha), beta=beta, teacher_base="current",
                               reference="current")
    task = ms.make_task(np.full(K, 1.0 / K))
    ev = np.linalg.eigvals(ms.map_jacobian(rule, task, task.base))
    np.testing.assert_allclose(ev, s8_eigenvalue(K, alpha, beta), rtol=1e-6)  # finite differences


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: f_alpha(0.5, 1.0), r"alpha must be in \[0, 1\); got 1.0"),
        (lambda: f_alpha(-0.1, 0.5), r"p must be in \[0, 1\]; got -0.1"),
        (lambda: f_alpha([0.5, np.nan], 0.5), r"p must be in \[0, 1\]; got .*nan.* at index \(1,\)"),
        (lambda: f_alpha("x", 0.5), "p must be a real number"),
        (lambda: f_alpha_prime(0.0, 0.5), r"p must be in \(0, 1\]; got 0.0"),
        (lambda: s8_eigenvalue(1, 0.5), "K must be an integer >= 2; got 1"),
        (lambda: s8_eigenvalue(2.5, 0.5), "K must be an integer; got 2.5"),
        (lambda: s8_eigenvalue(3, 0.5, -1.0), "beta must be a finite number >= 0; got -1.0"),
    ],
)
def test_bad_input_is_a_named_error(call, match):
    with pytest.raises(ValueError, match=match):
        call()
