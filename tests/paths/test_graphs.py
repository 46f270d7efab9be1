"""Graphs and path tasks (theory §5): builders, edge order, validation, batching, pickling."""

import pickle

import networkx as nx
import numpy as np
import pytest

from modesim import paths

from .path_reference import LOG, node_sums


def test_builders_agree_and_networkx_labels_survive():
    edges = [(0, 1), (0, 2), (1, 3), (2, 3), (2, 4)]
    a = paths.PathGraph.from_edges(edges, 0, 3)
    A = np.zeros((5, 5))
    for u, v in edges:
        A[u, v] = 1
    b = paths.PathGraph.from_adjacency(A, 0, 3)
    G = nx.DiGraph([(f"n{u}", f"n{v}") for u, v in edges])
    c = paths.PathGraph.from_networkx(G, "n0", "n3")
    np.testing.assert_array_equal(b.src, a.src)
    np.testing.assert_array_equal(b.dst, a.dst)
    assert [(c.labels[u], c.labels[v]) for u, v in zip(c.src, c.dst)] == \
        [(f"n{u}", f"n{v}") for u, v in zip(a.src, a.dst)]
    t = paths.path_task(c, {(f"n{u}", f"n{v}"): 1.0 + u + v for u, v in edges})
    np.testing.assert_allclose(t.base, paths.path_task(a, 1.0 + A * (np.arange(5)[:, None] + np.arange(5))).base)
    assert a.dead_end.tolist() == [False, False, False, False, True]


def test_edges_are_grouped_by_layer_then_source():
    g = paths.PathGraph.from_edges([(3, 4), (0, 2), (2, 3), (0, 1), (2, 4), (1, 4)], 0, 4)
    assert np.all(np.diff(g.layer[g.src]) >= 0)
    for u in range(g.n_nodes):
        lo, d = g.out_start[u], g.out_degree[u]
        assert np.all(g.src[lo:lo + d] == u)
    np.testing.assert_array_equal(g.out_nodes, g.src[g.out_offsets])
    np.testing.assert_array_equal(g.in_src, g.src[g.in_edges])
    assert np.all(g.layer[g.src] < g.layer[g.dst])
    assert not g.src.flags.writeable


def test_path_task_normalises_per_node_and_supports_batches():
    g = paths.PathGraph.from_edges([(0, 1), (0, 2), (2, 3), (2, 1)], 0, [1, 3])
    t = paths.path_task(g, [[1, 3, 1, 1], [2, 2, 0, 5]])
    assert t.batch_shape == (2,)
    # Weights are read in the graph's edge order: (0, 1), (0, 2), (2, 1), (2, 3).
    assert list(zip(g.src.tolist(), g.dst.tolist())) == [(0, 1), (0, 2), (2, 1), (2, 3)]
    np.testing.assert_allclose(t.base, [[1 / 4, 3 / 4, 1 / 2, 1 / 2], [2 / 4, 2 / 4, 0, 1]], rtol=1e-15)
    np.testing.assert_allclose(node_sums(g, t.base), 1.0, atol=1e-15)
    assert "batch_shape=(2,)" in repr(t)


def test_log_policy_of_validates_once_and_renormalises_off_by_round_off():
    g = paths.PathGraph.from_edges([(0, 1), (0, 2), (1, 3), (2, 3), (2, 4)], 0, 3)
    task = paths.path_task(g)
    p = np.array([0.5, 0.5 + 1e-9, 1.0, 0.5, 0.5])
    lp = task.log_policy_of(p)
    np.testing.assert_allclose(node_sums(g, np.exp(lp)), 1.0, atol=1e-15)
    exact = np.array([0.5, 0.5, 1.0, 0.5, 0.5])
    np.testing.assert_array_equal(task.log_policy_of(exact), LOG(exact))


def test_tasks_and_graphs_pickle():
    g = paths.PathGraph.from_edges([(0, 1), (0, 2), (2, 1)], 0, 1)
    t = paths.path_task(g, [1, 2, 1], ood={"blocked": [0, 0, 1]})
    t2 = pickle.loads(pickle.dumps(t))
    np.testing.assert_array_equal(t2.log_base, t.log_base)
    np.testing.assert_array_equal(t2.ood["blocked"], [False, False, True])
    assert paths.count_paths(t2.graph) == 2


@pytest.mark.parametrize(
    "build, words",
    [
        (lambda: paths.PathGraph.from_edges([(0, 1), (1, 2), (2, 0), (1, 3)], 0, 3), ["acyclic", "[0, 1, 2, 0]"]),
        (lambda: paths.PathGraph.from_edges([(0, 1), (1, 1)], 0, 1), ["acyclic", "self-loop", "1"]),
        (lambda: paths.PathGraph.from_edges([(0, 1)], 5, 1, n_nodes=2), ["n_nodes", ">= 6", "2"]),
        (lambda: paths.PathGraph.from_edges([(0, 1)], "a", 1), ["start", "integer", "'a'"]),
        (lambda: paths.PathGraph.from_edges([(0, 1)], 0, 1.5), ["goal", "integer", "1.5"]),
        (lambda: paths.PathGraph.from_edges([(0, 1)], 0, []), ["goal", "at least one"]),
        (lambda: paths.PathGraph.from_edges([(0, 1), (2, 3)], 0, 3), ["no path", "start 0", "[3]"]),
        (lambda: paths.PathGraph.from_edges([(0, 1), (1, 2)], 0, 1), ["goal", "sinks", "node 1"]),
        (lambda: paths.PathGraph.from_edges([(0, 1), (0, 1)], 0, 1), ["distinct", "(0, 1)"]),
        (lambda: paths.PathGraph.from_edges([(0, 1)], 0, 0), ["start", "goal", "0"]),
        (lambda: paths.PathGraph.from_edges([[0.5, 1]], 0, 1), ["edges", "integer"]),
        (lambda: paths.PathGraph.from_edges("01", 0, 1), ["edges", "'01'"]),
        (lambda: paths.PathGraph.from_edges([(0, 1)], 0, 1, n_nodes=True), ["n_nodes", "integer"]),
        (lambda: paths.PathGraph.from_adjacency(np.ones((2, 3)), 0, 1), ["adjacency", "square"]),
        (lambda: paths.PathGraph.from_networkx(nx.DiGraph([("a", "b")]), "a", "z"), ["goal", "'z'"]),
        (lambda: paths.PathGraph.from_networkx([("a", "b")], "a", "b"), ["G", "DiGraph"]),
    ],
)
def test_bad_graphs_name_argument_value_and_allowed(build, words):
    with pytest.raises(ValueError) as err:
        build()
    for word in words:
        assert word in str(err.value)


def test_bad_tasks_and_policies_are_rejected_with_named_errors():
    g = paths.PathGraph.from_edges([(0, 1), (0, 2), (1, 3), (2, 3), (2, 4)], 0, 3)
    task = paths.path_task(g)
    with pytest.raises(ValueError, match=r"policy must have one entry per edge, shape \(\.\.\., 5\); got shape \(3,\)"):
        task.log_policy_of([0.5, 0.5, 1.0])
    with pytest.raises(ValueError, match="policy must sum to 1 over the out-edges.*node 0 sums to 1.2"):
        task.log_policy_of([0.6, 0.6, 1.0, 0.5, 0.5])
    with pytest.raises(ValueError, match=r"node 2 sums to 2 at batch index \(1,\)"):
        task.log_policy_of([[0.5, 0.5, 1.0, 0.5, 0.5], [0.5, 0.5, 1.0, 1.0, 1.0]])
    with pytest.raises(ValueError, match="policy must be finite and non-negative"):
        task.log_policy_of([0.5, 0.5, np.nan, 0.5, 0.5])
    with pytest.raises(ValueError, match="policy has batch shape"):
        paths.path_task(g, np.ones((2, 5))).log_policy_of(np.full((3, 5), 0.5))
    with pytest.raises(ValueError, match="log_policy must not contain NaN"):
        task.check_log_policy([0.0, np.nan, 0, 0, 0])
    with pytest.raises(ValueError, match="weights must be finite and non-negative"):
        paths.path_task(g, [1, -1, 1, 1, 1])
    with pytest.raises(ValueError, match="node 2 has none"):
        paths.path_task(g, [1, 1, 1, 0, 0])
    with pytest.raises(ValueError, match=r"weights must have shape \(\.\.\., 5\)"):
        paths.path_task(g, [1, 1])
    with pytest.raises(ValueError, match="missing"):
        paths.path_task(g, {(0, 1): 1.0})
    with pytest.raises(ValueError, match="ood must be None or one of"):
        task.blocked("harder")
    with pytest.raises(ValueError, match=r"π0\(C\) > 0"):
        paths.PathTask(g, LOG([0.0, 1.0, 1.0, 0.0, 1.0]))
    with pytest.raises(ValueError, match=r"ood\['x'\]"):
        task.with_ood(x=[1, 0])
    with pytest.raises(ValueError, match="graph must be a PathGraph"):
        paths.path_task("g")
    with pytest.raises(ValueError, match=r"edges \[\(0, 4\)\] are not in the graph"):
        g.path_edges([0, 4])


def test_a_weights_mapping_naming_an_unknown_node_is_named():
    """A mapping keyed by networkx labels raised KeyError for a label the graph lacks."""
    g = paths.PathGraph.from_networkx(nx.DiGraph([("s", "a"), ("a", "g")]), "s", ["g"])
    with pytest.raises(ValueError, match=r"weights key \('a', 'zz'\) names a node the graph does not have"):
        paths.path_task(g, {("s", "a"): 1.0, ("a", "zz"): 2.0})
