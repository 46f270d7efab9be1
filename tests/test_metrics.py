"""Diversity metrics (theory §4) against exact and Monte Carlo references."""

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import modesim as ms
from modesim.testing import policies, tasks


def test_pass_at_k_exact_and_averaged_over_prompts():
    p = np.array([[0.6, 0.3, 0.1], [0.2, 0.2, 0.6]])
    valid = [0, 1, 1]
    got = ms.pass_at_k(p, valid, [1, 2, 4])
    assert got.shape == (2, 3)
    np.testing.assert_allclose(got[0], [0.4, 1 - 0.6**2, 1 - 0.6**4])
    np.testing.assert_allclose(ms.pass_at_k(p, valid, [1, 2, 4], axis=0), got.mean(0))
    assert ms.pass_at_k(p[0], valid, 1).shape == ()


@given(st.integers(1, 60), st.integers(1, 10**6))
def test_pass_at_k_is_stable_for_huge_k_and_tiny_mass(e, k):
    """1 − (1 − q)^k for q = 10^-e and k up to 10^6 keeps full relative precision."""
    q = 10.0**-e
    p = np.array([q, 1 - q])
    got = float(ms.pass_at_k(p, [1, 0], k))
    ref = -math.expm1(k * math.log1p(-q))
    assert got == pytest.approx(ref, rel=1e-12, abs=0)


def test_pass_at_k_near_one_is_accurate():
    p = np.array([1 - 1e-12, 1e-12])
    got = ms.pass_at_k(p, [1, 0], [1, 10])
    assert 1 - got[0] == pytest.approx(1e-12, rel=1e-3)
    assert got[1] == 1.0


@given(st.integers(1, 40), st.data())
def test_unbiased_estimator_matches_exact_binomial_ratio(n, data):
    c = data.draw(st.integers(0, n))
    k = data.draw(st.integers(1, n))
    exact = 1 - Fraction(math.comb(n - c, k), math.comb(n, k))
    assert float(ms.pass_at_k_unbiased(n, c, k)) == pytest.approx(float(exact), abs=1e-12)


def test_unbiased_estimator_is_unbiased_by_monte_carlo():
    """E[estimator] = pass@k under binomial sampling (5-sigma bound on the MC mean)."""
    rng = np.random.default_rng(0)
    n, k, q = 20, 5, 0.15
    c = rng.binomial(n, q, size=200_000)
    est = ms.pass_at_k_unbiased(n, c, k)
    se = est.std() / np.sqrt(est.size)
    assert abs(est.mean() - (1 - (1 - q) ** k)) < 5 * se


def test_unbiased_estimator_errors():
    with pytest.raises(ValueError, match="c must be <= n"):
        ms.pass_at_k_unbiased(3, 4, 1)
    with pytest.raises(ValueError, match="k must be <= n"):
        ms.pass_at_k_unbiased(3, 1, 4)
    with pytest.raises(ValueError, match="n must hold"):
        ms.pass_at_k_unbiased(2.5, 1, 1)


def test_expected_distinct_against_monte_carlo():
    rng = np.random.default_rng(1)
    p = np.array([0.5, 0.3, 0.15, 0.05])
    valid = np.array([1, 1, 0, 1], bool)
    k = 6
    draws = rng.choice(4, size=(100_000, k), p=p)
    distinct = np.array([len(set(r) & {0, 1, 3}) for r in draws[:20000]])
    se = distinct.std() / np.sqrt(distinct.size)
    exact = ms.expected_distinct(p, valid, k)
    assert abs(distinct.mean() - exact) < 5 * se
    np.testing.assert_allclose(exact, sum(1 - (1 - p[i]) ** k for i in (0, 1, 3)))
    assert ms.expected_distinct(p, valid, [1, 2]).shape == (2,)


@given(tasks(min_valid=2))
def test_entropy_family(task):
    q = ms.conditional(task.base, task.valid)
    H = ms.entropy(task.base, task.valid)
    assert H == pytest.approx(-np.sum(q[q > 0] * np.log(q[q > 0])))
    assert ms.effective_modes(task.base, task.valid) == pytest.approx(np.exp(H))
    assert 1 - 1e-12 <= ms.effective_modes(task.base, task.valid) <= task.valid.sum() + 1e-9
    assert ms.renyi_entropy(task.base, task.valid, order=1) == pytest.approx(H)
    assert ms.renyi_entropy(task.base, task.valid, order=2) == pytest.approx(
        -np.log(ms.simpson_index(task.base, task.valid))
    )
    assert ms.renyi_entropy(task.base, task.valid, order=np.inf) <= H + 1e-12
    assert ms.renyi_entropy(task.base, task.valid, order=0) == pytest.approx(np.log(task.valid.sum()))


def test_amplification_exponent():
    before = np.array([0.5, 0.3, 0.2])
    np.testing.assert_allclose(ms.amplification_exponent(before, before, [1, 1, 1]), 1.0)
    sq = before**2 / (before**2).sum()
    np.testing.assert_allclose(ms.amplification_exponent(before, sq, [1, 1, 1]), 2.0)
    sd = ms.sd_optimum(ms.make_task(before))
    assert ms.amplification_exponent(before, sd, [1, 1, 1]) > 1
    with pytest.raises(ValueError, match="at least two valid modes"):
        ms.amplification_exponent([0.5, 0.5], [0.5, 0.5], [1, 1])


def test_kl_to_rl_target_and_ratio_table():
    task = ms.make_task([0.5, 0.3, 0.2], [1, 1, 0])
    assert ms.kl_to_rl_target(ms.kl_regularised_optimum(task, 0.3), task) == pytest.approx(0, abs=1e-14)
    assert ms.kl_to_rl_target(ms.sd_optimum(task), task) > 0
    modes, R = ms.ratio_table([0.5, 0.3, 0.2], [1, 1, 0])
    assert modes.tolist() == [0, 1]
    np.testing.assert_allclose(R, [[1, 5 / 3], [0.6, 1]])
    _, R0 = ms.ratio_table([1.0, 0.0, 0.0], [1, 1, 1])
    assert not np.any(np.isnan(R0)) and np.isinf(R0[0, 1])


@given(policies())
def test_metrics_never_return_nan(p):
    valid = np.ones(p.size, bool)
    for value in (
        ms.pass_at_k(p, valid, [1, 10**6]),
        ms.expected_distinct(p, valid, 3),
        ms.entropy(p, valid),
        ms.simpson_index(p, valid),
    ):
        assert not np.any(np.isnan(value))


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: ms.pass_at_k([0.5, 0.5], [1, 0], 0), "k must hold finite positive integers"),
        (lambda: ms.pass_at_k([0.5, 0.5], [1, 0], np.inf), "k must hold finite positive integers"),
        (lambda: ms.pass_at_k([0.5, 0.5], [1, 0], 1, axis=1.5), "axis must name batch axes"),
        (lambda: ms.expected_distinct([0.5, 0.5], [1, 0], np.inf), "k must hold finite"),
        (lambda: ms.renyi_entropy([0.5, 0.5], order=None), "order must be a real number"),
        (lambda: ms.pass_at_k([0.5, 0.5], [1, 0], 1.5), "k must hold"),
        (lambda: ms.pass_at_k([0.5, 0.6], [1, 0], 1), "sum to 1"),
        (lambda: ms.conditional([1.0, 0.0], [0, 1]), "zero probability on the valid set"),
        (lambda: ms.renyi_entropy([0.5, 0.5], order=-1), "order must be"),
        (lambda: ms.ratio_table([[0.5, 0.5]], [1, 1]), "one policy"),
    ],
)
def test_bad_metric_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()


@pytest.mark.parametrize(
    "n, c, k, exact",
    [
        (10**6, 1, 1, Fraction(1, 10**6)),
        (10**7, 1, 1, Fraction(1, 10**7)),
        (10**9, 1, 1, Fraction(1, 10**9)),
        (10**6, 3, 2, 1 - Fraction(math.comb(10**6 - 3, 2), math.comb(10**6, 2))),
        (10**5, 200, 50, 1 - Fraction(math.comb(10**5 - 200, 50), math.comb(10**5, 50))),
    ],
)
def test_unbiased_estimator_keeps_relative_precision_for_large_n(n, c, k, exact):
    assert float(ms.pass_at_k_unbiased(n, c, k)) == pytest.approx(float(exact), rel=1e-10)


def test_unbiased_estimator_broadcasts_and_rejects_infinity():
    got = ms.pass_at_k_unbiased(np.array([10, 20, 30]), np.array([[1], [2]]), 3)
    exact = [[1 - math.comb(n - c, 3) / math.comb(n, 3) for n in (10, 20, 30)] for c in (1, 2)]
    np.testing.assert_allclose(got, exact, rtol=1e-12)
    with pytest.raises(ValueError, match="n must hold finite"):
        ms.pass_at_k_unbiased(np.inf, 1, 1)


def test_pass_at_k_axis_must_name_a_batch_axis():
    p = np.array([[0.5, 0.5], [0.2, 0.8], [0.9, 0.1]])
    np.testing.assert_allclose(ms.pass_at_k(p, [1, 0], [1, 2], axis=-1), ms.pass_at_k(p, [1, 0], [1, 2]).mean(0))
    with pytest.raises(ValueError, match="axis must name batch axes"):
        ms.pass_at_k([0.5, 0.5], [1, 0], [1, 2], axis=0)
    with pytest.raises(ValueError, match="axis must name batch axes"):
        ms.pass_at_k(p, [1, 0], [1, 2], axis=1)


def test_renyi_entropy_of_large_order_does_not_underflow():
    assert ms.renyi_entropy([0.5, 0.5], order=2000) == pytest.approx(np.log(2))


def test_kl_to_rl_target_when_base_valid_mass_underflows():
    task = ms.Task(np.array([-800.0, 0.0]), [True, False])
    assert ms.kl_to_rl_target(np.array([0.5, 0.5]), task) == pytest.approx(0.0, abs=1e-15)


# ----------------------------------------------------- issue 9 kinds 2, 6, 7 in metrics


def test_kl_to_rl_target_is_never_negative_and_zero_at_the_base():
    task = ms.make_task([0.6, 0.3, 0.1], valid=[1, 1, 0])
    assert ms.kl_to_rl_target(task.base, task) == 0.0
    traj = ms.iterate(ms.NaturalPG(1.0), task, 40, metrics=["kl_to_rl_target"])
    kl = traj.metrics["kl_to_rl_target"]
    assert np.all(kl >= 0.0) and np.all(kl < 1e-28)


def test_kl_to_rl_target_nearby_distributions_to_relative_precision():
    import mpmath as mp

    mp.mp.dps = 50
    task = ms.make_task([0.3, 0.7])
    p = np.array([0.3 + 1e-9, 0.7 - 1e-9])
    exact = sum(mp.mpf(a) * mp.log(mp.mpf(a) / mp.mpf(b)) for a, b in zip(p, [0.3, 0.7]))
    assert ms.kl_to_rl_target(p, task) == pytest.approx(float(exact), rel=1e-6)


def test_ratio_table_with_subnormal_entries_runs_clean():
    p = np.array([1.0 - 2e-310, 1e-310, 1e-310])
    modes, r = ms.ratio_table(p, [1, 1, 1])
    assert r[0, 1] == np.inf or r[0, 1] > 1e308
    assert r[1, 2] == pytest.approx(1.0)


@pytest.mark.parametrize("n, c, k", [(200, 37, 10), (10, 3, 5), (50, 50, 7), (10**6, 5, 3), (30, 0, 4), (9, 5, 5)])
def test_unbiased_pass_at_k_equals_exact_fractions(n, c, k):
    exact = 1 - Fraction(math.comb(n - c, k), math.comb(n, k))
    assert ms.pass_at_k_unbiased(n, c, k) == pytest.approx(float(exact), rel=1e-13)


def test_unbiased_pass_at_k_batched_equals_scalar_calls():
    rng = np.random.default_rng(0)
    n = rng.integers(1, 400, size=60)
    c = (rng.random(60) * (n + 1)).astype(int)
    k = np.minimum(rng.integers(1, 30, size=60), n)
    batched = ms.pass_at_k_unbiased(n, c, k)
    loop = [ms.pass_at_k_unbiased(int(a), int(b), int(d)) for a, b, d in zip(n, c, k)]
    np.testing.assert_allclose(batched, loop, rtol=1e-13)
    big = ms.pass_at_k_unbiased(np.array([200, 10**7]), np.array([37, 4 * 10**6]), 10)
    assert big.shape == (2,) and big[1] == pytest.approx(1 - 0.6**10, rel=1e-5)


@pytest.mark.parametrize("metric", [
    lambda p: ms.entropy(p), lambda p: ms.effective_modes(p) - 1, lambda p: ms.renyi_entropy(p, order=3.0),
])
def test_entropies_of_a_point_mass_are_plus_zero(metric):
    out = metric([1.0, 0.0, 0.0])
    assert out == 0.0 and not np.signbit(out)


def test_kl_divergence_refuses_different_numbers_of_modes():
    """K = 1 against K = 3 broadcasts in numpy; it is two different supports (docstring promise)."""
    with pytest.raises(ValueError, match="same K modes"):
        ms.kl_divergence([1.0], [0.2, 0.3, 0.5])


def test_unbiased_pass_at_k_batch_with_long_and_short_entries_equals_exact_fractions():
    """Entries with >= 4096 factors are summed on their own, the rest raggedly: both exact."""
    n = np.array([20000, 30, 9000, 200, 12000, 50])
    c = np.array([6000, 4, 8990, 37, 5, 50])            # c ≤ k and c > k, long and short
    k = np.array([5000, 3, 4500, 10, 6000, 7])
    got = ms.pass_at_k_unbiased(n, c, k)
    for i in range(n.size):
        a, b, d = int(n[i]), int(c[i]), int(k[i])
        exact = 1 - Fraction(math.comb(a - b, d), math.comb(a, d)) if a - b >= d else Fraction(1)
        assert got[i] == pytest.approx(float(exact), rel=1e-12), (a, b, d)


@pytest.mark.parametrize("order", [1 + 1e-15, 1 - 1e-15, 1 + 1e-10, 1 - 1e-7, 0.5, 0.75, 1.5, 2.0, 7.0, 1e308])
@pytest.mark.parametrize("p", [[0.5, 0.25, 0.25], [0.6, 0.3, 0.1], [0.875, 0.0625, 0.0625, 0.0]])
def test_renyi_entropy_near_order_one_against_mpmath(p, order):
    """log Σ q^a / (1 − a) divided round-off by 1 − a: 0.8 for 0.898 at a = 1 + 1e-15 (issue 9, kind 2)."""
    import mpmath

    mpmath.mp.dps = 60
    q = [mpmath.mpf(x) for x in p if x > 0]
    q = [x / sum(q) for x in q]                               # 0.6 + 0.3 + 0.1 is not 1 in floats
    a = mpmath.mpf(order)
    want = mpmath.log(sum(x ** a for x in q)) / (1 - a)
    got = ms.renyi_entropy(p, order=order)
    assert float(got) == pytest.approx(float(want), rel=2e-14)


def test_the_plain_renyi_formula_is_the_broken_control():
    lq = np.log([0.6, 0.3, 0.1])
    plain = np.log(np.exp((1 + 1e-15) * lq).sum()) / -1e-15
    assert abs(plain - 0.8979457248567797) > 0.05            # what renyi_entropy returned before
