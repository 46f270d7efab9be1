"""Speed of the paper-claims scenario (issue 12, theory §7, §8).

Run: ``python -m pytest benchmarks/bench_claims.py --benchmark-only`` (the full scenario runs
only then; a plain run times the quick configuration instead).

- **Batched over β** against what a user would write: one :func:`modesim.sampled.train` call
  with the KL strengths as a parameter grid (how :func:`~modesim.scenarios.paper_claims` runs
  every preset) against a Python loop over β, one run each.  The two give the same policies
  bit for bit; the batched run must be at least 1.3× faster for the four β of the study
  (measured 1.5× at 48 prompts × 8 seeds: per-step costs are mostly fixed overhead).
- **The whole scenario** :func:`~modesim.scenarios.paper_claims` (claims and ingredient
  study; 48 prompts × 8 seeds, 500 steps, and the full graph experiment): budget 300 s of
  wall time (about two minutes on two idle cores; the graph experiment is half of it).  The
  quick configuration the tests use: budget 45 s.  CPU time reported.
"""

import time

import numpy as np

import modesim as ms
from modesim.scenarios import paper_claims, prompt_bank

BETAS = (0.0, 0.001, 0.04, 0.3)
BUDGET_FULL_S = 300.0
BUDGET_QUICK_S = 45.0


def _batched(bank, steps):
    rule = ms.SampledSD.preset("sdpo", lr=0.05, beta=np.asarray(BETAS)[:, None, None], seed=0)
    return ms.train(rule, bank, steps, n_seeds=8, every=steps, progress=False).policy[-1]


def _looped(bank, steps):
    out = []
    for b in BETAS:
        rule = ms.SampledSD.preset("sdpo", lr=0.05, beta=b, seed=0)
        out.append(ms.train(rule, bank, steps, n_seeds=8, every=steps, progress=False).policy[-1])
    return np.stack(out)


def test_beta_grid_against_a_loop_over_beta(benchmark):
    bank = prompt_bank(48, seed=0)
    steps = 100
    c0 = time.process_time()
    loop = _looped(bank, steps)
    t_loop = time.process_time() - c0
    c1 = time.process_time()
    grid = benchmark.pedantic(_batched, args=(bank, steps), rounds=1, iterations=1)
    t_grid = time.process_time() - c1
    np.testing.assert_array_equal(grid, loop)
    ratio = t_loop / t_grid
    benchmark.extra_info.update(loop_cpu_s=round(t_loop, 2), grid_cpu_s=round(t_grid, 2), speedup=round(ratio, 2))
    print(f"\nloop over β {t_loop:.2f} s CPU, β grid {t_grid:.2f} s CPU: {ratio:.1f}x")
    assert ratio >= 1.3, ratio


def _scenario(**kw):
    t0, c0 = time.perf_counter(), time.process_time()
    res = paper_claims(**kw)
    return res, time.perf_counter() - t0, time.process_time() - c0


def test_whole_scenario(benchmark, request):
    full = request.config.getoption("benchmark_only", default=False)
    res, wall, cpu = benchmark.pedantic(_scenario, kwargs=dict(quick=not full), rounds=1, iterations=1)
    benchmark.extra_info.update(full=full, wall_s=round(wall, 1), cpu_s=round(cpu, 1))
    print(f"\npaper_claims({'' if full else 'quick=True'}): {wall:.1f} s wall, {cpu:.1f} s CPU")
    assert len(res.claims) == 9 and res.study is not None
    assert wall < (BUDGET_FULL_S if full else BUDGET_QUICK_S), wall
