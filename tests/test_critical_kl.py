"""The critical KL strength (theory §8.4, K1 K2): the collapsed rest point of compounding
copy-teacher SD with KL to π0, its depth (1 − α)^(1/β), the instability of the diverse state,
and the regime data — checked against the iterated rule, fixed_points, mpmath and controls.
"""

from __future__ import annotations

import mpmath as mp
import numpy as np
import pytest
from scipy.optimize import brentq

import modesim as ms
from modesim.kl_strength import (
    PRACTICE_BETA,
    collapse_depth,
    collapse_regime,
    collapsed_rest_point,
    critical_kl_strength,
    rest_residual,
    two_mode_rest_point,
    uniform_instability_threshold,
)
from modesim.theorems import f_alpha, f_alpha_prime


def rule(alpha, beta, reference="base", teacher=None):
    return ms.SelfDistillation(teacher or ms.CopyTeacher(alpha), beta=beta, teacher_base="current", reference=reference)


# ------------------------------------------------------------ β_c: a depth threshold


def test_critical_strength_is_where_the_depth_factor_hits_the_tolerance():
    """The first account's β_c ≈ 0.15 at α = 0.5 and ≈ 0.05 at α = 0.2 are exactly (1 − α)^(1/β) = 1e-2."""
    assert critical_kl_strength(0.5) == pytest.approx(0.1505149978, rel=1e-9)
    assert critical_kl_strength(0.2) == pytest.approx(0.0484550065, rel=1e-9)
    a = np.array([0.05, 0.3, 0.9])
    b = critical_kl_strength(a, 1e-3)
    np.testing.assert_allclose((1 - a) ** (1 / b), 1e-3, rtol=1e-12)


def test_worked_number_of_math_section_8():
    """(0.6, 0.3, 0.1), α = 0.5, β = 0.04: ε_1/π_0 = (0.3/0.6)·0.5^25 = 1.490e-8 at the rest point."""
    task = ms.make_task([0.6, 0.3, 0.1])
    u = collapsed_rest_point(task, 0.5, 0.04)
    assert np.exp(u[1] - u[0]) == pytest.approx(1.490116e-8, rel=1e-5)
    assert np.exp(u[1] - u[0]) == pytest.approx(0.5 * 0.5 ** 25, rel=1e-5)


# ------------------------------------------------------------ K1


@pytest.mark.parametrize("base, valid", [([0.6, 0.4], None), ([0.5, 0.3, 0.2], None),
                                         ([0.4, 0.3, 0.2, 0.1], [1, 1, 0, 1])])
@pytest.mark.parametrize("alpha, beta", [(0.5, 0.04), (0.3, 0.02), (0.8, 0.1)])
def test_K1_rest_point_is_where_the_iterated_rule_goes(base, valid, alpha, beta):
    """The rule iterated from π0 until it stops moving reaches the collapsed rest point."""
    task = ms.make_task(base, valid)
    u = collapsed_rest_point(task, alpha, beta)
    r = rule(alpha, beta)
    lp = ms.iterate(r, task, int(40 / beta), every=int(40 / beta), record_policy=False).final.log_policy
    for _ in range(20):  # finish the slow geometric approach of the small modes exactly
        lp = ms.apply_map(r, lp, task)
    np.testing.assert_allclose(lp, u, rtol=1e-6)
    np.testing.assert_allclose(ms.apply_map(r, u, task), u, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("alpha, beta", [(0.5, 0.1), (0.3, 0.05), (0.9, 0.2)])
def test_K1_rest_point_is_a_stable_fixed_point(alpha, beta):
    """The map's tangent Jacobian there (stability.map_jacobian) has spectral radius < 1.
    (ms.fixed_points' face-by-face root finder does not find this interior point from its
    starts on (0.6, 0.3, 0.1); the rule's own map confirms it instead.)"""
    task = ms.make_task([0.6, 0.3, 0.1])
    u = collapsed_rest_point(task, alpha, beta)
    r = rule(alpha, beta)
    np.testing.assert_allclose(ms.apply_map(r, u, task), u, rtol=1e-12)
    assert np.max(np.abs(np.linalg.eigvals(ms.map_jacobian(r, task, np.exp(u))))) < 1


def test_K1_exact_relation_in_40_digits():
    """β log(π_y/π0(y)) − D_y log(1 + α/((1 − α)π_y)) is the same for every y (mpmath)."""
    mp.mp.dps = 40
    task = ms.make_task([0.5, 0.25, 0.15, 0.1], [1, 1, 0, 1])
    a, b = 0.6, 0.03
    u = collapsed_rest_point(task, a, b)
    Z = sum(mp.e ** mp.mpf(float(u[i])) for i in range(4) if task.valid[i])
    vals = []
    for y in range(4):
        pi = mp.e ** mp.mpf(float(u[y]))
        D = pi / Z if task.valid[y] else 0
        vals.append(b * (mp.mpf(float(u[y])) - mp.log(mp.mpf(float(task.base[y])))) - D * mp.log(1 + mp.mpf(a) / ((1 - mp.mpf(a)) * pi)))
    assert float(max(vals) - min(vals)) < 1e-13
    R = rest_residual(u, task, a, b)
    assert np.ptp(R) < 1e-13


def test_K1_relative_error_vanishes_as_beta_falls():
    """log(ratio/prediction) → 0 as β → 0, and with every mode valid it lies in
    [0, (f_α(π_y) + f_α'(π_t)(1 − π_t))/β]."""
    task = ms.make_task([0.5, 0.3, 0.2])
    a = 0.5
    gaps = []
    for b in (0.2, 0.1, 0.05, 0.025, 0.0125):
        out = collapse_depth(task, a, b)
        u = out.log_policy
        p = np.exp(u)
        gap = (u[1:] - u[0]) - (task.log_base[1:] - task.log_base[0] + np.log1p(-a) / b)
        bound = (f_alpha(p[1:], a) + f_alpha_prime(p[0], a) * (1 - p[0])) / b
        assert np.all(gap >= -1e-12) and np.all(gap <= bound + 1e-12)
        gaps.append(gap.max())
    assert all(x > y for x, y in zip(gaps, gaps[1:])) and gaps[-1] < 1e-10


def test_K1_controls_the_formula_fails_without_its_assumptions():
    """Negative controls: with the KL to the current policy there is no rest point near the
    vertex (the depth keeps growing round after round); with a tilt teacher the depth is
    governed by κ, not by (1 − α)."""
    task = ms.make_task([0.6, 0.4])
    a, b = 0.5, 0.04
    pred = np.log(0.4 / 0.6) + np.log1p(-a) / b
    lp = ms.iterate(rule(a, b, reference="current"), task, 3000, every=1000).log_policy
    depth = lp[:, 1] - lp[:, 0]
    assert np.all(np.diff(depth) < 0) and depth[-1] < pred - 50
    kappa = -2 * np.log1p(-a)
    lp = ms.iterate(rule(a, b, teacher=ms.TiltTeacher(kappa)), task, 4000, every=4000).log_policy[-1]
    assert abs((lp[1] - lp[0]) - pred) > 5


def test_collapse_depth_reports_ood_pass_at_k():
    task = ms.make_task([0.6, 0.3, 0.1])
    out = collapse_depth(task, 0.5, 0.04, k=[1, 16])
    ood = np.exp(out.log_policy[1:]).sum()                     # valid set C \ {top}
    np.testing.assert_allclose(out.ood_pass_at_k, -np.expm1(np.array([1, 16]) * np.log1p(-ood)), rtol=1e-12)
    approx = np.array([1, 16]) * np.exp(out.log_predicted)    # ≈ k·(1 − α)^(1/β)·Σ π0(y)/π0(t)
    np.testing.assert_allclose(out.ood_pass_at_k, approx, rtol=1e-4)
    assert out.top == 0 and out.log_depth == pytest.approx(out.log_predicted, abs=1e-5)


def test_collapse_depth_takes_grids():
    task = ms.make_task([[0.6, 0.4], [0.7, 0.3]])
    a = np.array([0.3, 0.6])[:, None, None]
    b = np.array([0.01, 0.03])[None, :, None]
    out = collapse_depth(task, a, b)
    assert out.log_depth.shape == (2, 2, 2)
    for i in range(2):
        for j in range(2):
            one = collapse_depth(ms.make_task(task.base[1]), float(a[i, 0, 0]), float(b[0, j, 0]))
            assert out.log_depth[i, j, 1] == pytest.approx(float(one.log_depth), rel=1e-12)


def test_above_the_regime_the_branch_continues_to_the_mild_rest_point_or_is_refused():
    """At large β the branch of the collapsed rest point is the unique (mild) rest point; where
    its top mode falls below 1/2 there is no collapse to report and the call is refused."""
    u = collapsed_rest_point(ms.make_task([0.6, 0.4]), 0.5, 5.0)
    assert u[0] - u[1] == pytest.approx(float(two_mode_rest_point(0.5, 5.0, 0.6).logit), rel=1e-10)
    with pytest.raises(ValueError, match="undefined"):
        collapsed_rest_point(ms.make_task([0.4, 0.35, 0.25]), 0.5, 10.0)


@pytest.mark.parametrize("call, match", [
    (lambda: collapse_depth(ms.make_task([0.5, 0.5, 0.0]), 0.5, 0.01), "zero probability"),
    (lambda: collapse_depth(ms.make_task([1.0]), 0.5, 0.01), "K = 1"),
    (lambda: collapse_depth(ms.make_task([0.6, 0.4]), 1.0, 0.01), "alpha must be"),
    (lambda: collapse_depth(ms.make_task([0.6, 0.4]), 0.5, 1e-9), "beta must be"),
    (lambda: critical_kl_strength(0.5, 1.0), "tol must be"),
    (lambda: uniform_instability_threshold(1, 0.5), "K must be"),
    (lambda: two_mode_rest_point(0.5, 0.1, 0.0), "p0 must be"),
])
def test_bad_inputs(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# ------------------------------------------------------------ K2 and the bifurcation


@pytest.mark.parametrize("K", [2, 3, 5])
@pytest.mark.parametrize("alpha", [0.1, 0.5, 0.9])
def test_K2_uniform_point_loses_stability_at_beta_star(K, alpha):
    star = uniform_instability_threshold(K, alpha)
    task = ms.make_task(np.full(K, 1.0 / K))
    for m in (0.9, 1.1):
        ev = np.linalg.eigvals(ms.map_jacobian(rule(alpha, m * star), task, task.base))
        lam = (1 + f_alpha_prime(1 / K, alpha) / K) / (1 + m * star)
        np.testing.assert_allclose(ev, lam, rtol=1e-6)
        assert (np.max(np.abs(ev)) > 1) == (m < 1)
    assert uniform_instability_threshold(2, 0.5) == pytest.approx(float((mp.log(3) - mp.mpf(2) / 3) / 2), rel=1e-14)


def test_pitchfork_is_subcritical_below_alpha_c_and_supercritical_above():
    """K = 2, uniform base: H(t) = t − (f_α(σ(t)) − f_α(σ(−t)))/β has cubic coefficient
    16/3 − f_α'''(1/2)/(3β*); it is positive (supercritical) iff α > α_c ≈ 0.4383.  Just above
    β* the subcritical case already has extra rest points (bistability), the other not."""

    def cubic(a):
        c = a / (1 - a)
        return 8 * (np.log1p(2 * c) - c / (0.5 + c)) - 4 * c * c * (1.5 + c) / (0.5 + c) ** 3

    alpha_c = brentq(cubic, 0.1, 0.49)
    assert alpha_c == pytest.approx(0.43831, abs=1e-5)
    for a in (0.2, 0.3):
        assert two_mode_rest_point(a, 1.05 * uniform_instability_threshold(2, a), 0.5).n_rest >= 3
    for a in (0.5, 0.7):
        assert two_mode_rest_point(a, 1.05 * uniform_instability_threshold(2, a), 0.5).n_rest == 1


@pytest.mark.parametrize("alpha, beta, p0", [(0.5, 0.04, 0.6), (0.5, 0.3, 0.6), (0.09615384615384615, 0.014773776525985112, 0.6),
                                              (0.2, 0.05, 0.7), (0.7, 0.5, 0.55)])
def test_two_mode_rest_point_is_where_the_iterated_rule_goes(alpha, beta, p0):
    """Including a case with a long plateau at the ghost of a saddle-node (the reached rest
    point is the collapsed one, after ~10^4 rounds)."""
    out = two_mode_rest_point(alpha, beta, p0)
    r = rule(alpha, beta)
    task = ms.make_task([p0, 1 - p0])
    lp = ms.iterate(r, task, 20000, every=20000, record_policy=False).final.log_policy
    assert lp[0] - lp[1] == pytest.approx(float(out.logit), rel=1e-7, abs=1e-9)


def test_hysteresis_two_stable_rest_points():
    out = two_mode_rest_point(0.096, 0.0148, 0.6)
    assert out.n_stable >= 2


# ------------------------------------------------------------ the regime figure's data


def test_collapse_regime_data():
    alpha = np.array([0.2, 0.5, 0.8])
    beta = np.array([0.001, 0.01, 0.04, 0.15, 1.0])
    R = collapse_regime(alpha, beta, k=16)
    assert R.log10_depth.shape == (3, 5) and R.practice_beta == PRACTICE_BETA == (0.0, 0.04)
    in_practice = beta <= PRACTICE_BETA[1]
    # Practitioners’ β: collapsed for every α ≥ 0.2 (OOD pass@16 below 10%; 5.8% at α = 0.2, β = 0.04).
    assert np.all(R.ood_pass_at_k[:, in_practice] < 0.1)
    # Deep in the collapsed regime the K1 prediction is the depth.
    np.testing.assert_allclose(R.log10_depth[:, :2], R.log10_predicted[:, :2], atol=1e-9)
    np.testing.assert_allclose(R.critical_beta, critical_kl_strength(alpha), rtol=1e-15)
    np.testing.assert_allclose(R.instability_beta, uniform_instability_threshold(2, alpha), rtol=1e-15)


# ------------------------------------------------------------ K3: the JSD objective


@pytest.mark.parametrize("lam, beta", [(0.5, 0.01), (0.9, 0.01), (0.5, 0.04), (0.3, 0.02)])
def test_K3_jsd_rest_point_is_where_the_iterated_jsd_rule_goes(lam, beta):
    """The JSD round's rest point is the reverse round's with (λα, β/(1 − λ)); the JSD rule
    iterated from π0 reaches it."""
    task = ms.make_task([0.6, 0.3, 0.1])
    u = collapsed_rest_point(task, 0.5, beta, jsd_weight=lam)
    np.testing.assert_allclose(u, collapsed_rest_point(task, 0.5 * lam, beta / (1 - lam)), rtol=1e-14)
    r = ms.SelfDistillation(ms.CopyTeacher(0.5), beta=beta, objective="jsd", jsd_weight=lam,
                            teacher_base="current", reference="base")
    rounds = int(60 * (1 - lam) / beta)
    lp = ms.iterate(r, task, rounds, every=rounds, record_policy=False).final.log_policy
    np.testing.assert_allclose(lp, u, rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(ms.apply_map(r, u, task), u, rtol=1e-12, atol=1e-12)


def test_K3_the_trainers_jsd_collapses_far_less_at_the_same_beta():
    """At λ = 0.5, α = 0.5, β = 0.04 (SDPO's default objective at the top of the practical β
    range) the minority keeps π_2/π_1 ≈ 0.185, against 2e-8 for the reverse objective; the
    critical strengths fall to (1 − λ)·log(1 − λα)/log δ."""
    task = ms.make_task([0.6, 0.4])
    jsd = collapse_depth(task, 0.5, 0.04, jsd_weight=0.5)
    rev = collapse_depth(task, 0.5, 0.04)
    assert np.exp(jsd.log_depth) == pytest.approx(0.18534, rel=1e-4)
    assert np.exp(rev.log_depth) == pytest.approx(1.98682e-8, rel=1e-4)
    assert critical_kl_strength(0.5, jsd_weight=0.5) == pytest.approx(0.5 * np.log(0.75) / np.log(0.01), rel=1e-14)
    assert critical_kl_strength(0.2, jsd_weight=0.5) == pytest.approx(0.011439, rel=1e-4)
    assert uniform_instability_threshold(2, 0.5, jsd_weight=0.5) == pytest.approx(
        0.5 * uniform_instability_threshold(2, 0.25), rel=1e-14)
    deep = collapse_depth(task, 0.5, 0.002, jsd_weight=0.5)
    assert deep.log_depth == pytest.approx(float(deep.log_predicted), abs=1e-9)


def test_sympy_derivation_of_the_K3_correspondence():
    """modesim.symbolic.jsd_rest_point proves the JSD term equals K1's with α → λα, β → β/(1 − λ);
    the same identity with α left unchanged is (correctly) not proved."""
    import sympy as sp

    from modesim.symbolic import _is_zero, alpha, jsd_rest_point

    d = jsd_rest_point()
    assert d.proved
    pi, D, lam = sp.symbols("pi D lambda", positive=True)
    wrong = -(1 - lam) * (sp.log(1 - alpha) + D * sp.log(1 + alpha / ((1 - alpha) * pi)))
    s_ = sp.Symbol("s", positive=True)
    assert not _is_zero((d.steps["lhs"] - wrong).subs(lam, s_ / (1 + s_)))
