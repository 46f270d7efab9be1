"""The RL side (theory §2): R1–R4, each also shown to catch a broken rule."""

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import find, given, settings
from hypothesis import strategies as st

import modesim as ms
from modesim.simplex import log_normalise
from modesim.testing import tasks


def ratio_deviation(policy, task):
    """Worst |log(π(y)/π(y')) − log(π0(y)/π0(y'))| over valid pairs and over invalid pairs."""
    lp = np.log(policy)
    worst = 0.0
    for mask in (task.valid, ~task.valid):
        if mask.sum() >= 2:
            d = lp[mask] - task.log_base[mask]
            worst = max(worst, float(d.max() - d.min()))
    return worst


# ---------------------------------------------------------------- R1


@given(tasks(min_valid=2), st.floats(0.01, 100.0))
def test_R1_kl_optimum_preserves_ratios(task, beta):
    """theory §2.1 R1: π*_β(y)/π*_β(y') = π0(y)/π0(y') among valid (and among invalid) modes."""
    assert ratio_deviation(ms.kl_regularised_optimum(task, beta), task) < 1e-12


def _broken_kl_optimum(task, beta):
    # A plausible bug: tempering the base as well as the reward.
    return np.exp(log_normalise((task.log_base + task.reward) / beta))


def test_R1_check_catches_a_broken_optimum():
    bad = find(
        st.tuples(tasks(min_valid=2, distinct=0.1), st.floats(0.01, 100.0)),
        lambda x: ratio_deviation(_broken_kl_optimum(*x), x[0]) > 1e-6,
        settings=settings(database=None),
    )
    assert bad is not None


@settings(max_examples=30)
@given(tasks(min_valid=1, max_K=5), st.floats(0.05, 5.0))
def test_R1_closed_form_in_exact_rational_arithmetic(task, beta):
    """π*(y) = π0(y)E^{r(y)}/Σ π0 E^r with E = exp(1/β) taken as an exact rational."""
    p0 = [Fraction(float(x)) for x in task.base]
    E = Fraction(math.exp(1.0 / beta))
    w = [p * (E if v else 1) for p, v in zip(p0, task.valid)]
    Z = sum(w)
    exact = np.array([float(x / Z) for x in w])
    np.testing.assert_allclose(ms.kl_regularised_optimum(task, beta), exact, rtol=1e-12, atol=1e-300)


def test_R1_closed_form_matches_a_generic_optimiser():
    """The closed form maximises E_π[r] − β KL(π‖π0) (scipy.optimize on logits)."""
    from scipy.optimize import minimize

    task = ms.make_task([0.1, 0.2, 0.3, 0.4], [1, 0, 1, 0])
    beta = 0.7

    def neg(theta):
        lp = log_normalise(theta)
        p = np.exp(lp)
        return -(p @ task.reward - beta * p @ (lp - task.log_base))

    res = minimize(neg, np.zeros(4), method="BFGS", options={"gtol": 1e-12})
    np.testing.assert_allclose(np.exp(log_normalise(res.x)), ms.kl_regularised_optimum(task, beta), atol=1e-6)


# ---------------------------------------------------------------- R2


@given(tasks(min_valid=1))
def test_R2_filter_limit_and_monotone_valid_mass(task):
    """theory §2.1 R2: π*_β → π0(·|C) as β → 0, and π*_β(C) rises as β falls."""
    betas = np.geomspace(10.0, 1e-3, 25)
    mass = [np.where(task.valid, ms.kl_regularised_optimum(task, b), 0).sum() for b in betas]
    assert np.all(np.diff(mass) >= -1e-15)
    np.testing.assert_allclose(ms.kl_regularised_optimum(task, 1e-4), ms.filter_limit(task), atol=1e-12)
    np.testing.assert_allclose(ms.kl_regularised_optimum(task, 0.0), ms.filter_limit(task))
    np.testing.assert_allclose(ms.filter_limit(task), ms.conditional(task.base, task.valid))


def test_kl_optimum_with_tiny_beta_does_not_overflow():
    task = ms.make_task([0.5, 0.5], [1, 0])
    np.testing.assert_array_equal(ms.kl_regularised_optimum(task, 1e-320), [1.0, 0.0])


# ---------------------------------------------------------------- R3


def conditional_drift(rule, task, rounds=20):
    traj = ms.iterate(rule, task, rounds)
    q = ms.conditional(traj.policy, task.valid)
    return float(np.abs(q - ms.filter_limit(task)).max()), traj


@given(tasks(min_valid=2), st.floats(0.1, 3.0))
def test_R3_mirror_descent_keeps_conditional_and_fills_valid_set(task, eta):
    """theory §2.2 R3: π_t(·|C) = π0(·|C) for every t while π_t(C) → 1."""
    drift, traj = conditional_drift(ms.NaturalPG(eta), task)
    assert drift < 1e-12
    mass = np.where(task.valid, traj.policy, 0).sum(-1)
    assert np.all(np.diff(mass) >= -1e-15)
    Z = mass[0]
    t = np.arange(21)
    np.testing.assert_allclose(mass, Z / (Z + (1 - Z) * np.exp(-eta * t)), rtol=1e-12)
    ent = ms.entropy(traj.policy, task.valid)
    np.testing.assert_allclose(ent, ent[0], atol=1e-12)


def test_R3_kl_rl_with_current_reference_equals_npg():
    task = ms.make_task([0.4, 0.3, 0.2, 0.1], [1, 0, 1, 1])
    a = ms.iterate(ms.KLRegularisedRL(beta=0.5, reference="current"), task, 6).policy
    b = ms.iterate(ms.NaturalPG(lr=2.0), task, 6).policy
    np.testing.assert_allclose(a, b, atol=1e-14)


def test_R3_check_catches_softmax_pg_and_a_broken_update():
    """Negative controls: vanilla softmax PG and a mis-tempered update drift."""
    task = ms.make_task([0.3, 0.15, 0.05, 0.5], [1, 1, 1, 0])
    assert conditional_drift(ms.SoftmaxPG(1.0), task)[0] > 1e-3

    class Broken(ms.NaturalPG):
        def step(self, state, task):
            return state.advance(log_normalise(1.05 * state.log_policy + self.lr * task.reward))

    assert conditional_drift(Broken(1.0), task)[0] > 1e-3


# ---------------------------------------------------------------- R4


def test_R4_softmax_pg_flow_worked_numbers():
    """theory §2.2 R4: ratio π0/π1 ≈ 12 at t = 100 and ≈ 370 at t = 1e5."""
    task = ms.make_task([0.3, 0.15, 0.05, 0.5], [1, 1, 1, 0])
    traj = ms.flow(ms.SoftmaxPG(), task, [0.0, 100.0, 1e5])
    ratio = traj.policy[:, 0] / traj.policy[:, 1]
    assert ratio[0] == pytest.approx(2.0)
    assert ratio[1] == pytest.approx(12, rel=0.05)
    assert ratio[2] == pytest.approx(370, rel=0.02)


@settings(max_examples=40)
@given(tasks(min_valid=2, distinct=0.05, max_K=5))
def test_R4_log_ratio_velocity_formula(task):
    """d/dt log(π_y/π_y') = (π_y − π_y')(1 − J) for valid y, y' (theory §2.2)."""
    rule = ms.SoftmaxPG()
    g = rule.velocity(task.log_base, task)
    p = task.base
    J = p[task.valid].sum()
    idx = np.flatnonzero(task.valid)
    y, yp = idx[0], idx[1]
    assert g[y] - g[yp] == pytest.approx((p[y] - p[yp]) * (1 - J), abs=1e-14)


def test_softmax_pg_discrete_step_matches_gradient_ascent_on_logits():
    task = ms.make_task([0.3, 0.2, 0.5], [1, 1, 0])
    theta = task.log_base.copy()
    J = lambda th: np.exp(log_normalise(th))[:2].sum()
    eps = 1e-6
    grad = np.array([(J(theta + eps * e) - J(theta - eps * e)) / (2 * eps) for e in np.eye(3)])
    new = ms.SoftmaxPG(0.1).step(ms.SoftmaxPG(0.1).init(task), task).log_policy
    np.testing.assert_allclose(new, log_normalise(theta + 0.1 * grad), atol=1e-9)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: ms.kl_regularised_optimum(ms.make_task([0.5, 0.5]), -1), "beta must be"),
        (lambda: ms.NaturalPG(0), "lr must be"),
        (lambda: ms.SoftmaxPG(np.nan), "lr must be"),
        (lambda: ms.KLRegularisedRL(1.0, reference="x"), "reference must be"),
    ],
)
def test_bad_rl_parameters(call, match):
    with pytest.raises(ValueError, match=match):
        call()
