"""Timing helpers shared by the benchmarks: best-of-n and interleaved best-of-n (ratios in one run)."""

import time


def best(fn, repeat: int = 5) -> float:
    """Seconds of the fastest of ``repeat`` calls of ``fn``."""
    fastest = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        fastest = min(fastest, time.perf_counter() - start)
    return fastest


def interleaved(fa, fb, repeat: int = 30) -> tuple[float, float]:
    """Fastest seconds of ``fa`` and of ``fb``, called alternately (both see the same machine load)."""
    ba = bb = float("inf")
    for _ in range(repeat):
        ba = min(ba, best(fa, 1))
        bb = min(bb, best(fb, 1))
    return ba, bb


def step_ratio(benchmark, base, other, base_state, other_state, task, repeat: int) -> tuple[float, float, float]:
    """One ``step`` of ``other`` against one of ``base`` (states given), interleaved: the
    pytest-benchmark record of ``other``, then ``(base seconds, other seconds, ratio)``,
    also stored in ``benchmark.extra_info``."""
    benchmark.pedantic(other.step, args=(other_state, task), rounds=3, iterations=1)
    t_base, t_other = interleaved(lambda: base.step(base_state, task), lambda: other.step(other_state, task), repeat)
    ratio = t_other / t_base
    benchmark.extra_info.update(base_s=t_base, other_s=t_other, ratio=ratio)
    return t_base, t_other, ratio
