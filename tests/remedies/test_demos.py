"""Demonstrations reweighted against the teacher's bias (theory §11, registry entries W1 W2):
the balanced law against scipy.optimize and its closed form, the power-law reweighting's
regimes, and importance-weighted picks from a group."""

from __future__ import annotations

import numpy as np
import pytest

import modesim as ms
from modesim.remedies import (
    BalancedDemos,
    PowerDemos,
    copy_gain,
    power_ipw_threshold,
)
from modesim.remedies.demos import weighted_group_demos

from .support import random_task


def _ibar(teacher, task, D):
    """Ī(y) = Σ_d D(d) log T[d, y] − log ρ(y), by brute force over demonstrations."""
    T = teacher.matrix(task.log_base)
    return D @ np.log(T) - task.log_base


@pytest.mark.parametrize("teacher", [ms.CopyTeacher(0.5), ms.CopyTeacher(0.95), ms.PowerCopyTeacher(3.0, 2.0),
                                     ms.PowerCopyTeacher(0.2, -1.0), ms.TiltTeacher(2.0)], ids=repr)
def test_balanced_law_equalises_ibar_on_C_like_a_generic_optimiser(teacher):
    """D* makes Ī equal on C; scipy (SLSQP on the simplex of C, minimising the spread) finds the same law."""
    from scipy.optimize import minimize

    rng = np.random.default_rng(2)
    task = random_task(rng, K=5, n_valid=4)
    D = BalancedDemos(teacher).distribution(task.log_base, task)
    v = task.valid
    assert np.all(D[~v] == 0) and abs(D.sum() - 1) < 1e-15 and np.all(D >= 0)
    assert np.ptp(_ibar(teacher, task, D)[v]) < 1e-12

    def spread(x):
        full = np.zeros(task.n_modes)
        full[v] = x
        i = _ibar(teacher, task, full)[v]
        return float(np.sum((i - i.mean()) ** 2))

    n = int(v.sum())
    res = minimize(spread, np.full(n, 1 / n), method="SLSQP", bounds=[(0, 1)] * n,
                   constraints=[{"type": "eq", "fun": lambda x: x.sum() - 1}], options={"ftol": 1e-16, "maxiter": 500})
    np.testing.assert_allclose(res.x, D[v], atol=1e-6)


def test_balanced_law_is_inverse_copy_gain_for_the_copy_teacher():
    """Copy teacher: D*(y) ∝ 1/L(y), L = log(1 + α/((1 − α)ρ)); power-copy: 1/log(1 + c ρ^(γ−1))."""
    task = ms.make_task([0.4, 0.25, 0.15, 0.05, 0.15], [1, 1, 1, 1, 0])
    v = task.valid
    for alpha in (0.1, 0.5, 0.9):
        D = BalancedDemos(ms.CopyTeacher(alpha)).distribution(task.log_base, task)
        inv = 1 / copy_gain(task.base[v], alpha)
        np.testing.assert_allclose(D[v], inv / inv.sum(), rtol=1e-13)
    c, g = 2.0, 0.5
    D = BalancedDemos(ms.PowerCopyTeacher(c, g)).distribution(task.log_base, task)
    inv = 1 / np.log1p(c * task.base[v] ** (g - 1))
    np.testing.assert_allclose(D[v], inv / inv.sum(), rtol=1e-13)


def test_balanced_round_preserves_ratios_and_raises_the_valid_mass():
    task = ms.make_task([0.4, 0.25, 0.15, 0.05, 0.15], [1, 1, 1, 1, 0])
    teacher = ms.CopyTeacher(0.5)
    for beta in (0.0, 0.04, 2.0):
        pi = ms.sd_optimum(task, teacher=teacher, demos=BalancedDemos(teacher), beta=beta)
        r = pi[task.valid] / task.base[task.valid]
        assert np.ptp(r) < 1e-13 * r.max()
        assert pi[task.valid].sum() > task.base[task.valid].sum()
    # Compounding with the teacher on the current policy: ratios never move, the valid mass rises.
    rule = ms.SelfDistillation(teacher, demos=BalancedDemos(teacher), teacher_base="current", reference="current")
    traj = ms.iterate(rule, task, 20)
    cond = ms.conditional(traj.policy, task.valid)
    np.testing.assert_allclose(cond, np.broadcast_to(cond[0], cond.shape), rtol=1e-12)
    assert np.all(np.diff(traj.policy[:, task.valid].sum(-1)) > 0)


def test_balanced_law_limits_weak_and_strong_copying():
    """Weak copying (κ ≪ ρ): D* → ρ(·|C) (self-generated); strong copying (κ ≫ ρ): D* → nearly uniform."""
    task = ms.make_task([0.5, 0.3, 0.2])
    weak = BalancedDemos(ms.CopyTeacher(1e-6)).distribution(task.log_base, task)
    np.testing.assert_allclose(weak, task.base, rtol=1e-5)
    strong = BalancedDemos(ms.CopyTeacher(1 - 1e-9)).distribution(task.log_base, task)
    assert np.ptp(strong) < 0.02 and np.ptp(strong) > 0


def test_balanced_law_refusals_and_the_blind_teacher():
    task = ms.make_task([0.5, 0.3, 0.2], [1, 1, 0])
    blind = BalancedDemos(ms.CopyTeacher(0.0)).distribution(task.log_base, task)
    np.testing.assert_allclose(blind, [0.625, 0.375, 0.0], rtol=1e-14)   # every law is balanced: ρ(·|C)
    with pytest.raises(ValueError, match="log_matrix"):
        BalancedDemos("copy")
    # Demonstration 0 and demonstration 1 both favour mode 0: no non-negative law equalises Ī.
    odd = ms.MatrixTeacher(np.array([[0.9, 0.1], [0.8, 0.2]]))
    with pytest.raises(ValueError, match="no non-negative demonstration law"):
        BalancedDemos(odd).distribution(np.log([0.5, 0.5]), ms.make_task([0.5, 0.5]))
    zero = ms.make_task(np.array([0.7, 0.0, 0.3]), [1, 1, 0])
    with pytest.raises(ValueError, match="zero probability"):
        BalancedDemos(ms.CopyTeacher(0.5)).distribution(zero.log_base, zero)


def test_balanced_law_batches_over_prompts_and_parameter_grids():
    bank = ms.scenarios.prompt_bank(5, 8, seed=1)
    alphas = np.array([0.2, 0.6])[:, None]
    batched = BalancedDemos(ms.CopyTeacher(alphas)).distribution(bank.log_base, bank)
    assert batched.shape == (2, 5, 8)
    for i, a in enumerate((0.2, 0.6)):
        for p in range(5):
            one = ms.make_task(np.exp(bank.log_base[p]), bank.valid[p])
            np.testing.assert_allclose(batched[i, p], BalancedDemos(ms.CopyTeacher(a)).distribution(one.log_base, one),
                                       rtol=1e-12, atol=1e-15)


# ------------------------------------------------------------------ power-law reweighting (W2)


def test_power_demos_endpoints_are_self_generated_and_uniform():
    task = ms.make_task([0.5, 0.3, 0.1, 0.1], [1, 1, 1, 0])
    lr = task.log_base
    np.testing.assert_allclose(PowerDemos(0.0).distribution(lr, task), ms.ConditionedDemos().distribution(lr, task),
                               rtol=1e-14)
    np.testing.assert_allclose(PowerDemos(1.0).distribution(lr, task), ms.UniformDemos().distribution(lr, task),
                               rtol=1e-14)
    half = PowerDemos(0.5).distribution(lr, task)
    want = np.sqrt(task.base) * task.valid
    np.testing.assert_allclose(half, want / want.sum(), rtol=1e-14)
    zero = ms.make_task(np.array([0.6, 0.0, 0.4]), [1, 1, 0])
    assert PowerDemos(1.0).distribution(zero.log_base, zero)[1] == 0.5
    assert PowerDemos(1.5).distribution(zero.log_base, zero)[1] == 0.0
    with pytest.raises(ValueError, match="exponent"):
        PowerDemos(float("nan"))


def test_power_threshold_against_a_root_finder():
    from scipy.optimize import brentq

    for alpha in (0.1, 0.5, 0.9):
        for e in (0.05, 0.3, 0.7, 0.99):
            # On v = log u (the root is near e^(1/(1 − e)) for e near 1).
            v = brentq(lambda v, e=e: (1 - e) * np.log1p(np.exp(v)) - np.exp(v) / (1 + np.exp(v)),
                       np.log(e / (1 - e)), 700.0, xtol=1e-13, rtol=1e-15)
            u = np.exp(v)
            assert power_ipw_threshold(alpha, e) == pytest.approx(alpha / (1 - alpha) / u, rel=1e-12)
    assert power_ipw_threshold(0.5, 0.0) == np.inf and power_ipw_threshold(0.5, 1.0) == 0.0


def test_power_ipw_threshold_near_one_against_mpmath():
    """Exponents near 1 put u* beyond the float range: ρ* is computed without forming u*, matches
    mpmath at 50 digits while representable, and underflows to 0 (no warning) past e ≈ 0.9986."""
    import warnings

    import mpmath as mp

    mp.mp.dps = 50
    for alpha, e in ((0.5, 0.99), (0.3, 0.995), (0.5, 0.998), (0.7, 0.9985), (0.5, 0.999), (0.5, 1 - 1e-9)):
        ee = mp.mpf(e)
        t = mp.findroot(lambda t, ee=ee: (1 - ee) * t + mp.expm1(-t), (-mp.log(1 - ee), 1 / (1 - ee)),
                        solver="anderson")
        ref = mp.mpf(alpha) / (1 - alpha) / mp.expm1(t)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            got = power_ipw_threshold(alpha, e)
        if ref > mp.mpf("1e-300"):
            assert got == pytest.approx(float(ref), rel=1e-12)
        else:
            assert 0.0 <= got <= 1e-300


def test_no_exponent_preserves_ratios_for_every_base():
    """For every e there is a base whose round moves a valid ratio (W2): e ≤ 0 amplifies, e ≥ 1
    compresses, 0 < e < 1 amplifies pairs below ρ*_e and compresses pairs above."""
    alpha = 0.5
    for e in np.linspace(-0.5, 1.5, 21):
        star = power_ipw_threshold(alpha, e)
        moved = []
        for base in ([0.3, 0.2, 0.5], [0.03, 0.02, 0.95], [0.6, 0.35, 0.05]):
            task = ms.make_task(base, [1, 1, 0])
            pi = ms.sd_optimum(task, teacher=ms.CopyTeacher(alpha), demos=PowerDemos(e))
            change = np.log(pi[0] / pi[1]) - np.log(base[0] / base[1])
            moved.append(abs(change))
            if base[0] < star and e < 1:
                assert change > 0
            if base[1] > star and e > 0:
                assert change < 0
        assert max(moved) > 1e-3


# ------------------------------------------------------------------ importance-weighted group picks


def test_weighted_group_picks_follow_the_weights():
    """Rollout n picks eligible rollout j with probability weight_j/Σ weights (uniforms on a grid)."""
    y = np.array([3, 1, 3, 0, 2])
    correct = np.array([True, True, False, True, True])
    weight = np.array([1.0, 2.0, 5.0, 0.5, 3.0])
    M = 20000
    u = ((np.arange(M) + 0.5) / M)[None, :]                     # (1, M): one uniform per draw
    u = np.broadcast_to(u, (5, M))
    demos, has = weighted_group_demos(np.broadcast_to(np.arange(5), (M, 5)), np.broadcast_to(correct, (M, 5)),
                                      np.broadcast_to(weight, (M, 5)), u.T[:, :, None])
    assert has.all()
    for n in range(5):
        eligible = correct & (np.arange(5) != n)
        want = np.where(eligible, weight, 0) / np.sum(weight[eligible])
        freq = np.bincount(demos[:, n, 0], minlength=5) / M
        np.testing.assert_allclose(freq, want, atol=2 / M)
    assert np.all(np.isin(y[demos[:, 0, 0]], y[correct]))


def test_weighted_group_picks_with_no_eligible_demonstration():
    demos, has = weighted_group_demos(np.array([0, 1, 2]), np.array([True, False, False]), np.ones(3),
                                      np.full((3, 1), 0.5))
    assert has.tolist() == [False, True, True] and demos[1, 0] == 0 and demos[2, 0] == 0


def test_two_point_closed_form_equals_the_linear_solve():
    """The O(K) path (two-point law) and the generic K × K solve give the same law."""
    bank = ms.scenarios.prompt_bank(6, 10, seed=3)
    for alpha in (0.05, 0.5, 0.99):
        copy = ms.CopyTeacher(alpha)
        same = ms.MatrixTeacher(lambda lr, c=copy: c.matrix(lr))           # generic law: the solve
        fast = BalancedDemos(copy).distribution(bank.log_base, bank)
        slow = BalancedDemos(same).distribution(bank.log_base, bank)
        np.testing.assert_allclose(fast, slow, rtol=1e-11, atol=1e-15)


def test_power_copy_balanced_law_limits():
    """Power-copy teacher (L = log(1 + c·ρ^(γ−1))): γ = 1 balances with uniform demonstrations
    exactly; for weak copying the balanced law tends to ρ^(1−γ) (importance weights ρ^(−γ))."""
    task = ms.make_task([0.45, 0.3, 0.15, 0.1], [1, 1, 1, 0])
    v = task.valid
    flat = BalancedDemos(ms.PowerCopyTeacher(2.0, 1.0)).distribution(task.log_base, task)
    np.testing.assert_allclose(flat[v], 1 / 3, rtol=1e-13)
    gamma = 0.6
    want = task.base[v] ** (1 - gamma)
    want /= want.sum()
    errs = []
    for c in (1e-1, 1e-2, 1e-3):
        D = BalancedDemos(ms.PowerCopyTeacher(c, gamma)).distribution(task.log_base, task)
        errs.append(np.abs(D[v] - want).max())
    assert errs[0] > errs[1] > errs[2] and errs[2] < 1e-3


def test_power_demos_huge_exponents_reach_their_limits_without_overflow():
    """``D ∝ ρ^(1−e)``: e → +∞ puts all mass on the least likely valid mode, e → −∞ on the most
    likely; computed as (1 − e)(log ρ − r) so nothing overflows (the largest float included).
    Moderate e matches exact rationals."""
    import warnings
    from fractions import Fraction

    task = ms.make_task([0.5, 0.3, 0.15, 0.05], [1, 1, 1, 0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for e, mode in ((1e10, 2), (float(np.finfo(np.float64).max), 2), (-1e300, 0)):
            d = np.exp(PowerDemos(e).log_distribution(task.log_base, task))
            np.testing.assert_array_equal(d, np.eye(4)[mode])
        d = np.exp(PowerDemos(3.0).log_distribution(task.log_base, task))
    w = [Fraction(1) / Fraction(p) ** 2 for p in (Fraction(1, 2), Fraction(3, 10), Fraction(3, 20))]
    np.testing.assert_allclose(d[:3], [float(x / sum(w)) for x in w], rtol=1e-15)
