"""Speed of the path environment (theory §5.1): O(E) rounds on large DAGs (issue 10).

Run with ``python -m pytest benchmarks/bench_paths.py``.  Costs are reported as
**passes**: the time of one call divided by the time of one ``np.exp`` over an array of E
floats, both measured in the same run (machine-independent ratios).  Targets:

- one path self-distillation round ≤ 40 passes over the edges (DAG with 10^5 nodes and
  10^6 edges); the natural-gradient round and the exact metrics a few passes each;
- input validation in :func:`~modesim.paths.path_pass_at_k` cheaper than its DP pass;
- batched kernels (several base policies at once) no slower per entry than one at a time.
"""


import numpy as np
import pytest
from _timing import best

import modesim as ms
from modesim import paths


@pytest.fixture(scope="module")
def large_task():
    # 101 layers × 1000 nodes, out-degree 10: 101,002 nodes and ≈ 1.0e6 edges.
    spec = paths.LayeredDAG(n_layers=101, width=1000, n_paths=500, out_degree=10, bias=0.5, leak=0.01)
    task = spec.build(0)
    assert task.graph.n_nodes >= 100_000
    assert task.graph.n_edges >= 1_000_000
    return task


@pytest.fixture(scope="module")
def exp_pass(large_task):
    """Seconds of one ``np.exp`` over an array of E floats (the unit of a "pass")."""
    x = np.random.default_rng(0).standard_normal(large_task.graph.n_edges)
    return best(lambda: np.exp(x), 20)


def _passes(benchmark, exp_pass, seconds=None) -> float:
    seconds = benchmark.stats.stats.min if seconds is None else seconds
    n = seconds / exp_pass
    benchmark.extra_info["passes"] = round(n, 2)
    print(f"\n{benchmark.name}: {seconds * 1e3:.1f} ms = {n:.1f} passes of np.exp over E")
    return n


@pytest.mark.parametrize("config", [
    dict(beta=0.1),
    dict(beta=0.1, step_size=0.5, teacher_base=ms.EMA(0.9)),
    dict(beta=0.1, objective="forward"),
])
def test_one_self_distillation_round_on_1e6_edges(benchmark, large_task, exp_pass, config):
    rule = paths.PathSelfDistillation(teacher=paths.PathCopyTeacher(0.5), **config)
    state = rule.init(large_task)
    new = benchmark.pedantic(rule.step, args=(state, large_task), rounds=5, iterations=1)
    assert np.all(np.isfinite(new.log_policy))
    assert _passes(benchmark, exp_pass) <= 40


def test_natural_pg_round_on_1e6_edges(benchmark, large_task, exp_pass):
    rule = paths.PathNaturalPG(1.0)
    benchmark.pedantic(rule.step, args=(rule.init(large_task), large_task), rounds=5, iterations=1)
    assert _passes(benchmark, exp_pass) <= 10


def test_pass_at_k_validation_costs_less_than_its_dp(benchmark, large_task, exp_pass):
    p = large_task.base
    benchmark.pedantic(paths.path_pass_at_k, args=(p, large_task, [1, 16]), rounds=5, iterations=1)
    total = _passes(benchmark, exp_pass)
    validation = best(lambda: large_task.log_policy_of(p)) / exp_pass
    lp = large_task.log_policy_of(p)
    dp = best(lambda: paths.log_success(large_task.graph, lp)) / exp_pass
    benchmark.extra_info.update(validation_passes=round(validation, 2), dp_passes=round(dp, 2))
    print(f"validation (checks + log) {validation:.1f} passes, DP {dp:.1f} passes")
    assert validation < dp
    assert total <= 10


def test_exact_metrics_on_1e6_edges(benchmark, large_task, exp_pass):
    p = large_task.base

    def metrics():
        return (paths.path_pass_at_k(p, large_task, [1, 16]), paths.token_entropy(p, large_task),
                paths.expected_distinct_concepts(p, large_task, 8), paths.path_entropy(p, large_task))

    benchmark.pedantic(metrics, rounds=3, iterations=1)
    assert _passes(benchmark, exp_pass) <= 40


def test_batched_kernels_cost_per_entry_no_more_than_one_at_a_time(benchmark, large_task, exp_pass):
    """Eight base policies on one graph (issue 13: many seeds) in one call, against a loop."""
    g = large_task.graph
    rng = np.random.default_rng(1)
    batch = paths.normalise_nodes(g, large_task.log_base + 0.1 * rng.standard_normal((8, g.n_edges)))
    benchmark.pedantic(paths.log_success, args=(g, batch), rounds=3, iterations=1)
    looped = best(lambda: [paths.log_success(g, row) for row in batch], 3)
    batched = benchmark.stats.stats.min
    benchmark.extra_info.update(batched_s=batched, looped_s=looped)
    print(f"\nbatched {batched * 1e3:.0f} ms, loop over 8 entries {looped * 1e3:.0f} ms")
    assert batched <= 1.1 * looped


def test_sampling_10k_rollouts_on_1e6_edges(benchmark, large_task):
    r = benchmark.pedantic(paths.sample_paths, args=(large_task.base, large_task, 10_000, 0),
                           rounds=3, iterations=1)
    assert r.nodes.shape == (10_000, 103)  # start, 101 layers, goal
    assert benchmark.stats.stats.min < 2.0
