"""Speed targets of the path environment (MATH §5): O(E) rounds on large DAGs.

Run with ``python -m pytest benchmarks/bench_paths.py``.  Target: one self-distillation
round on a DAG with 10^5 nodes and 10^6 edges in under 2 s.
"""

import numpy as np
import pytest

import modesim as ms
from modesim import envs


@pytest.fixture(scope="module")
def large_task():
    # 101 layers × 1000 nodes, out-degree 10: 101,002 nodes and ≈ 1.0e6 edges.
    spec = envs.LayeredDAG(n_layers=101, width=1000, n_paths=500, out_degree=10, bias=0.5, leak=0.01)
    task = spec.build(0)
    assert task.graph.n_nodes >= 100_000
    assert task.graph.n_edges >= 1_000_000
    return task


def test_one_self_distillation_round_on_1e6_edges(benchmark, large_task):
    rule = envs.PathSelfDistillation(teacher=envs.PathCopyTeacher(0.5), beta=0.1)
    state = rule.init(large_task)
    new = benchmark(rule.step, state, large_task)
    assert np.all(np.isfinite(new.log_policy))
    assert benchmark.stats.stats.mean < 2.0


def test_one_ema_self_distillation_round_with_step_size(benchmark, large_task):
    rule = envs.PathSelfDistillation(teacher=envs.PathCopyTeacher(0.5), eta=0.5, teacher_base=ms.EMA(0.9))
    state = rule.init(large_task)
    benchmark(rule.step, state, large_task)
    assert benchmark.stats.stats.mean < 2.0


def test_natural_pg_round_on_1e6_edges(benchmark, large_task):
    rule = envs.PathNaturalPG(1.0)
    benchmark(rule.step, rule.init(large_task), large_task)
    assert benchmark.stats.stats.mean < 2.0


def test_exact_metrics_on_1e6_edges(benchmark, large_task):
    p = large_task.base

    def metrics():
        return (envs.path_pass_at_k(p, large_task, [1, 16]), envs.token_entropy(p, large_task),
                envs.expected_distinct_concepts(p, large_task, 8), envs.path_entropy(p, large_task))

    benchmark(metrics)
    assert benchmark.stats.stats.mean < 2.0


def test_sampling_10k_rollouts_on_1e6_edges(benchmark, large_task):
    r = benchmark(envs.sample_paths, large_task.base, large_task, 10_000, 0)
    assert r.nodes.shape == (10_000, 103)  # start, 101 layers, goal
    assert benchmark.stats.stats.mean < 2.0
