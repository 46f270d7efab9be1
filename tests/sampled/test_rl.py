"""modesim.sampled.rl: finite-sample REINFORCE, RLOO and GRPO (theory §2.3).

Checks: each estimator's mean equals its closed-form mean field (Monte Carlo over 100k
groups, and exact enumeration of all K^N groups); GRPO's clock s_N(J) against exact
arithmetic for N up to 1030 (issue 9 kind 3); the declared capabilities (issue 9 kind 4);
batched parameters against the loop over scalar settings (issue 11 item 1); bad input.
"""

from dataclasses import dataclass
from fractions import Fraction
from math import comb

import mpmath
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import modesim as ms
from modesim.sampled import SampledRL
from modesim.sampled.rl import grpo_speed
from modesim.simplex import log_mass

from .support import R4, Z_BOUND, exact_direction, mc_agrees

# ------------------------------------------------------------------ unbiasedness

UNBIASED = [
    SampledRL("reinforce", n_rollouts=4, seed=1),
    SampledRL("rloo", n_rollouts=4, seed=2),
    SampledRL("grpo", n_rollouts=4, seed=3, beta=0.3),
]


@pytest.mark.parametrize("rule", UNBIASED, ids=lambda r: r.estimator)
def test_estimator_mean_matches_exact_expected_update(rule):
    ok, z = mc_agrees(rule, R4, exact_direction(rule, R4))
    assert ok, f"max |z| = {z:.2f} > {Z_BOUND}"


@dataclass(frozen=True, eq=False)
class SelfBaselineREINFORCE(SampledRL):
    """Deliberately biased: the group mean *including* the rollout itself as baseline.

    Its expectation is ``(N − 1)/N·∇J``, not ``∇J``.
    """

    def advantages(self, r):
        return r - r.mean(-1, keepdims=True)


def test_unbiasedness_check_catches_a_biased_estimator():
    broken = SelfBaselineREINFORCE("reinforce", n_rollouts=4, seed=1)
    ok, z = mc_agrees(broken, R4, exact_direction(SampledRL("reinforce", n_rollouts=4), R4))
    assert not ok and z > 10


def test_reinforce_mean_field_is_softmax_policy_gradient():
    # theory §2.3: E[r(y)(e_y − π)] = π ⊙ (r − J), the exact softmax PG (R4's flow).
    task = ms.dirichlet_task(6, 0.7, seed=0, batch_shape=(5,), valid=np.arange(6) % 2 == 0)
    for est in ("reinforce", "rloo"):
        v = SampledRL(est, lr=0.3).velocity(task.log_base, task)
        np.testing.assert_allclose(v, ms.SoftmaxPG(0.3).velocity(task.log_base, task), atol=1e-15)


def _enumerated_update(rule, task):
    """E over all K^N rollout groups of the (per-rollout) update, by brute force."""
    K, N = task.n_modes, rule.n_rollouts
    p = task.base
    groups = np.array(np.meshgrid(*[np.arange(K)] * N, indexing="ij")).reshape(N, -1).T
    weight = np.prod(p[groups], axis=1)
    A = rule.advantages(rule.rewards(groups, np.broadcast_to(task.valid, (len(groups), K))))
    per_group = (np.eye(K)[groups] - p) * A[..., None]
    return (weight[:, None] * per_group.mean(1)).sum(0)


@pytest.mark.parametrize("estimator, N", [("grpo", 4), ("grpo", 5), ("rloo", 4), ("reinforce", 3)])
def test_grpo_speed_matches_brute_force_enumeration(estimator, N):
    # GRPO: the expectation over all K^N groups is s_N(J)·π ⊙ (r − J) (theory §2.3).
    task = ms.make_task([0.5, 0.2, 0.3], [True, True, False])
    rule = SampledRL(estimator, n_rollouts=N)
    np.testing.assert_allclose(_enumerated_update(rule, task), exact_direction(rule, task), atol=1e-14)


def test_enumeration_check_catches_a_wrong_clock():
    # Negative control: GRPO's update is not the plain softmax PG (its clock s_N(J) ≠ 1).
    task = ms.make_task([0.5, 0.2, 0.3], [True, True, False])
    rule = SampledRL("grpo", n_rollouts=4)
    wrong = SampledRL("reinforce", n_rollouts=4).velocity(task.log_base, task)
    assert np.max(np.abs(_enumerated_update(rule, task) - wrong)) > 0.05


# ------------------------------------------------------------------ GRPO's clock (issue 9 kind 3)


def _speed_mpmath(J, n, eps):
    """s_N(J) with exact binomials in 60-digit arithmetic."""
    with mpmath.workdps(60):
        J = mpmath.mpf(J)
        total = mpmath.mpf(0)
        for c in range(1, n):
            v = mpmath.mpf(c) / n * (1 - mpmath.mpf(c) / n)
            total += comb(n, c) * J ** (c - 1) * (1 - J) ** (n - c - 1) * v / (mpmath.sqrt(v) + eps)
        return total


def test_grpo_velocity_for_large_groups_matches_exact_arithmetic():
    # Issue 9 kind 3: with a float C(1030, c) the old formula returned [nan nan nan].
    task = ms.make_task([0.5, 0.3, 0.2], valid=[1, 1, 0])
    v = SampledRL("grpo", n_rollouts=1030, lr=1.0).velocity(task.log_base, task)
    with mpmath.workdps(60):
        pi = [mpmath.mpf(x) for x in (0.5, 0.3, 0.2)]
        J = pi[0] + pi[1]
        s = _speed_mpmath(J, 1030, 1e-6)
        exact = [float(s * pi[i] * ((1 if i < 2 else 0) - J)) for i in range(3)]
    np.testing.assert_allclose(v, exact, rtol=1e-12)
    np.testing.assert_allclose(v, [0.24980943, 0.14988566, -0.39969509], atol=5e-9)


def test_float_binomial_formula_is_the_broken_control():
    # The first version's formula, C(N, c) as a float times powers of J, gives NaN at
    # N = 1030 (inf·0): the exact-arithmetic check above fails on it.
    from scipy.special import comb as float_comb

    n, J = 1030, 0.8
    c = np.arange(1, n)
    v = (c / n) * (1 - c / n)
    with np.errstate(over="ignore", invalid="ignore", under="ignore"):
        old = np.sum(float_comb(n, c) * J ** (c - 1) * (1 - J) ** (n - c - 1) * v / (np.sqrt(v) + 1e-6))
    assert np.isnan(old)


@pytest.mark.parametrize("J", [0.0, 1e-300, 1e-9, 0.3, 0.8, 1 - 1e-12, 1.0])
@pytest.mark.parametrize("n", [2, 3, 8, 64, 1030, 2048])
def test_grpo_speed_against_exact_arithmetic(J, n):
    with np.errstate(divide="ignore"):
        log_j, log_fail = np.log(J), np.log1p(-J) if J < 1 else -np.inf
    s = grpo_speed(np.array(log_j), np.array(log_fail), n, 1e-6)
    assert np.isfinite(s)
    np.testing.assert_allclose(s, float(_speed_mpmath(J, n, 1e-6)), rtol=1e-11, atol=1e-300)


def test_grpo_speed_equals_exact_rationals_for_small_groups():
    # eps = 0: v/(√v) = √v; with N = 4 every √v is √3/4 or 1/2, so s is exact in Q(√3).
    J = Fraction(3, 7)
    n = 4
    rational = Fraction(0)
    irrational = Fraction(0)  # coefficient of √3
    for c in range(1, n):
        w = comb(n, c) * J ** (c - 1) * (1 - J) ** (n - c - 1)
        if c == 2:
            rational += w * Fraction(1, 2)
        else:
            irrational += w * Fraction(1, 4)
    exact = float(rational) + float(irrational) * np.sqrt(3.0)
    s = grpo_speed(np.array(np.log(3 / 7)), np.array(np.log(4 / 7)), n, 1e-300)
    np.testing.assert_allclose(s, exact, rtol=1e-14)


def test_worked_numbers_grpo_clock_n8_and_its_symmetry():
    # theory §2.3: s_8(0.5) = 1.8557, s_8(0.1) = s_8(0.9) = 2.3277; s_N(J) = s_N(1 − J).
    def s8(J):
        return float(grpo_speed(np.array(np.log(J)), np.array(np.log1p(-J)), 8, 1e-6))

    assert round(s8(0.5), 4) == 1.8557
    assert round(s8(0.1), 4) == round(s8(0.9), 4) == 2.3277
    for J in (0.01, 0.3, 0.45):
        assert s8(J) == pytest.approx(s8(1 - J), rel=1e-13)


def test_grpo_mean_field_with_2048_rollouts_is_finite():
    task = ms.make_task([0.5, 0.3, 0.2], valid=[1, 1, 0])
    traj = ms.flow(SampledRL("grpo", n_rollouts=2048, lr=1.0), task, [0.0, 1.0, 10.0, 100.0])
    assert np.all(np.isfinite(traj.log_policy))
    J = traj.policy[..., :2].sum(-1)
    assert np.all(np.diff(J) > 0) and J[-1] > 0.99


# ------------------------------------------------------------------ protocol (issue 9 kind 4)


def test_sampled_rules_are_not_maps_and_fixed_points_refuse_them():
    task = ms.make_task([0.5, 0.3, 0.2], [1, 0, 0])
    rule = SampledRL("grpo", n_rollouts=4)
    assert ms.capabilities(rule) == {"estimate", "velocity"}
    assert "deterministic" not in rule.capabilities and "memoryless" not in rule.capabilities
    for call in (
        lambda: ms.fixed_points(rule, task),
        lambda: ms.map_jacobian(rule, task, task.base),
        lambda: ms.apply_map(rule, task.log_base, task),
        lambda: ms.flow_jacobian(rule, task, task.base),
    ):
        with pytest.raises(ValueError, match=r"needs a rule that is deterministic .* SampledRL declares \['estimate', 'velocity'\]"):
            call()


def test_a_diversity_bonus_has_no_velocity_and_flow_refuses_it():
    rule = SampledRL(diversity_bonus=1.0)
    assert rule.capabilities == {"estimate"}
    with pytest.raises(ValueError, match="flow .* needs a rule that is able to give a continuous-time velocity"):
        ms.flow(rule, R4, [0.0, 1.0])
    with pytest.raises(ValueError, match=r"diversity_bonus=1.0: the expected update has no closed form"):
        rule.velocity(R4.log_base, R4)


def test_silent_groups_count_steps_without_signal():
    task = ms.make_task([1e-30, 1.0 - 1e-30], [True, False])
    traj = ms.train(SampledRL(seed=0), task, 25, n_seeds=3)
    np.testing.assert_array_equal(traj.final.silent_groups, [25, 25, 25])
    np.testing.assert_array_equal(traj.log_policy[-1], np.broadcast_to(task.log_base, (3, 2)))
    live = ms.train(SampledRL(seed=0), R4, 25, n_seeds=3).final.silent_groups
    assert np.all(live < 25)


def test_inputs_normalised_only_to_round_off():
    # Issue 9 kind 1: a largest entry of +1e-17 (normal near a vertex after many rounds).
    task = ms.make_task([0.5, 0.3, 0.2], valid=[1, 1, 0])
    exact = np.log(np.array([1.0 - 1e-35, 1e-35 * 0.6, 1e-35 * 0.4]))
    off = exact.copy()
    off[0] = 1e-17
    for rule in (SampledRL("grpo", beta=0.1, seed=0), SampledRL("rloo", seed=0)):
        v = rule.velocity(off, task)
        assert np.all(np.isfinite(v))
        np.testing.assert_allclose(v, rule.velocity(exact, task), atol=1e-16)
        s = rule.init(task)
        a = rule.step(s._replace(log_policy=off), task).log_policy
        b = rule.step(s._replace(log_policy=exact), task).log_policy
        assert np.all(a <= 0.0) and np.all(np.isfinite(a))
        np.testing.assert_allclose(a, b, atol=1e-15)


# ------------------------------------------------------------------ parameter grids (issue 11 item 1)

SHAPES = [(), (3,), (2, 1), (2, 3)]


def _loop(make_rule, params, task, rounds):
    """Run the batched rule and the loop over scalar settings on the same task."""
    arrays = {k: np.asarray(v, dtype=float) for k, v in params.items()}
    batched = ms.iterate(make_rule(**params), task, rounds).log_policy
    run = batched.shape[1:-1]
    out = np.empty_like(batched)
    tb = task.batch_shape
    for i in np.ndindex(run):
        scalar = {k: float(np.broadcast_to(a, run)[i]) for k, a in arrays.items()}
        single = ms.iterate(make_rule(**scalar), task, rounds).log_policy
        out[(slice(None),) + i] = single[(slice(None),) + (i[len(i) - len(tb):] if tb else ())]
    return batched, out


@settings(max_examples=15, deadline=None)
@given(
    s_lr=st.sampled_from(SHAPES),
    s_beta=st.sampled_from(SHAPES),
    s_eps=st.sampled_from(SHAPES),
    estimator=st.sampled_from(["grpo", "rloo", "reinforce"]),
    prompts=st.booleans(),
    seed=st.integers(0, 10_000),
)
def test_batched_parameters_equal_the_loop_over_scalars(s_lr, s_beta, s_eps, estimator, prompts, seed):
    rng = np.random.default_rng(seed)
    task = ms.dirichlet_task(4, 1.0, seed=seed, batch_shape=(3,) if prompts else (),
                             valid=np.array([True, True, False, True]))
    params = {
        "lr": rng.uniform(0.1, 2.0, s_lr),
        "beta": rng.uniform(0.0, 0.5, s_beta),
        "eps": rng.uniform(1e-6, 0.1, s_eps),
    }
    make = lambda **p: SampledRL(estimator, n_rollouts=4, seed=seed, **p)  # noqa: E731
    batched, looped = _loop(make, params, task, 4)
    np.testing.assert_array_equal(batched, looped)
    v = make(**params).velocity(task.log_base, task)
    assert v.shape == np.broadcast_shapes(task.batch_shape, s_lr, s_beta, s_eps) + (4,)


def test_batched_diversity_bonus_equals_the_loop():
    batched, looped = _loop(lambda **p: SampledRL(n_rollouts=6, seed=3, **p),
                            {"diversity_bonus": np.array([0.0, 0.5, 2.0]), "lr": 0.7}, R4, 6)
    np.testing.assert_array_equal(batched, looped)


def test_parameter_shape_must_broadcast_against_the_task():
    task = ms.make_task([[0.5, 0.5]] * 3)
    rule = SampledRL(lr=np.ones(2))
    assert rule.param_shape == (2,)
    with pytest.raises(ValueError, match=r"parameters of SampledRL have batch shape \(2,\), which does not broadcast"):
        rule.init(task)


# ------------------------------------------------------------------ validation


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: SampledRL(estimator="ppo"), r"estimator must be one of .* got 'ppo'"),
        (lambda: SampledRL(n_rollouts=1), r"n_rollouts must be an integer >= 2; got 1"),
        (lambda: SampledRL(n_rollouts=2.0), r"n_rollouts must be an integer; got 2.0"),
        (lambda: SampledRL(lr=-1.0), r"lr must be a finite number > 0; got -1.0"),
        (lambda: SampledRL(lr=float("nan")), r"lr must be a finite number > 0; got nan"),
        (lambda: SampledRL(lr=[0.1, -1.0]), r"lr must be a finite number > 0; got .*-1.0.* at index \(1,\) of lr"),
        (lambda: SampledRL(lr="fast"), r"lr must be a real number .* got 'fast'"),
        (lambda: SampledRL(beta=-0.1), r"beta must be a finite number >= 0; got -0.1"),
        (lambda: SampledRL(diversity_bonus=-1), r"diversity_bonus must be a finite number >= 0; got -1"),
        (lambda: SampledRL(eps=0.0), r"eps must be a finite number > 0; got 0.0"),
        (lambda: SampledRL(seed=-3), r"seed must be None, a non-negative integer .* got -3"),
        (lambda: SampledRL(seed=1.5), r"seed must be .* got 1.5"),
        (lambda: SampledRL(seed="x"), r"seed must be .* got 'x'"),
    ],
)
def test_bad_input_raises_value_error_naming_argument_and_value(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_velocity_uses_the_invalid_mass_directly():
    # 1 − J from the invalid modes' own mass: exact where J = 1 − 1e-20 (kind 2).
    lp = np.log(np.array([0.6, 0.4 - 1e-20, 1e-20]))
    lp[1] = np.log1p(-0.6 - 1e-20)
    task = ms.make_task([0.6, 0.3, 0.1], [1, 1, 0])
    g = SampledRL("reinforce", lr=1.0).velocity(lp, task)
    np.testing.assert_allclose(g[:2], np.exp(lp[:2]) * 1e-20, rtol=1e-12)
    assert np.isclose(np.exp(log_mass(lp, ~task.valid)), 1e-20, rtol=1e-12)
