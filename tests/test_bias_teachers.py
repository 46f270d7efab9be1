"""Teachers that channel their own bias (theory §8.3): the power-copy teacher
T(y|d) ∝ ρ(y) + c·ρ(d)^γ·1[y = d] against brute force, its Ī under uniform, self-generated
and fixed demonstrations (B1–B3), the claims of the practice issue checked and extended,
and the counterexample for γ < 0.
"""

from __future__ import annotations

import itertools

import mpmath as mp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import modesim as ms
from modesim.bias_teachers import PowerCopyTeacher
from modesim.testing import betas, policies, tasks

P = [0.6, 0.3, 0.1]


def brute_matrix(rho, c, g):
    """T[d, y] = (ρ(y) + c ρ(d)^γ 1[y = d])/(1 + c ρ(d)^γ), ρ(d) = 0 handled by the limit."""
    K = len(rho)
    T = np.zeros((K, K))
    for d in range(K):
        if rho[d] == 0:
            odds = 0.0 if (c == 0 or g > 0) else (c if g == 0 else np.inf)
        else:
            odds = c * rho[d] ** g
        if np.isinf(odds):
            T[d, d] = 1.0
        else:
            T[d] = (rho + odds * (np.arange(K) == d)) / (1 + odds)
    return T


PARAMS = [(1.0, 2.0), (0.3, 0.0), (2.0, -1.0), (0.0, 1.5), (5.0, 0.5), (1e-3, 3.0)]


@pytest.mark.parametrize("c, g", PARAMS)
@settings(max_examples=15, deadline=None)
@given(rho=policies(K=4), demo=policies(K=4))
def test_protocol_equals_brute_force(c, g, rho, demo):
    t = PowerCopyTeacher(c, g)
    lr = np.log(rho)
    T = brute_matrix(rho, c, g)
    np.testing.assert_allclose(t.matrix(lr), T, rtol=1e-13, atol=1e-16)
    np.testing.assert_allclose(t.expected_log(lr, demo), demo @ np.log(T), rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(t.log_mixture(lr, np.log(demo)), np.log(demo @ T), rtol=1e-12, atol=1e-13)
    rng = np.random.default_rng(int(rho[0] * 1e9))
    demos = rng.integers(0, 4, size=(6, 1))
    w = rng.random(6)
    np.testing.assert_allclose(t.weighted_log_rows(lr, demos, w), w @ np.log(T[demos[:, 0]]), rtol=1e-12, atol=1e-13)
    y = rng.integers(0, 4, size=6)
    np.testing.assert_allclose(t.log_prob(lr, demos, y), np.log(T[demos[:, 0], y]), rtol=1e-12, atol=1e-13)
    wl, lv = t.demo_law(lr, demo)
    np.testing.assert_allclose((wl * lv).sum(-2), demo @ np.log(T), rtol=1e-12, atol=1e-13)


def test_gamma_zero_is_the_copy_teacher_and_c_zero_ignores_the_demonstration():
    rho, D = np.array([0.5, 0.3, 0.15, 0.05]), np.array([0.1, 0.2, 0.3, 0.4])
    lr = np.log(rho)
    for c in (0.2, 1.0, 4.0):
        np.testing.assert_allclose(PowerCopyTeacher(c, 0.0).expected_log(lr, D),
                                   ms.CopyTeacher(c / (1 + c)).expected_log(lr, D), rtol=1e-14)
    np.testing.assert_allclose(PowerCopyTeacher.from_alpha(0.5, 0.0).matrix(lr), ms.CopyTeacher(0.5).matrix(lr), rtol=1e-14)
    np.testing.assert_allclose(PowerCopyTeacher(0.0, 2.0).expected_log(lr, D), lr, rtol=1e-15)


def test_zero_probabilities_follow_the_limits():
    """ρ(y) = 0: only the demonstration y itself holds y, with T(y|y) = a(y) ∈ {0, c/(1+c), 1}."""
    rho = np.array([0.7, 0.3, 0.0])
    lr = np.log(np.where(rho > 0, rho, 1.0)) + np.where(rho > 0, 0.0, -np.inf)
    for c, g in [(1.0, 2.0), (1.0, 0.0), (1.0, -1.0)]:
        t = PowerCopyTeacher(c, g)
        T = brute_matrix(rho, c, g)
        with np.errstate(divide="ignore"):
            np.testing.assert_allclose(np.exp(t.log_matrix(lr)), T, atol=1e-15)
            D = np.array([0.0, 0.0, 1.0])
            expect = np.log(T[2])
        np.testing.assert_allclose(t.expected_log(lr, D), expect, atol=1e-15)
        assert not np.any(np.isnan(t.expected_log(lr, np.array([0.5, 0.5, 0.0]))))


# ------------------------------------------------------------ Ī closed forms (theory §8.3)


def information(teacher, task, demos):
    D = demos.distribution(task.log_base, task)
    return teacher.expected_log(task.log_base, D) - task.log_base


@settings(max_examples=25, deadline=None)
@given(tasks(min_valid=2), st.floats(0.01, 20.0), st.floats(-3.0, 4.0))
def test_information_closed_forms_under_three_demonstration_laws(task, c, g):
    """Ī(y) = Σ_d D(d) log(1 − a(d)) + D(y)·log(1 + c ρ(y)^(γ−1)), a(d) = cρ(d)^γ/(1 + cρ(d)^γ),
    evaluated in 40-digit arithmetic for uniform, self-generated and fixed demonstrations."""
    mp.mp.dps = 40
    t = PowerCopyTeacher(c, g)
    rho = [mp.mpf(float(x)) for x in task.base]
    C, Cm = mp.mpf(c), mp.mpf(g)
    a = [C * r ** Cm / (1 + C * r ** Cm) for r in rho]
    for demos in (ms.UniformDemos(), ms.ConditionedDemos(), ms.FixedDemo(int(np.flatnonzero(task.valid)[0]))):
        D = demos.distribution(task.log_base, task)
        Dm = [mp.mpf(float(x)) for x in D]
        const = sum(Dm[d] * mp.log(1 - a[d]) for d in range(len(rho)))
        exact = [float(const + Dm[y] * mp.log(1 + C * rho[y] ** (Cm - 1))) for y in range(len(rho))]
        np.testing.assert_allclose(information(t, task, demos), exact, rtol=1e-11, atol=1e-12)


def test_issue_claims_on_the_worked_base():
    """The first account (its §8) and issue 12 on (0.6, 0.3, 0.1), c = 1: under uniform demonstrations γ = 0, 0.5
    compress, γ = 1 preserves, γ = 1.5, 2, 3 amplify (B1); under self-generated ones every
    γ ∈ {0, 0.5, 1, 1.5, 2, 3} amplifies (B2, which extends the issue's {0, 1, 2} to γ ≥ 0)."""
    task = ms.make_task(P)
    for g in (0.0, 0.5, 1.0, 1.5, 2.0, 3.0):
        uni = ms.sd_optimum(task, teacher=PowerCopyTeacher(1.0, g), demos=ms.UniformDemos(), log=True)
        slf = ms.sd_optimum(task, teacher=PowerCopyTeacher(1.0, g), log=True)
        d_uni = np.diff(uni) - np.diff(task.log_base)   # change of log(π(y+1)/π(y)), < 0 = amplified
        d_slf = np.diff(slf) - np.diff(task.log_base)
        if g < 1:
            assert np.all(d_uni > 1e-3)
        elif g == 1:
            np.testing.assert_allclose(d_uni, 0.0, atol=1e-14)
        else:
            assert np.all(d_uni < -1e-3)
        assert np.all(d_slf < -1e-3)


def test_B2_derivative_bound_and_its_failure_below_zero():
    """h'(p) = log(1 + v) + (γ − 1)v/(1 + v) ≥ log(1 + v) − v/(1 + v) > 0 for γ ≥ 0 (v = c p^(γ−1));
    for γ < 0 it is negative where v is small: the counterexample region of control B2."""
    p = np.linspace(0.01, 1.0, 400)[:, None, None]
    c = np.logspace(-3, 2, 30)[None, :, None]
    for g in np.linspace(0.0, 4.0, 9):
        v = c * p ** (g - 1)
        hp = np.log1p(v) + (g - 1) * v / (1 + v)
        assert np.all(hp >= np.log1p(v) - v / (1 + v)) and np.all(hp > 0)
    v = 0.01 * 0.5 ** (-2.0)  # γ = −1, c = 0.01, p = 1/2
    assert np.log1p(v) - 2 * v / (1 + v) < 0


def test_negative_gamma_counterexample_compresses_under_self_generated_demonstrations():
    """Refutes 'amplifying for every γ' under self-generated demonstrations: γ = −1, c = 0.01."""
    task = ms.make_task([0.5, 0.4, 0.1])
    out = ms.sd_optimum(task, teacher=PowerCopyTeacher(0.01, -1.0), log=True)
    assert out[0] - out[1] < task.log_base[0] - task.log_base[1]


def test_fixed_demonstration_boosts_only_its_own_mode():
    task = ms.make_task([0.5, 0.3, 0.2])
    t = PowerCopyTeacher(2.0, 1.5)
    out = ms.sd_optimum(task, teacher=t, demos=ms.FixedDemo(2), beta=0.5, log=True)
    gain = out - task.log_base
    assert gain[0] == pytest.approx(gain[1], abs=1e-14)
    assert gain[2] - gain[0] == pytest.approx(np.log1p(2.0 * 0.2 ** 0.5) / 1.5, rel=1e-12)


# ------------------------------------------------------------ the paper's ablation, compounding


def test_uniform_external_demonstrations_collapse_iff_gamma_above_one():
    """With the teacher base and demonstrations updated every round, uniform external
    demonstrations still collapse the policy when γ > 1 (the paper's ablation) and do not when
    γ < 1 (the copy teacher, γ = 0, pulls toward uniform over C)."""
    task = ms.make_task(P)
    run = lambda g: ms.iterate(ms.SelfDistillation(PowerCopyTeacher(1.0, g), demos=ms.UniformDemos()), task, 200).policy
    hi, lo = run(2.0), run(0.0)
    assert hi[-1, 0] > 0.999 and np.all(np.diff(hi[:, 0]) >= 0)  # reaches 1 in float64
    assert np.max(np.abs(lo[-1] - 1 / 3)) < 0.05


def test_array_parameters_equal_the_loop_over_scalars():
    task = ms.make_task([[0.5, 0.3, 0.2], [0.2, 0.2, 0.6]])
    c = np.array([0.5, 2.0])[:, None, None]
    g = np.array([0.0, 1.0, 2.5])[None, :, None]
    out = ms.iterate(ms.SelfDistillation(PowerCopyTeacher(c, g), beta=0.2), task, 3).policy[-1]
    assert out.shape == (2, 3, 2, 3)
    for i, j in itertools.product(range(2), range(3)):
        one = ms.iterate(ms.SelfDistillation(PowerCopyTeacher(float(c[i, 0, 0]), float(g[0, j, 0])), beta=0.2), task, 3)
        np.testing.assert_allclose(out[i, j], one.policy[-1], rtol=1e-12)


@settings(max_examples=10, deadline=None)
@given(tasks(min_valid=2), betas(0.0, 2.0))
def test_jsd_objective_accepts_the_power_copy_teacher(task, beta):
    out = ms.sd_optimum(task, teacher=PowerCopyTeacher(1.0, 2.0), objective="jsd", beta=beta)
    assert np.all(np.isfinite(out)) and out.sum() == pytest.approx(1.0, rel=1e-12)


@pytest.mark.parametrize("kwargs, match", [
    ({"c": -1.0}, r"c must be a finite number >= 0"),
    ({"c": float("inf")}, "c must be"),
    ({"gamma": float("nan")}, r"gamma must be in \[-1e\+300, 1e\+300\]; got nan"),
    # γ = −1.8e308 made γ·log ρ overflow to +inf and the expected log NaN (inf − inf).
    ({"gamma": -1.7976931348623157e308}, r"gamma must be .*1e\+300.*got -1.79"),
    ({"c": [1.0, -2.0]}, r"got -2.0 at index \(1,\) of c"),
])
def test_bad_parameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        PowerCopyTeacher(**kwargs)
    with pytest.raises(ValueError, match="alpha must be"):
        PowerCopyTeacher.from_alpha(1.0)


def test_the_largest_exponents_stay_finite():
    """|γ| = 1e300: γ·log ρ is finite for every ρ >= e^-745; the limits of a(d) are 0 and 1."""
    lr = np.log([0.6, 0.3, 0.1])
    D = np.array([0.6, 0.3, 0.1])
    big = PowerCopyTeacher(1.0, 1e300).expected_log(lr, D)        # a(d) -> 0 for ρ(d) < 1: T = ρ
    np.testing.assert_allclose(big, lr, rtol=1e-15)
    neg = PowerCopyTeacher(1.0, -1e300).expected_log(lr, D)       # a(d) -> 1: T(y|d) = 1[y = d]
    assert not np.any(np.isnan(neg)) and np.all(neg < -1e290)


def test_sympy_derivation_of_the_B2_slope():
    from modesim.symbolic import power_copy_slope

    d = power_copy_slope()
    assert d.proved
    p, c, g = np.linspace(0.05, 1, 7), 0.7, 2.5
    h = lambda q: q * np.log1p(c * q ** (g - 1))
    np.testing.assert_allclose(d.numeric(p, c, g), (h(p + 1e-6) - h(p - 1e-6)) / 2e-6, rtol=1e-7)
