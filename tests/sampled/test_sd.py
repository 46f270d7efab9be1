"""modesim.sampled.sd: finite-sample self-distillation with sampled demonstrations (theory §3.6).

Checks: every estimator's mean equals its closed-form mean field (Monte Carlo over 100k
groups) for the built-in teachers and for a user's own teacher, with the self-including
estimator as the biased control; the shared SD shell (teacher base, EMA, reference, the
deprecated ``tau``); capabilities; batched parameters against the loop over scalars; valid
input runs clean under ``-W error`` (issue 9 kind 6); bad input.
"""

import warnings
from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import modesim as ms
from modesim.rule import geometric_mix
from modesim.sampled import SampledSD
from modesim.sampled.sampling import round_uniforms, sample_modes
from modesim.simplex import log_normalise

from .support import R4, Z_BOUND, exact_direction, mc_agrees


@dataclass(frozen=True, eq=False)
class OwnCopyTeacher(ms.Teacher):
    """A user's teacher defined by its matrix only: ``T(y|d) = (1 − α)ρ(y) + α·1[y = d]``."""

    alpha: float = 0.5

    def log_matrix(self, log_rho):
        K = log_rho.shape[-1]
        T = (1 - self.alpha) * np.exp(log_rho)[..., None, :] + self.alpha * np.eye(K)
        return np.log(T)


UNBIASED = [
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
    SampledSD(OwnCopyTeacher(0.3), n_rollouts=4, seed=15, baseline="loo"),
    SampledSD(OwnCopyTeacher(0.3), estimator="full", n_rollouts=4, seed=16, teacher_base="frozen"),
]


@pytest.mark.parametrize("rule", UNBIASED, ids=lambda r: f"{type(r.teacher).__name__}-{r.estimator}-{r.seed}")
def test_estimator_mean_matches_exact_expected_update(rule):
    ok, z = mc_agrees(rule, R4, exact_direction(rule, R4))
    assert ok, f"max |z| = {z:.2f} > {Z_BOUND}"


def test_self_including_demonstrations_bias_the_sampled_estimator():
    # The scored rollout can be its own demonstration: the sampled estimator no longer
    # matches the full-distribution gradient it is meant to estimate (theory §3.1, "usually
    # excluding the rollout being scored").
    biased = SampledSD(n_rollouts=4, seed=12, exclude_self=False)
    exact = exact_direction(SampledSD(n_rollouts=4, exclude_self=False, estimator="full"), R4)
    ok, z = mc_agrees(biased, R4, exact)
    assert not ok and z > 10
    assert "velocity" not in biased.capabilities
    with pytest.raises(ValueError, match="exclude_self=False"):
        biased.velocity(R4.log_base, R4)


def test_a_users_teacher_runs_the_same_code_as_the_builtin_one():
    # Only the teacher protocol is used: the generic Teacher kernels (from log_matrix) and
    # the copy teacher's O(K) kernels give the same updates, for both estimators.
    task = ms.replicate(R4, 50)
    for kw in ({}, {"baseline": "loo"}, {"estimator": "full"}, {"teacher_base": ms.EMA(0.7)}):
        own = SampledSD(OwnCopyTeacher(0.3), seed=1, beta=0.1, **kw)
        builtin = SampledSD(ms.CopyTeacher(0.3), seed=1, beta=0.1, **kw)
        a = ms.iterate(own, task, 5).log_policy
        b = ms.iterate(builtin, task, 5).log_policy
        np.testing.assert_allclose(a, b, atol=1e-12)
        np.testing.assert_allclose(own.velocity(R4.log_base, R4, teacher_log_base=R4.log_base),
                                   builtin.velocity(R4.log_base, R4, teacher_log_base=R4.log_base), atol=1e-14)


def test_group_demonstrations_come_from_other_correct_rollouts():
    rule = SampledSD(n_rollouts=6, seed=0)
    task = ms.replicate(ms.make_task([0.2, 0.3, 0.1, 0.4], [1, 1, 1, 0]), 5000)
    y = sample_modes(task.log_base, 6, 1)
    correct = task.valid[np.arange(5000)[:, None], y]
    u = np.random.default_rng(2).random((5000, 6, 2))
    demos, has = SampledSD(ms.MultiDemoTeacher(0.5, 2), n_rollouts=6).group_demos(y, correct, u)
    assert np.array_equal(has, correct.sum(-1, keepdims=True) - correct > 0)
    # Each demonstration is the mode of some *other* correct rollout of the same group.
    other = correct[:, None, :] & ~np.eye(6, dtype=bool)
    for k in range(2):
        match = (y[:, None, :] == demos[..., k][..., None]) & other
        assert np.all(match.any(-1)[has])
    # Uniform over the other correct rollouts: which one is picked (by position) is uniform.
    demos1, has1 = rule.group_demos(np.broadcast_to(np.arange(6), (5000, 6)), np.ones((5000, 6), bool), u[..., :1])
    counts = np.bincount(demos1[:, 0, 0], minlength=6)
    assert counts[0] == 0 and np.all(np.abs(counts[1:] - 1000) < 5 * np.sqrt(1000))


# ------------------------------------------------------------------ the SD shell


def test_ema_teacher_moves_by_the_shared_geometric_mix():
    rule = SampledSD(teacher_base=ms.EMA(0.8), seed=0)
    s0 = rule.init(R4)
    s1 = rule.step(s0, R4)
    expected = log_normalise(geometric_mix(s1.log_policy, s0.teacher_log_base, 0.8))
    np.testing.assert_allclose(s1.teacher_log_base, expected, atol=1e-15)
    assert rule.ema_tau == 0.8 and "memoryless" not in rule.capabilities


@pytest.mark.parametrize("tau, base", [(0.0, "current"), (1.0, "frozen"), (0.5, ms.EMA(0.5))])
def test_deprecated_tau_maps_to_teacher_base(tau, base):
    with pytest.warns(DeprecationWarning, match=r"SampledSD\(tau=...\) is deprecated .* use teacher_base="):
        rule = SampledSD(tau=tau, seed=0)
    assert rule.teacher_base == base
    new = SampledSD(teacher_base=base, seed=0)
    np.testing.assert_array_equal(ms.train(rule, R4, 5, n_seeds=3).log_policy,
                                  ms.train(new, R4, 5, n_seeds=3).log_policy)


def test_tau_and_teacher_base_together_are_refused():
    with warnings.catch_warnings(), pytest.raises(ValueError, match="got both tau= .* and teacher_base="):
        warnings.simplefilter("ignore", DeprecationWarning)
        SampledSD(tau=0.5, teacher_base="frozen")


def test_frozen_teacher_reads_the_base_and_current_reference_has_no_kl_gradient():
    s = SampledSD(teacher_base="frozen", seed=0).init(R4)
    assert s.teacher_log_base is None
    moved = s._replace(log_policy=log_normalise(R4.log_base + np.array([1.0, 0.0, 0.0, 0.0])))
    plain = SampledSD(teacher_base="frozen", seed=0).estimate(moved, R4)[0]
    current = SampledSD(teacher_base="frozen", beta=0.7, reference="current", seed=0).estimate(moved, R4)[0]
    base = SampledSD(teacher_base="frozen", beta=0.7, reference="base", seed=0).estimate(moved, R4)[0]
    np.testing.assert_array_equal(plain, current)
    assert np.max(np.abs(base - plain)) > 0.01


def test_full_estimator_velocity_runs_clean_and_matches_the_closed_form():
    # Issue 9 kind 6: every mode valid made the old code compute log1p(-1) (a warning).
    lp = np.log([0.5, 0.25, 0.25])
    task = ms.make_task([0.5, 0.25, 0.25])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        v = ms.SampledSD(ms.CopyTeacher(0.5), estimator="full").velocity(lp, task)
    # All valid: P_N = 1, D = π, G(y) = log(ρ/2) + π(y)·log(1 + 1/ρ(y)) with ρ = π.
    p = np.exp(lp)
    G = np.log(p / 2) + p * np.log1p(1 / p)
    d = lp - G
    expected = -0.1 * p * (d - np.sum(p * d))
    np.testing.assert_allclose(v, expected, atol=1e-16)


def test_chance_of_a_demonstration_in_the_mean_field():
    # P_N(J) = 1 − (1 − J)^{N−1} with exclude_self: checked against the empirical share of
    # rollouts that received a demonstration.
    rule = SampledSD(n_rollouts=5, seed=3)
    big = ms.replicate(R4, 40_000)
    s = rule.init(big)
    u = round_uniforms(s.rng_key, 0, 10)
    y = sample_modes(big.log_base, 5, 0)
    correct = big.valid[np.arange(40_000)[:, None], y]
    _, has = rule.group_demos(y, correct, u[..., 5:, None])
    J = 0.5
    p = 1 - (1 - J) ** 4
    assert abs(has.mean() - p) < 5 * np.sqrt(p * (1 - p) / has.size)


# ------------------------------------------------------------------ protocol


def test_capabilities_follow_the_closed_forms():
    assert SampledSD().capabilities == {"estimate", "velocity"}
    assert SampledSD(ms.MultiDemoTeacher(0.5, 3)).capabilities == {"estimate"}
    assert SampledSD(ms.MultiDemoTeacher(0.5, 3), demos=ms.UniformDemos()).capabilities == {"estimate", "velocity"}
    with pytest.raises(ValueError, match="m=3 demonstrations drawn from a finite group"):
        SampledSD(ms.MultiDemoTeacher(0.5, 3)).velocity(R4.log_base, R4)
    task = ms.make_task([0.5, 0.3, 0.2])
    with pytest.raises(ValueError, match="fixed_points .* needs a rule that is deterministic"):
        ms.fixed_points(SampledSD(), task)
    with pytest.raises(ValueError, match="EMA.* needs teacher_log_base"):
        SampledSD(teacher_base=ms.EMA(0.5)).velocity(R4.log_base, R4)


@pytest.mark.parametrize("estimator", ["sampled", "full"])
def test_teacher_without_support_is_an_input_error(estimator):
    # T(1|d) = 0 while the student holds mode 1: KL(π‖T) = ∞, reported rather than NaN.
    teacher = ms.MatrixTeacher(np.array([[1.0, 0.0, 0.0], [0.5, 0.5, 0.0], [0.5, 0.0, 0.5]]))
    task = ms.make_task([0.5, 0.3, 0.2], [True, True, False])
    rule = SampledSD(teacher, estimator=estimator, seed=0)
    with pytest.raises(ValueError, match="zero probability to a mode the student"):
        ms.train(rule, task, 5, n_seeds=20)


def test_inputs_normalised_only_to_round_off():
    # Issue 9 kind 1: a log-policy whose largest entry is +1e-17.
    task = ms.make_task([0.6, 0.3, 0.1])
    exact = np.log(np.array([1.0 - 1.1e-35, 1e-35, 1e-36]))
    off = exact.copy()
    off[0] = 1e-17
    for teacher in (ms.CopyTeacher(0.5), ms.TiltTeacher(6.0), ms.MultiDemoTeacher(0.5, 2)):
        for kw in ({}, {"estimator": "full"}):
            rule = SampledSD(teacher, seed=0, beta=0.1, teacher_base=ms.EMA(0.5), **kw)
            s = rule.init(task)
            a = rule.step(s._replace(log_policy=off, teacher_log_base=off), task)
            b = rule.step(s._replace(log_policy=exact, teacher_log_base=exact), task)
            assert np.all(np.isfinite(a.log_policy)) and np.all(a.log_policy <= 0.0)
            np.testing.assert_allclose(a.log_policy, b.log_policy, atol=1e-13)
            if "velocity" in rule.capabilities:
                va = rule.velocity(off, task, teacher_log_base=off)
                assert np.all(np.isfinite(va))
                np.testing.assert_allclose(va, rule.velocity(exact, task, teacher_log_base=exact), atol=1e-13)


# ------------------------------------------------------------------ parameter grids

SHAPES = [(), (3,), (2, 1)]


@settings(max_examples=12, deadline=None)
@given(
    s_lr=st.sampled_from(SHAPES),
    s_beta=st.sampled_from(SHAPES),
    s_tau=st.sampled_from(SHAPES),
    s_alpha=st.sampled_from(SHAPES),
    estimator=st.sampled_from(["sampled", "full"]),
    seed=st.integers(0, 10_000),
)
def test_batched_parameters_equal_the_loop_over_scalars(s_lr, s_beta, s_tau, s_alpha, estimator, seed):
    rng = np.random.default_rng(seed)
    lr, beta = rng.uniform(0.1, 2.0, s_lr), rng.uniform(0.0, 0.5, s_beta)
    tau, alpha = rng.uniform(0.0, 1.0, s_tau), rng.uniform(0.05, 0.95, s_alpha)

    def make(lr, beta, tau, alpha):
        return SampledSD(ms.CopyTeacher(alpha), estimator=estimator, lr=lr, beta=beta,
                         teacher_base=ms.EMA(tau), n_rollouts=4, seed=seed)

    batched = make(lr, beta, tau, alpha)
    run = np.broadcast_shapes(s_lr, s_beta, s_tau, s_alpha)
    assert batched.param_shape == run
    traj = ms.iterate(batched, R4, 4).log_policy
    for i in np.ndindex(run):
        one = make(*(float(np.broadcast_to(x, run)[i]) for x in (lr, beta, tau, alpha)))
        np.testing.assert_array_equal(traj[(slice(None),) + i], ms.iterate(one, R4, 4).log_policy)


def test_batched_tilt_strength_equals_the_loop():
    kappas = np.array([-1.0, 0.5, 3.0])
    traj = ms.iterate(SampledSD(ms.TiltTeacher(kappas), seed=2, baseline="loo"), R4, 5).log_policy
    for i, k in enumerate(kappas):
        np.testing.assert_array_equal(traj[:, i], ms.iterate(SampledSD(ms.TiltTeacher(k), seed=2, baseline="loo"), R4, 5).log_policy)


# ------------------------------------------------------------------ validation


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: SampledSD(tau=1.5), r"tau must be in \[0, 1\]; got 1.5"),
        (lambda: SampledSD(teacher_base="ema"), r"teacher_base must be 'current', 'frozen' or EMA\(tau\); got 'ema'"),
        (lambda: SampledSD(teacher_base=ms.EMA(1.5)), r"tau must be in \[0, 1\]; got 1.5"),
        (lambda: SampledSD(reference="old"), r"reference must be one of 'base', 'current'; got 'old'"),
        (lambda: SampledSD(objective="sideways"), r"objective must be one of 'reverse', 'forward', 'jsd'; got 'sideways'"),
        (lambda: SampledSD(n_rollouts=1), r"n_rollouts must be an integer >= 2; got 1"),
        (lambda: SampledSD(lr=0.0), r"lr must be a finite number > 0; got 0.0"),
        (lambda: SampledSD(beta=[0.1, -1.0]), r"beta must be a finite number >= 0; got .*-1.0.* at index \(1,\)"),
        (lambda: SampledSD(estimator="exact"), r"estimator must be one of .* got 'exact'"),
        (lambda: SampledSD(baseline="mean"), r"baseline must be one of .* got 'mean'"),
        (lambda: SampledSD(estimator="full", baseline="loo"), r"baseline='loo' applies"),
        (lambda: SampledSD(demos="uniform"), r"demos must be 'group' \(the group's own correct rollouts\) or a demonstration source .*; got 'uniform'"),
        (lambda: SampledSD(demos=3), r"demos must be 'group' or a demonstration source .* got 3"),
        (lambda: SampledSD(teacher="copy"), r"teacher must be a modesim Teacher .* got 'copy'"),
        (lambda: SampledSD(exclude_self=1), r"exclude_self must be True or False; got 1"),
        (lambda: SampledSD(seed=1.5), r"seed must be None, a non-negative integer .* got 1.5"),
        (lambda: SampledSD(seed="x"), r"seed must be .* got 'x'"),
    ],
)
def test_bad_input_raises_value_error_naming_argument_and_value(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_fixed_demo_must_be_valid_when_the_run_starts():
    rule = SampledSD(demos=ms.FixedDemo(3), seed=0)
    with pytest.raises(ValueError, match="mode must be valid in every prompt"):
        rule.init(R4)
