"""Self-distillation with sampled demonstrations (theory §3): S1–S8 and the worked numbers.

Each property check is also run on a deliberately broken rule to show it can fail.
"""

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import find, given, settings
from hypothesis import strategies as st
from scipy.optimize import minimize

import modesim as ms
from modesim.simplex import log_normalise
from modesim.testing import alphas, betas, kappas, policies, tasks

P = [0.6, 0.3, 0.1]


def compounding(alpha, beta=0.0):
    """The map of theory §3.5: current policy as teacher base, demo source and KL reference."""
    return ms.SelfDistillation(
        teacher=ms.CopyTeacher(alpha), beta=beta, teacher_base="current", reference="current"
    )


def f_alpha(p, alpha):
    return p * np.log1p(alpha / ((1 - alpha) * p))


def f_alpha_prime(p, alpha):
    u = alpha / ((1 - alpha) * p)
    return np.log1p(u) - u / (1 + u)


# ------------------------------------------------------------ worked numbers


def test_worked_numbers_one_and_five_rounds():
    """theory §3.4–3.5: (0.646, 0.278, 0.076) after one round, (0.847, 0.138, 0.014) after five."""
    task = ms.make_task(P)
    np.testing.assert_allclose(ms.sd_optimum(task, teacher=ms.CopyTeacher(0.5)), [0.646, 0.278, 0.076], atol=1e-3)
    traj = ms.iterate(compounding(0.5), task, 5)
    np.testing.assert_allclose(traj.policy[-1], [0.847, 0.138, 0.014], atol=1e-3)


def test_worked_numbers_ood_pass_at_k():
    """theory §4: first mode blocked; base/RL 0.400/0.870/1.000, SD(5) 0.153/0.485/0.930."""
    task = ms.make_task(P, ood={"blocked": [0, 1, 1]})
    k = [1, 4, 16]
    rl = ms.iterate(ms.NaturalPG(1.0), task, 5).policy[-1]
    sd = ms.iterate(compounding(0.5), task, 5).policy[-1]
    np.testing.assert_allclose(ms.pass_at_k(task.base, task.ood["blocked"], k), [0.400, 0.870, 1.000], atol=1e-3)
    np.testing.assert_allclose(ms.pass_at_k(rl, task.ood["blocked"], k), [0.400, 0.870, 1.000], atol=1e-3)
    np.testing.assert_allclose(ms.pass_at_k(sd, task.ood["blocked"], k), [0.153, 0.485, 0.930], atol=1e-3)


def test_worked_number_S8_eigenvalue():
    """theory §3.5 S8: K = 3, α = 0.5, β = 0 gives λ = 1 + (log 4 − 3/4)/3 ≈ 1.212."""
    task = ms.make_task(P)
    J = ms.map_jacobian(compounding(0.5), task, np.full(3, 1 / 3))
    lam = 1 + (np.log(4) - 0.75) / 3
    assert lam == pytest.approx(1.212, abs=1e-3)
    np.testing.assert_allclose(np.linalg.eigvals(J), [lam, lam], atol=1e-7)


# ------------------------------------------------------------ S1


def sd_objective(theta, T, demo, beta, log_ref):
    lp = log_normalise(theta)
    p = np.exp(lp)
    with np.errstate(divide="ignore"):
        logT = np.log(T)
    kl_teachers = sum(demo[d] * p @ (lp - logT[d]) for d in range(len(demo)))
    return kl_teachers + beta * p @ (lp - log_ref)


@settings(max_examples=25, deadline=None)
@given(policies(K=4), betas(0.0, 3.0), st.integers(0, 2**31 - 1))
def test_S1_closed_form_is_the_minimiser(base, beta, seed):
    """theory §3.2 S1: (E_d log T + β log π0)/(1 + β), normalised, minimises the objective."""
    rng = np.random.default_rng(seed)
    T = rng.dirichlet(np.ones(4), size=4)
    task = ms.make_task(base)
    demos = ms.ExplicitDemos(rng.dirichlet(np.ones(4)))
    closed = ms.sd_optimum(task, teacher=ms.MatrixTeacher(T), demos=demos, beta=beta)
    res = minimize(
        sd_objective, np.zeros(4), args=(T, demos.probs, beta, task.log_base),
        method="BFGS", options={"gtol": 1e-11},
    )
    np.testing.assert_allclose(np.exp(log_normalise(res.x)), closed, atol=2e-6)


def test_S1_beta_zero_is_normalised_geometric_mean_of_teachers():
    rng = np.random.default_rng(1)
    T = rng.dirichlet(np.ones(5), size=5)
    D = rng.dirichlet(np.ones(5))
    geo = np.prod(T ** D[:, None], axis=0)
    got = ms.sd_optimum(ms.make_task(np.full(5, 0.2)), teacher=ms.MatrixTeacher(T), demos=ms.ExplicitDemos(D))
    np.testing.assert_allclose(got, geo / geo.sum(), rtol=1e-12)


def test_S1_check_catches_a_broken_closed_form():
    """Dropping the 1/(1+β) factor no longer minimises the objective."""
    rng = np.random.default_rng(2)
    T = rng.dirichlet(np.ones(3), size=3)
    D = rng.dirichlet(np.ones(3))
    task = ms.make_task([0.5, 0.3, 0.2])
    beta = 1.0
    g = ms.MatrixTeacher(T).expected_log(task.log_base, D)
    broken = np.exp(log_normalise(g + beta * task.log_base))
    res = minimize(sd_objective, np.zeros(3), args=(T, D, beta, task.log_base), method="BFGS")
    assert np.abs(np.exp(log_normalise(res.x)) - broken).max() > 1e-2


# ------------------------------------------------------------ S2, S3


@settings(max_examples=25, deadline=None)
@given(policies(K=4), betas(0.0, 3.0), st.integers(0, 2**31 - 1))
def test_S2_forward_kl_optimum_is_the_arithmetic_mean(base, beta, seed):
    """Forward KL: (E_d T + β π0)/(1 + β) minimises E_d KL(T_d‖π) + β KL(π0‖π)."""
    rng = np.random.default_rng(seed)
    T = rng.dirichlet(np.ones(4), size=4)
    D = rng.dirichlet(np.ones(4))
    task = ms.make_task(base)
    got = ms.sd_optimum(task, teacher=ms.MatrixTeacher(T), demos=ms.ExplicitDemos(D), objective="forward", beta=beta)

    def obj(theta):
        lp = log_normalise(theta)
        return -(D @ T + beta * task.base) @ lp

    res = minimize(obj, np.zeros(4), method="BFGS", options={"gtol": 1e-11})
    np.testing.assert_allclose(np.exp(log_normalise(res.x)), got, atol=2e-6)
    np.testing.assert_allclose(got, (D @ T + beta * task.base) / (1 + beta), rtol=1e-12)


@given(tasks(min_valid=2, all_valid=True, distinct=0.05), alphas())
def test_S2_forward_preserves_ratios_reverse_does_not(task, alpha):
    """Marginally consistent copy teacher (all valid, D = π0(·|C)): forward KL keeps π0."""
    fwd = ms.sd_optimum(task, teacher=ms.CopyTeacher(alpha), objective="forward")
    rev = ms.sd_optimum(task, teacher=ms.CopyTeacher(alpha), objective="reverse")
    np.testing.assert_allclose(fwd, task.base, rtol=1e-12)
    assert np.abs(rev - task.base).max() > 1e-6


@given(tasks(all_valid=True), alphas())
def test_S3_jensen_penalty(task, alpha):
    """β = 0, marginally consistent teacher: π_SD ∝ π0(y|C)·exp(−Δ(y)), Δ = log E T − E log T ≥ 0."""
    teacher = ms.CopyTeacher(alpha)
    demo = ms.ConditionedDemos().distribution(task.log_base, task)
    log_demo = ms.ConditionedDemos().log_distribution(task.log_base, task)
    delta = teacher.log_mixture(task.log_base, log_demo) - teacher.expected_log(task.log_base, demo)
    assert np.all(delta >= -1e-14)
    expected = task.base * np.exp(-delta)
    np.testing.assert_allclose(ms.sd_optimum(task, teacher=teacher), expected / expected.sum(), rtol=1e-10)


# ------------------------------------------------------------ S4, S5


def amplification_margin(sd_policy, task):
    """min over valid pairs with π0(y) > π0(y') of log-ratio gain; > 0 means strict amplification."""
    lp, lb = np.log(sd_policy), task.log_base
    idx = np.flatnonzero(task.valid)
    gains = [
        (lp[i] - lp[j]) - (lb[i] - lb[j]) for i in idx for j in idx if lb[i] > lb[j]
    ]
    return min(gains)


@given(tasks(min_valid=2, distinct=0.01), alphas(0.05, 0.95), betas(0.0, 5.0))
def test_S4_copy_teacher_strictly_amplifies(task, alpha, beta):
    """theory §3.4 S4: π0(y) > π0(y') ⇒ π_SD(y)/π_SD(y') > π0(y)/π0(y') (any valid mass)."""
    sd = ms.sd_optimum(task, teacher=ms.CopyTeacher(alpha), beta=beta)
    assert amplification_margin(sd, task) > 0


@given(tasks(min_valid=2, all_valid=True), alphas(), betas(0.0, 5.0))
def test_S4_formula_and_per_round_bound_when_all_modes_valid(task, alpha, beta):
    """Ī(y) = log(1 − α) + f_α(p); a ratio grows by at most (1 − α)^{−1/(1+β)}."""
    teacher = ms.CopyTeacher(alpha)
    demo = ms.ConditionedDemos().distribution(task.log_base, task)
    I_bar = teacher.expected_log(task.log_base, demo) - task.log_base
    np.testing.assert_allclose(I_bar, np.log1p(-alpha) + f_alpha(task.base, alpha), rtol=1e-10, atol=1e-12)
    sd = ms.sd_optimum(task, teacher=teacher, beta=beta)
    gain = np.log(sd) - task.log_base
    assert gain.max() - gain.min() <= -np.log1p(-alpha) / (1 + beta) + 1e-12


def test_S4_bound_fails_with_invalid_mass_counterexample():
    """Correction to theorem S4 (ours): with π0(C) = Z < 1 the bound (1 − α)^{−1/(1+β)} fails.

    Base (0.5 − ε, ε, 0.5 invalid), α = 0.5: the ratio of the two valid modes grows by ≈ 3,
    above the stated bound 2.  The exact Ī is log(1 − α) + p·log(1 + α/((1 − α)π0(y))),
    p = π0(y|C), whose supremum gives the bound (1 + α/((1 − α)Z))^{1/(1+β)}.
    """
    eps, alpha = 1e-6, 0.5
    task = ms.make_task([0.5 - eps, eps, 0.5], [1, 1, 0])
    sd = ms.sd_optimum(task, teacher=ms.CopyTeacher(alpha))
    growth = (sd[0] / sd[1]) / (task.base[0] / task.base[1])
    assert growth > 2.9 > (1 - alpha) ** -1
    Z = 0.5
    assert growth <= 1 + alpha / ((1 - alpha) * Z)
    teacher = ms.CopyTeacher(alpha)
    demo = ms.ConditionedDemos().distribution(task.log_base, task)
    I_bar = teacher.expected_log(task.log_base, demo) - task.log_base
    p = task.base / Z
    exact = np.log1p(-alpha) + p * np.log1p(alpha / ((1 - alpha) * task.base))
    np.testing.assert_allclose(I_bar[:2], exact[:2], rtol=1e-12)


@given(tasks(min_valid=2), alphas(0.05, 0.95), betas(0.0, 5.0))
def test_S4_general_bound_with_invalid_mass(task, alpha, beta):
    Z = task.base[task.valid].sum()
    sd = ms.sd_optimum(task, teacher=ms.CopyTeacher(alpha), beta=beta)
    gain = (np.log(sd) - task.log_base)[task.valid]
    assert gain.max() - gain.min() <= np.log1p(alpha / ((1 - alpha) * Z)) / (1 + beta) + 1e-12


@settings(max_examples=40)
@given(st.lists(st.integers(1, 6), min_size=2, max_size=4), st.integers(1, 9))
def test_S4_in_exact_rational_arithmetic(counts, a10):
    """All valid, D = π0 = n/N: Π_d (T(y|d)/T(y'|d))^{n_d} > (π0(y)/π0(y'))^N exactly."""
    alpha = Fraction(a10, 10)
    N = sum(counts)
    p = [Fraction(c, N) for c in counts]
    K = len(p)

    def T(y, d):
        return (1 - alpha) * p[y] + (alpha if y == d else 0)

    for y in range(K):
        for yp in range(K):
            if p[y] > p[yp]:
                lhs = Fraction(1)
                for d in range(K):
                    lhs *= (T(y, d) / T(yp, d)) ** counts[d]
                assert lhs > (p[y] / p[yp]) ** N
    sd = ms.sd_optimum(ms.make_task([float(x) for x in p]), teacher=ms.CopyTeacher(float(alpha)))
    lhs = Fraction(1)
    for d in range(K):
        lhs *= (T(0, d) / T(1, d)) ** counts[d]
    # The float ratio equals the N-th root of the exact rational ratio.
    assert np.log(sd[0] / sd[1]) == pytest.approx(
        (math.log(lhs.numerator) - math.log(lhs.denominator)) / N, abs=1e-12
    )


def test_S4_check_catches_a_broken_teacher():
    """A teacher that copies the *least* likely mode's probability breaks amplification."""

    class Broken(ms.CopyTeacher):
        def expected_log(self, log_rho, demo):
            return super().expected_log(log_rho, demo[..., ::-1])

    bad = find(
        st.tuples(tasks(min_valid=3, all_valid=True, distinct=0.05), alphas(0.2, 0.9)),
        lambda x: amplification_margin(ms.sd_optimum(x[0], teacher=Broken(x[1])), x[0]) <= 0,
        settings=settings(database=None),
    )
    assert bad is not None


@given(tasks(min_valid=2, distinct=0.01), kappas(-5.0, -0.05))
def test_S5_anti_copying_teacher_compresses(task, kappa):
    """theory §3.4 S5: with κ < 0 ratios among valid modes shrink."""
    sd = ms.sd_optimum(task, teacher=ms.TiltTeacher(kappa))
    assert amplification_margin(sd, task) < 0


@given(tasks(min_valid=2, distinct=0.01), kappas(0.05, 5.0))
def test_S5_copying_tilt_teacher_amplifies(task, kappa):
    sd = ms.sd_optimum(task, teacher=ms.TiltTeacher(kappa))
    assert amplification_margin(sd, task) > 0


# ------------------------------------------------------------ S6, S7


@settings(max_examples=30, deadline=None)
@given(tasks(min_valid=2, distinct=0.05, max_K=5), alphas(0.3, 0.9))
def test_S6_iterates_converge_to_the_top_valid_vertex(task, alpha):
    """theory §3.5 S6: a unique most probable valid mode takes all the mass."""
    rule = compounding(alpha)
    final = ms.iterate(rule, task, 400, every=400).policy[-1]
    top = np.flatnonzero(task.valid)[np.argmax(task.base[task.valid])]
    assert final[top] > 1 - 1e-3


def test_S6_fixed_points_uniform_unstable_vertices_stable():
    task = ms.make_task(P)
    fps = ms.fixed_points(compounding(0.5), task)
    kinds = {fp.support: fp.stability for fp in fps}
    assert kinds[(0,)] == kinds[(1,)] == kinds[(2,)] == "stable"
    assert kinds[(0, 1, 2)] == "unstable"
    interior = [fp for fp in fps if fp.support == (0, 1, 2)][0]
    np.testing.assert_allclose(interior.policy, 1 / 3, atol=1e-9)
    assert interior.spectral_radius == pytest.approx(1 + (np.log(4) - 0.75) / 3, abs=1e-6)


def test_S6_no_demonstration_is_an_error_not_a_nan():
    task = ms.make_task([0.5, 0.5], [1, 0])
    state = ms.State(np.array([-np.inf, 0.0]))
    with pytest.raises(ValueError, match="zero probability on the valid set"):
        compounding(0.5).step(state, task)


@given(tasks(min_valid=2, max_K=5), alphas(0.05, 0.95), betas(0.0, 3.0))
def test_S7_entropy_strictly_decreases_unless_uniform(task, alpha, beta):
    """theory §3.5 S7: H(π_t(·|C)) falls each SD round; RL (R3) keeps it."""
    traj = ms.iterate(compounding(alpha, beta), task, 5)
    H = ms.entropy(traj.policy, task.valid)
    q0 = ms.conditional(task.base, task.valid)[task.valid]
    if np.ptp(q0) > 1e-6:
        assert np.all(np.diff(H) < 0)
    else:
        np.testing.assert_allclose(H, H[0], atol=1e-9)


def test_S7_check_catches_an_anti_copying_rule():
    task = ms.make_task(P)
    rule = ms.SelfDistillation(teacher=ms.TiltTeacher(-1.0), teacher_base="current", reference="current")
    H = ms.entropy(ms.iterate(rule, task, 3).policy, task.valid)
    assert not np.all(np.diff(H) < 0)


# ------------------------------------------------------------ S8


@settings(max_examples=25, deadline=None)
@given(st.integers(2, 6), alphas(0.05, 0.95), betas(0.0, 3.0))
def test_S8_uniform_point_eigenvalue(K, alpha, beta):
    """λ·I with λ = 1 + (1/K) f_α'(1/K)/(1 + β) > 1, against the numeric tangent Jacobian."""
    task = ms.make_task(np.full(K, 1 / K))
    J = ms.map_jacobian(compounding(alpha, beta), task, np.full(K, 1 / K))
    lam = 1 + f_alpha_prime(1 / K, alpha) / K / (1 + beta)
    assert lam > 1
    np.testing.assert_allclose(J, lam * np.eye(K - 1), atol=1e-6)


def test_S8_check_catches_a_wrong_eigenvalue_formula():
    K, alpha = 3, 0.5
    J = ms.map_jacobian(compounding(alpha), ms.make_task(np.full(K, 1 / K)), np.full(K, 1 / K))
    wrong = 1 + f_alpha(1 / K, alpha) / K  # f instead of f'
    assert np.abs(np.linalg.eigvals(J) - wrong).max() > 1e-3


# ------------------------------------------------------------ the rule itself


def test_step_size_interpolates_geometrically():
    task = ms.make_task(P)
    full = ms.sd_optimum(task, log=True)
    half = ms.SelfDistillation(step_size=0.5)
    got = half.step(half.init(task), task).log_policy
    np.testing.assert_allclose(got, log_normalise(0.5 * task.log_base + 0.5 * full), atol=1e-14)


def test_frozen_teacher_base_reaches_its_fixed_point_in_one_round():
    task = ms.make_task(P)
    rule = ms.SelfDistillation(teacher_base="frozen")
    traj = ms.iterate(rule, task, 3)
    np.testing.assert_allclose(traj.policy[1], traj.policy[3], atol=1e-15)


def test_ema_teacher_interpolates_between_frozen_and_current():
    task = ms.make_task(P)
    run = lambda base: ms.iterate(ms.SelfDistillation(teacher_base=base), task, 6).policy[-1]
    np.testing.assert_allclose(run(ms.EMA(0.0)), run("current"), atol=1e-13)
    np.testing.assert_allclose(run(ms.EMA(1.0)), run("frozen"), atol=1e-13)
    mid = run(ms.EMA(0.5))[0]
    assert run("frozen")[0] < mid < run("current")[0]


def test_kl_to_base_slows_collapse():
    task = ms.make_task(P)
    top = [ms.iterate(ms.SelfDistillation(beta=b, reference="current"), task, 10).policy[-1][0] for b in (0, 1, 5)]
    assert top[0] > top[1] > top[2] > 0.6


@pytest.mark.parametrize("teacher", [ms.CopyTeacher(0.4), ms.TiltTeacher(0.7), ms.MultiDemoTeacher(0.4, 3)])
@pytest.mark.parametrize("objective", ["reverse", "forward"])
@pytest.mark.parametrize("batch", [(), (3,), (2, 4)])
def test_batch_shape_contract(teacher, objective, batch):
    """Leading axes are batch axes: a batched round equals the round applied row by row."""
    task = ms.dirichlet_task(5, 1.0, seed=7, batch_shape=batch, valid=[1, 1, 0, 1, 1])
    rule = ms.SelfDistillation(teacher=teacher, objective=objective, beta=0.3, step_size=0.7)
    out = ms.iterate(rule, task, 3).policy
    assert out.shape == (4,) + batch + (5,)
    flat_base = task.base.reshape(-1, 5)
    for i, row in enumerate(flat_base):
        single = ms.iterate(rule, ms.make_task(row, [1, 1, 0, 1, 1]), 3).policy
        np.testing.assert_allclose(out.reshape(4, -1, 5)[:, i], single, rtol=1e-12, atol=1e-300)


def test_large_k_round_with_underflowing_entries_has_no_nan():
    K = 1000
    lb = log_normalise(-np.arange(K) * 1.0)  # down to e^-999
    task = ms.Task(lb, np.ones(K, bool))
    out = ms.SelfDistillation().step(ms.SelfDistillation().init(task), task).log_policy
    assert np.all(np.isfinite(out))
    assert np.all(np.diff(out) < 0)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"objective": "sideways"}, "objective must be"),
        ({"beta": -1}, "beta must be"),
        ({"step_size": 0}, r"step_size must be in \(0, 1\]"),
        ({"step_size": 1.5}, "step_size must be in"),
        ({"step_size": [0.5, 1.5]}, r"got 1.5 at index \(1,\) of step_size"),
        ({"teacher_base": "mixed"}, "teacher_base must be"),
        ({"reference": "x"}, "reference must be"),
        ({"teacher": object()}, "teacher must be a modesim Teacher"),
        ({"demos": object()}, "demos must be a demonstration source"),
    ],
)
def test_bad_sd_parameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ms.SelfDistillation(**kwargs)


def test_ema_tau_out_of_range():
    with pytest.raises(ValueError, match=r"tau must be in \[0, 1\]"):
        ms.EMA(1.5)


def test_ema_tau_one_is_frozen_even_when_the_student_hits_zero():
    T = np.array([[0.5, 0.5, 0.0], [0.5, 0.5, 0.0], [0.6, 0.2, 0.2]])
    task = ms.make_task([0.4, 0.3, 0.3])
    run = lambda base: ms.iterate(ms.SelfDistillation(teacher=ms.MatrixTeacher(T), teacher_base=base), task, 3).policy
    np.testing.assert_allclose(run(ms.EMA(1.0)), run("frozen"), atol=1e-15)


@pytest.mark.parametrize("which, bad, match", [
    ("rho", np.log([0.5, 0.5]), r"log_rho must have K = 3 modes on its last axis; got shape \(2,\)"),
    ("rho", np.array([np.nan, -1.0, -2.0]), r"log_rho must not contain NaN or \+inf"),
    ("ref", np.log([0.5, 0.5]), r"log_ref must have K = 3 modes"),
    ("ref", np.array([np.nan, -1.0, -2.0]), r"log_ref must not contain NaN"),
])
def test_sd_target_names_a_bad_log_policy(which, bad, match):
    """sd_target is outside the fuzz registry (it takes log-policies): its refusals are tested here."""
    task = ms.make_task(P)
    rho, ref = (bad, task.log_base) if which == "rho" else (task.log_base, bad)
    with pytest.raises(ValueError, match=match):
        ms.sd_target(rho, ref, task, teacher=ms.CopyTeacher(), demos=ms.ConditionedDemos())


def test_sd_target_validates_beta_and_survives_huge_beta():
    task = ms.make_task(P)
    with pytest.raises(ValueError, match="beta must be"):
        ms.sd_target(task.log_base, task.log_base, task, teacher=ms.CopyTeacher(), demos=ms.ConditionedDemos(), beta=float("nan"))
    np.testing.assert_allclose(ms.sd_optimum(task, beta=1.7e308), P, atol=1e-12)
