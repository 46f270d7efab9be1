"""The JSD objective of self-distillation (theory §8.1): divergence, gradient, the round's
exact optimum (J1), its limits, amplification (J2), grids, edge cases and errors.

The solver is checked three independent ways: against ``scipy.optimize`` on the objective
summed by brute force over demonstrations, against a 40-digit ``mpmath`` root of the
stationarity conditions built from the teacher matrix (not from ``demo_law``), and by a
deliberately broken solver that both checks reject.
"""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import mpmath as mp
import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from scipy.optimize import minimize
from scipy.special import rel_entr

import modesim as ms
import modesim.jsd_solve as jsd_solve
from modesim.distill import jsd_divergence, jsd_score
from modesim.simplex import log_normalise
from modesim.testing import alphas, betas, policies, tasks

P = [0.6, 0.3, 0.1]

#: The two solves of a JSD round (theory §8.1): the compiled kernel (numba, the ``fast``
#: extra) for small blocks, with the numpy solve for what it leaves and for large blocks;
#: and the numpy solve alone (``MODESIM_NUMBA=0``, or numba not installed).
SOLVERS = ["compiled", "numpy"]


@pytest.fixture(params=SOLVERS)
def solver(request, monkeypatch):
    """Run the test with each solve (the numerical checks below take it)."""
    if request.param == "compiled":
        pytest.importorskip("numba")
        monkeypatch.delenv("MODESIM_NUMBA", raising=False)
        assert jsd_solve._kernel() is not None
    else:
        monkeypatch.setenv("MODESIM_NUMBA", "0")
        assert jsd_solve._kernel() is None
    return request.param


@pytest.fixture
def numpy_solve(monkeypatch):
    """The numpy solve alone: for the tests of its own internals (float32 phase, Halley steps)."""
    monkeypatch.setenv("MODESIM_NUMBA", "0")


def jsd_brute(t, s, lam):
    """λ·KL(T‖M) + (1 − λ)·KL(S‖M), M = λT + (1 − λ)S (TRL's generalized_jsd_loss, re-derived)."""
    m = lam * t + (1 - lam) * s
    return lam * rel_entr(t, m).sum(-1) + (1 - lam) * rel_entr(s, m).sum(-1)


def objective(lp, T, D, lam, beta, lref):
    """F(π) = Σ_d D(d)·JSD_λ(T[d]‖π) + β·KL(π‖π_ref), summed over demonstrations."""
    p = np.exp(lp)
    F = sum(D[d] * jsd_brute(T[d], p, lam) for d in range(len(D)) if D[d] > 0)
    if beta:
        with np.errstate(divide="ignore"):
            F += beta * rel_entr(p, np.exp(lref)).sum()
    return float(F)


def teacher_rows(teacher, log_rho, D):
    """Every teacher row T(·|demonstrations) with its probability, by enumeration (the
    m-demonstration teacher over all m-tuples; the others over single demonstrations)."""
    m = teacher.n_demos
    if m == 1:
        return teacher.matrix(log_rho), np.asarray(D)
    K = len(D)
    rows, weights = [], []
    for ds in itertools.product(range(K), repeat=m):
        counts = np.bincount(ds, minlength=K)
        rows.append((1 - teacher.alpha) * np.exp(log_rho) + teacher.alpha * counts / m)
        weights.append(np.prod(np.asarray(D)[list(ds)]))
    return np.array(rows), np.array(weights)


def scipy_optimum(T, D, lam, beta, lref, start):
    res = minimize(lambda z: objective(log_normalise(z), T, D, lam, beta, lref), start,
                   method="BFGS", options={"gtol": 1e-12, "maxiter": 5000})
    return log_normalise(res.x)


def teachers():
    rng = np.random.default_rng(11)
    T = rng.dirichlet(np.ones(4), size=4)
    T[1, 2] = 0.0
    T[1] /= T[1].sum()
    return {
        "copy": ms.CopyTeacher(0.6),
        "tilt": ms.TiltTeacher(1.5),
        "anti-tilt": ms.TiltTeacher(-2.0),
        "multi": ms.MultiDemoTeacher(0.5, 3),
        "matrix": ms.MatrixTeacher(T),
    }


DEMOS = {
    "self": ms.ConditionedDemos(),
    "uniform": ms.UniformDemos(),
    "fixed": ms.FixedDemo(0),
    "explicit": ms.ExplicitDemos([0.1, 0.2, 0.0, 0.7]),
}


# ------------------------------------------------------------ the divergence and its gradient


@settings(max_examples=30, deadline=None)
@given(policies(K=5), policies(K=5), st.floats(1e-8, 1 - 1e-8))
def test_divergence_is_trl_generalised_jsd(t, s, lam):
    got = jsd_divergence(np.log(t), np.log(s), lam)
    assert got == pytest.approx(jsd_brute(t, s, lam), rel=1e-10, abs=1e-15)  # brute force: round-off ~1e-16
    assert 0.0 <= got <= -lam * np.log(lam) - (1 - lam) * np.log1p(-lam) + 1e-15


def test_divergence_endpoints_are_scaled_reverse_and_forward_kl():
    """JSD_λ/(1 − λ) → KL(S‖T) as λ → 1 and JSD_λ/λ → KL(T‖S) as λ → 0 (TRL's special cases)."""
    t, s = np.array([0.5, 0.3, 0.2]), np.array([0.2, 0.2, 0.6])
    lam = 1e-7
    assert jsd_divergence(np.log(t), np.log(s), 1 - lam) / lam == pytest.approx(rel_entr(s, t).sum(), rel=1e-5)
    assert jsd_divergence(np.log(t), np.log(s), lam) / lam == pytest.approx(rel_entr(t, s).sum(), rel=1e-5)
    assert jsd_divergence(np.log(t), np.log(t), 0.5) == 0.0


@pytest.mark.parametrize("lam", [1e-6, 0.3, 0.5, 0.9])
def test_score_is_the_derivative_of_the_divergence(lam):
    """∂/∂π_y [λ Σ T log(T/M) + (1 − λ) Σ π log(π/M)] = (1 − λ) log(π_y/M_y), by 40-digit mpmath."""
    mp.mp.dps = 40
    t = [mp.mpf(x) for x in (0.5, 0.3, 0.2)]
    s = [mp.mpf(x) for x in (0.2, 0.25, 0.55)]
    L = mp.mpf(lam)

    def J(y, x):
        pi = list(s)
        pi[y] = x
        m = [L * a + (1 - L) * b for a, b in zip(t, pi)]
        return sum(L * a * mp.log(a / c) + (1 - L) * b * mp.log(b / c) for a, b, c in zip(t, pi, m))

    exact = [float(mp.diff(lambda x, y=y: J(y, x), s[y])) for y in range(3)]
    got = jsd_score(np.log(np.array(s, dtype=float)), np.log(np.array(t, dtype=float)), lam)
    np.testing.assert_allclose(got, exact, rtol=1e-12, atol=1e-15)


# ------------------------------------------------------------ J1: the round's optimum


@pytest.mark.parametrize("teacher", sorted(teachers()))
@pytest.mark.parametrize("demos", sorted(DEMOS))
@pytest.mark.parametrize("lam, beta", [(0.5, 0.0), (0.2, 0.04), (0.85, 1.3)])
def test_optimum_beats_scipy(solver, teacher, demos, lam, beta):
    """theory §8.1 J1: the batched solve minimises E_d JSD_λ(T_d‖π) + β KL(π‖π0) (BFGS agrees)."""
    task = ms.make_task([0.4, 0.3, 0.2, 0.1], [1, 1, 1, 1])
    tch, src = teachers()[teacher], DEMOS[demos]
    got = ms.sd_optimum(task, teacher=tch, demos=src, objective="jsd", jsd_weight=lam, beta=beta, log=True)
    T, D = teacher_rows(tch, task.log_base, src.distribution(task.log_base, task))
    best = scipy_optimum(T, D, lam, beta, task.log_base, task.log_base.copy())
    F_got, F_best = objective(got, T, D, lam, beta, task.log_base), objective(best, T, D, lam, beta, task.log_base)
    assert F_got <= F_best + 1e-13
    np.testing.assert_allclose(np.exp(got), np.exp(best), atol=2e-6)


def kkt_root(T, D, lam, beta, lref, start, dps=40):
    """The stationarity conditions (1 − λ)Σ_d D(d) log(π_y/M_{d,y}) + β log(π_y/π_ref(y)) = ν,
    Σπ = 1, solved by mpmath at ``dps`` digits from ``start`` (every mode held)."""
    mp.mp.dps = dps
    K = T.shape[1]
    L = mp.mpf(lam)
    Tm = [[mp.mpf(float(x)) for x in row] for row in T]
    Dm = [mp.mpf(float(x)) for x in D]
    rm = [mp.mpf(float(x)) for x in lref]

    def eqs(*z):
        u, nu = z[:K], z[K]
        out = []
        for y in range(K):
            pi = mp.exp(u[y])
            g = sum(Dm[d] * mp.log(pi / (L * Tm[d][y] + (1 - L) * pi)) for d in range(len(Dm)) if Dm[d] > 0)
            out.append((1 - L) * g + mp.mpf(beta) * (u[y] - rm[y]) - nu)
        out.append(sum(mp.exp(x) for x in u) - 1)
        return out

    z0 = [mp.mpf(float(x)) for x in start] + [mp.mpf(0)]
    sol = mp.findroot(eqs, z0, tol=mp.mpf(10) ** (-dps + 5))
    return np.array([float(mp.exp(sol[i])) for i in range(K)])


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(tasks(max_K=4, all_valid=True), alphas(0.05, 0.95), st.floats(0.02, 0.98), betas(0.0, 2.0))
def test_optimum_to_1e13_against_a_40_digit_root(solver, task, alpha, lam, beta):
    teacher = ms.CopyTeacher(alpha)
    got = ms.sd_optimum(task, teacher=teacher, objective="jsd", jsd_weight=lam, beta=beta)
    exact = kkt_root(teacher.matrix(task.log_base), task.base, lam, beta, task.log_base, np.log(got))
    np.testing.assert_allclose(got, exact, rtol=1e-13)


def test_a_broken_solver_is_caught(solver, monkeypatch):
    """Negative control: stopping after one iteration, or solving the reverse-KL round instead,
    fails the checks above."""
    task = ms.make_task([0.5, 0.3, 0.15, 0.05])
    teacher, lam, beta = ms.CopyTeacher(0.5), 0.5, 0.1
    T = teacher.matrix(task.log_base)
    exact = kkt_root(T, task.base, lam, beta, task.log_base,
                     np.log(ms.sd_optimum(task, teacher=teacher, objective="jsd", jsd_weight=lam, beta=beta)))
    monkeypatch.setattr(jsd_solve, "_JSD_STEP_TOL", np.inf)  # stop after the first step
    monkeypatch.setattr(jsd_solve, "_JSD_CUBIC_TOL", np.inf)
    one_step = ms.sd_optimum(task, teacher=teacher, objective="jsd", jsd_weight=lam, beta=beta)
    assert np.max(np.abs(one_step / exact - 1)) > 1e-13
    reverse = ms.sd_optimum(task, teacher=teacher, beta=beta, log=True)
    best = scipy_optimum(T, task.base, lam, beta, task.log_base, task.log_base.copy())
    assert objective(reverse, T, task.base, lam, beta, task.log_base) > objective(best, T, task.base, lam, beta, task.log_base) + 1e-6


# ------------------------------------------------------------ limits (theory §8.1)


@pytest.mark.parametrize("beta", [0.0, 0.04, 2.0])
def test_lambda_to_one_with_scaled_beta_is_the_reverse_kl_round(solver, beta):
    """JSD_λ ≈ (1 − λ) KL(π‖T): the optimum with strength β(1 − λ) tends to the reverse one with β."""
    task = ms.make_task(P)
    reverse = ms.sd_optimum(task, beta=beta)
    errs = []
    for eps in (1e-3, 1e-4, 1e-5):
        jsd = ms.sd_optimum(task, objective="jsd", jsd_weight=1 - eps, beta=beta * eps)
        errs.append(np.max(np.abs(jsd / reverse - 1)))
    assert errs[-1] < 1e-4 and errs[0] > errs[1] > errs[2]  # O(1 − λ)


def test_lambda_to_zero_at_beta_zero_is_the_forward_kl_round(solver):
    task = ms.make_task(P)
    for demos in (ms.ConditionedDemos(), ms.UniformDemos()):
        forward = ms.sd_optimum(task, demos=demos, objective="forward")
        jsd = ms.sd_optimum(task, demos=demos, objective="jsd", jsd_weight=1e-7)
        np.testing.assert_allclose(jsd, forward, rtol=1e-5)


def test_lambda_to_zero_with_scaled_beta_is_the_mixed_objective(solver):
    """λ → 0 with strength λβ: the minimiser of E_d KL(T_d‖π) + β KL(π‖π_ref) (TRL's λ = 0 loss
    plus its unscaled reference term) — *not* modesim's forward objective, whose reference term
    is KL(π_ref‖π)."""
    task, beta, lam = ms.make_task(P), 0.7, 1e-7
    teacher, demos = ms.CopyTeacher(0.5), ms.UniformDemos()
    T = teacher.matrix(task.log_base)

    def mixed(z):
        p = np.exp(log_normalise(z))
        return float(sum(rel_entr(T[d], p).sum() for d in range(3)) / 3 + beta * rel_entr(p, task.base).sum())

    best = np.exp(log_normalise(minimize(mixed, np.zeros(3), method="BFGS", options={"gtol": 1e-12}).x))
    jsd = ms.sd_optimum(task, teacher=teacher, demos=demos, objective="jsd", jsd_weight=lam, beta=beta * lam)
    np.testing.assert_allclose(jsd, best, atol=1e-6)
    forward = ms.sd_optimum(task, teacher=teacher, demos=demos, objective="forward", beta=beta)
    assert np.max(np.abs(jsd - forward)) > 1e-3


def test_unscaled_beta_pulls_both_endpoints_to_the_reference(solver):
    task = ms.make_task(P)
    for lam in (1e-7, 1 - 1e-7):
        np.testing.assert_allclose(ms.sd_optimum(task, objective="jsd", jsd_weight=lam, beta=0.04), P, atol=1e-4)


def test_jsd_lies_between_the_reverse_and_forward_rounds(solver):
    """On (0.6, 0.3, 0.1) the JSD round amplifies less than the reverse round (S4) and more than
    the forward round (which preserves, S2); worked number of theory §8.1."""
    task = ms.make_task(P)
    jsd = ms.sd_optimum(task, objective="jsd")
    np.testing.assert_allclose(jsd, [0.632, 0.289, 0.079], atol=1e-3)
    top = [ms.sd_optimum(task, objective=o)[0] for o in ("forward", "jsd", "reverse")]
    assert top[0] < top[1] < top[2]


# ------------------------------------------------------------ J2: amplification


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(tasks(min_valid=2, distinct=0.05), alphas(0.05, 0.95), st.floats(0.01, 0.99), betas(0.0, 3.0))
def test_J2_copy_teacher_amplifies_under_jsd(solver, task, alpha, lam, beta):
    """theory §8.1 J2: the JSD round with the copy teacher (ρ = π_ref = π0, D = π0(·|C))
    raises log(π(y)/π(y')) for every valid pair with π0(y) > π0(y')."""
    out = ms.sd_optimum(task, teacher=ms.CopyTeacher(alpha), objective="jsd", jsd_weight=lam, beta=beta, log=True)
    v = np.flatnonzero(task.valid)
    lb = task.log_base
    for i in v:
        for j in v:
            if lb[i] > lb[j]:
                assert out[i] - out[j] > lb[i] - lb[j]


def test_J2_needs_a_copying_teacher():
    """Negative control: the anti-copying tilt teacher compresses under the JSD objective too."""
    task = ms.make_task([0.5, 0.3, 0.2])
    out = ms.sd_optimum(task, teacher=ms.TiltTeacher(-2.0), objective="jsd", log=True)
    assert out[0] - out[2] < task.log_base[0] - task.log_base[2]


def test_compounding_jsd_rounds_collapse_onto_the_top_mode(solver):
    rule = ms.SelfDistillation(objective="jsd")
    pol = ms.iterate(rule, ms.make_task(P), 40).policy
    assert np.all(np.diff(pol[:, 2]) < 0) and pol[-1, 0] > 0.99


# ------------------------------------------------------------ grids, batches, edge cases


def test_parameter_grids_equal_the_loop_over_scalars(solver):
    task = ms.make_task([[0.5, 0.3, 0.15, 0.05], [0.25, 0.25, 0.4, 0.1]], [[1, 1, 1, 0], [1, 1, 0, 1]])
    lam = np.array([0.1, 0.5, 0.9])[:, None, None, None]
    beta = np.array([0.0, 0.3])[None, :, None, None]
    alpha = np.array([0.2, 0.7])[None, None, :, None]
    rule = ms.SelfDistillation(ms.CopyTeacher(alpha), objective="jsd", jsd_weight=lam, beta=beta)
    assert rule.param_shape == (3, 2, 2, 1)
    out = ms.iterate(rule, task, 2).policy[-1]
    assert out.shape == (3, 2, 2, 2, 4)
    for i, j, k in np.ndindex(3, 2, 2):
        one = ms.SelfDistillation(ms.CopyTeacher(float(alpha[0, 0, k, 0])), objective="jsd",
                                  jsd_weight=float(lam[i, 0, 0, 0]), beta=float(beta[0, j, 0, 0]))
        np.testing.assert_allclose(out[i, j, k], ms.iterate(one, task, 2).policy[-1], rtol=1e-12, atol=1e-300)


@pytest.mark.parametrize("teacher", [ms.CopyTeacher(0.4), ms.TiltTeacher(0.7), ms.MultiDemoTeacher(0.4, 3)])
@pytest.mark.parametrize("grid", ["jsd_weight", "beta", "reference"])
def test_a_grid_beyond_the_policys_batch_equals_the_loop(solver, teacher, grid):
    """``sd_optimum`` / ``sd_target`` with λ, β or the reference carrying batch axes the policy
    does not have (a grid over them, shape (3, 1) against a batch of 5).  This raised
    "operands could not be broadcast" (the two-point teacher's block law read its rows by the
    grid's row index; the other teachers' law kept its point axis behind the grid's), found by
    an adversarial review; each grid point must equal the call with that scalar."""
    task = ms.dirichlet_task(4, 0.8, seed=6, batch_shape=(5,))
    values = {"jsd_weight": [0.3, 0.5, 0.9], "beta": [0.0, 0.5, 2.0], "reference": [0.0, 1.0, 2.0]}[grid]
    kw = dict(teacher=teacher, objective="jsd", jsd_weight=0.5, beta=0.3)
    if grid == "reference":
        refs = [log_normalise(task.log_base * (1 + v)) for v in values]
        got = ms.sd_target(task.log_base, np.stack(refs), task, demos=ms.ConditionedDemos(), **kw)
        want = [ms.sd_target(task.log_base, r, task, demos=ms.ConditionedDemos(), **kw) for r in refs]
    else:
        got = ms.sd_optimum(task, **(kw | {grid: np.array(values)[:, None]}))
        want = [ms.sd_optimum(task, **(kw | {grid: v})) for v in values]
    assert got.shape == (3, 5, 4)
    np.testing.assert_allclose(got, np.stack(want), rtol=1e-13, atol=1e-300)


@pytest.mark.parametrize("teacher", [ms.CopyTeacher(0.4), ms.TiltTeacher(0.7), ms.MultiDemoTeacher(0.4, 3)])
def test_batched_round_equals_rows(solver, teacher):
    task = ms.dirichlet_task(5, 1.0, seed=3, batch_shape=(2, 3), valid=[1, 1, 0, 1, 1])
    rule = ms.SelfDistillation(teacher=teacher, objective="jsd", beta=0.2, step_size=0.6)
    out = ms.iterate(rule, task, 2).policy[-1]
    for idx in np.ndindex(2, 3):
        single = ms.iterate(rule, ms.make_task(task.base[idx], [1, 1, 0, 1, 1]), 2).policy[-1]
        np.testing.assert_allclose(out[idx], single, rtol=1e-12, atol=1e-300)


def test_zero_probabilities(solver):
    """A mode the teacher never holds gets 0 at β = 0; a reference zero with β > 0 gets 0;
    the JSD (bounded) keeps modes that only some teachers hold, unlike the reverse KL."""
    T = np.array([[0.5, 0.5, 0.0], [0.2, 0.8, 0.0], [0.0, 0.5, 0.5]])
    task = ms.make_task([0.4, 0.4, 0.2])
    demos = ms.ExplicitDemos([0.5, 0.5, 0.0])
    out = ms.sd_optimum(task, teacher=ms.MatrixTeacher(T), demos=demos, objective="jsd")
    assert out[2] == 0.0 and np.all(out[:2] > 0)
    demos = ms.ExplicitDemos([0.4, 0.4, 0.2])
    out = ms.sd_optimum(task, teacher=ms.MatrixTeacher(T), demos=demos, objective="jsd")
    rev = ms.sd_optimum(task, teacher=ms.MatrixTeacher(T), demos=demos)
    assert np.all(out > 0) and rev[0] == 0.0 and rev[2] == 0.0
    lr = np.log([0.5, 0.5, 0.0]) if False else np.array([np.log(0.5), np.log(0.5), -np.inf])
    got = ms.sd_target(task.log_base, lr, task, teacher=ms.CopyTeacher(0.5), demos=ms.ConditionedDemos(),
                       objective="jsd", beta=0.3)
    assert got[2] == -np.inf and np.isfinite(got[:2]).all()
    np.testing.assert_allclose(np.exp(got).sum(), 1.0)


@pytest.mark.parametrize("teacher", [ms.CopyTeacher(0.4), ms.TiltTeacher(0.7), ms.MultiDemoTeacher(0.4, 3)])
def test_blocks_of_rows_equal_the_whole_batch(solver, monkeypatch, teacher):
    """The solve takes rows through its iterations in blocks (cache-resident work arrays):
    blocks of 3 rows, per-row λ and β across block edges, give the one-block result, and
    each row equals its own solve."""
    task = ms.dirichlet_task(5, 1.0, seed=4, batch_shape=(4, 5), valid=[1, 1, 0, 1, 1])
    lam = np.linspace(0.05, 0.95, 4)[:, None]
    beta = np.array([0.0, 1e-3, 0.04, 1.0, 30.0])
    kw = dict(teacher=teacher, demos=ms.ConditionedDemos(), objective="jsd", jsd_weight=lam, beta=beta)
    whole = ms.sd_target(task.log_base, task.log_base, task, **kw)
    monkeypatch.setattr(jsd_solve, "_JSD_ROWS", 15)
    blocks = ms.sd_target(task.log_base, task.log_base, task, **kw)
    np.testing.assert_allclose(blocks, whole, rtol=1e-13, atol=1e-300)
    for i, j in np.ndindex(4, 5):
        one = ms.make_task(task.base[i, j], [1, 1, 0, 1, 1])
        single = ms.sd_target(one.log_base, one.log_base, one, teacher=teacher, demos=ms.ConditionedDemos(),
                              objective="jsd", jsd_weight=float(lam[i, 0]), beta=float(beta[j]))
        np.testing.assert_allclose(blocks[i, j], single, rtol=1e-12, atol=1e-300)


def test_rows_without_optimum_are_all_named_across_blocks(solver, monkeypatch):
    """Rows whose every mode the optimum must leave at zero (a law that holds no mode) are
    refused for the whole batch, every one named, whichever block they fall in (the public
    entry points cannot produce such a law; the solve checks it all the same)."""
    monkeypatch.setattr(jsd_solve, "_JSD_ROWS", 4)
    lT = np.log(np.full((1, 6, 2), 0.5))
    lT[:, [1, 5]] = -np.inf
    with pytest.raises(ValueError, match=r"disjoint supports.* at batch index \(1,\), \(5,\)"):
        jsd_solve._jsd_solve(np.ones((1, 6, 2)), lT, np.zeros((6, 2)), 0.0, 0.5)


def test_a_start_whose_every_entry_underflows_is_shifted(solver):
    """A row whose start lies entirely below e^−745 (a teacher and reference of astronomical
    depth) is normalised after a shift by its maximum: the same optimum as the shifted row."""
    K = 4
    lT = np.log(np.array([[0.5, 0.3, 0.15, 0.05]])) - 900.0
    w = np.ones((1, 1, K))
    out = jsd_solve._jsd_solve(w, lT[None], np.full((1, K), -900.0), 0.0, 0.5)
    ref = jsd_solve._jsd_solve(w, (lT + 900.0)[None], np.zeros((1, K)), 0.0, 0.5)
    np.testing.assert_allclose(out, ref, rtol=1e-13)


def test_disjoint_teacher_and_reference_only_break_the_reverse_round():
    """The JSD is bounded (≤ H(λ)), so a teacher disjoint from the reference still has an
    optimum (the reference's support); the reverse-KL round has none."""
    task = ms.make_task([0.5, 0.5])
    T = np.array([[1.0, 0.0], [1.0, 0.0]])
    ref = np.array([-np.inf, 0.0])
    kw = dict(teacher=ms.MatrixTeacher(T), demos=ms.ConditionedDemos(), beta=1.0)
    out = ms.sd_target(task.log_base, ref, task, objective="jsd", **kw)
    np.testing.assert_array_equal(out, [-np.inf, 0.0])
    with pytest.raises(ValueError, match="disjoint supports"):
        ms.sd_target(task.log_base, ref, task, **kw)


@pytest.mark.parametrize("lam", [1e-8, 1e-3, 0.5, 1 - 1e-8])
@pytest.mark.parametrize("beta", [0.0, 1e-3, 1e3, 1e300])
def test_hard_inputs_converge_without_nan(solver, lam, beta):
    """Uniform demonstrations over a base with entries down to 1e-300 (the solve's worst case)."""
    rng = np.random.default_rng(5)
    p = rng.dirichlet(np.full(200, 0.3))
    p = np.maximum(p, 1e-300)
    task = ms.make_task(p / p.sum())
    for demos in (ms.UniformDemos(), ms.ConditionedDemos(), ms.FixedDemo(3)):
        out = ms.sd_optimum(task, demos=demos, objective="jsd", jsd_weight=lam, beta=beta, log=True)
        assert np.all(np.isfinite(out)) and np.all(out <= 0)
        assert np.exp(out).sum() == pytest.approx(1.0, rel=1e-12)


def test_large_k_with_underflowing_entries(solver):
    K = 2000
    lb = log_normalise(-np.arange(K) * 1.0)  # down to e^-1999: exponent range beyond ±650
    task = ms.Task(lb, np.ones(K, bool))
    rule = ms.SelfDistillation(objective="jsd", beta=0.01)
    out = rule.step(rule.init(task), task).log_policy
    assert np.all(np.isfinite(out)) and np.all(np.diff(out) < 0)


def test_flow_and_velocity_accept_the_jsd_objective():
    rule = ms.SelfDistillation(objective="jsd", step_size=0.5)
    traj = ms.flow(rule, ms.make_task(P), [0.0, 1.0, 2.0])
    assert np.all(np.diff(traj.policy[:, 0]) > 0)


@pytest.mark.parametrize("kwargs, match", [
    ({"objective": "reverse", "jsd_weight": 0.5}, "jsd_weight is the mixing weight of objective='jsd'"),
    ({"objective": "jsd", "jsd_weight": 0.0}, r"jsd_weight must be in \[1e-8, 1 - 1e-8\], .*got 0.0$"),
    ({"objective": "jsd", "jsd_weight": 1e-9}, r"jsd_weight must be in \[1e-8, 1 - 1e-8\], .*got 1e-09"),
    ({"objective": "jsd", "jsd_weight": 1.0}, r"jsd_weight must be in \[1e-8, 1 - 1e-8\], .*got 1.0$"),
    ({"objective": "jsd", "jsd_weight": -3}, r"jsd_weight must be in \[1e-8, 1 - 1e-8\], .*got -3.0$"),
    ({"objective": "jsd", "jsd_weight": float("nan")}, "jsd_weight must be a finite real number; got nan"),
    ({"objective": "jsd", "jsd_weight": [0.5, 2.0]}, r"got 2.0 at index \(1,\) of jsd_weight"),
    ({"objective": "jsd", "jsd_weight": [0.5, 1 - 1e-10]}, r"got 0.9999999999 at index \(1,\) of jsd_weight"),
    ({"objective": "jsd", "jsd_weight": "half"}, "jsd_weight must be"),
])
def test_bad_jsd_options(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ms.SelfDistillation(**kwargs)
    with pytest.raises(ValueError, match=match):
        ms.sd_optimum(ms.make_task(P), **kwargs)


def test_a_teacher_without_a_demonstration_law_is_refused_for_jsd():
    class Duck:
        def expected_log(self, log_rho, demo):
            return log_rho

        def log_mixture(self, log_rho, log_demo):
            return log_rho

    ms.SelfDistillation(teacher=Duck())  # fine for the reverse objective
    with pytest.raises(ValueError, match="demo_law"):
        ms.SelfDistillation(teacher=Duck(), objective="jsd")


def test_generic_law_refuses_huge_k():
    teacher = ms.TiltTeacher(1.0)
    with pytest.raises(ValueError, match="too large"):
        teacher.demo_law(np.zeros((100, 2000)) - np.log(2000), np.full((100, 2000), 1 / 2000))


@pytest.mark.parametrize("name", sorted(teachers()))
def test_demo_law_reproduces_both_targets(name):
    """Σ_j w_j log T_j = E_d log T and log Σ_j w_j T_j = log E_d T for every teacher."""
    rng = np.random.default_rng(2)
    lr, D = np.log(rng.dirichlet(np.ones(4))), rng.dirichlet(np.ones(4))
    t = teachers()[name]
    w, lv = t.demo_law(lr, D)
    np.testing.assert_allclose(w.sum(-2), 1.0, rtol=1e-14)
    with np.errstate(invalid="ignore"):
        el = np.where(w > 0, w * lv, 0.0).sum(-2)
    np.testing.assert_allclose(el, t.expected_log(lr, D), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(np.log((w * np.exp(lv)).sum(-2)), t.log_mixture(lr, np.log(D)), rtol=1e-12, atol=1e-14)


def test_sympy_derivation_of_the_gradient():
    """modesim.symbolic.jsd_gradient proves ∂JSD/∂π_y = (1 − λ) log(π_y/M_y); its numeric form
    equals jsd_score."""
    from modesim.symbolic import jsd_gradient

    d = jsd_gradient()
    assert d.proved
    pi, t, lam = np.array([0.2, 0.25, 0.55]), np.array([0.5, 0.3, 0.2]), 0.3
    np.testing.assert_allclose(d.numeric(pi, t, lam), jsd_score(np.log(pi), np.log(t), lam), rtol=1e-13)


@pytest.mark.parametrize("beta", [0.0, 0.1])
@pytest.mark.parametrize("kappa", [1e20, 1e300, -1e300])
def test_jsd_with_a_teacher_of_astronomical_log_ratios_converges_to_its_limit(solver, kappa, beta):
    """TiltTeacher(1e20) made the solve travel 1e20 nats (RuntimeError: did not converge); log T
    below −1e4 is an exact zero for the solve, and the answer is the one at κ = ±2000, where
    nothing is treated as zero (the limit is reached long before)."""
    task = ms.make_task([0.6, 0.3, 0.1], valid=[1, 1, 0])
    got = ms.sd_optimum(task, teacher=ms.TiltTeacher(kappa), objective="jsd", beta=beta)
    near = ms.sd_optimum(task, teacher=ms.TiltTeacher(np.sign(kappa) * 2000.0), objective="jsd", beta=beta)
    np.testing.assert_allclose(got, near, rtol=1e-12, atol=1e-300)


def test_tilt_strength_is_bounded_where_its_sums_stay_floats():
    with pytest.raises(ValueError, match=r"kappa must be in \[-1e\+300, 1e\+300\]; got -1e\+308"):
        ms.TiltTeacher(-1e308)


def test_a_reference_far_below_a_teacher_zero_runs_clean(solver):
    """A teacher base with a zero (the copy teacher's d ≠ y point is T = 0) and a reference
    entry near e^−1000 under a large β: the iterate leaves the ratio range, and the log of the
    law (T = 0 → −inf) must not warn (pytest turns warnings into errors); the result equals the
    optimum the solver reaches with that log taken under errstate."""
    task = ms.make_task([0.5, 0.3, 0.2])
    lr = np.array([np.log(0.5), np.log(0.5), -np.inf])
    lref = log_normalise(np.array([0.0, -1000.0, -1000.0]))
    got = ms.sd_target(lr, lref, task, teacher=ms.CopyTeacher(0.5), demos=ms.ConditionedDemos(),
                       objective="jsd", beta=10.0)
    assert np.all(np.isfinite(got)) and np.exp(got).sum() == pytest.approx(1.0, rel=1e-13)
    assert got[2] < got[1] < -900.0


def test_a_user_copy_teacher_whose_out_parameter_is_ignored(solver):
    """A CopyTeacher subclass that restates its two points with an ``out`` keyword it does not
    write (it returns fresh arrays) gives the copy teacher's JSD round: the points must reach
    the solve's buffer (before: the buffer was left uninitialised).  To the last ulp or two:
    the copy teacher's own path takes the kernel's vectorised exp and log when it is in use
    (within an ulp of numpy's), the subclass's the values numpy forms."""
    class Fresh(ms.CopyTeacher):
        def two_point_log_values(self, log_rho, *, out=None):
            return ms.CopyTeacher.two_point_log_values(self, log_rho)

        def demo_law(self, log_rho, demo):
            return ms.CopyTeacher.demo_law(self, log_rho, demo)

    task = ms.dirichlet_task(5, 0.5, seed=1, batch_shape=(4, 3))
    for alpha in (0.4, np.array([0.0, 0.3, 0.8])):
        want = ms.sd_optimum(task, teacher=ms.CopyTeacher(alpha), objective="jsd", beta=0.1)
        got = ms.sd_optimum(task, teacher=Fresh(alpha), objective="jsd", beta=0.1)
        np.testing.assert_allclose(got, want, rtol=1e-15, atol=0)


@pytest.mark.parametrize("lam", [0.01, 0.5, 0.97])
def test_a_mode_held_only_by_a_tiny_beta_converges_at_float_resolution(solver, lam):
    """A mode the teacher never holds, kept by β = 1e-12 at ``u = log π_ref + ν/β`` (~ −3e11):
    float64 resolves u only to ~1e-4 there (the rounding of ν moves it by ulp(ν)/β), so the
    solve stops when every step is within a few ulp of its u (before: 'did not converge' at
    λ = 0.5).  The mode's log-probability is checked against the stationarity condition."""
    task = ms.make_task([0.5, 0.3, 0.2])
    lr = np.array([np.log(0.6), np.log(0.4), -np.inf])
    beta = 1e-12
    got = ms.sd_target(lr, task.log_base, task, teacher=ms.CopyTeacher(0.5), demos=ms.ConditionedDemos(),
                       objective="jsd", beta=beta, jsd_weight=lam)
    assert np.exp(got).sum() == pytest.approx(1.0, rel=1e-13) and got[2] < -1e9
    # Stationarity (1 − λ)Σ_d D(d)·log(π_y/M_{d,y}) + β·log(π_y/π_ref(y)) = ν: at mode 0 it gives ν;
    # at mode 2 (T = 0, so π/M = 1/(1 − λ)) it reads −(1 − λ)·log(1 − λ) + β·(u − log π_ref(2)) = ν.
    T = ms.CopyTeacher(0.5).matrix(lr)
    D = np.exp(lr)
    p0 = np.exp(got[0])
    nu = (1 - lam) * sum(D[d] * np.log(p0 / (lam * T[d, 0] + (1 - lam) * p0)) for d in range(2)) \
        + beta * (got[0] - task.log_base[0])
    np.testing.assert_allclose(got[2], task.log_base[2] + (nu + (1 - lam) * np.log1p(-lam)) / beta, rtol=1e-12)


@pytest.mark.parametrize("rows", [3, 1000])
def test_the_block_law_of_a_two_point_teacher_equals_its_full_law(solver, monkeypatch, rows):
    """A teacher that states its two points has its law written block by block into reused
    buffers (no full-size law; the copy teacher also hands over the values it forms before
    their logs, so λT/(1 − λ) costs a product, not an exp): the same optimum, to 1e-13, as
    the full law of its demo_law (..., 2, K), with blocks of 3 rows or one block; a law
    filled wrong is caught, and so are values that are not the logs' exponentials."""
    monkeypatch.setattr(jsd_solve, "_JSD_ROWS", rows * 5)
    task = ms.dirichlet_task(5, 1.0, seed=6, batch_shape=(4, 3), valid=[1, 1, 0, 1, 1])
    teacher, lr = ms.CopyTeacher(0.3), task.log_base
    D = ms.ConditionedDemos().distribution(lr, task)
    lam, beta = np.linspace(0.2, 0.9, 4)[:, None], np.array([0.0, 0.04, 2.0])
    law = jsd_solve._jsd_law(teacher, lr, D)
    assert isinstance(law[0], jsd_solve._TwoPointRows)
    blocks = jsd_solve._jsd_solve(*law, lr, beta, lam)
    w, lv = teacher.demo_law(lr, D)
    full = jsd_solve._jsd_solve(np.moveaxis(w, -2, 0), np.moveaxis(lv, -2, 0), lr, beta, lam)
    np.testing.assert_allclose(blocks, full, rtol=1e-13, atol=1e-300)
    # Control: a block law that swaps its two weights gives another optimum.
    fill = jsd_solve._TwoPointRows.fill

    def swapped(self, rs, W, A, L):
        fill(self, rs, W, A, L)
        W[:] = W[::-1].copy()

    monkeypatch.setattr(jsd_solve._TwoPointRows, "fill", swapped)
    broken = jsd_solve._jsd_solve(*jsd_solve._jsd_law(teacher, lr, D), lr, beta, lam)
    assert np.max(np.abs(broken - full)) > 1e-3

    def wrong_values(self, rs, W, A, L):
        fill(self, rs, W, A, L)
        L *= 1.01

    monkeypatch.setattr(jsd_solve._TwoPointRows, "fill", wrong_values)
    broken = jsd_solve._jsd_solve(*jsd_solve._jsd_law(teacher, lr, D), lr, beta, lam)
    assert np.max(np.abs(broken - full)) > 1e-5


# ------------------------------------------------------------ float32 phase, cubic iteration


def _steps(monkeypatch):
    """Record the largest |Halley step| of every iteration (float32 and float64) of a solve."""
    log, halley = [], jsd_solve._halley

    def recording(newton, h):
        step = halley(newton, h)
        log.append((step.dtype, float(np.max(np.abs(step)))))
        return step

    monkeypatch.setattr(jsd_solve, "_halley", recording)
    return log


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(tasks(max_K=4, all_valid=True), alphas(0.05, 0.95), st.floats(0.1, 0.98), betas(0.0, 2.0))
def test_the_float32_phase_only_moves_the_start(numpy_solve, task, alpha, lam, beta):
    """A block that first iterates in float32 (forced on here for every size) ends at the
    40-digit root to 1e-13, as the float64 iteration does: the float32 phase chooses where
    the float64 iterations start, and they decide convergence."""
    teacher = ms.CopyTeacher(alpha)
    with pytest.MonkeyPatch.context() as mp_:
        mp_.setattr(jsd_solve, "_JSD_F32_MIN", 0)
        got = ms.sd_optimum(task, teacher=teacher, objective="jsd", jsd_weight=lam, beta=beta)
    exact = kkt_root(teacher.matrix(task.log_base), task.base, lam, beta, task.log_base, np.log(got))
    np.testing.assert_allclose(got, exact, rtol=1e-13)


def test_the_float32_phase_is_taken_and_alone_is_not_exact(numpy_solve, monkeypatch):
    """At 2,000 rows × K = 16 the solve takes the float32 phase (two float32 iterations, then
    one float64), and agrees with the float64-only solve to a few ulp.  Control: the
    float32 phase's own result is ~1e-6 off, so the float64 step is what makes it exact."""
    task = ms.dirichlet_task(16, 1.0, seed=3, batch_shape=(2000,))
    rule = ms.SelfDistillation(ms.CopyTeacher(0.5), beta=0.04, objective="jsd")
    state = rule.init(task)
    log = _steps(monkeypatch)
    mixed = rule.step(state, task).log_policy
    kinds = [dt for dt, _ in log]
    assert kinds.count(np.dtype(np.float32)) >= 1 and kinds[-1] == np.float64
    monkeypatch.setattr(jsd_solve, "_JSD_F32_MIN", 10**12)
    log.clear()
    f64 = rule.step(state, task).log_policy
    assert all(dt == np.float64 for dt, _ in log)
    np.testing.assert_allclose(mixed, f64, rtol=4e-15, atol=1e-15)

    seen = {}
    f32_phase = jsd_solve._f32_phase

    def keep(u, *args):
        ok = f32_phase(u, *args)
        seen["u"] = u.copy()
        return ok

    monkeypatch.setattr(jsd_solve, "_JSD_F32_MIN", 0)
    monkeypatch.setattr(jsd_solve, "_f32_phase", keep)
    monkeypatch.setattr(jsd_solve, "_JSD_ROWS", 10**9)
    rule.step(state, task)
    start = seen["u"].reshape(f64.shape)
    start -= np.log(np.exp(start).sum(-1, keepdims=True))
    assert 1e-8 < np.max(np.abs(start - f64)) < 1e-4


@pytest.mark.parametrize("log_rho_low", [-60.0, -900.0])
def test_the_float32_phase_hands_back_exponents_beyond_its_range(numpy_solve, monkeypatch, log_rho_low):
    """Probabilities below e^−40 (ratios beyond float32's range) keep the block in float64
    from the start; the optimum is the float64 solve's, bit for bit."""
    K = 8
    lr = np.log(ms.dirichlet_task(K, 1.0, seed=1, batch_shape=(400,)).base)
    lr[:, 0] = log_rho_low
    lr -= np.logaddexp.reduce(lr, axis=-1, keepdims=True)
    task = ms.Task(lr, np.ones(lr.shape, bool))
    kw = dict(teacher=ms.CopyTeacher(0.5), objective="jsd", beta=0.04)
    log = _steps(monkeypatch)
    got = ms.sd_optimum(task, **kw, log=True)
    assert all(dt == np.float64 for dt, _ in log)
    monkeypatch.setattr(jsd_solve, "_JSD_F32_MIN", 10**12)
    np.testing.assert_array_equal(got, ms.sd_optimum(task, **kw, log=True))


@pytest.mark.parametrize("second_order", [True, False])
def test_the_iteration_is_cubic_with_the_second_order_multiplier(numpy_solve, monkeypatch, second_order):
    """theory §8.1: with ν corrected to second order each step is at most C·(previous step)³;
    on these typical inputs C ≤ 1/2 (the solve corrects steps below 1e-4; here from 1/2 on,
    for more steps).
    Control: with the first-order ν the iteration is only quadratic, and the cubic bound
    fails (so the test can tell them apart)."""
    monkeypatch.setattr(jsd_solve, "_JSD_F32_MIN", 10**12)
    monkeypatch.setattr(jsd_solve, "_JSD_STEP_TOL", 1e-13)
    monkeypatch.setattr(jsd_solve, "_JSD_CUBIC_TOL", 1e-13)
    monkeypatch.setattr(jsd_solve, "_JSD_CUBIC_FROM", 0.5)   # corrected from early on: more steps to check
    if not second_order:
        monkeypatch.setattr(jsd_solve, "_second_order_nu", lambda *a: None)
    worst, pairs = 0.0, 0
    for seed, K, lam, beta in [(0, 16, 0.5, 0.04), (1, 16, 0.2, 0.0), (2, 4, 0.9, 1.0), (3, 64, 0.5, 0.3),
                               (4, 1000, 0.5, 0.04), (5, 8, 0.3, 0.001)]:
        task = ms.dirichlet_task(K, 0.7, seed=seed, batch_shape=(50,) if K < 100 else ())
        log = _steps(monkeypatch)
        ms.sd_optimum(task, teacher=ms.CopyTeacher(0.5), objective="jsd", jsd_weight=lam, beta=beta)
        steps = [s for _, s in log]
        for prev, nxt in zip(steps, steps[1:]):
            if prev < 0.1 and nxt > 1e-14:        # in the asymptotic range, above rounding
                worst, pairs = max(worst, nxt / prev ** 3), pairs + 1
    assert pairs >= 4
    assert (worst <= 0.5) == second_order, worst


# ------------------------------------------------------------ review: values beyond float32, u beyond resolution


def _f64_only(monkeypatch, fn):
    with monkeypatch.context() as mp_:
        mp_.setattr(jsd_solve, "_JSD_F32_MIN", 10**12)
        return fn()


@pytest.mark.parametrize("case", ["beta 1e39", "beta 1e300", "one row's beta 1e39", "log pi_ref -1e300, beta 1e-300"])
def test_the_float32_phase_leaves_values_beyond_float32_alone(numpy_solve, monkeypatch, case):
    """β, log π_ref or a start beyond float32's range (|x| > 3.4e38) overflowed in the float32
    phase's casts ("overflow encountered in cast": an error under -W error) although the
    float64 solve handles them; the phase must hand the block back to float64, and the
    optimum is the float64 solve's, bit for bit."""
    task = ms.dirichlet_task(4, 1.0, seed=2, batch_shape=(600,))
    beta = {"beta 1e39": 1e39, "beta 1e300": 1e300, "log pi_ref -1e300, beta 1e-300": 1e-300,
            "one row's beta 1e39": np.where(np.arange(600) == 7, 1e39, 0.1)}[case]
    if case.startswith("log pi_ref"):
        lb = task.log_base.copy()
        lb[3, 1] = -1e300
        task = ms.Task(log_normalise(lb), task.valid)
    kw = dict(teacher=ms.CopyTeacher(0.5), objective="jsd", beta=beta, log=True)
    got = ms.sd_optimum(task, **kw)
    np.testing.assert_array_equal(got, _f64_only(monkeypatch, lambda: ms.sd_optimum(task, **kw)))


@pytest.mark.parametrize("log_ref, rows", [(-1e20, 1), (-1e20, 600), (-1e300, 1), (-1e300, 600)])
def test_a_mode_whose_reference_is_beyond_float_resolution_converges(solver, log_ref, rows):
    """A reference entry log π_ref(y) = −1e20 under β = 0.1: the mode sits at
    u = log π_ref + O(1/β), where a step of a few nats is below ulp(u) ≈ 1.6e4, so u cannot
    move and its step never shrinks (before: 'did not converge', largest last step 3.2).  It
    has converged at float resolution; its probability is 0 and the other modes are the
    optimum without it (the copy teacher's base ρ(y) = 0 too), to 1e-13."""
    task = ms.dirichlet_task(4, 1.0, seed=5, batch_shape=(rows,))
    lb = task.log_base.copy()
    lb[:, 2] = log_ref
    lb = log_normalise(lb)
    kw = dict(teacher=ms.CopyTeacher(0.5), objective="jsd", beta=0.1, jsd_weight=0.5, log=True)
    got = ms.sd_optimum(ms.Task(lb, task.valid), **kw)
    assert np.all(got[:, 2] <= log_ref / 2) and np.all(np.isfinite(got))
    rest = log_normalise(np.delete(lb, 2, axis=-1))
    want = ms.sd_optimum(ms.Task(rest, np.ones(rest.shape, bool)), **kw)
    np.testing.assert_allclose(np.exp(np.delete(got, 2, axis=-1)), np.exp(want), rtol=1e-13)


# A row (matrix teacher, K = 4) found by hill-climbing step_{k+1}/step_k³ over teacher, demonstration
# law, base, β and λ: the mode with the smallest φ' moves most when ν is off, and ν's own
# O(N³) error reaches it scaled by (1/φ'_y)/Σ π/φ', beyond the per-mode Halley constant.
_ADVERSARIAL_T = np.array([[2.305e-01, 6.760e-01, 2.569e-05, 9.345e-02],
                           [7.539e-03, 2.872e-08, 9.925e-01, 1.856e-09],
                           [2.533e-07, 9.989e-01, 9.947e-04, 6.867e-05],
                           [4.565e-09, 5.919e-02, 9.408e-01, 3.960e-05]])
_ADVERSARIAL_D = np.array([0.9983, 7.68e-4, 5.48e-5, 8.67e-4])
_ADVERSARIAL_BASE = np.array([0.9537, 0.002841, 0.003760, 0.03970])


def _adversarial_row():
    T = _ADVERSARIAL_T / _ADVERSARIAL_T.sum(-1, keepdims=True)
    D = _ADVERSARIAL_D / _ADVERSARIAL_D.sum()
    task = ms.Task(log_normalise(np.log(_ADVERSARIAL_BASE)), np.ones(4, bool))
    kw = dict(teacher=ms.MatrixTeacher(T), demos=ms.ExplicitDemos(D), objective="jsd",
              jsd_weight=0.1, beta=0.01628)
    return T, D, task, kw


def test_the_cubic_constant_exceeds_one_half_on_an_adversarial_row(numpy_solve, monkeypatch):
    """Counterexample to an earlier theory §8.1, which claimed step_{k+1} ≤ C·step_k³ with
    C ≤ 1/2: that bounds each mode's own Halley error, but the multiplier's O(step³) error
    reaches a mode divided by φ'_y·Σπ/φ' (found by review, hill-climbing).  On this row the
    steps are 2.7, 0.32, 1.7e-4, 5.3e-12 (far above rounding), so C = 1.11."""
    T, D, task, kw = _adversarial_row()
    monkeypatch.setattr(jsd_solve, "_JSD_F32_MIN", 10**12)
    monkeypatch.setattr(jsd_solve, "_JSD_STEP_TOL", 1e-13)
    monkeypatch.setattr(jsd_solve, "_JSD_CUBIC_TOL", 1e-13)
    monkeypatch.setattr(jsd_solve, "_JSD_CUBIC_FROM", 0.5)
    log = _steps(monkeypatch)
    ms.sd_optimum(task, **kw)
    steps = [s for _, s in log]
    ratios = [nxt / prev ** 3 for prev, nxt in zip(steps, steps[1:]) if prev < 0.1 and nxt > 1e-13]
    assert ratios and 0.5 < max(ratios) < 2.0, ratios


def test_the_stop_rule_holds_on_the_adversarial_row(solver):
    """What the stop rule needs does hold there: the default solve (a cubic step below 5e-6
    ends it) agrees with the 40-digit root to 1e-13."""
    T, D, task, kw = _adversarial_row()
    got = ms.sd_optimum(task, **kw)
    exact = kkt_root(T, D, kw["jsd_weight"], kw["beta"], task.log_base, np.log(got))
    np.testing.assert_allclose(got, exact, rtol=1e-13)


# ------------------------------------------------------------ the compiled kernel (numba, the "fast" extra)


def _recording_kernel(monkeypatch):
    """Wrap the kernel so that the status of every row it was given is recorded."""
    kernel = jsd_solve._kernel()
    seen = []

    def recording(*args):
        left = kernel(*args)
        seen.append(args[8].copy())
        return left

    monkeypatch.setattr(jsd_solve, "_kernel", lambda: recording)
    return seen


def test_the_kernel_solves_ordinary_rows_and_leaves_the_rest(monkeypatch):
    """The kernel solves ordinary rows itself (status 0) and leaves to the numpy solve the rows
    it does not handle (status 1): λ < 0.1 (forward start), a ratio beyond e^650 (log form),
    a reference zero under β > 0 (a mode held at zero).  Every row ends where the numpy solve
    alone puts it.  (Without the recording, a kernel that left every row would pass the
    other tests of this file.)"""
    pytest.importorskip("numba")
    monkeypatch.delenv("MODESIM_NUMBA", raising=False)
    R, K = 8, 6
    lr = np.log(ms.dirichlet_task(K, 0.8, seed=5, batch_shape=(R,)).base)
    lam = np.full((R, 1), 0.5)
    lam[1] = 0.05                                           # forward start
    lr[2, 0] = -1000.0                                      # ratio beyond e^650
    lr[2] -= np.logaddexp.reduce(lr[2])
    ref = lr.copy()
    ref[3, 4] = -np.inf                                     # a mode held at zero (β > 0)
    teacher, beta = ms.CopyTeacher(0.4), 0.3
    seen = _recording_kernel(monkeypatch)
    got = jsd_solve._jsd_solve(*jsd_solve._jsd_law(teacher, lr, np.exp(lr)), ref, beta, lam[:, 0])
    status = np.concatenate(seen)
    np.testing.assert_array_equal(np.flatnonzero(status), [1, 2, 3])
    monkeypatch.setattr(jsd_solve, "_kernel", lambda: None)    # the numpy solve alone
    alone = jsd_solve._jsd_solve(*jsd_solve._jsd_law(teacher, lr, np.exp(lr)), ref, beta, lam[:, 0])
    assert got[3, 4] == alone[3, 4] == -np.inf
    fin = np.isfinite(alone)
    np.testing.assert_allclose(got[fin], alone[fin], rtol=0, atol=2e-14)


def _root_80bit(lr, lam, alpha, beta, demo=None, log_ref=None):
    """The JSD round's optimum for a copy teacher, demonstrations ``demo`` (default
    self-generated: ρ) and the reference ``log_ref`` (default the base), in numpy's long
    double (80-bit on x86: ~1e-19): the stationarity conditions are separable given ν
    (φ_y(u_y) = ν, theory §8.1), so Newton per mode inside Newton on ν for Σ e^u = 1, from
    the reverse-KL start.  Written from the conditions, not from the solves: the check mpmath
    cannot do at K in the thousands."""
    L = np.longdouble
    rho = np.exp(lr.astype(L))
    D = rho if demo is None else np.asarray(demo).astype(L)
    c = L(lam) / (1 - L(lam))
    a, b, om, B = c * (L(alpha) + (1 - L(alpha)) * rho), c * (1 - L(alpha)) * rho, 1 - L(lam), L(beta)
    lref = (lr if log_ref is None else np.asarray(log_ref)).astype(L)

    def phi(u):
        ea, eb = a * np.exp(-u), b * np.exp(-u)
        return (-om * (D * np.log1p(ea) + (1 - D) * np.log1p(eb)) + B * (u - lref),
                om * (D * ea / (1 + ea) + (1 - D) * eb / (1 + eb)) + B)

    eps = float(np.finfo(L).eps)

    def modes(u, nu):
        for _ in range(200):
            f, f1 = phi(u)
            du = (nu - f) / f1
            u = u + du
            if np.max(np.abs(du)) <= 16 * eps * max(1.0, float(np.max(np.abs(u)))):
                return u
        raise AssertionError("the 80-bit root did not converge")

    u = (D * np.log(a / c) + (1 - D) * np.log(b / c) + B * lref) / (1 + B)
    u -= np.log(np.sum(np.exp(u)))
    nu = np.sum(np.exp(u) * phi(u)[0])
    for _ in range(200):
        u = modes(u, nu)
        f, f1 = phi(u)
        dnu = (1 - np.sum(np.exp(u))) / np.sum(np.exp(u) / f1)
        nu = nu + dnu
        if abs(dnu) <= 16 * eps * max(1.0, abs(float(nu))):
            break
    u = modes(u, nu)
    return u - np.log(np.sum(np.exp(u)))


@pytest.mark.skipif(np.finfo(np.longdouble).eps > 1e-18, reason="long double is float64 on this platform")
@settings(max_examples=25, deadline=None)
@given(st.integers(1, 40), st.integers(2, 3000), st.floats(0.1, 0.999), st.floats(0.0, 10.0), alphas(0.01, 0.99),
       st.floats(0.05, 3.0), st.integers(0, 2**32 - 1))
@example(R=1, K=624, lam=0.125, beta=0.0, alpha=0.9375, conc=2.0, seed=0)
def test_both_solves_meet_an_80_bit_root_at_large_k(R, K, lam, beta, alpha, conc, seed):
    """Over random sizes, weights, strengths and copy probabilities the compiled kernel and
    the numpy solve are each within 1e-13 in log space of an 80-bit root of the stationarity
    conditions (:func:`_root_80bit`; sizes mpmath cannot take), the accuracy the 40-digit
    check asks, and within 1e-13 of each other.  Measured over 350 random cases: typically
    6e-15; worst 2.2e-14 for both solves (α = 0.977, λ = 0.22, K = 1536: 25 ulp of u, the
    conditioning of a round whose φ' is small, not a fault of either solve).  The example
    case broke the test's former demand of 2e-14 on the difference (with either kernel:
    each is 1.1e-14 off, 2.0e-14 apart).  Rows the kernel leaves end in the numpy solve here
    too; that the kernel solves ordinary rows itself is checked above."""
    pytest.importorskip("numba")
    R = min(R, max(1, 20_000 // K))
    lr = np.log(ms.dirichlet_task(K, conc, seed=seed, batch_shape=(R,)).base)
    teacher = ms.CopyTeacher(alpha)
    with pytest.MonkeyPatch.context() as mp_:
        mp_.delenv("MODESIM_NUMBA", raising=False)
        got = jsd_solve._jsd_solve(*jsd_solve._jsd_law(teacher, lr, np.exp(lr)), lr, beta, lam)
    with pytest.MonkeyPatch.context() as mp_:
        mp_.setenv("MODESIM_NUMBA", "0")
        alone = jsd_solve._jsd_solve(*jsd_solve._jsd_law(teacher, lr, np.exp(lr)), lr, beta, lam)
    tol = 1e-13 * max(1.0, float(-alone.min()) / 40)
    root = _root_80bit(lr[0], lam, alpha, beta)
    for solve in (got, alone):
        np.testing.assert_allclose(solve[0], root.astype(np.float64), rtol=0, atol=tol)
    np.testing.assert_allclose(got, alone, rtol=0, atol=tol)


@pytest.mark.skipif(np.finfo(np.longdouble).eps > 1e-18, reason="long double is float64 on this platform")
@pytest.mark.parametrize("numba_on", ["1", "0"])
def test_log1p_accuracy_where_phi_prime_is_small(numba_on, monkeypatch):
    """α near 1 and λ = 0.9: T(y|d ≠ y) = (1 − α)ρ makes r tiny, and a mode's φ' reaches
    6e-5.  log(1 + r) taken as a bare log of the rounded 1 + r is ~1e-16 off whatever r, which
    moved such modes by 1.8e-13 here (α = 1 − 1e-6; and 5.6e-13 at α = 1 − 1e-12, β = 1e-8,
    against a 34-digit mpmath root, which the 80-bit reference cannot reach) in both solves
    (found by review; a tighter stop did not help).  Both now put the rounding of u = 1 + r
    back, log(u) + (r − (u − 1))/u, and meet the 80-bit root to 1e-13 (measured 3.6e-15;
    1.1e-14 at the second case).  Fails before."""
    alpha, beta = 1 - 1e-6, 0.0
    if numba_on == "1":
        pytest.importorskip("numba")
    monkeypatch.setenv("MODESIM_NUMBA", numba_on)
    rng = np.random.default_rng(208)
    rng.choice(8), rng.integers(1, 2), rng.integers(4), rng.choice(3)     # the review's draws before the row
    lr = log_normalise(np.log(rng.dirichlet(np.full(3000, 3.0), size=1)))
    got = jsd_solve._jsd_solve(*jsd_solve._jsd_law(ms.CopyTeacher(alpha), lr, np.exp(lr)), lr, beta, 0.9)
    root = _root_80bit(lr[0], 0.9, alpha, beta).astype(np.float64)
    assert np.max(np.abs(got[0] - root)) < 1e-13


@pytest.mark.skipif(np.finfo(np.longdouble).eps > 1e-18, reason="long double is float64 on this platform")
@pytest.mark.parametrize("numba_on", ["1", "0"])
def test_modes_far_below_meet_the_80_bit_root_to_a_few_ulp(numba_on, monkeypatch):
    """Bases down to e^−400, uniform demonstrations, a copy teacher with α ≈ 1e-3, β = 0:
    modes near e^−364 end up to 4 ulp of log π (2.3e-13, ulp 5.7e-14) from the 80-bit root,
    in both solves alike (found by a random comparison of the two solves).  The law's own
    float64 logs account for one ulp; the rest is float64's rounding of ν magnified by
    1/(φ'_y·Σ π/φ') ≈ 300 for those modes (φ' = 7e-4 against a median 0.11; a tighter stop
    does not reduce it).  So the accuracy there is a few ulp of log π, not the 1e-13
    relative of shallower modes (theory §8.1); the bound asked is 6 ulp, and 1e-13 everywhere
    above e^−200."""
    pytest.importorskip("numba") if numba_on == "1" else None
    monkeypatch.setenv("MODESIM_NUMBA", numba_on)
    rng = np.random.default_rng(1519)
    K, lam, alpha = 1000, 0.2996, 0.000958
    lr = log_normalise(-rng.uniform(0.0, 400.0, (3, K)))
    task = ms.Task(lr, np.ones(lr.shape, bool))
    got = ms.sd_target(lr, lr, task, teacher=ms.CopyTeacher(alpha), demos=ms.UniformDemos(), objective="jsd",
                       beta=0.0, jsd_weight=lam)
    for r in range(3):
        root = _root_80bit(lr[r], lam, alpha, 0.0, demo=np.full(K, 1.0 / K)).astype(np.float64)
        err = np.abs(got[r] - root)
        assert np.all(err <= np.maximum(1e-13, 6 * np.spacing(np.abs(root))))
        assert np.all(err[root > -200] <= 1e-13)


@pytest.mark.skipif(np.finfo(np.longdouble).eps > 1e-18, reason="long double is float64 on this platform")
def test_the_80_bit_root_catches_a_wrong_round(monkeypatch):
    """Negative control: the reverse-KL round, and the solve stopped after its first step,
    are far from the 80-bit root of the JSD round; the solve itself is within 1e-14."""
    lr = np.log(ms.dirichlet_task(200, 1.0, seed=3).base)
    root = _root_80bit(lr, 0.5, 0.5, 0.0).astype(np.float64)
    law = lambda: jsd_solve._jsd_law(ms.CopyTeacher(0.5), lr, np.exp(lr))   # noqa: E731 (fresh: the solve reuses it)
    rev = np.log(ms.sd_optimum(ms.Task(lr, np.ones(200, bool)), teacher=ms.CopyTeacher(0.5)))
    assert np.max(np.abs(rev - root)) > 1e-3
    assert np.max(np.abs(jsd_solve._jsd_solve(*law(), lr, 0.0, 0.5) - root)) < 1e-14
    monkeypatch.setenv("MODESIM_NUMBA", "0")
    monkeypatch.setattr(jsd_solve, "_JSD_STEP_TOL", 1.0)     # stop after the first step
    monkeypatch.setattr(jsd_solve, "_JSD_CUBIC_TOL", 1.0)
    monkeypatch.setattr(jsd_solve, "_JSD_F32_MIN", 10**9)     # and without the float32 phase
    assert np.max(np.abs(jsd_solve._jsd_solve(*law(), lr, 0.0, 0.5) - root)) > 1e-10


def test_the_kernel_scratch_is_sized_as_it_reads_it():
    """The solve allocates the kernel's scratch from its own count of arrays."""
    kernel = pytest.importorskip("modesim._jsd_kernel")
    assert jsd_solve._KERNEL_ARRAYS == kernel.ARRAYS


def test_modesim_numba_0_turns_the_kernel_off(monkeypatch):
    """MODESIM_NUMBA=0 (or false, no, off in any case) selects the numpy solve."""
    pytest.importorskip("numba")
    for off in ("0", "false", "No", "OFF", " off "):
        monkeypatch.setenv("MODESIM_NUMBA", off)
        assert jsd_solve._kernel() is None, off
    for on in ("1", "true", "yes"):
        monkeypatch.setenv("MODESIM_NUMBA", on)
        assert jsd_solve._kernel() is not None, on


def _ulp_errors(got: np.ndarray, x: np.ndarray, exact) -> np.ndarray:
    """|got − f(x)| in ulp of the 200-bit value f(x), for each entry."""
    out = np.empty(x.size)
    with mp.workprec(200):
        for i, (g, v) in enumerate(zip(got.tolist(), x.tolist())):
            e = exact(mp.mpf(v))
            out[i] = float(abs(mp.mpf(g) - e) / mp.mpf(np.spacing(abs(float(e)))))
    return out


def _log_arguments(rng, n):
    """Log-uniform over [1, 1e308], uniform over [1, 2] and 1 + 10^U(−16, 0), and below 1
    down to the smallest normal: every range the fdlibm reduction treats apart."""
    return np.concatenate([np.exp(rng.uniform(0.0, 709.0, n)), rng.uniform(1.0, 2.0, n),
                           1.0 + 10.0 ** rng.uniform(-16.0, 0.0, n), np.exp(-rng.uniform(0.0, 708.0, n))])


def _exp_arguments(rng, n):
    """Over [−745.1, 709.7] (the subnormal results from −708.4 down), near 0 and ±10^U(−17, 0)."""
    return np.concatenate([rng.uniform(-745.1, 709.7, n), rng.uniform(-745.1, -708.0, n),
                           rng.uniform(-1.0, 1.0, n), 10.0 ** rng.uniform(-17.0, 0.0, n) * rng.choice([-1, 1], n)])


def test_the_kernels_log_and_exp_are_within_one_ulp():
    """The kernel's vectorised log and exp (fdlibm's algorithms, theory §8.1) against 200-bit
    values: below one ulp on 8,000 random arguments each (measured: 0.80 and 0.90 ulp at
    worst over 10^6 random and ~350k targeted arguments), within an ulp of libm's on 400,000 more (libm is itself within ~0.5), and
    exact at the special values.  Subnormal results of exp are rounded once."""
    kernel = pytest.importorskip("modesim._jsd_kernel")
    rng = np.random.default_rng(20261130)
    for fn, args, exact, ref in [(kernel.log_pass, _log_arguments, mp.log, np.log),
                                 (kernel.exp_pass, _exp_arguments, mp.exp, np.exp)]:
        x = args(rng, 2000)
        got = np.empty_like(x)
        fn(x, got, x.size)
        assert _ulp_errors(got, x, exact).max() < 1.0, fn
        x = args(rng, 100_000)
        got = np.empty_like(x)
        fn(x, got, x.size)
        want = ref(x)
        assert np.all(np.abs(got - want) <= np.spacing(np.abs(want))), fn
        in_place = x.copy()
        fn(in_place, in_place, x.size)
        np.testing.assert_array_equal(in_place, got)
    special = np.array([1.0, 2.0, 0.5, np.inf, np.nan, 2.2250738585072014e-308])
    got = np.empty_like(special)
    kernel.log_pass(special, got, got.size)
    np.testing.assert_array_equal(got, np.log(special))
    special = np.array([0.0, -0.0, -np.inf, np.inf, np.nan, -745.2, -745.13, -708.4, 709.78, 709.79, -1e-300,
                        709.782712893384])       # (the largest argument with a finite exp: was inf)
    got = np.empty_like(special)
    kernel.exp_pass(special, got, got.size)
    with np.errstate(over="ignore"):
        np.testing.assert_array_equal(got, np.exp(special))


def test_vmath_takes_the_kernels_passes_and_numpys_elsewhere(monkeypatch):
    """modesim._vmath (the copy teacher's law on the JSD solve's path): with the kernel in use,
    within an ulp of numpy's exp and log, for contiguous, strided and broadcast arguments and
    arrays of any size (an entry's value may not depend on the size of its array: see
    :func:`test_rows_are_bit_identical_alone_and_in_a_batch`); numpy's own values, bit for
    bit, when the output is not contiguous, for each argument of the log below the smallest
    normal float, and with MODESIM_NUMBA=0."""
    pytest.importorskip("numba")
    from modesim import _vmath

    monkeypatch.delenv("MODESIM_NUMBA", raising=False)
    rng = np.random.default_rng(3)
    for shape in ((256, 16), (1, 16), (3,)):
        x = -rng.exponential(5.0, shape)
        y = 1.0 + rng.exponential(5.0, shape)
        for arg in (x, x.T.copy().T, x[..., :1]):      # C-contiguous, strided (copied first), broadcast
            got = _vmath.exp_into(arg, np.empty(shape))
            want = np.exp(np.broadcast_to(arg, shape))
            assert np.all(np.abs(got - want) <= np.spacing(want))
        for arg in (y, y.T.copy().T, y[..., :1]):
            got = _vmath.log_into(arg, np.empty(shape), float(arg.min()))
            want = np.log(np.broadcast_to(arg, shape))
            assert np.all(np.abs(got - want) <= np.spacing(want))
    y = 1.0 + rng.exponential(5.0, (256, 16))
    got = _vmath.log_into(y, np.empty(y.shape), float(y.min()))
    assert np.any(got != np.log(y))              # (the kernel's passes did run)
    row = y[0].copy()                            # a contiguous row broadcast (it was read out of bounds)
    np.testing.assert_array_equal(_vmath.log_into(row, np.empty(y.shape), float(row.min())),
                                  np.broadcast_to(_vmath.log_into(row, np.empty(16), float(row.min())), y.shape))
    strided = np.empty(y.shape[::-1]).T
    np.testing.assert_array_equal(_vmath.exp_into(-y, strided), np.exp(-y))
    tiny = y.copy()
    tiny[0, :3] = 1e-310, 5e-324, 2.2250738585072014e-308
    got = _vmath.log_into(tiny, np.empty(y.shape), float(tiny.min()))
    np.testing.assert_array_equal(got[0, :2], np.log(tiny[0, :2]))               # numpy's, entry by entry
    np.testing.assert_array_equal(got[1:], _vmath.log_into(y[1:], np.empty(y[1:].shape), float(y[1:].min())))
    in_place = tiny.copy()
    np.testing.assert_array_equal(_vmath.log_into(in_place, in_place, float(tiny.min())), got)
    monkeypatch.setenv("MODESIM_NUMBA", "0")
    np.testing.assert_array_equal(_vmath.exp_into(-y, np.empty(y.shape)), np.exp(-y))
    np.testing.assert_array_equal(_vmath.log_into(y, np.empty(y.shape), float(y.min())), np.log(y))


@pytest.mark.parametrize("alpha, deep", [(0.5, -740.0), (0.0, -740.0), (0.0, -800.0)])
def test_rows_are_bit_identical_alone_and_in_a_batch(alpha, deep, monkeypatch):
    """A row's JSD round (compiled kernel, copy teacher: its law through modesim._vmath) has
    the same bits alone and in a batch of 300 rows, also when another row of the batch has
    a law value below the smallest normal float (α = 0, a mode at e^-740) or zero (e^-800).
    Before: arrays below 4,096 entries took numpy's exp and log, larger ones the kernel's
    passes, and a block's subnormal (later: its zero) sent every row to numpy's log: rows
    differed by up to 2 ulp."""
    pytest.importorskip("numba")
    monkeypatch.delenv("MODESIM_NUMBA", raising=False)
    rng = np.random.default_rng(1)
    lr = np.log(rng.dirichlet(np.ones(16), size=300))
    lr[7, 3] = deep
    lr = log_normalise(lr)
    teacher = ms.CopyTeacher(alpha)

    def solve(rows):
        return jsd_solve._jsd_solve(*jsd_solve._jsd_law(teacher, rows, np.exp(rows)), rows, 0.04, 0.5)

    batched = solve(lr)
    for i in range(0, 300, 3):
        np.testing.assert_array_equal(solve(lr[i:i + 1])[0], batched[i], err_msg=f"row {i}")


#: A coefficient of each polynomial 1 % off, and arguments where it shows.
COEFFICIENT_FAULTS = {
    "log": ("1.479819860511658591e-01)", "1.479819860511658591e-01 * 1.01)", "log_pass", (1.2, 1.6), mp.log),
    "exp": ("4.13813679705723846039e-08)", "4.13813679705723846039e-08 * 1.01)", "exp_pass", (-0.35, 0.35), mp.exp),
}


@pytest.mark.parametrize("fault", sorted(COEFFICIENT_FAULTS))
def test_the_ulp_check_catches_a_wrong_coefficient(fault, tmp_path):
    """Negative control: the last coefficient of the log's or the exp's polynomial 1 % off,
    compiled into a copy of the kernel module, puts arguments more than an ulp from their
    200-bit values."""
    kernel = pytest.importorskip("modesim._jsd_kernel")
    import importlib.util

    old, new, name, (lo, hi), exact = COEFFICIENT_FAULTS[fault]
    source = Path(kernel.__file__).read_text()
    assert source.count(old) == 1
    path = tmp_path / f"kernel_coefficient_{fault}.py"
    path.write_text(source.replace(old, new).replace("cache=True", "cache=False"))
    spec = importlib.util.spec_from_file_location(path.stem, path)
    copy = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(copy)
    x = np.random.default_rng(7).uniform(lo, hi, 300)
    got = np.empty_like(x)
    getattr(copy, name)(x, got, x.size)
    assert _ulp_errors(got, x, exact).max() > 1.0


#: Deliberate faults in the kernel's source: the increments of the logs, the Taylor step of
#: π·e^δ, the blocked sums, the second-order multiplier, the vectorised log and exp ("none":
#: the kernel as it is).
KERNEL_FAULTS = {
    "none": ("", ""),
    "none, loose stop": ("", ""),
    "log increment": ("Oj[y] += x * (1.0 - x * (0.5 - x", "Oj[y] += x * (1.0 - x * (0.4 - x"),
    "expm1 of a move": ("e = d * (1.0 + d * 0.5 *", "e = d * (1.0 + d * 0.6 *"),
    "exp step": ("em1 = st * (1.0 + st * 0.5 *", "em1 = st * (1.0 + st * 0.6 *"),
    "blocked sum": ("(a[i + 2] + a[i + 3])", "(a[i + 2] + a[i + 2])"),
    "long log increment": ("Oj[y] += x * (1.0 - x * (1.0 / 2.0 - x * (1.0 / 3.0",
                           "Oj[y] += x * (1.0 - x * (1.0 / 2.0 - x * (1.0 / 4.0"),
    "long expm1 of a move": ("S[y] = d * (1.0 + d * (1.0 / 2.0) * (1.0 + d * (1.0 / 3.0)",
                             "S[y] = d * (1.0 + d * (1.0 / 2.0) * (1.0 + d * (1.0 / 4.0)"),
    "long exp step": ("em1 = st * (1.0 + st * (1.0 / 2.0) * (1.0 + st * (1.0 / 3.0)",
                      "em1 = st * (1.0 + st * (1.0 / 2.0) * (1.0 + st * (1.0 / 4.0)"),
    "second-order nu, loose stop": ("S[y] = p[y] * ((0.5 * n * n) - hh[y] * (n * n))", "S[y] = 0.0 * p[y]"),
    "log pass": ("v1 = dk * _LN2_HI - ((hfsq - (s * (hfsq + R) + dk * _LN2_LO)) - f)",
                 "v1 = dk * _LN2_HI - ((hfsq - (s * (hfsq + R) + dk * 0.0)) - f)"),
    "exp pass": ("a[i] = 1.0 - ((lo - (r * c) / (2.0 - c)) - hi)", "a[i] = 1.0 - ((lo - (r * c) / 2.0) - hi)"),
}


@pytest.mark.parametrize("fault", sorted(KERNEL_FAULTS))
def test_the_40_digit_check_catches_a_broken_kernel(fault, monkeypatch, tmp_path):
    """Negative control for the compiled kernel: each fault above, compiled into a copy of
    the kernel, moves some optimum by more than 1e-13 from the 40-digit root (the check the
    kernel passes in ``test_optimum_to_1e13_against_a_40_digit_root``); the copy without a
    fault meets it.  Rows of 8, 16 and 20 modes (whole blocks for the blocked sum), over a
    few (λ, β, α).  With a "loose stop" the solve stops after a corrected step below 3e-3
    (the correction applied from 0.5 on): the cubic iteration then still ends within 1e-13
    (error ~C·s³), a quadratic one (no second-order ν) does not (~C·s²), which the usual
    stop at 5e-6 would hide on these rows."""
    pytest.importorskip("numba")
    import importlib.util

    import modesim._jsd_kernel as kernel

    source = Path(kernel.__file__).read_text()
    old, new = KERNEL_FAULTS[fault]
    if old:
        assert source.count(old) == 1
        source = source.replace(old, new)
    path = tmp_path / f"kernel_{fault.replace(' ', '_').replace('-', '_')}.py"
    path.write_text(source.replace("cache=True", "cache=False"))
    spec = importlib.util.spec_from_file_location(path.stem, path)
    copy = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(copy)
    monkeypatch.delenv("MODESIM_NUMBA", raising=False)
    monkeypatch.setattr(jsd_solve, "_kernel", lambda: copy.solve_rows)
    if fault.endswith("loose stop"):
        monkeypatch.setattr(jsd_solve, "_JSD_CUBIC_FROM", 0.5)
        monkeypatch.setattr(jsd_solve, "_JSD_CUBIC_TOL", 3e-3)
    worst = 0.0
    for K, seed, lam, beta, alpha in [(8, 0, 0.5, 0.04, 0.5), (20, 1, 0.3, 0.0, 0.3), (8, 2, 0.9, 1.0, 0.7),
                                      (16, 3, 0.5, 0.04, 0.5)]:
        task = ms.dirichlet_task(K, 0.7, seed=seed)
        teacher = ms.CopyTeacher(alpha)
        got = ms.sd_optimum(task, teacher=teacher, objective="jsd", jsd_weight=lam, beta=beta)
        exact = kkt_root(teacher.matrix(task.log_base), task.base, lam, beta, task.log_base, np.log(got))
        worst = max(worst, float(np.max(np.abs(got / exact - 1))))
    assert (worst > 1e-13) == (not fault.startswith("none")), worst


def test_without_numba_the_numpy_solve_runs(monkeypatch):
    """Without numba installed (simulated: the import fails) the kernel is None and the round
    is the numpy solve's, with no error or warning; ``_KERNEL_ERROR`` stays None (a missing
    extra is not a fault).  A kernel that fails to load for another reason is recorded."""
    import sys
    import types

    task = ms.dirichlet_task(6, 1.0, seed=4, batch_shape=(3,))
    kw = dict(teacher=ms.CopyTeacher(0.5), objective="jsd", beta=0.04, log=True)
    monkeypatch.setenv("MODESIM_NUMBA", "0")
    expected = ms.sd_optimum(task, **kw)
    monkeypatch.delenv("MODESIM_NUMBA")
    jsd_solve._kernel_from_numba.cache_clear()
    try:
        monkeypatch.setitem(sys.modules, "numba", None)          # `import numba` now fails
        monkeypatch.delitem(sys.modules, "modesim._jsd_kernel", raising=False)
        assert jsd_solve._kernel() is None and jsd_solve._KERNEL_ERROR is None
        np.testing.assert_array_equal(ms.sd_optimum(task, **kw), expected)
        jsd_solve._kernel_from_numba.cache_clear()
        monkeypatch.setitem(sys.modules, "numba", types.ModuleType("numba"))   # a numba that cannot work
        monkeypatch.setattr(jsd_solve, "_KERNEL_ERROR", None)
        assert jsd_solve._kernel() is None and isinstance(jsd_solve._KERNEL_ERROR, AttributeError)
        np.testing.assert_array_equal(ms.sd_optimum(task, **kw), expected)
    finally:
        monkeypatch.undo()
        jsd_solve._kernel_from_numba.cache_clear()


def test_a_mode_climbing_from_far_below_ends_normalised(monkeypatch):
    """A mode that climbs ~600 nats (base e^−613.6, a copy teacher with α = 0.0177) was
    rounded to ulp(u) ≈ 1e-13 on the way while the kernel's π was updated by e^δ exactly:
    the result, u − log Σπ, was then off by 9.6e-14 everywhere (Σπ − 1 = −9.6e-14; the numpy
    solve: 0).  Found by an adversarial review; π is now taken from u after a large step."""
    pytest.importorskip("numba")
    monkeypatch.delenv("MODESIM_NUMBA", raising=False)
    seen = _recording_kernel(monkeypatch)
    lr = np.array([-613.6374963737176, -613.6374963737176, -1.54574678788436, -0.23972099088369253])
    lref = np.array([-0.3465728761904073, -1.519442731930121, -2.9770131941253304, -3.767310605554131])
    teacher, beta, lam = ms.CopyTeacher(0.017658793507309645), 0.004853789875013626, 0.99999999
    task = ms.Task(lr, np.ones(4, bool))
    out = ms.sd_target(lr, lref, task, teacher=teacher, demos=ms.ConditionedDemos(), objective="jsd",
                       beta=beta, jsd_weight=lam)
    assert not np.concatenate(seen).any()                  # the kernel solved it
    assert abs(math.fsum(np.exp(out)) - 1) < 4e-16
    exact = kkt_root(teacher.matrix(lr), np.exp(lr), lam, beta, lref, out)
    np.testing.assert_allclose(out, np.log(exact), rtol=0, atol=2e-15)


@pytest.mark.skipif(np.finfo(np.longdouble).eps > 1e-18, reason="long double is float64 on this platform")
def test_a_start_near_the_root_keeps_pi_as_u_is_stored(monkeypatch):
    """Modes near e^−600 whose first step is below 0.1 (π then follows u by Taylor steps
    and is never recomputed from u): the start's π was e^(u − max)/Σ while u was rounded
    again by the shift, ulp(u) ≈ 1.1e-13 apart, and the kernel ended 2 ulp (2.3e-13) off
    the 80-bit root where the numpy solve is 1 ulp off.  Found by an adversarial review
    (1 row in ~300 random rows with such modes)."""
    pytest.importorskip("numba")
    monkeypatch.delenv("MODESIM_NUMBA", raising=False)
    seen = _recording_kernel(monkeypatch)
    lr = np.array([-2.2723803854011213, -2.2558739398157996, -2.271933195529912, -602.5308532859694,
                   -438.00390023231233, -1.7542512712570564, -1.9516340076845689, -601.1720703155491,
                   -2.2813435370802724, -609.6948640402356, -2.837949230007378, -2.523021561980803,
                   -417.4762872895044, -433.7237040396869, -498.7244958477055, -2.0170228366952925])
    lam, beta, alpha = 0.1795879460053304, 0.0, 0.015857806731993662
    out = ms.sd_target(lr, lr, ms.Task(lr, np.ones(16, bool)), teacher=ms.CopyTeacher(alpha),
                       demos=ms.ConditionedDemos(), objective="jsd", beta=beta, jsd_weight=lam)
    assert not np.concatenate(seen).any()                  # the kernel solved it
    root = _root_80bit(lr, lam, alpha, beta).astype(np.float64)
    assert np.max(np.abs(out - root)) < 1.2e-13              # one ulp at |u| in [512, 1024) (was two)


@pytest.mark.parametrize("rows, K, J, taken", [(1, 2, 2, True), (512, 4, 2, True), (513, 4, 2, False),
                                               (2048, 15, 2, False), (2048, 16, 2, True), (1, 100_000, 2, True),
                                               (1000, 32, 2, True), (1, 1000, 1000, True),
                                               (1, 1100, 1100, False)])
def test_which_blocks_the_kernel_takes(rows, K, J, taken):
    """Small blocks, and blocks of wide rows, go to the kernel; large blocks of short rows
    stay with the numpy solve (faster there), and so do laws too large for its scratch."""
    assert jsd_solve._kernel_takes(rows, K, J) == taken


def test_large_blocks_of_short_rows_take_the_numpy_solve(monkeypatch):
    """A block of 600 rows of K = 4 never reaches the kernel; 500 rows do, and agree."""
    pytest.importorskip("numba")
    monkeypatch.delenv("MODESIM_NUMBA", raising=False)
    seen = _recording_kernel(monkeypatch)
    for R, reached in ((600, False), (500, True)):
        seen.clear()
        task = ms.dirichlet_task(4, 1.0, seed=R, batch_shape=(R,))
        got = ms.sd_optimum(task, teacher=ms.CopyTeacher(0.5), objective="jsd", beta=0.04, log=True)
        assert bool(seen) == reached
        with monkeypatch.context() as mp_:
            mp_.setattr(jsd_solve, "_kernel", lambda: None)
            alone = ms.sd_optimum(task, teacher=ms.CopyTeacher(0.5), objective="jsd", beta=0.04, log=True)
        np.testing.assert_allclose(got, alone, rtol=0, atol=2e-14)


# ------------------------------------------------ the work memory kept between rounds


def _work_memory_cases():
    """Rounds that reach every path of the solve: the float32 phase (large blocks of short
    rows), the kernel (small blocks), a K-point law, the forward start (λ < 0.1), modes held
    at zero by a reference zero, and exponents beyond ±650 (the log form)."""
    big = ms.dirichlet_task(16, 5.0, seed=11, batch_shape=(3000,))
    small = ms.dirichlet_task(16, 0.5, seed=12, batch_shape=(64,))
    tilt = ms.dirichlet_task(30, 1.0, seed=13, batch_shape=(40,))
    deep = ms.Task(log_normalise(-np.arange(2000) * 1.0), np.ones(2000, bool))
    ref0 = small.log_base.copy()
    ref0[:, 3] = -np.inf
    copy, demos = ms.CopyTeacher(0.5), ms.ConditionedDemos()
    return [
        (big, big.log_base, dict(teacher=copy, beta=0.04)),
        (small, small.log_base, dict(teacher=copy, beta=0.0)),
        (tilt, tilt.log_base, dict(teacher=ms.TiltTeacher(0.7), beta=0.3)),
        (small, small.log_base, dict(teacher=copy, beta=0.04, jsd_weight=0.05)),
        (small, log_normalise(ref0), dict(teacher=copy, beta=0.5)),
        (deep, deep.log_base, dict(teacher=copy, beta=0.01)),
    ], demos


def _round(task, ref, kw, demos):
    return ms.sd_target(task.log_base, ref, task, demos=demos, objective="jsd", **kw)


def test_the_work_memory_kept_between_rounds_never_reaches_a_result(solver):
    """Work memory kept from an earlier round gives the same round, bit for bit, whether it
    holds zeros or NaN: every work array is written before it is read.  (Shown to fail
    when the kernel's start is not zeroed before the law's terms are added to it.  The
    float32 phase's copy of the start left unwritten is not seen: from zeros the phase
    still converges, from NaN it is skipped, and the float64 iteration ends on the same
    bits; a stale start moves only where the iteration starts.)"""
    cases, demos = _work_memory_cases()
    store = jsd_solve._WORK_MEMORY.__dict__
    n = jsd_solve._WORK_MEMORY_KEPT
    for case in cases:
        got = []
        for fill in (0.0, np.nan):
            store["d"], store["f"] = np.full(n, fill), np.full(n, fill, dtype=np.float32)
            got.append(_round(*case, demos))
        np.testing.assert_array_equal(got[1], got[0])


def test_the_work_memory_is_reused_and_bounded(monkeypatch):
    """The second round of a size takes the first one's memory (no fresh pages); memory above
    the bound is freed after the round, and a solve started inside another gets its own."""
    task = ms.dirichlet_task(16, 1.0, seed=14, batch_shape=(3000,))
    store = jsd_solve._WORK_MEMORY.__dict__
    store.clear()
    _round(task, task.log_base, dict(teacher=ms.CopyTeacher(0.5), beta=0.04), ms.ConditionedDemos())
    kept, kept32 = store["d"], store["f"]
    _round(task, task.log_base, dict(teacher=ms.CopyTeacher(0.5), beta=0.04), ms.ConditionedDemos())
    assert store["d"] is kept and store["f"] is kept32
    with jsd_solve._work_memory(100, 10) as (a, a32), jsd_solve._work_memory(100, 10) as (b, b32):
        assert not np.shares_memory(a, b) and not np.shares_memory(a32, b32)
    monkeypatch.setattr(jsd_solve, "_WORK_MEMORY_KEPT", 50)
    store.clear()
    with jsd_solve._work_memory(100, 10):
        pass
    assert "d" not in store and store["f"].size == 10
    with jsd_solve._work_memory(40, 0):
        pass
    small = store["d"]
    with jsd_solve._work_memory(100, 0):       # beyond the bound: the small one stays kept
        pass
    assert store["d"] is small


def test_rounds_in_threads_equal_the_serial_rounds(solver):
    """Each thread keeps its own work memory: rounds solved concurrently in four threads give,
    bit for bit, the serial results."""
    from concurrent.futures import ThreadPoolExecutor

    cases, demos = _work_memory_cases()
    serial = [_round(*case, demos) for case in cases]
    with ThreadPoolExecutor(4) as pool:
        for _ in range(3):
            got = list(pool.map(lambda case: _round(*case, demos), cases))
            for g, want in zip(got, serial):
                np.testing.assert_array_equal(g, want)


@pytest.mark.parametrize("K, depth, alpha, beta, lam", [(10, 104, 1e-9, 1e-4, 0.3), (10, 104, 1e-9, 5e-8, 0.3),
                                                     (20, 400, 1e-12, 5e-8, 0.3)])
def test_a_mode_in_the_beta_regime_above_its_root_converges(solver, K, depth, alpha, beta, lam):
    """A mode whose φ is dominated by a small β term above its root (φ ≈ β(u − log π_ref) > 0 >
    ν: neither a Halley nor a log-Newton step is sound there) overshot by ~800 nats, came back
    past its start and cycled until the solve gave up (RuntimeError; found by review, older
    than the kernel; 31 of 240 such configurations).  The trust region given to modes whose
    steps change sign after 8 iterations ends the first case; under β = 5e-8 steps of 10^6
    nats move ν with them, and the rows still unsettled after the iterations are solved by
    the bracketed fallback (:func:`_bracketed_row`).  The result meets the stationarity
    conditions, written from the teacher matrix (every φ_y equal, Σπ = 1), and the modes'
    independent 1-D roots."""
    from scipy.optimize import brentq

    lr = log_normalise(-np.linspace(0, depth, K))
    task = ms.Task(lr, np.ones(K, bool))
    teacher, demos = ms.CopyTeacher(alpha), ms.UniformDemos()
    out = ms.sd_target(lr, lr, task, teacher=teacher, demos=demos, objective="jsd", beta=beta, jsd_weight=lam)
    T, D, pi = teacher.matrix(lr), demos.distribution(lr, task), np.exp(out)
    assert abs(pi.sum() - 1.0) < 1e-15
    with np.errstate(divide="ignore"):
        logT = np.log(T)

    def phi_y(u, y):
        return (1 - lam) * np.sum(D * (u - np.logaddexp(np.log(lam) + logT[:, y], np.log(1 - lam) + u))) + beta * (u - lr[y])

    phi = np.array([phi_y(out[y], y) for y in range(K)])
    assert np.ptp(phi) < 1e-14
    nu = float(np.mean(phi))
    roots = [brentq(lambda u, y=y: phi_y(u, y) - nu, -2000.0, 1.0, xtol=1e-15) for y in range(K)]
    np.testing.assert_allclose(out, roots, rtol=0, atol=1e-11)


@pytest.mark.parametrize("beta", [0.0, 0.04, 3.0])
def test_the_bracketed_fallback_meets_the_iteration_on_ordinary_rows(beta):
    """The fallback for rows the iteration does not settle (:func:`jsd_solve._bracketed_row`),
    run on ordinary rows from a poor start (zeros), gives the iteration's optimum to 1e-13:
    it is exact, not a rescue of lower accuracy.  Forced: a block whose iteration is cut to
    one step (every row unsettled) ends in the fallback and gives the same result."""
    lr = np.log(ms.dirichlet_task(12, 1.0, seed=9, batch_shape=(5,)).base)
    teacher = ms.CopyTeacher(0.4)
    with pytest.MonkeyPatch.context() as mp_:
        mp_.setenv("MODESIM_NUMBA", "0")
        exact = jsd_solve._jsd_solve(*jsd_solve._jsd_law(teacher, lr, np.exp(lr)), lr, beta, 0.5)
        mp_.setattr(jsd_solve, "_JSD_MAX_ITER", 1)
        mp_.setattr(jsd_solve, "_JSD_F32_MIN", 10**9)
        calls = []
        fallback = jsd_solve._bracketed_row
        mp_.setattr(jsd_solve, "_bracketed_row", lambda *a: calls.append(1) or fallback(*a))
        rescued = jsd_solve._jsd_solve(*jsd_solve._jsd_law(teacher, lr, np.exp(lr)), lr, beta, 0.5)
    assert len(calls) == 5                                  # every row went through the fallback
    np.testing.assert_allclose(rescued, exact, rtol=0, atol=1e-13)
    w, lv = jsd_solve._jsd_law(teacher, lr[:1], np.exp(lr[:1]))
    W, A, L = (np.empty((2, 1, 12)) for _ in range(3))
    w.fill(slice(0, 1), W, A, L)
    row = jsd_solve._bracketed_row(A[:, 0] + np.log(0.5 / 0.5), 0.5 * W[:, 0], beta, lr[0], None, np.zeros(12))
    np.testing.assert_allclose(row, exact[0], rtol=0, atol=1e-13)
