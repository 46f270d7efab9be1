"""Log-space arithmetic (theory §1, §12) against mpmath at 50 digits."""

import mpmath as mp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modesim.simplex import kl_terms, log_complement, log_normalise, logsumexp_last

mp.mp.dps = 50


def _kl_term_reference(lq, lp):
    q = mp.e ** mp.mpf(lq) if np.isfinite(lq) else mp.mpf(0)
    p = mp.e ** mp.mpf(lp) if np.isfinite(lp) else mp.mpf(0)
    if q == 0:
        return p
    if p == 0:
        return mp.inf
    return q * mp.log(q / p) - q + p


@pytest.mark.parametrize(
    "lq, lp",
    [
        (np.log(0.3), np.log(0.3) + 1e-9),  # two distributions 1e-9 apart
        (np.log(0.3), np.log(0.3) - 1e-13),
        (0.0, -700.0),  # tiny reference: no overflow
        (-700.0, 0.0),
        (-1.0, -1.6),
        (-1.0, -0.4),
        (-1.0, -1.5),  # at the switch between series and closed form
        (-np.inf, -2.0),
    ],
)
def test_kl_terms_match_mpmath_to_relative_precision(lq, lp):
    got = float(kl_terms(np.array(lq), np.array(lp)))
    ref = float(_kl_term_reference(lq, lp))
    assert got >= 0.0
    assert got == pytest.approx(ref, rel=1e-13, abs=0.0)


def test_kl_terms_are_zero_for_equal_inputs_and_inf_off_support():
    lq = np.log([0.6, 0.3, 0.1, 0.0 + 1e-300])
    assert np.all(kl_terms(lq, lq) == 0.0)
    assert kl_terms(np.array(-1.0), np.array(-np.inf)) == np.inf
    assert kl_terms(np.array(-np.inf), np.array(-np.inf)) == 0.0


def test_naive_kl_formula_loses_what_kl_terms_keeps():
    """The example of issue 9 kind 2: 1e-9 apart, the naive Σ q log(q/p) is off by orders."""
    q = np.array([0.3, 0.7])
    p = q + np.array([1e-9, -1e-9])
    exact = sum(_kl_term_reference(np.log(a), np.log(b)) for a, b in zip(q, p))
    naive = float(np.sum(q * np.log(q / p)))
    ours = float(kl_terms(np.log(q), np.log(p)).sum())
    assert ours == pytest.approx(float(exact), rel=1e-6)
    assert abs(naive - float(exact)) > 100 * abs(ours - float(exact))


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(-800, 0), min_size=2, max_size=6))
def test_log_complement_matches_mpmath(raw):
    lp = log_normalise(np.array(raw))
    got = log_complement(lp)
    ps = [mp.e ** mp.mpf(x) for x in lp]
    top = int(np.argmax(lp))
    for i, g in enumerate(got):
        # The largest mode (if above 1/2) uses the others' mass, the rest log(1 − p).
        if i == top and ps[i] > 0.5:
            others = mp.fsum(ps[:i] + ps[i + 1:])
            ref = mp.log(others) if others > 0 else -mp.inf
        else:
            ref = mp.log(1 - ps[i])
        if ref == -mp.inf:
            assert g == -np.inf
        else:
            assert g == pytest.approx(float(ref), rel=1e-12, abs=1e-15)


def test_log_complement_keeps_the_complement_of_a_mode_at_the_vertex():
    lp = np.array([3.9e-31, -80.0, -90.0])  # normalised only to round-off
    ref = float(mp.log(mp.e ** -80 + mp.e ** -90))
    assert log_complement(lp)[0] == pytest.approx(ref, rel=1e-14)


def test_log_normalise_is_clamped_at_zero():
    out = log_normalise(np.array([1e-17, -80.0, -90.0]))
    assert out.max() <= 0.0
    assert logsumexp_last(out) == pytest.approx(0.0, abs=1e-15)


def test_logsumexp_large_rows_in_blocks_matches_direct():
    x = np.random.default_rng(0).normal(size=(2, 300_000))
    np.testing.assert_allclose(logsumexp_last(x), np.log(np.exp(x).sum(-1)), rtol=1e-13)
    assert np.isneginf(logsumexp_last(np.full((1, 300_000), -np.inf)))[0]


def test_normalisers_lose_nothing_to_large_logits():
    """Logits near 600 (a sampled step with lr = 1e3): ``x − (m + log Σ exp(x − m))`` would lose
    an ulp of 600 (1e-13) on every entry; the normalisers subtract in two steps (or only when
    the log-sum is small) and match mpmath at 40 digits to a few ulp.  This failed at 1.7e-13."""
    import mpmath as mp

    from modesim.paths import PathGraph, normalise_nodes
    from modesim.paths.features import normalise_nodes_rowwise
    from modesim.sampled.sampling import normalise_rows
    from modesim.simplex import log_normalise

    mp.mp.dps = 40
    x = np.array([600.0, 599.25, 598.5, 560.0])
    lse = mp.log(mp.fsum(mp.exp(mp.mpf(float(u))) for u in x))   # the float inputs exactly
    ref = np.array([float(mp.mpf(float(v)) - lse) for v in x])
    for got in (log_normalise(x), normalise_rows(x[None].copy())[0]):
        np.testing.assert_allclose(got, ref, rtol=0, atol=4e-16)
        assert abs(float(np.exp(got).sum()) - 1.0) <= 4.5e-16
    g = PathGraph.from_edges([(0, 1), (0, 2), (0, 3), (0, 4), (1, 5), (2, 5), (3, 5), (4, 5)], 0, [5])
    edge = np.concatenate([x, np.zeros(4)])
    for got in (normalise_nodes(g, edge), normalise_nodes_rowwise(g, edge[None])[0]):
        np.testing.assert_allclose(got[:4], ref, rtol=0, atol=4e-16)

