"""Sampled rollouts of a path policy and unbiased diversity estimators (theory §4, §5).

:func:`sample_paths` draws rollouts of one policy, vectorised over rollouts (one numpy
step per path step); :class:`Rollouts` holds them and gives the unbiased estimators of
pass@k, distinct paths and distinct concepts (the U-statistic ``1 − C(n−c, k)/C(n, k)``
per item), for graphs too large to enumerate.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import _checks as chk
from ..metrics import pass_at_k_unbiased
from .graphs import PathTask

__all__ = ["Rollouts", "sample_paths"]


@dataclass(frozen=True, eq=False)
class Rollouts:
    """Sampled rollouts of a path policy, with unbiased diversity estimators (theory §4, §5).

    Returned by :func:`sample_paths`; the record itself checks nothing, its estimators
    check their arguments.

    Attributes
    ----------
    task : PathTask
    nodes : ndarray of int, shape (n, L + 1)
        Visited nodes, padded with −1 after the rollout ends; ``L + 1`` is the number of
        topological layers, so ``L`` bounds the length of every rollout.
    edges : ndarray of int, shape (n, L)
        Edges taken, padded with −1.

    Raises
    ------
    ValueError
        From the estimators: ``k`` not finite positive integers or ``k > n``; ``ood`` not
        None or a mask name of the task; ``valid_only`` not a boolean.

    Notes
    -----
    Source: the unbiased pass@k estimator of Chen et al. (2021), applied per item
    (theory §4).
    """

    task: PathTask
    nodes: np.ndarray
    edges: np.ndarray

    @property
    def n(self) -> int:
        """Number of rollouts."""
        return self.nodes.shape[0]

    def valid(self, ood: str | None = None) -> np.ndarray:
        """Which rollouts are valid (end at a goal, avoid ``ood``'s blocked edges), (n,)."""
        g = self.task.graph
        last = self.nodes[np.arange(self.n), (self.nodes >= 0).sum(axis=1) - 1]
        ok = g.goal[last]
        blocked = self.task.blocked(ood)
        if blocked is not None:
            taken = self.edges >= 0
            ok &= ~np.any(taken & blocked[np.where(taken, self.edges, 0)], axis=1)
        return ok

    def pass_at_k(self, k, *, ood: str | None = None) -> np.ndarray:
        """Unbiased pass@k estimate ``1 − C(n−c, k)/C(n, k)`` (theory §4); needs ``k ≤ n``."""
        return pass_at_k_unbiased(self.n, int(self.valid(ood).sum()), self._ks(k))

    def distinct_paths(self, k, *, ood: str | None = None) -> np.ndarray:
        """Unbiased estimate of the expected number of distinct valid paths in k rollouts.

        Each distinct valid path seen ``c`` times contributes the chance that a random
        k-subset of the n rollouts contains it, ``1 − C(n−c, k)/C(n, k)``; the sum is a
        U-statistic, unbiased for ``Σ_{y∈C} 1 − (1 − π(y))^k``.  Needs ``k ≤ n``.
        """
        ks = self._ks(k)
        rows = self.edges[self.valid(ood)]
        if rows.shape[0] == 0:
            return np.zeros(ks.shape)
        _, counts = np.unique(rows, axis=0, return_counts=True)
        return _sum_unbiased(self.n, counts, ks)

    def distinct_concepts(self, k, *, valid_only: bool = False, ood: str | None = None) -> np.ndarray:
        """Unbiased estimate of :func:`~modesim.paths.expected_distinct_concepts`."""
        ks = self._ks(k)
        chk.boolean(valid_only, "valid_only")
        rows = self.nodes[self.valid(ood)] if valid_only else self.nodes
        counts = np.bincount(rows[rows >= 0], minlength=self.task.graph.n_nodes)
        return _sum_unbiased(self.n, counts[counts > 0], ks)

    def _ks(self, k) -> np.ndarray:
        ks = chk.ks(k)
        if np.any(ks > self.n):
            raise ValueError(f"k must be <= n = {self.n} (the number of rollouts); got {chk.describe(k)}")
        return ks.astype(np.int64)


def _sum_unbiased(n: int, counts: np.ndarray, ks: np.ndarray) -> np.ndarray:
    """``Σ_i 1 − C(n − c_i, k)/C(n, k)`` over items seen ``c_i`` times; shape ``ks.shape``."""
    if counts.size == 0:
        return np.zeros(ks.shape)
    per_item = pass_at_k_unbiased(n, counts.reshape(counts.shape + (1,) * ks.ndim), ks)
    return per_item.sum(axis=0)


def sample_paths(policy, task: PathTask, n: int, seed=None) -> Rollouts:
    """Sample ``n`` rollouts of one policy, vectorised over rollouts (theory §5).

    Inverse-CDF sampling: the cumulative probabilities of each node's out-edges are laid
    end to end as ``rank(u) + cdf`` so one ``searchsorted`` picks every rollout's edge; a
    zero-probability edge is never taken.

    Parameters
    ----------
    policy : array_like, shape (E,)
    task : PathTask
    n : int >= 1
    seed : None, int or numpy.random.Generator

    Returns
    -------
    Rollouts
        ``nodes`` (n, L + 1) and ``edges`` (n, L), padded with −1.

    Raises
    ------
    ValueError
        Naming ``policy`` (shape, normalisation, a batched policy), ``n`` or ``seed``;
        ``task`` not a :class:`PathTask`, or batched (a batched base or OOD mask).

    >>> from modesim.paths import PathGraph, path_task, sample_paths
    >>> t = path_task(PathGraph.from_edges([(0, 1), (0, 2)], 0, 1), [1.0, 0.0])
    >>> r = sample_paths(t.base, t, 5, seed=0)
    >>> r.edges[:, 0].tolist(), float(r.pass_at_k(1))
    ([0, 0, 0, 0, 0], 1.0)
    """
    if not isinstance(task, PathTask):
        raise ValueError(f"task must be a PathTask; got {chk.describe(task)}")
    n = chk.integer(n, "n", low=1)
    seed = chk.seed(seed)
    lp = task.log_policy_of(policy)
    if task.batch_shape or any(np.ndim(m) > 1 for m in task.ood.values()):
        raise ValueError(f"sample_paths needs an unbatched task; got batch shape {task.batch_shape}")
    if lp.ndim != 1:
        raise ValueError(f"policy must be one policy of shape ({task.n_edges},); got shape {lp.shape}")
    g = task.graph
    rng = np.random.default_rng(seed)
    p = np.exp(lp)
    first = np.zeros(g.n_edges, dtype=bool)
    first[g.out_offsets] = True
    total = np.cumsum(p)
    cdf = total - np.repeat(total[first] - p[first], g.out_lengths)
    keys = (np.cumsum(first) - 1) + np.minimum(cdf, 1.0)
    rank = np.zeros(g.n_nodes, dtype=np.int64)
    rank[g.out_nodes] = np.arange(g.out_nodes.size)
    # The last positive-probability edge of each node catches draws that round past the
    # node's cdf, so a zero-probability edge is never taken.
    last_pos = np.full(g.n_nodes, -1, dtype=np.int64)
    pos = np.flatnonzero(p > 0)
    last_pos[g.src[pos]] = pos
    depth = len(g.layers)
    nodes = np.full((n, depth), -1, dtype=np.int64)
    edges = np.full((n, max(depth - 1, 1)), -1, dtype=np.int64)
    nodes[:, 0] = g.start
    cur = np.full(n, g.start, dtype=np.int64)
    alive = np.arange(n)
    for t in range(depth - 1):
        alive = alive[g.out_degree[cur[alive]] > 0]
        if alive.size == 0:
            break
        u = cur[alive]
        e = np.searchsorted(keys, rank[u] + rng.random(alive.size), side="right")
        e = np.minimum(e, last_pos[u])
        edges[alive, t] = e
        cur[alive] = g.dst[e]
        nodes[alive, t + 1] = cur[alive]
    return Rollouts(task, nodes, edges)
