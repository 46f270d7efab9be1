"""Sampled rollouts (theory §4, §5): unbiased estimators against exact DP values."""

import numpy as np
import pytest

from modesim import paths


def test_sampling_estimators_match_exact_values():
    task = paths.harder(paths.LayeredDAG(n_layers=5, width=6, n_paths=5, bias=0.5, leak=0.3).build(3))
    p = task.base
    r = paths.sample_paths(p, task, 40_000, seed=1)
    assert r.nodes.shape[0] == 40_000
    ks = np.array([1, 4])
    # Binomial standard errors at n = 40,000 are below 0.0025: the bounds are > 8 sigma.
    for ood in (None, "harder"):
        np.testing.assert_allclose(r.pass_at_k(ks, ood=ood), paths.path_pass_at_k(p, task, ks, ood=ood), atol=0.02)
        np.testing.assert_allclose(r.distinct_paths(ks, ood=ood),
                                   paths.expected_distinct_paths(p, task, ks, ood=ood), rtol=0.03, atol=0.01)
    np.testing.assert_allclose(r.distinct_concepts(ks), paths.expected_distinct_concepts(p, task, ks), rtol=0.02)
    np.testing.assert_allclose(r.distinct_concepts(ks, valid_only=True),
                               paths.expected_distinct_concepts(p, task, ks, valid_only=True), rtol=0.03)
    freq = np.bincount(r.edges[r.edges >= 0], minlength=task.graph.n_edges) / r.n
    np.testing.assert_allclose(freq, paths.edge_marginals(p, task), atol=0.01)
    again = paths.sample_paths(p, task, 40_000, seed=np.random.default_rng(1))
    np.testing.assert_array_equal(again.nodes, r.nodes)


def test_sampling_never_takes_a_zero_probability_edge():
    task = paths.LayeredDAG().build(2)
    filtered = paths.path_kl_regularised_optimum(task, 0.0)
    r = paths.sample_paths(filtered, task, 5000, seed=0)
    assert r.valid().all()
    assert np.all(filtered[r.edges[r.edges >= 0]] > 0)


def test_bad_sampling_arguments_are_named():
    g = paths.PathGraph.from_edges([(0, 1), (0, 2)], 0, 1)
    task = paths.path_task(g)
    with pytest.raises(ValueError, match="n must be an integer >= 1; got 0"):
        paths.sample_paths(task.base, task, 0)
    with pytest.raises(ValueError, match="seed must be None, a non-negative integer"):
        paths.sample_paths(task.base, task, 5, seed="x")
    with pytest.raises(ValueError, match=r"one policy of shape \(2,\)"):
        paths.sample_paths(np.full((2, 2), 0.5), task, 5)
    with pytest.raises(ValueError, match=r"unbatched task; got batch shape \(2,\)"):
        paths.sample_paths(task.base, paths.path_task(g, np.ones((2, 2))), 5)
    r = paths.sample_paths(task.base, task, 5, seed=0)
    with pytest.raises(ValueError, match="k must be <= n = 5"):
        r.pass_at_k(6)
    with pytest.raises(ValueError, match="k must hold finite positive integers"):
        r.distinct_paths(np.inf)
