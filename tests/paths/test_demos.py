"""Demonstration laws on paths (theory §3.3, §5.2): marginals against enumeration."""

import numpy as np
import pytest
from hypothesis import given, settings

from modesim import paths
from modesim.paths.testing import path_tasks

from .path_reference import path_probs


def marginals_of(task, D):
    g = task.graph
    rs, _, _ = path_probs(g, task.base)
    m_node = np.array([sum(D[i] for i in range(len(rs)) if u in rs[i][0]) for u in range(g.n_nodes)])
    m_edge = np.array([sum(D[i] for i in range(len(rs)) if e in rs[i][1]) for e in range(g.n_edges)])
    return m_node, m_edge


@settings(max_examples=60, deadline=None)
@given(path_tasks(with_ood=False))
def test_conditioned_and_uniform_marginals_equal_enumeration(task):
    g = task.graph
    _, P, valid = path_probs(g, task.base)
    for source, D in [(paths.ConditionedPaths(), np.where(valid, P, 0.0) / P[valid].sum()),
                      (paths.UniformPaths(), valid / valid.sum())]:
        lmn, lme = source.log_marginals(g, task.log_base)
        m_node, m_edge = marginals_of(task, D)
        np.testing.assert_allclose(np.exp(lmn), m_node, atol=1e-12)
        np.testing.assert_allclose(np.exp(lme), m_edge, atol=1e-12)
        assert np.all(lmn <= 0.0) and np.all(lme <= 0.0)


def test_fixed_path_marginals_and_checks():
    g = paths.PathGraph.from_edges([(0, 1), (0, 2), (2, 1), (2, 3)], 0, 1)
    task = paths.path_task(g)
    fixed = paths.FixedPath([0, 2, 1])
    fixed.check(task)
    lmn, lme = fixed.log_marginals(g, task.log_base)
    np.testing.assert_array_equal(np.exp(lmn), [1, 1, 1, 0])
    np.testing.assert_array_equal(np.exp(lme), [0, 1, 1, 0])
    with pytest.raises(ValueError, match=r"path must run from the start 0 to a goal; got \[0, 2, 3\]"):
        paths.FixedPath([0, 2, 3]).check(task)
    with pytest.raises(ValueError, match="path must be a node sequence"):
        paths.FixedPath("abc")


def test_conditioned_demonstrations_need_a_valid_rollout():
    g = paths.PathGraph.from_edges([(0, 1), (0, 2)], 0, 1)
    rho = np.array([-np.inf, 0.0])  # the goal edge has probability 0
    with pytest.raises(ValueError, match=r"teacher base reaches a goal with probability 0.*no correct rollout"):
        paths.ConditionedPaths().log_marginals(g, rho)
    with pytest.raises(ValueError, match=r"at batch index \(1,\)"):
        paths.ConditionedPaths().log_marginals(g, np.array([[np.log(0.5)] * 2, [-np.inf, 0.0]]))
    with pytest.raises(NotImplementedError):
        paths.PathDemoSource().log_marginals(g, rho)
