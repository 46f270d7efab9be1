"""Speed of the JSD objective (theory §8.1).  Run: ``python -m pytest benchmarks/bench_jsd.py --benchmark-only -s``.

Target (issue 12): a JSD round within 3× of a reverse-KL round of the same size, measured
as a ratio in one run (interleaved, best of many).  The reverse round is a closed form (one
exp and one log1p pass over K plus the normalisation); the JSD round is an iterative solve.
Its floor in transcendental passes over K, for the copy teacher (J = 2 support points per
mode): the demonstration law (exp, log), the start (2 exp for λT/(1 − λ), 1 exp), then per
Halley iteration 2 logs and 1 exp (none on the last) — about 11 passes against the reverse
round's ~4, i.e. ≈ 2.5–3× before any arithmetic.  Two iterations suffice at K = 10^5 (the
start is within ~3e-3 nats), three at K = 16 (within ~0.3 nats), so the 3× target is not
reached; the asserted bounds are the measured ratios with headroom (they catch
regressions), and the printed figures are the ones to report.
"""


import numpy as np
import pytest
from _timing import interleaved

import modesim as ms
import modesim.distill as distill

#: shape, regression bound on the ratio.  Measured on a shared 2-core machine (2026-11-29):
#: K = 16: 9.6×; 10^4 × K = 16: 5.3–6.9×; K = 10^5: 3.8–7.1× (memory-bound, so the ratio
#: grows when other processes compete for the memory bus).
CASES = {
    "K=16": ((16,), 15.0),
    "10^4 x K=16": ((10_000, 16), 12.0),
    "K=10^5": ((100_000,), 10.0),
}



def _iterations(rule, state, task):
    count = [0]
    original = distill._jsd_eval

    def counting(*args):
        count[0] += 1
        return original(*args)

    distill._jsd_eval = counting
    try:
        rule.step(state, task)
    finally:
        distill._jsd_eval = original
    return count[0]


@pytest.mark.parametrize("case", sorted(CASES))
def test_jsd_round_against_reverse_round(benchmark, case):
    shape, limit = CASES[case]
    K = shape[-1]
    rng = np.random.default_rng(0)
    lb = np.log(rng.dirichlet(np.ones(K), size=shape[:-1] or None))
    task = ms.Task(lb, np.ones(shape, bool))
    reverse = ms.SelfDistillation(ms.CopyTeacher(0.5), beta=0.04)
    jsd = ms.SelfDistillation(ms.CopyTeacher(0.5), beta=0.04, objective="jsd")
    state = reverse.init(task)
    benchmark.pedantic(jsd.step, args=(state, task), rounds=3, iterations=1)
    t_rev, t_jsd = interleaved(lambda: reverse.step(state, task), lambda: jsd.step(state, task), 40)
    ratio = t_jsd / t_rev
    iters = _iterations(jsd, state, task)
    benchmark.extra_info.update(reverse_s=t_rev, jsd_s=t_jsd, ratio=ratio, iterations=iters)
    print(f"\n{case}: reverse {t_rev * 1e3:.3f} ms, JSD {t_jsd * 1e3:.3f} ms ({ratio:.1f}×, {iters} iterations)")
    assert ratio <= limit
