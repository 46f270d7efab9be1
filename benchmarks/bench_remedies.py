"""Speed of the remedies (theory §11).  Run: ``python -m pytest benchmarks/bench_remedies.py --benchmark-only -s``.

Target (issue 14): each remedy's round within 3× of plain self-distillation's at the same
size, measured as ratios in one run (interleaved, best of many), for

- the exact rounds (``SelfDistillation`` / ``DistillationBlend`` steps) at K = 16, a batch of
  10^4 prompts × K = 16, and K = 10^5, against ``SelfDistillation(CopyTeacher(0.5), β = 0.04)``;
- the sampled rules (one ``step``, N = 8) at 48 prompts × 16 seeds × K = 16 and at
  10^4 entries × K = 16, against ``SampledSD(CopyTeacher(0.5), EMA(0.95), β = 0.04)``;
- the path blend (one step, 64 graphs × 8 rollouts × ~200 concepts, feature policy) against
  ``PathSampledSD``.

Each case asserts a regression bound (the measured ratio with headroom) and prints the
measured figures, which are the ones to report.  The contrastive teacher's exact round is
O(K): its expected log is ``log ρ`` minus a constant ``E_{d,b} log Z(d, b)`` per row (an
O(K²) table), and the reverse round, which normalises, uses
``expected_log_up_to_constant`` without it (12.5× at 10^4 × K = 16 before, ~2.9× now).

Measured on this 2-core AVX2 host (2026-11-29, after this session's faster SD round: the
self-generated demonstrations now cost one exp pass instead of two), ratio to SD (exact
rounds at K = 16, 10^4 × K = 16, K = 10^5): forward KL 1.3 / 2.1 / 2.2; teacher mixture
(m = 4) 2.0 / 1.7 / 1.9 (four runs, each within ±0.05; was 2.3 / 2.8–3.4 / 2.2–3.8 and
bimodal: three log1p passes at ~12 ns an entry, a second exp for r/h, and ~3,000 page faults
a round from full-size temporaries; now the copy teacher's stated ratio, logs of numbers in
[n/m, 1], and the sum in chunks with reused work arrays, no page faults);
balanced demos 2.0 / 1.7 / 1.4; RL-SD blend and anti-distillation 1.9 / 1.2 / 1.3;
contrastive 1.7 / 1.1 / 1.1.  Sampled steps (48 prompts × 16 seeds, 10^4 entries): forward
KL 1.5 / 1.9; teacher mixture 2.0 / 2.4–2.7; contrastive 1.9 / 2.1; balanced (group)
1.7 / 2.3; RL-SD blend and sign-gated 1.1 / 1.0.  Path blend (64 graphs × 200 concepts):
1.14 (sum), 0.92 (sign).  Every remedy is within the 3× target at every size.
"""


import numpy as np
import pytest
from _timing import interleaved, step_ratio

import modesim as ms
from modesim import remedies as R

COPY = ms.CopyTeacher(0.5)

#: Regression bounds (measured ratio × ~2 headroom).  Measured on a shared 2-core machine
#: (2026-11-29), printed by the tests; see the module docstring.
EXACT = {
    "forward KL": (lambda: ms.SelfDistillation(COPY, beta=0.04, objective="forward"), 3.0),
    "teacher mixture (m=4)": (lambda: ms.SelfDistillation(R.MixtureTeacher(COPY, 4), beta=0.04), 3.5),
    "balanced demos": (lambda: ms.SelfDistillation(COPY, demos=R.BalancedDemos(COPY), beta=0.04), 4.0),
    "RL-SD blend": (lambda: R.DistillationBlend(COPY, reward_weight=0.5, distill_weight=0.5, beta=0.04), 3.0),
    "anti-distillation": (lambda: R.DistillationBlend(COPY, reward_weight=1.0, distill_weight=-0.02, beta=0.04), 3.0),
    "contrastive teacher": (lambda: ms.SelfDistillation(R.ContrastiveTeacher(COPY), beta=0.04), 6.0),
}
SHAPES = {"K=16": (16,), "10^4 x K=16": (10_000, 16), "K=10^5": (100_000,)}



def _task(shape, seed=0):
    rng = np.random.default_rng(seed)
    K = shape[-1]
    lb = np.log(rng.dirichlet(np.ones(K), size=shape[:-1] or None))
    valid = rng.random(shape) < 0.6
    valid[..., 0] = True
    return ms.Task(lb, valid)


@pytest.mark.parametrize("shape", sorted(SHAPES))
@pytest.mark.parametrize("remedy", sorted(EXACT))
def test_exact_round_against_sd(benchmark, remedy, shape):
    make, limit = EXACT[remedy]
    task = _task(SHAPES[shape])
    sd = ms.SelfDistillation(COPY, beta=0.04)
    rule = make()
    s0, s1 = sd.init(task), rule.init(task)
    benchmark.pedantic(rule.step, args=(s1, task), rounds=3, iterations=1)
    t_sd, t_rule = interleaved(lambda: sd.step(s0, task), lambda: rule.step(s1, task), repeat=10 if
                                shape == "K=10^5" else 30)
    ratio = t_rule / t_sd
    benchmark.extra_info.update(sd_s=t_sd, remedy_s=t_rule, ratio=ratio)
    print(f"\nexact {remedy:<24s} {shape:<12s} SD {t_sd * 1e3:8.3f} ms  remedy {t_rule * 1e3:8.3f} ms  ({ratio:.2f}×)")
    assert ratio <= limit


SAMPLED = {
    "forward KL": (lambda c: R.RemedySampledSD(COPY, objective="forward", **c), 3.0),
    "teacher mixture (m=4)": (lambda c: ms.SampledSD(R.MixtureTeacher(COPY, 4), **c), 6.0),
    "contrastive teacher": (lambda c: ms.SampledSD(R.ContrastiveTeacher(COPY), **c), 5.0),
    "balanced demos (group)": (lambda c: R.RemedySampledSD(COPY, reweight=R.BalancedDemos(COPY), **c), 5.0),
    "RL-SD blend": (lambda c: R.SampledBlend(COPY, **c), 4.0),
    "sign-gated SD": (lambda c: R.SampledBlend(COPY, combine="sign", **c), 4.0),
}
SAMPLED_SHAPES = {"48 prompts x 16 seeds": (16, 48), "10^4 entries": (10_000, 1)}


@pytest.mark.parametrize("shape", sorted(SAMPLED_SHAPES))
@pytest.mark.parametrize("remedy", sorted(SAMPLED))
def test_sampled_step_against_sampled_sd(benchmark, remedy, shape):
    make, limit = SAMPLED[remedy]
    seeds, prompts = SAMPLED_SHAPES[shape]
    task = ms.replicate(ms.scenarios.prompt_bank(prompts, 16, seed=0), seeds)
    common = dict(n_rollouts=8, lr=0.5, beta=0.04, teacher_base=ms.EMA(0.95), seed=0)
    sd, rule = ms.SampledSD(COPY, **common), make(common)
    s0, s1 = sd.init(task), rule.init(task)
    s0, s1 = sd.step(s0, task), rule.step(s1, task)
    t_sd, t_rule, ratio = step_ratio(benchmark, sd, rule, s0, s1, task, 15)
    print(f"\nsampled {remedy:<24s} {shape:<22s} SD {t_sd * 1e3:8.3f} ms  remedy {t_rule * 1e3:8.3f} ms  "
          f"({ratio:.2f}×)")
    assert ratio <= limit


@pytest.mark.parametrize("combine", ["sum", "sign"])
def test_path_blend_step_against_path_sd(benchmark, combine):
    from modesim.paths import ConceptGraph, FeaturePolicy, PathSampledSD, graph_bank

    bank = graph_bank(ConceptGraph(200, dead_end_frac=0.1), 64, seed=0)
    common = dict(n_rollouts=8, lr=1.0, beta=0.04, teacher_base=ms.EMA(0.95), policy=FeaturePolicy(), seed=0)
    sd, rule = PathSampledSD(**common), R.PathBlend(combine=combine, **common)
    s0, s1 = sd.init(bank), rule.init(bank)
    t_sd, t_rule, ratio = step_ratio(benchmark, sd, rule, s0, s1, bank, 8)
    print(f"\npath blend ({combine}) 64 graphs x 200 concepts: SD {t_sd * 1e3:.2f} ms, blend {t_rule * 1e3:.2f} ms "
          f"({ratio:.2f}×)")
    assert ratio <= 4.0
