"""Finite-sample remedies (theory §11): expected updates against enumeration of every group of
rollouts and demonstration pick, sampled estimates against their written-out formulas,
Monte Carlo means within a stated bound, batching and reproducibility."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import modesim as ms
from modesim.remedies import (
    BalancedDemos,
    ContrastiveTeacher,
    MixtureTeacher,
    RemedySampledSD,
    SampledBlend,
)
from modesim.sampled.sampling import inverse_cdf, kl_logit_grad

TASK = ms.make_task([0.45, 0.25, 0.1, 0.2], [1, 1, 1, 0])


def _groups(K, N):
    return np.array(list(itertools.product(range(K), repeat=N)), dtype=np.int64)


def _expected(lp, task, N, per_rollout, pick_weight=None):
    """E[(1/N) Σ_n contribution_n] over every group; rollout n's demonstration is another correct
    rollout j, uniform (or ∝ ``pick_weight[y_j]``), and ``per_rollout(y_n, d or None)`` (K,)."""
    p = np.exp(lp)
    K = p.size
    total = np.zeros(K)
    for ys in _groups(K, N):
        prob = float(np.prod(p[ys]))
        correct = task.valid[ys]
        acc = np.zeros(K)
        for n in range(N):
            others = [j for j in range(N) if j != n and correct[j]]
            if not others:
                acc += per_rollout(ys, n, None)
                continue
            w = np.array([1.0 if pick_weight is None else pick_weight[ys[j]] for j in others])
            for j, wj in zip(others, w / w.sum()):
                acc += wj * per_rollout(ys, n, ys[j])
        total += prob * acc / N
    return total


def test_forward_kl_mean_field_equals_enumeration_of_groups():
    teacher = ms.CopyTeacher(0.6)
    lp = TASK.log_base
    rho = np.log(np.array([0.4, 0.3, 0.12, 0.18]))
    beta = 0.3
    T = teacher.matrix(rho)
    pi = np.exp(lp)

    def contrib(ys, n, d):
        return np.zeros(4) if d is None else T[d] - pi

    want = _expected(lp, TASK, 3, contrib) - beta * kl_logit_grad(lp, TASK.log_base)
    rule = RemedySampledSD(teacher, objective="forward", n_rollouts=3, lr=1.0, beta=beta, teacher_base=ms.EMA(0.5))
    np.testing.assert_allclose(rule.velocity(lp, TASK, teacher_log_base=rho), want, atol=1e-14)


def test_forward_kl_estimate_is_its_written_out_formula():
    teacher = ms.CopyTeacher(0.5)
    rule = RemedySampledSD(teacher, objective="forward", n_rollouts=5, lr=1.0, beta=0.1, seed=3)
    task = ms.replicate(TASK, 7)
    state = rule.init(task)
    for _ in range(3):
        state = rule.step(state, task)
    direction, silent = rule.estimate(state, task)
    u = rule.draws(state, 10)
    y = inverse_cdf(state.policy, u[..., :5])
    demos, has = rule.group_demos(y, task.valid[0][y], u[..., 5:].reshape(7, 5, 1))
    T = teacher.matrix(state.log_policy)                       # teacher on the current policy (7, K, K)
    want = np.zeros((7, 4))
    for s in range(7):
        for n in range(5):
            if has[s, n]:
                want[s] += (T[s, demos[s, n, 0]] - state.policy[s]) / 5
    want -= 0.1 * kl_logit_grad(state.log_policy, task.log_base)
    np.testing.assert_allclose(direction, want, atol=1e-15)
    assert silent.tolist() == (~has.any(-1)).tolist()


def test_reweighted_demonstrations_monte_carlo_mean_matches_enumeration():
    """The reweighted estimator's expected update (picks ∝ D*(y)/ρ(y)), exact by enumeration;
    20,000 sampled estimates average to it within 5 standard errors per mode, and the uniform
    picks' expectation lies outside that band (the check can tell them apart)."""
    teacher = ms.CopyTeacher(0.5)
    lp = TASK.log_base
    target = BalancedDemos(teacher).distribution(lp, TASK)
    weight = np.where(TASK.valid, target / np.exp(lp), 0.0)
    lT = np.log(teacher.matrix(lp))
    pi = np.exp(lp)

    def contrib(ys, n, d):
        if d is None:
            return np.zeros(4)
        e = np.zeros(4)
        e[ys[n]] = 1.0
        return (lT[d, ys[n]] - lp[ys[n]]) * (e - pi)

    want = _expected(lp, TASK, 3, contrib, pick_weight=weight)
    uniform = _expected(lp, TASK, 3, contrib)
    rule = RemedySampledSD(teacher, reweight=BalancedDemos(teacher), n_rollouts=3, lr=1.0, teacher_base="frozen",
                           seed=0)
    task = ms.replicate(TASK, 20000)
    est, _ = rule.estimate(rule.init(task), task)
    mean, se = est.mean(0), est.std(0) / np.sqrt(est.shape[0])
    assert np.all(np.abs(mean - want) < 5 * se)
    assert np.any(np.abs(mean - uniform) > 5 * se)


def test_reweighted_rule_moves_the_valid_modes_together():
    """With balanced demonstrations the mean over seeds keeps the base's valid ratios closer than SD."""
    teacher = ms.CopyTeacher(0.5)
    task = ms.make_task([0.5, 0.3, 0.1, 0.1], [1, 1, 1, 0])
    common = dict(n_rollouts=8, lr=0.5, teacher_base=ms.EMA(0.95), seed=1)
    sd = ms.train(ms.SampledSD(teacher, **common), task, 150, n_seeds=200, record_policy=False).final.policy
    bal = ms.train(RemedySampledSD(teacher, reweight=BalancedDemos(teacher), **common), task, 150, n_seeds=200,
                   record_policy=False).final.policy
    base = task.base[:3] / task.base[:3].sum()
    err = [np.abs(ms.conditional(p, task.valid).mean(0)[:3] - base).max() for p in (sd, bal)]
    assert err[1] < err[0] / 2


@pytest.mark.parametrize("combine", ["sum", "sign"])
@pytest.mark.parametrize("estimator", ["grpo", "rloo", "reinforce"])
def test_blend_mean_field_equals_enumeration_of_groups(combine, estimator):
    """Mixed (λ·A_RL + μ·A_SD) and sign-gated advantages, with an EMA teacher that lags."""
    teacher = ms.CopyTeacher(0.4)
    lp = TASK.log_base
    rho = np.log(np.array([0.3, 0.3, 0.2, 0.2]))
    lT = np.log(teacher.matrix(rho))
    pi = np.exp(lp)
    N, lam, mu, beta = 3, 0.7, -0.3, 0.2
    rl = ms.SampledRL(estimator, n_rollouts=N, lr=1.0)

    def contrib(ys, n, d):
        r = TASK.valid[ys].astype(float)
        a_rl = rl.advantages(r[None])[0][n]
        lt = lT[d, ys[n]] if d is not None else rho[ys[n]]
        if combine == "sum":
            a = lam * a_rl + mu * (0.0 if d is None else lt - lp[ys[n]])
        else:
            a = np.sign(a_rl) * abs(lt - lp[ys[n]])
        e = np.zeros(4)
        e[ys[n]] = 1.0
        return a * (e - pi)

    want = _expected(lp, TASK, N, contrib) - beta * kl_logit_grad(lp, TASK.log_base)
    rule = SampledBlend(teacher, reward_weight=lam, distill_weight=mu, combine=combine, rl_estimator=estimator,
                        n_rollouts=N, lr=1.0, beta=beta, teacher_base=ms.EMA(0.5))
    np.testing.assert_allclose(rule.velocity(lp, TASK, teacher_log_base=rho), want, atol=1e-13)


def test_sign_mean_field_with_external_demonstrations():
    teacher = ms.CopyTeacher(0.5)
    lp = TASK.log_base
    D = ms.UniformDemos().distribution(lp, TASK)
    lT = np.log(teacher.matrix(lp))
    pi = np.exp(lp)
    N = 3
    want = np.zeros(4)
    for ys in _groups(4, N):
        prob = float(np.prod(pi[ys]))
        r = TASK.valid[ys].astype(float)
        for n in range(N):
            s = np.sign(r[n] - r.mean())
            mag = D @ np.abs(lT[:, ys[n]] - lp[ys[n]])
            e = np.zeros(4)
            e[ys[n]] = 1.0
            want += prob * s * mag * (e - pi) / N
    rule = SampledBlend(teacher, demos=ms.UniformDemos(), combine="sign", n_rollouts=N, lr=1.0)
    np.testing.assert_allclose(rule.velocity(lp, TASK), want, atol=1e-14)


def test_blend_estimate_is_its_written_out_formula_and_monte_carlo_agrees():
    teacher = ms.CopyTeacher(0.5)
    rule = SampledBlend(teacher, reward_weight=0.5, distill_weight=0.5, n_rollouts=4, lr=1.0, seed=2)
    task = ms.replicate(TASK, 40000)
    state = rule.init(task)
    direction, _ = rule.estimate(state, task)
    y, A = rule.advantages(state, task)
    pi = state.policy
    want = np.zeros_like(pi)
    np.add.at(want, (np.arange(pi.shape[0])[:, None].repeat(4, 1), y), A / 4)
    want -= A.sum(-1, keepdims=True) / 4 * pi
    np.testing.assert_allclose(direction, want, atol=1e-15)
    mean, se = direction.mean(0), direction.std(0) / np.sqrt(direction.shape[0])
    assert np.all(np.abs(mean - rule.velocity(TASK.log_base, TASK)) < 5 * se)


def test_grids_equal_loops_and_chunks_reproduce_the_run():
    teacher = ms.CopyTeacher(0.5)
    betas = np.array([0.0, 0.04])[:, None]
    for make in (lambda b: SampledBlend(teacher, combine="sign", beta=b, lr=0.5, seed=4),
                 lambda b: RemedySampledSD(teacher, objective="forward", beta=b, lr=0.5, seed=4),
                 lambda b: ms.SampledSD(MixtureTeacher(teacher, 3), beta=b, lr=0.5, seed=4),
                 lambda b: ms.SampledSD(ContrastiveTeacher(teacher), beta=b, lr=0.5, seed=4)):
        grid = ms.train(make(betas), TASK, 8, n_seeds=3, record_policy=False).final.log_policy
        for j, b in enumerate((0.0, 0.04)):
            one = ms.train(make(b), TASK, 8, n_seeds=3, record_policy=False).final.log_policy
            np.testing.assert_array_equal(grid[j], one)
        whole = ms.train(make(0.04), TASK, 8, n_seeds=5, record_policy=False).final.log_policy
        part = ms.train(make(0.04), TASK, 8, n_seeds=2, first_seed=3, record_policy=False).final.log_policy
        np.testing.assert_array_equal(whole[3:], part)


def test_capabilities_and_refusals():
    teacher = ms.CopyTeacher(0.5)
    assert "velocity" in RemedySampledSD(teacher, objective="forward").capabilities
    assert "velocity" not in RemedySampledSD(teacher, reweight=BalancedDemos(teacher)).capabilities
    with pytest.raises(ValueError, match="no closed-form mean field"):
        RemedySampledSD(teacher, reweight=BalancedDemos(teacher)).velocity(TASK.log_base, TASK)
    with pytest.raises(ValueError, match="reweight must be a demonstration source"):
        RemedySampledSD(teacher, reweight="balanced")
    with pytest.raises(ValueError, match="reweight applies to demos='group'"):
        RemedySampledSD(teacher, demos=ms.UniformDemos(), reweight=BalancedDemos(teacher))
    with pytest.raises(ValueError, match="objective must be one of"):
        RemedySampledSD(teacher, objective="jsd")
    with pytest.raises(ValueError, match="combine must be one of"):
        SampledBlend(teacher, combine="product")
    with pytest.raises(ValueError, match="rl_estimator"):
        SampledBlend(teacher, rl_estimator="ppo")
    with pytest.raises(ValueError, match="estimator='sampled'"):
        SampledBlend(teacher, estimator="full")
    with pytest.raises(ValueError, match="distill_weight"):
        SampledBlend(teacher, distill_weight=float("nan"))
    with pytest.raises(ValueError, match="no closed-form mean field"):
        SampledBlend(MixtureTeacher(teacher, 2)).velocity(TASK.log_base, TASK)
