"""Finite-sample training (modesim.stochastic): unbiased estimators, mean field, seeds, outcomes.

Statistical checks are seeded (deterministic) and use a stated bound: a Monte Carlo mean
agrees with an exact expectation when every component is within 5 standard errors, the
standard error estimated from the same samples.  Each such check is also run on a
deliberately biased estimator and must fail there.
"""

from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import modesim as ms
from modesim.stochastic import (
    SampledRL,
    SampledSD,
    _grpo_speed,
    collapse_times,
    fan,
    fixation_probability,
    mean_field,
    mean_field_distance,
    replicate,
    sample_modes,
    train,
)
from modesim.testing import tasks

MC_ROWS = 100_000
Z_BOUND = 5.0

# MATH §2.2 R4's example: three valid modes (0.3, 0.15, 0.05) and one invalid (0.5).
R4 = ms.make_task([0.3, 0.15, 0.05, 0.5], [True, True, True, False])


def mc_agrees(rule, task, exact, *, rows=MC_ROWS):
    """Monte Carlo mean of ``rule.estimate`` over ``rows`` independent groups vs ``exact``.

    Returns (agrees, largest |z|): agrees when every mode is within Z_BOUND standard errors.
    """
    big = replicate(task, rows)
    direction, _ = rule.estimate(rule.init(big), big)
    mean = direction.mean(axis=0)
    se = direction.std(axis=0, ddof=1) / np.sqrt(rows)
    z = np.abs(mean - exact) / np.maximum(se, 1e-15)
    return bool(np.all(z <= Z_BOUND)), float(z.max())


def exact_direction(rule, task):
    return rule.velocity(task.log_base, task) / rule.lr


# ------------------------------------------------------------------ unbiasedness

UNBIASED = [
    SampledRL("reinforce", n_rollouts=4, seed=1),
    SampledRL("rloo", n_rollouts=4, seed=2),
    SampledRL("grpo", n_rollouts=4, seed=3, beta=0.3),
    SampledSD(n_rollouts=4, seed=4),
    SampledSD(n_rollouts=4, seed=5, baseline="loo", beta=0.2),
    SampledSD(n_rollouts=4, seed=6, estimator="full"),
    SampledSD(n_rollouts=4, seed=7, estimator="full", exclude_self=False),
    SampledSD(ms.TiltTeacher(1.5), n_rollouts=4, seed=8),
    SampledSD(ms.TiltTeacher(-1.0, similarity=np.eye(4) + 0.2), n_rollouts=4, seed=9),
    SampledSD(ms.MultiDemoTeacher(0.5, 3), demos=ms.UniformDemos(), n_rollouts=4, seed=10),
    SampledSD(demos=ms.ConditionedDemos(), estimator="full", n_rollouts=3, seed=11),
    SampledSD(ms.MatrixTeacher(0.1 + 0.6 * np.eye(4)), n_rollouts=4, seed=13),
    SampledSD(ms.MatrixTeacher(0.1 + 0.6 * np.eye(4)), estimator="full", n_rollouts=4, seed=14),
]


@pytest.mark.parametrize("rule", UNBIASED, ids=lambda r: f"{type(r).__name__}-{r.estimator}-{r.seed}")
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
    exact = SampledRL("reinforce", n_rollouts=4).velocity(R4.log_base, R4) / broken.lr
    ok, z = mc_agrees(broken, R4, exact)
    assert not ok and z > 10


def test_self_including_demonstrations_bias_the_sampled_estimator():
    # The scored rollout can be its own demonstration: the sampled estimator no longer
    # matches the full-distribution gradient it is meant to estimate (MATH §3.1 "usually
    # excluding the rollout being scored").
    biased = SampledSD(n_rollouts=4, seed=12, exclude_self=False)
    exact = exact_direction(SampledSD(n_rollouts=4, exclude_self=False, estimator="full"), R4)
    ok, z = mc_agrees(biased, R4, exact)
    assert not ok and z > 10
    with pytest.raises(ValueError, match="exclude_self=False"):
        biased.velocity(R4.log_base, R4)


def test_reinforce_mean_field_is_softmax_policy_gradient():
    # MATH §2.2: E[r(y)(e_y − π)] = π ⊙ (r − J), the exact softmax PG.
    task = ms.dirichlet_task(6, 0.7, seed=0, batch_shape=(5,), valid=np.arange(6) % 2 == 0)
    for est in ("reinforce", "rloo"):
        v = SampledRL(est, lr=0.3).velocity(task.log_base, task)
        np.testing.assert_allclose(v, ms.SoftmaxPG(0.3).velocity(task.log_base, task), atol=1e-15)


def test_grpo_speed_matches_brute_force_enumeration():
    # E over all K^N rollout groups of GRPO's update equals s_N(J)·π ⊙ (r − J).
    K, N = 3, 4
    task = ms.make_task([0.5, 0.2, 0.3], [True, True, False])
    rule = SampledRL("grpo", n_rollouts=N)
    p = task.base
    groups = np.array(np.meshgrid(*[np.arange(K)] * N, indexing="ij")).reshape(N, -1).T
    weight = np.prod(p[groups], axis=1)
    A = rule.advantages(rule.rewards(groups, np.broadcast_to(task.valid, (len(groups), K))))
    per_group = (np.eye(K)[groups] - p) * A[..., None]
    expected = (weight[:, None] * per_group.mean(1)).sum(0)
    J = p[task.valid].sum()
    np.testing.assert_allclose(expected, _grpo_speed(np.array(J), N, rule.eps) * p * (task.reward - J), atol=1e-13)
    np.testing.assert_allclose(expected, exact_direction(rule, task), atol=1e-13)


def test_group_demonstrations_come_from_other_correct_rollouts():
    rule = SampledSD(n_rollouts=6, seed=0)
    task = replicate(ms.make_task([0.2, 0.3, 0.1, 0.4], [1, 1, 1, 0]), 5000)
    rng = np.random.default_rng(1)
    y = sample_modes(task.log_base, 6, rng)
    correct = task.valid[np.arange(5000)[:, None], y]
    demos, has = rule._group_demos(y, correct, rng)
    assert np.array_equal(has, correct.sum(-1, keepdims=True) - correct > 0)
    # Each demonstration is the mode of some *other* correct rollout of the same group.
    other = correct[:, None, :] & ~np.eye(6, dtype=bool)
    match = (y[:, None, :] == demos[..., 0][..., None]) & other
    assert np.all(match.any(-1)[has])


# ------------------------------------------------------------------ mean field

MEAN_FIELD_TOL = 0.01  # seed-averaged trajectories (200 seeds): observed gaps are ≤ 0.003


@pytest.mark.parametrize(
    "rule",
    [
        SampledRL("reinforce", n_rollouts=64, lr=0.05, seed=0),
        SampledRL("grpo", n_rollouts=64, lr=0.02, beta=0.1, seed=0),
        SampledSD(n_rollouts=64, lr=0.05, seed=0),
        SampledSD(n_rollouts=64, lr=0.05, tau=0.98, beta=0.05, estimator="full", seed=0),
    ],
    ids=["reinforce", "grpo-kl", "sd-current", "sd-ema-full"],
)
def test_simulation_follows_the_mean_field(rule):
    steps, every = 400, 20
    sim = train(rule, R4, steps, n_seeds=200, every=every)
    mf = mean_field(rule, R4, np.arange(0, steps + 1, every))
    assert mean_field_distance(sim, mf, average=True) < MEAN_FIELD_TOL
    # Single runs fluctuate by O(sqrt(lr)) but stay near the mean field.
    assert mean_field_distance(sim, mf) < 0.15
    assert mf.policy[-1, 0] > R4.base[0] + 0.3


def test_reinforce_mean_field_equals_core_softmax_pg_flow():
    t = np.linspace(0.0, 200.0, 11)
    ours = mean_field(SampledRL("reinforce", lr=0.5), R4, t)
    core = ms.flow(ms.SoftmaxPG(0.5), R4, t)
    assert mean_field_distance(ours, core, seed_axis=None) < 1e-6


def test_mean_field_rest_points_are_the_closed_form_optima():
    # REINFORCE + exact KL: stationary iff log π = log π0 + r/β + c, the KL-regularised
    # optimum (MATH §2.1).  GRPO's clock s_N(J) changes J* but not the valid ratios (R1).
    # SD with a frozen teacher and external demonstrations: the closed form S1 (§3.2).
    t = [0.0, 1e4]
    rl = mean_field(SampledRL("reinforce", lr=1.0, beta=0.5), R4, t).policy[-1]
    np.testing.assert_allclose(rl, ms.kl_regularised_optimum(R4, 0.5), atol=1e-6)
    grpo = mean_field(SampledRL("grpo", lr=1.0, beta=0.5), R4, t).policy[-1]
    np.testing.assert_allclose(grpo[:3] / grpo[0], R4.base[:3] / R4.base[0], rtol=1e-5)
    sd_rule = SampledSD(demos=ms.UniformDemos(), tau=1.0, beta=0.5, lr=1.0)
    sd = mean_field(sd_rule, R4, t).policy[-1]
    exact = ms.sd_optimum(R4, teacher=ms.CopyTeacher(0.5), demos=ms.UniformDemos(), beta=0.5)
    np.testing.assert_allclose(sd, exact, atol=1e-6)


def test_mean_field_distance_rejects_mismatched_times():
    a = mean_field(SampledRL("reinforce"), R4, [0.0, 1.0])
    b = mean_field(SampledRL("reinforce"), R4, [0.0, 2.0])
    with pytest.raises(ValueError, match="same times"):
        mean_field_distance(a, b, seed_axis=None)


# ------------------------------------------------------------------ seeds and state


@pytest.mark.parametrize("make", [lambda s: SampledRL(seed=s), lambda s: SampledSD(seed=s, tau=0.5)])
def test_same_seed_same_run_different_seed_different_run(make):
    a = train(make(7), R4, 30, n_seeds=4)
    b = train(make(7), R4, 30, n_seeds=4)
    c = train(make(8), R4, 30, n_seeds=4)
    assert np.array_equal(a.log_policy, b.log_policy)
    assert not np.array_equal(a.log_policy, c.log_policy)
    assert not np.array_equal(a.log_policy[-1, 0], a.log_policy[-1, 1])  # seeds are independent
    g1 = train(make(np.random.default_rng(3)), R4, 5)
    g2 = train(make(np.random.default_rng(3)), R4, 5)
    assert np.array_equal(g1.log_policy, g2.log_policy)


def test_step_is_pure():
    rule = SampledSD(seed=0, tau=0.5)
    s0 = rule.init(R4)
    assert np.array_equal(rule.step(s0, R4).log_policy, rule.step(s0, R4).log_policy)
    assert np.array_equal(ms.iterate(rule, R4, 3).log_policy, ms.iterate(rule, R4, 3).log_policy)


def test_groups_without_a_correct_rollout_give_no_signal_and_are_counted():
    task = ms.make_task([1e-30, 1.0 - 1e-30], [True, False])
    for rule in (SampledSD(seed=0), SampledRL(seed=0)):
        traj = train(rule, task, 25, n_seeds=3)
        assert np.array_equal(traj.final.aux["silent_groups"], np.full(3, 25))
        np.testing.assert_array_equal(traj.log_policy[-1], np.broadcast_to(task.log_base, (3, 2)))


def test_batch_shapes_and_zero_probability_modes():
    task = ms.make_task([[0.5, 0.0, 0.3, 0.2], [0.1, 0.2, 0.3, 0.4]], [[1, 1, 0, 1], [1, 0, 1, 0]])
    rules = (
        SampledRL(beta=0.1, seed=0),
        SampledSD(estimator="full", beta=0.1, tau=0.5, seed=0),
        SampledSD(ms.TiltTeacher(1.0), estimator="full", tau=0.5, seed=0),
        SampledSD(ms.TiltTeacher(1.0, similarity=np.eye(4)), estimator="full", seed=0),
        SampledSD(ms.TiltTeacher(1.0, similarity=np.eye(4)), baseline="loo", seed=0),
    )
    for rule in rules:
        traj = train(rule, task, 20, n_seeds=3, every=5)
        assert traj.log_policy.shape == (5, 3, 2, 4)
        assert np.all(np.isneginf(traj.log_policy[..., 0, 1]))
        assert not np.any(np.isnan(traj.log_policy))


@pytest.mark.parametrize("estimator", ["sampled", "full"])
def test_teacher_without_support_is_an_input_error(estimator):
    # T(1|d) = 0 while the student holds mode 1: KL(π‖T) = ∞, reported rather than NaN.
    teacher = ms.MatrixTeacher(np.array([[1.0, 0.0, 0.0], [0.5, 0.5, 0.0], [0.5, 0.0, 0.5]]))
    task = ms.make_task([0.5, 0.3, 0.2], [True, True, False])
    rule = SampledSD(teacher, estimator=estimator, seed=0)
    with pytest.raises(ValueError, match="zero probability to a mode the student"):
        train(rule, task, 5, n_seeds=20)


# ------------------------------------------------------------------ never a NaN


@settings(max_examples=30, deadline=None)
@given(
    task=tasks(min_K=2, max_K=5, min_prob=1e-6),
    lr=st.floats(1e-3, 20.0),
    beta=st.floats(0.0, 5.0),
    tau=st.floats(0.0, 1.0),
    which=st.integers(0, 3),
)
def test_training_never_produces_nan(task, lr, beta, tau, which):
    rule = [
        SampledRL("grpo", lr=lr, beta=beta, diversity_bonus=1.0, seed=0),
        SampledRL("reinforce", lr=lr, beta=beta, seed=0),
        SampledSD(lr=lr, beta=beta, tau=tau, seed=0),
        SampledSD(ms.TiltTeacher(2.0), lr=lr, beta=beta, tau=tau, estimator="full", seed=0),
    ][which]
    traj = train(rule, task, 15, n_seeds=4)
    assert not np.any(np.isnan(traj.log_policy))
    assert np.all(np.isfinite(traj.log_policy) | np.isneginf(task.log_base))


# ------------------------------------------------------------------ outcomes across seeds


def test_sd_fixes_the_richer_mode_more_often_than_its_base_share():
    # Neutral drift would fix mode 0 with probability 0.7 (its share); SD amplifies
    # (MATH §3.4 S4), so the richer mode wins more often.
    task = ms.two_mode_task(0.7)
    traj = train(SampledSD(lr=0.5, seed=0), task, 300, n_seeds=400, every=10)
    # Convergence to a vertex is algebraic (the logit gradient carries a factor π), so
    # "fixed" means holding more than 1 − 1e-2 here.
    fix = fixation_probability(traj.policy[-1], eps=1e-2)
    assert fix.shape == (2,) and fix.sum() <= 1.0
    assert fix[0] > 0.85 and fix[1] < 0.1
    times = collapse_times(traj, task.valid, eps=1e-2)
    assert times.shape == (400,)
    assert np.all((times == -1) | ((times > 0) & (times <= 300)))
    band = fan(traj, 0)
    assert band.bands.shape == (5, traj.times.size)
    assert np.all(np.diff(band.bands, axis=0) >= 0)
    assert band.bands[2, 0] == pytest.approx(0.7)


@pytest.mark.parametrize("beta", [0.0, 0.05])
def test_diversity_bonus_keeps_both_modes_while_sd_collapses(beta):
    # MATH §7 ablation: GRPO with a diversity reward keeps both valid modes; SD collapses
    # at every KL strength.  Share of the minority valid mode after 400 steps, 200 seeds.
    task = ms.two_mode_task(0.7, valid_mass=0.5)

    def minority_share(rule):
        p = train(rule, task, 400, n_seeds=200, every=400).policy[-1]
        return p[:, 1] / p[:, :2].sum(-1)

    bonus = minority_share(SampledRL(lr=0.5, beta=beta, diversity_bonus=1.0, seed=0))
    plain = minority_share(SampledRL(lr=0.5, beta=beta, seed=0))
    sd = minority_share(SampledSD(lr=0.5, beta=beta, seed=0))
    assert np.quantile(bonus, 0.05) > 0.2 and np.median(bonus) > 0.4
    assert np.median(plain) < np.median(bonus) - 0.15
    if beta == 0.0:
        # Softmax PG is not ratio preserving (MATH §2.2 R4); a KL term pulls ratios back.
        assert np.median(plain) < 0.1
    assert np.quantile(sd, 0.95) < 0.02


def test_outcome_statistics_on_known_arrays():
    p = np.array([[0.9995, 0.0005], [0.5, 0.5], [0.0001, 0.9999], [0.9999, 0.0001]])
    np.testing.assert_allclose(fixation_probability(p, eps=1e-3), [0.5, 0.25])
    traj = ms.Trajectory(
        times=np.array([0, 10, 20]),
        log_policy=np.log(np.array([[[0.5, 0.5]], [[0.9999, 0.0001]], [[0.6, 0.4]]])),
        metrics={},
        final=ms.State(np.log([0.6, 0.4])),
    )
    np.testing.assert_array_equal(collapse_times(traj, eps=1e-3), [10.0])
    np.testing.assert_array_equal(collapse_times(traj, [False, True], eps=1e-3), [-1.0])


# ------------------------------------------------------------------ validation


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: SampledRL(estimator="ppo"), r"estimator must be one of .* got 'ppo'"),
        (lambda: SampledRL(n_rollouts=1), r"n_rollouts must be an integer >= 2; got 1"),
        (lambda: SampledRL(lr=-1.0), r"lr must be a finite number > 0; got -1.0"),
        (lambda: SampledRL(lr=float("nan")), r"lr must be a finite number > 0; got nan"),
        (lambda: SampledRL(beta=-0.1), r"beta must be a finite number >= 0; got -0.1"),
        (lambda: SampledRL(diversity_bonus=-1), r"diversity_bonus must be .* >= 0; got -1"),
        (lambda: SampledRL(seed=-3), r"seed must be None, a non-negative integer .* got -3"),
        (lambda: SampledRL(seed=1.5), r"seed must be .* got 1.5"),
        (lambda: SampledSD(tau=1.5), r"tau must lie in \[0, 1\]; got 1.5"),
        (lambda: SampledSD(n_rollouts=1), r"n_rollouts must be an integer >= 2; got 1"),
        (lambda: SampledSD(estimator="exact"), r"estimator must be one of .* got 'exact'"),
        (lambda: SampledSD(baseline="mean"), r"baseline must be one of .* got 'mean'"),
        (lambda: SampledSD(estimator="full", baseline="loo"), r"baseline='loo' applies"),
        (lambda: SampledSD(demos="uniform"), r"demos must be 'group' or a source .* got 'uniform'"),
        (lambda: SampledSD(teacher="copy"), r"teacher must be a core teacher .* got 'copy'"),
        (lambda: replicate(R4, 0), r"n_seeds must be an integer >= 1; got 0"),
        (lambda: fixation_probability([[0.5, 0.5]], eps=2), r"eps must lie in \(0, 1\); got 2"),
        (lambda: fixation_probability([0.5, 0.5]), r"axis must be a batch \(seed\) axis"),
        (lambda: mean_field(SampledRL(), R4, [1.0]), r"t_eval must be a 1-D increasing array"),
        (lambda: SampledRL(diversity_bonus=1.0).velocity(R4.log_base, R4), r"diversity_bonus=1.0"),
        (lambda: SampledSD(tau=0.5).velocity(R4.log_base, R4), r"tau=0.5 needs teacher_log_base"),
    ],
)
def test_bad_input_raises_value_error_naming_argument_and_value(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_fan_rejects_bad_mode_and_levels():
    traj = train(SampledRL(seed=0), R4, 2, n_seeds=2)
    with pytest.raises(ValueError, match=r"mode must be an integer in \[0, 4\); got 4"):
        fan(traj, 4)
    with pytest.raises(ValueError, match="levels must be"):
        fan(traj, 0, levels=[1.5])
