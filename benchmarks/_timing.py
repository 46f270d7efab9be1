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
