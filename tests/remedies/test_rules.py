"""The blended round (theory §11, registry entry L1): closed form against scipy.optimize, the ratio
formula μ/(μ + β)·ΔĪ, its limits (RL, SD), anti-distillation, batching and the rule protocol."""

from __future__ import annotations

import numpy as np
import pytest

import modesim as ms
from modesim.remedies import DistillationBlend, blend_optimum

from .support import random_task


def _objective(lp, task, G, lam, mu, beta):
    p = np.exp(lp)
    return float(-lam * np.sum(p * task.valid) + mu * np.sum(p * (lp - G)) + beta * np.sum(p * (lp - task.log_base)))


@pytest.mark.parametrize("teacher", [ms.CopyTeacher(0.5), ms.TiltTeacher(-1.0), ms.PowerCopyTeacher(1.0, 2.0)],
                         ids=repr)
@pytest.mark.parametrize("lam, mu, beta", [(0.5, 0.5, 0.0), (0.5, 0.5, 0.04), (1.0, -0.2, 0.5), (2.0, 0.1, 1.0),
                                           (0.0, 1.0, 0.3)])
def test_closed_form_is_the_maximiser(teacher, lam, mu, beta):
    from scipy.optimize import minimize

    rng = np.random.default_rng(0)
    task = random_task(rng, K=5, n_valid=3)
    T = teacher.matrix(task.log_base)
    D = ms.ConditionedDemos().distribution(task.log_base, task)
    G = D @ np.log(T)
    lp = blend_optimum(task, teacher=teacher, reward_weight=lam, distill_weight=mu, beta=beta, log=True)
    res = minimize(lambda z: _objective(z - np.log(np.exp(z).sum()), task, G, lam, mu, beta), task.log_base.copy(),
                   method="L-BFGS-B", options={"gtol": 1e-13, "ftol": 1e-16, "maxiter": 5000})
    assert _objective(lp, task, G, lam, mu, beta) <= res.fun + 1e-12
    np.testing.assert_allclose(np.exp(lp), np.exp(res.x - np.log(np.exp(res.x).sum())), atol=2e-6)


def test_ratio_change_is_the_share_of_sds_distortion():
    """log-ratio change = μ/(μ + β)·(Ī(y) − Ī(y')): all of SD's at β = 0 for every λ < 1."""
    task = ms.make_task([0.42, 0.21, 0.07, 0.30], [1, 1, 1, 0])
    sd = ms.sd_optimum(task, log=True)                       # β = 0: Δ = ΔĪ
    d_sd = (sd[0] - sd[1]) - (task.log_base[0] - task.log_base[1])
    for lam in (0.1, 0.5, 0.9, 0.999):
        lp = blend_optimum(task, reward_weight=lam, distill_weight=1 - lam, beta=0.0, log=True)
        assert (lp[0] - lp[1]) - (task.log_base[0] - task.log_base[1]) == pytest.approx(d_sd, rel=1e-12)
    for beta in (0.04, 1.0):
        lam = 0.9
        lp = blend_optimum(task, reward_weight=lam, distill_weight=1 - lam, beta=beta, log=True)
        change = (lp[0] - lp[1]) - (task.log_base[0] - task.log_base[1])
        assert change == pytest.approx((1 - lam) / (1 - lam + beta) * d_sd, rel=1e-12)


def test_limits_are_kl_regularised_rl_and_self_distillation():
    task = ms.make_task([0.5, 0.3, 0.2], [1, 1, 0])
    rl = blend_optimum(task, reward_weight=2.0, distill_weight=0.0, beta=0.5)
    np.testing.assert_allclose(rl, ms.kl_regularised_optimum(task, 0.25), rtol=1e-13)
    sd = blend_optimum(task, reward_weight=0.0, distill_weight=1.0, beta=0.3)
    np.testing.assert_allclose(sd, ms.sd_optimum(task, beta=0.3), rtol=1e-13)


def test_anti_distillation_compresses_with_a_copying_teacher():
    task = ms.make_task([0.5, 0.3, 0.15, 0.05], [1, 1, 1, 0])
    lp = blend_optimum(task, reward_weight=1.0, distill_weight=-0.2, beta=0.5, log=True)
    assert ms.amplification_exponent(task.base, np.exp(lp), task.valid) < 1.0
    blend = blend_optimum(task, reward_weight=1.0, distill_weight=0.2, beta=0.5, log=True)
    assert ms.amplification_exponent(task.base, np.exp(blend), task.valid) > 1.0


def test_refusals_name_the_argument():
    with pytest.raises(ValueError, match="distill_weight \\+ beta must be > 0"):
        DistillationBlend(distill_weight=-0.5, beta=0.5)
    with pytest.raises(ValueError, match="distill_weight \\+ beta must be > 0"):
        DistillationBlend(distill_weight=np.array([0.5, -1.0]), beta=0.5)
    with pytest.raises(ValueError, match="reward_weight"):
        DistillationBlend(reward_weight=-1.0)
    with pytest.raises(ValueError, match="step_size"):
        DistillationBlend(step_size=0.0)
    task = ms.make_task(np.array([0.5, 0.5, 0.0]), [1, 0, 1])
    # The copy teacher never holds mode 2 (ρ = 0, never demonstrated): anti-distillation is unbounded there.
    with pytest.raises(ValueError, match="anti-distillation"):
        blend_optimum(ms.make_task(np.array([0.5, 0.5, 0.0]), [1, 1, 0]), distill_weight=-0.1, beta=0.5)
    assert np.isfinite(blend_optimum(task, distill_weight=0.5, beta=0.5, log=True)[:2]).all()


def test_a_parameter_grid_equals_the_loop():
    task = ms.make_task([0.5, 0.3, 0.2], [1, 1, 0])
    lam = np.array([0.2, 0.8])[:, None]
    beta = np.array([0.0, 0.04, 1.0])
    grid = blend_optimum(task, reward_weight=lam, distill_weight=1 - lam, beta=beta)
    assert grid.shape == (2, 3, 3)
    for i, lam1 in enumerate((0.2, 0.8)):
        for j, b in enumerate(beta):
            np.testing.assert_allclose(grid[i, j], blend_optimum(task, reward_weight=lam1, distill_weight=1 - lam1, beta=b),
                                       rtol=1e-14)


def test_rule_protocol_iterate_flow_and_ema():
    task = ms.make_task([0.5, 0.3, 0.2], [1, 1, 0])
    rule = DistillationBlend(beta=0.1)
    assert {"deterministic", "memoryless", "target", "velocity"} <= rule.capabilities
    traj = ms.iterate(rule, task, 10)
    assert traj.policy[-1][:2].sum() > 0.99
    ema = DistillationBlend(beta=0.1, teacher_base=ms.EMA(0.9), step_size=0.5)
    assert "memoryless" not in ema.capabilities
    assert ms.iterate(ema, task, 5).final.teacher_log_base is not None
    f = ms.flow(DistillationBlend(beta=0.1, step_size=0.5), task, [0.0, 1.0])
    assert np.all(np.isfinite(f.log_policy))
    np.testing.assert_allclose(ms.apply_map(rule, task.log_base, task), rule.target(task.log_base, task.log_base, task))
