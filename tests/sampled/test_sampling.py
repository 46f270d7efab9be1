"""modesim.sampled.sampling: per-entry random streams, inverse-CDF sampling, gradient kernels.

Statistical checks are deterministic (fixed keys) and compare a chi-square statistic with
its 1 − 1e-6 quantile; each is shown to fail on a deliberately poor stream.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

import modesim as ms
from modesim.sampled import sampling as S
from modesim.sampled.sampling import (
    all_true,
    count_true,
    entry_keys,
    inverse_cdf,
    kl_logit_grad,
    normalise_rows,
    root_key,
    round_uniforms,
    sample_modes,
    score_mean,
    take,
)
from modesim.simplex import log_normalise

P_REJECT = 1e-6


def chi2_ok(observed, expected):
    """(statistic below the 1 − P_REJECT quantile, statistic) for counts against expectations."""
    stat = float(np.sum((observed - expected) ** 2 / expected))
    return stat < stats.chi2.isf(P_REJECT, observed.size - 1), stat


# ------------------------------------------------------------------ streams


def test_keys_depend_only_on_root_and_global_index():
    root = root_key(7)
    full = entry_keys(root, (6, 5))
    assert full.dtype == np.uint64 and full.shape == (6, 5)
    assert np.unique(full).size == 30
    np.testing.assert_array_equal(entry_keys(root, (2, 3), offset=(3, 1)), full[3:5, 1:4])
    assert not np.array_equal(entry_keys(root_key(8), (6, 5)), full)
    assert entry_keys(root, ()).shape == ()


def test_root_key_from_seeds_and_generators():
    assert root_key(3) == root_key(3) != root_key(4)
    g1, g2 = np.random.default_rng(5), np.random.default_rng(5)
    assert root_key(g1) == root_key(g2)
    assert root_key(g1) != root_key(np.random.default_rng(6))
    for bad in ("x", 1.5, -1, True):
        with pytest.raises(ValueError, match="seed must be None, a non-negative integer"):
            root_key(bad)


def test_offset_is_checked():
    with pytest.raises(ValueError, match="offset must be a tuple of 2"):
        entry_keys(1, (2, 3), offset=(1,))
    with pytest.raises(ValueError, match=r"offset\[0\] must be an integer >= 0; got -1"):
        entry_keys(1, (2, 3), offset=(-1, 0))


def test_round_uniforms_are_a_pure_function_of_key_round_and_draw():
    keys = entry_keys(root_key(0), (50,))
    u = round_uniforms(keys, 3, 12)
    assert u.shape == (50, 12) and np.all((u >= 0.0) & (u < 1.0))
    np.testing.assert_array_equal(u, round_uniforms(keys, 3, 12))
    np.testing.assert_array_equal(u[7:9], round_uniforms(keys[7:9], 3, 12))
    np.testing.assert_array_equal(u[:, :5], round_uniforms(keys, 3, 5))  # draw j does not depend on n
    assert not np.any(u == round_uniforms(keys, 4, 12))


def _pair_counts(u, bins):
    a = np.floor(u[..., :-1] * bins).astype(int).ravel()
    b = np.floor(u[..., 1:] * bins).astype(int).ravel()
    return np.bincount(a * bins + b, minlength=bins * bins)


def test_streams_are_uniform_and_pairwise_independent():
    keys = entry_keys(root_key(123), (2000, 3))
    u = np.stack([round_uniforms(keys, t, 16) for t in range(20)])  # 1.92 million draws
    ok, stat = chi2_ok(np.bincount(np.floor(u.ravel() * 256).astype(int), minlength=256), u.size / 256)
    assert ok, stat
    # Consecutive draws of one entry, the same draw of neighbouring entries, of consecutive rounds.
    for pairs in (u, np.moveaxis(u, 2, 1), np.moveaxis(u, 0, -1)):
        counts = _pair_counts(pairs, 16)
        ok, stat = chi2_ok(counts, counts.sum() / 256)
        assert ok, stat


def test_pair_check_rejects_an_unmixed_weyl_stream():
    # Negative control: s + (j+1)·γ without the finaliser is equidistributed but its
    # consecutive draws lie on a few lines.
    s = entry_keys(root_key(123), (2000,))
    z = s[:, None] + S._draw_steps(16)
    u = (z >> np.uint64(11)).astype(np.float64) * 2.0**-53
    counts = _pair_counts(u, 16)
    ok, stat = chi2_ok(counts, counts.sum() / 256)
    assert not ok and stat > 1e4


# ------------------------------------------------------------------ sampling


def test_inverse_cdf_draws_follow_the_policy_and_never_a_zero_mode():
    p = np.array([0.0, 0.5, 0.0, 0.2, 0.3, 0.0])
    rows = 20_000
    u = round_uniforms(entry_keys(root_key(1), (rows,)), 0, 50)
    y = inverse_cdf(np.broadcast_to(p, (rows, 6)), u)
    counts = np.bincount(y.ravel(), minlength=6)
    assert counts[[0, 2, 5]].sum() == 0
    ok, stat = chi2_ok(counts[[1, 3, 4]], y.size * p[[1, 3, 4]])
    assert ok, stat


def test_inverse_cdf_check_rejects_a_shifted_sampler():
    p = np.array([0.5, 0.2, 0.3])
    u = round_uniforms(entry_keys(root_key(1), (20_000,)), 0, 50)
    y = np.minimum(inverse_cdf(np.broadcast_to(p, (20_000, 3)), np.minimum(u + 0.01, 0.999)), 2)
    ok, _ = chi2_ok(np.bincount(y.ravel(), minlength=3), y.size * p)
    assert not ok


@settings(max_examples=60, deadline=None)
@given(
    K=st.integers(1, 80),
    zeros=st.lists(st.booleans(), min_size=80, max_size=80),
    seed=st.integers(0, 2**32 - 1),
    scale=st.floats(1e-300, 1e300),
)
def test_mask_count_and_binary_search_agree_and_match_the_definition(K, zeros, seed, scale):
    rng = np.random.default_rng(seed)
    p = rng.random((5, K)) ** 3 * np.where(np.array(zeros[:K]), 0.0, 1.0)
    p[:, rng.integers(K)] += 0.1
    p *= scale  # rows need not be normalised
    u = rng.random((5, 7))
    u[0, :3] = [0.0, 1.0 - 2.0**-53, 0.5]
    cdf = np.cumsum(p, axis=-1)
    thr = cdf[:, :-1] / cdf[:, -1:]
    on = thr[1, : min(7, K - 1)]
    u[1, : on.size] = np.where(on < 1.0, on, 0.5)  # draws exactly on a threshold (u < 1 always)
    expected = (u[..., :, None] >= thr[..., None, :]).sum(-1)
    fast = inverse_cdf(p, u)
    old = S.MASK_K
    try:
        S.MASK_K = 0  # force the binary search
        searched = inverse_cdf(p, u)
    finally:
        S.MASK_K = old
    np.testing.assert_array_equal(fast, expected)
    np.testing.assert_array_equal(searched, expected)
    assert np.all(p[np.arange(5)[:, None], fast] > 0)


@given(mask=st.lists(st.booleans(), min_size=1, max_size=40), rows=st.integers(1, 4))
def test_popcount_counts_equal_sums(mask, rows):
    m = np.array([np.roll(mask, r) for r in range(rows)])
    np.testing.assert_array_equal(count_true(m), m.sum(-1))
    np.testing.assert_array_equal(all_true(m), m.all(-1))


def test_take_reads_rows_like_take_along_axis():
    rng = np.random.default_rng(0)
    x = rng.random((3, 4, 5))
    idx = rng.integers(0, 5, (3, 4, 6))
    np.testing.assert_array_equal(take(x, idx), np.take_along_axis(x, idx, axis=-1))
    shared = np.broadcast_to(rng.random(5), (3, 4, 5))
    np.testing.assert_array_equal(take(shared, idx), np.take_along_axis(shared, idx, axis=-1))
    np.testing.assert_array_equal(take(x[:, :1], idx), np.take_along_axis(np.broadcast_to(x[:, :1], (3, 4, 5)), idx, -1))


def test_sample_modes_frequencies_and_zero_modes():
    y = sample_modes(np.log([0.25, 0.75]), 40_000, 0)
    assert y.shape == (40_000,)
    ok, stat = chi2_ok(np.bincount(y, minlength=2), 40_000 * np.array([0.25, 0.75]))
    assert ok, stat
    assert sample_modes([-np.inf, 0.0, -np.inf], 3, np.random.default_rng(1)).tolist() == [1, 1, 1]
    # A log-policy normalised only to round-off (largest entry +1e-17) is accepted (issue 9 kind 1).
    assert sample_modes(np.array([1e-17, -80.0, -90.0]), 5, 0).tolist() == [0] * 5


@pytest.mark.parametrize(
    "args, match",
    [
        (([np.nan, 0.0], 2, 0), r"log_policy must not contain NaN"),
        (([-np.inf, -np.inf], 2, 0), r"log_policy has a row with no positive probability"),
        ((np.log([0.5, 0.2]), 2, 0), r"log_policy must be normalised"),
        ((np.log([0.5, 0.5]), 2, None), r"rng must be a numpy.random.Generator .* got None"),
        ((np.log([0.5, 0.5]), 2, "x"), r"rng must be None, a non-negative integer or a numpy.random.Generator; got 'x'"),
        ((np.log([0.5, 0.5]), 0, 0), r"n must be an integer >= 1; got 0"),
        ((np.log([0.5, 0.5]), 2.5, 0), r"n must be an integer; got 2.5"),
        (("abc", 2, 0), r"log_policy must be an array of log-probabilities"),
    ],
)
def test_sample_modes_rejects_bad_input_by_name(args, match):
    with pytest.raises(ValueError, match=match):
        sample_modes(*args)


# ------------------------------------------------------------------ kernels


def test_normalise_rows_decides_each_row_alone():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, 6)) * 3
    alone = normalise_rows(x[1:].copy())
    x[0] = 1000.0 + rng.normal(size=6)  # this row needs the shifted path
    out = normalise_rows(x.copy())
    np.testing.assert_array_equal(out[1:], alone)
    np.testing.assert_allclose(out, log_normalise(x), atol=2e-15, rtol=0)
    assert np.all(out <= 0.0)
    x[2, 3] = -np.inf
    assert np.isneginf(normalise_rows(x.copy())[2, 3])


def test_kl_logit_grad_is_the_gradient_of_kl():
    rng = np.random.default_rng(1)
    theta = rng.normal(size=5)
    log_q = np.log(rng.dirichlet(np.ones(5)))

    def kl(t):
        lp = log_normalise(t)
        return float(np.sum(np.exp(lp) * (lp - log_q)))

    h = 1e-6
    numeric = np.array([(kl(theta + h * e) - kl(theta - h * e)) / (2 * h) for e in np.eye(5)])
    lp = log_normalise(theta)
    np.testing.assert_allclose(kl_logit_grad(lp, log_q), numeric, atol=1e-8)
    np.testing.assert_allclose(kl_logit_grad(lp, log_q + 3.0), kl_logit_grad(lp, log_q), atol=1e-15)
    dead = np.array([0.0, -np.inf, -np.inf])
    np.testing.assert_array_equal(kl_logit_grad(dead, np.log([0.5, 0.5, 1e-300])), [0.0, 0.0, 0.0])


def test_score_mean_is_the_one_hot_average():
    rng = np.random.default_rng(2)
    pi = rng.dirichlet(np.ones(4), size=3)
    y = rng.integers(0, 4, (3, 5))
    w = rng.normal(size=(3, 5))
    expected = np.mean(w[..., None] * (np.eye(4)[y] - pi[:, None, :]), axis=1)
    np.testing.assert_allclose(score_mean(y, w, pi), expected, atol=1e-15)


def test_module_docstring_contract_is_reexported():
    assert ms.sample_modes is sample_modes
