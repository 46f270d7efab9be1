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
    a user's teacher) was given the copy teacher's points: wrong mixture values, silently."""
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
