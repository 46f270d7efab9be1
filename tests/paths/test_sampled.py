"""modesim.paths.sampled: finite-sample GRPO and per-step self-distillation on path tasks (theory §10).

Checks: the expected update of every estimator equals its DP mean field (``velocity``)
exactly, by enumerating every group of rollouts (and every demonstration assignment) on a
tiny graph, and each group's update equals the defining formula written out with loops;
Monte Carlo means over many seeds agree with the mean field within 5 standard errors, and
the same check fails on deliberately wrong mean fields; rollouts follow the policy; seeds
reproduce, chunks of seeds reproduce the whole run, a bank's run equals its graphs' runs
one by one, parameter grids equal loops; bad input is refused by name.
"""

import itertools
from dataclasses import replace

import numpy as np
import pytest

import modesim as ms
from modesim import paths
from modesim.paths import (
    ExpectedUpdate,
    FeaturePolicy,
    PathCopyTeacher,
    PathGraph,
    PathRollouts,
    PathSampledRL,
    PathSampledSD,
    as_bank,
    path_task,
)
from modesim.paths.sampled import path_uniforms, sample_rollouts
from modesim.sampled.sampling import round_uniforms

from . import path_reference as ref

Z_BOUND = 5.0  # Monte Carlo agreement: every component within 5 standard errors


def tiny_task():
    """Six rollouts, three valid: 0-1-3-5, 0-1-5, 0-2-3-5; dead ends through node 4."""
    edges = [(0, 1), (0, 2), (1, 3), (1, 4), (1, 5), (2, 3), (3, 5), (3, 4)]
    g = PathGraph.from_edges(edges, 0, 5)
    w = np.empty(g.n_edges)
    w[g.edge_ids(*np.array(edges).T)] = [0.7, 0.3, 0.5, 0.3, 0.2, 0.9, 0.6, 0.4]
    return path_task(g, w)


def tiny_bank():
    return as_bank(tiny_task())


def feature_policy():
    return FeaturePolicy(theta0=(1.3, -0.4, 0.7))


def groups(task, n):
    """Every group of n rollouts with its probability: (rollout index tuples, probs)."""
    rs, P, _ = ref.path_probs(task.graph, np.exp(task.log_base))
    combos = list(itertools.product(range(len(rs)), repeat=n))
    return rs, combos, np.array([np.prod(P[list(c)]) for c in combos])


def rollouts_of(task, rs, combos):
    """PathRollouts (B, 1, N, ·) holding the given groups of enumerated rollouts."""
    g = task.graph
    T = len(g.layers) - 1
    B, N = len(combos), len(combos[0])
    nodes = np.full((B, 1, N, T + 1), -1, dtype=np.int64)
    edges = np.full((B, 1, N, T), -1, dtype=np.int64)
    valid = np.zeros((B, 1, N), dtype=bool)
    for b, c in enumerate(combos):
        for n, k in enumerate(c):
            ns, es = rs[k]
            nodes[b, 0, n, : len(ns)] = ns
            edges[b, 0, n, : len(es)] = es
            valid[b, 0, n] = bool(g.goal[ns[-1]])
    return PathRollouts(nodes, edges, valid)


def state_at(rule, task, B, log_policy, theta=None, teacher=None):
    """The rule's state on B copies of the task, at a given policy (and θ, teacher base)."""
    big = as_bank(ms.replicate(task, B))
    st = rule.init(big)
    return big, st._replace(
        log_policy=np.broadcast_to(log_policy, (B, task.n_edges)),
        params=None if theta is None else np.broadcast_to(theta, (B, theta.size)),
        teacher_log_base=None if teacher is None else np.broadcast_to(teacher, (B, task.n_edges)),
    )


def moved_policy(task, policy):
    """A policy away from the base (tabular: logits perturbed; feature: θ0 of the policy)."""
    bank = as_bank(task)
    if isinstance(policy, FeaturePolicy):
        theta = policy.theta_init()
        return policy.log_policy(theta, bank), theta
    rng = np.random.default_rng(3)
    return paths.normalise_nodes(task.graph, task.log_base + rng.normal(0, 0.5, task.n_edges)), None


# ------------------------------------------------------------------ rollouts


def test_rollouts_follow_the_policy():
    task = tiny_task()
    bank = as_bank(task)
    rs, P, _ = ref.path_probs(task.graph, np.exp(task.log_base))
    S, N = 4000, 8
    big = ms.replicate(bank, S)
    keys = PathSampledRL(seed=5).init(big).rng_key
    ro = sample_rollouts(big, big.log_base, keys, 0, N)
    index = {tuple(e): k for k, (_, e) in enumerate(rs)}
    edges = ro.edges.reshape(-1, ro.edges.shape[-1])
    counts = np.bincount([index[tuple(r[r >= 0])] for r in edges], minlength=len(rs))
    n = edges.shape[0]
    se = np.sqrt(P * (1 - P) / n)
    assert np.all(np.abs(counts / n - P) <= Z_BOUND * se), (counts / n, P)
    # Negative control: the same check rejects a shuffled law.
    assert not np.all(np.abs(counts / n - P[::-1]) <= Z_BOUND * se)


def test_zero_probability_edges_are_never_taken():
    task = tiny_task()
    w = np.exp(task.log_base)
    w[task.graph.edge_ids(1, 5)] = 0.0
    w[task.graph.edge_ids(1, 3)] += 0.2
    t0 = path_task(task.graph, w)
    big = ms.replicate(as_bank(t0), 2000)
    keys = PathSampledRL(seed=1).init(big).rng_key
    ro = sample_rollouts(big, big.log_base, keys, 3, 8)
    assert not np.any(ro.edges == task.graph.edge_ids(1, 5))


def test_path_uniforms_are_the_round_streams_draws():
    keys = PathSampledRL(seed=9).init(ms.replicate(tiny_bank(), 3)).rng_key
    j = np.arange(20)
    rows = np.repeat(np.arange(3), 20)
    got = path_uniforms(keys, 7, rows, np.tile(j, 3)).reshape(3, 20)
    np.testing.assert_array_equal(got, round_uniforms(keys, 7, 20))


# ------------------------------------------------------------------ RL: enumeration of groups


@pytest.mark.parametrize("policy", ["tabular", "feature"])
@pytest.mark.parametrize("estimator, beta", [("grpo", 0.0), ("grpo", 0.3), ("rloo", 0.0), ("reinforce", 0.2)])
def test_rl_expected_update_equals_enumeration_of_groups(estimator, beta, policy):
    task = tiny_task()
    pol = feature_policy() if policy == "feature" else "tabular"
    rule = PathSampledRL(estimator, n_rollouts=3, lr=0.7, beta=beta, policy=pol)
    lp, theta = moved_policy(task, rule.policy)
    moved = path_task(task.graph, np.exp(lp))
    rs, combos, w = groups(moved, 3)
    big, st = state_at(rule, task, len(combos), lp, theta)
    direction, silent = rule._direction(st, big, rollouts_of(moved, rs, combos))
    expected = w @ direction
    v = rule.velocity(lp, task) / rule.lr
    np.testing.assert_allclose(expected, v, rtol=1e-12, atol=1e-14)
    # Silent groups are exactly the groups with equal rewards (GRPO, RLOO).
    valid = np.array([[bool(task.graph.goal[rs[k][0][-1]]) for k in c] for c in combos])
    if estimator != "reinforce":
        np.testing.assert_array_equal(silent[:, 0], valid.all(1) | ~valid.any(1))


@pytest.mark.parametrize("estimator", ["grpo", "rloo", "reinforce"])
def test_rl_group_update_equals_the_written_out_formula(estimator):
    task = tiny_task()
    rule = PathSampledRL(estimator, n_rollouts=3, beta=0.25)
    lp, _ = moved_policy(task, rule.policy)
    pi = np.exp(lp)
    moved = path_task(task.graph, pi)
    rs, combos, _ = groups(moved, 3)
    big, st = state_at(rule, task, len(combos), lp)
    direction, _ = rule._direction(st, big, rollouts_of(moved, rs, combos))
    base = np.exp(task.log_base)
    for b, c in enumerate(combos):
        r = [float(task.graph.goal[rs[k][0][-1]]) for k in c]
        A = ref.advantages(r, estimator)
        want = sum(A[n] * ref.score_gradient(task.graph, pi, rs[k][1]) for n, k in enumerate(c)) / 3
        for k in c:
            for e in rs[k][1]:
                want -= 0.25 * ref.node_kl_grad(task.graph, pi, base, task.graph.src[e]) / 3
        np.testing.assert_allclose(direction[b], want, rtol=1e-12, atol=1e-15)


def test_grpo_mean_field_is_the_policy_gradient_on_the_grpo_clock():
    """E ĝ_GRPO = s_N(J)·∇J: the REINFORCE field times GRPO's clock (theory §2.3 on paths)."""
    from modesim.sampled.rl import grpo_speed

    task = tiny_task()
    bank = as_bank(task)
    J = paths.success_probability(task.base, task)
    grpo = PathSampledRL("grpo", n_rollouts=5, lr=1.0).velocity(task.log_base, task)
    reinforce = PathSampledRL("reinforce", n_rollouts=5, lr=1.0).velocity(task.log_base, task)
    s = grpo_speed(np.log(J), np.log1p(-J), 5, 1e-6)
    np.testing.assert_allclose(grpo, s * reinforce, rtol=1e-12)
    assert bank.n_graphs == 1 and s > 1.0


# ------------------------------------------------------------------ SD: enumeration of groups


def sd_combos(task, rs, combos):
    """Every (group, demonstration assignment) with its weight given the group."""
    g = task.graph
    out, weights, picks, has = [], [], [], []
    for b, c in enumerate(combos):
        valid = [bool(g.goal[rs[k][0][-1]]) for k in c]
        choices = []
        for n in range(len(c)):
            eligible = [m for m in range(len(c)) if m != n and valid[m]]
            choices.append(eligible or [None])
        for assign in itertools.product(*choices):
            out.append(b)
            weights.append(np.prod([1.0 / len(ch) for ch in choices]))
            picks.append([0 if a is None else a for a in assign])
            has.append([a is not None for a in assign])
    return np.array(out), np.array(weights), np.array(picks)[:, None, :], np.array(has)[:, None, :]


SD_CASES = [
    dict(objective="reverse"),
    dict(objective="reverse", estimator="sampled"),
    dict(objective="reverse", score="correct", beta=0.3),
    dict(objective="forward", teacher_base="frozen"),
    dict(objective="jsd", jsd_weight=0.3, beta=0.1),
    dict(objective="jsd", jsd_weight=0.9, score="correct", teacher_base="frozen"),
]


@pytest.mark.parametrize("policy", ["tabular", "feature"])
@pytest.mark.parametrize("case", SD_CASES, ids=lambda c: "-".join(f"{k}={v}" for k, v in c.items()))
def test_sd_expected_update_equals_enumeration_of_groups_and_demonstrations(case, policy):
    task = tiny_task()
    pol = feature_policy() if policy == "feature" else "tabular"
    rule = PathSampledSD(PathCopyTeacher(0.6), n_rollouts=3, lr=0.4, policy=pol, **case)
    lp, theta = moved_policy(task, rule.policy)
    moved = path_task(task.graph, np.exp(lp))
    rs, combos, w = groups(moved, 3)
    rows, aw, picks, has = sd_combos(task, rs, combos)
    ro = rollouts_of(moved, rs, [combos[b] for b in rows])
    big, st = state_at(rule, task, len(rows), lp, theta)
    direction, _ = rule._direction(st, big, ro, picks, has)
    expected = (w[rows] * aw) @ direction
    v = rule.velocity(lp, task) / rule.lr
    np.testing.assert_allclose(expected, v, rtol=1e-11, atol=1e-14)


@pytest.mark.parametrize("objective, lam", [("reverse", None), ("forward", None), ("jsd", 0.5), ("jsd", 0.05)])
def test_sd_group_update_equals_the_written_out_formula(objective, lam):
    task = tiny_task()
    alpha, beta = 0.6, 0.2
    rule = PathSampledSD(PathCopyTeacher(alpha), n_rollouts=3, objective=objective, jsd_weight=lam,
                         beta=beta, teacher_base="frozen")
    lp, _ = moved_policy(task, rule.policy)
    pi, rho = np.exp(lp), np.exp(task.log_base)
    moved = path_task(task.graph, pi)
    rs, combos, _ = groups(moved, 3)
    rows, _, picks, has = sd_combos(task, rs, combos)
    sel = np.arange(0, rows.size, 7)  # a spread of (group, assignment) pairs
    ro = rollouts_of(moved, rs, [combos[rows[i]] for i in sel])
    big, st = state_at(rule, task, sel.size, lp)
    direction, _ = rule._direction(st, big, ro, picks[sel], has[sel])
    for i, s in enumerate(sel):
        c = combos[rows[s]]
        want = np.zeros(task.n_edges)
        for n, k in enumerate(c):
            for e in rs[k][1]:
                u = task.graph.src[e]
                if has[s, 0, n]:
                    demo = rs[c[picks[s, 0, n]]][1]
                    T = ref.copy_row(task.graph, rho, u, demo, alpha)
                    want += ref.divergence_logit_grad(task.graph, pi, u, T, objective, lam or 0.5) / 3
                want += beta * ref.node_kl_grad(task.graph, pi, rho, u) / 3
        np.testing.assert_allclose(direction[i], -want, rtol=1e-11, atol=1e-14)


def test_jsd_gradient_matches_finite_differences_and_its_limits():
    """∂JSD_λ(T‖π)/∂π_i = (1 − λ)·log(π_i/M_i) (theory §10), checked on the logits by finite
    differences; JSD_λ/(1 − λ) → KL(π‖T) as λ → 1 and JSD_λ/λ → KL(T‖π) as λ → 0 (TRL's endpoints)."""

    def jsd(x, t, lam):
        p = np.exp(x - np.logaddexp.reduce(x))
        m = lam * t + (1 - lam) * p
        return lam * np.sum(t * np.log(t / m)) + (1 - lam) * np.sum(p * np.log(p / m))

    task = tiny_task()
    g = task.graph
    pi = np.exp(moved_policy(task, paths.TabularPolicy())[0])
    rho = np.exp(task.log_base)
    u = 1
    es = ref.node_edges(g, u)
    T = ref.copy_row(g, rho, u, [es[0]], 0.6)
    t = np.array([T[e] for e in es])
    x = np.log(pi[es])
    for lam in (0.1, 0.5, 0.9):
        fd = np.array([(jsd(x + h, t, lam) - jsd(x - h, t, lam)) / 2e-6 for h in 1e-6 * np.eye(len(es))])
        got = ref.divergence_logit_grad(g, pi, u, T, "jsd", lam)[es]
        np.testing.assert_allclose(got, fd, rtol=1e-6, atol=1e-10)
        rule = PathSampledSD(PathCopyTeacher(0.6), objective="jsd", jsd_weight=lam, teacher_base="frozen")
        w_demo = np.zeros(g.n_edges)
        w_demo[es[0]] = 1.0
        kernel = rule.divergence_grad(np.log(pi), task.log_base, np.zeros(g.n_nodes), w_demo, task)
        np.testing.assert_allclose(kernel[es], got, rtol=1e-12, atol=1e-15)
    p = pi[es]
    kl_pt, kl_tp = np.sum(p * np.log(p / t)), np.sum(t * np.log(t / p))
    assert abs(jsd(x, t, 1 - 1e-6) / 1e-6 - kl_pt) < 1e-4
    assert abs(jsd(x, t, 1e-6) / 1e-6 - kl_tp) < 1e-4


# ------------------------------------------------------------------ Monte Carlo against the mean field


def _mc(rule, task, rows=20000, teacher=None):
    big = ms.replicate(task, rows)
    st = rule.init(big)
    if teacher is not None:
        st = st._replace(teacher_log_base=np.broadcast_to(teacher, st.log_policy.shape))
    d, _ = rule.estimate(st, big)
    return d.mean(0), d.std(0, ddof=1) / np.sqrt(rows)


def _agrees(mean, se, exact):
    return bool(np.all(np.abs(mean - exact) <= Z_BOUND * np.maximum(se, 1e-12)))


MC_BANK = paths.graph_bank(paths.ConceptGraph(14), 3, seed=2)


@pytest.mark.parametrize("rule", [
    PathSampledRL("grpo", n_rollouts=4, beta=0.1, policy=FeaturePolicy(), seed=1),
    PathSampledSD(n_rollouts=4, teacher_base=ms.EMA(0.95), beta=0.04, policy=FeaturePolicy(), seed=2),
    PathSampledSD(n_rollouts=4, objective="jsd", estimator="full", seed=3),
    PathSampledSD(n_rollouts=4, estimator="sampled", seed=4),
], ids=["grpo-feature", "sd-ema-feature", "sd-jsd-tabular", "sd-sampled-tabular"])
def test_monte_carlo_mean_matches_the_mean_field(rule):
    teacher = None
    if getattr(rule, "ema_tau", None) is not None:
        teacher = FeaturePolicy(theta0=(0.8, 0.1, 0.3)).log_policy(np.array([0.8, 0.1, 0.3]), MC_BANK)
    mean, se = _mc(rule, MC_BANK, teacher=teacher)
    exact = rule.velocity(MC_BANK.log_base, MC_BANK, teacher_log_base=teacher) / rule.lr
    assert _agrees(mean, se, exact), np.max(np.abs(mean - exact) / np.maximum(se, 1e-12))


def test_monte_carlo_check_rejects_wrong_mean_fields():
    """Negative controls: GRPO's samples against REINFORCE's field (no clock), and SD's
    samples (self excluded) against the field of self-included demonstrations."""
    grpo = PathSampledRL("grpo", n_rollouts=4, seed=1)
    mean, se = _mc(grpo, MC_BANK)
    assert not _agrees(mean, se, replace(grpo, estimator="reinforce").velocity(MC_BANK.log_base, MC_BANK) / grpo.lr)
    sd = PathSampledSD(n_rollouts=2, seed=2)
    mean, se = _mc(sd, MC_BANK)
    assert _agrees(mean, se, sd.velocity(MC_BANK.log_base, MC_BANK) / sd.lr)
    including = replace(sd, n_rollouts=3)  # P_3 = 1 − (1 − J)^2: the self-including chance for N = 2
    assert not _agrees(mean, se, including.velocity(MC_BANK.log_base, MC_BANK) / sd.lr)


def test_mean_field_rule_steps_by_the_velocity():
    rule = PathSampledSD(n_rollouts=4, teacher_base=ms.EMA(0.9), lr=0.5, policy=FeaturePolicy())
    mf = ExpectedUpdate(rule)
    st = mf.init(MC_BANK)
    nxt = mf.step(st, MC_BANK)
    v = rule.velocity(st.log_policy, MC_BANK, teacher_log_base=st.teacher_log_base)
    np.testing.assert_allclose(nxt.params, st.params + v, rtol=0, atol=0)
    np.testing.assert_allclose(nxt.log_policy, rule.policy.log_policy(st.params + v, MC_BANK), atol=0)
    assert "deterministic" in mf.capabilities and "memoryless" not in mf.capabilities


# ------------------------------------------------------------------ reproducibility and batching


RULES = [
    PathSampledRL("grpo", lr=0.5, beta=0.04, seed=3),
    PathSampledRL("rloo", lr=0.5, policy=FeaturePolicy(), seed=3),
    PathSampledSD(lr=0.5, teacher_base=ms.EMA(0.95), beta=0.04, seed=4),
    PathSampledSD(lr=0.5, objective="jsd", teacher_base=ms.EMA(0.95), policy=FeaturePolicy(), seed=4),
]
IDS = ["grpo-tabular", "rloo-feature", "sd-tabular", "sd-jsd-feature"]


@pytest.mark.parametrize("rule", RULES, ids=IDS)
def test_seeds_reproduce_and_differ(rule):
    a = ms.train(rule, MC_BANK, 6, n_seeds=2, record_policy=False).final
    b = ms.train(rule, MC_BANK, 6, n_seeds=2, record_policy=False).final
    c = ms.train(replace(rule, seed=rule.seed + 1), MC_BANK, 6, n_seeds=2, record_policy=False).final
    np.testing.assert_array_equal(a.log_policy, b.log_policy)
    assert not np.array_equal(a.log_policy, c.log_policy)
    assert not np.array_equal(a.log_policy[0], a.log_policy[1])


@pytest.mark.parametrize("rule", RULES, ids=IDS)
def test_chunks_of_seeds_reproduce_the_whole_run(rule):
    whole = ms.train(rule, MC_BANK, 5, n_seeds=4, record_policy=False).final
    part = ms.train(rule, MC_BANK, 5, n_seeds=2, first_seed=2, record_policy=False).final
    np.testing.assert_array_equal(part.log_policy, whole.log_policy[2:])
    np.testing.assert_array_equal(part.silent_groups, whole.silent_groups[2:])
    if whole.params is not None:
        np.testing.assert_array_equal(part.params, whole.params[2:])


@pytest.mark.parametrize("rule", [RULES[0], RULES[2]], ids=["grpo", "sd"])
def test_a_bank_run_equals_its_graphs_run_one_by_one(rule):
    """Tabular policies: graphs are independent, and streams are indexed by graph id."""
    whole = ms.train(rule, MC_BANK, 5, n_seeds=2, record_policy=False).final
    for gi in range(MC_BANK.n_graphs):
        sub = MC_BANK.subset([gi])
        alone = ms.train(rule, sub, 5, n_seeds=2, record_policy=False).final
        np.testing.assert_array_equal(alone.log_policy[..., sub.edge_index[0]],
                                      whole.log_policy[..., MC_BANK.edge_index[gi]])
        np.testing.assert_array_equal(alone.silent_groups[..., 0], whole.silent_groups[..., gi])


def test_a_path_task_trains_as_a_bank_of_one_graph():
    """ms.train takes a PathTask: it is the bank of that one graph (graph id 0)."""
    rule = PathSampledSD(lr=0.5, teacher_base=ms.EMA(0.95), beta=0.04, seed=4)
    task = MC_BANK.tasks[0]
    a = ms.train(rule, task, 4, n_seeds=2, record_policy=False).final
    b = ms.train(rule, MC_BANK.subset([0]), 4, n_seeds=2, record_policy=False).final
    assert MC_BANK.graph_ids[0] == 0
    np.testing.assert_array_equal(a.log_policy, b.log_policy)
    assert a.silent_groups.shape == (2, 1)


def test_a_parameter_grid_equals_the_loop_over_its_values():
    lrs = np.array([0.1, 0.5, 2.0])
    rule = PathSampledSD(lr=lrs, beta=np.array([0.0, 0.04, 0.1]), teacher_base=ms.EMA(0.95),
                         policy=FeaturePolicy(), seed=7)
    grid = ms.iterate(rule, MC_BANK, 4, record_policy=False).final
    for i, (lr, beta) in enumerate(zip(lrs, [0.0, 0.04, 0.1])):
        one = ms.iterate(replace(rule, lr=float(lr), beta=beta), MC_BANK, 4, record_policy=False).final
        np.testing.assert_array_equal(grid.params[i], one.params)


def test_sd_signal_needs_another_correct_rollout_and_reaches_failed_ones():
    """A group without a correct rollout is silent; with exactly one, that rollout has no
    demonstration (never itself) while the failed ones are scored against it (dense
    feedback) — unless only correct rollouts are scored."""
    task = tiny_task()
    rs, combos, _ = groups(task, 3)
    valid = [bool(task.graph.goal[ns[-1]]) for ns, _ in rs]
    bad = [k for k in range(len(rs)) if not valid[k]]
    good = [k for k in range(len(rs)) if valid[k]]
    ro = rollouts_of(task, rs, [(bad[0], bad[1], bad[0]), (good[0], bad[0], bad[1])])
    for score, silent_want in (("all", [True, False]), ("correct", [True, True])):
        rule = PathSampledSD(n_rollouts=3, score=score)
        big, st = state_at(rule, task, 2, task.log_base)
        picks, has = rule.demo_picks(st, big, ro)
        np.testing.assert_array_equal(has[:, 0], [[False, False, False], [False, True, True]])
        np.testing.assert_array_equal(picks[1, 0, 1:], [0, 0])  # the one correct rollout
        d, silent = rule._direction(st, big, ro, picks, has)
        np.testing.assert_array_equal(silent[:, 0], silent_want)
        assert np.all(d[0] == 0.0) and (np.any(d[1] != 0.0) != silent_want[1])


def test_silent_groups_are_counted_per_graph():
    state = ms.train(PathSampledRL("grpo", seed=0), MC_BANK, 20, n_seeds=3, record_policy=False).final
    assert state.silent_groups.shape == (3, MC_BANK.n_graphs)
    assert np.all((state.silent_groups >= 0) & (state.silent_groups <= 20)) and state.silent_groups.sum() > 0


def test_extreme_learning_rates_run_clean():
    with pytest.raises(ValueError, match="lr·beta < 4"):   # tabular SGD on the KL penalty
        PathSampledSD(lr=1e6, beta=1e3, seed=0)
    for rule in (PathSampledRL("grpo", lr=1e6, seed=0), PathSampledSD(lr=1e6, beta=3e-6, seed=0),
                 PathSampledRL("reinforce", lr=1e3, policy=FeaturePolicy(), seed=0)):
        st = ms.iterate(rule, MC_BANK, 5, record_policy=False).final
        assert not np.any(np.isnan(st.log_policy)) and np.all(st.log_policy <= 0.0)
        np.testing.assert_allclose(paths.bank_success(st.policy, MC_BANK) >= 0, True)


# ------------------------------------------------------------------ bad input


@pytest.mark.parametrize("make, word", [
    (lambda: PathSampledRL("ppo"), "estimator"),
    (lambda: PathSampledRL("grpo", n_rollouts=1), "n_rollouts"),
    (lambda: PathSampledRL(n_rollouts=1 << 16), "n_rollouts"),
    (lambda: PathSampledRL(lr=0.0), "lr"),
    (lambda: PathSampledRL(beta=-1.0), "beta"),
    (lambda: PathSampledRL(eps=float("nan")), "eps"),
    (lambda: PathSampledRL(policy="linear"), "policy"),
    (lambda: PathSampledRL(seed=-1), "seed"),
    (lambda: PathSampledSD(objective="tvd"), "objective"),
    (lambda: PathSampledSD(objective="jsd", jsd_weight=1.0), "jsd_weight"),
    (lambda: PathSampledSD(jsd_weight=0.5), "jsd_weight"),
    (lambda: PathSampledSD(objective="forward", estimator="sampled"), "estimator"),
    (lambda: PathSampledSD(estimator="sampled", score="correct"), "score"),
    (lambda: PathSampledSD(score="best"), "score"),
    (lambda: PathSampledSD(demos="uniform"), "demos"),
    (lambda: PathSampledSD(teacher=ms.CopyTeacher(0.5)), "teacher"),
    (lambda: PathSampledSD(teacher_base=0.9), "teacher_base"),
    (lambda: ExpectedUpdate(ms.SampledRL()), "rule"),
    (lambda: PathSampledRL().init(ms.make_task([0.5, 0.5])), "PathTask"),
    (lambda: PathSampledRL(policy=FeaturePolicy(("log_base", "nope"))).init(MC_BANK), "feature"),
    (lambda: PathSampledSD(teacher_base=ms.EMA(0.5)).velocity(MC_BANK.log_base, MC_BANK), "teacher_log_base"),
])
def test_bad_input_is_refused_by_name(make, word):
    with pytest.raises(ValueError, match=word):
        make()
