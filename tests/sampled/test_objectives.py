"""modesim.sampled.objectives: per-token gradients of the reverse KL, forward KL and JSD (theory §8.1).

Checks: each objective's logit gradient against a 40-digit numerical derivative of the
objective itself (mpmath), with a deliberately wrong JSD gradient as the failing control;
the sampled-token estimator's exact expectation is the full-distribution gradient; the
trainers' endpoint convention (λ = 1 reverse, λ = 0 forward) and the limits of JSD_λ/(1 − λ)
and JSD_λ/λ; the overflow-free log-mixture against exact arithmetic; support errors.
"""

import mpmath
import numpy as np
import pytest

import modesim as ms
from modesim.sampled import SampledSD
from modesim.sampled.objectives import full_gradient, log_mix_ratio, token_excess


def _divergence(objective, lam, theta, T):
    """D(S(θ), T) in mpmath, as the trainers define it (TRL GKD / SDPO / OPSD convention)."""
    e = [mpmath.exp(t) for t in theta]
    Z = sum(e)
    S = [x / Z for x in e]
    if objective == "jsd" and lam == 1.0:
        objective = "reverse"
    if objective == "jsd" and lam == 0.0:
        objective = "forward"
    if objective == "reverse":
        return sum(s * mpmath.log(s / t) for s, t in zip(S, T))
    if objective == "forward":
        return sum(t * mpmath.log(t / s) for s, t in zip(S, T))
    lam = mpmath.mpf(lam)
    M = [lam * t + (1 - lam) * s for s, t in zip(S, T)]
    return lam * sum(t * mpmath.log(t / m) for t, m in zip(T, M)) + (1 - lam) * sum(
        s * mpmath.log(s / m) for s, m in zip(S, M))


def _numerical_gradient(objective, lam, theta, T):
    with mpmath.workdps(40):
        T = [mpmath.mpf(float(t)) for t in T]
        th = [mpmath.mpf(float(t)) for t in theta]
        out = []
        for k in range(len(th)):
            def f(x, k=k):
                shifted = list(th)
                shifted[k] = x
                return _divergence(objective, lam, shifted, T)
            out.append(float(mpmath.diff(f, th[k])))
    return np.array(out)


CASES = [("reverse", None), ("forward", None), ("jsd", 0.5), ("jsd", 0.05), ("jsd", 0.93), ("jsd", 1.0), ("jsd", 0.0)]


@pytest.mark.parametrize("objective, lam", CASES)
@pytest.mark.parametrize("seed", [0, 1])
def test_full_gradient_is_the_derivative_of_the_objective(objective, lam, seed):
    rng = np.random.default_rng(seed)
    theta = rng.normal(size=5)
    T = rng.dirichlet(np.ones(5))
    S = np.exp(theta - theta.max())
    S /= S.sum()
    g = full_gradient(objective, lam, np.log(S), S, np.log(T)[None], np.array([1.0]))
    np.testing.assert_allclose(g, _numerical_gradient(objective, lam, theta, T), rtol=1e-12, atol=1e-15)


def test_the_derivative_check_fails_on_a_wrong_jsd_gradient():
    # Negative control: the JSD gradient without its (1 − λ) factor, and the reverse-KL
    # gradient passed off as the JSD's, both fail the same check.
    rng = np.random.default_rng(0)
    theta, T = rng.normal(size=5), rng.dirichlet(np.ones(5))
    S = np.exp(theta) / np.exp(theta).sum()
    exact = _numerical_gradient("jsd", 0.5, theta, T)
    right = full_gradient("jsd", 0.5, np.log(S), S, np.log(T)[None], np.array([1.0]))
    assert np.allclose(right, exact, rtol=1e-12, atol=1e-15)
    for wrong in (right / 0.5, full_gradient("reverse", None, np.log(S), S, np.log(T)[None], np.array([1.0]))):
        assert not np.allclose(wrong, exact, rtol=1e-3)


@pytest.mark.parametrize("objective, lam", CASES)
def test_sampled_token_estimator_is_unbiased_for_the_full_gradient(objective, lam):
    # E_{y~S}[e(y)(e_y − S)] = S ⊙ (e − Σ S e): summed over every y exactly.
    rng = np.random.default_rng(3)
    S, T = rng.dirichlet(np.ones(6)), rng.dirichlet(np.ones(6))
    lp = np.log(S)
    e = token_excess(objective, lam, lp, np.log(T))
    expectation = sum(S[y] * e[y] * (np.eye(6)[y] - S) for y in range(6))
    full = full_gradient(objective, lam, lp, S, np.log(T)[None], np.array([1.0]))
    np.testing.assert_allclose(expectation, full, atol=1e-15)


def test_endpoints_are_the_trainers_special_cases_not_the_limits():
    # λ = 1 is the reverse and λ = 0 the forward KL (TRL GKD, SDPO, OPSD special-case them);
    # JSD_λ itself tends to 0 at both ends: its gradient over (1 − λ) tends to the reverse
    # KL's and over λ to the forward KL's (theory §8.1).
    rng = np.random.default_rng(4)
    S, T = rng.dirichlet(np.ones(5)), rng.dirichlet(np.ones(5))
    lp, rows, w = np.log(S), np.log(T)[None], np.array([1.0])
    rev = full_gradient("reverse", None, lp, S, rows, w)
    fwd = full_gradient("forward", None, lp, S, rows, w)
    np.testing.assert_array_equal(full_gradient("jsd", 1.0, lp, S, rows, w), rev)
    np.testing.assert_array_equal(full_gradient("jsd", 0.0, lp, S, rows, w), fwd)
    for eps in (1e-4, 1e-6):
        near1 = full_gradient("jsd", 1.0 - eps, lp, S, rows, w) / eps
        near0 = full_gradient("jsd", eps, lp, S, rows, w) / eps
        assert np.max(np.abs(near1 - rev)) < 50 * eps * np.max(np.abs(rev))
        assert np.max(np.abs(near0 - fwd)) < 50 * eps * np.max(np.abs(fwd))
    mid = full_gradient("jsd", 0.5, lp, S, rows, w)
    assert np.max(np.abs(mid)) < 0.5 * min(np.max(np.abs(rev)), np.max(np.abs(fwd)))


@pytest.mark.parametrize("lam", [1e-300, 1e-10, 0.3, 0.5, 1 - 1e-10])
def test_log_mix_ratio_matches_exact_arithmetic(lam):
    z = np.array([-np.inf, -1e4, -800.0, -50.0, -1e-9, 0.0, 1e-9, 2.0, 50.0, 699.0, 701.0, 1e4])
    got = log_mix_ratio(z, lam)
    with mpmath.workdps(60):
        L = mpmath.mpf(lam)
        exact = [float(mpmath.log(1 - L)) if np.isneginf(x) else float(mpmath.log(L * mpmath.exp(mpmath.mpf(x)) + 1 - L))
                 for x in z]
    np.testing.assert_allclose(got, exact, rtol=4e-16, atol=4e-16)


def test_jsd_never_reports_missing_support_while_the_kls_do():
    # A teacher with T(1|d) = 0: KL(π‖T) = ∞; a teacher with mass on a mode the student holds
    # at 0: KL(T‖π) = ∞; the JSD is finite in both cases.
    task = ms.make_task([0.5, 0.3, 0.2], [True, True, False])
    no_support = ms.MatrixTeacher(np.array([[1.0, 0.0, 0.0], [0.5, 0.5, 0.0], [0.5, 0.0, 0.5]]))
    for est in ("sampled", "full"):
        with pytest.raises(ValueError, match="zero probability to a mode the student"):
            ms.train(SampledSD(no_support, estimator=est, seed=0), task, 3, n_seeds=20)
        traj = ms.train(SampledSD(no_support, objective="jsd", estimator=est, seed=0), task, 3, n_seeds=20)
        assert np.all(np.isfinite(traj.final.log_policy))
    dead = ms.make_task([0.5, 0.5, 0.0], [True, True, False])
    spill = ms.MatrixTeacher(np.full((3, 3), 1 / 3))
    with pytest.raises(ValueError, match="positive probability to a mode the student holds at zero"):
        ms.train(SampledSD(spill, objective="forward", estimator="full", seed=0), dead, 3, n_seeds=5)
    traj = ms.train(SampledSD(spill, objective="jsd", estimator="full", seed=0), dead, 3, n_seeds=5)
    assert np.all(np.isneginf(traj.final.log_policy[..., 2]))
