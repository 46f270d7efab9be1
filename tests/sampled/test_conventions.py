"""modesim.sampled.conventions: GRPO group statistics and KL estimators of the trainers (theory §8.2).

Checks: advantages under each std convention and reward scaling against their definitions
(numpy's ``std(ddof=...)``, TRL's pooled batch σ); GRPO's mean field under each convention
against exact enumeration of all K^N groups; the KL estimators' per-sample gradients against
the derivative of the per-token estimate as a trainer writes it, their expectations against
enumeration, the identity k3·ratio ≡ k2, and k3's expected gradient being the forward KL's
(with the reverse-KL gradient as the failing control); batch scaling couples the pooled
prompts and nothing else (the chunking contract).
"""

import numpy as np
import pytest

import modesim as ms
from modesim.sampled import SampledRL
from modesim.sampled.conventions import (
    group_advantages,
    k3_unclamped,
    kl_penalty_grad,
    kl_penalty_mean,
)

from .enumeration import expected_rl
from .support import R4

REWARDS = np.array([[1.0, 0.0, 1.0, 1.0, 0.0], [1.0, 1.0, 1.0, 1.0, 1.0], [0.0, 0.0, 0.0, 1.0, 0.0],
                    [0.3, 1.7, 0.0, 0.0, 2.5]])


@pytest.mark.parametrize("std, ddof", [("population", 0), ("bessel", 1)])
@pytest.mark.parametrize("eps", [1e-6, 1e-4])
def test_group_scaling_divides_by_the_groups_std(std, ddof, eps):
    A = group_advantages(REWARDS, std=std, eps=eps, reward_scale="group")
    mean = REWARDS.mean(-1, keepdims=True)
    expected = (REWARDS - mean) / (REWARDS.std(-1, ddof=ddof, keepdims=True) + eps)
    expected[1] = 0.0  # a group of equal rewards has no signal
    np.testing.assert_allclose(A, expected, rtol=1e-14, atol=1e-15)
    assert np.all(A[1] == 0.0)


def test_no_scaling_is_dr_grpo_mean_centring():
    A = group_advantages(REWARDS, std="bessel", eps=1e-4, reward_scale="none")
    np.testing.assert_allclose(A, REWARDS - REWARDS.mean(-1, keepdims=True), atol=1e-15)


@pytest.mark.parametrize("std, ddof", [("population", 0), ("bessel", 1)])
def test_batch_scaling_pools_the_named_axes_as_trl_does(std, ddof):
    # TRL scale_rewards="batch": mean per group, σ = nanstd(rewards) over the whole batch.
    rng = np.random.default_rng(0)
    r = (rng.random((3, 4, 6)) < 0.4).astype(float)  # (seeds, prompts, N)
    A = group_advantages(r, std=std, eps=1e-4, reward_scale="batch", batch_axes=(1,))
    for s in range(3):
        sigma = r[s].reshape(-1).std(ddof=ddof)
        expected = (r[s] - r[s].mean(-1, keepdims=True)) / (sigma + 1e-4)
        expected[np.all(r[s] == r[s][:, :1], axis=-1)] = 0.0
        np.testing.assert_allclose(A[s], expected, rtol=1e-14, atol=1e-15)


def test_batch_scaling_couples_the_pooled_prompts_and_nothing_else():
    # Chunks of seeds stay bit-identical; a chunk of the pooled prompts is a different run.
    bank = ms.dirichlet_task(4, 1.0, seed=3, batch_shape=(6,), valid=np.array([True, False, True, False]))
    rule = SampledRL("grpo", n_rollouts=4, std="bessel", reward_scale="batch", batch_axes=(-1,), seed=1)
    whole = ms.train(rule, bank, 10, n_seeds=4).final.log_policy
    parts = [ms.train(rule, bank, 10, n_seeds=2, first_seed=f).final.log_policy for f in (0, 2)]
    np.testing.assert_array_equal(np.concatenate(parts), whole)
    half = ms.Task(bank.log_base[:3], bank.valid[:3])
    split = ms.train(rule, half, 10, n_seeds=4).final.log_policy
    assert np.max(np.abs(split - whole[:, :3])) > 1e-3
    group = SampledRL("grpo", n_rollouts=4, std="bessel", seed=1)
    np.testing.assert_array_equal(ms.train(group, half, 10, n_seeds=4).final.log_policy,
                                  ms.train(group, bank, 10, n_seeds=4).final.log_policy[:, :3])


@pytest.mark.parametrize("std", ["population", "bessel"])
@pytest.mark.parametrize("scale", ["group", "none"])
@pytest.mark.parametrize("N", [2, 4])
def test_grpo_mean_field_under_each_convention_matches_enumeration(std, scale, N):
    task = ms.make_task([0.35, 0.25, 0.4], [True, True, False])
    rule = SampledRL("grpo", n_rollouts=N, lr=1.0, std=std, reward_scale=scale, eps=1e-4)
    np.testing.assert_allclose(expected_rl(rule, task), rule.velocity(task.log_base, task), atol=1e-15)


def test_the_convention_check_catches_the_population_clock_under_bessel():
    # Negative control: the Bessel rule's update is not the population-std clock (a factor
    # √((N−1)/N) on the gain, up to ε).
    task = ms.make_task([0.35, 0.25, 0.4], [True, True, False])
    bessel = expected_rl(SampledRL("grpo", n_rollouts=4, lr=1.0, std="bessel"), task)
    population = SampledRL("grpo", n_rollouts=4, lr=1.0).velocity(task.log_base, task)
    np.testing.assert_allclose(bessel, population * np.sqrt(3 / 4), rtol=1e-5)
    assert np.max(np.abs(bessel - population)) > 0.01


# ------------------------------------------------------------------ KL estimators


def _per_token_estimate(name, lp_y, ref_y, old_y):
    """The per-token KL value as the trainer's code writes it, a function of log π(y)."""
    x = ref_y - lp_y
    if name == "k1":
        return lp_y - ref_y
    if name == "k2":
        return 0.5 * (lp_y - ref_y) ** 2
    if name == "k3":  # TRL grpo_trainer.py: exp(ref − logp) − (ref − logp) − 1
        return np.exp(x) - x - 1
    if name == "k3_clamped":  # verl kl_penalty_forward("low_var_kl")
        xc = np.clip(x, -20, 20)
        return np.clip(np.exp(xc) - xc - 1, -10, 10)
    if name == "k3_is":  # TRL use_bias_correction_kl: k3·exp(logp − old_logp)
        return (np.exp(x) - x - 1) * np.exp(lp_y - old_y)


@pytest.mark.parametrize("name", ["k1", "k2", "k3", "k3_clamped", "k3_is"])
def test_sampled_kl_gradients_are_the_derivative_of_the_per_token_estimate(name):
    # d/dθ of (1/N) Σ_n k(log π_θ(y_n)) at θ, by central differences on the logits.
    rng = np.random.default_rng(1)
    K, N = 6, 5
    lp = np.log(rng.dirichlet(np.ones(K) * 0.5))
    ref = np.log(rng.dirichlet(np.ones(K)))
    y = rng.integers(0, K, N)
    lp[y[0]] = np.log(1e-3)  # one rollout the reference finds far likelier (clamped by verl)
    lp = lp - np.log(np.sum(np.exp(lp)))
    old = lp.copy()

    def loss(theta):
        logp = theta - np.log(np.sum(np.exp(theta)))
        return np.mean(_per_token_estimate(name, logp[y], ref[y], old[y]))

    h = 1e-6
    fd = np.array([(loss(lp + h * e) - loss(lp - h * e)) / (2 * h) for e in np.eye(K)])
    got = kl_penalty_grad(name, lp, ref, np.exp(lp), y)
    np.testing.assert_allclose(got, fd, atol=2e-8)
    if name == "k3_clamped":
        assert not k3_unclamped(ref[y] - lp[y]).all()  # the clamp is exercised


def test_k3_with_the_importance_ratio_is_k2_per_sample():
    rng = np.random.default_rng(2)
    lp, ref = np.log(rng.dirichlet(np.ones(5), size=30)), np.log(rng.dirichlet(np.ones(5), size=30))
    y = rng.integers(0, 5, (30, 8))
    np.testing.assert_array_equal(kl_penalty_grad("k3_is", lp, ref, np.exp(lp), y),
                                  kl_penalty_grad("k2", lp, ref, np.exp(lp), y))


def test_k3_gradient_is_the_forward_kl_gradient_and_k1_has_none():
    # E_y[(1 − π0/π)(e_y − π)] = π − π0 = ∇_θ KL(π0‖π); the reverse-KL gradient is the failing
    # control (they differ away from π0).
    rng = np.random.default_rng(3)
    p, q = rng.dirichlet(np.ones(5)), rng.dirichlet(np.ones(5))
    lp, lq = np.log(p), np.log(q)
    mean_k3 = sum(p[y] * kl_penalty_grad("k3", lp, lq, p, np.array([y])) for y in range(5))
    np.testing.assert_allclose(mean_k3, p - q, atol=1e-16)
    np.testing.assert_allclose(kl_penalty_mean("k3", lp, lq), p - q, atol=1e-16)
    reverse = kl_penalty_mean("exact", lp, lq)
    assert np.max(np.abs(reverse - (p - q))) > 0.01
    mean_k1 = sum(p[y] * kl_penalty_grad("k1", lp, lq, p, np.array([y])) for y in range(5))
    np.testing.assert_allclose(mean_k1, 0.0, atol=1e-16)
    for name in ("k2", "k3_is"):
        mean = sum(p[y] * kl_penalty_grad(name, lp, lq, p, np.array([y])) for y in range(5))
        np.testing.assert_allclose(mean, reverse, atol=1e-16)


def test_verls_clamp_drops_rollouts_the_reference_finds_13_6_times_likelier_or_60000_times_less():
    # The clamp binds where e^x − x − 1 > 10: x > 2.61087 (e^x ≈ 13.6) or x < −10.99998
    # (e^−x ≈ 59,873), the roots quoted in theory §8.2.
    x = np.array([2.6108, 2.6110, -10.99997, -11.0, 0.0, 25.0, -25.0])
    np.testing.assert_array_equal(k3_unclamped(x), [True, False, True, False, True, False, False])


@pytest.mark.parametrize("name", ["exact", "k1", "k2", "k3", "k3_clamped", "k3_is"])
def test_rl_mean_field_with_each_kl_estimator_matches_enumeration(name):
    # At a policy far from π0 (so verl's clamp is active for mode 3).
    task = ms.make_task([0.4, 0.25, 0.15, 0.2], [True, True, False, False])
    lp = np.log(np.array([0.9, 0.015, 0.08, 0.005]))
    rule = SampledRL("grpo", n_rollouts=4, lr=1.0, beta=0.3, kl_estimator=name, std="bessel")
    np.testing.assert_allclose(expected_rl(rule, task, lp), rule.velocity(lp, task), atol=1e-15)


def test_rest_points_with_k3_keep_the_ratios_but_not_the_valid_mass_of_the_reverse_kl():
    # Policy gradient with a KL term rests where π ⊙ (r − J) = β·E[KL gradient].  Reverse KL
    # (exact, k2, k3_is): the R1 optimum π ∝ π0·exp(r/β).  k3 (forward-KL gradient
    # π − π0): π = β·π0/(β + J − 1) on C and β·π0/(β + J) off C, so the ratios among valid
    # modes are π0's too, with J the positive root of J² + (β − 1)J − βZ = 0, Z = π0(C)
    # (ours, theory §8.2).  The two valid masses differ.
    task = ms.make_task([0.5, 0.3, 0.2], [True, True, False])
    beta, Z = 0.5, 0.8
    exact = ms.flow(SampledRL("reinforce", lr=1.0, beta=beta), task, [0.0, 2000.0]).policy[-1]
    k3 = ms.flow(SampledRL("reinforce", lr=1.0, beta=beta, kl_estimator="k3"), task, [0.0, 2000.0]).policy[-1]
    for p in (exact, k3):
        np.testing.assert_allclose(p[0] / p[1], 0.5 / 0.3, rtol=1e-7)
    np.testing.assert_allclose(exact, ms.kl_regularised_optimum(task, beta), atol=1e-8)
    J = ((1 - beta) + np.sqrt((1 - beta) ** 2 + 4 * beta * Z)) / 2
    np.testing.assert_allclose(k3, [beta * 0.5 / (beta + J - 1), beta * 0.3 / (beta + J - 1), beta * 0.2 / (beta + J)],
                               atol=1e-8)
    assert exact[:2].sum() - k3[:2].sum() > 0.03


# ------------------------------------------------------------------ validation


@pytest.mark.parametrize("make, match", [
    (lambda: SampledRL(std="sample"), r"std must be one of 'population', 'bessel'; got 'sample'"),
    (lambda: SampledRL(reward_scale="global"), r"reward_scale must be one of 'group', 'batch', 'none'; got 'global'"),
    (lambda: SampledRL(kl_estimator="k4"), r"kl_estimator must be one of .* got 'k4'"),
    (lambda: SampledRL("rloo", std="bessel"), r"std='bessel' is a GRPO convention; estimator='rloo'"),
    (lambda: SampledRL("reinforce", reward_scale="none"), r"reward_scale='none' is a GRPO convention"),
    (lambda: SampledRL(reward_scale="batch"), r"reward_scale='batch' needs batch_axes"),
    (lambda: SampledRL(batch_axes=(-1,)), r"batch_axes=\(-1,\) applies to reward_scale='batch' only"),
    (lambda: SampledRL(reward_scale="batch", batch_axes=(0, 0)), r"batch_axes must be a tuple of distinct integers"),
    (lambda: SampledRL(reward_scale="batch", batch_axes="x"), r"batch_axes must be a tuple of distinct integers"),
])
def test_bad_convention_input_is_a_named_value_error(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_batch_axes_must_exist_in_the_run_and_batch_scaling_has_no_mean_field():
    rule = SampledRL(reward_scale="batch", batch_axes=(2,))
    with pytest.raises(ValueError, match="batch_axes must name batch axes of the policy"):
        ms.train(rule, R4, 2, n_seeds=3)
    assert rule.capabilities == {"estimate"}
    with pytest.raises(ValueError, match="reward_scale='batch': the step's σ depends on the other prompts"):
        rule.velocity(R4.log_base, R4)
