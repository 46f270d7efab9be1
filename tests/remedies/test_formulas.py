"""Closed forms of theory §11 against 40-digit arithmetic and enumeration (registry entries M1, W2, L1, D1)."""

from __future__ import annotations

import itertools
import re
from fractions import Fraction

import mpmath as mp
import numpy as np
import pytest

import modesim as ms
import modesim.remedies as R
from modesim.remedies import (
    MixtureTeacher,
    blend_exponent,
    copy_gain,
    diversity_bonus_reward,
    mixture_gap_bound,
    mixture_gap_leading,
    mixture_jensen_gap,
)

mp.mp.dps = 40


def _gap_mp(a, m, rho, p):
    A, R, P = mp.mpf(a), mp.mpf(rho), mp.mpf(p)
    mu = (1 - A) * R + A * P
    return mp.fsum(mp.binomial(m, n) * P ** n * (1 - P) ** (m - n) * mp.log(((1 - A) * R + A * mp.mpf(n) / m) / mu)
                   for n in range(m + 1))


CASES = [(0.5, 0.6, 0.6), (0.9, 0.05, 0.1), (0.2, 0.01, 0.02), (0.95, 0.3, 0.5), (1e-4, 0.4, 0.6), (0.7, 0.9, 0.99)]


@pytest.mark.parametrize("a, rho, p", CASES)
@pytest.mark.parametrize("m", [1, 2, 7, 40, 300])
def test_jensen_gap_against_forty_digits(a, rho, p, m):
    want = float(_gap_mp(a, m, rho, p))
    got = mixture_jensen_gap(a, m, rho, p)
    assert got == pytest.approx(want, rel=1e-12, abs=1e-300)


@pytest.mark.parametrize("a, rho, p", CASES)
def test_gap_expansion_holds_within_its_bound_and_the_rest_is_second_order(a, rho, p):
    """|gap − leading| ≤ bound at every m, and m²·|gap − leading| stays bounded (the rate is 1/m)."""
    scaled = []
    for m in (1, 3, 10, 30, 100, 300, 1000, 3000):
        gap = float(_gap_mp(a, m, rho, p)) if m <= 300 else mixture_jensen_gap(a, m, rho, p)
        lead = mixture_gap_leading(a, m, rho, p)
        assert abs(gap - lead) <= mixture_gap_bound(a, m, rho, p) * (1 + 1e-9) + 1e-300
        if m >= 100:
            scaled.append(m * m * abs(gap - lead))
    assert max(scaled) <= 3 * min(scaled) + 1e-12      # m²·(rest) settles to its limit
    m = 3000
    assert m * mixture_jensen_gap(a, m, rho, p) == pytest.approx(m * mixture_gap_leading(a, m, rho, p), rel=0.05)


def test_mixture_round_distortion_vanishes_like_one_over_m():
    """The round's change of log(π(0)/π(1)) times m tends to (α²/2)(1/p1 − 1/p0) (all modes valid)."""
    task = ms.make_task([0.6, 0.3, 0.1])
    alpha = 0.5
    limit = alpha ** 2 / 2 * (1 / 0.3 - 1 / 0.6)
    prev = None
    for m in (10, 100, 1000):
        pi = ms.sd_optimum(task, teacher=MixtureTeacher(ms.CopyTeacher(alpha), m))
        change = np.log(pi[0] / pi[1]) - np.log(2.0)
        assert change > 0                                  # still amplifies
        err = abs(m * change - limit)
        if prev is not None:
            assert err < prev / 5                          # the O(1/m) correction shrinks
        prev = err
    assert prev < 5e-3


def test_copy_gain_and_its_softplus_form():
    assert copy_gain(0.5, 0.5) == pytest.approx(np.log(3.0), rel=1e-15)
    assert copy_gain(1e-300, 0.5) == pytest.approx(300 * np.log(10), rel=1e-12)
    assert copy_gain(0.3, 0.0) == 0.0
    np.testing.assert_allclose(copy_gain(np.array([0.1, 0.9]), 0.2), np.log1p(0.25 / np.array([0.1, 0.9])), rtol=1e-15)
    with pytest.raises(ValueError, match="rho"):
        copy_gain(0.0, 0.5)


def test_blend_exponent():
    assert blend_exponent(0.5, 0.0) == 1.0
    assert blend_exponent(-0.2, 0.5) == pytest.approx(-2 / 3)
    np.testing.assert_allclose(blend_exponent(np.array([0.1, 1.0]), 1.0), [1 / 11, 0.5])
    with pytest.raises(ValueError, match="distill_weight \\+ beta"):
        blend_exponent(-1.0, 0.5)


@pytest.mark.parametrize("N", [1, 2, 3, 4])
def test_diversity_bonus_reward_against_enumeration(N):
    """E[r_n | y_n = y] with r = 1[y ∈ C](1 + λ(1 − c/N)), c = copies of y_n in the group."""
    p = np.array([0.5, 0.3, 0.2])
    valid = np.array([True, True, False])
    lam = 1.3
    want = np.zeros(3)
    for ys in itertools.product(range(3), repeat=N):
        prob = np.prod(p[list(ys)])
        c = sum(1 for z in ys if z == ys[0])
        want[ys[0]] += prob * valid[ys[0]] * (1 + lam * (1 - c / N))
    np.testing.assert_allclose(diversity_bonus_reward(p, valid, N, lam), want / p, rtol=1e-13)
    rule = ms.SampledRL("reinforce", n_rollouts=N, diversity_bonus=lam, lr=1.0)
    ys = np.array(list(itertools.product(range(3), repeat=N)))
    r = rule.rewards(ys, valid)
    prob = np.prod(p[ys], axis=-1)
    emp = np.array([np.sum(prob[ys[:, 0] == y] * r[ys[:, 0] == y, 0]) / p[y] for y in range(3)])
    np.testing.assert_allclose(emp, want / p, rtol=1e-13)


def test_formula_arguments_are_validated_by_name():
    with pytest.raises(ValueError, match="m must be an integer >= 1"):
        mixture_jensen_gap(0.5, 0, 0.5, 0.5)
    with pytest.raises(ValueError, match="alpha"):
        mixture_gap_leading(1.0, 3, 0.5, 0.5)
    with pytest.raises(ValueError, match="p must be"):
        mixture_gap_bound(0.5, 3, 0.5, 1.5)
    with pytest.raises(ValueError, match="bonus"):
        diversity_bonus_reward([0.5, 0.5], [1, 0], 4, -1.0)


@pytest.mark.parametrize("call, names", [
    (lambda: R.copy_gain([0.1, 0.2], [0.1, 0.2, 0.3]), "rho (2,), alpha (3,)"),
    (lambda: R.blend_exponent([1.0, 2.0], [1.0, 2.0, 3.0]), "distill_weight (2,), beta (3,)"),
    (lambda: R.power_ipw_threshold([0.1, 0.2], [0.1, 0.2, 0.3]), "alpha (2,), exponent (3,)"),
    (lambda: R.mixture_jensen_gap([0.1, 0.2], 3, [0.1, 0.2, 0.3], 0.5), "alpha (2,), rho (3,)"),
])
def test_grids_that_do_not_broadcast_are_named(call, names):
    with pytest.raises(ValueError, match=re.escape(names) + ".*do not broadcast"):
        call()


@pytest.mark.parametrize("lam, mu, beta", [
    (1e300, 1.1853771123868867e-89, 0.0),   # one common scale underflowed μ to 0: 0/0, "μ + β must be > 0"
    (1.0, 1e-300, 1e10), (1.7e308, 1.7e308, 1.7e308), (2.0, 0.5, 0.04), (3.0, -0.25, 0.5), (0.0, 1e-320, 0.0),
])
def test_blend_coefficients_equal_exact_rationals(lam, mu, beta):
    from modesim.remedies.formulas import blend_coefficients

    a_r, a_g, a_ref, positive = blend_coefficients(lam, mu, beta)
    L, M, B = (Fraction(x) for x in (lam, mu, beta))
    assert bool(positive) == (M + B > 0)
    want_r = L / (M + B)
    assert a_r == (np.inf if want_r > Fraction(np.finfo(float).max) else pytest.approx(float(want_r), rel=1e-15))
    assert a_g == pytest.approx(float(M / (M + B)), rel=1e-15, abs=1e-300)
    assert a_ref == pytest.approx(float(B / (M + B)), rel=1e-15, abs=1e-300)
