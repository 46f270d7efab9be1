"""modesim.paths.banks: many graphs as one disjoint union, measured per graph (theory §5.1, §10).

Checks: every per-graph metric of a bank equals the single-graph function on each member
(pass@k in and out of distribution, distinct concepts, token entropy, the KL optimum), the
power-sum DP for distinct paths equals enumeration, the multi-start forward pass equals
one forward pass per graph (also with starts at different depths and with in-edges),
pass@k keeps its precision near 0 and 1, seeded banks are reproducible and stable under
resizing, the favourite-route masks equal ``harder`` graph by graph, sub-banks keep their
graphs, and bad input is refused by name.
"""

import numpy as np
import pytest

import modesim as ms
from modesim import paths
from modesim.paths import (
    ConceptGraph,
    GraphBank,
    LayeredDAG,
    PathGraph,
    as_bank,
    bank_distinct_concepts,
    bank_distinct_paths,
    bank_forward,
    bank_kl_optimum,
    bank_metrics,
    bank_pass_at_k,
    bank_success,
    bank_token_entropy,
    graph_bank,
    graph_splits,
    path_task,
)


def mixed_bank():
    """Graphs of different generators and sizes, one with the start below a root."""
    tasks = [ConceptGraph(10).build(1), LayeredDAG(n_layers=3, width=4, n_paths=3).build(2),
             ConceptGraph(16, dead_end_frac=0.2).build(3)]
    # Start 1 has an in-edge from an unreachable node 0; start at depth 1.
    g = PathGraph.from_edges([(0, 1), (1, 2), (1, 3), (2, 4), (3, 4), (3, 5)], 1, 4)
    tasks.append(path_task(g, [1.0, 2.0, 1.0, 1.0, 1.0, 3.0]))
    tasks = [paths.harder(t) if i != 3 else t.with_ood(harder=np.eye(6, dtype=bool)[4]) for i, t in enumerate(tasks)]
    return GraphBank.from_tasks(tasks, graph_ids=[5, 2, 9, 0])


BANK = mixed_bank()


def random_policy(bank, batch=(2,), seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 1.0, batch + (bank.n_edges,))
    return np.exp(paths.normalise_nodes(bank.graph, x))


def member(bank, p, g):
    return p[..., bank.edge_index[g]]


@pytest.mark.parametrize("ood", [None, "harder"])
def test_per_graph_metrics_equal_each_graph_alone(ood):
    p = random_policy(BANK)
    ks = [1, 3, 16]
    got = {
        "pass": bank_pass_at_k(p, BANK, ks, ood=ood),
        "success": bank_success(p, BANK, ood=ood),
        "concepts": bank_distinct_concepts(p, BANK, ks),
        "valid_concepts": bank_distinct_concepts(p, BANK, ks, valid_only=True, ood=ood),
        "token": bank_token_entropy(p, BANK),
    }
    for gi, t in enumerate(BANK.tasks):
        q = member(BANK, p, gi)
        np.testing.assert_allclose(got["pass"][:, gi], paths.path_pass_at_k(q, t, ks, ood=ood), rtol=1e-12)
        np.testing.assert_allclose(got["success"][:, gi], paths.success_probability(q, t, ood=ood), rtol=1e-12)
        np.testing.assert_allclose(got["concepts"][:, gi], paths.expected_distinct_concepts(q, t, ks), rtol=1e-12)
        np.testing.assert_allclose(got["valid_concepts"][:, gi],
                                   paths.expected_distinct_concepts(q, t, ks, valid_only=True, ood=ood), rtol=1e-12)
        np.testing.assert_allclose(got["token"][:, gi], paths.token_entropy(q, t), rtol=1e-12)


@pytest.mark.parametrize("ood", [None, "harder"])
def test_distinct_paths_by_power_sums_equal_enumeration(ood):
    p = random_policy(BANK, seed=4)
    ks = [1, 2, 5, 16, 24]
    got = bank_distinct_paths(p, BANK, ks, ood=ood)
    for gi, t in enumerate(BANK.tasks):
        want = paths.expected_distinct_paths(member(BANK, p, gi), t, ks, ood=ood)
        np.testing.assert_allclose(got[:, gi], want, rtol=1e-9, atol=1e-9)


def test_distinct_paths_near_a_single_path_keep_their_precision():
    """The worst case of the alternating sum: one path of probability ≈ 1 (every power sum
    ≈ 1), where the terms cancel; the loss stays below 2^k·1e-15."""
    q = 1e-9
    bank = as_bank(path_task(PathGraph.from_edges([(0, 1), (0, 2), (2, 1)], 0, 1), [1 - q, q, 1.0]))
    got = bank_distinct_paths(bank.base, bank, [16, 24])[0]
    exact = [(1 - q ** k) + (-np.expm1(k * np.log1p(-q))) for k in (16, 24)]
    np.testing.assert_allclose(got, exact, atol=2**24 * 1e-15)


def test_forward_from_every_start_equals_one_forward_per_graph():
    p = random_policy(BANK, seed=2)
    L = bank_forward(BANK, np.log(p))
    for gi, t in enumerate(BANK.tasks):
        nodes = slice(BANK.node_offsets[gi], BANK.node_offsets[gi + 1])
        want = paths.forward(t.graph, np.log(member(BANK, p, gi)))
        np.testing.assert_allclose(np.exp(L[:, nodes]), np.exp(want), rtol=1e-12, atol=0)


def test_kl_optimum_and_filter_on_every_graph():
    for beta in (0.0, 0.04, 1.0):
        got = bank_kl_optimum(BANK, beta)
        for gi, t in enumerate(BANK.tasks):
            np.testing.assert_allclose(member(BANK, got, gi), paths.path_kl_regularised_optimum(t, beta), rtol=1e-12,
                                       atol=1e-300)
    assert np.allclose(bank_success(bank_kl_optimum(BANK, 0.0), BANK), 1.0)


def test_pass_at_k_keeps_relative_precision_at_both_ends():
    g = PathGraph.from_edges([(0, 1), (0, 2)], 0, 1)
    near_one = as_bank(path_task(g, [1 - 1e-13, 1e-13]))
    tiny = as_bank(path_task(g, [1e-20, 1.0]))
    np.testing.assert_allclose(1 - bank_pass_at_k(near_one.base, near_one, 1)[0], 1e-13, rtol=1e-3)
    np.testing.assert_allclose(bank_pass_at_k(tiny.base, tiny, 10**6)[0], 1e-14, rtol=1e-12)
    assert bank_pass_at_k(near_one.base, near_one, 16)[0] == 1.0


def test_bank_metrics_average_over_graphs():
    p = random_policy(BANK)
    m = bank_metrics(p, BANK, (1, 16))
    per = bank_metrics(p, BANK, (1, 16), mean=False)
    assert m["pass@k"].shape == (2, 2) and per["pass@k"].shape == (2, 4, 2)
    for name in m:
        np.testing.assert_allclose(m[name], per[name].mean(axis=1 if name != "token_entropy" else -1))


# ------------------------------------------------------------------ generation


def test_seeded_banks_are_reproducible_and_stable_under_resizing():
    spec = ConceptGraph(14)
    a = graph_bank(spec, 5, seed=3)
    b = graph_bank(spec, 3, seed=3)
    c = graph_bank(spec, 2, seed=3, first=3)
    for gi in range(3):
        np.testing.assert_array_equal(a.tasks[gi].log_base, b.tasks[gi].log_base)
        np.testing.assert_array_equal(a.tasks[gi].graph.src, b.tasks[gi].graph.src)
    for gi in range(2):
        np.testing.assert_array_equal(a.tasks[3 + gi].graph.dst, c.tasks[gi].graph.dst)
    np.testing.assert_array_equal(c.graph_ids, [3, 4])
    other = graph_bank(spec, 3, seed=3, stream=1)
    assert not all(np.array_equal(x.graph.src, y.graph.src) for x, y in zip(other.tasks, b.tasks))


def test_every_generated_graph_has_an_alternative_to_its_favourite_route():
    bank = graph_bank(ConceptGraph(12, dead_end_frac=0.2), 12, seed=0)
    assert np.all(bank_success(bank.base, bank, ood="harder") > 0)
    assert np.all(bank_success(bank.base, bank, ood="harder") < bank_success(bank.base, bank))


def test_favourite_route_masks_equal_harder_graph_by_graph():
    tasks, wants = [], []
    for s in range(12):
        t = ConceptGraph(15).build(s)
        try:
            wants.append(paths.harder(t, name="blocked", n_edges=2).ood["blocked"])
        except ValueError:
            continue
        tasks.append(t)
    assert len(tasks) >= 6
    bank = GraphBank.from_tasks(tasks).with_harder(n_edges=2, name="blocked")
    for gi, want in enumerate(wants):
        np.testing.assert_array_equal(bank.ood["blocked"][bank.edge_index[gi]], want)
        np.testing.assert_array_equal(bank.tasks[gi].ood["blocked"], want)


def test_splits_are_disjoint_draws_and_larger_graphs_are_larger():
    sp = graph_splits(ConceptGraph(12), n_train=4, n_eval=3, seed=1)
    assert set(sp) == {"train", "in_distribution", "larger"}
    assert sp["larger"].graph.n_nodes == 2 * sp["in_distribution"].graph.n_nodes
    a, b = sp["train"].tasks[0], sp["in_distribution"].tasks[0]
    assert not (a.graph.n_edges == b.graph.n_edges and np.array_equal(a.graph.src, b.graph.src))
    assert all("harder" in s.ood for s in sp.values())
    assert set(paths.SPLITS) == {"in_distribution", "larger", "harder"}


def test_subsets_and_broadcasts_keep_graphs_bases_and_ids():
    sub = BANK.subset([2, 0])
    np.testing.assert_array_equal(sub.graph_ids, [9, 5])
    p = random_policy(BANK)
    q = np.empty((2, sub.n_edges))
    for j, gi in enumerate([2, 0]):
        q[:, sub.edge_index[j]] = member(BANK, p, gi)
    np.testing.assert_allclose(bank_success(q, sub), bank_success(p, BANK)[:, [2, 0]], rtol=1e-13)
    big = ms.replicate(BANK, 3)
    assert big.batch_shape == (3,) and big.log_base.base is not None
    np.testing.assert_array_equal(big.base_row, BANK.log_base)
    np.testing.assert_array_equal(big.subset([1]).log_base[0], BANK.subset([1]).log_base)


def test_features_are_defined_for_any_graph_and_ignore_the_goal():
    bank = graph_bank(ConceptGraph(12), 2, seed=0)
    large = graph_bank(ConceptGraph(40), 2, seed=0)
    for name in paths.EDGE_FEATURES:
        for b in (bank, large):
            f = b.feature(name)
            assert f.shape == (b.n_edges,) and np.all(np.isfinite(f))
    np.testing.assert_array_equal(bank.feature("log_base"), bank.log_base)
    np.testing.assert_array_equal(bank.feature("step"), bank.graph.layer[bank.graph.dst] - bank.graph.layer[bank.graph.src])
    # Moving the goal label to another sink changes no feature.
    t = bank.tasks[0]
    sinks = np.flatnonzero(t.graph.out_degree == 0)
    moved = [s for s in sinks if not t.graph.goal[s]]
    assert moved
    if moved:
        g2 = PathGraph.from_edges(np.stack([t.graph.src, t.graph.dst], 1), t.graph.start, [moved[0]], n_nodes=t.graph.n_nodes)
        b2 = as_bank(paths.PathTask(g2, t.log_base))
        for name in paths.EDGE_FEATURES:
            np.testing.assert_array_equal(b2.feature(name), as_bank(t).feature(name))


# ------------------------------------------------------------------ bad input


@pytest.mark.parametrize("call, word", [
    (lambda: GraphBank.from_tasks([]), "tasks"),
    (lambda: GraphBank.from_tasks([ms.make_task([0.5, 0.5])]), r"tasks\[0\]"),
    (lambda: GraphBank.from_tasks([BANK.tasks[0].broadcast((2,))]), "unbatched"),
    (lambda: GraphBank.from_tasks([BANK.tasks[0], BANK.tasks[1].with_ood(other=np.zeros(BANK.tasks[1].n_edges, bool))]), "OOD"),
    (lambda: GraphBank.from_tasks(BANK.tasks[:2], graph_ids=[1, 1]), "graph_ids"),
    (lambda: GraphBank(None, None, None, None, None, None, None, None), "from_tasks"),
    (lambda: graph_bank("spec", 2), "spec"),
    (lambda: graph_bank(ConceptGraph(10), 0), "n_graphs"),
    (lambda: graph_bank(ConceptGraph(10), 2, harder=0), "harder"),
    (lambda: bank_distinct_paths(BANK.base, BANK, 25), "k"),
    (lambda: bank_pass_at_k(BANK.base, BANK, 0), "k"),
    (lambda: bank_pass_at_k(BANK.base[:-1], BANK, 1), "policy"),
    (lambda: bank_success(BANK.base, BANK, ood="nope"), "ood"),
    (lambda: bank_success(BANK.base, BANK.tasks[0]), "bank"),
    (lambda: BANK.subset([7]), "graphs"),
    (lambda: BANK.feature("distance_to_goal"), "feature"),
    (lambda: BANK.with_features(x=np.zeros(3)), "feature"),
    (lambda: BANK.broadcast((2, 3)).broadcast((4,)), "batch_shape"),
    (lambda: as_bank(ms.make_task([0.5, 0.5])), "task"),
    (lambda: graph_splits(ConceptGraph(10), larger=0.5), "larger"),
])
def test_bad_input_is_refused_by_name(call, word):
    with pytest.raises(ValueError, match=word):
        call()


def test_log_base_feature_needs_a_finite_base():
    g = PathGraph.from_edges([(0, 1), (0, 2)], 0, 1)
    bank = as_bank(path_task(g, [1.0, 0.0]))
    with pytest.raises(ValueError, match="finite"):
        bank.feature("log_base")
