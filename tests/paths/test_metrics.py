"""Exact path metrics (theory §4, §5.1) against enumeration, mpmath and the core's metrics."""

import mpmath as mp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import modesim as ms
from modesim import paths
from modesim.paths.testing import path_tasks

from .path_reference import blocked_valid, path_probs


@settings(max_examples=120, deadline=None)
@given(path_tasks(), st.integers(1, 20))
def test_every_metric_equals_enumeration(task, k):
    g = task.graph
    p = task.base
    rs, P, valid = path_probs(g, p)
    assert P.sum() == pytest.approx(1.0, abs=1e-12)
    assert paths.success_probability(p, task) == pytest.approx(P[valid].sum(), abs=1e-12)
    for ood in [None, *task.ood]:
        v = valid if ood is None else blocked_valid(rs, valid, task.ood[ood])
        expect = 1 - (1 - P[v].sum()) ** np.array([1, k])
        np.testing.assert_allclose(paths.path_pass_at_k(p, task, [1, k], ood=ood), expect, atol=1e-12)
        dpaths = ms.expected_distinct(P, v, k)
        assert paths.expected_distinct_paths(p, task, k, ood=ood) == pytest.approx(dpaths, abs=1e-10)
        assert paths.count_paths(g, blocked=task.blocked(ood)) == v.sum()
        on_valid = np.array([sum(P[i] for i in range(len(P)) if v[i] and u in rs[i][0])
                             for u in range(g.n_nodes)])
        assert paths.expected_distinct_concepts(p, task, k, valid_only=True, ood=ood) == \
            pytest.approx(np.sum(1 - (1 - on_valid) ** k), abs=1e-10)
    visit = np.array([sum(P[i] for i in range(len(P)) if u in rs[i][0]) for u in range(g.n_nodes)])
    np.testing.assert_allclose(paths.node_marginals(p, task), visit, atol=1e-12)
    take = np.array([sum(P[i] for i in range(len(P)) if e in rs[i][1]) for e in range(g.n_edges)])
    np.testing.assert_allclose(paths.edge_marginals(p, task), take, atol=1e-12)
    assert paths.path_entropy(p, task) == pytest.approx(ms.entropy(P), abs=1e-10)
    assert paths.path_entropy(p, task, given_valid=True) == pytest.approx(ms.entropy(P, valid), abs=1e-10)
    node_H = np.zeros(g.n_nodes)
    np.add.at(node_H, g.src, -p * np.log(p))
    steps = np.array([len(es) for _, es in rs])
    tok = sum(P[i] * node_H[list(rs[i][0][:-1])].sum() for i in range(len(P))) / (P @ steps)
    assert paths.token_entropy(p, task) == pytest.approx(tok, abs=1e-10)
    assert paths.expected_distinct_concepts(p, task, k) == pytest.approx(np.sum(1 - (1 - visit) ** k), abs=1e-10)
    best = paths.most_probable_path(p, task)
    assert tuple(best) == rs[int(np.argmax(np.where(valid, P, -1)))][0]


def test_path_pass_at_k_keeps_relative_precision_for_tiny_success():
    """Issue 9, kind 2: goal probability 1e-20, pass@10^6 = 1e-14 (mpmath), like the core."""
    g = paths.PathGraph.from_edges([(0, 1), (0, 2)], 0, 1)
    t = paths.path_task(g, [1e-20, 1.0])
    mp.mp.dps = 40
    ks = [1, 10**6, 10**12]
    exact = [float(1 - (1 - mp.mpf("1e-20") / (1 + mp.mpf("1e-20"))) ** k) for k in ks]
    got = paths.path_pass_at_k(t.base, t, ks)
    np.testing.assert_allclose(got, exact, rtol=1e-13)
    np.testing.assert_allclose(got, ms.pass_at_k([1e-20, 1.0], [1, 0], ks), rtol=1e-13)
    # Below the float range: 0.5^1200 success, pass@k = k·0.5^1200 in log space.
    n = 1200
    chain = paths.PathGraph.from_edges([(i, i + 1) for i in range(n)] + [(i, n + 1 + i) for i in range(n)], 0, n)
    deep = paths.path_task(chain)
    got = paths.path_pass_at_k(deep.base, deep, 1e300)
    assert got == pytest.approx(float(mp.mpf(1e300) * mp.mpf(0.5) ** n), rel=1e-12)


def test_metrics_of_a_certain_success_and_near_certain_success():
    g = paths.PathGraph.from_edges([(0, 1), (0, 2)], 0, 1)
    t = paths.path_task(g, [1.0, 1e-18])
    assert paths.path_pass_at_k(t.base, t, 1) == pytest.approx(1 - 1e-18, abs=1e-16)
    sure = paths.path_task(g, [1.0, 0.0])
    assert paths.path_pass_at_k(sure.base, sure, [1, 5]).tolist() == [1.0, 1.0]


def test_batched_metrics_equal_a_loop_over_batch_entries():
    g = paths.PathGraph.from_edges([(0, 1), (0, 2), (0, 3), (2, 1), (2, 4), (3, 4), (3, 5), (4, 1), (4, 5)], 0, 1)
    w = np.random.default_rng(2).random((3, 2, g.n_edges)) + 0.05
    blocked = np.zeros(g.n_edges, dtype=bool)
    blocked[g.edge_ids(4, 1)] = True
    task = paths.path_task(g, w, ood={"b": blocked})
    p = task.base
    ks = [1, 3, 8]
    fns = {
        "success": lambda q: paths.success_probability(q, task, ood="b"),
        "pass": lambda q: paths.path_pass_at_k(q, task, ks, ood="b"),
        "nodes": lambda q: paths.node_marginals(q, task),
        "edges": lambda q: paths.edge_marginals(q, task),
        "H": lambda q: paths.path_entropy(q, task),
        "Hvalid": lambda q: paths.path_entropy(q, task, given_valid=True, ood="b"),
        "token": lambda q: paths.token_entropy(q, task),
        "concepts": lambda q: paths.expected_distinct_concepts(q, task, ks, valid_only=True, ood="b"),
        "paths": lambda q: paths.expected_distinct_paths(q, task, ks, ood="b"),
    }
    for name, fn in fns.items():
        batched = np.asarray(fn(p))
        assert batched.shape[:2] == (3, 2), name
        for i in range(3):
            for j in range(2):
                np.testing.assert_allclose(batched[i, j], fn(p[i, j]), rtol=1e-12, atol=1e-15, err_msg=name)


def test_expected_distinct_paths_is_zero_when_the_ood_mask_leaves_no_valid_path():
    """Issue 9, kind 5: as path_pass_at_k, not an error."""
    g = paths.PathGraph.from_edges([(0, 1), (0, 2), (2, 1)], 0, 1)
    t = paths.path_task(g, ood={"b": [1, 0, 1]})
    assert paths.count_paths(g, blocked=t.ood["b"]) == 0
    np.testing.assert_array_equal(paths.expected_distinct_paths(t.base, t, 3, ood="b"), 0.0)
    np.testing.assert_array_equal(paths.expected_distinct_paths(t.base, t, [1, 3], ood="b"), [0.0, 0.0])
    np.testing.assert_array_equal(paths.path_pass_at_k(t.base, t, [1, 3], ood="b"), [0.0, 0.0])
    assert paths.expected_distinct_paths(t.base, t, 3) == pytest.approx(2 - 0.5**3 - 0.5**3)


def test_path_metrics_record_along_iterate():
    task = paths.LayeredDAG().build(0)
    tr = ms.iterate(paths.PathNaturalPG(1.0), task, 5, metrics=paths.PATH_METRICS)
    assert np.all(np.diff(tr.metrics["valid_mass"]) > 0)
    np.testing.assert_allclose(tr.metrics["path_entropy"], tr.metrics["path_entropy"][0], rtol=1e-9)


def test_zero_probabilities_never_give_nan():
    task = paths.harder(paths.LayeredDAG().build(1))
    filtered = paths.path_kl_regularised_optimum(task, 0.0)
    values = [paths.path_pass_at_k(filtered, task, [1, 8], ood="harder"),
              paths.path_entropy(filtered, task), paths.token_entropy(filtered, task),
              paths.expected_distinct_concepts(filtered, task, 4, valid_only=True),
              paths.node_marginals(filtered, task), paths.path_entropy(filtered, task, given_valid=True)]
    for v in values:
        assert not np.any(np.isnan(v))


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda t: paths.path_pass_at_k(t.base, t, np.inf), r"k must hold finite positive integers; got inf"),
        (lambda t: paths.path_pass_at_k(t.base, t, 0), r"k must hold finite positive integers; got 0"),
        (lambda t: paths.path_pass_at_k(t.base, t, 1.5), r"k must hold finite positive integers"),
        (lambda t: paths.expected_distinct_concepts(t.base, t, np.inf), r"k must hold finite positive integers"),
        (lambda t: paths.expected_distinct_paths(t.base, t, [2, np.inf]), r"k must hold finite positive integers"),
        (lambda t: paths.path_pass_at_k(t.base, t, 2, ood="harder"), r"ood must be None or one of \['b'\]; got 'harder'"),
        (lambda t: paths.path_pass_at_k(t.base, t, 2, ood=3), r"ood must be None or one of"),
        (lambda t: paths.count_paths(t.graph, blocked="x"), r"blocked must be a boolean mask \(or 0/1\); got 'x'"),
        (lambda t: paths.count_paths(t.graph, blocked=[1, 0]), r"blocked of shape \(2,\) does not fit the policy shape"),
        (lambda t: paths.count_paths(t.graph, valid_only="yes"), r"valid_only must be True or False"),
        (lambda t: paths.count_paths(t, blocked=None), r"graph must be a PathGraph"),
        (lambda t: paths.success_probability(t.base, t.graph), r"task must be a PathTask"),
        (lambda t: paths.path_entropy(t.base, t, given_valid=1), r"given_valid must be True or False"),
        (lambda t: paths.expected_distinct_paths(t.base, t, 2, limit=1), r"graph has 2 valid paths; enumeration allowed up to limit=1"),
        (lambda t: paths.most_probable_path(np.stack([t.base, t.base]), t), r"one policy of shape \(5,\)"),
    ],
)
def test_bad_metric_arguments_are_named(call, match):
    g = paths.PathGraph.from_edges([(0, 1), (0, 2), (2, 1), (2, 3), (0, 3)], 0, 1)
    t = paths.path_task(g, ood={"b": [0, 0, 0, 1, 0]})
    with pytest.raises(ValueError, match=match):
        call(t)
