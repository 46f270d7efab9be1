"""The path environment (MATH §5) against brute-force enumeration and the categorical core."""

import itertools

import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import modesim as ms
from modesim import envs
from modesim.envs.testing import fan_tasks, path_tasks


def LOG(x):
    with np.errstate(divide="ignore"):
        return np.log(np.asarray(x, dtype=float))


# ------------------------------------------------------------------ helpers


def brute(task, policy):
    """Path probabilities, validity and the enumeration, by listing every rollout."""
    enum = envs.enumerate_paths(task.graph)
    P = np.exp(enum.log_prob(LOG(policy)))
    return enum, P


def edge_policy_from_paths(task, enum, P):
    """Recover π(v|u) = μ(u→v)/μ(u) from a distribution over enumerated rollouts."""
    g = task.graph
    mu_e = np.zeros(g.n_edges)
    for p, es in zip(P, enum.edges):
        mu_e[es] += p
    mu_u = np.zeros(g.n_nodes)
    np.add.at(mu_u, g.src, mu_e)
    # Nodes no rollout reaches carry no path's probability; their entry is irrelevant.
    reached = mu_u[g.src] > 0
    return LOG(np.divide(mu_e, mu_u[g.src], out=np.ones(g.n_edges), where=reached))


def copy_matrix(task, enum, log_rho_edges, alpha):
    """T[d, y] = Π_{e∈y} T(e|d) for the per-node copy teacher, by brute force."""
    g = task.graph
    rho = np.exp(log_rho_edges)
    K = enum.n_paths
    T = np.ones((K, K))
    for d in range(K):
        on_d = set(enum.paths[d][:-1])
        took = set(enum.edges[d].tolist())
        for y in range(K):
            for e in enum.edges[y]:
                if g.src[e] in on_d:
                    T[d, y] *= (1 - alpha) * rho[e] + alpha * (e in took)
                else:
                    T[d, y] *= rho[e]
    return T


# -------------------------------------------------------------- DP = brute force


@settings(max_examples=150, deadline=None)
@given(path_tasks(), st.integers(1, 20))
def test_every_dp_quantity_equals_enumeration(task, k):
    g = task.graph
    p = task.base
    enum, P = brute(task, p)
    assert P.sum() == pytest.approx(1.0, abs=1e-12)
    valid = enum.valid()
    assert envs.success_probability(p, task) == pytest.approx(P[valid].sum(), abs=1e-12)
    for ood in [None, *task.ood]:
        v = enum.valid(task.blocked(ood))
        expect = 1 - (1 - P[v].sum()) ** np.array([1, k])
        np.testing.assert_allclose(envs.path_pass_at_k(p, task, [1, k], ood=ood), expect, atol=1e-12)
        dpaths = ms.expected_distinct(P, v, k)
        assert envs.expected_distinct_paths(p, task, k, ood=ood) == pytest.approx(dpaths, abs=1e-10)
        assert envs.count_paths(g, blocked=task.blocked(ood)) == v.sum()
        on_valid = np.array([[P[i] * (u in enum.paths[i]) * v[i] for i in range(len(P))]
                             for u in range(g.n_nodes)]).sum(1)
        assert envs.expected_distinct_concepts(p, task, k, valid_only=True, ood=ood) == \
            pytest.approx(np.sum(1 - (1 - on_valid) ** k), abs=1e-10)
    visit = np.array([sum(P[i] for i in range(len(P)) if u in enum.paths[i]) for u in range(g.n_nodes)])
    np.testing.assert_allclose(envs.node_marginals(p, task), visit, atol=1e-12)
    take = np.array([sum(P[i] for i in range(len(P)) if e in enum.edges[i]) for e in range(g.n_edges)])
    np.testing.assert_allclose(envs.edge_marginals(p, task), take, atol=1e-12)
    assert envs.path_entropy(p, task) == pytest.approx(ms.entropy(P), abs=1e-10)
    assert envs.path_entropy(p, task, given_valid=True) == pytest.approx(ms.entropy(P, valid), abs=1e-10)
    node_H = np.zeros(g.n_nodes)
    np.add.at(node_H, g.src, -p * np.log(p))
    steps = np.array([len(e) for e in enum.edges])
    tok = sum(P[i] * node_H[list(enum.paths[i][:-1])].sum() for i in range(len(P))) / (P @ steps)
    assert envs.token_entropy(p, task) == pytest.approx(tok, abs=1e-10)
    assert envs.expected_distinct_concepts(p, task, k) == pytest.approx(np.sum(1 - (1 - visit) ** k), abs=1e-10)
    best = envs.most_probable_path(p, task)
    assert tuple(best) == enum.paths[int(np.argmax(np.where(valid, P, -1)))]


# --------------------------------------------------------- optima = the core


@settings(max_examples=60, deadline=None)
@given(path_tasks(with_ood=False), st.sampled_from([0.0, 0.3, 2.0]))
def test_kl_regularised_optimum_on_paths_equals_core(task, beta):
    ct, enum = envs.categorical_task(task)
    path = envs.path_kl_regularised_optimum(task, beta, log=True)
    np.testing.assert_allclose(np.exp(enum.log_prob(path)), ms.kl_regularised_optimum(ct, beta), atol=1e-9)


@settings(max_examples=60, deadline=None)
@given(path_tasks(with_ood=False), st.floats(0.1, 3.0))
def test_rl_iterates_on_paths_equal_core(task, eta):
    ct, enum = envs.categorical_task(task)
    for path_rule, core_rule in [
        (envs.PathNaturalPG(eta), ms.NaturalPG(eta)),
        (envs.PathKLRegularisedRL(1 / eta, reference="current"), ms.KLRegularisedRL(1 / eta, reference="current")),
        (envs.PathKLRegularisedRL(1 / eta), ms.KLRegularisedRL(1 / eta)),
    ]:
        a = ms.iterate(path_rule, task, 4).log_policy
        b = ms.iterate(core_rule, ct, 4).policy
        np.testing.assert_allclose(np.exp([enum.log_prob(x) for x in a]), b, atol=1e-9)


SD_CONFIGS = [
    dict(demos="conditioned", beta=0.0, eta=1.0, teacher_base="current", reference="base"),
    dict(demos="conditioned", beta=0.5, eta=0.6, teacher_base="current", reference="current"),
    dict(demos="uniform", beta=0.2, eta=1.0, teacher_base="frozen", reference="base"),
    dict(demos="fixed", beta=0.0, eta=0.5, teacher_base="current", reference="base"),
    dict(demos="conditioned", beta=0.3, eta=1.0, teacher_base=ms.EMA(0.7), reference="base"),
    dict(demos="conditioned", beta=0.0, eta=1.0, teacher_base=ms.EMA(0.0), reference="base"),
]


@settings(max_examples=80, deadline=None)
@given(path_tasks(max_nodes=7, with_ood=False), st.floats(0.05, 0.9), st.sampled_from(SD_CONFIGS))
def test_self_distillation_on_paths_equals_core_with_matrix_teacher(task, alpha, cfg):
    ct, enum = envs.categorical_task(task)
    valid_ids = np.flatnonzero(ct.valid)
    fixed = int(valid_ids[0])
    path_demos = {"conditioned": ms.ConditionedDemos(), "uniform": ms.UniformDemos(),
                  "fixed": envs.FixedPath(enum.paths[fixed])}[cfg["demos"]]
    core_demos = {"conditioned": ms.ConditionedDemos(), "uniform": ms.UniformDemos(),
                  "fixed": ms.FixedDemo(fixed)}[cfg["demos"]]
    opts = {key: cfg[key] for key in ("beta", "eta", "teacher_base", "reference")}

    def T(log_rho_paths):
        rho_edges = edge_policy_from_paths(task, enum, np.exp(log_rho_paths))
        return copy_matrix(task, enum, rho_edges, alpha)

    path_rule = envs.PathSelfDistillation(teacher=envs.PathCopyTeacher(alpha), demos=path_demos, **opts)
    core_rule = ms.SelfDistillation(teacher=ms.MatrixTeacher(T), demos=core_demos, **opts)
    a = ms.iterate(path_rule, task, 3).log_policy
    b = ms.iterate(core_rule, ct, 3).policy
    np.testing.assert_allclose(np.exp([enum.log_prob(x) for x in a]), b, atol=1e-9)
    if cfg["beta"] == 0.0 and cfg["demos"] == "conditioned":
        one = envs.path_sd_optimum(task, teacher=envs.PathCopyTeacher(alpha), log=True)
        core = ms.sd_optimum(ct, teacher=ms.MatrixTeacher(T(ct.log_base)))
        np.testing.assert_allclose(np.exp(enum.log_prob(one)), core, atol=1e-9)


@settings(max_examples=50, deadline=None)
@given(path_tasks(with_ood=False), st.floats(0.05, 0.9), st.floats(0.0, 2.0))
def test_forward_kl_is_the_per_node_mixture(task, alpha, beta):
    """Per-token forward KL: π(·|u) = (E_d T(·|u, d) + β·π0(·|u))/(1 + β), by brute force."""
    g = task.graph
    enum, P = brute(task, task.base)
    valid = enum.valid()
    D = np.where(valid, P, 0.0) / P[valid].sum()
    mix = np.zeros(g.n_edges)
    for d in np.flatnonzero(D):
        on_d, took = set(enum.paths[d][:-1]), set(enum.edges[d].tolist())
        Td = np.array([(1 - alpha) * task.base[e] + alpha * (e in took) if g.src[e] in on_d
                       else task.base[e] for e in range(g.n_edges)])
        mix += D[d] * Td
    expect = (mix + beta * task.base) / (1 + beta)
    got = envs.path_sd_optimum(task, teacher=envs.PathCopyTeacher(alpha), objective="forward", beta=beta)
    np.testing.assert_allclose(got, expect, atol=1e-12)


@settings(max_examples=20, deadline=None)
@given(path_tasks(with_ood=False), st.floats(0.05, 0.9))
def test_forward_kl_with_one_demonstration_equals_core(task, alpha):
    """With D a single path and β = 0 the mixture is a per-node policy: equal to the core."""
    ct, enum = envs.categorical_task(task)
    fixed = int(np.flatnonzero(ct.valid)[-1])
    T = copy_matrix(task, enum, task.log_base, alpha)
    got = envs.path_sd_optimum(task, teacher=envs.PathCopyTeacher(alpha), objective="forward",
                               demos=envs.FixedPath(enum.paths[fixed]), log=True)
    core = ms.sd_optimum(ct, teacher=ms.MatrixTeacher(T), demos=ms.FixedDemo(fixed), objective="forward")
    np.testing.assert_allclose(np.exp(enum.log_prob(got)), core, atol=1e-9)


# ------------------------------------------------- ratio theorems on paths


def valid_path_probs(task, policy):
    enum, P = brute(task, policy)
    return P[enum.valid()]


@settings(max_examples=60, deadline=None)
@given(path_tasks(with_ood=False), st.floats(0.01, 5.0), st.floats(0.1, 3.0))
def test_rl_preserves_ratios_among_valid_paths_R1_R3(task, beta, eta):
    p0 = valid_path_probs(task, task.base)
    star = valid_path_probs(task, envs.path_kl_regularised_optimum(task, beta))
    np.testing.assert_allclose(star / star.sum(), p0 / p0.sum(), rtol=1e-9)
    tr = ms.iterate(envs.PathNaturalPG(eta), task, 5)
    masses = []
    for lp in tr.log_policy:
        pt = valid_path_probs(task, np.exp(lp))
        np.testing.assert_allclose(pt / pt.sum(), p0 / p0.sum(), rtol=1e-9)
        masses.append(pt.sum())
    if masses[0] < 1 - 1e-9:
        assert np.all(np.diff(masses) > 0)


@settings(max_examples=80, deadline=None)
@given(fan_tasks(), st.floats(0.05, 0.9), st.floats(0.0, 2.0))
def test_self_distillation_amplifies_ratios_among_valid_paths_S4(task, alpha, beta):
    p0 = valid_path_probs(task, task.base)
    p1 = valid_path_probs(task, envs.path_sd_optimum(task, teacher=envs.PathCopyTeacher(alpha), beta=beta))
    for i, j in itertools.permutations(range(p0.size), 2):
        if p0[i] > p0[j] * (1 + 1e-6):
            assert p1[i] / p1[j] > p0[i] / p0[j]


def test_S4_does_not_extend_to_general_dags():
    """Ours: with the per-node copy teacher, Ī(path) depends on where the path branches,
    not on π0(path) alone.  Four equally likely valid paths, two through the extra
    branching node 4, come out of one round unequal; with other weights a less probable
    path gains on a more probable one.  S4 holds on fan graphs (test above)."""
    g = envs.PathGraph.from_edges([(0, 1), (1, 4), (1, 5), (1, 6), (4, 5), (4, 6), (5, 6)], 0, 6)
    for w, expect in [([1, 2, 1, 1, 1, 1, 1], [0.2594, 0.2594, 0.2406, 0.2406]),
                      ([1, 6, 3, 1, 1, 2, 1], [0.1970, 0.4307, 0.2925, 0.0798])]:
        task = envs.path_task(g, w)
        p1 = valid_path_probs(task, envs.path_sd_optimum(task, teacher=envs.PathCopyTeacher(0.5)))
        np.testing.assert_allclose(p1, expect, atol=1e-4)
    p0 = valid_path_probs(task, task.base)
    assert p0[0] < p0[2] and p1[0] / p1[2] > p0[0] / p0[2]


def test_ratio_checks_fail_on_a_broken_rule():
    """Negative control: an anti-copying teacher compresses the ratios (MATH §3.4 S5)."""

    class AntiCopy(envs.PathCopyTeacher):
        def edge_expected_log(self, graph, log_rho, m_node, m_edge):
            return 2 * log_rho - super().edge_expected_log(graph, log_rho, m_node, m_edge)

    task = envs.path_task(envs.PathGraph.from_edges([(0, 2), (0, 3), (2, 1), (3, 1)], 0, 1), [0.7, 0.3, 1, 1])
    p0 = valid_path_probs(task, task.base)
    p1 = valid_path_probs(task, envs.path_sd_optimum(task, teacher=AntiCopy(0.5)))
    assert p1[0] / p1[1] < p0[0] / p0[1]


def test_sd_collapses_on_harder_graphs_where_rl_succeeds():
    task = envs.harder(envs.LayeredDAG(n_layers=6, width=8, n_paths=4, bias=1.0, leak=0.2).build(0))
    sd = ms.iterate(envs.PathSelfDistillation(teacher=envs.PathCopyTeacher(0.5)), task, 30).final.policy
    rl = ms.iterate(envs.PathNaturalPG(1.0), task, 30).final.policy
    ks = [1, 4, 16]
    assert np.all(envs.path_pass_at_k(sd, task, ks) > 0.99)
    sd_hard = envs.path_pass_at_k(sd, task, ks, ood="harder")
    rl_hard = envs.path_pass_at_k(rl, task, ks, ood="harder")
    assert rl_hard[-1] > 0.95
    assert np.all(sd_hard < 0.05)
    assert envs.path_entropy(sd, task, given_valid=True) < 0.01
    p0 = valid_path_probs(task, task.base)
    prl = valid_path_probs(task, rl)
    np.testing.assert_allclose(prl / prl.sum(), p0 / p0.sum(), rtol=1e-9)


def test_token_entropy_stays_high_while_strategies_collapse():
    ex = envs.token_entropy_example()
    assert ex.distinct_strategies[0] > 2.7
    assert ex.distinct_strategies[-1] < 1.01
    assert ex.token_entropy[-1] > 0.8 * ex.token_entropy[0]
    assert ex.distinct_concepts[-1] < ex.distinct_concepts[0] - 4
    np.testing.assert_allclose(ex.token_entropy[[0, -1]], [0.548, 0.462], atol=2e-3)


# ----------------------------------------------------------------- sampling


def test_sampling_estimators_match_exact_values():
    task = envs.harder(envs.LayeredDAG(n_layers=5, width=6, n_paths=5, bias=0.5, leak=0.3).build(3))
    p = task.base
    r = envs.sample_paths(p, task, 40_000, seed=1)
    assert r.nodes.shape[0] == 40_000
    ks = np.array([1, 4])
    for ood in (None, "harder"):
        np.testing.assert_allclose(r.pass_at_k(ks, ood=ood), envs.path_pass_at_k(p, task, ks, ood=ood), atol=0.02)
        np.testing.assert_allclose(r.distinct_paths(ks, ood=ood),
                                   envs.expected_distinct_paths(p, task, ks, ood=ood), rtol=0.03, atol=0.01)
    np.testing.assert_allclose(r.distinct_concepts(ks), envs.expected_distinct_concepts(p, task, ks), rtol=0.02)
    np.testing.assert_allclose(r.distinct_concepts(ks, valid_only=True),
                               envs.expected_distinct_concepts(p, task, ks, valid_only=True), rtol=0.03)
    freq = np.bincount(r.edges[r.edges >= 0], minlength=task.graph.n_edges) / r.n
    np.testing.assert_allclose(freq, envs.edge_marginals(p, task), atol=0.01)
    again = envs.sample_paths(p, task, 40_000, seed=np.random.default_rng(1))
    np.testing.assert_array_equal(again.nodes, r.nodes)


def test_sampling_never_takes_a_zero_probability_edge():
    task = envs.LayeredDAG().build(2)
    filtered = envs.path_kl_regularised_optimum(task, 0.0)
    r = envs.sample_paths(filtered, task, 5000, seed=0)
    assert r.valid().all()
    assert np.all(filtered[r.edges[r.edges >= 0]] > 0)


# ----------------------------------------------------------- builders, generators


def test_builders_agree_and_networkx_labels_survive():
    edges = [(0, 1), (0, 2), (1, 3), (2, 3), (2, 4)]
    a = envs.PathGraph.from_edges(edges, 0, 3)
    A = np.zeros((5, 5))
    for u, v in edges:
        A[u, v] = 1
    b = envs.PathGraph.from_adjacency(A, 0, 3)
    G = nx.DiGraph([(f"n{u}", f"n{v}") for u, v in edges])
    c = envs.PathGraph.from_networkx(G, "n0", "n3")
    for g in (b,):
        np.testing.assert_array_equal(g.src, a.src)
        np.testing.assert_array_equal(g.dst, a.dst)
    assert [(c.labels[u], c.labels[v]) for u, v in zip(c.src, c.dst)] == \
        [(f"n{u}", f"n{v}") for u, v in zip(a.src, a.dst)]
    t = envs.path_task(c, {(f"n{u}", f"n{v}"): 1.0 + u + v for u, v in edges})
    np.testing.assert_allclose(t.base, envs.path_task(a, 1.0 + A * (np.arange(5)[:, None] + np.arange(5))).base)
    assert a.dead_end.tolist() == [False, False, False, False, True]


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 6), st.integers(2, 9), st.integers(2, 4), st.data())
def test_layered_dag_has_exactly_n_paths_valid_paths(layers, width, degree, data):
    n_paths = data.draw(st.integers(1, min(width - 1, degree ** layers)))
    spec = envs.LayeredDAG(n_layers=layers, width=width, n_paths=n_paths, out_degree=degree)
    task = spec.build(data.draw(st.integers(0, 2**32 - 1)))
    assert envs.count_paths(task.graph) == n_paths
    assert task.graph.n_nodes == 2 + layers * width
    assert np.all(task.graph.out_degree[~task.graph.goal & ~task.graph.dead_end] <= degree)


def test_generators_are_seeded_and_scale():
    spec = envs.LayeredDAG()
    a, b = spec.build(5), spec.build(np.random.default_rng(5))
    np.testing.assert_array_equal(a.log_base, b.log_base)
    big = spec.larger(2).build(5)
    assert big.graph.n_nodes > 3 * a.graph.n_nodes
    assert envs.count_paths(big.graph) == 2 * spec.n_paths
    c = envs.ConceptGraph().build(0)
    assert envs.success_probability(c.base, c) > 0
    assert envs.ConceptGraph().larger(3).build(0).graph.n_nodes == 90
    biased = envs.LayeredDAG(bias=3.0).build(0)
    p = valid_path_probs(biased, biased.base)
    assert p.max() / p.sum() > 0.8


def test_iterate_records_path_metrics():
    task = envs.LayeredDAG().build(0)
    tr = ms.iterate(envs.PathNaturalPG(1.0), task, 5, metrics=envs.PATH_METRICS)
    assert np.all(np.diff(tr.metrics["valid_mass"]) > 0)
    np.testing.assert_allclose(tr.metrics["path_entropy"], tr.metrics["path_entropy"][0], rtol=1e-9)


def test_zero_probabilities_never_give_nan():
    task = envs.harder(envs.LayeredDAG().build(1))
    filtered = envs.path_kl_regularised_optimum(task, 0.0)
    values = [envs.path_pass_at_k(filtered, task, [1, 8], ood="harder"),
              envs.path_entropy(filtered, task), envs.token_entropy(filtered, task),
              envs.expected_distinct_concepts(filtered, task, 4, valid_only=True),
              envs.node_marginals(filtered, task)]
    for rule in (envs.PathSelfDistillation(), envs.PathSelfDistillation(teacher_base=ms.EMA(0.0), eta=0.5)):
        state = rule.init(task)
        state = ms.State(LOG(filtered), aux={k: LOG(filtered) for k in state.aux})
        values.append(rule.step(rule.step(state, task), task).log_policy)
    for v in values:
        assert not np.any(np.isnan(v))


# ------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "build, words",
    [
        (lambda: envs.PathGraph.from_edges([(0, 1), (1, 2), (2, 0), (1, 3)], 0, 3), ["acyclic", "[0, 1, 2, 0]"]),
        (lambda: envs.PathGraph.from_edges([(0, 1), (1, 1)], 0, 1), ["acyclic", "self-loop", "1"]),
        (lambda: envs.PathGraph.from_edges([(0, 1)], 5, 1, n_nodes=2), ["n_nodes", ">= 6", "2"]),
        (lambda: envs.PathGraph.from_edges([(0, 1)], "a", 1), ["start", "'a'"]),
        (lambda: envs.PathGraph.from_edges([(0, 1), (2, 3)], 0, 3), ["no path", "start 0", "[3]"]),
        (lambda: envs.PathGraph.from_edges([(0, 1), (1, 2)], 0, 1), ["goal", "sinks", "node 1"]),
        (lambda: envs.PathGraph.from_edges([(0, 1), (0, 1)], 0, 1), ["distinct", "(0, 1)"]),
        (lambda: envs.PathGraph.from_edges([(0, 1)], 0, 0), ["start", "goal", "0"]),
        (lambda: envs.PathGraph.from_edges([[0.5, 1]], 0, 1), ["edges", "integer"]),
        (lambda: envs.PathGraph.from_adjacency(np.ones((2, 3)), 0, 1), ["adjacency", "square"]),
        (lambda: envs.PathGraph.from_networkx(nx.DiGraph([("a", "b")]), "a", "z"), ["goal", "'z'"]),
        (lambda: envs.PathCopyTeacher(1.0), ["alpha", "[0, 1)", "1.0"]),
        (lambda: envs.PathCopyTeacher(-0.1), ["alpha", "-0.1"]),
        (lambda: envs.PathSelfDistillation(objective="mixed"), ["objective", "'mixed'", "reverse"]),
        (lambda: envs.PathSelfDistillation(eta=0.0), ["eta", "(0, 1]"]),
        (lambda: envs.PathSelfDistillation(demos=object()), ["demos", "FixedPath"]),
        (lambda: envs.PathNaturalPG(-1.0), ["eta", "> 0", "-1.0"]),
        (lambda: envs.PathKLRegularisedRL(reference="old"), ["reference", "'old'"]),
        (lambda: envs.LayeredDAG(width=4, n_paths=4), ["n_paths", "width - 1 = 3", "4"]),
        (lambda: envs.LayeredDAG(leak=1.0), ["leak", "[0, 1)", "1.0"]),
        (lambda: envs.ConceptGraph(dead_end_frac=1.5), ["dead_end_frac", "1.5"]),
    ],
)
def test_bad_input_names_argument_value_and_allowed(build, words):
    with pytest.raises(ValueError) as err:
        build()
    for word in words:
        assert word in str(err.value)


def test_bad_policies_and_tasks_are_rejected():
    g = envs.PathGraph.from_edges([(0, 1), (0, 2), (1, 3), (2, 3), (2, 4)], 0, 3)
    task = envs.path_task(g)
    with pytest.raises(ValueError, match=r"shape \(5,\).*\(3,\)"):
        envs.success_probability([0.5, 0.5, 1.0], task)
    with pytest.raises(ValueError, match="node 0 sums to 1.2"):
        envs.success_probability([0.6, 0.6, 1.0, 0.5, 0.5], task)
    with pytest.raises(ValueError, match="non-negative"):
        envs.path_task(g, [1, -1, 1, 1, 1])
    with pytest.raises(ValueError, match="ood must be None or one of"):
        envs.path_pass_at_k(task.base, task, 2, ood="harder")
    with pytest.raises(ValueError, match="n must be a positive integer.*0"):
        envs.sample_paths(task.base, task, 0)
    with pytest.raises(ValueError, match="k must hold positive integers"):
        envs.path_pass_at_k(task.base, task, 0)
    with pytest.raises(ValueError, match=r"path must run from the start 0 to a goal; got \[0, 2, 4\]"):
        envs.path_sd_optimum(task, demos=envs.FixedPath([0, 2, 4]))
    with pytest.raises(ValueError, match=r"edges \[\(0, 4\), \(4, 3\)\] are not in the graph"):
        envs.path_sd_optimum(task, demos=envs.FixedPath([0, 4, 3]))
    with pytest.raises(ValueError, match="π0\\(C\\) > 0"):
        envs.PathTask(g, LOG([0.0, 1.0, 1.0, 0.0, 1.0]))
    dead = envs.PathTask(g, LOG([0.5, 0.5, 1.0, 0.5, 0.5]))
    stuck = ms.State(LOG([0.0, 1.0, 1.0, 0.0, 1.0]))
    with pytest.raises(ValueError, match="probability 0.*no correct rollout"):
        envs.PathSelfDistillation().step(stuck, dead)
    with pytest.raises(ValueError, match="3 rollouts.*limit=2"):
        envs.enumerate_paths(g, limit=2)
