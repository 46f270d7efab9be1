"""Teachers and demonstration sources (theory §3.3) against brute force."""

import itertools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import modesim as ms
from modesim.testing import alphas, kappas, policies, tasks


def LOG(x):
    with np.errstate(divide="ignore"):
        return np.log(np.asarray(x, dtype=float))


def brute_expectations(T, demo):
    """E_d log T(y|d) and log E_d T(y|d) by summing over demonstrations."""
    with np.errstate(divide="ignore"):
        logT = np.log(T)
    exp_log = sum(demo[d] * logT[d] for d in range(len(demo)) if demo[d] > 0)
    return exp_log, np.log(demo @ T)


@given(policies(), policies(), alphas())
def test_copy_teacher_O_K_formulas_equal_brute_force(rho, demo, alpha):
    if demo.size != rho.size:
        demo = np.resize(demo, rho.size) / np.resize(demo, rho.size).sum()
    teacher = ms.CopyTeacher(alpha)
    T = teacher.matrix(np.log(rho))
    np.testing.assert_allclose(T.sum(-1), 1.0)
    el, lm = brute_expectations(T, demo)
    np.testing.assert_allclose(teacher.expected_log(np.log(rho), demo), el, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(teacher.log_mixture(np.log(rho), np.log(demo)), lm, rtol=1e-12, atol=1e-12)


@given(policies(K=4), policies(K=4), kappas())
def test_identity_tilt_teacher_O_K_formulas_equal_brute_force(rho, demo, kappa):
    teacher = ms.TiltTeacher(kappa)
    T = teacher.matrix(np.log(rho))
    el, lm = brute_expectations(T, demo)
    np.testing.assert_allclose(teacher.expected_log(np.log(rho), demo), el, rtol=1e-11, atol=1e-11)
    np.testing.assert_allclose(teacher.log_mixture(np.log(rho), np.log(demo)), lm, rtol=1e-11, atol=1e-11)


def test_tilt_teacher_with_similarity_matrix():
    rng = np.random.default_rng(0)
    S = rng.random((4, 4))
    rho = rng.dirichlet(np.ones(4))
    demo = rng.dirichlet(np.ones(4))
    teacher = ms.TiltTeacher(1.5, similarity=S)
    T = rho * np.exp(1.5 * S)
    T /= T.sum(-1, keepdims=True)
    np.testing.assert_allclose(teacher.matrix(np.log(rho)), T)
    el, lm = brute_expectations(T, demo)
    np.testing.assert_allclose(teacher.expected_log(np.log(rho), demo), el, rtol=1e-12)
    np.testing.assert_allclose(teacher.log_mixture(np.log(rho), np.log(demo)), lm, rtol=1e-12)


@given(policies(K=3), policies(K=3), alphas(), st.integers(1, 4))
def test_multi_demo_teacher_equals_enumeration_of_demo_tuples(rho, demo, alpha, m):
    """E over (d_1..d_m) i.i.d. of log((1 − α)ρ(y) + (α/m)#{j: d_j = y})."""
    K = 3
    expect = np.zeros(K)
    for ds in itertools.product(range(K), repeat=m):
        w = np.prod(demo[list(ds)])
        counts = np.bincount(ds, minlength=K)
        expect += w * np.log((1 - alpha) * rho + alpha * counts / m)
    got = ms.MultiDemoTeacher(alpha, m).expected_log(np.log(rho), demo)
    np.testing.assert_allclose(got, expect, rtol=1e-10, atol=1e-12)
    if m == 1:
        np.testing.assert_allclose(got, ms.CopyTeacher(alpha).expected_log(np.log(rho), demo))


@given(policies(K=4), policies(K=4))
def test_matrix_teacher_one_product_equals_brute_force(t_rows, demo):
    rng = np.random.default_rng(int(t_rows[0] * 1e6))
    T = rng.dirichlet(np.ones(4), size=4)
    T[0, 1] = 0.0
    T[0] /= T[0].sum()
    teacher = ms.MatrixTeacher(T)
    el, lm = brute_expectations(T, demo)
    np.testing.assert_allclose(teacher.expected_log(np.zeros(4), demo), el, rtol=1e-12)
    np.testing.assert_allclose(teacher.log_mixture(np.zeros(4), np.log(demo)), lm, rtol=1e-12)
    assert np.isneginf(teacher.expected_log(np.zeros(4), demo)[1])


def test_matrix_teacher_zero_entry_with_unused_demo_is_harmless():
    T = np.array([[1.0, 0.0], [0.5, 0.5]])
    out = ms.MatrixTeacher(T).expected_log(np.zeros(2), np.array([0.0, 1.0]))
    np.testing.assert_allclose(out, np.log([0.5, 0.5]))


def test_callable_teacher_is_evaluated_on_the_teacher_base():
    teacher = ms.MatrixTeacher(lambda log_rho: ms.CopyTeacher(0.3).matrix(log_rho))
    rho, demo = np.log([0.5, 0.3, 0.2]), np.array([0.2, 0.3, 0.5])
    np.testing.assert_allclose(
        teacher.expected_log(rho, demo), ms.CopyTeacher(0.3).expected_log(rho, demo), atol=1e-12
    )


def test_copy_teacher_is_exact_for_zero_and_underflowing_probabilities():
    teacher = ms.CopyTeacher(0.5)
    log_rho = np.array([0.0, -np.inf, -800.0])  # ρ = (1, 0, e^-800): no NaN, no overflow
    out = teacher.expected_log(log_rho, np.array([0.5, 0.0, 0.5]))
    assert not np.any(np.isnan(out))
    assert np.isneginf(out[1])
    # mode 2: 0.5·log(0.5 e^-800) + 0.5·log(0.5 e^-800 + 0.5) ≈ 0.5·(log 0.5 − 800) + 0.5·log 0.5
    assert out[2] == pytest.approx(np.log(0.5) - 400.0, rel=1e-12)
    fixed = teacher.expected_log(np.array([0.0, -np.inf]), np.array([0.0, 1.0]))
    assert fixed[1] == pytest.approx(np.log(0.5))


@given(tasks(min_valid=1))
def test_demonstration_sources_are_distributions_on_the_valid_set(task):
    lr = task.log_base
    for demos in (ms.ConditionedDemos(), ms.UniformDemos(), ms.ExplicitDemos(ms.conditional(task.base, task.valid))):
        D = demos.distribution(lr, task)
        np.testing.assert_allclose(np.exp(demos.log_distribution(lr, task)), D, rtol=1e-12)
        assert D.sum() == pytest.approx(1.0)
        assert np.all(D[~task.valid] == 0)
    np.testing.assert_allclose(
        ms.ConditionedDemos().distribution(lr, task), ms.conditional(task.base, task.valid)
    )
    mode = int(np.flatnonzero(task.valid)[0])
    D = ms.FixedDemo(mode).distribution(lr, task)
    assert D[mode] == 1.0 and D.sum() == 1.0


def test_demonstration_source_errors():
    task = ms.make_task([0.5, 0.3, 0.2], [1, 1, 0])
    with pytest.raises(ValueError, match="must be valid in every prompt"):
        ms.FixedDemo(2).distribution(task.log_base, task)
    with pytest.raises(ValueError, match="mode must be < K"):
        ms.FixedDemo(5).distribution(task.log_base, task)
    with pytest.raises(ValueError, match="invalid modes"):
        ms.ExplicitDemos([0.5, 0.0, 0.5]).check(task)
    with pytest.raises(ValueError, match="invalid modes"):  # checked once, when a run starts
        ms.sd_optimum(task, demos=ms.ExplicitDemos([0.5, 0.0, 0.5]))
    with pytest.raises(ValueError, match="zero probability on the valid set"):
        ms.ConditionedDemos().distribution(LOG([0.0, 0.0, 1.0]), task)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: ms.CopyTeacher(1.0), r"alpha must be in \[0, 1\); got 1.0"),
        (lambda: ms.CopyTeacher(-0.1), "alpha"),
        (lambda: ms.TiltTeacher(np.inf), "kappa must be"),
        (lambda: ms.TiltTeacher(1.0, similarity=np.ones((2, 3))), "similarity must be"),
        (lambda: ms.MultiDemoTeacher(0.5, 0), "m must be an integer >= 1"),
        (lambda: ms.MatrixTeacher(np.ones((2, 2))), "sum to 1"),
        (lambda: ms.MatrixTeacher(np.ones(3) / 3), "shape"),
        (lambda: ms.FixedDemo(-1), "mode must be"),
        (lambda: ms.ExplicitDemos([0.5, 0.6]), "sum to 1"),
    ],
)
def test_bad_teacher_parameters(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def _matrix_reference(teacher_matrix_log, demo):
    """E_d log T and log E_d T from a log-space matrix (the slow, safe path)."""
    from scipy.special import logsumexp

    finite = np.where(np.isneginf(teacher_matrix_log), 0.0, teacher_matrix_log)
    el = (demo[:, None] * finite).sum(0)
    el = np.where(((demo[:, None] > 0) & np.isneginf(teacher_matrix_log)).any(0), -np.inf, el)
    return el, logsumexp(teacher_matrix_log + LOG(demo)[:, None], axis=0)


@pytest.mark.parametrize(
    "log_rho, demo, kappa",
    [
        (np.array([-1e-17, np.log(1e-17)]), np.array([1.0, 0.0]), -100.0),
        (np.array([-1e-17, np.log(1e-17)]), np.array([0.5, 0.5]), -40.0),
        (np.log([0.6, 0.3, 0.1]), np.array([0.2, 0.3, 0.5]), 710.0),
        (np.array([0.0, -800.0, -900.0]) - np.log1p(np.exp(-800.0)), np.array([0.2, 0.3, 0.5]), 3.0),
    ],
)
def test_identity_tilt_fast_path_is_stable_at_extremes(log_rho, demo, kappa):
    fast = ms.TiltTeacher(kappa)
    slow = ms.TiltTeacher(kappa, similarity=np.eye(log_rho.size))
    el, lm = fast.expected_log(log_rho, demo), fast.log_mixture(log_rho, LOG(demo))
    ref_el, ref_lm = _matrix_reference(slow.log_matrix(log_rho), demo)
    np.testing.assert_allclose(el, ref_el, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(lm, ref_lm, rtol=1e-10, atol=1e-14)


def test_forward_target_keeps_underflowing_modes_alive():
    """log E_d T for the copy teacher is formed in log space (theory §1)."""
    task = ms.Task(np.array([-800.0, np.log1p(-np.exp(-800.0)), -900.0]), [1, 1, 1])
    out = ms.sd_optimum(task, objective="forward", log=True)
    assert np.all(np.isfinite(out))
    np.testing.assert_allclose(out, [-800.0, 0.0, -900.0], atol=1e-9)


@pytest.mark.parametrize("teacher", [ms.CopyTeacher(0.5), ms.MultiDemoTeacher(0.5, 2), ms.TiltTeacher(1.0)])
def test_batched_demonstrations_on_an_unbatched_task(teacher):
    task = ms.make_task([0.6, 0.3, 0.1])
    grid = np.array([[0.5, 0.5, 0.0], [0.2, 0.3, 0.5]])
    out = ms.sd_optimum(task, teacher=teacher, demos=ms.ExplicitDemos(grid))
    assert out.shape == (2, 3)
    for i, row in enumerate(grid):
        np.testing.assert_allclose(out[i], ms.sd_optimum(task, teacher=teacher, demos=ms.ExplicitDemos(row)))


def test_tilt_kappa_must_be_a_number():
    with pytest.raises(ValueError, match="kappa must be a"):
        ms.TiltTeacher("x")


# ------------------------------------------------ issue 9 kind 1: round-off normalisation


def _tilt_expected_log_mpmath(log_rho, demo, kappa):
    """E_d log T(y|d) for the identity tilt, at 50 digits, from the definition."""
    import mpmath as mp

    mp.mp.dps = 50
    rho = [mp.e ** mp.mpf(x) for x in log_rho]
    total = mp.fsum(rho)
    rho = [r / total for r in rho]
    K = len(rho)
    out = []
    for y in range(K):
        acc = mp.mpf(0)
        for d in range(K):
            Z = mp.fsum(rho[j] * mp.e ** (kappa * (j == d)) for j in range(K))
            acc += mp.mpf(demo[d]) * (mp.log(rho[y]) + kappa * (y == d) - mp.log(Z))
        out.append(float(acc))
    return np.array(out)


def test_tilt_teacher_accepts_a_log_policy_normalised_only_to_round_off():
    """Issue 9 kind 1: a largest entry of +3.9e-31 used to give log of a negative number."""
    log_rho = np.array([3.9e-31, -80.0, -90.0])
    demo = np.array([0.6, 0.3, 0.1])
    got = ms.TiltTeacher(6.0).expected_log(log_rho, demo)
    # Log-probabilities: absolute error at round-off (relative error of the probability).
    np.testing.assert_allclose(got, _tilt_expected_log_mpmath(log_rho, demo, 6.0), rtol=1e-13, atol=1e-14)
    mix = ms.TiltTeacher(6.0).log_mixture(log_rho, np.log(demo))
    assert np.all(np.isfinite(mix))


def test_tilt_rule_near_a_vertex_equals_the_matrix_route():
    task = ms.make_task([0.6, 0.3, 0.1])
    fast = ms.iterate(ms.SelfDistillation(ms.TiltTeacher(6.0)), task, 8).policy[-1]
    slow = ms.iterate(ms.SelfDistillation(ms.TiltTeacher(6.0, similarity=np.eye(3))), task, 8).policy[-1]
    np.testing.assert_allclose(fast, slow, rtol=1e-9)
    np.testing.assert_allclose(fast, [1.0, 1.24275533e-19, 8.26461476e-21], rtol=1e-6)


def test_random_long_tilt_runs_never_die():
    """300 random tasks, κ ∈ [−8, 8], 200 rounds, both objectives: every run stays finite."""
    rng = np.random.default_rng(0)
    task = ms.dirichlet_task(5, 0.5, seed=1, batch_shape=(300,))
    kappa = rng.uniform(-8, 8, size=300)
    for objective in ("reverse", "forward"):
        rule = ms.SelfDistillation(ms.TiltTeacher(kappa), objective=objective)
        final = ms.iterate(rule, task, 200, record_policy=False).final.log_policy
        assert np.all(np.isfinite(np.exp(final))) and np.all(final <= 0.0)
        np.testing.assert_allclose(np.exp(final).sum(-1), 1.0, rtol=1e-12)


@pytest.mark.parametrize("teacher", [ms.CopyTeacher(0.5), ms.MultiDemoTeacher(0.5, 3), ms.TiltTeacher(-3.0)])
def test_every_teacher_kernel_accepts_round_off_above_one(teacher):
    log_rho = np.array([2e-16, -40.0, -50.0])
    demo = np.array([1.0 + 2e-16, 1e-18, 0.0])
    el = teacher.expected_log(log_rho, demo)
    lm = teacher.log_mixture(log_rho, np.log(np.maximum(demo, 1e-300)))
    assert np.all(np.isfinite(el)) and np.all(np.isfinite(lm))


def test_multi_demo_teacher_matches_enumeration_over_demonstration_tuples():
    """E log T(y | d_1..d_m) by summing over all K^m tuples, in exact arithmetic weights."""
    rho = np.array([0.5, 0.3, 0.2])
    D = np.array([0.6, 0.3, 0.1])
    a, m = 0.4, 3
    ref = np.zeros(3)
    for tup in itertools.product(range(3), repeat=m):
        w = np.prod(D[list(tup)])
        counts = np.bincount(tup, minlength=3)
        ref += w * np.log((1 - a) * rho + a * counts / m)
    np.testing.assert_allclose(ms.MultiDemoTeacher(a, m).expected_log(np.log(rho), D), ref, rtol=1e-13)


@pytest.mark.parametrize("make", [
    lambda a: ms.CopyTeacher(a),
    lambda a: ms.MultiDemoTeacher(a, 2),
    lambda a: ms.TiltTeacher(4 * a - 2),
])
def test_array_parameters_equal_the_loop_over_scalars(make):
    rng = np.random.default_rng(3)
    log_rho = np.log(rng.dirichlet(np.ones(4), size=(5,)))
    demo = rng.dirichlet(np.ones(4), size=(5,))
    grid = np.array([0.0, 0.2, 0.7])[:, None]  # (3, 1) against a batch of 5
    batched = make(grid).expected_log(log_rho, demo)
    mixture = make(grid).log_mixture(log_rho, np.log(demo))
    assert batched.shape == (3, 5, 4)
    for i, a in enumerate(grid[:, 0]):
        np.testing.assert_allclose(batched[i], make(float(a)).expected_log(log_rho, demo), rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(mixture[i], make(float(a)).log_mixture(log_rho, np.log(demo)), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("make, word", [
    (lambda: ms.MatrixTeacher([[1, 0], [0]]), "T must be"),
    (lambda: ms.TiltTeacher(similarity=[[1, 0], [0]]), "similarity must be"),
])
def test_ragged_matrices_are_named(make, word):
    """numpy's "inhomogeneous shape" message reached the user; the argument is named now."""
    with pytest.raises(ValueError, match=f"{word}.*rectangular array"):
        make()


def test_conditioned_demos_in_probability_space_match_exact_fractions_and_ignore_the_batch():
    """D = ρ·1[C]/ρ(C) is formed in probability space where ρ(C) >= 1e-8 and in log space
    below (a per-row choice): both to a few ulp, and a row's bits do not depend on its batch."""
    from fractions import Fraction

    rows = np.array([[0.5, 0.25, 0.125, 0.125], [1 - 3e-12, 1e-12, 1e-12, 1e-12], [0.3, 0.3, 0.2, 0.2]])
    valid = np.array([[1, 0, 1, 1], [0, 1, 1, 0], [1, 1, 1, 1]], dtype=bool)
    valid[2] = [1, 0, 0, 1]
    lp = np.log(rows)
    task = ms.Task(lp, valid)
    D = ms.ConditionedDemos().distribution(task.log_base, task)
    for r in range(3):
        rho = [Fraction(float(x)) for x in np.exp(task.log_base[r])]
        mass = sum(x for x, v in zip(rho, valid[r]) if v)
        want = [float(x / mass) if v else 0.0 for x, v in zip(rho, valid[r])]
        # log space: log ρ − log ρ(C) carries an ulp of |log ρ| ≈ 27 (3.6e-15 relative after exp)
        np.testing.assert_allclose(D[r], want, rtol=4e-15 if r == 1 else 4e-16, atol=0)
        alone = ms.ConditionedDemos().distribution(task.log_base[r], ms.Task(task.log_base[r], valid[r]))
        assert np.array_equal(alone, D[r])              # row 1 (mass 2e-12) goes through log space


@pytest.mark.parametrize("kappa", [1e8, 1e15, 1e20, 1e300, -1e15, 2.0])
def test_tilt_teacher_forward_round_and_log_probs_keep_their_digits_for_huge_kappa(kappa):
    """log ρ(d) + κ − log Z(d) lost an ulp of κ: the forward optimum was 10 % off at κ = 1e16
    and a copied demonstration's log-probability 0.1 nats off at 1e15; against 50-digit mpmath."""
    import mpmath

    mpmath.mp.dps = 50
    task = ms.make_task([0.5, 0.3, 0.1, 0.1], [1, 1, 1, 0])
    rho = [mpmath.mpf(float(x)) for x in np.exp(task.log_base)]
    k = mpmath.mpf(kappa)

    def T(y, d):
        if y == d:
            return rho[d] / (rho[d] + (1 - rho[d]) * mpmath.exp(-k))
        return rho[y] / ((1 - rho[d]) + rho[d] * mpmath.exp(k))

    valid = [1, 1, 1, 0]
    mass = sum(r for r, c in zip(rho, valid) if c)
    D = [r * c / mass for r, c in zip(rho, valid)]
    mix = [sum(D[d] * T(y, d) for d in range(4)) for y in range(4)]
    want = np.array([float((mix[y] + mpmath.mpf("0.1") * rho[y]) / mpmath.mpf("1.1")) for y in range(4)])
    got = ms.sd_optimum(task, teacher=ms.TiltTeacher(kappa), objective="forward", beta=0.1)
    np.testing.assert_allclose(got, want, rtol=2e-15)
    teacher = ms.TiltTeacher(kappa)
    demos = np.array([[0], [0], [2]])
    ys = np.array([0, 1, 2])
    lp = teacher.log_prob(task.log_base, demos, ys)
    exact = [float(mpmath.log(T(int(y), int(d)))) for y, d in zip(ys, demos[:, 0])]
    np.testing.assert_allclose(lp, exact, rtol=1e-14, atol=1e-15)
    w = np.array([0.5, 0.25, 0.25])
    rows = teacher.weighted_log_rows(task.log_base, demos, w)
    exact_rows = [float(sum(wi * mpmath.log(T(y, int(d))) for wi, d in zip(w, demos[:, 0]))) for y in range(4)]
    np.testing.assert_allclose(rows, exact_rows, rtol=1e-13, atol=1e-13)


def test_copy_teacher_without_copying_keeps_modes_below_the_smallest_double():
    """α = 0: T(y|d) = ρ(y) for every d, so both points of the law are log ρ(y), also for
    ρ(y) < e^−745 (they were −inf for T(y|y): e^{log ρ} underflowed before α = 0 was added).
    Control: the generic law from the teacher's matrix (log space throughout)."""
    lr = np.array([-800.0, -1e4, -1.0, -np.inf, np.log1p(-np.exp(-1.0))])
    D = np.array([0.2, 0.3, 0.0, 0.0, 0.5])
    t = ms.CopyTeacher(0.0)
    hit, rest = t.two_point_log_values(lr)
    np.testing.assert_array_equal(hit, lr)
    np.testing.assert_array_equal(rest, lr)
    w, lv = t.demo_law(lr, D)
    np.testing.assert_array_equal(lv, np.stack([lr, lr]))
    np.testing.assert_array_equal(np.diagonal(t.log_matrix(lr)), lr)
    buf = np.empty((2, 5))
    t.two_point_log_values(lr, out=buf)
    np.testing.assert_array_equal(buf, np.stack([lr, lr]))


@pytest.mark.parametrize("alpha", [0.0, 1e-300, 0.3, 1 - 1e-12])
def test_copy_teacher_hands_over_the_values_of_its_two_points(alpha):
    """two_point_log_values(out=, linear=): the values the copy teacher forms before their logs,
    ((1 − α)ρ + α, (1 − α)ρ), equal exp of the logs (to the error of that exp) and leave the
    logs as they are without linear= (to an ulp: with linear=, the JSD solve's path, the exp
    and the log are the compiled kernel's vectorised ones when it is in use, modesim._vmath);
    a teacher whose method does not take linear= gets them exponentiated (two_point_values)."""
    from modesim.teachers import two_point_values

    lr = np.log(np.array([0.5, 0.3, 0.15, 0.05]))
    lr = np.concatenate([lr, [-800.0, -np.inf]])
    t = ms.CopyTeacher(alpha)
    out, lin = np.empty((2, 6)), np.empty((2, 6))
    two_point_values(t, lr, probe=False, out=out, linear=lin)
    plain = np.stack(t.two_point_log_values(lr))
    np.testing.assert_array_equal(np.isneginf(out), np.isneginf(plain))
    fin = np.isfinite(plain)
    assert np.all(np.abs(out[fin] - plain[fin]) <= np.spacing(np.abs(plain[fin])))
    with np.errstate(under="ignore"):
        e = np.exp(out)      # exp of a log of size |x| carries a relative error of ~|x|·ε
    assert np.all(np.abs(lin - e) <= (2.0 + np.abs(np.where(np.isfinite(out), out, 0.0))) * 2.3e-16 * e)

    class Plain(ms.CopyTeacher):
        def two_point_log_values(self, log_rho):
            return ms.CopyTeacher(self.alpha).two_point_log_values(log_rho)

        def demo_law(self, log_rho, demo):
            return ms.CopyTeacher(self.alpha).demo_law(log_rho, demo)

    out2, lin2 = np.empty((2, 6)), np.empty((2, 6))
    two_point_values(Plain(alpha), lr, probe=False, out=out2, linear=lin2)
    np.testing.assert_array_equal(out2, plain)
    with np.errstate(under="ignore"):
        np.testing.assert_array_equal(lin2, np.exp(plain))
