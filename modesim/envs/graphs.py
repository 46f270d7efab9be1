"""Graphs and tasks of the path-finding environment (MATH §5).

A :class:`PathGraph` is a DAG with a start node and one or more goal nodes.  A rollout
starts at the start node, picks one out-edge at a time, and ends at a node without
out-edges: a **goal** (a valid rollout) or a **dead end** (an invalid one).  Goal nodes
must therefore be sinks.

Nodes are the integers ``0..n-1`` (``graph.labels`` keeps the original labels of a
networkx graph).  Edges are numbered ``0..E-1`` in a fixed order: grouped by the
topological layer of their source, then by source, then by destination.  That order makes
the edges leaving one layer a contiguous block, so every dynamic-programming pass is a
loop over layers with one vectorised segment reduction per layer (:mod:`._dp`).

A :class:`PathTask` is a graph, a base policy ``π0(v|u)`` stored as one log-probability
per edge, and named out-of-distribution **blocked-edge** masks: under mask ``"harder"``,
a rollout is valid only if it reaches a goal without using a blocked edge.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import networkx as nx
import numpy as np

from ..simplex import _describe
from ._dp import backward, segment_logsumexp_all

__all__ = ["PathGraph", "PathTask", "path_task"]


def _segments(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Concatenated ``arange(s, s + l)`` over segments, without a Python loop."""
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    offsets = np.repeat(starts - np.cumsum(lengths) + lengths, lengths)
    return offsets + np.arange(total)


@dataclass(frozen=True)
class _Layer:
    """One topological layer: its out-edge block and the nodes that branch in it."""

    edge_lo: int
    edge_hi: int
    branch: np.ndarray  # nodes of the layer with out-edges, in edge order
    offsets: np.ndarray  # start of each branch node's segment, relative to edge_lo
    in_lo: int
    in_hi: int
    in_branch: np.ndarray  # nodes of the layer with in-edges, in in-edge order
    in_offsets: np.ndarray


@dataclass(frozen=True, eq=False)
class PathGraph:
    """A DAG with a start node and goal sinks (MATH §5).  Build with a ``from_*`` method.

    Attributes
    ----------
    n_nodes : int
    src, dst : ndarray of int, shape (E,)
        Edge ``e`` goes ``src[e] → dst[e]`` (edges in layer order, see module docs).
    start : int
    goal : ndarray of bool, shape (n_nodes,)
    layer : ndarray of int, shape (n_nodes,)
        Longest-path depth from the nodes without in-edges; ``src`` layers < ``dst`` layers.
    labels : tuple or None
        Original node labels (networkx graphs); node ``i`` is ``labels[i]``.
    out_start, out_degree : ndarray of int, shape (n_nodes,)
        The out-edges of node ``u`` are ``out_start[u] : out_start[u] + out_degree[u]``.
    in_edges : ndarray of int, shape (E,)
        Edge numbers sorted by the layer of their destination, then destination.
    layers : tuple
        Per-layer edge blocks and segment offsets used by the DP kernels.
    """

    n_nodes: int
    src: np.ndarray
    dst: np.ndarray
    start: int
    goal: np.ndarray
    layer: np.ndarray
    labels: tuple | None = None
    out_start: np.ndarray = field(repr=False, default=None)
    out_degree: np.ndarray = field(repr=False, default=None)
    in_edges: np.ndarray = field(repr=False, default=None)
    layers: tuple[_Layer, ...] = field(repr=False, default=())

    # ------------------------------------------------------------------ builders

    @classmethod
    def from_edges(cls, edges, start, goal, *, n_nodes: int | None = None) -> PathGraph:
        """Build from an edge list of integer pairs ``(u, v)`` over nodes ``0..n-1``.

        Parameters
        ----------
        edges : array_like of int, shape (E, 2)
        start : int
        goal : int or sequence of int
            Goal node(s); each must be a sink.
        n_nodes : int, optional
            Number of nodes (default: one more than the largest node mentioned).

        Raises
        ------
        ValueError
            On cycles, duplicate edges, a missing start or goal, a goal with out-edges,
            or no path from the start to a goal.
        """
        arr = np.asarray(edges)
        if arr.size == 0:
            arr = arr.reshape(0, 2)
        if arr.ndim != 2 or arr.shape[1] != 2 or not np.issubdtype(arr.dtype, np.integer):
            raise ValueError(
                f"edges must be integer pairs (u, v) of shape (E, 2); got {_describe(edges)} "
                "(use PathGraph.from_networkx for labelled nodes)"
            )
        goals = np.atleast_1d(np.asarray(goal))
        mentioned = [arr.max(initial=-1) + 1, int(_as_node(start, "start")) + 1]
        mentioned += [int(_as_node(g, "goal")) + 1 for g in goals]
        n = int(max(mentioned)) if n_nodes is None else n_nodes
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < max(mentioned):
            raise ValueError(
                f"n_nodes must be an integer covering every node mentioned (>= {max(mentioned)}); "
                f"got {n_nodes!r}"
            )
        if np.any(arr < 0):
            raise ValueError(f"edges must use nodes 0..n-1; got a negative node in {_describe(edges)}")
        return cls._build(arr[:, 0].astype(np.int64), arr[:, 1].astype(np.int64), int(n), start, goals)

    @classmethod
    def from_adjacency(cls, adjacency, start, goal) -> PathGraph:
        """Build from a square matrix: an edge ``u → v`` wherever ``adjacency[u, v] != 0``."""
        A = np.asarray(adjacency)
        if A.ndim != 2 or A.shape[0] != A.shape[1] or not np.issubdtype(A.dtype, np.number):
            raise ValueError(f"adjacency must be a square numeric matrix; got {_describe(adjacency)}")
        if not np.all(np.isfinite(A)):
            raise ValueError("adjacency must be finite; got NaN or inf entries")
        u, v = np.nonzero(A)
        return cls.from_edges(np.stack([u, v], axis=1), start, goal, n_nodes=A.shape[0])

    @classmethod
    def from_networkx(cls, G, start, goal) -> PathGraph:
        """Build from a ``networkx.DiGraph``; node ``i`` is ``list(G.nodes)[i]``.

        ``start`` and ``goal`` are given as labels of ``G``.
        """
        if not isinstance(G, nx.DiGraph) or G.is_multigraph():
            raise ValueError(f"G must be a networkx.DiGraph (not a multigraph); got {type(G).__name__}")
        labels = tuple(G.nodes)
        index = {label: i for i, label in enumerate(labels)}
        if isinstance(goal, (list, set)) or (isinstance(goal, tuple) and goal not in index):
            goals = list(goal)
        else:
            goals = [goal]
        for name, node in [("start", start)] + [("goal", g) for g in goals]:
            if node not in index:
                raise ValueError(f"{name} must be a node of G; got {node!r}")
        pairs = np.array([(index[a], index[b]) for a, b in G.edges], dtype=np.int64).reshape(-1, 2)
        g = cls._build(pairs[:, 0], pairs[:, 1], len(labels), index[start],
                       np.array([index[x] for x in goals]))
        object.__setattr__(g, "labels", labels)
        return g

    @classmethod
    def _build(cls, src, dst, n, start, goals) -> PathGraph:
        if n < 1:
            raise ValueError(f"a graph needs at least one node; got n_nodes={n}")
        if src.size and max(src.max(), dst.max()) >= n:
            raise ValueError(f"edges must use nodes 0..{n - 1}; got node {max(src.max(), dst.max())}")
        start = _as_node(start, "start")
        if not 0 <= start < n:
            raise ValueError(f"start must be a node 0..{n - 1}; got {start}")
        goal = np.zeros(n, dtype=bool)
        for g in goals:
            g = _as_node(g, "goal")
            if not 0 <= g < n:
                raise ValueError(f"goal must be nodes 0..{n - 1}; got {g}")
            goal[g] = True
        if goal[start]:
            raise ValueError(f"start must not be a goal (a rollout needs at least one step); got {start}")
        if np.any(src == dst):
            u = int(src[src == dst][0])
            raise ValueError(f"graph must be acyclic; got a self-loop at node {u}")
        keys = src * n + dst
        if np.unique(keys).size != keys.size:
            dup = keys[np.flatnonzero(np.diff(np.sort(keys)) == 0)[0]]
            raise ValueError(
                f"edges must be distinct; got ({dup // n}, {dup % n}) twice "
                "(merge parallel edges into one weight)"
            )
        out_degree = np.bincount(src, minlength=n)
        bad = np.flatnonzero(goal & (out_degree > 0))
        if bad.size:
            raise ValueError(
                f"goal nodes must be sinks (a rollout ends at the goal); node {int(bad[0])} "
                f"has {int(out_degree[bad[0]])} out-edges"
            )
        layer = _layers(src, dst, n)
        order = np.lexsort((dst, src, layer[src]))
        src, dst = src[order], dst[order]
        out_start = np.zeros(n, dtype=np.int64)
        first = np.r_[True, src[1:] != src[:-1]] if src.size else np.zeros(0, dtype=bool)
        out_start[src[first]] = np.flatnonzero(first)
        in_edges = np.lexsort((src, dst, layer[dst]))
        g = cls(n, src, dst, start, goal, layer, None, out_start, out_degree, in_edges,
                _layer_table(src, dst, layer, in_edges, out_start, n))
        if np.isneginf(g._reach_goal_log_count()[start]):
            raise ValueError(f"there is no path from start {start} to a goal {np.flatnonzero(goal).tolist()}")
        return g

    # ------------------------------------------------------------------ accessors

    @property
    def n_edges(self) -> int:
        """Number of edges ``E``."""
        return int(self.src.size)

    @property
    def dead_end(self) -> np.ndarray:
        """Sinks that are not goals: reaching one makes a rollout invalid, shape (n,)."""
        return (self.out_degree == 0) & ~self.goal

    def edge_ids(self, u, v) -> np.ndarray:
        """Edge numbers of ``u → v`` (arrays broadcast); raises if an edge is missing."""
        u, v = np.broadcast_arrays(np.asarray(u, dtype=np.int64), np.asarray(v, dtype=np.int64))
        keys = self.src * self.n_nodes + self.dst
        order = np.argsort(keys)
        want = u * self.n_nodes + v
        pos = np.clip(np.searchsorted(keys[order], want), 0, max(keys.size - 1, 0))
        found = keys.size > 0 and np.all(keys[order][pos] == want)
        if not found:
            missing = [(int(a), int(b)) for a, b in zip(u.ravel(), v.ravel())
                       if not np.any((self.src == a) & (self.dst == b))]
            raise ValueError(f"edges {missing[:5]} are not in the graph")
        return order[pos]

    def path_edges(self, path) -> np.ndarray:
        """Edge numbers along a path given as a node sequence (e.g. ``[0, 2, 5]``)."""
        nodes = np.asarray(path)
        if nodes.ndim != 1 or nodes.size < 2 or not np.issubdtype(nodes.dtype, np.integer):
            raise ValueError(f"path must be a sequence of at least two integer nodes; got {_describe(path)}")
        return self.edge_ids(nodes[:-1], nodes[1:])

    def _reach_goal_log_count(self) -> np.ndarray:
        leaf = np.where(self.goal, 0.0, -np.inf)
        return backward(self, np.zeros(self.n_edges), leaf)

    def __repr__(self) -> str:
        return (f"PathGraph(n_nodes={self.n_nodes}, n_edges={self.n_edges}, start={self.start}, "
                f"goals={np.flatnonzero(self.goal).tolist()[:5]}, layers={len(self.layers)})")


def _as_node(x, name: str) -> int:
    if isinstance(x, bool) or not isinstance(x, (int, np.integer)):
        raise ValueError(f"{name} must be an integer node; got {x!r}")
    return int(x)


def _layers(src: np.ndarray, dst: np.ndarray, n: int) -> np.ndarray:
    """Longest-path depth of every node (Kahn's algorithm, one vectorised step per layer)."""
    order = np.argsort(src, kind="stable")
    s_dst = dst[order]
    deg = np.bincount(src, minlength=n)
    start = np.r_[0, np.cumsum(deg)[:-1]]
    indeg = np.bincount(dst, minlength=n)
    layer = np.zeros(n, dtype=np.int64)
    frontier = np.flatnonzero(indeg == 0)
    done, depth = 0, 0
    while frontier.size:
        layer[frontier] = depth
        done += frontier.size
        succ = s_dst[_segments(start[frontier], deg[frontier])]
        np.subtract.at(indeg, succ, 1)
        frontier = np.unique(succ[indeg[succ] == 0])
        depth += 1
    if done < n:
        G = nx.DiGraph(list(zip(src.tolist(), dst.tolist())))
        cycle = [int(a) for a, _ in nx.find_cycle(G)]
        raise ValueError(f"graph must be acyclic (a DAG); got the cycle {cycle + cycle[:1]}")
    return layer


def _layer_table(src, dst, layer, in_edges, out_start, n) -> tuple[_Layer, ...]:
    n_layers = int(layer.max()) + 1 if n else 0
    src_layer = layer[src]
    dst_layer = layer[dst[in_edges]]
    e_bounds = np.searchsorted(src_layer, np.arange(n_layers + 1))
    i_bounds = np.searchsorted(dst_layer, np.arange(n_layers + 1))
    in_dst = dst[in_edges]
    out = []
    for ell in range(n_layers):
        lo, hi = int(e_bounds[ell]), int(e_bounds[ell + 1])
        s = src[lo:hi]
        first = np.r_[True, s[1:] != s[:-1]] if s.size else np.zeros(0, dtype=bool)
        branch = s[first]
        ilo, ihi = int(i_bounds[ell]), int(i_bounds[ell + 1])
        d = in_dst[ilo:ihi]
        ifirst = np.r_[True, d[1:] != d[:-1]] if d.size else np.zeros(0, dtype=bool)
        out.append(_Layer(lo, hi, branch, np.flatnonzero(first), ilo, ihi, d[ifirst],
                          np.flatnonzero(ifirst)))
    return tuple(out)


@dataclass(frozen=True, eq=False)
class PathTask:
    """A path-finding prompt: graph, base policy per edge and OOD blocked-edge masks.

    The counterpart of :class:`modesim.Task` for path environments (MATH §5): the modes
    are the complete rollouts, the valid set is the rollouts that end at a goal.

    Parameters
    ----------
    graph : PathGraph
    log_base : ndarray, shape (E,)
        ``log π0(v|u)`` per edge; the out-edges of every branching node must normalise
        (within 1e-6; renormalised exactly).
    ood : mapping of str to bool arrays of shape (E,)
        Named blocked-edge masks (e.g. ``{"harder": mask}``); under a mask a rollout is
        valid only if it reaches a goal without using a blocked edge.

    Use :func:`path_task` to build one from weights.
    """

    graph: PathGraph
    log_base: np.ndarray
    ood: Mapping[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self):
        g = self.graph
        if not isinstance(g, PathGraph):
            raise ValueError(f"graph must be a PathGraph; got {type(g).__name__}")
        lb = np.asarray(self.log_base, dtype=np.float64)
        if lb.shape != (g.n_edges,):
            raise ValueError(f"log_base must have one entry per edge, shape ({g.n_edges},); got shape {lb.shape}")
        if np.any(np.isnan(lb)) or np.any(np.isposinf(lb)):
            raise ValueError("log_base must not contain NaN or +inf")
        totals = segment_logsumexp_all(g, lb)
        branching = g.out_degree > 0
        off = branching & ~(np.abs(np.expm1(np.where(branching, totals, 0.0))) <= 1e-6)
        if np.any(off):
            u = int(np.flatnonzero(off)[0])
            raise ValueError(
                f"log_base must normalise over the out-edges of every node; node {u} sums to "
                f"{np.exp(totals[u]):.6g} (allowed: 1 within 1e-6)"
            )
        lb = lb - totals[g.src]
        if np.isneginf(backward(g, lb, np.where(g.goal, 0.0, -np.inf))[g.start]):
            raise ValueError("base policy reaches a goal with probability 0; allowed: π0(C) > 0")
        ood = {}
        for key, mask in dict(self.ood).items():
            if not isinstance(key, str):
                raise ValueError(f"ood keys must be strings; got {key!r}")
            m = np.asarray(mask)
            if m.shape != (g.n_edges,) or not (m.dtype == bool or np.all(np.isin(m, (0, 1)))):
                raise ValueError(
                    f"ood[{key!r}] must be a boolean blocked-edge mask of shape ({g.n_edges},); "
                    f"got {_describe(mask)}"
                )
            ood[key] = m.astype(bool)
        object.__setattr__(self, "log_base", lb)
        object.__setattr__(self, "ood", MappingProxyType(ood))

    @property
    def base(self) -> np.ndarray:
        """Base policy ``π0(v|u)`` per edge, shape (E,)."""
        return np.exp(self.log_base)

    def blocked(self, ood: str | None) -> np.ndarray | None:
        """Blocked-edge mask named ``ood`` (None: in distribution, nothing blocked)."""
        if ood is None:
            return None
        if ood not in self.ood:
            raise ValueError(f"ood must be None or one of {sorted(self.ood)}; got {ood!r}")
        return self.ood[ood]

    def with_ood(self, **masks) -> PathTask:
        """The same task with extra named blocked-edge masks."""
        return PathTask(self.graph, self.log_base, {**self.ood, **masks})

    def __repr__(self) -> str:
        ood = f", ood={list(self.ood)}" if self.ood else ""
        return f"PathTask(n_nodes={self.graph.n_nodes}, n_edges={self.graph.n_edges}{ood})"


def path_task(graph: PathGraph, weights=None, *, ood: Mapping | None = None) -> PathTask:
    """A :class:`PathTask` with base policy ``π0(v|u) ∝ w(u → v)``.

    Parameters
    ----------
    graph : PathGraph
    weights : None, array of shape (E,), (n, n) matrix or mapping {(u, v): w}
        Non-negative finite edge weights, normalised over each node's out-edges; None is
        uniform.  A matrix is read at ``[src, dst]``; a mapping is keyed by node pairs
        (labels for networkx graphs) and must cover every edge.
    ood : mapping of str to blocked-edge masks, optional
    """
    g = graph
    if weights is None:
        w = np.ones(g.n_edges)
    elif isinstance(weights, Mapping):
        index = {lab: i for i, lab in enumerate(g.labels)} if g.labels is not None else None
        keyed = {}
        for (a, b), val in weights.items():
            key = (index[a], index[b]) if index is not None else (a, b)
            keyed[key] = val
        missing = [(int(a), int(b)) for a, b in zip(g.src, g.dst) if (a, b) not in keyed]
        if missing:
            raise ValueError(f"weights must give every edge a weight; missing {missing[:5]}")
        w = np.array([keyed[(a, b)] for a, b in zip(g.src.tolist(), g.dst.tolist())], dtype=np.float64)
    else:
        arr = np.asarray(weights, dtype=np.float64)
        if arr.shape == (g.n_nodes, g.n_nodes) and arr.shape != (g.n_edges,):
            w = arr[g.src, g.dst]
        elif arr.shape == (g.n_edges,):
            w = arr
        else:
            raise ValueError(
                f"weights must have shape ({g.n_edges},) (one per edge) or "
                f"({g.n_nodes}, {g.n_nodes}); got shape {arr.shape}"
            )
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ValueError(f"weights must be finite and non-negative; got {_describe(w)}")
    with np.errstate(divide="ignore"):
        lw = np.log(w)
    totals = segment_logsumexp_all(g, lw)
    dead = (g.out_degree > 0) & np.isneginf(totals)
    if np.any(dead):
        raise ValueError(f"weights must be positive on at least one out-edge of every node; node {int(np.flatnonzero(dead)[0])} has none")
    return PathTask(g, lw - np.where(np.isfinite(totals), totals, 0.0)[g.src], dict(ood or {}))
