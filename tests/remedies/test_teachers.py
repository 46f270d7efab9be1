"""The remedies' teachers (theory §11): the mixture of m teachers and the contrastive teacher,
each against brute force over demonstrations (m-tuples, pairs) and the protocol's identities."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

import modesim as ms
from modesim.remedies import ContrastiveTeacher, MixtureTeacher, compositions
from modesim.teachers import Teacher

from .support import random_task

TEACHERS = [ms.CopyTeacher(0.5), ms.CopyTeacher(0.93), ms.TiltTeacher(1.5), ms.TiltTeacher(-2.0),
            ms.PowerCopyTeacher(2.0, 1.5)]


def _brute_mixture_expected_log(teacher, log_rho, D, m):
    """E over every m-tuple of demonstrations of log((1/m) Σ_j T(y|d_j))."""
    T = teacher.matrix(log_rho)
    K = T.shape[-1]
    out = np.zeros(K)
    for tup in itertools.product(range(K), repeat=m):
        w = float(np.prod(D[list(tup)]))
        if w == 0.0:
            continue
        with np.errstate(divide="ignore"):
            out = out + w * np.log(T[list(tup)].mean(axis=0))
    return out


# ------------------------------------------------------------------ mixture of m teachers


def test_compositions_enumerate_every_split():
    c = compositions(3, 3)
    assert c.shape == (math.comb(5, 2), 3) and np.all(c.sum(-1) == 3)
    assert len({tuple(r) for r in c}) == len(c)


@pytest.mark.parametrize("m", [1, 2, 3, 5])
def test_mixture_of_copy_teachers_is_the_multi_demo_teacher(m):
    """Averaging m copy teachers' probabilities is T(y|d_1..d_m) = (1 − α)ρ + (α/m)·#{d_j = y}."""
    rng = np.random.default_rng(m)
    task = random_task(rng, K=6, n_valid=4)
    for alpha in (0.0, 0.3, 0.97):
        mix, multi = MixtureTeacher(ms.CopyTeacher(alpha), m), ms.MultiDemoTeacher(alpha, m)
        D = ms.ConditionedDemos().distribution(task.log_base, task)
        np.testing.assert_allclose(mix.expected_log(task.log_base, D), multi.expected_log(task.log_base, D),
                                   rtol=1e-13, atol=1e-14)
        demos = rng.integers(0, 6, size=(5, m))
        y = rng.integers(0, 6, size=5)
        np.testing.assert_allclose(mix.log_prob(task.log_base, demos, y), multi.log_prob(task.log_base, demos, y),
                                   rtol=1e-13, atol=1e-14)


@pytest.mark.parametrize("teacher", TEACHERS, ids=repr)
@pytest.mark.parametrize("m", [1, 2, 3])
def test_mixture_expected_log_equals_enumeration_of_m_tuples(teacher, m):
    rng = np.random.default_rng(7 + m)
    task = random_task(rng, K=4, n_valid=3)
    D = ms.ConditionedDemos().distribution(task.log_base, task)
    got = MixtureTeacher(teacher, m).expected_log(task.log_base, D)
    want = _brute_mixture_expected_log(teacher, task.log_base, D, m)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("teacher", TEACHERS[:3], ids=repr)
def test_mixture_law_is_a_law_and_averages_to_the_expectations(teacher):
    rng = np.random.default_rng(3)
    task = random_task(rng, K=5, n_valid=3)
    mix = MixtureTeacher(teacher, 3)
    D = ms.ConditionedDemos().distribution(task.log_base, task)
    w, lv = mix.demo_law(task.log_base, D)
    np.testing.assert_allclose(w.sum(-2), 1.0, rtol=1e-13)
    np.testing.assert_allclose(np.sum(w * lv, axis=-2), mix.expected_log(task.log_base, D), rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(np.log(np.sum(w * np.exp(lv), axis=-2)),
                               mix.log_mixture(task.log_base, np.log(D + 1e-300)), rtol=1e-12, atol=1e-13)


def test_mixture_log_prob_and_rows_equal_the_averaged_matrix_rows():
    rng = np.random.default_rng(11)
    task = random_task(rng, K=5, n_valid=3)
    teacher = ms.TiltTeacher(1.2)
    mix = MixtureTeacher(teacher, 3)
    T = teacher.matrix(task.log_base)
    demos = rng.integers(0, 5, size=(4, 3))
    y = rng.integers(0, 5, size=4)
    want = np.log(T[demos, y[:, None]].mean(-1))
    np.testing.assert_allclose(mix.log_prob(task.log_base, demos, y), want, rtol=1e-13)
    w = rng.random(4)
    rows = np.log(T[demos].mean(axis=1))                       # (4, K)
    np.testing.assert_allclose(mix.weighted_log_rows(task.log_base, demos, w), w @ rows, rtol=1e-13)


def test_mixture_jsd_round_runs_on_the_composition_law():
    """The mixture exposes its law, so the JSD objective (theory §8.1) solves on it too."""
    task = ms.make_task([0.6, 0.3, 0.1])
    pi = ms.sd_optimum(task, teacher=MixtureTeacher(ms.CopyTeacher(0.5), 3), objective="jsd")
    ref = ms.sd_optimum(task, teacher=ms.MultiDemoTeacher(0.5, 3), objective="jsd")
    np.testing.assert_allclose(pi, ref, rtol=1e-12)


def test_mixture_refuses_bad_arguments_by_name():
    with pytest.raises(ValueError, match="m must be an integer >= 1"):
        MixtureTeacher(ms.CopyTeacher(0.5), 0)
    with pytest.raises(ValueError, match="teacher must be a modesim Teacher"):
        MixtureTeacher("copy", 3)
    with pytest.raises(ValueError, match="teacher.n_demos"):
        MixtureTeacher(ms.MultiDemoTeacher(0.5, 2), 3)
    big = MixtureTeacher(ms.TiltTeacher(1.0), 30)
    task = ms.make_task(np.full(40, 1 / 40))
    with pytest.raises(ValueError, match="too large"):
        big.expected_log(task.log_base, task.base)


# ------------------------------------------------------------------ contrastive teacher


def _brute_contrastive(teacher, log_rho):
    """T̃[d, b, y] = ρ(y)T(y|d)/T(y|b)/Z(d, b), written out."""
    T = teacher.matrix(log_rho)
    rho = np.exp(log_rho)
    K = T.shape[-1]
    out = np.zeros((K, K, K))
    for d in range(K):
        for b in range(K):
            u = rho * T[d] / T[b]
            out[d, b] = u / u.sum()
    return out


@pytest.mark.parametrize("teacher", TEACHERS, ids=repr)
def test_contrastive_teacher_against_brute_force(teacher):
    rng = np.random.default_rng(5)
    task = random_task(rng, K=4, n_valid=3)
    con = ContrastiveTeacher(teacher)
    Tt = _brute_contrastive(teacher, task.log_base)
    D = ms.ConditionedDemos().distribution(task.log_base, task)
    pair = D[:, None] * D[None, :]
    with np.errstate(divide="ignore"):
        want_G = np.einsum("db,dby->y", pair, np.log(Tt))
        want_M = np.log(np.einsum("db,dby->y", pair, Tt))
    np.testing.assert_allclose(con.expected_log(task.log_base, D), want_G, rtol=1e-12, atol=1e-13)
    with np.errstate(divide="ignore"):
        np.testing.assert_allclose(con.log_mixture(task.log_base, np.log(D)), want_M, rtol=1e-12, atol=1e-13)
    demos = rng.integers(0, 4, size=(6, 2))
    y = rng.integers(0, 4, size=6)
    np.testing.assert_allclose(con.log_prob(task.log_base, demos, y), np.log(Tt[demos[:, 0], demos[:, 1], y]),
                               rtol=1e-12, atol=1e-13)
    w = rng.random(6)
    np.testing.assert_allclose(con.weighted_log_rows(task.log_base, demos, w),
                               w @ np.log(Tt[demos[:, 0], demos[:, 1]]), rtol=1e-12, atol=1e-13)
    lw, lv = con.demo_law(task.log_base, D)
    np.testing.assert_allclose(np.sum(lw * lv, axis=-2), want_G, rtol=1e-12, atol=1e-13)


def test_contrastive_expected_log_is_the_base_up_to_a_constant():
    """E_{d,b} log T̃ = log ρ − E log Z: the round from π0 is the identity (registry entry C1)."""
    task = ms.make_task([0.5, 0.3, 0.15, 0.05], [1, 1, 1, 0])
    con = ContrastiveTeacher(ms.CopyTeacher(0.7))
    D = ms.ConditionedDemos().distribution(task.log_base, task)
    g = con.expected_log(task.log_base, D) - task.log_base
    assert np.ptp(g) < 1e-15 and g[0] < 0
    for beta in (0.0, 0.3):
        np.testing.assert_allclose(ms.sd_optimum(task, teacher=con, beta=beta), task.base, rtol=1e-14)


def test_contrastive_without_baseline_is_the_teacher_itself():
    task = ms.make_task([0.6, 0.3, 0.1])
    copy = ms.CopyTeacher(0.5)
    none = ContrastiveTeacher(copy, baseline="none")
    assert none.n_demos == 1
    np.testing.assert_array_equal(ms.sd_optimum(task, teacher=none), ms.sd_optimum(task, teacher=copy))


def test_contrastive_refusals():
    with pytest.raises(ValueError, match="baseline must be one of"):
        ContrastiveTeacher(ms.CopyTeacher(0.5), baseline="mismatched")

    class Zeroes(Teacher):
        def log_matrix(self, log_rho):
            K = log_rho.shape[-1]
            with np.errstate(divide="ignore"):
                return np.log(np.broadcast_to(np.eye(K), log_rho.shape[:-1] + (K, K)))

    task = ms.make_task([0.5, 0.5])
    with pytest.raises(ValueError, match=r"T\(y\|d\) > 0"):
        ms.sd_optimum(task, teacher=ContrastiveTeacher(Zeroes()))


def test_contrastive_sampled_rule_has_no_drift_in_expectation():
    """Sampled SD with the contrastive teacher: E[score | y] = 0 by exchangeability of d and b, so
    from a frozen teacher at π0 the policy only diffuses (mean over seeds stays at π0)."""
    task = ms.make_task([0.5, 0.3, 0.2], [1, 1, 0])
    rule = ms.SampledSD(ContrastiveTeacher(ms.CopyTeacher(0.5)), teacher_base="frozen", lr=0.05, seed=1)
    final = ms.train(rule, task, 40, n_seeds=400, record_policy=False).final.policy
    mean, se = final.mean(0), final.std(0) / np.sqrt(400)
    assert np.all(np.abs(mean - task.base) < 5 * se + 1e-3)
    assert final.std(0).max() > 1e-3                        # it does move, seed by seed


def test_contrastive_two_point_closed_form_equals_the_generic_pair_sums():
    rng = np.random.default_rng(9)
    task = random_task(rng, K=6, n_valid=4)
    copy = ms.CopyTeacher(0.8)
    fast, slow = ContrastiveTeacher(copy), ContrastiveTeacher(ms.MatrixTeacher(lambda lr: copy.matrix(lr)))
    D = ms.ConditionedDemos().distribution(task.log_base, task)
    np.testing.assert_allclose(fast.expected_log(task.log_base, D), slow.expected_log(task.log_base, D), rtol=1e-13)
    demos = rng.integers(0, 6, size=(9, 2))
    y = rng.integers(0, 6, size=9)
    np.testing.assert_allclose(fast.log_prob(task.log_base, demos, y), slow.log_prob(task.log_base, demos, y),
                               rtol=1e-13, atol=1e-14)
    w = rng.random(9)
    np.testing.assert_allclose(fast.weighted_log_rows(task.log_base, demos, w),
                               slow.weighted_log_rows(task.log_base, demos, w), rtol=1e-13, atol=1e-14)


def test_enumerations_too_large_are_refused_at_once():
    """compositions(200, 200) ran for minutes; MixtureTeacher(CopyTeacher, 10**12) asked for
    7 TiB.  Both are refused before any work, naming the sizes."""
    import time

    start = time.perf_counter()
    with pytest.raises(ValueError, match=r"compositions\(m=200, J=200\).*too many"):
        compositions(200, 200)
    task = ms.make_task([0.6, 0.3, 0.1])
    with pytest.raises(ValueError, match=r"MixtureTeacher\(m=1000000000000\).*too large"):
        ms.sd_optimum(task, teacher=MixtureTeacher(ms.CopyTeacher(0.5), 10**12))
    assert time.perf_counter() - start < 1.0


def test_contrastive_teacher_keeps_its_digits_or_refuses():
    """C1 says the contrastive round from π0 returns π0 exactly.  Its ratios T(y|d)/T(y|b) are
    differences of logs: TiltTeacher(1e16) gave [0.422, 0.422, 0.155] for [0.6, 0.3, 0.1].  Up
    to |log T| = 1e6 the round holds to 1e-10; beyond, a named error."""
    task = ms.make_task([0.6, 0.3, 0.1])
    for kappa, tol in ((30.0, 1e-13), (1e3, 1e-12), (9e5, 1e-9)):
        pi = ms.sd_optimum(task, teacher=ContrastiveTeacher(ms.TiltTeacher(kappa)))
        np.testing.assert_allclose(pi, task.base, rtol=tol)
    for kappa in (1e7, 1e17):
        with pytest.raises(ValueError, match="lose their digits"):
            ms.sd_optimum(task, teacher=ContrastiveTeacher(ms.TiltTeacher(kappa)))


@pytest.mark.parametrize("wrapped", [ms.CopyTeacher(0.4), ms.TiltTeacher(1.5), ms.PowerCopyTeacher(1.0, 2.0)])
def test_the_reverse_round_drops_only_a_constant_of_the_contrastive_expected_log(wrapped):
    """The reverse round uses ``expected_log_up_to_constant`` (O(K)); with the full expected log
    (its O(K²) constant included) the normalised target is the same to round-off."""
    from modesim.distill import combine_reverse
    from modesim.remedies import ContrastiveTeacher, DistillationBlend
    from modesim.rule import normalise_checked

    rng = np.random.default_rng(3)
    K = 7
    task = ms.Task(np.log(rng.dirichlet(np.ones(K), size=4)), (rng.random((4, K)) < 0.7) | (np.arange(K) == 0))
    teacher = ContrastiveTeacher(wrapped)
    D = ms.ConditionedDemos().distribution(task.log_base, task)
    full = teacher.expected_log(task.log_base, D)
    shifted = teacher.expected_log_up_to_constant(task.log_base, D)
    const = full - shifted
    assert np.ptp(const, axis=-1).max() < 1e-13            # one number per row
    for beta in (0.0, 0.3):
        want = normalise_checked(combine_reverse(full, task.log_base, beta), "x")
        got = ms.sd_target(task.log_base, task.log_base, task, teacher=teacher, demos=ms.ConditionedDemos(), beta=beta)
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-13)
    from modesim.remedies.rules import _blend_target

    blend = DistillationBlend(teacher, reward_weight=0.5, distill_weight=0.5, beta=0.1)
    want = _blend_target(full, task.log_base, task, 0.5, 0.5, 0.1)
    np.testing.assert_allclose(blend.target(task.log_base, task.log_base, task), want, rtol=0, atol=1e-13)


def test_a_teachers_own_two_points_equal_the_probed_ones():
    """CopyTeacher states its two points (two_point_log_values); they equal the ones read off
    its demonstration law by the probe, and the mixture teacher's binomial path uses them."""
    from modesim import teachers as T
    from modesim.remedies.teachers import two_point_values

    rng = np.random.default_rng(1)
    lr = np.log(rng.dirichlet(np.ones(9), size=3))
    for alpha in (0.0, 0.3, np.array([[0.2], [0.5], [0.9]])):
        t = ms.CopyTeacher(alpha)
        direct = two_point_values(t, lr)
        w, lv = t.demo_law(lr, T._probe(9))
        np.testing.assert_array_equal(direct[0], lv[..., 0, :])
        np.testing.assert_array_equal(direct[1], lv[..., 1, :])
    task = ms.Task(lr, np.ones((3, 9), bool))
    mix = MixtureTeacher(ms.CopyTeacher(0.4), 3)
    D = ms.ConditionedDemos().distribution(task.log_base, task)
    log_p, log_val = mix._law(task.log_base, D)                    # the enumerated law
    brute = np.where(np.exp(log_p) > 0, np.exp(log_p) * log_val, 0.0).sum(axis=-2)
    np.testing.assert_allclose(mix.expected_log(task.log_base, D), brute, rtol=1e-13)


def test_a_subclass_that_changes_the_law_is_probed_not_trusted():
    """A subclass inheriting CopyTeacher.two_point_log_values but with its own law (MultiDemoTeacher,
    a user's teacher) was given the copy teacher's points: wrong mixture values, silently.  The
    same holds for two_point_ratio_values (the mixture's binomial sum reads it first)."""
    from modesim.remedies.teachers import two_point_values

    lr = np.log([0.5, 0.3, 0.2])
    assert two_point_values(ms.MultiDemoTeacher(0.5, 3), lr) is None

    class Half(ms.CopyTeacher):
        def demo_law(self, log_rho, demo):
            return ms.CopyTeacher(self.alpha / 2).demo_law(log_rho, demo)

        def log_matrix(self, log_rho):
            return ms.CopyTeacher(self.alpha / 2).log_matrix(log_rho)

    mix = MixtureTeacher(Half(0.8), 2)
    D = np.array([0.5, 0.3, 0.2])
    log_p, log_val = mix._law(lr, D)
    brute = np.where(np.exp(log_p) > 0, np.exp(log_p) * log_val, 0.0).sum(axis=-2)
    np.testing.assert_allclose(mix.expected_log(lr, D), brute, rtol=1e-13)


# ------------------------------------------------ the mixture's binomial sum at the extremes

_LR = np.array([0.0, -1e-17, -1e-10, -1e-3, -0.7, -40.0, -700.0, -745.5, -800.0, -1e4, -np.inf])
_D = np.array([0.0, 1e-300, 1e-17, 0.3, 0.5, 1 - 1e-16, 1.0])


def _mixture_expected_log_mpmath(lr, D, alpha, m):
    """Σ_n Bin(n; m, D)·log((1 − α)ρ + α·n/m) at 50 digits (−inf when a composition of positive
    probability has the value 0), entrywise over flat arrays."""
    import mpmath as mp

    mp.mp.dps = 50
    out = []
    for x, d, a in zip(lr, D, np.broadcast_to(alpha, lr.shape)):
        rho = mp.e ** mp.mpf(float(x)) if np.isfinite(x) else mp.mpf(0)
        a, d, s = mp.mpf(float(a)), mp.mpf(float(d)), mp.mpf(0)
        for n in range(m + 1):
            w = mp.binomial(m, n) * d ** n * (1 - d) ** (m - n)
            if w == 0:
                continue
            x = (1 - a) * rho + a * mp.mpf(n) / m
            if x == 0:
                s = -mp.inf
                break
            s += w * mp.log(x)
        out.append(float(s))
    return np.array(out)


def _within_ulps(got, want, lr, ulps):
    """Both −inf, or |got − want| <= ulps·eps·max(1, |want|, |log ρ|) (the size of the logs summed)."""
    scale = np.maximum(np.maximum(1.0, np.abs(np.where(np.isfinite(want), want, 0.0))),
                       np.abs(np.where(np.isfinite(lr), lr, 0.0)))
    same_inf = np.isneginf(got) == np.isneginf(want)
    fin = np.isfinite(want) & np.isfinite(got)
    err = np.abs(np.where(fin, got, 0.0) - np.where(fin, want, 0.0))
    return same_inf & (~fin | (err <= ulps * np.finfo(float).eps * scale))


@pytest.mark.parametrize("m", [1, 2, 4, 64, 65])
@pytest.mark.parametrize("alpha", [0.0, 1e-300, 1e-250, 1e-12, 0.5, 1 - 1e-12])
def test_mixture_binomial_sum_keeps_its_digits_at_the_extremes(alpha, m):
    """E log T̄ of m copy teachers against 50-digit mpmath for ρ from 0 to 1 (log ρ = −inf, −1e4,
    −800, ..., −1e-17, 0), D from 0 to 1 and α from 0 to 1 − 1e-12: m ≤ 64 uses the binomial sum
    (the copy teacher's stated ratio for α ≥ 1e-290, its two points and one exp below), within
    a few ulp of the logs summed (m/4 + 4: the weights are products of m factors); m = 65 the
    enumerated law with log-space weights (~100 ulp).  A log ρ = −inf entry is −inf exactly when
    the n = 0 composition has positive probability (D < 1), even one below the smallest double
    (D = 1 − 1e-16, m = 64), which the log-space weights of m = 65 lose.  With α = 0 and ρ below
    the smallest double (e^−745) the copy teacher's own points are log T(y|y) = log ρ (they were
    −inf: e^{log ρ} underflowed before α = 0 was added)."""
    LR, DD = (a.ravel() for a in np.meshgrid(_LR, _D, indexing="ij"))
    got = MixtureTeacher(ms.CopyTeacher(alpha), m).expected_log(LR, DD)
    want = _mixture_expected_log_mpmath(LR, DD, alpha, m)
    if m == 65:
        lost = np.isneginf(LR) & (DD == 1 - 1e-16) & (alpha > 0)      # α = 0: every value there is 0
        assert np.all(np.isfinite(got[lost])) and np.all(np.isneginf(want[lost]))
        assert np.all(_within_ulps(got[~lost], want[~lost], LR[~lost], 128))
        return
    ok = _within_ulps(got, want, LR, m / 4 + 4)
    assert np.all(ok), list(zip(LR[~ok], DD[~ok], got[~ok], want[~ok]))
    # Teeth: the same sum formed from the values themselves, log(((m − n)·r + n·h)/m), fails the
    # same bound here (r underflows at log ρ = −800; cancellation in log near ρ = 1).
    if alpha == 0.5 and m in (2, 4):
        from scipy.stats import binom

        with np.errstate(divide="ignore", invalid="ignore"):
            r, h = 0.5 * np.exp(LR), 0.5 * np.exp(LR) + 0.5
            naive = sum(np.where(binom.pmf(n, m, DD) > 0, binom.pmf(n, m, DD) * np.log(((m - n) * r + n * h) / m), 0.0)
                        for n in range(m + 1))
        assert not np.all(_within_ulps(naive, want, LR, m / 4 + 4))


def test_mixture_binomial_sum_on_grids_batches_and_chunks():
    """An α grid (a column per batch row), a batch, arrays large enough to be summed in chunks,
    and ``out=`` (the round passes the demonstration buffer): each equals the enumerated law
    Σ_c P(c)·log T̄_c (MixtureTeacher._law) to 1e-13, and ``out`` receives the result."""
    rng = np.random.default_rng(2)
    lr = np.log(rng.dirichlet(np.full(700, 0.3), size=40))          # 28 000 entries: several chunks
    lr[:, :3] = [-np.inf, -800.0, -1e-17]
    D = rng.dirichlet(np.full(700, 0.5), size=40)
    D[:, 0] = 0.0
    D[:5, 1] = 1.0
    for alpha in (0.4, rng.uniform(0.05, 0.95, size=40)):
        for m in (2, 4, 9):
            mix = MixtureTeacher(ms.CopyTeacher(alpha), m)
            log_p, log_val = mix._law(lr, D)
            p = np.exp(log_p)
            with np.errstate(invalid="ignore"):
                brute = np.where(p > 0, p * log_val, 0.0).sum(axis=-2)
            brute = np.where(np.any((p > 0) & np.isneginf(log_val), axis=-2), -np.inf, brute)
            got = mix.expected_log(lr, D)
            np.testing.assert_allclose(got, brute, rtol=1e-13, atol=1e-13)
            buf = D.copy()
            into = mix.expected_log(lr, buf, out=buf)
            assert into is buf
            np.testing.assert_array_equal(into, got)
            row = MixtureTeacher(ms.CopyTeacher(alpha if np.ndim(alpha) == 0 else alpha[7]), m)
            one = row.expected_log(lr[7], D[7])                       # a single row, unchunked
            np.testing.assert_array_equal(one, got[7])


def test_copy_teacher_states_its_two_points_and_their_ratio():
    """two_point_ratio_values = (log((1 − α)ρ + α), log((1 − α)ρ), (1 − α)ρ/((1 − α)ρ + α)) against
    50-digit mpmath (an α grid: one α per batch row), log r equal to two_point_log_values' bit for
    bit; None below α = 1e-290."""
    import mpmath as mp

    mp.mp.dps = 50
    lr = np.array([0.0, -1e-17, -0.7, -40.0, -745.5, -800.0, -np.inf])
    for alpha in (1e-250, 1e-12, 0.5, 1 - 1e-12, np.array([0.3, 0.9])):
        t = ms.CopyTeacher(alpha)
        lh, log_r, ratio = t.two_point_ratio_values(lr)
        np.testing.assert_array_equal(log_r, t.two_point_log_values(lr)[1])
        for idx in np.ndindex(lh.shape):
            a = mp.mpf(float(alpha if np.ndim(alpha) == 0 else alpha[idx[0]]))
            rho = mp.e ** mp.mpf(lr[idx[-1]]) if np.isfinite(lr[idx[-1]]) else mp.mpf(0)
            h, r = (1 - a) * rho + a, (1 - a) * rho
            assert abs(lh[idx] - float(mp.log(h))) <= 4e-16 * max(1.0, abs(float(mp.log(h))))
            # r below the smallest double (e^−745) is 0: r/h then is off by at most 5e-324/α.
            assert abs(ratio[idx] - float(r / h)) <= 4e-16 * float(r / h) + 5e-324 / float(a)
    assert ms.CopyTeacher(1e-300).two_point_ratio_values(lr) is None
    assert ms.CopyTeacher(np.array([0.5, 0.0])).two_point_ratio_values(lr[:2]) is None


def test_a_rows_mixture_value_does_not_depend_on_its_batch():
    """A mode with h = T(y|y) = 0 (α = 0, ρ(y) = 0) in the batch used to send every entry to
    the enumerated law (~100 ulp at m = 64), so a row's digits depended on its neighbours.
    Now each entry is the same alone and in the batch; the h = 0 entries are exact (−inf if
    D(y) > 0, else log r)."""
    M = MixtureTeacher(ms.CopyTeacher(0.0), 64)
    lr = np.array([-0.7, -np.inf, -np.inf, -3.0])
    D = np.array([0.5, 0.5, 0.0, 0.25])
    batch = M.expected_log(lr, D)
    for i in range(4):
        np.testing.assert_array_equal(batch[i], M.expected_log(lr[i:i + 1], D[i:i + 1])[0])
    assert batch[1] == -np.inf and batch[2] == -np.inf
    assert abs(batch[0] - (-0.7)) <= 4 * np.spacing(0.7)
