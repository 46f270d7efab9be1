"""Hypothesis strategies for path tasks (shared by tests and ``verify``), theory §5.

Small graphs only: the checks they feed compare dynamic programming with enumeration.
Edge weights stay in [0.05, 1] so that round-off, not the statement, never decides.
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from .graphs import PathGraph, PathTask, path_task
from .metrics import count_paths

__all__ = ["path_tasks", "fan_tasks"]


@st.composite
def path_tasks(draw, *, max_nodes: int = 8, with_ood: bool = True) -> PathTask:
    """A random DAG on 4..``max_nodes`` shuffled node labels with dead ends and a route
    from start to goal, random edge weights and (``with_ood``) a random blocked-edge
    mask ``"blocked"`` whenever some valid path survives it."""
    n = draw(st.integers(4, max_nodes))
    pairs = [(i, j) for i in range(n - 1) for j in range(i + 1, n)]
    # Keep each forward pair with probability 2/3: denser graphs than st.booleans() gives.
    keep = draw(st.lists(st.integers(0, 2), min_size=len(pairs), max_size=len(pairs)))
    dead = draw(st.sets(st.integers(1, n - 2), max_size=2))
    candidates = sorted(set(range(1, n - 1)) - dead)
    middle = sorted(draw(st.sets(st.sampled_from(candidates)))) if candidates else []
    route = [0] + middle + [n - 1]
    edges = {e for e, k in zip(pairs, keep) if k and e[0] not in dead} | set(zip(route, route[1:]))
    perm = draw(st.permutations(range(n)))
    labelled = np.array([(perm[a], perm[b]) for a, b in sorted(edges)])
    g = PathGraph.from_edges(labelled, perm[0], perm[n - 1], n_nodes=n)
    w = np.array(draw(st.lists(st.floats(0.05, 1.0), min_size=g.n_edges, max_size=g.n_edges)))
    task = path_task(g, w)
    if with_ood:
        blocked = np.array(draw(st.lists(st.booleans(), min_size=g.n_edges, max_size=g.n_edges)))
        if count_paths(g, blocked=blocked) > 0:
            task = task.with_ood(blocked=blocked)
    return task


@st.composite
def fan_tasks(draw, *, max_strategies: int = 5) -> PathTask:
    """Start → 2..``max_strategies`` strategies, each a deterministic chain of 1–4 nodes
    to the goal, plus one dead end: the categorical setting of theory §3.4 drawn as paths."""
    K = draw(st.integers(2, max_strategies))
    lengths = draw(st.lists(st.integers(1, 4), min_size=K, max_size=K))
    edges, nxt = [(0, 2)], 3
    for L in lengths:
        chain = list(range(nxt, nxt + L))
        nxt += L
        edges += [(0, chain[0])] + list(zip(chain, chain[1:] + [1]))
    g = PathGraph.from_edges(edges, 0, 1, n_nodes=nxt)
    w = np.ones(g.n_edges)
    lo = g.out_start[0]
    w[lo:lo + K + 1] = draw(st.lists(st.floats(0.05, 1.0), min_size=K + 1, max_size=K + 1))
    return path_task(g, w)
