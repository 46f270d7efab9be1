"""PathBlend (theory §10, §11): the mixed direction is the weighted sum of GRPO's and SD's on the
same rollouts; the sign-gated direction equals its per-step formula written out with loops."""

from __future__ import annotations

import numpy as np
import pytest

import modesim as ms
from modesim.paths import (
    ConceptGraph,
    FeaturePolicy,
    PathCopyTeacher,
    PathSampledRL,
    PathSampledSD,
    graph_bank,
)
from modesim.remedies import PathBlend

BANK = graph_bank(ConceptGraph(10), 3, seed=0)


def test_mixed_direction_is_the_weighted_sum_on_shared_rollouts():
    teacher = PathCopyTeacher(0.5)
    rule = PathBlend(teacher, reward_weight=0.7, distill_weight=-0.2, beta=0.04, teacher_base=ms.EMA(0.9), lr=0.5,
                     seed=1)
    state = rule.init(BANK)
    for _ in range(3):
        state = rule.step(state, BANK)
    rl = PathSampledRL("grpo", lr=1.0, beta=0.04 / 0.7, seed=1)
    sd = PathSampledSD(teacher, teacher_base=ms.EMA(0.9), lr=1.0, seed=1)
    d_rl, s_rl = rl.estimate(state, BANK)
    d_sd, s_sd = sd.estimate(state, BANK)
    got, silent = rule.estimate(state, BANK)
    np.testing.assert_allclose(got, 0.7 * d_rl - 0.2 * d_sd, rtol=1e-13, atol=1e-15)
    assert silent.tolist() == (s_rl & s_sd).tolist()


def test_sign_gated_direction_equals_its_written_out_formula():
    teacher = PathCopyTeacher(0.6)
    beta = 0.1
    rule = PathBlend(teacher, combine="sign", beta=beta, teacher_base=ms.EMA(0.8), n_rollouts=4, lr=0.5, seed=2)
    state = rule.init(BANK)
    for _ in range(2):
        state = rule.step(state, BANK)
    got, silent = rule.estimate(state, BANK)
    g = BANK.graph
    ro = rule.rollouts(state, BANK)
    pick, has = rule._sd.demo_picks(state, BANK, ro)
    lp, rho = state.log_policy, state.teacher_log_base
    pi = np.exp(lp)
    want = np.zeros(g.n_edges)
    visits = np.zeros(g.n_nodes)
    for gi in range(BANK.n_graphs):
        r = ro.valid[gi].astype(float)
        for n in range(4):
            sign = np.sign(r[n] - r.mean())
            demo_edges = {}
            if has[gi, n]:
                for e in ro.edges[gi, pick[gi, n]]:
                    if e >= 0:
                        demo_edges[g.src[e]] = e
            for e in ro.edges[gi, n]:
                if e < 0:
                    continue
                u = g.src[e]
                visits[u] += 1 / 4
                de = demo_edges.get(u, -1)
                lT = float(teacher.edge_log_given(g, rho, np.array([e]), np.array([de]))[0])
                out = np.flatnonzero(g.src == u)
                grad = -pi[out]
                grad[out == e] += 1.0
                want[out] += sign * abs(lT - lp[e]) * grad / 4
    for u in np.flatnonzero(visits):
        out = np.flatnonzero(g.src == u)
        d = lp[out] - BANK.log_base[out]
        want[out] -= beta * visits[u] * pi[out] * (d - np.sum(pi[out] * d))
    np.testing.assert_allclose(got, want, atol=1e-14)
    assert silent.tolist() == [bool(np.all(ro.valid[i] == ro.valid[i][0])) for i in range(BANK.n_graphs)]


def test_feature_policy_grid_equals_loop_and_chunks_reproduce():
    betas = np.array([0.0, 0.04])[:, None]
    task = ms.replicate(BANK, 3)
    for combine in ("sum", "sign"):
        grid = PathBlend(combine=combine, beta=betas, lr=0.5, policy=FeaturePolicy(), seed=3)
        final = ms.iterate(grid, task, 5, record_policy=False).final
        for j, b in enumerate((0.0, 0.04)):
            one = PathBlend(combine=combine, beta=b, lr=0.5, policy=FeaturePolicy(), seed=3)
            np.testing.assert_array_equal(final.params[j], ms.iterate(one, task, 5, record_policy=False).final.params)
        one = PathBlend(combine=combine, lr=0.5, policy=FeaturePolicy(), seed=3)
        whole = ms.train(one, BANK, 4, n_seeds=4, record_policy=False).final.params
        part = ms.train(one, BANK, 4, n_seeds=2, first_seed=2, record_policy=False).final.params
        np.testing.assert_array_equal(whole[2:], part)


def test_refusals():
    with pytest.raises(ValueError, match="reward_weight"):
        PathBlend(reward_weight=-1.0)
    with pytest.raises(ValueError, match="combine"):
        PathBlend(combine="max")
    with pytest.raises(ValueError, match="n_rollouts"):
        PathBlend(n_rollouts=1)
    with pytest.raises(ValueError, match="policy"):
        PathBlend(policy="linear")
