"""The worked numbers and numerical claims of theory §11 that no registry entry pins."""

from __future__ import annotations

import numpy as np
import pytest

import modesim as ms
from modesim.remedies import BalancedDemos, MixtureTeacher, blend_optimum
from modesim.theorems.checks import relative_amplification

TASK = ms.make_task([0.5, 0.3, 0.1, 0.1], [1, 1, 1, 0])


def test_worked_numbers_balanced_demonstrations():
    copy = ms.CopyTeacher(0.5)
    D = BalancedDemos(copy).distribution(TASK.log_base, TASK)
    np.testing.assert_allclose(D, [0.453, 0.3394, 0.2076, 0.0], atol=5e-5)
    pi = ms.sd_optimum(TASK, teacher=copy, demos=BalancedDemos(copy))
    np.testing.assert_allclose(pi, [0.5204, 0.3122, 0.1041, 0.0633], atol=5e-5)
    assert pi[:3].sum() == pytest.approx(0.9367, abs=5e-5)
    assert ms.amplification_exponent(TASK.base, pi, TASK.valid) == pytest.approx(1.0, abs=1e-12)
    sd = ms.sd_optimum(TASK, teacher=copy)
    assert sd[:3].sum() == pytest.approx(0.939, abs=5e-4)
    assert ms.amplification_exponent(TASK.base, sd, TASK.valid) == pytest.approx(1.212, abs=5e-4)


def test_worked_numbers_blends():
    def exponent(**kw):
        return ms.amplification_exponent(TASK.base, blend_optimum(TASK, **kw), TASK.valid)

    for lam in (0.5, 0.9):
        assert exponent(reward_weight=lam, distill_weight=1 - lam, beta=0.0) == pytest.approx(1.212, abs=5e-4)
    assert exponent(reward_weight=0.5, distill_weight=0.5, beta=0.5) == pytest.approx(1.106, abs=5e-4)
    assert exponent(reward_weight=0.9, distill_weight=0.1, beta=0.5) == pytest.approx(1.035, abs=5e-4)
    assert exponent(reward_weight=1.0, distill_weight=-0.2, beta=0.5) == pytest.approx(0.859, abs=5e-4)


def test_the_mixture_amplifies_at_every_finite_m():
    """Over random tasks (invalid mass allowed), α and m ≤ 40 every valid ratio grows (M1 says the
    growth vanishes like 1/m; that it stays positive is this numerical check)."""
    rng = np.random.default_rng(0)
    checked = 0
    while checked < 150:
        K = int(rng.integers(2, 6))
        p = np.maximum(rng.dirichlet(np.full(K, 0.7)), 1e-3)
        p /= p.sum()
        valid = rng.random(K) < 0.7
        valid[np.argmax(p)] = True
        pv = np.sort(p[valid])
        if pv.size < 2 or np.any(pv[1:] < pv[:-1] * 1.05):
            continue
        task = ms.make_task(p, valid)
        alpha, m, beta = rng.uniform(0.01, 0.99), int(rng.integers(1, 41)), rng.uniform(0, 3)
        lp = ms.sd_optimum(task, teacher=MixtureTeacher(ms.CopyTeacher(alpha), m), beta=beta, log=True)
        assert relative_amplification(task.log_base, lp, task.valid) > 0
        checked += 1


def test_compounding_forward_rounds_keep_the_conditional():
    rule = ms.SelfDistillation(ms.CopyTeacher(0.5), objective="forward", teacher_base="current", reference="current")
    traj = ms.iterate(rule, TASK, 15)
    cond = ms.conditional(traj.policy, TASK.valid)
    np.testing.assert_allclose(cond, np.broadcast_to(cond[0], cond.shape), rtol=1e-13)
    J = traj.policy[:, :3].sum(-1)
    assert np.all(np.diff(J) > 0)
    wrong = traj.policy[:, 3]                                   # 1 − J, summed directly
    np.testing.assert_allclose(wrong[1:], 0.5 * wrong[:-1], rtol=1e-12)   # J' = (1 − α)J + α
