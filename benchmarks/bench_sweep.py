"""Speed targets of sweeps (issue 11).  Run: ``python -m pytest benchmarks/bench_sweep.py --benchmark-only -s``.

Every figure is a ratio measured in the same run against the alternative a user would write:

- A 50 × 50 (α, β) grid × 100 SD rounds at K = 16 as one batched call ≥ 30× faster than
  the loop over scalar teachers (loop timed on a subset of the grid, scaled).
- Sweep overhead over a raw batched :func:`modesim.iterate` ≤ 10 % for a 10^4-point grid.
- A finite-sample sweep (16 settings × 2,000 seeds × 500 steps, K = 16) on a two-worker
  ``LocalCluster`` ≥ 1.6× faster than in one process (cluster started before timing; its
  start-up time is reported).  Until the sampled rules of ``modesim.sampled`` land on this
  branch the rule is :class:`NoisyPG` below, a REINFORCE rule with the same sampled-rule
  contract (a seed field, round t drawing from ``SeedSequence(seed, spawn_key=(t,))``).
  Other processes on the machine slow the cluster down more than the single process, so
  the benchmark also measures the machine's parallel capacity (two equal numpy jobs on the
  two workers against one process running them in turn) and, when that is below 1.8,
  holds the sweep to 85 % of it instead of the 1.6× target.
"""

import sys
import time
from dataclasses import dataclass

import numpy as np
import pytest

import modesim as ms
from modesim import _checks as chk
from modesim.rule import State
from modesim.simplex import log_normalise
from modesim.teachers import scatter_add

K = 16
TASK = ms.zipf_task(K, 1.0, valid=np.arange(K) % 4 != 3)


def _timed(fn):
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def test_a_50_by_50_grid_as_one_batched_call(benchmark):
    alphas, betas = np.linspace(0.0, 0.95, 50), np.linspace(0.0, 2.0, 50)
    rule = ms.SelfDistillation(ms.CopyTeacher(0.5))

    def batched():
        return ms.sweep(rule, TASK, {"teacher.alpha": alphas, "beta": betas}, rounds=100, every=100,
                        metrics=["top_valid"], progress=False)

    ds = benchmark.pedantic(batched, rounds=3, iterations=1)
    t_batched = benchmark.stats.stats.min
    subset = [(a, b) for a in alphas[::10] for b in betas[::5]]  # 50 of the 2,500 points
    t_loop, finals = _timed(lambda: [
        ms.iterate(ms.SelfDistillation(ms.CopyTeacher(a), beta=b), TASK, 100, every=100, record_policy=False,
                   metrics=["top_valid"], progress=False).metrics["top_valid"][-1] for a, b in subset])
    looped = t_loop * 2500 / len(subset)
    np.testing.assert_allclose(ds.top_valid.isel(round=-1).values[::10, ::5].ravel(), finals, rtol=1e-12)
    speedup = looped / t_batched
    benchmark.extra_info.update(batched_s=t_batched, looped_s_extrapolated=looped, speedup=speedup)
    print(f"\n50×50 (α, β) × 100 SD rounds, K = 16: sweep {t_batched:.3f} s; loop over scalar teachers ≈ "
          f"{looped:.1f} s; speedup {speedup:.0f}×")
    assert speedup >= 30


def test_sweep_overhead_over_a_raw_batched_iterate(benchmark):
    alphas, betas = np.linspace(0.0, 0.95, 100), np.linspace(0.0, 2.0, 100)
    metrics = ["valid_mass", "top_valid"]

    def raw():
        rule = ms.SelfDistillation(ms.CopyTeacher(alphas[:, None]), beta=betas[None, :])
        return ms.iterate(rule, TASK, 100, record_policy=False, metrics=metrics, progress=False)

    def swept():
        return ms.sweep(ms.SelfDistillation(), TASK, {"teacher.alpha": alphas, "beta": betas}, rounds=100,
                        metrics=metrics, progress=False)

    swept()  # warm up imports
    t_sweep = t_raw = np.inf
    for _ in range(7):  # interleaved, best of seven: the machine is shared
        t_raw = min(t_raw, _timed(raw)[0])
        t_sweep = min(t_sweep, _timed(swept)[0])
    ds = benchmark.pedantic(swept, rounds=1, iterations=1)
    np.testing.assert_array_equal(ds.valid_mass.values, np.moveaxis(raw().metrics["valid_mass"], 0, -1))
    overhead = t_sweep / t_raw - 1.0
    benchmark.extra_info.update(sweep_s=t_sweep, iterate_s=t_raw, overhead=overhead)
    print(f"\n10^4-point grid × 100 rounds, K = 16: sweep {t_sweep:.3f} s, raw batched iterate {t_raw:.3f} s; "
          f"overhead {100 * overhead:.1f} %")
    assert overhead <= 0.10


@dataclass(frozen=True)
class NoisyPG:
    """Stand-in sampled rule: N rollouts per entry, REINFORCE with a group-mean baseline."""

    lr: float = 0.5
    n_rollouts: int = 8
    seed: object = None

    capabilities = frozenset({"memoryless"})

    def __post_init__(self):
        object.__setattr__(self, "lr", chk.real(self.lr, "lr", low=0.0, low_open=True, allow_array=False))
        object.__setattr__(self, "seed", chk.seed(self.seed))

    param_shape = ()

    def init(self, task):
        return State(np.array(task.log_base))

    def step(self, state, task):
        rng = np.random.default_rng(np.random.SeedSequence(self.seed, spawn_key=(state.round,)))
        lp = state.log_policy
        pi = np.exp(lp)
        cdf = np.cumsum(pi, axis=-1)
        cdf /= cdf[..., -1:]
        u = rng.random(lp.shape[:-1] + (self.n_rollouts,))
        y = np.minimum((cdf[..., None, :] <= u[..., None]).sum(-1), lp.shape[-1] - 1)
        r = np.take_along_axis(np.broadcast_to(task.valid, lp.shape), y, axis=-1).astype(np.float64)
        adv = r - r.mean(-1, keepdims=True)
        # (1/N) Σ_n A_n (e_{y_n} − π) with Σ_n A_n = 0: a scatter of the advantages.
        grad = scatter_add(y, adv, lp.shape[-1]) / self.n_rollouts
        return state.advance(log_normalise(lp + self.lr * grad))


@pytest.fixture(scope="module")
def cluster():
    import cloudpickle

    from modesim.sweeps.executor import cluster as local_cluster

    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    start = time.perf_counter()
    with local_cluster(workers=2) as client:
        client.run(lambda: __import__("modesim.sweeps"))
        yield client, time.perf_counter() - start


def _burn(_=None):
    x = np.linspace(0.0, 1.0, 2000 * 8 * 16).reshape(2000, 8, 16)
    start = time.perf_counter()
    for _ in range(200):
        np.exp(x).sum(-1)
    return time.perf_counter() - start


def _parallel_capacity(client) -> float:
    """How much faster two busy workers finish two equal numpy jobs than one process runs them
    in turn (2.0 on an idle two-core machine; less while other processes use the cores)."""
    one = min(_burn() for _ in range(2))
    both = max(client.gather(client.map(_burn, range(2), pure=False)))
    return 2 * one / both


def test_a_finite_sample_sweep_on_two_workers(benchmark, cluster):
    client, startup = cluster
    grid = {"lr": np.linspace(0.1, 1.6, 16)}
    kw = {"rounds": 500, "every": 50, "seed": 0, "n_seeds": 2000, "metrics": ["valid_mass"], "progress": False}
    before = _parallel_capacity(client)
    t_one = t_two = np.inf
    for _ in range(2):  # interleaved, best of two: the load of other processes comes and goes
        t, here = _timed(lambda: ms.sweep(NoisyPG(), TASK, grid, **kw))
        t_one = min(t_one, t)
        t, there = _timed(lambda: ms.sweep(NoisyPG(), TASK, grid, **kw, client=client))
        t_two = min(t_two, t)
    benchmark.pedantic(lambda: None, rounds=1, iterations=1)
    capacity = max(before, _parallel_capacity(client))
    np.testing.assert_array_equal(there.valid_mass.values, here.valid_mass.values)
    speedup = t_one / t_two
    benchmark.extra_info.update(one_process_s=t_one, two_workers_s=t_two, speedup=speedup, cluster_start_s=startup,
                                machine_parallel_capacity=capacity)
    print(f"\n16 settings × 2,000 seeds × 500 steps, K = 16: one process {t_one:.2f} s, two workers {t_two:.2f} s; "
          f"speedup {speedup:.2f}× (cluster start-up {startup:.1f} s, not included; two numpy jobs on this "
          f"machine right now run {capacity:.2f}× faster on two workers than in turn)")
    target = 1.6 if capacity >= 1.8 else 0.85 * capacity  # other processes hold a core: what is left
    assert speedup >= target
