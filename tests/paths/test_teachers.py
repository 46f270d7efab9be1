"""The per-step copy teacher (theory §3.3, §5.2) against brute-force expectations over demos."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modesim import paths
from modesim.paths.testing import path_tasks

from .path_reference import LOG, path_probs


def brute_expectations(task, log_rho, alpha):
    """E_d log T(e|d) and log E_d T(e|d) with d ~ ρ(·|C), by summing over every valid path."""
    g = task.graph
    rho = np.exp(log_rho)
    rs, P, valid = path_probs(g, rho)
    D = np.where(valid, P, 0.0) / P[valid].sum()
    exp_log = np.zeros(g.n_edges)
    mix = np.zeros(g.n_edges)
    for d in np.flatnonzero(D):
        on_d, took = set(rs[d][0][:-1]), set(rs[d][1])
        Td = np.array([(1 - alpha) * rho[e] + alpha * (e in took) if g.src[e] in on_d else rho[e]
                       for e in range(g.n_edges)])
        exp_log += D[d] * LOG(Td)
        mix += D[d] * Td
    return exp_log, LOG(mix)


@settings(max_examples=60, deadline=None)
@given(path_tasks(with_ood=False), st.floats(0.0, 0.95))
def test_copy_teacher_kernels_equal_the_expectation_over_demonstrations(task, alpha):
    g = task.graph
    lmn, lme = paths.ConditionedPaths().log_marginals(g, task.log_base)
    teacher = paths.PathCopyTeacher(alpha)
    exp_log, log_mix = brute_expectations(task, task.log_base, alpha)
    np.testing.assert_allclose(teacher.edge_expected_log(g, task.log_base, lmn, lme), exp_log, atol=1e-12)
    np.testing.assert_allclose(teacher.edge_log_mixture(g, task.log_base, lmn, lme), log_mix, atol=1e-12)


def test_zero_base_edges_are_finite_only_when_every_demonstration_takes_them():
    g = paths.PathGraph.from_edges([(0, 2), (0, 3), (2, 1), (3, 1), (3, 4)], 0, 1)
    teacher = paths.PathCopyTeacher(0.4)
    rho = LOG([0.5, 0.5, 1.0, 0.0, 1.0])  # 3 → 1 has probability 0 under ρ
    fixed = paths.FixedPath([0, 3, 1])
    lmn, lme = fixed.log_marginals(g, rho)
    out = teacher.edge_expected_log(g, rho, lmn, lme)
    e31 = g.edge_ids(3, 1)
    assert out[e31] == pytest.approx(np.log(0.4))  # T(3→1|d) = α for the one demonstration
    uniform = paths.UniformPaths()
    out = teacher.edge_expected_log(g, rho, *uniform.log_marginals(g, rho))
    assert np.isneginf(out[e31])  # half the demonstrations avoid it: T = 0 there
    assert not np.any(np.isnan(out))


def test_array_alpha_equals_a_loop_over_scalars():
    g = paths.PathGraph.from_edges([(0, 1), (0, 2), (2, 1), (2, 3)], 0, 1)
    task = paths.path_task(g, [1, 2, 3, 1])
    lmn, lme = paths.ConditionedPaths().log_marginals(g, task.log_base)
    alphas = np.array([0.0, 0.3, 0.9])
    batched = paths.PathCopyTeacher(alphas)
    assert batched.param_shape == (3,)
    for method in ("edge_expected_log", "edge_log_mixture"):
        got = getattr(batched, method)(g, task.log_base, lmn, lme)
        assert got.shape == (3, g.n_edges)
        for i, a in enumerate(alphas):
            np.testing.assert_allclose(got[i], getattr(paths.PathCopyTeacher(a), method)(g, task.log_base, lmn, lme),
                                       rtol=1e-15, atol=1e-15)


def test_a_teacher_must_define_its_kernels():
    with pytest.raises(NotImplementedError, match="edge_expected_log"):
        paths.PathTeacher().edge_expected_log(None, None, None, None)
    with pytest.raises(ValueError, match=r"alpha must be in \[0, 1\); got 1.0"):
        paths.PathCopyTeacher(1.0)
    with pytest.raises(ValueError, match=r"alpha must be in \[0, 1\); got -0.1"):
        paths.PathCopyTeacher(-0.1)
    with pytest.raises(ValueError, match="alpha must be a real number"):
        paths.PathCopyTeacher(None)
