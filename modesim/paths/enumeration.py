"""Every rollout of a small graph, as the modes of a categorical policy (theory §5).

Enumeration is exponential in general; it is the independent reference that the DP
(:mod:`modesim.paths.dp`) is tested against, and the bridge to the core:
:func:`categorical_task` turns a path task into a :class:`modesim.Task` whose modes are
the rollouts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import _checks as chk
from ..task import Task
from .dp import backward
from .graphs import PathGraph, PathTask

__all__ = ["PathEnumeration", "enumerate_paths", "categorical_task"]


@dataclass(frozen=True, eq=False)
class PathEnumeration:
    """Every rollout (or every valid one) of a graph, as modes (theory §5).

    A plain record returned by :func:`enumerate_paths` (it checks nothing itself; its
    methods read their arrays as given).

    Attributes
    ----------
    graph : PathGraph
    paths : tuple of tuple of int
        Node sequences, start to sink.
    edges : tuple of ndarray of int
        Edge numbers along each path.
    edge_matrix : ndarray of int, shape (K, L)
        The same edge numbers padded with ``-1`` to the longest path (vectorised sums).
    """

    graph: PathGraph
    paths: tuple
    edges: tuple
    edge_matrix: np.ndarray

    @property
    def n_paths(self) -> int:
        """Number of enumerated rollouts ``K``."""
        return len(self.paths)

    def valid(self, blocked=None) -> np.ndarray:
        """Valid mask over the enumerated rollouts (end at a goal, avoid ``blocked``).

        ``blocked`` is a mask of shape (..., E); the result has shape (..., K).
        """
        ok = np.array([bool(self.graph.goal[p[-1]]) for p in self.paths], dtype=bool)
        if blocked is None:
            return ok
        blocked = np.asarray(blocked, dtype=bool)
        idx, used = np.maximum(self.edge_matrix, 0), self.edge_matrix >= 0
        hit = np.any(blocked[..., idx] & used, axis=-1)
        return ok & ~hit

    def log_prob(self, log_policy: np.ndarray) -> np.ndarray:
        """``log π(path) = Σ_{e∈path} log π(e)`` for every rollout, shape (..., K)."""
        lp = np.asarray(log_policy, dtype=np.float64)
        idx, used = np.maximum(self.edge_matrix, 0), self.edge_matrix >= 0
        return np.where(used, lp[..., idx], 0.0).sum(axis=-1)


def enumerate_paths(graph: PathGraph, *, valid_only: bool = False, blocked=None,
                    limit: int = 100_000) -> PathEnumeration:
    """Enumerate every rollout (start to any sink), or only the valid ones, by DFS (theory §5).

    Exponential in general: raises ValueError when there are more than ``limit``.  With
    ``valid_only``, branches that cannot reach a goal (avoiding ``blocked``, a mask of
    shape (E,)) are pruned, so the cost is proportional to the number of valid paths;
    the enumeration is empty when no valid path survives ``blocked``.  The count is taken
    first by one backward pass (theory §5.1), so an over-large graph is refused before any
    path is listed.  Tests use it as the independent reference for the DP.

    Returns
    -------
    PathEnumeration
        ``edge_matrix`` of shape (K, L), K paths padded to the longest, L edges.

    Raises
    ------
    ValueError
        ``graph`` not a :class:`PathGraph`; ``valid_only`` not a boolean; ``limit`` not an
        integer >= 1; ``blocked`` not a boolean mask of shape (E,); more rollouts (or
        valid paths) than ``limit``.

    >>> from modesim.paths import PathGraph, enumerate_paths
    >>> g = PathGraph.from_edges([(0, 1), (1, 3), (0, 2), (2, 3), (0, 4)], 0, 3)
    >>> enumerate_paths(g).paths, enumerate_paths(g, valid_only=True).n_paths
    (((0, 1, 3), (0, 2, 3), (0, 4)), 2)
    """
    if not isinstance(graph, PathGraph):
        raise ValueError(f"graph must be a PathGraph; got {chk.describe(graph)}")
    chk.boolean(valid_only, "valid_only")
    limit = chk.integer(limit, "limit", low=1)
    if blocked is not None:
        blocked = chk.mask(blocked, (graph.n_edges,), "blocked", nonempty=False)
    w = np.zeros(graph.n_edges) if blocked is None else np.where(blocked, -np.inf, 0.0)
    leaf = graph.log_goal if valid_only else np.zeros(graph.n_nodes)
    log_count = backward(graph, w if valid_only else np.zeros(graph.n_edges), leaf)
    total = float(np.exp(log_count[graph.start]))
    if total > limit + 0.5:
        raise ValueError(
            f"graph has {total:.3g} {'valid paths' if valid_only else 'rollouts'}; "
            f"enumeration allowed up to limit={limit}"
        )
    usable = np.ones(graph.n_edges, dtype=bool)
    if valid_only:
        usable = np.isfinite(w) & np.isfinite(log_count[graph.dst])
    paths, edges = [], []
    stack = [((graph.start,), ())] if not (valid_only and np.isneginf(log_count[graph.start])) else []
    while stack:
        nodes, es = stack.pop()
        u = nodes[-1]
        lo, deg = int(graph.out_start[u]), int(graph.out_degree[u])
        if deg == 0:
            paths.append(nodes)
            edges.append(np.array(es, dtype=np.int64))
            continue
        for e in range(lo + deg - 1, lo - 1, -1):
            if usable[e]:
                stack.append((nodes + (int(graph.dst[e]),), es + (e,)))
    width = max((e.size for e in edges), default=0)
    matrix = np.full((len(edges), width), -1, dtype=np.int64)
    for i, e in enumerate(edges):
        matrix[i, :e.size] = e
    return PathEnumeration(graph, tuple(paths), tuple(edges), matrix)


def categorical_task(task: PathTask, log_policy=None, *, limit: int = 100_000):
    """The core :class:`modesim.Task` whose modes are the rollouts of ``task`` (theory §5, §5.2).

    The bridge that lets the categorical rules and statements (R1, S1, …) be checked on
    paths by enumeration (theory §5.2, §5.3).

    Base probabilities are the path probabilities under ``log_policy`` (default the base
    policy; shape (..., E), validated); the valid mask marks rollouts that end at a goal;
    each OOD blocked-edge mask becomes an OOD valid mask (masks that leave some batch entry
    without a valid rollout are left out, as a core task cannot hold them).

    Returns
    -------
    (Task, PathEnumeration)

    Raises
    ------
    ValueError
        ``task`` not a :class:`PathTask`; ``log_policy`` with the wrong number of edges,
        NaN or +inf, a batch shape not broadcasting against the task's, or not normalised
        at every node; more than ``limit`` rollouts; a policy that gives every valid
        rollout probability 0 (as :class:`modesim.Task`).
    """
    if not isinstance(task, PathTask):
        raise ValueError(f"task must be a PathTask; got {chk.describe(task)}")
    enum = enumerate_paths(task.graph, limit=limit)
    lp = task.log_base if log_policy is None else task.check_log_policy(log_policy)
    logp = enum.log_prob(lp)
    logp = logp - np.logaddexp.reduce(logp, axis=-1, keepdims=True)
    ood = {}
    for name, mask in task.ood.items():
        v = enum.valid(mask)
        if np.all(v.any(axis=-1)):
            ood[name] = v
    return Task(np.minimum(logp, 0.0), enum.valid(), ood), enum
