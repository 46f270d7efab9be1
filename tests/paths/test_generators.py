"""Seeded graph generators and the out-of-distribution splits (theory §5, §7)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modesim import paths

from .path_reference import path_probs


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 6), st.integers(2, 9), st.integers(2, 4), st.data())
def test_layered_dag_has_exactly_n_paths_valid_paths(layers, width, degree, data):
    n_paths = data.draw(st.integers(1, min(width - 1, degree ** layers)))
    spec = paths.LayeredDAG(n_layers=layers, width=width, n_paths=n_paths, out_degree=degree)
    task = spec.build(data.draw(st.integers(0, 2**32 - 1)))
    assert paths.count_paths(task.graph) == n_paths
    assert task.graph.n_nodes == 2 + layers * width
    assert np.all(task.graph.out_degree[~task.graph.goal & ~task.graph.dead_end] <= degree)


def test_generators_are_seeded_and_scale():
    spec = paths.LayeredDAG()
    a, b = spec.build(5), spec.build(np.random.default_rng(5))
    np.testing.assert_array_equal(a.log_base, b.log_base)
    big = spec.larger(2).build(5)
    assert big.graph.n_nodes > 3 * a.graph.n_nodes
    assert paths.count_paths(big.graph) == 2 * spec.n_paths
    c = paths.ConceptGraph().build(0)
    assert paths.success_probability(c.base, c) > 0
    assert paths.ConceptGraph().larger(3).build(0).graph.n_nodes == 90
    biased = paths.LayeredDAG(bias=3.0).build(0)
    _, P, valid = path_probs(biased.graph, biased.base)
    assert P[valid].max() / P[valid].sum() > 0.8


def test_harder_blocks_the_most_probable_valid_path():
    task = paths.harder(paths.LayeredDAG().build(0))
    best = paths.most_probable_path(task.base, task)
    blocked = task.ood["harder"]
    assert blocked.sum() == 1 and blocked[task.graph.path_edges(best)[-1]]
    assert 0 < paths.count_paths(task.graph, blocked=blocked) < paths.count_paths(task.graph)


@pytest.mark.parametrize(
    "build, match",
    [
        (lambda: paths.LayeredDAG(width=4, n_paths=4), r"n_paths must be <= width - 1 = 3; got 4"),
        (lambda: paths.LayeredDAG(leak=1.0), r"leak must be in \[0, 1\); got 1.0"),
        (lambda: paths.LayeredDAG(bias=None), r"bias must be a real number .*got None"),
        (lambda: paths.LayeredDAG(bias=-1.0), r"bias must be a finite number >= 0; got -1.0"),
        (lambda: paths.LayeredDAG(n_layers=2.0), r"n_layers must be an integer; got 2.0"),
        (lambda: paths.LayeredDAG().build("x"), r"seed must be None, a non-negative integer"),
        (lambda: paths.LayeredDAG().larger(None), r"factor must be a real number"),
        (lambda: paths.ConceptGraph(dead_end_frac=1.5), r"dead_end_frac must be in \[0, 1\); got 1.5"),
        (lambda: paths.ConceptGraph().build(0, max_tries=1.5), r"max_tries must be an integer; got 1.5"),
        (lambda: paths.ConceptGraph().build(0, max_tries=0), r"max_tries must be an integer >= 1; got 0"),
        (lambda: paths.ConceptGraph(n_concepts=30, dead_end_frac=0.99).build(0, max_tries=2), r"max_tries=2 draws"),
        (lambda: paths.ConceptGraph(popularity=1e300),
         r"popularity must be in \[0, 205\.81\] for n_concepts=30 .*; got 1e\+300"),
        (lambda: paths.ConceptGraph(popularity=-1.0), r"popularity must be a finite number >= 0; got -1.0"),
        (lambda: paths.ConceptGraph(popularity=float("inf")), r"popularity must be a finite number >= 0; got inf"),
        (lambda: paths.ConceptGraph(popularity=200.0).larger(2), r"popularity must be in \[0, 170\.968\] for n_concepts=60"),
        (lambda: paths.harder(paths.LayeredDAG().build(0), n_edges=0), r"n_edges must be an integer >= 1; got 0"),
        (lambda: paths.harder(paths.LayeredDAG(n_paths=1, width=2).build(0)), r"leaves no valid path"),
    ],
)
def test_bad_generator_arguments_are_named(build, match):
    with pytest.raises(ValueError, match=match):
        build()


def test_concept_graph_popularity_up_to_its_bound_builds_a_valid_task():
    """At the largest allowed exponent the least popular concept's weight n^(−popularity) is
    still a normal float, so every concept keeps a positive base probability."""
    for n in (3, 30, 200):
        top = 700.0 / np.log(n)
        task = paths.ConceptGraph(n, popularity=top).build(0)
        assert np.all(task.base > 0) and np.all(np.isfinite(task.log_base))
        assert paths.success_probability(task.base, task) > 0
