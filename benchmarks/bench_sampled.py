"""Speed of the finite-sample simulator (modesim.sampled; issue 5 target, issue 10 layout).

Run: ``python -m pytest benchmarks/bench_sampled.py --benchmark-only``.

10,000 seeds × N = 8 rollouts × 500 steps × K = 16 modes in < 10 s on 2 cores, for GRPO
and for sampled-demo self-distillation (copy teacher, group demonstrations, EMA teacher,
both gradient estimators).  Measured on this machine (2 cores, shared): the first version
(modesim.stochastic at commit 2d1d919) and this one, in one run, are listed in the
sampled-training report; the budget below is the regression guard.
"""

import numpy as np
import pytest

import modesim as ms
from modesim.sampled import SampledRL, SampledSD, train

SEEDS, N, STEPS, K = 10_000, 8, 500, 16
BUDGET_S = 10.0

TASK = ms.zipf_task(K, 1.0, valid=np.arange(K) % 3 != 2)

RULES = {
    "grpo": SampledRL("grpo", n_rollouts=N, lr=0.1, beta=0.05, seed=0),
    "sd-sampled": SampledSD(
        ms.CopyTeacher(0.5), n_rollouts=N, lr=0.1, beta=0.05, teacher_base=ms.EMA(0.9), seed=0
    ),
    "sd-full": SampledSD(
        ms.CopyTeacher(0.5), estimator="full", n_rollouts=N, lr=0.1, beta=0.05,
        teacher_base=ms.EMA(0.9), seed=0,
    ),
}


def run(rule):
    return train(
        rule, TASK, STEPS, n_seeds=SEEDS, every=STEPS, record_policy=False,
        metrics=["top_valid"], progress=False,
    )


@pytest.mark.parametrize("name", list(RULES))
def test_10k_seeds_n8_500_steps_k16(benchmark, name):
    traj = benchmark.pedantic(run, args=(RULES[name],), rounds=1, iterations=1)
    assert traj.metrics["top_valid"].shape == (2, SEEDS)
    assert np.all(np.isfinite(traj.final.log_policy))
    assert benchmark.stats.stats.mean < BUDGET_S


def test_chunked_seeds_cost_no_more_than_one_run(benchmark):
    # The per-entry streams make chunks exact; splitting 10,000 seeds into 4 chunks of 2,500
    # (as a sweep engine would) must not cost more than 15 % over one batched run.
    import time

    rule = RULES["grpo"]
    steps = 100

    def whole():
        return train(rule, TASK, steps, n_seeds=SEEDS, every=steps, record_policy=False, progress=False)

    def chunks():
        return [train(rule, TASK, steps, n_seeds=SEEDS // 4, first_seed=i * SEEDS // 4, every=steps,
                      record_policy=False, progress=False) for i in range(4)]

    t0 = time.perf_counter()
    one = whole()
    t_whole = time.perf_counter() - t0
    parts = benchmark.pedantic(chunks, rounds=1, iterations=1)
    t_chunks = benchmark.stats.stats.mean
    np.testing.assert_array_equal(np.concatenate([p.final.log_policy for p in parts]), one.final.log_policy)
    assert t_chunks < 1.15 * t_whole + 0.2
