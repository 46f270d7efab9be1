"""Graphs and tasks of the path-finding environment (theory §5).

A :class:`PathGraph` is a DAG with a start node and one or more goal nodes.  A rollout
starts at the start node, picks one out-edge at a time, and ends at a node without
out-edges: a **goal** (a valid rollout) or a **dead end** (an invalid one).  Goal nodes
must therefore be sinks.

Nodes are the integers ``0..n-1`` (``graph.labels`` keeps the original labels of a
networkx graph).  Edges are numbered ``0..E-1`` in a fixed order: grouped by the
topological layer of their source, then by source, then by destination.  That order makes
the out-edges of one node, and the edges leaving one layer, contiguous blocks, so every
dynamic-programming pass (:mod:`modesim.paths.dp`) is a loop over layers with one
vectorised segment reduction per layer.

A :class:`PathTask` is a graph, a base policy ``π0(v|u)`` stored as one log-probability
per edge (shape ``(..., E)``: leading batch axes as for the core's tasks, theory §1), and
named out-of-distribution **blocked-edge** masks: under mask ``"harder"`` a rollout is
valid only if it reaches a goal without using a blocked edge.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from .. import _checks as chk
from ..task import FrozenDict
from .dp import backward, normalise_nodes

__all__ = ["Layer", "PathGraph", "PathTask", "path_task"]

#: Tolerance on a node's total probability before it is renormalised (as for the core).
SUM_TOLERANCE = chk.SUM_TOLERANCE


def _readonly(a: np.ndarray) -> np.ndarray:
    a = np.array(a, copy=True) if a.flags.writeable and a.base is not None else np.asarray(a)
    a.flags.writeable = False
    return a


def _segments(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Concatenated ``arange(s, s + l)`` over segments, without a Python loop."""
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    offsets = np.repeat(starts - np.cumsum(lengths) + lengths, lengths)
    return offsets + np.arange(total)


@dataclass(frozen=True, eq=False)
class Layer:
    """One topological layer of a :class:`PathGraph`, as the DP kernels read it (theory §5.1).

    A plain record built by :class:`PathGraph`'s builders (it checks nothing itself).

    Attributes
    ----------
    edge_lo, edge_hi : int
        The layer's out-edges are ``edge_lo:edge_hi`` (grouped by source node).
    branch : ndarray of int
        Nodes of the layer with out-edges, in edge order.
    offsets, lengths : ndarray of int
        Start (relative to ``edge_lo``) and length of each branch node's segment.
    in_lo, in_hi : int
        The layer's in-edges are ``graph.in_edges[in_lo:in_hi]`` (grouped by destination).
    in_branch, in_offsets : ndarray of int
        Nodes of the layer with in-edges and the start of each one's in-edge segment.
    """

    edge_lo: int
    edge_hi: int
    branch: np.ndarray
    offsets: np.ndarray
    lengths: np.ndarray
    in_lo: int
    in_hi: int
    in_branch: np.ndarray
    in_offsets: np.ndarray


@dataclass(frozen=True, eq=False)
class PathGraph:
    """A DAG with a start node and goal sinks (theory §5).  Build with a ``from_*`` method.

    Attributes
    ----------
    n_nodes : int
    src, dst : ndarray of int, shape (E,)
        Edge ``e`` goes ``src[e] → dst[e]`` (edges in layer order, see the module docs).
    start : int
    goal : ndarray of bool, shape (n_nodes,)
    layer : ndarray of int, shape (n_nodes,)
        Longest-path depth from the nodes without in-edges; ``src`` layers < ``dst`` layers.
    labels : tuple or None
        Original node labels (networkx graphs); node ``i`` is ``labels[i]``.
    out_start, out_degree : ndarray of int, shape (n_nodes,)
        The out-edges of node ``u`` are ``out_start[u] : out_start[u] + out_degree[u]``.
    out_nodes, out_offsets, out_lengths : ndarray of int
        The nodes with out-edges in edge order, the start and the length of each one's
        out-edge segment (per-node reductions over the whole edge array).
    in_edges : ndarray of int, shape (E,)
        Edge numbers sorted by the layer of their destination, then destination.
    in_src : ndarray of int, shape (E,)
        ``src[in_edges]``.
    layers : tuple of Layer
        Per-layer edge blocks and segment offsets used by the DP kernels.

    Raises
    ------
    ValueError
        From the builders (:meth:`from_edges`, :meth:`from_adjacency`,
        :meth:`from_networkx`): malformed edges or matrix, a cycle, duplicate edges, a
        start or goal outside the nodes, a start that is a goal, a goal with out-edges, no
        path from the start to a goal.  :meth:`edge_ids` / :meth:`path_edges`: an edge not
        in the graph, a path that is not a sequence of at least two integer nodes.  The
        constructor itself is internal and checks nothing (use a builder).

    Examples
    --------
    >>> from modesim.paths import PathGraph
    >>> g = PathGraph.from_edges([(0, 1), (1, 3), (0, 2), (2, 3)], start=0, goal=3)
    >>> g.n_nodes, g.n_edges, g.layer.tolist()
    (4, 4, [0, 1, 1, 2])
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
    out_nodes: np.ndarray = field(repr=False, default=None)
    out_offsets: np.ndarray = field(repr=False, default=None)
    out_lengths: np.ndarray = field(repr=False, default=None)
    in_edges: np.ndarray = field(repr=False, default=None)
    in_src: np.ndarray = field(repr=False, default=None)
    layers: tuple[Layer, ...] = field(repr=False, default=())

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

        Examples
        --------
        >>> from modesim.paths import PathGraph
        >>> g = PathGraph.from_edges([(0, 1), (0, 2), (2, 3)], start=0, goal=[1, 3])
        >>> g.n_edges, g.dead_end.tolist()
        (3, [False, False, False, False])
        """
        if isinstance(edges, (str, bytes)) or edges is None:
            raise ValueError(f"edges must be integer pairs (u, v) of shape (E, 2); got {edges!r}")
        try:
            arr = np.asarray(edges)
        except (TypeError, ValueError):
            arr = np.asarray([None], dtype=object)
        if arr.size == 0:
            arr = arr.reshape(0, 2).astype(np.int64)
        if arr.ndim != 2 or arr.shape[1] != 2 or not np.issubdtype(arr.dtype, np.integer):
            raise ValueError(
                f"edges must be integer pairs (u, v) of shape (E, 2); got {chk.describe(edges)} "
                "(use PathGraph.from_networkx for labelled nodes)"
            )
        if np.any(arr < 0):
            raise ValueError(f"edges must use nodes 0..n-1; got a negative node in {chk.describe(edges)}")
        start = chk.integer(start, "start", low=0)
        goals = _goal_list(goal)
        mentioned = max(int(arr.max(initial=-1)) + 1, start + 1, max(goals) + 1)
        if n_nodes is None:
            n = mentioned
        else:
            n = chk.integer(n_nodes, "n_nodes", low=1)
            if n < mentioned:
                raise ValueError(
                    f"n_nodes must be an integer covering every node mentioned (>= {mentioned}); "
                    f"got {n_nodes!r}"
                )
        return cls._build(arr[:, 0].astype(np.int64), arr[:, 1].astype(np.int64), n, start, goals)

    @classmethod
    def from_adjacency(cls, adjacency, start, goal) -> PathGraph:
        """Build from a square matrix: an edge ``u → v`` wherever ``adjacency[u, v] != 0``.

        Raises
        ------
        ValueError
            ``adjacency`` not a square finite numeric matrix; anything :meth:`from_edges`
            refuses (a cycle, a missing start or goal, a goal with out-edges, no path).
        """
        try:
            A = np.asarray(adjacency)
        except (TypeError, ValueError):
            A = np.asarray([None], dtype=object)
        if A.ndim != 2 or A.shape[0] != A.shape[1] or not np.issubdtype(A.dtype, np.number):
            raise ValueError(f"adjacency must be a square numeric matrix; got {chk.describe(adjacency)}")
        if not np.all(np.isfinite(A)):
            raise ValueError("adjacency must be finite; got NaN or inf entries")
        u, v = np.nonzero(A)
        return cls.from_edges(np.stack([u, v], axis=1), start, goal, n_nodes=A.shape[0])

    @classmethod
    def from_networkx(cls, G, start, goal) -> PathGraph:
        """Build from a ``networkx.DiGraph``; node ``i`` is ``list(G.nodes)[i]``.

        ``start`` and ``goal`` are given as labels of ``G``.

        Raises
        ------
        ValueError
            ``G`` not a ``networkx.DiGraph`` (or a multigraph); ``start`` or a goal not a
            node of ``G``; anything :meth:`from_edges` refuses.
        ImportError
            If networkx is not installed.
        """
        import networkx as nx

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
        g = cls._build(pairs[:, 0], pairs[:, 1], len(labels), index[start], [index[x] for x in goals])
        object.__setattr__(g, "labels", labels)
        return g

    @classmethod
    def _build(cls, src, dst, n, start, goals) -> PathGraph:
        if src.size and max(src.max(), dst.max()) >= n:
            raise ValueError(f"edges must use nodes 0..{n - 1}; got node {max(src.max(), dst.max())}")
        if not 0 <= start < n:
            raise ValueError(f"start must be a node 0..{n - 1}; got {start}")
        goal = np.zeros(n, dtype=bool)
        for g in goals:
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
        first = np.r_[True, src[1:] != src[:-1]] if src.size else np.zeros(0, dtype=bool)
        out_offsets = np.flatnonzero(first)
        out_nodes = src[first]
        out_start = np.zeros(n, dtype=np.int64)
        out_start[out_nodes] = out_offsets
        in_edges = np.lexsort((src, dst, layer[dst]))
        arrays = dict(
            src=src, dst=dst, goal=goal, layer=layer, out_start=out_start, out_degree=out_degree,
            out_nodes=out_nodes, out_offsets=out_offsets, out_lengths=out_degree[out_nodes],
            in_edges=in_edges, in_src=src[in_edges],
        )
        arrays = {k: _readonly(np.ascontiguousarray(v)) for k, v in arrays.items()}
        g = cls(n_nodes=n, start=start, labels=None,
                layers=_layer_table(src, dst, layer, in_edges, n), **arrays)
        count = backward(g, np.zeros(g.n_edges), g.log_goal)
        if np.isneginf(count[start]):
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

    @property
    def log_goal(self) -> np.ndarray:
        """``log 1[v is a goal]``: 0 at goals, ``−inf`` elsewhere, shape (n,)."""
        return np.where(self.goal, 0.0, -np.inf)

    def edge_ids(self, u, v) -> np.ndarray:
        """Edge numbers of ``u → v`` (arrays broadcast; ``ValueError`` naming missing edges)."""
        u, v = np.broadcast_arrays(np.asarray(u, dtype=np.int64), np.asarray(v, dtype=np.int64))
        keys = self.src * self.n_nodes + self.dst
        order = np.argsort(keys)
        want = u * self.n_nodes + v
        pos = np.clip(np.searchsorted(keys[order], want), 0, max(keys.size - 1, 0))
        found = (keys[order][pos] == want) if keys.size else np.zeros(want.shape, dtype=bool)
        if not np.all(found):
            missing = [(int(a), int(b)) for a, b, f in zip(u.ravel(), v.ravel(), np.ravel(found)) if not f]
            raise ValueError(f"edges {missing[:5]} are not in the graph")
        return order[pos]

    def path_edges(self, path, name: str = "path") -> np.ndarray:
        """Edge numbers along a path given as a node sequence (e.g. ``[0, 2, 5]``)."""
        try:
            nodes = np.asarray(path)
        except (TypeError, ValueError):
            nodes = np.asarray([None], dtype=object)
        if nodes.ndim != 1 or nodes.size < 2 or not np.issubdtype(nodes.dtype, np.integer):
            raise ValueError(f"{name} must be a sequence of at least two integer nodes; got {chk.describe(path)}")
        return self.edge_ids(nodes[:-1], nodes[1:])

    def __repr__(self) -> str:
        return (f"PathGraph(n_nodes={self.n_nodes}, n_edges={self.n_edges}, start={self.start}, "
                f"goals={np.flatnonzero(self.goal).tolist()[:5]}, layers={len(self.layers)})")


def _goal_list(goal) -> list[int]:
    if isinstance(goal, (list, tuple, np.ndarray)):
        goals = list(np.asarray(goal).ravel()) if not isinstance(goal, (list, tuple)) else list(goal)
        if not goals:
            raise ValueError("goal must name at least one node; got an empty sequence")
        return [chk.integer(g, "goal", low=0) for g in goals]
    return [chk.integer(goal, "goal", low=0)]


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
        import networkx as nx

        G = nx.DiGraph(list(zip(src.tolist(), dst.tolist())))
        cycle = [int(a) for a, _ in nx.find_cycle(G)]
        raise ValueError(f"graph must be acyclic (a DAG); got the cycle {cycle + cycle[:1]}")
    return layer


def _layer_table(src, dst, layer, in_edges, n) -> tuple[Layer, ...]:
    n_layers = int(layer.max()) + 1 if n else 0
    e_bounds = np.searchsorted(layer[src], np.arange(n_layers + 1))
    in_dst = dst[in_edges]
    i_bounds = np.searchsorted(layer[in_dst], np.arange(n_layers + 1))
    out = []
    for ell in range(n_layers):
        lo, hi = int(e_bounds[ell]), int(e_bounds[ell + 1])
        s = src[lo:hi]
        first = np.r_[True, s[1:] != s[:-1]] if s.size else np.zeros(0, dtype=bool)
        offsets = np.flatnonzero(first)
        ilo, ihi = int(i_bounds[ell]), int(i_bounds[ell + 1])
        d = in_dst[ilo:ihi]
        ifirst = np.r_[True, d[1:] != d[:-1]] if d.size else np.zeros(0, dtype=bool)
        fields = dict(branch=s[first], offsets=offsets, lengths=np.diff(np.append(offsets, hi - lo)),
                      in_branch=d[ifirst], in_offsets=np.flatnonzero(ifirst))
        fields = {k: _readonly(np.ascontiguousarray(v)) for k, v in fields.items()}
        out.append(Layer(edge_lo=lo, edge_hi=hi, in_lo=ilo, in_hi=ihi, **fields))
    return tuple(out)


# ------------------------------------------------------------------------- tasks


def _node_sums_error(name, totals, batch_ndim, graph) -> ValueError:
    off = ~(np.abs(totals - 1.0) <= SUM_TOLERANCE)
    idx = tuple(int(i) for i in np.argwhere(off)[0])
    u = int(graph.out_nodes[idx[-1]])
    where = f" at batch index {idx[:-1]}" if batch_ndim else ""
    return ValueError(
        f"{name} must sum to 1 over the out-edges of every node (within {SUM_TOLERANCE:g}); "
        f"node {u} sums to {totals[idx]:.6g}{where}"
    )


def _edge_array(value, name: str, graph, what: str) -> np.ndarray:
    if isinstance(value, (str, bytes)) or value is None:
        raise ValueError(f"{name} must be {what} of shape (..., {graph.n_edges}); got {value!r}")
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError, OverflowError):       # (an integer beyond float64: 10**400)
        raise ValueError(f"{name} must be {what} of shape (..., {graph.n_edges}); got {chk.describe(value)}") from None
    if arr.ndim == 0 or arr.shape[-1] != graph.n_edges:
        raise ValueError(
            f"{name} must have one entry per edge, shape (..., {graph.n_edges}); got shape {arr.shape}"
        )
    return arr


@dataclass(frozen=True, eq=False)
class PathTask:
    """A path-finding prompt: graph, base policy per edge and OOD blocked-edge masks.

    The counterpart of :class:`modesim.Task` for path environments (theory §5): the modes
    are the complete rollouts, the valid set is the rollouts that end at a goal.  Use
    :func:`path_task` to build one from weights.  Validated once, on construction.

    Parameters
    ----------
    graph : PathGraph
    log_base : ndarray, shape (..., E)
        ``log π0(v|u)`` per edge; the out-edges of every node must normalise (within
        1e-6; renormalised).  Leading axes are batch axes (e.g. one base per seed).
    ood : mapping of str to bool arrays broadcastable to (..., E)
        Named blocked-edge masks (e.g. ``{"harder": mask}``); under a mask a rollout is
        valid only if it reaches a goal without using a blocked edge.

    Raises
    ------
    ValueError
        ``graph`` not a :class:`PathGraph`; ``log_base`` not an array of shape (..., E),
        with NaN or +inf, or with a node whose out-edges do not normalise within 1e-6
        (naming the node and batch index); a base that reaches a goal with probability 0;
        ``ood`` not a mapping, a key that is not a string, a mask that is not boolean or
        does not broadcast to (..., E).
    """

    graph: PathGraph
    log_base: np.ndarray
    ood: Mapping[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self):
        g = self.graph
        if not isinstance(g, PathGraph):
            raise ValueError(f"graph must be a PathGraph; got {chk.describe(g)}")
        lb = _edge_array(self.log_base, "log_base", g, "log-probabilities per edge")
        if np.any(np.isnan(lb)) or np.any(np.isposinf(lb)):
            raise ValueError(f"log_base must not contain NaN or +inf; got {chk.describe(self.log_base)}")
        if g.n_edges:
            with np.errstate(over="ignore"):
                totals = np.add.reduceat(np.exp(lb), g.out_offsets, axis=-1)
            if not np.all(np.abs(totals - 1.0) <= SUM_TOLERANCE):
                raise _node_sums_error("log_base", totals, lb.ndim - 1, g)
        lb = normalise_nodes(g, lb)
        S = backward(g, lb, g.log_goal)[..., g.start]
        if np.any(np.isneginf(S)):
            where = "" if S.ndim == 0 else f" at batch index {chk.bad_index(np.isneginf(S))}"
            raise ValueError(f"the base policy reaches a goal with probability 0{where}; allowed: π0(C) > 0")
        if not isinstance(self.ood, Mapping):
            raise ValueError(f"ood must be a mapping of names to blocked-edge masks; got {chk.describe(self.ood)}")
        ood = {}
        for key, mask in self.ood.items():
            if not isinstance(key, str):
                raise ValueError(f"ood keys must be strings; got {key!r}")
            chk.mask(mask, lb.shape, f"ood[{key!r}]", nonempty=False)
            ood[key] = _readonly(np.array(mask, dtype=bool))
        object.__setattr__(self, "log_base", _readonly(lb))
        object.__setattr__(self, "ood", FrozenDict(ood))

    @property
    def base(self) -> np.ndarray:
        """Base policy ``π0(v|u)`` per edge, shape (..., E)."""
        return np.exp(self.log_base)

    @property
    def batch_shape(self) -> tuple[int, ...]:
        """Leading (batch) shape of the base policy."""
        return self.log_base.shape[:-1]

    @property
    def n_edges(self) -> int:
        """Number of edges ``E`` of the graph."""
        return self.graph.n_edges

    def blocked(self, ood: str | None) -> np.ndarray | None:
        """Blocked-edge mask named ``ood`` (None: in distribution, nothing blocked)."""
        if ood is None:
            return None
        if not isinstance(ood, str) or ood not in self.ood:
            raise ValueError(f"ood must be None or one of {sorted(self.ood)}; got {chk.describe(ood)}")
        return self.ood[ood]

    def broadcast(self, batch_shape: tuple[int, ...]) -> PathTask:
        """The task repeated over a larger batch shape (seeds, parameter grids).

        The base becomes a read-only broadcast view of shape ``batch_shape + (E,)`` (no
        copy, no re-validation); blocked-edge masks keep their shapes (they broadcast).
        Used by :func:`modesim.sampled.replicate`.
        """
        shape = tuple(batch_shape) + (self.n_edges,)
        if shape == self.log_base.shape:
            return self
        try:
            np.broadcast_shapes(self.log_base.shape, shape)
        except ValueError:
            raise ValueError(
                f"batch_shape {tuple(batch_shape)} does not broadcast against the task's batch "
                f"shape {self.batch_shape}"
            ) from None
        out = object.__new__(PathTask)
        object.__setattr__(out, "graph", self.graph)
        object.__setattr__(out, "log_base", np.broadcast_to(self.log_base, shape))
        object.__setattr__(out, "ood", self.ood)
        return out

    def with_ood(self, **masks) -> PathTask:
        """The same task with extra named blocked-edge masks (``ValueError`` for a bad mask)."""
        return PathTask(self.graph, self.log_base, {**self.ood, **masks})

    def log_policy_of(self, policy, name: str = "policy") -> np.ndarray:
        """Validate per-edge probabilities ``policy`` (shape (..., E)) and return their log.

        Each node's out-edges must sum to 1 within 1e-6 (renormalised when they are off
        by more than round-off); batch axes must broadcast against the task's.  Costs a
        comparison, one segment sum and one logarithm over the edges: cheaper than a DP pass.

        Raises
        ------
        ValueError
            Naming ``name``, the shape, the first offending node and batch index.
        """
        g = self.graph
        p = _edge_array(policy, name, g, "probabilities per edge")
        self._check_batch(p, name)
        if not np.all(p >= 0.0):
            raise ValueError(f"{name} must be finite and non-negative; got {chk.describe(policy)}")
        if g.n_edges == 0:
            return np.log(p)
        totals = np.add.reduceat(p, g.out_offsets, axis=-1)
        off = np.abs(totals - 1.0)
        if not np.all(off <= SUM_TOLERANCE):
            raise _node_sums_error(name, totals, p.ndim - 1, g)
        with np.errstate(divide="ignore"):
            lp = np.log(p)
        if np.any(off > 1e-14):
            lp -= np.repeat(np.log(totals), g.out_lengths, axis=-1)
            np.minimum(lp, 0.0, out=lp)
        return lp

    def check_log_policy(self, log_policy, name: str = "log_policy") -> np.ndarray:
        """Validate per-edge log-probabilities (shape (..., E), no NaN or +inf, each node
        normalised within 1e-6) and return them renormalised at every node."""
        g = self.graph
        lp = _edge_array(log_policy, name, g, "log-probabilities per edge")
        self._check_batch(lp, name)
        if np.any(np.isnan(lp)) or np.any(np.isposinf(lp)):
            raise ValueError(f"{name} must not contain NaN or +inf; got {chk.describe(log_policy)}")
        if g.n_edges:
            with np.errstate(over="ignore"):
                totals = np.add.reduceat(np.exp(lp), g.out_offsets, axis=-1)
            if not np.all(np.abs(totals - 1.0) <= SUM_TOLERANCE):
                raise _node_sums_error(name, totals, lp.ndim - 1, g)
        return normalise_nodes(g, lp)

    def _check_batch(self, arr: np.ndarray, name: str) -> None:
        try:
            np.broadcast_shapes(arr.shape[:-1], self.batch_shape)
        except ValueError:
            raise ValueError(
                f"{name} has batch shape {arr.shape[:-1]}, which does not broadcast against the "
                f"task's batch shape {self.batch_shape}"
            ) from None

    def __repr__(self) -> str:
        ood = f", ood={list(self.ood)}" if self.ood else ""
        batch = f", batch_shape={self.batch_shape}" if self.batch_shape else ""
        return f"PathTask(n_nodes={self.graph.n_nodes}, n_edges={self.graph.n_edges}{batch}{ood})"


def path_task(graph: PathGraph, weights=None, *, ood: Mapping | None = None) -> PathTask:
    """A :class:`PathTask` with base policy ``π0(v|u) ∝ w(u → v)`` (theory §5).

    Parameters
    ----------
    graph : PathGraph
    weights : None, array of shape (..., E), (n, n) matrix or mapping {(u, v): w}
        Non-negative finite edge weights, normalised over each node's out-edges; None is
        uniform.  A matrix is read at ``[src, dst]``; a mapping is keyed by node pairs
        (labels for networkx graphs) and must cover every edge.  Leading axes of an
        ``(..., E)`` array are batch axes.
    ood : mapping of str to blocked-edge masks, optional

    Returns
    -------
    PathTask
        Base of shape ``batch + (E,)``, normalised at every node.

    Raises
    ------
    ValueError
        ``graph`` not a :class:`PathGraph`; ``weights`` of the wrong shape, with a negative
        or non-finite entry, a mapping with a key that is not a node pair or missing an
        edge, a node without a positive out-weight (naming the node); a bad OOD mask.

    Examples
    --------
    >>> from modesim.paths import PathGraph, path_task
    >>> g = PathGraph.from_edges([(0, 1), (0, 2)], 0, 1)
    >>> path_task(g, [3.0, 1.0]).base.round(12).tolist()
    [0.75, 0.25]
    """
    if not isinstance(graph, PathGraph):
        raise ValueError(f"graph must be a PathGraph; got {chk.describe(graph)}")
    g = graph
    if weights is None:
        w = np.ones(g.n_edges)
    elif isinstance(weights, Mapping):
        index = {lab: i for i, lab in enumerate(g.labels)} if g.labels is not None else None
        keyed = {}
        for key, val in weights.items():
            if not (isinstance(key, tuple) and len(key) == 2):
                raise ValueError(f"weights keys must be node pairs (u, v); got {key!r}")
            a, b = key
            if index is not None and (a not in index or b not in index):
                raise ValueError(f"weights key {key!r} names a node the graph does not have "
                                 f"(nodes: {', '.join(map(repr, list(index)[:10]))}{', …' if len(index) > 10 else ''})")
            keyed[(index[a], index[b]) if index is not None else (a, b)] = val
        missing = [(int(a), int(b)) for a, b in zip(g.src, g.dst) if (a, b) not in keyed]
        if missing:
            raise ValueError(f"weights must give every edge a weight; missing {missing[:5]}")
        w = _edge_array([keyed[(a, b)] for a, b in zip(g.src.tolist(), g.dst.tolist())],
                        "weights", g, "edge weights")
    else:
        arr = chk.numeric_array(weights, "weights", "an array of edge weights")
        if arr.shape == (g.n_nodes, g.n_nodes) and arr.shape != (g.n_edges,):
            w = arr[g.src, g.dst]
        elif arr.ndim and arr.shape[-1] == g.n_edges:
            w = arr
        else:
            raise ValueError(
                f"weights must have shape (..., {g.n_edges}) (one per edge) or "
                f"({g.n_nodes}, {g.n_nodes}); got shape {arr.shape}"
            )
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ValueError(f"weights must be finite and non-negative; got {chk.describe(w)}")
    if g.n_edges:
        totals = np.add.reduceat(w, g.out_offsets, axis=-1)
        dead = totals <= 0
        if np.any(dead):
            idx = tuple(int(i) for i in np.argwhere(dead)[0])
            raise ValueError(
                f"weights must be positive on at least one out-edge of every node; node "
                f"{int(g.out_nodes[idx[-1]])} has none"
                + (f" at batch index {idx[:-1]}" if w.ndim > 1 else "")
            )
    with np.errstate(divide="ignore"):
        lw = np.log(w)
    return PathTask(g, normalise_nodes(g, lw), dict(ood or {}))
