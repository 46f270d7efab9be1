"""DP kernels (theory §5.1) against brute-force enumeration, batched against scalar loops."""

import mpmath as mp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modesim import paths
from modesim.paths import dp
from modesim.paths.testing import path_tasks

from .path_reference import LOG, node_softmax, node_sums, path_probs


@settings(max_examples=80, deadline=None)
@given(path_tasks(with_ood=False), st.floats(-3.0, 3.0))
def test_soft_bellman_policy_is_the_normalised_sequence_target(task, scale):
    """normalise_paths(s, leaf) is π(path) ∝ exp(Σ s + leaf(end)): checked on every rollout."""
    g = task.graph
    rng = np.random.default_rng(0)
    score = scale * rng.standard_normal(g.n_edges)
    leaf = rng.standard_normal(g.n_nodes)
    lp = paths.normalise_paths(g, score, leaf)
    rs, P, _ = path_probs(g, np.exp(lp))
    raw = np.array([score[list(es)].sum() + leaf[ns[-1]] for ns, es in rs])
    np.testing.assert_allclose(P, np.exp(raw - np.logaddexp.reduce(raw)), atol=1e-12)
    np.testing.assert_allclose(node_sums(g, np.exp(lp)), 1.0, atol=1e-14)


@settings(max_examples=60, deadline=None)
@given(path_tasks(with_ood=False))
def test_forward_marginals_and_success_equal_enumeration(task):
    g = task.graph
    rs, P, valid = path_probs(g, task.base)
    visit = np.array([sum(p for (ns, _), p in zip(rs, P) if u in ns) for u in range(g.n_nodes)])
    np.testing.assert_allclose(np.exp(paths.forward(g, task.log_base)), visit, atol=1e-12)
    S = np.exp(paths.log_success(g, task.log_base))
    assert S[g.start] == pytest.approx(P[valid].sum(), abs=1e-12)
    take = np.array([sum(p for (_, es), p in zip(rs, P) if e in es) for e in range(g.n_edges)])
    np.testing.assert_allclose(np.exp(paths.edge_log_marginals(g, task.log_base)), take, atol=1e-12)


def batched_graph():
    g = paths.PathGraph.from_edges([(0, 1), (0, 2), (0, 3), (2, 1), (2, 4), (3, 4), (3, 5), (4, 1), (4, 5)], 0, 1)
    rng = np.random.default_rng(3)
    w = rng.random((2, 3, g.n_edges)) + 0.05
    w[0, 1, 1] = 0.0  # a zero edge in one batch entry
    return g, paths.path_task(g, w)


def test_batched_kernels_equal_a_loop_over_batch_entries():
    """Every kernel on a (2, 3, E) batch equals the same kernel on each (E,) entry (1e-12)."""
    g, task = batched_graph()
    lp = task.log_base
    rng = np.random.default_rng(4)
    leaf = rng.standard_normal((2, 3, g.n_nodes))
    score = rng.standard_normal((2, 3, g.n_edges)) * 5
    blocked = np.zeros(g.n_edges, dtype=bool)
    blocked[3] = True
    outs = {
        "forward": paths.forward(g, lp),
        "success": paths.log_success(g, lp, blocked),
        "paths": paths.normalise_paths(g, score, leaf),
        "nodes": paths.normalise_nodes(g, score),
        "viterbi": paths.backward(g, score, leaf, reduce="max"),
        "absorb": paths.backward(g, lp, leaf, absorb=blocked),
    }
    for i in range(2):
        for j in range(3):
            one = {
                "forward": paths.forward(g, lp[i, j]),
                "success": paths.log_success(g, lp[i, j], blocked),
                "paths": paths.normalise_paths(g, score[i, j], leaf[i, j]),
                "nodes": paths.normalise_nodes(g, score[i, j]),
                "viterbi": paths.backward(g, score[i, j], leaf[i, j], reduce="max"),
                "absorb": paths.backward(g, lp[i, j], leaf[i, j], absorb=blocked),
            }
            for key, value in one.items():
                np.testing.assert_allclose(outs[key][i, j], value, rtol=1e-12, atol=1e-12, err_msg=key)


def test_normalisation_holds_to_round_off_for_huge_values():
    """Theory §5.1: a local softmax, so nodes sum to 1 whatever the magnitude of V (issue 9,
    kind 2); children with equal huge values keep their exact base ratio."""
    g = paths.PathGraph.from_edges([(0, 1), (0, 2), (2, 3), (2, 4)], 0, 1)
    t = paths.path_task(g, [1, 1, 0.3, 0.7])
    for penalty in (-1e12, -1e300, -800.0):
        leaf = np.where(g.goal, 0.0, penalty)
        p = np.exp(paths.normalise_paths(g, t.log_base, leaf))
        np.testing.assert_allclose(node_sums(g, p), 1.0, atol=1e-15)
        assert p[2] / p[3] == pytest.approx(0.3 / 0.7, rel=1e-15)


def test_deep_chain_values_below_the_float_range_are_exact():
    """The slow path: success probability 0.5^1200 (below 1e-308) keeps its log exactly."""
    n = 1200
    edges = [(i, i + 1) for i in range(n)] + [(i, n + 1 + i) for i in range(n)]
    g = paths.PathGraph.from_edges(edges, 0, n)
    t = paths.path_task(g)
    lS = paths.log_success(g, t.log_base)[0]
    assert lS == pytest.approx(float(n * mp.log(mp.mpf(0.5))), rel=1e-13)
    lmu = paths.forward(g, t.log_base)[n]
    assert lmu == pytest.approx(lS, rel=1e-13)


def test_kernels_accept_log_policies_normalised_only_to_round_off():
    """Issue 9, kind 1: entries a few ulp above 0 give the same results as exact ones."""
    g, task = batched_graph()
    lp = task.log_base[0, 0]
    bumped = np.where(lp == 0.0, 1e-16, lp + 1e-16 * np.abs(lp))
    for a, b in [(paths.forward(g, lp), paths.forward(g, bumped)),
                 (paths.log_success(g, lp), paths.log_success(g, bumped)),
                 (paths.normalise_paths(g, lp, g.log_goal), paths.normalise_paths(g, bumped, g.log_goal)),
                 (paths.normalise_nodes(g, lp), paths.normalise_nodes(g, bumped))]:
        assert np.all(np.isfinite(a) == np.isfinite(b))
        np.testing.assert_allclose(np.exp(a), np.exp(b), atol=1e-14)
        assert not np.any(np.isnan(b))


def test_normalise_nodes_is_a_per_node_softmax_and_dead_nodes_become_uniform():
    g, _ = batched_graph()
    x = np.random.default_rng(5).standard_normal(g.n_edges) * 50
    np.testing.assert_allclose(paths.normalise_nodes(g, x), node_softmax(g, x), atol=1e-13)
    x[g.out_start[2]:g.out_start[2] + 2] = -np.inf  # node 2: no mass at all
    out = paths.normalise_nodes(g, x)
    np.testing.assert_allclose(out[g.out_start[2]:g.out_start[2] + 2], np.log(0.5))
    assert np.all(out <= 0.0)


def test_segment_logsumexp_handles_empty_and_extreme_segments():
    x = np.array([-np.inf, -np.inf, -1000.0, -1001.0, 800.0, 799.0, 0.0])
    out = dp.segment_logsumexp(x, np.array([0, 2, 4, 6]))
    expect = [-np.inf, -1000 + np.log1p(np.exp(-1)), 800 + np.log1p(np.exp(-1)), 0.0]
    np.testing.assert_allclose(out, expect, rtol=1e-15)


def test_dead_nodes_get_a_uniform_policy_without_nan():
    g = paths.PathGraph.from_edges([(0, 1), (0, 2), (2, 3), (2, 4)], 0, 1)
    lp = paths.normalise_paths(g, np.zeros(4), g.log_goal)
    np.testing.assert_allclose(np.exp(lp), [1.0, 0.0, 0.5, 0.5])
    with pytest.raises(ValueError, match="no rollout"):
        paths.normalise_paths(g, LOG([0, 1, 1, 1]), g.log_goal, what="no rollout")
