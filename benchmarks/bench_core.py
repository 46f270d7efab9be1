"""Speed targets of the core (issue #2).  Run: ``python -m pytest benchmarks --benchmark-only``.

- Batched iteration: 10,000 tasks × K = 64 × 1,000 SD rounds (copy teacher) in < 10 s,
  and ≥ 30× faster than looping the same rule over the tasks one at a time (both measured
  here; the loop is timed on a subset and scaled to 10,000 tasks).
- Large K: one SD round at K = 10^7 in < 1 s with peak extra memory < 10 arrays of K.
"""

import time
import tracemalloc

import numpy as np
import pytest

import modesim as ms
from modesim.simplex import log_normalise

N_TASKS, K, ROUNDS = 10_000, 64, 1_000
LOOP_SUBSET = 20


@pytest.fixture(scope="module")
def bank():
    rng = np.random.default_rng(0)
    valid = rng.random((N_TASKS, K)) < 0.75
    valid[:, 0] = True
    return ms.dirichlet_task(K, 1.0, seed=1, batch_shape=(N_TASKS,), valid=valid)


RULE = ms.SelfDistillation(teacher=ms.CopyTeacher(0.5))


def run_batched(task):
    return ms.iterate(RULE, task, ROUNDS, every=ROUNDS, record_policy=False, metrics=["top_valid"], progress=False)


def test_batched_sd_10k_tasks_k64_1000_rounds(benchmark, bank):
    traj = benchmark.pedantic(run_batched, args=(bank,), rounds=1, iterations=1)
    batched = benchmark.stats.stats.mean
    start = time.perf_counter()
    for i in range(LOOP_SUBSET):
        single = ms.Task(bank.log_base[i], bank.valid[i])
        ms.iterate(RULE, single, ROUNDS, every=ROUNDS, record_policy=False, progress=False)
    looped = (time.perf_counter() - start) * N_TASKS / LOOP_SUBSET
    speedup = looped / batched
    benchmark.extra_info.update(batched_s=batched, looped_s_extrapolated=looped, speedup=speedup)
    print(f"\nbatched {batched:.2f} s; task-by-task loop ≈ {looped:.0f} s; speedup {speedup:.0f}×")
    assert traj.metrics["top_valid"].shape == (2, N_TASKS)
    assert batched < 10.0
    assert speedup >= 30


def test_one_sd_round_at_k_1e7(benchmark):
    big = 10**7
    lb = log_normalise(-0.8 * np.log(np.arange(1, big + 1, dtype=np.float64)))
    task = ms.Task(lb, np.ones(big, bool))
    state = RULE.init(task)
    out = benchmark.pedantic(RULE.step, args=(state, task), rounds=3, iterations=1)
    assert out.log_policy.shape == (big,)
    tracemalloc.start()
    RULE.step(state, task)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    arrays = peak / (8 * big)
    benchmark.extra_info.update(peak_arrays_of_K=arrays)
    print(f"\none round at K = 1e7: {benchmark.stats.stats.mean:.3f} s, peak extra memory {arrays:.1f} arrays of K")
    assert benchmark.stats.stats.mean < 1.0
    assert arrays < 10
