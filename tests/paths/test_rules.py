"""Path rules (theory §5.2) against the core rules on enumerated rollouts, and the ratio
theorems R1, R3 and S4 on paths (with the S4 counterexample on general DAGs, theory §5.3)."""

import itertools
import warnings
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import modesim as ms
from modesim import paths
from modesim.paths.testing import fan_tasks, path_tasks

from .path_reference import (
    LOG,
    copy_matrix,
    edge_policy_from_paths,
    node_softmax,
    node_sums,
    path_probs,
)


def valid_path_probs(task, policy):
    _, P, valid = path_probs(task.graph, policy)
    return P[valid]


def as_paths(task, log_policy):
    """Path probabilities of per-edge log-policies (..., E) over the enumerated rollouts."""
    rs, _, _ = path_probs(task.graph, np.ones(task.graph.n_edges))
    return np.exp(np.stack([np.asarray(log_policy)[..., list(es)].sum(-1) for _, es in rs], axis=-1))


# --------------------------------------------------------- optima = the core


@settings(max_examples=60, deadline=None)
@given(path_tasks(with_ood=False), st.sampled_from([0.0, 0.3, 2.0]))
def test_kl_regularised_optimum_on_paths_equals_core(task, beta):
    ct, enum = paths.categorical_task(task)
    path = paths.path_kl_regularised_optimum(task, beta, log=True)
    core = ms.conditional(ct.base, ct.valid) if beta == 0.0 else ms.kl_regularised_optimum(ct, beta)
    np.testing.assert_allclose(np.exp(enum.log_prob(path)), core, atol=1e-9)


@settings(max_examples=60, deadline=None)
@given(path_tasks(with_ood=False), st.floats(0.1, 3.0))
def test_rl_iterates_on_paths_equal_core(task, lr):
    ct, enum = paths.categorical_task(task)
    for path_rule, core_rule in [
        (paths.PathNaturalPG(lr), ms.NaturalPG(lr)),
        (paths.PathKLRegularisedRL(1 / lr, reference="current"), ms.KLRegularisedRL(1 / lr, reference="current")),
        (paths.PathKLRegularisedRL(1 / lr), ms.KLRegularisedRL(1 / lr)),
    ]:
        a = ms.iterate(path_rule, task, 4).log_policy
        b = ms.iterate(core_rule, ct, 4).policy
        np.testing.assert_allclose(np.exp(enum.log_prob(a)), b, atol=1e-9)


SD_CONFIGS = [
    dict(demos="conditioned", beta=0.0, step_size=1.0, teacher_base="current", reference="base"),
    dict(demos="conditioned", beta=0.5, step_size=0.6, teacher_base="current", reference="current"),
    dict(demos="uniform", beta=0.2, step_size=1.0, teacher_base="frozen", reference="base"),
    dict(demos="fixed", beta=0.0, step_size=0.5, teacher_base="current", reference="base"),
    dict(demos="conditioned", beta=0.3, step_size=1.0, teacher_base=ms.EMA(0.7), reference="base"),
    dict(demos="conditioned", beta=0.0, step_size=0.8, teacher_base=ms.EMA(0.0), reference="base"),
    dict(demos="uniform", beta=1.0, step_size=1.0, teacher_base=ms.EMA(1.0), reference="current"),
]


def reference_sd(task, alpha, cfg, core_demos, rounds):
    """Path SD by the core's sd_target on enumerated rollouts, round by round.

    The teacher matrix is built by brute force from the teacher base's edge policy; the
    step is the core's geometric step over sequences; an EMA teacher averages per-edge
    logits and normalises each node by a loop (what EMA of a tabular policy's weights does).
    """
    ct, enum = paths.categorical_task(task)
    rs, _, _ = path_probs(task.graph, task.base)
    g = task.graph

    def T(log_rho_paths):
        return copy_matrix(g, rs, edge_policy_from_paths(g, rs, np.exp(log_rho_paths)), alpha)

    cur, teacher = task.log_base, task.log_base
    out = [np.exp(enum.log_prob(cur))]
    for _ in range(rounds):
        cur_paths = enum.log_prob(cur)
        tb = cfg["teacher_base"]
        rho_edges = teacher if isinstance(tb, ms.EMA) else (cur if tb == "current" else task.log_base)
        rho = enum.log_prob(rho_edges)
        ref = ct.log_base if cfg["reference"] == "base" else cur_paths
        target = ms.sd_target(rho, ref, ct, teacher=ms.MatrixTeacher(T), demos=core_demos, beta=cfg["beta"])
        eta = cfg["step_size"]
        with np.errstate(invalid="ignore"):
            mixed = np.where(np.isneginf(cur_paths) | np.isneginf(target), -np.inf,
                             (1 - eta) * cur_paths + eta * target)
        new_paths = mixed - np.logaddexp.reduce(mixed)
        new = edge_policy_from_paths(g, rs, np.exp(new_paths))
        if isinstance(tb, ms.EMA):
            with np.errstate(invalid="ignore"):
                teacher = node_softmax(g, np.where(np.isneginf(new) | np.isneginf(teacher), -np.inf,
                                                   tb.tau * teacher + (1 - tb.tau) * new))
        cur = new
        out.append(np.exp(new_paths))
    return np.array(out)


@settings(max_examples=60, deadline=None)
@given(path_tasks(max_nodes=7, with_ood=False), st.floats(0.05, 0.9), st.sampled_from(SD_CONFIGS))
def test_self_distillation_on_paths_equals_core_sd_target_on_enumerated_rollouts(task, alpha, cfg):
    ct, enum = paths.categorical_task(task)
    fixed = int(np.flatnonzero(ct.valid)[0])
    path_demos = {"conditioned": paths.ConditionedPaths(), "uniform": paths.UniformPaths(),
                  "fixed": paths.FixedPath(enum.paths[fixed])}[cfg["demos"]]
    core_demos = {"conditioned": ms.ConditionedDemos(), "uniform": ms.UniformDemos(),
                  "fixed": ms.FixedDemo(fixed)}[cfg["demos"]]
    opts = {key: cfg[key] for key in ("beta", "step_size", "teacher_base", "reference")}
    rule = paths.PathSelfDistillation(teacher=paths.PathCopyTeacher(alpha), demos=path_demos, **opts)
    got = np.exp(enum.log_prob(ms.iterate(rule, task, 3).log_policy))
    np.testing.assert_allclose(got, reference_sd(task, alpha, cfg, core_demos, 3), atol=1e-9)
    if not isinstance(cfg["teacher_base"], ms.EMA):
        # Without an EMA the path rule is the core rule itself on the rollouts.
        rs, _, _ = path_probs(task.graph, task.base)

        def T(log_rho_paths):
            return copy_matrix(task.graph, rs, edge_policy_from_paths(task.graph, rs, np.exp(log_rho_paths)), alpha)

        core = ms.SelfDistillation(teacher=ms.MatrixTeacher(T), demos=core_demos, **opts)
        np.testing.assert_allclose(got, ms.iterate(core, ct, 3).policy, atol=1e-9)


def test_the_reference_detects_a_sequence_level_ema():
    """Negative control: an EMA normalised per sequence (not per node) is a different rule."""
    g = paths.PathGraph.from_edges([(0, 2), (0, 3), (2, 4), (2, 5), (3, 4), (4, 1), (5, 1), (3, 6)], 0, 1)
    task = paths.path_task(g, [0.6, 0.4, 0.7, 0.3, 0.5, 1, 1, 0.5])
    cfg = dict(beta=0.0, step_size=1.0, teacher_base=ms.EMA(0.5), reference="base")
    ref = reference_sd(task, 0.5, cfg, ms.ConditionedDemos(), 3)

    class SequenceEMA(paths.PathSelfDistillation):
        def _normalise(self, x, task):
            return paths.normalise_paths(task.graph, x)

    rule = SequenceEMA(teacher=paths.PathCopyTeacher(0.5), **cfg)
    wrong = as_paths(task, ms.iterate(rule, task, 3).log_policy)
    assert np.max(np.abs(wrong - ref)) > 1e-4
    right = as_paths(task, ms.iterate(paths.PathSelfDistillation(teacher=paths.PathCopyTeacher(0.5), **cfg),
                                      task, 3).log_policy)
    np.testing.assert_allclose(right, ref, atol=1e-12)


@settings(max_examples=40, deadline=None)
@given(path_tasks(with_ood=False), st.floats(0.05, 0.9), st.floats(0.0, 2.0))
def test_forward_kl_is_the_per_node_mixture(task, alpha, beta):
    """Per-token forward KL: π(·|u) = (E_d T(·|u, d) + β·π0(·|u))/(1 + β), by brute force."""
    g = task.graph
    rs, P, valid = path_probs(g, task.base)
    D = np.where(valid, P, 0.0) / P[valid].sum()
    mix = np.zeros(g.n_edges)
    for d in np.flatnonzero(D):
        on_d, took = set(rs[d][0][:-1]), set(rs[d][1])
        Td = np.array([(1 - alpha) * task.base[e] + alpha * (e in took) if g.src[e] in on_d
                       else task.base[e] for e in range(g.n_edges)])
        mix += D[d] * Td
    expect = (mix + beta * task.base) / (1 + beta)
    got = paths.path_sd_optimum(task, teacher=paths.PathCopyTeacher(alpha), objective="forward", beta=beta)
    np.testing.assert_allclose(got, expect, atol=1e-12)
    np.testing.assert_allclose(node_sums(g, got), 1.0, atol=1e-14)


@settings(max_examples=20, deadline=None)
@given(path_tasks(with_ood=False), st.floats(0.05, 0.9))
def test_forward_kl_with_one_demonstration_equals_core(task, alpha):
    """With D a single path and β = 0 the mixture is a per-node policy: equal to the core."""
    ct, enum = paths.categorical_task(task)
    rs, _, _ = path_probs(task.graph, task.base)
    fixed = int(np.flatnonzero(ct.valid)[-1])
    T = copy_matrix(task.graph, rs, task.log_base, alpha)
    got = paths.path_sd_optimum(task, teacher=paths.PathCopyTeacher(alpha), objective="forward",
                                demos=paths.FixedPath(enum.paths[fixed]), log=True)
    core = ms.sd_optimum(ct, teacher=ms.MatrixTeacher(T), demos=ms.FixedDemo(fixed), objective="forward")
    np.testing.assert_allclose(np.exp(enum.log_prob(got)), core, atol=1e-9)


# ------------------------------------------------- ratio theorems on paths


@settings(max_examples=60, deadline=None)
@given(path_tasks(with_ood=False), st.floats(0.01, 5.0), st.floats(0.1, 3.0))
def test_rl_preserves_ratios_among_valid_paths_R1_R3(task, beta, lr):
    p0 = valid_path_probs(task, task.base)
    star = valid_path_probs(task, paths.path_kl_regularised_optimum(task, beta))
    np.testing.assert_allclose(star / star.sum(), p0 / p0.sum(), rtol=1e-9)
    tr = ms.iterate(paths.PathNaturalPG(lr), task, 5)
    masses = []
    for lp in tr.log_policy:
        pt = valid_path_probs(task, np.exp(lp))
        np.testing.assert_allclose(pt / pt.sum(), p0 / p0.sum(), rtol=1e-9)
        masses.append(pt.sum())
    if masses[0] < 1 - 1e-9:
        assert np.all(np.diff(masses) > 0)


def test_the_ratio_preservation_check_fails_on_a_rule_that_does_not_preserve_ratios():
    """Negative control for R1/R3 above: one SD round changes the valid-path ratios."""
    task = paths.path_task(paths.PathGraph.from_edges([(0, 2), (0, 3), (0, 4), (2, 1), (3, 1)], 0, 1),
                           [0.5, 0.3, 0.2, 1, 1])
    p0 = valid_path_probs(task, task.base)
    p1 = valid_path_probs(task, paths.path_sd_optimum(task))
    assert np.max(np.abs(p1 / p1.sum() - p0 / p0.sum())) > 1e-3


@settings(max_examples=80, deadline=None)
@given(fan_tasks(), st.floats(0.05, 0.9), st.floats(0.0, 2.0))
def test_self_distillation_amplifies_ratios_among_valid_paths_S4(task, alpha, beta):
    p0 = valid_path_probs(task, task.base)
    p1 = valid_path_probs(task, paths.path_sd_optimum(task, teacher=paths.PathCopyTeacher(alpha), beta=beta))
    for i, j in itertools.permutations(range(p0.size), 2):
        if p0[i] > p0[j] * (1 + 1e-6):
            assert p1[i] / p1[j] > p0[i] / p0[j]


def test_S4_does_not_extend_to_general_dags():
    """Theory §5.3: with the per-node copy teacher, Ī(path) depends on where the path
    branches, not on π0(path) alone.  Four equally likely valid paths, two through the
    extra branching node 4, come out of one round unequal; with other weights a less
    probable path gains on a more probable one.  S4 holds on fan graphs (test above)."""
    g = paths.PathGraph.from_edges([(0, 1), (1, 4), (1, 5), (1, 6), (4, 5), (4, 6), (5, 6)], 0, 6)
    for w, expect in [([1, 2, 1, 1, 1, 1, 1], [0.2594, 0.2594, 0.2406, 0.2406]),
                      ([1, 6, 3, 1, 1, 2, 1], [0.1970, 0.4307, 0.2925, 0.0798])]:
        task = paths.path_task(g, w)
        p1 = valid_path_probs(task, paths.path_sd_optimum(task, teacher=paths.PathCopyTeacher(0.5)))
        np.testing.assert_allclose(p1, expect, atol=1e-4)
    p0 = valid_path_probs(task, task.base)
    assert p0[0] < p0[2] and p1[0] / p1[2] > p0[0] / p0[2]


def test_ratio_checks_fail_on_a_broken_rule():
    """Negative control: an anti-copying teacher compresses the ratios (theory §3.4 S5)."""

    class AntiCopy(paths.PathCopyTeacher):
        def edge_expected_log(self, graph, log_rho, log_m_node, log_m_edge):
            return 2 * log_rho - super().edge_expected_log(graph, log_rho, log_m_node, log_m_edge)

    task = paths.path_task(paths.PathGraph.from_edges([(0, 2), (0, 3), (2, 1), (3, 1)], 0, 1), [0.7, 0.3, 1, 1])
    p0 = valid_path_probs(task, task.base)
    p1 = valid_path_probs(task, paths.path_sd_optimum(task, teacher=AntiCopy(0.5)))
    assert p1[0] / p1[1] < p0[0] / p0[1]


def test_sd_collapses_on_harder_graphs_where_rl_succeeds():
    """SD pass@16 on the harder graph is 0 while RL's is 0.999 (theory §5.2, §7)."""
    task = paths.harder(paths.LayeredDAG(n_layers=6, width=8, n_paths=4, bias=1.0, leak=0.2).build(0))
    sd = ms.iterate(paths.PathSelfDistillation(teacher=paths.PathCopyTeacher(0.5)), task, 30).final.policy
    rl = ms.iterate(paths.PathNaturalPG(1.0), task, 30).final.policy
    ks = [1, 4, 16]
    assert np.all(paths.path_pass_at_k(sd, task, ks) > 0.99)
    sd_hard = paths.path_pass_at_k(sd, task, ks, ood="harder")
    rl_hard = paths.path_pass_at_k(rl, task, ks, ood="harder")
    # RL: π_30(path) ∝ π0(path)·e^{−30·(1 − r)}, so its harder-split pass@k follows from
    # the base's enumerated masses alone.
    rs, P, valid = path_probs(task.graph, task.base)
    hard = np.array([v and not any(task.ood["harder"][list(es)]) for (_, es), v in zip(rs, valid)])
    q = P[hard].sum() / (P[valid].sum() + P[~valid].sum() * np.exp(-30.0))
    np.testing.assert_allclose(rl_hard, 1 - (1 - q) ** np.array(ks), rtol=1e-12)
    assert round(float(rl_hard[-1]), 3) == 0.999
    assert np.all(sd_hard < 1e-6)
    assert paths.path_entropy(sd, task, given_valid=True) < 0.01
    p0 = valid_path_probs(task, task.base)
    prl = valid_path_probs(task, rl)
    np.testing.assert_allclose(prl / prl.sum(), p0 / p0.sum(), rtol=1e-9)


# ------------------------------------------------- issue 9 examples


def small_task():
    g = paths.PathGraph.from_edges([(0, 1), (0, 2), (2, 3), (2, 4)], 0, 1)
    return paths.path_task(g, [1, 1, 0.3, 0.7])


def test_kl_optimum_with_tiny_beta_is_normalised_at_every_node():
    """Issue 9, kind 2: β = 1e-12 left node 2 summing to 0.999988.  Exact answer (fractions):
    node 0 sends everything to the goal, node 2 keeps its base ratio 3:7."""
    task = small_task()
    p = paths.path_kl_regularised_optimum(task, 1e-12)
    np.testing.assert_allclose(node_sums(task.graph, p), 1.0, atol=1e-15)
    exact = [Fraction(1), Fraction(0), Fraction(3, 10), Fraction(7, 10)]
    np.testing.assert_allclose(p, [float(x) for x in exact], rtol=1e-15, atol=1e-300)
    paths.success_probability(p, task)  # the metrics accept it


@pytest.mark.parametrize("lr", [50.0, 1e3, 1e12, 1e300])
def test_natural_pg_with_large_lr_stays_normalised(lr):
    """Issue 9, kind 2: π_1 ∝ π0·exp(−lr·(1 − r)); node 2's children are both dead ends,
    so its ratio stays exactly 3:7 (fractions), and node 0 puts e^{−lr} on the dead branch."""
    task = small_task()
    lp = ms.iterate(paths.PathNaturalPG(lr), task, 2).final.log_policy
    p = np.exp(lp)
    np.testing.assert_allclose(node_sums(task.graph, p), 1.0, atol=1e-15)
    assert p[2] == pytest.approx(0.3, rel=1e-15) and p[3] == pytest.approx(0.7, rel=1e-15)
    assert lp[1] == pytest.approx(-2 * lr, rel=1e-12)


@pytest.mark.parametrize("objective", ["reverse", "forward"])
def test_huge_beta_gives_the_base_policy(objective):
    """Issue 9, kind 3: (g + β·log π_ref)/(1 + β) overflowed at β = 1e308; zero edges stay zero."""
    g = paths.PathGraph.from_edges([(0, 1), (0, 2), (2, 3), (2, 1), (0, 4)], 0, 1)
    task = paths.path_task(g, [2, 1, 0, 1, 1])
    for beta in (1e308, np.finfo(float).max, np.array([1e308, 1e300])):
        p = paths.path_sd_optimum(task, beta=beta, objective=objective)
        np.testing.assert_allclose(p, np.broadcast_to(task.base, np.shape(p)), rtol=1e-12, atol=1e-300)
        assert not np.any(np.isnan(p))


def test_rules_accept_log_policies_normalised_only_to_round_off():
    """Issue 9, kind 1: a state whose log-policy has entries a few ulp above 0."""
    task = paths.LayeredDAG(n_layers=4, width=5, n_paths=3).build(2)
    lp = task.log_base
    bumped = np.where(lp == 0.0, 2e-16, lp * (1 - 1e-16))
    rules = [paths.PathSelfDistillation(), paths.PathSelfDistillation(objective="forward", beta=0.2),
             paths.PathSelfDistillation(step_size=0.5, teacher_base=ms.EMA(0.9), demos=paths.UniformPaths()),
             paths.PathNaturalPG(2.0), paths.PathKLRegularisedRL(0.1, reference="current")]
    for rule in rules:
        s0 = rule.init(task)
        exact = rule.step(s0, task).log_policy
        s1 = s0._replace(log_policy=bumped, teacher_log_base=None if s0.teacher_log_base is None else bumped)
        got = rule.step(s1, task).log_policy
        assert not np.any(np.isnan(got))
        np.testing.assert_allclose(np.exp(got), np.exp(exact), atol=1e-14)
        assert np.all(got <= 0.0)


def test_rounds_from_policies_with_zero_edges_never_give_nan():
    task = paths.harder(paths.LayeredDAG().build(1))
    filtered = paths.path_kl_regularised_optimum(task, 0.0, log=True)
    for rule in (paths.PathSelfDistillation(),
                 paths.PathSelfDistillation(teacher_base=ms.EMA(0.0), step_size=0.5),
                 paths.PathSelfDistillation(objective="forward", beta=0.3, demos=paths.UniformPaths())):
        state = rule.init(task)
        state = state._replace(log_policy=filtered,
                               teacher_log_base=None if state.teacher_log_base is None else filtered)
        out = rule.step(rule.step(state, task), task)
        assert not np.any(np.isnan(out.log_policy))
        np.testing.assert_allclose(node_sums(task.graph, out.policy), 1.0, atol=1e-14)


# ------------------------------------------------- protocol, parameters, batches


def test_rules_declare_their_capabilities_and_parameter_shapes():
    assert ms.capabilities(paths.PathNaturalPG()) == {"deterministic", "memoryless"}
    assert ms.capabilities(paths.PathSelfDistillation()) == {"deterministic", "memoryless", "target"}
    assert ms.capabilities(paths.PathSelfDistillation(teacher_base=ms.EMA(0.9))) == {"deterministic", "target"}
    rule = paths.PathSelfDistillation(teacher=paths.PathCopyTeacher(np.array([0.1, 0.5])), beta=np.zeros((3, 1)))
    assert rule.param_shape == (3, 2)
    assert paths.PathNaturalPG(lr=np.ones(4)).param_shape == (4,)
    assert isinstance(paths.PathSelfDistillation(), ms.rule.SDShell)


def test_array_parameters_equal_a_loop_over_scalar_parameters():
    """Batched runs (parameter grids × base policies) = scalar runs, to 1e-12."""
    g = paths.PathGraph.from_edges([(0, 1), (0, 2), (0, 3), (2, 1), (2, 4), (3, 4), (3, 5), (4, 1), (4, 5)], 0, 1)
    w = np.random.default_rng(7).random((2, g.n_edges)) + 0.05
    task = paths.path_task(g, w)  # batch shape (2,)
    alphas, betas, steps, taus = np.array([0.2, 0.6]), np.array([[0.0], [0.5], [3.0]]), 0.7, np.array([0.0, 0.9])
    batched = paths.PathSelfDistillation(teacher=paths.PathCopyTeacher(alphas), beta=betas, step_size=steps,
                                         teacher_base=ms.EMA(taus))
    lrs = np.array([[0.5], [1.0], [40.0]])
    out = ms.iterate(batched, task, 3).final.log_policy
    npg = ms.iterate(paths.PathNaturalPG(lrs), task, 3).final.log_policy
    kl = paths.path_kl_regularised_optimum(task, betas, log=True)
    assert out.shape == (3, 2, g.n_edges) and npg.shape == (3, 2, g.n_edges) and kl.shape == (3, 2, g.n_edges)
    for i, j in itertools.product(range(3), range(2)):
        one = paths.path_task(g, w[j])
        rule = paths.PathSelfDistillation(teacher=paths.PathCopyTeacher(alphas[j]), beta=betas[i, 0],
                                          step_size=steps, teacher_base=ms.EMA(taus[j]))
        np.testing.assert_allclose(out[i, j], ms.iterate(rule, one, 3).final.log_policy, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(npg[i, j], ms.iterate(paths.PathNaturalPG(lrs[i, 0]), one, 3).final.log_policy,
                                   rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(kl[i, j], paths.path_kl_regularised_optimum(one, betas[i, 0], log=True),
                                   rtol=1e-12, atol=1e-12)


def test_eta_is_a_deprecated_name():
    with pytest.warns(DeprecationWarning, match="PathNaturalPG.*lr="):
        assert paths.PathNaturalPG(eta=2.0).lr == 2.0
    with pytest.warns(DeprecationWarning, match="PathSelfDistillation.*step_size="):
        assert paths.PathSelfDistillation(eta=0.5).step_size == 0.5
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        paths.PathNaturalPG(lr=2.0)


@pytest.mark.parametrize(
    "build, words",
    [
        (lambda: paths.PathSelfDistillation(objective="mixed"), ["objective", "'mixed'", "reverse"]),
        (lambda: paths.PathSelfDistillation(step_size=0.0), ["step_size", "(0, 1]"]),
        (lambda: paths.PathSelfDistillation(step_size=np.array([0.5, 1.5])), ["step_size", "1.5", "index (1,)"]),
        (lambda: paths.PathSelfDistillation(demos=object()), ["demos", "ConditionedPaths()", "FixedPath"]),
        (lambda: paths.PathSelfDistillation(demos=ms.ConditionedDemos()), ["demos", "path demonstration"]),
        (lambda: paths.PathSelfDistillation(teacher=ms.CopyTeacher(0.5)), ["teacher", "PathCopyTeacher"]),
        (lambda: paths.PathSelfDistillation(teacher_base="ema"), ["teacher_base", "EMA(tau)"]),
        (lambda: paths.PathSelfDistillation(beta=-1.0), ["beta", ">= 0", "-1.0"]),
        (lambda: paths.PathNaturalPG(-1.0), ["lr", "> 0", "-1.0"]),
        (lambda: paths.PathNaturalPG(lr=None), ["lr", "real number", "None"]),
        (lambda: paths.PathKLRegularisedRL(reference="old"), ["reference", "'old'"]),
        (lambda: paths.PathKLRegularisedRL(beta=np.inf), ["beta", "inf"]),
        (lambda: paths.path_kl_regularised_optimum(ms.make_task([0.5, 0.5]), 1.0), ["PathTask"]),
        (lambda: paths.FixedPath([0]), ["path", "two integers"]),
    ],
)
def test_bad_rule_arguments_name_argument_value_and_allowed(build, words):
    with pytest.raises(ValueError) as err:
        build()
    for word in words:
        assert word in str(err.value)


def test_bad_runs_are_rejected_when_the_rule_starts_or_the_target_is_empty():
    g = paths.PathGraph.from_edges([(0, 1), (0, 2), (1, 3), (2, 3), (2, 4)], 0, 3)
    task = paths.path_task(g)
    with pytest.raises(ValueError, match=r"path must run from the start 0 to a goal; got \[0, 2, 4\]"):
        paths.path_sd_optimum(task, demos=paths.FixedPath([0, 2, 4]))
    with pytest.raises(ValueError, match=r"edges \[\(0, 4\), \(4, 3\)\] are not in the graph"):
        paths.path_sd_optimum(task, demos=paths.FixedPath([0, 4, 3]))
    dead = paths.PathTask(g, LOG([0.5, 0.5, 1.0, 0.5, 0.5]))
    stuck = ms.State(LOG([0.0, 1.0, 1.0, 0.0, 1.0]))
    with pytest.raises(ValueError, match=r"probability 0.*no correct rollout"):
        paths.PathSelfDistillation().step(stuck, dead)
    with pytest.raises(ValueError, match="broadcast against the task's batch shape"):
        paths.PathNaturalPG(lr=np.ones(3)).init(paths.path_task(g, np.ones((2, g.n_edges))))
