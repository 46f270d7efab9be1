"""Speed targets of the finite-sample simulator (issue #5).

Run: ``python -m pytest benchmarks/bench_stochastic.py --benchmark-only``.

10,000 seeds × N = 8 rollouts × 500 steps × K = 16 modes in < 10 s on 2 cores, for GRPO
and for sampled-demo self-distillation (copy teacher, group demonstrations, EMA teacher,
both gradient estimators).
"""

import numpy as np
import pytest

import modesim as ms
from modesim.stochastic import SampledRL, SampledSD, train

SEEDS, N, STEPS, K = 10_000, 8, 500, 16
BUDGET_S = 10.0

TASK = ms.zipf_task(K, 1.0, valid=np.arange(K) % 3 != 2)

RULES = {
    "grpo": SampledRL("grpo", n_rollouts=N, lr=0.1, beta=0.05, seed=0),
    "sd-sampled": SampledSD(ms.CopyTeacher(0.5), n_rollouts=N, lr=0.1, beta=0.05, tau=0.9, seed=0),
    "sd-full": SampledSD(
        ms.CopyTeacher(0.5), estimator="full", n_rollouts=N, lr=0.1, beta=0.05, tau=0.9, seed=0
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
