"""Speed of the unbiased pass@k estimator against the formula users write (issue 9, kind 7).

Run with ``python -m pytest benchmarks/bench_metrics.py --benchmark-only -s``.  The
alternative is the HumanEval estimator as printed in Chen et al. (2021):
``1 − Π_{i=n−c+1}^{n} (1 − k/i)``, written here from the paper's formula.  Both are timed in
the same run; the ratio is the figure of merit.  Targets:

- a scalar call within 3× of the reference (it is ~20 ms → µs since the chunk fix);
- a batch whose cost follows Σ min(c, k): one large problem in a batch of small ones does
  not make the small ones pay (batch of 1,000 small + 1 large ≈ the large one alone + the
  small batch).
"""


import numpy as np
from _timing import best

import modesim as ms


def reference_pass_at_k(n: int, c: int, k: int) -> float:
    """The HumanEval estimator as a user writes it from the paper (one problem)."""
    if n - c < k:
        return 1.0
    return 1.0 - float(np.prod(1.0 - k / np.arange(n - c + 1, n + 1)))



def test_scalar_call_within_3x_of_the_reference(benchmark):
    args = (200, 37, 10)
    assert abs(float(ms.pass_at_k_unbiased(*args)) - reference_pass_at_k(*args)) < 1e-12
    ref = best(lambda: reference_pass_at_k(*args), 2000)
    benchmark(ms.pass_at_k_unbiased, *args)
    ours = benchmark.stats.stats.min
    ratio = ours / ref
    benchmark.extra_info["ratio_to_reference"] = round(ratio, 2)
    print(f"\npass_at_k_unbiased(200, 37, 10): {ours * 1e6:.1f} µs; reference {ref * 1e6:.1f} µs; ratio {ratio:.2f}")
    assert ratio < 3.0


def test_cost_follows_the_work_in_a_batch(benchmark):
    rng = np.random.default_rng(0)
    n_small = rng.integers(20, 40, 1000)
    c_small = rng.integers(0, 10, 1000)
    big = (10**7, 10**6, 10**5)                                  # 10^5 terms
    n = np.append(n_small, big[0])
    c = np.append(c_small, big[1])
    k = np.append(np.full(1000, 5), big[2])
    small = best(lambda: ms.pass_at_k_unbiased(n_small, c_small, 5), 50)
    large = best(lambda: ms.pass_at_k_unbiased(*big), 50)
    benchmark(ms.pass_at_k_unbiased, n, c, k)
    both = benchmark.stats.stats.min
    ratio = both / (small + large)
    benchmark.extra_info["ratio_to_parts"] = round(ratio, 2)
    print(f"\nbatch of 1,000 small + 1 large: {both * 1e3:.2f} ms; parts {small * 1e3:.2f} + {large * 1e3:.2f} ms; "
          f"ratio {ratio:.2f}")
    assert ratio < 2.0
