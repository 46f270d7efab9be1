"""Enumeration of rollouts and the bridge to the core's tasks (theory §5)."""

import numpy as np
import pytest
from hypothesis import given, settings

import modesim as ms
from modesim import paths
from modesim.paths.testing import path_tasks

from .path_reference import path_probs, rollouts


@settings(max_examples=60, deadline=None)
@given(path_tasks())
def test_enumeration_lists_every_rollout_once(task):
    g = task.graph
    ref = rollouts(g)
    enum = paths.enumerate_paths(g)
    assert sorted(enum.paths) == sorted(ns for ns, _ in ref)
    assert enum.n_paths == paths.count_paths(g, valid_only=False)
    valid_only = paths.enumerate_paths(g, valid_only=True)
    assert sorted(valid_only.paths) == sorted(ns for ns, _ in ref if g.goal[ns[-1]])
    for mask in task.ood.values():
        blocked = paths.enumerate_paths(g, valid_only=True, blocked=mask)
        assert blocked.n_paths == paths.count_paths(g, blocked=mask)
    _, P, _ = path_probs(g, task.base)
    by_path = dict(zip((ns for ns, _ in ref), P))
    np.testing.assert_allclose(np.exp(enum.log_prob(task.log_base)), [by_path[p] for p in enum.paths], rtol=1e-12)


def test_categorical_task_has_the_rollouts_as_modes():
    g = paths.PathGraph.from_edges([(0, 1), (0, 2), (2, 1), (2, 3)], 0, 1)
    task = paths.path_task(g, [1, 3, 1, 1], ood={"b": [0, 0, 1, 0]})
    ct, enum = paths.categorical_task(task)
    assert isinstance(ct, ms.Task) and ct.n_modes == 3
    probs = dict(zip(enum.paths, ct.base))
    assert probs[(0, 1)] == pytest.approx(0.25) and probs[(0, 2, 1)] == pytest.approx(0.375)
    assert dict(zip(enum.paths, ct.valid)) == {(0, 1): True, (0, 2, 1): True, (0, 2, 3): False}
    assert dict(zip(enum.paths, ct.ood["b"]))[(0, 2, 1)] is np.False_
    batched, _ = paths.categorical_task(paths.path_task(g, np.ones((2, 4))))
    assert batched.batch_shape == (2,)


def test_categorical_task_rejects_a_log_policy_of_the_wrong_length():
    """Issue 9, kind 5: it used to truncate a too-long log_policy."""
    g = paths.PathGraph.from_edges([(0, 1), (0, 2), (2, 1)], 0, 1)
    task = paths.path_task(g)
    with pytest.raises(ValueError, match=r"log_policy must have one entry per edge, shape \(\.\.\., 3\); got shape \(4,\)"):
        paths.categorical_task(task, np.log([0.5, 0.5, 1.0, 1.0]))
    with pytest.raises(ValueError, match="log_policy must sum to 1 over the out-edges"):
        paths.categorical_task(task, np.log([0.9, 0.5, 1.0]))
    with pytest.raises(ValueError, match="limit"):
        paths.enumerate_paths(g, limit=1)
    with pytest.raises(ValueError, match="limit must be an integer"):
        paths.enumerate_paths(g, limit=1.5)
