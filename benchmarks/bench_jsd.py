"""Speed of the JSD objective (theory §8.1).  Run: ``python -m pytest benchmarks/bench_jsd.py --benchmark-only -s``.

Target (issue 12): a JSD round within 3× of a reverse-KL round of the same size, measured
as a ratio in one run (interleaved, best of many).  The reverse round is a closed form (one
exp and one log pass over K plus the normalisation); the JSD round is an iterative solve.

Two solves are timed against the same reverse round (theory §8.1):

- **compiled** (numba, the ``fast`` extra, in ``dev``): the Halley iteration row by row in
  one compiled call, the logs of the last iteration updated by Taylor increments.  Numpy's
  call overhead (a few hundred calls a round) is gone, which is what decides a single
  small row.  It takes blocks of up to 512 rows and blocks of rows of 16 modes or more.
- **numpy** (without numba, or ``MODESIM_NUMBA=0``): blocks of rows through numpy passes,
  with a float32 phase (numpy's vectorised float32 log and exp) for blocks of at least
  2,048 entries; its iterations per block are reported (float32, float64).

Measured on the shared 2-core AVX2 host (2026-11-30), compiled / numpy, in a full
benchmark run: single rounds interleaved, a single K = 16 row 1.9–2.3× / ~9× (0.08 against
0.04 ms), 10^4 × K = 16 2.0–2.6× / 2.8–3.2× (11.6–12.3 against 4.8–5.7 ms: run alone, the
reverse round pays page faults here; in the full benchmark run it does not), K = 10^5
1.85× / 3.0× (4.5 against 2.4 ms).  In loops of rounds (``ms.iterate``, each objective in
its own heap) 10^4 × K = 16 is 2.5–2.7× over runs, the reverse round ~4.8 ms.  The kernel's
logs and exps are its own vectorised passes (fdlibm's algorithms; this host's libm calls are
scalar, ~9 ns an element inside the kernel, and numpy has vectorised float64 ones only for
AVX-512), and so are the copy teacher's law's on this path; what remains is the kernel's
arithmetic on rows of 16, against the reverse round's ~30 ns an entry in all.  The
asserted bounds are the 3× target where the measurement clears it with room and the
measured ratio with headroom elsewhere (they catch regressions).

The finite-sample rules, which is what trainers run, are within 3×: one ``SampledSD`` step
with objective="jsd" (the per-token generalised JSD, a closed form) is 1.05–1.1× the reverse
step (48 prompts × 16 seeds, 10^4 entries), and the graph experiment's ``PathSampledSD`` step
1.5–1.9× (64 graphs × 200 concepts); those cases assert the 3× target itself.
"""

import numpy as np
import pytest
from _timing import best, step_ratio

import modesim as ms
import modesim.jsd_solve as jsd_solve

#: shape, bounds on the ratio (compiled, numpy).  Measured on a shared 2-core machine
#: (2026-11-30): K = 16 1.9–2.3× / 9×; 10^4 × K = 16 2.0–2.6× / 2.8–3.2× (with the heap
#: state); K = 10^5 1.85× / 3.0–3.1× (memory-bound, so the ratio grows when other processes
#: compete for the memory bus).
CASES = {
    "K=16": ((16,), 3.0, 14.0),
    "10^4 x K=16": ((10_000, 16), 3.0, 4.5),
    "K=10^5": ((100_000,), 3.0, 4.5),
}


def _iterations(rule, state, task):
    """Halley iterations per block of rows of the numpy solve, ``(float32, float64)``
    (evaluations / blocks)."""
    count = {"f": 0, "d": 0, "rows": 0}
    originals = jsd_solve._jsd_eval, jsd_solve._jsd_rows

    def evaluating(Tp, *args):
        count[Tp.dtype.char] += 1
        return originals[0](Tp, *args)

    def rows(*args, **kwargs):
        count["rows"] += 1
        return originals[1](*args, **kwargs)

    jsd_solve._jsd_eval, jsd_solve._jsd_rows = evaluating, rows
    try:
        rule.step(state, task)
    finally:
        jsd_solve._jsd_eval, jsd_solve._jsd_rows = originals
    blocks = max(count["rows"], 1)
    return count["f"] / blocks, count["d"] / blocks


@pytest.mark.parametrize("case", sorted(CASES))
def test_jsd_round_against_reverse_round(benchmark, case, monkeypatch):
    shape, limit_compiled, limit_numpy = CASES[case]
    K = shape[-1]
    rng = np.random.default_rng(0)
    lb = np.log(rng.dirichlet(np.ones(K), size=shape[:-1] or None))
    task = ms.Task(lb, np.ones(shape, bool))
    reverse = ms.SelfDistillation(ms.CopyTeacher(0.5), beta=0.04)
    jsd = ms.SelfDistillation(ms.CopyTeacher(0.5), beta=0.04, objective="jsd")
    state = reverse.init(task)
    monkeypatch.delenv("MODESIM_NUMBA", raising=False)
    kernel = jsd_solve._kernel()
    solves = {"numpy": lambda: None} | ({"compiled": lambda: kernel} if kernel is not None else {})

    def run(name):
        jsd_solve._kernel = solves[name]
        return jsd.step(state, task)

    with monkeypatch.context() as mp_:
        mp_.setattr(jsd_solve, "_kernel", jsd_solve._kernel)    # restored after the timings
        benchmark.pedantic(run, args=(next(reversed(solves)),), rounds=3, iterations=1)
        times = {"reverse": float("inf")} | {name: float("inf") for name in solves}
        for _ in range(40):         # interleaved: every variant sees the same machine load
            times["reverse"] = min(times["reverse"], best(lambda: reverse.step(state, task), 1))
            for name in solves:
                times[name] = min(times[name], best(lambda n=name: run(n), 1))
        jsd_solve._kernel = solves["numpy"]
        f32, f64 = _iterations(jsd, state, task)
    ratios = {name: times[name] / times["reverse"] for name in solves}
    benchmark.extra_info.update(reverse_s=times["reverse"], float32_iterations=f32, float64_iterations=f64,
                                **{f"{n}_s": times[n] for n in solves}, **{f"{n}_ratio": r for n, r in ratios.items()})
    line = ", ".join(f"{n} {times[n] * 1e3:.3f} ms ({ratios[n]:.2f}×)" for n in reversed(solves))
    print(f"\n{case}: reverse {times['reverse'] * 1e3:.3f} ms; JSD {line}; numpy iterations: "
          f"{f32:.3g} float32, {f64:.3g} float64")
    if "compiled" in ratios:
        assert ratios["compiled"] <= limit_compiled
    assert ratios["numpy"] <= limit_numpy


def test_jsd_rounds_in_a_loop_against_reverse_rounds(benchmark):
    """10^4 × K = 16 as a user runs it: ``ms.iterate`` for 10 rounds of one objective, the
    two objectives alternating (best of 8 loops each), so that each runs in the heap it
    keeps for itself.  The single-round timings above interleave one round of each, so the
    reverse round runs in the heap the JSD round left (then it is fault-free, ~4.7 ms; in
    its own loop of ``rule.step`` it faults ~5 MB of fresh arrays a round, ~7 ms).
    Measured 2026-11-30: 2.5–2.7× over runs (compiled kernel), reverse ~4.8 ms a round."""
    rng = np.random.default_rng(0)
    lb = np.log(rng.dirichlet(np.ones(16), size=10_000))
    task = ms.Task(lb, np.ones(lb.shape, bool))
    rules = {o: ms.SelfDistillation(ms.CopyTeacher(0.5), beta=0.04, objective=o) for o in ("reverse", "jsd")}
    benchmark.pedantic(ms.iterate, args=(rules["jsd"], task, 2), kwargs=dict(record_policy=False),
                       rounds=1, iterations=1)
    times = dict.fromkeys(rules, float("inf"))
    for _ in range(8):
        for name, rule in rules.items():
            times[name] = min(times[name], best(lambda r=rule: ms.iterate(r, task, 10, record_policy=False), 1) / 10)
    ratio = times["jsd"] / times["reverse"]
    benchmark.extra_info.update(reverse_s=times["reverse"], jsd_s=times["jsd"], ratio=ratio)
    print(f"\n10^4 x K=16, loops of 10 rounds: reverse {times['reverse'] * 1e3:.2f} ms, "
          f"JSD {times['jsd'] * 1e3:.2f} ms ({ratio:.2f}×)")
    if jsd_solve._kernel() is not None:
        assert ratio <= 3.0   # the target (issue 12)
    else:
        assert ratio <= 4.5   # the numpy solve: a regression bound


SAMPLED_SHAPES = {"48 prompts x 16 seeds": (16, 48), "10^4 entries": (10_000, 1)}


@pytest.mark.parametrize("shape", sorted(SAMPLED_SHAPES))
def test_sampled_jsd_step_against_sampled_reverse_step(benchmark, shape):
    """The finite-sample rule (what trainers run): one SampledSD step, N = 8, EMA teacher,
    objective="jsd" (the per-token generalised JSD, TRL/OPSD) against the reverse KL.  The
    JSD's per-token loss is a closed form, so no solve: measured 1.05–1.1×."""
    seeds, prompts = SAMPLED_SHAPES[shape]
    task = ms.replicate(ms.scenarios.prompt_bank(prompts, 16, seed=0), seeds)
    common = dict(n_rollouts=8, lr=0.5, beta=0.04, teacher_base=ms.EMA(0.95), seed=0)
    rev, jsd = ms.SampledSD(ms.CopyTeacher(0.5), **common), ms.SampledSD(ms.CopyTeacher(0.5), objective="jsd", **common)
    s0, s1 = rev.init(task), jsd.init(task)
    s0, s1 = rev.step(s0, task), jsd.step(s1, task)
    t_rev, t_jsd, ratio = step_ratio(benchmark, rev, jsd, s0, s1, task, 15)
    print(f"\nsampled {shape}: reverse {t_rev * 1e3:.3f} ms, JSD {t_jsd * 1e3:.3f} ms ({ratio:.2f}×)")
    assert ratio <= 3.0


def test_path_jsd_step_against_path_reverse_step(benchmark):
    """The graph experiment's per-step SD (64 graphs × 8 rollouts × ~200 concepts, feature
    policy, EMA teacher): objective="jsd" against the reverse KL, one step each."""
    from modesim.paths import ConceptGraph, FeaturePolicy, PathSampledSD, graph_bank

    bank = graph_bank(ConceptGraph(200, dead_end_frac=0.1), 64, seed=0)
    common = dict(n_rollouts=8, lr=1.0, beta=0.04, teacher_base=ms.EMA(0.95), policy=FeaturePolicy(), seed=0)
    rev, jsd = PathSampledSD(**common), PathSampledSD(objective="jsd", **common)
    s0, s1 = rev.init(bank), jsd.init(bank)
    t_rev, t_jsd, ratio = step_ratio(benchmark, rev, jsd, s0, s1, bank, 8)
    print(f"\npath SD 64 graphs x 200 concepts: reverse {t_rev * 1e3:.2f} ms, JSD {t_jsd * 1e3:.2f} ms ({ratio:.2f}×)")
    assert ratio <= 3.0
