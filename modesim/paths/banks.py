"""Graph banks: many path graphs as one disjoint union, measured per graph (theory §5.1, §10).

The paper's controlled experiment trains one model on many concept graphs and evaluates it
on banks of fresh, larger and harder graphs.  A :class:`GraphBank` holds G graphs as **one**
:class:`~modesim.paths.PathGraph`, their disjoint union, with one start per graph.  Every
per-edge array (policies, bases, features, blocked-edge masks) has the union's edge axis
``E = Σ_g E_g`` last, leading axes being batch axes (seeds, parameter grids) as everywhere
(theory §1).  Because the graphs share no node,

- a backward (soft-Bellman) pass over the union is G backward passes at once: the value of
  a node depends only on its own graph;
- a forward pass from every start at once (:func:`bank_forward`) gives each graph's
  visitation probabilities;
- per-graph quantities are gathers at the starts or **segment sums** over each graph's
  nodes (contiguous: graph g owns nodes ``node_offsets[g]:node_offsets[g+1]``) or edges
  (contiguous after the permutation ``edge_order``).

So measuring or training on 64 graphs costs one DP pass over their union, never a Python
loop over graphs.  The union is laid out in topological layers like any path graph; its
depth is that of the deepest graph.

Metrics per graph, exact by dynamic programming (shape ``batch + (G,)``, with ``k``'s shape
appended for functions of k): :func:`bank_success`, :func:`bank_pass_at_k`,
:func:`bank_distinct_concepts`, :func:`bank_distinct_paths` (power sums, k ≤ 24),
:func:`bank_token_entropy`; :func:`bank_kl_optimum` is ideal RL on every graph (theory §2.1,
§5.2); :func:`graph_bank` draws a seeded bank from a generator spec and
:func:`graph_splits` the experiment's splits (theory §10).
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from .. import _checks as chk
from ..task import FrozenDict
from .dp import backward, fast_log_sums, normalise_paths, shifted_parts
from .graphs import PathGraph, PathTask

__all__ = [
    "GraphBank",
    "graph_bank",
    "graph_splits",
    "SPLITS",
    "EDGE_FEATURES",
    "bank_forward",
    "bank_log_success",
    "bank_success",
    "bank_pass_at_k",
    "bank_distinct_concepts",
    "bank_distinct_paths",
    "bank_token_entropy",
    "bank_kl_optimum",
    "bank_metrics",
    "as_bank",
]

#: The evaluation splits of the experiment: split name → (bank key, OOD mask name).
#: "harder" is the in-distribution bank with each graph's favourite route blocked.
SPLITS: dict[str, tuple[str, str | None]] = {
    "in_distribution": ("in_distribution", None),
    "larger": ("larger", None),
    "harder": ("in_distribution", "harder"),
}

#: Largest k for :func:`bank_distinct_paths` (its alternating sum loses about 2^k ulp).
MAX_DISTINCT_PATHS_K = 24

_QUIET = dict(over="ignore", under="ignore", divide="ignore", invalid="ignore")


# ------------------------------------------------------------------------ features


def _feature_log_base(graph, log_base, node_graph):
    return log_base


def _feature_step(graph, log_base, node_graph):
    return (graph.layer[graph.dst] - graph.layer[graph.src]).astype(np.float64)


def _feature_log_degree(graph, log_base, node_graph):
    return np.log1p(graph.out_degree[graph.dst].astype(np.float64))


def _feature_log_in_degree(graph, log_base, node_graph):
    indeg = np.bincount(graph.dst, minlength=graph.n_nodes).astype(np.float64)
    return np.log1p(indeg[graph.dst])


def _feature_depth(graph, log_base, node_graph):
    top = np.zeros(int(node_graph.max()) + 1 if node_graph.size else 1)
    np.maximum.at(top, node_graph, graph.layer.astype(np.float64))
    return graph.layer[graph.dst] / np.maximum(top[node_graph[graph.dst]], 1.0)


#: Edge features ``φ(u, v)`` defined for a graph of any size (theory §10): name →
#: (description, function of (graph, log_base (E,), node → graph index) returning (E,)).
#: None of them looks at the goal: no distance to the goal, no "leads to a dead end".
EDGE_FEATURES: dict[str, tuple[str, object]] = {
    "log_base": ("the base model's own log-probability log π0(v|u) (log popularity of v, "
                 "normalised at u)", _feature_log_base),
    "step": ("depth gained by the step, layer(v) − layer(u) (layers: longest-path depth)",
             _feature_step),
    "log_degree": ("log(1 + out-degree of v): how many concepts v links to", _feature_log_degree),
    "log_in_degree": ("log(1 + in-degree of v): how many concepts link to v", _feature_log_in_degree),
    "depth": ("depth of v relative to its graph's deepest node, layer(v)/max layer", _feature_depth),
}


# ------------------------------------------------------------------------ the bank


def _readonly(a):
    a = np.asarray(a)
    if a.flags.writeable:
        a = a.copy() if a.base is not None else a
        a.flags.writeable = False
    return a


@dataclass(frozen=True, eq=False)
class GraphBank:
    """G path graphs as one disjoint union, with per-graph starts (theory §5.1, §10).

    Build with :meth:`from_tasks` or :func:`graph_bank`; :meth:`broadcast` adds batch axes
    (seeds) and :meth:`subset` keeps some graphs.

    Attributes
    ----------
    graph : PathGraph
        The disjoint union.  Its own ``start`` is graph 0's start; use ``starts``.
    starts : ndarray of int, shape (G,)
        Start node of each graph in the union.
    log_base : ndarray, shape (..., E)
        ``log π0(v|u)`` per edge of the union (leading axes: batch axes).
    ood : mapping of str to bool ndarray (E,)
        Named blocked-edge masks (e.g. ``"harder"``), as for :class:`PathTask`.
    graph_ids : ndarray of int, shape (G,)
        Global index of each graph in the generator's sequence.  Random streams of the
        sampled path rules are indexed by it, so a sub-bank draws what the whole bank draws.
    tasks : tuple of PathTask
        The member graphs as path tasks (unbatched bases), in bank order.
    edge_index : tuple of ndarray of int
        ``edge_index[g][i]`` is the union edge of edge ``i`` of ``tasks[g]``.
    node_offsets : ndarray of int, shape (G + 1,)
        Graph g owns union nodes ``node_offsets[g]:node_offsets[g + 1]`` (node ``v`` of
        ``tasks[g]`` is union node ``node_offsets[g] + v``).
    extra_features : mapping of str to ndarray (E,)
        Features added with :meth:`with_features` (besides :data:`EDGE_FEATURES`).

    Raises
    ------
    ValueError
        Always on direct construction (use :meth:`from_tasks` or :func:`graph_bank`); from
        :meth:`from_tasks` (see there); :meth:`broadcast` with a shape that does not
        broadcast; :meth:`subset` with positions outside ``0..G−1``; :meth:`feature` with
        an unknown name; :meth:`with_features` with a non-finite or mis-shaped feature;
        :meth:`with_harder` where blocking leaves a graph without a valid path.

    Notes
    -----
    Source: the paper's controlled experiment trains on many concept graphs and evaluates
    on fresh, larger and harder ones (arXiv 2606.26091); the disjoint-union evaluation is
    this project's (theory §5.1, banks of graphs).
    """

    graph: PathGraph
    starts: np.ndarray
    log_base: np.ndarray
    ood: Mapping[str, np.ndarray]
    graph_ids: np.ndarray
    tasks: tuple
    edge_index: tuple
    node_offsets: np.ndarray
    extra_features: Mapping[str, np.ndarray] = field(default_factory=dict)

    # ------------------------------------------------------------ constructors

    @classmethod
    def from_tasks(cls, tasks: Sequence[PathTask], *, graph_ids=None) -> GraphBank:
        """The bank of the given path tasks (each unbatched, the same OOD mask names).

        Parameters
        ----------
        tasks : sequence of PathTask
            One or more tasks with bases of shape (E_g,) and 1-D blocked-edge masks.
        graph_ids : sequence of int, optional
            Global graph indices (default ``0..G-1``); distinct, non-negative, below 2^31.

        Raises
        ------
        ValueError
            Naming ``tasks`` (empty, not path tasks, batched bases, different OOD names)
            or ``graph_ids``.

        Examples
        --------
        >>> from modesim.paths import ConceptGraph, GraphBank
        >>> bank = GraphBank.from_tasks([ConceptGraph(12).build(s) for s in range(3)])
        >>> bank.n_graphs, bank.graph.n_nodes
        (3, 36)
        """
        if isinstance(tasks, PathTask) or not isinstance(tasks, Sequence) or len(tasks) == 0:
            raise ValueError(f"tasks must be a non-empty sequence of PathTask; got {chk.describe(tasks)}")
        for i, t in enumerate(tasks):
            if not isinstance(t, PathTask):
                raise ValueError(f"tasks[{i}] must be a PathTask; got {chk.describe(t)}")
            if t.log_base.ndim != 1:
                raise ValueError(
                    f"tasks[{i}] must be unbatched (base of shape (E,)); got batch shape {t.batch_shape} "
                    "(add seeds to the bank with broadcast, not to its tasks)"
                )
            if any(np.ndim(m) != 1 for m in t.ood.values()):
                raise ValueError(f"tasks[{i}] must have 1-D blocked-edge masks (shape (E,))")
        names = set(tasks[0].ood)
        for i, t in enumerate(tasks):
            if set(t.ood) != names:
                raise ValueError(
                    f"tasks must share their OOD mask names; tasks[0] has {sorted(names)}, "
                    f"tasks[{i}] has {sorted(t.ood)}"
                )
        G = len(tasks)
        ids = np.arange(G, dtype=np.int64) if graph_ids is None else _graph_ids(graph_ids, G)
        sizes = np.array([t.graph.n_nodes for t in tasks], dtype=np.int64)
        offsets = np.r_[0, np.cumsum(sizes)]
        src = np.concatenate([t.graph.src + o for t, o in zip(tasks, offsets)])
        dst = np.concatenate([t.graph.dst + o for t, o in zip(tasks, offsets)])
        starts = np.array([t.graph.start for t in tasks], dtype=np.int64) + offsets[:-1]
        goals = np.concatenate([np.flatnonzero(t.graph.goal) + o for t, o in zip(tasks, offsets)])
        union = PathGraph.from_edges(np.stack([src, dst], axis=1), int(starts[0]), goals.tolist(),
                                     n_nodes=int(offsets[-1]))
        # Union edge of each member edge: the union sorts by (layer, src, dst) and layers are
        # per component, so a lookup by (src, dst) is exact.
        where = union.edge_ids(src, dst)
        cuts = np.cumsum([t.n_edges for t in tasks])[:-1]
        edge_index = tuple(_readonly(x) for x in np.split(where, cuts))
        log_base = np.empty(union.n_edges)
        log_base[where] = np.concatenate([t.log_base for t in tasks])
        ood = {}
        for name in names:
            m = np.zeros(union.n_edges, dtype=bool)
            m[where] = np.concatenate([np.asarray(t.ood[name], dtype=bool) for t in tasks])
            ood[name] = _readonly(m)
        return cls._make(union, starts, _readonly(log_base), ood, ids, tuple(tasks), edge_index,
                         _readonly(offsets), {})

    @classmethod
    def _make(cls, graph, starts, log_base, ood, ids, tasks, edge_index, offsets, extra) -> GraphBank:
        out = object.__new__(cls)
        for name, value in dict(graph=graph, starts=_readonly(starts), log_base=log_base,
                                ood=FrozenDict(ood), graph_ids=_readonly(ids), tasks=tasks,
                                edge_index=edge_index, node_offsets=offsets,
                                extra_features=FrozenDict(extra)).items():
            object.__setattr__(out, name, value)
        return out

    def __post_init__(self):
        # Direct construction: rebuild from the member tasks (validated there) and check
        # that the given union matches; simplest is to require the constructors.
        raise ValueError("build a GraphBank with GraphBank.from_tasks(tasks) or modesim.paths.graph_bank(...)")

    # ------------------------------------------------------------ shape

    @property
    def n_graphs(self) -> int:
        """Number of graphs G."""
        return int(self.starts.size)

    @property
    def n_edges(self) -> int:
        """Edges of the union, E."""
        return self.graph.n_edges

    @property
    def batch_shape(self) -> tuple[int, ...]:
        """Leading (batch) shape of the base."""
        return self.log_base.shape[:-1]

    @property
    def base(self) -> np.ndarray:
        """Base policy per edge, shape (..., E)."""
        return np.exp(self.log_base)

    # Validation of per-edge policies is PathTask's (same attributes, same messages).
    log_policy_of = PathTask.log_policy_of
    check_log_policy = PathTask.check_log_policy
    _check_batch = PathTask._check_batch
    blocked = PathTask.blocked

    @cached_property
    def node_graph(self) -> np.ndarray:
        """Graph index of every union node, shape (n,)."""
        return _readonly(np.repeat(np.arange(self.n_graphs), np.diff(self.node_offsets)))

    @cached_property
    def edge_graph(self) -> np.ndarray:
        """Graph index of every union edge, shape (E,)."""
        return _readonly(self.node_graph[self.graph.src])

    @cached_property
    def edge_order(self) -> np.ndarray:
        """Union edges grouped by graph (stable): graph g's are ``edge_order[edge_offsets[g]:edge_offsets[g+1]]``."""
        return _readonly(np.argsort(self.edge_graph, kind="stable"))

    @cached_property
    def edge_offsets(self) -> np.ndarray:
        """Bounds of each graph's block in ``edge_order``, shape (G + 1,)."""
        return _readonly(np.searchsorted(self.edge_graph[self.edge_order], np.arange(self.n_graphs + 1)))

    @cached_property
    def start_of_node(self) -> np.ndarray:
        """The start node of each node's graph, shape (n,)."""
        return _readonly(self.starts[self.node_graph])

    @cached_property
    def base_row(self) -> np.ndarray:
        """The unbatched base ``log π0`` (E,) the bank was built from (features read it).

        Raises ``ValueError`` when the base differs across batch entries.
        """
        lb = self.log_base
        if lb.ndim == 1:
            return lb
        flat = lb.reshape(-1, lb.shape[-1])
        if np.all((flat == flat[:1]) | (np.isneginf(flat) & np.isneginf(flat[:1]))):
            return _readonly(np.array(flat[0]))
        raise ValueError(
            "this bank's base differs across its batch entries; features are defined for one "
            "base per graph (build the bank unbatched and add seeds with broadcast)"
        )

    # ------------------------------------------------------------ features

    @property
    def feature_names(self) -> tuple[str, ...]:
        """Names of the available edge features (:data:`EDGE_FEATURES` and added ones)."""
        return tuple(EDGE_FEATURES) + tuple(k for k in self.extra_features if k not in EDGE_FEATURES)

    def feature(self, name: str) -> np.ndarray:
        """Edge feature ``φ_name(u, v)`` of every union edge, shape (E,) (read-only, cached).

        Raises
        ------
        ValueError
            For an unknown name, or ``"log_base"`` with a base that is −inf somewhere (a
            log-linear policy needs finite features).
        """
        cache = self.__dict__.setdefault("_feature_cache", {})
        if name in cache:
            return cache[name]
        if name in self.extra_features:
            out = self.extra_features[name]
        elif isinstance(name, str) and name in EDGE_FEATURES:
            out = np.asarray(EDGE_FEATURES[name][1](self.graph, self.base_row, self.node_graph), dtype=np.float64)
        else:
            raise ValueError(f"feature must be one of {list(self.feature_names)}; got {chk.describe(name)}")
        if not np.all(np.isfinite(out)):
            raise ValueError(
                f"feature {name!r} is not finite on every edge (a base probability of 0 gives "
                "log_base = −inf); feature policies need finite features"
            )
        out = _readonly(np.ascontiguousarray(out))
        cache[name] = out
        return out

    def with_features(self, **features) -> GraphBank:
        """The bank with extra edge features (arrays of shape (E,), finite), by name."""
        extra = dict(self.extra_features)
        for name, value in features.items():
            arr = np.asarray(value, dtype=np.float64) if not isinstance(value, (str, bytes)) else None
            if arr is None or arr.shape != (self.n_edges,) or not np.all(np.isfinite(arr)):
                raise ValueError(f"feature {name!r} must be a finite array of shape ({self.n_edges},); "
                                 f"got {chk.describe(value)}")
            extra[name] = _readonly(arr)
        return self._make(self.graph, self.starts, self.log_base, self.ood, self.graph_ids, self.tasks,
                          self.edge_index, self.node_offsets, extra)

    # ------------------------------------------------------------ derived banks

    def broadcast(self, batch_shape: tuple[int, ...]) -> GraphBank:
        """The bank with its base broadcast to ``batch_shape + (E,)`` (a view; seeds, grids)."""
        shape = tuple(batch_shape) + (self.n_edges,)
        if shape == self.log_base.shape:
            return self
        try:
            lb = np.broadcast_to(self.log_base, shape)
        except ValueError:
            raise ValueError(
                f"batch_shape {tuple(batch_shape)} does not broadcast against the bank's batch "
                f"shape {self.batch_shape}"
            ) from None
        out = self._make(self.graph, self.starts, lb, self.ood, self.graph_ids, self.tasks,
                         self.edge_index, self.node_offsets, self.extra_features)
        out.__dict__["_feature_cache"] = self.__dict__.get("_feature_cache", {})
        return out

    def subset(self, graphs) -> GraphBank:
        """The bank of the graphs at positions ``graphs`` (keeping their global ids and bases).

        Raises
        ------
        ValueError
            If ``graphs`` is empty or names a position outside ``0..G-1``.
        """
        idx = np.asarray(graphs)
        if idx.ndim == 0:
            idx = idx.reshape(1)
        if idx.ndim != 1 or idx.size == 0 or not np.issubdtype(idx.dtype, np.integer) \
                or np.any(idx < 0) or np.any(idx >= self.n_graphs):
            raise ValueError(f"graphs must be positions 0..{self.n_graphs - 1}; got {chk.describe(graphs)}")
        sub = GraphBank.from_tasks([self.tasks[i] for i in idx], graph_ids=self.graph_ids[idx])
        members = np.concatenate([self.edge_index[i] for i in idx])
        lb = self.log_base[..., members]
        local = np.concatenate([sub.edge_index[j] for j in range(idx.size)])
        out_lb = np.empty(lb.shape)
        out_lb[..., local] = lb
        extra = {}
        for name, arr in self.extra_features.items():
            x = np.empty(sub.n_edges)
            x[local] = arr[members]
            extra[name] = _readonly(x)
        return self._make(sub.graph, sub.starts, _readonly(out_lb), sub.ood, sub.graph_ids, sub.tasks,
                          sub.edge_index, sub.node_offsets, extra)

    def with_harder(self, *, n_edges: int = 1, name: str = "harder", policy=None) -> GraphBank:
        """Add a blocked-edge mask per graph: the last ``n_edges`` edges of its most probable
        valid path under ``policy`` (default the base) — :func:`~modesim.paths.harder` on every
        graph at once (one Viterbi pass over the union).

        Raises
        ------
        ValueError
            Naming the graphs where blocking leaves no valid path.
        """
        n_edges = chk.integer(n_edges, "n_edges", low=1)
        if not isinstance(name, str):
            raise ValueError(f"name must be a string; got {chk.describe(name)}")
        lp = self.base_row if policy is None else self.log_policy_of(policy)
        if lp.ndim != 1:
            raise ValueError(f"policy must be one policy of shape ({self.n_edges},); got shape {lp.shape}")
        mask = favourite_route_mask(self, lp, n_edges)
        left = _count_valid(self, mask)
        if np.any(left == 0):
            bad = np.flatnonzero(left == 0)
            raise ValueError(
                f"blocking the last n_edges={n_edges} edges of the favourite route leaves no valid "
                f"path in graphs {bad[:5].tolist()} of the bank; use fewer edges or other graphs"
            )
        ood = dict(self.ood)
        ood[name] = _readonly(mask)
        tasks = tuple(t.with_ood(**{name: mask[ix]}) for t, ix in zip(self.tasks, self.edge_index))
        return self._make(self.graph, self.starts, self.log_base, ood, self.graph_ids, tasks,
                          self.edge_index, self.node_offsets, self.extra_features)

    # ------------------------------------------------------------ reductions

    def sum_nodes(self, x: np.ndarray) -> np.ndarray:
        """Per-graph sums of a per-node array (..., n) → (..., G)."""
        return np.add.reduceat(x, self.node_offsets[:-1], axis=-1)

    def sum_edges(self, x: np.ndarray) -> np.ndarray:
        """Per-graph sums of a per-edge array (..., E) → (..., G)."""
        return np.add.reduceat(x[..., self.edge_order], self.edge_offsets[:-1], axis=-1)

    def __repr__(self) -> str:
        ood = f", ood={list(self.ood)}" if self.ood else ""
        batch = f", batch_shape={self.batch_shape}" if self.batch_shape else ""
        return (f"GraphBank(n_graphs={self.n_graphs}, n_nodes={self.graph.n_nodes}, "
                f"n_edges={self.n_edges}{batch}{ood})")


def _graph_ids(ids, G: int) -> np.ndarray:
    try:
        arr = np.asarray(ids)
    except (TypeError, ValueError):
        arr = np.asarray([None], dtype=object)
    if arr.shape != (G,) or not np.issubdtype(arr.dtype, np.integer) or np.any(arr < 0) \
            or np.any(arr >= 2**31) or np.unique(arr).size != G:
        raise ValueError(f"graph_ids must be {G} distinct integers in [0, 2^31); got {chk.describe(ids)}")
    return arr.astype(np.int64)


_SINGLE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def as_bank(task) -> GraphBank:
    """``task`` as a :class:`GraphBank`: a bank unchanged, a :class:`PathTask` as a bank of
    one graph sharing its graph, edge order and (batched) base (cached per task; theory §10).

    What lets the sampled path rules (theory §10.3) run on one graph and on a bank alike.

    Raises
    ------
    ValueError
        If ``task`` is neither.
    """
    if isinstance(task, GraphBank):
        return task
    if not isinstance(task, PathTask):
        raise ValueError(f"task must be a PathTask or a GraphBank; got {chk.describe(task)}")
    cached = _SINGLE.get(task)
    if cached is not None:
        return cached
    g = task.graph
    lb = task.log_base
    row = lb if lb.ndim == 1 else lb.reshape(-1, lb.shape[-1])[0]
    member = PathTask.__new__(PathTask)
    object.__setattr__(member, "graph", g)
    object.__setattr__(member, "log_base", _readonly(row))
    object.__setattr__(member, "ood", FrozenDict({k: v for k, v in task.ood.items() if np.ndim(v) == 1}))
    bank = GraphBank._make(g, np.array([g.start]), lb, {k: v for k, v in task.ood.items()},
                           np.zeros(1, dtype=np.int64), (member,), (_readonly(np.arange(g.n_edges)),),
                           _readonly(np.array([0, g.n_nodes])), {})
    _SINGLE[task] = bank
    return bank


# ------------------------------------------------------------------------ DP kernels


def bank_forward(bank: GraphBank, log_policy: np.ndarray) -> np.ndarray:
    """Log visitation probabilities from every graph's start at once, shape (..., n).

    ``log μ(v) = log Σ_u μ(u)·π(v|u)`` with ``μ = 1`` at each start (theory §5.1); the
    graphs are disjoint, so this is each graph's forward pass.  One loop over the union's
    layers, one vectorised segment log-sum-exp per layer (as :func:`~modesim.paths.forward`).
    """
    graph = bank.graph
    lp = np.asarray(log_policy, dtype=np.float64)
    L = np.full(lp.shape[:-1] + (graph.n_nodes,), -np.inf)
    L[..., bank.starts] = 0.0
    if graph.n_edges == 0:
        return L
    lp_in = lp[..., graph.in_edges]
    in_src = graph.in_src
    first = int(graph.layer[bank.starts].min())
    start_layer = graph.layer[bank.starts]
    with np.errstate(**_QUIET):
        for ell in range(first + 1, len(graph.layers)):
            layer = graph.layers[ell]
            lo, hi = layer.in_lo, layer.in_hi
            if lo == hi:
                continue
            x = lp_in[..., lo:hi] + L[..., in_src[lo:hi]]
            value = fast_log_sums(x, layer.in_offsets)
            if value is None:
                m, ls, _ = shifted_parts(x, layer.in_offsets, np.diff(np.append(layer.in_offsets, hi - lo)))
                value = m + ls
            L[..., layer.in_branch] = value
            here = bank.starts[start_layer == ell]
            if here.size:  # a start with in-edges: nothing before it is reached
                L[..., here] = 0.0
    return L


def bank_log_success(bank: GraphBank, log_policy: np.ndarray, blocked=None, *, failure: bool = False):
    """``log S(u)`` (reach a goal avoiding ``blocked``) or, with ``failure``, ``log(1 − S(u))``
    by its own backward pass (accurate when S ≈ 1): shape (..., n) (theory §5.1)."""
    graph = bank.graph
    lp = np.asarray(log_policy, dtype=np.float64)
    if not failure:
        w = lp if blocked is None else np.where(blocked, -np.inf, lp)
        return backward(graph, w, graph.log_goal)
    leaf = np.where(graph.goal, -np.inf, 0.0)
    return backward(graph, lp, leaf, absorb=blocked)


def _pass_from_logs(log_s: np.ndarray, log_f: np.ndarray, ks: np.ndarray) -> np.ndarray:
    """``1 − (1 − S)^k`` from ``log S`` and ``log(1 − S)``: ``−expm1(k·log F)``, or ``k·S``-exact
    :func:`~modesim.paths.hit_probability` when S is small."""
    from .metrics import hit_probability

    ls = log_s[..., None] if ks.ndim else log_s
    lf = log_f[..., None] if ks.ndim else log_f
    with np.errstate(**_QUIET):
        big = -np.expm1(ks * np.minimum(lf, 0.0))
    small = hit_probability(log_s, ks)
    return np.clip(np.where(ls > np.log(0.5), big, small), 0.0, 1.0)


def _policy(policy, bank: GraphBank) -> np.ndarray:
    if not isinstance(bank, GraphBank):
        raise ValueError(f"bank must be a GraphBank (modesim.paths.graph_bank); got {chk.describe(bank)}")
    return bank.log_policy_of(policy)


def bank_success(policy, bank: GraphBank, *, ood: str | None = None) -> np.ndarray:
    """pass@1 of every graph: ``S(start_g)`` (theory §5.1), shape ``batch + (G,)``.

    ``policy`` is per-edge probabilities (..., E), validated once.

    Raises
    ------
    ValueError
        ``bank`` not a :class:`GraphBank`; ``policy`` not per-edge probabilities of shape
        (..., E) (negative, NaN, a node whose out-edges do not sum to 1 within 1e-6, a batch
        shape not broadcasting against the bank's); ``ood`` not None or a mask name.

    Examples
    --------
    >>> from modesim.paths import ConceptGraph, bank_success, graph_bank
    >>> bank = graph_bank(ConceptGraph(20), 3, seed=0)
    >>> bank_success(bank.base, bank).round(3).tolist()
    [0.2, 0.177, 0.694]
    """
    lp = _policy(policy, bank)
    return np.exp(np.minimum(bank_log_success(bank, lp, bank.blocked(ood))[..., bank.starts], 0.0))


def bank_pass_at_k(policy, bank: GraphBank, k, *, ood: str | None = None) -> np.ndarray:
    """Exact pass@k ``1 − (1 − S_g)^k`` of every graph (theory §4, §5.1).

    Two backward passes give ``log S`` and ``log(1 − S)`` at each start; pass@k is
    ``−expm1(k·log(1 − S))`` (or ``k·S``-exact for tiny S), so it keeps its relative
    precision at both ends.  Shape ``batch + (G,) + np.shape(k)``, in [0, 1].

    Raises
    ------
    ValueError
        ``bank`` not a :class:`GraphBank`; ``policy`` not per-edge probabilities of shape
        (..., E) (negative, NaN, a node whose out-edges do not sum to 1 within 1e-6, a batch
        shape not broadcasting against the bank's); ``k`` not finite positive integers; ``ood``
        not None or a mask name.
    """
    lp = _policy(policy, bank)
    ks = chk.ks(k)
    blocked = bank.blocked(ood)
    ls = bank_log_success(bank, lp, blocked)[..., bank.starts]
    lf = bank_log_success(bank, lp, blocked, failure=True)[..., bank.starts]
    return _pass_from_logs(ls, lf, ks)


def bank_distinct_concepts(policy, bank: GraphBank, k, *, valid_only: bool = False,
                           ood: str | None = None) -> np.ndarray:
    """Expected number of distinct nodes ("concepts") visited in k rollouts, per graph.

    ``Σ_{v ∈ graph g} 1 − (1 − q(v))^k`` with ``q = μ`` (every rollout, start included) or,
    with ``valid_only``, the probability that a valid rollout visits v (theory §4, §5.1;
    :func:`~modesim.paths.expected_distinct_concepts` on each graph).  Shape
    ``batch + (G,) + np.shape(k)``.

    Raises
    ------
    ValueError
        ``bank`` not a :class:`GraphBank`; ``policy`` not per-edge probabilities of shape
        (..., E) (negative, NaN, a node whose out-edges do not sum to 1 within 1e-6, a batch
        shape not broadcasting against the bank's); ``k`` not finite positive integers;
        ``valid_only`` not a boolean; ``ood`` not None or a mask name.
    """
    from .metrics import hit_probability

    lp = _policy(policy, bank)
    ks = chk.ks(k)
    chk.boolean(valid_only, "valid_only")
    blocked = bank.blocked(ood)
    if valid_only:
        w = lp if blocked is None else np.where(blocked, -np.inf, lp)
        log_q = bank_forward(bank, w) + bank_log_success(bank, lp, blocked)
    else:
        log_q = bank_forward(bank, lp)
    hits = hit_probability(np.minimum(log_q, 0.0), ks)
    axis = lp.ndim - 1
    return np.add.reduceat(hits, bank.node_offsets[:-1], axis=axis)


def bank_distinct_paths(policy, bank: GraphBank, k, *, ood: str | None = None) -> np.ndarray:
    """Exact expected number of distinct valid paths in k rollouts, per graph, by DP.

    ``Σ_{y∈C} 1 − (1 − π(y))^k = Σ_{j=1}^{k} (−1)^{j+1} C(k, j)·P_j`` with the power sums
    ``P_j = Σ_{y∈C} π(y)^j``, each one backward pass with scores ``j·log π`` (valid paths
    avoiding ``ood``'s blocked edges) (theory §4, §5.1).  No enumeration, so any number of
    paths; the alternating sum loses at most ``2^k·ε·P_1`` to cancellation (ε the relative
    error of a DP pass, ~1e-15), hence ``k ≤ 24``.  Shape ``batch + (G,) + np.shape(k)``.

    Raises
    ------
    ValueError
        Naming ``k`` above 24 (estimate from samples,
        :meth:`~modesim.paths.Rollouts.distinct_paths`); ``bank`` not a :class:`GraphBank`;
        ``policy`` not per-edge probabilities of shape (..., E) (negative, NaN, a node whose
        out-edges do not sum to 1 within 1e-6, a batch shape not broadcasting against the
        bank's); ``k`` not finite positive integers; ``ood`` not None or a mask name.
    """
    lp = _policy(policy, bank)
    ks = chk.ks(k)
    if np.any(ks > MAX_DISTINCT_PATHS_K):
        raise ValueError(
            f"k must be <= {MAX_DISTINCT_PATHS_K} for the exact power-sum DP (cancellation grows as "
            f"2^k); got {chk.describe(k)} (use sampled rollouts for larger k)"
        )
    blocked = bank.blocked(ood)
    w = lp if blocked is None else np.where(blocked, -np.inf, lp)
    kmax = int(ks.max())
    with np.errstate(**_QUIET):
        powers = np.stack([np.exp(backward(bank.graph, j * w, bank.graph.log_goal)[..., bank.starts])
                           for j in range(1, kmax + 1)], axis=-1)  # (..., G, kmax)
    j = np.arange(1, kmax + 1)
    flat = ks.reshape(-1).astype(np.int64)
    coef = np.array([[(-1.0) ** (jj + 1) * math.comb(int(kk), int(jj)) if jj <= kk else 0.0
                      for jj in j] for kk in flat])  # (Q, kmax)
    out = np.einsum("...gj,qj->...gq", powers, coef)
    out = np.clip(out, 0.0, None)
    return out.reshape(out.shape[:-1] + ks.shape)


def bank_token_entropy(policy, bank: GraphBank) -> np.ndarray:
    """Average per-step (token) entropy along rollouts, per graph, in nats (theory §4).

    ``Σ_u μ(u)·H(π(·|u)) / Σ_u μ(u)·1[u has out-edges]`` over each graph's nodes:
    :func:`~modesim.paths.token_entropy` on each graph.  Shape ``batch + (G,)``.

    Raises
    ------
    ValueError
        ``bank`` not a :class:`GraphBank`; ``policy`` not per-edge probabilities of shape
        (..., E) (negative, NaN, a node whose out-edges do not sum to 1 within 1e-6, a batch
        shape not broadcasting against the bank's).
    """
    lp = _policy(policy, bank)
    g = bank.graph
    L = bank_forward(bank, lp)
    branch = (g.out_degree > 0).astype(np.float64)
    steps = bank.sum_nodes(np.exp(L) * branch)
    with np.errstate(**_QUIET):
        terms = np.exp(L[..., g.src] + lp) * np.where(np.isneginf(lp), 0.0, -lp)
    return np.maximum(bank.sum_edges(terms), 0.0) / steps


def bank_kl_optimum(bank: GraphBank, beta, *, log: bool = False) -> np.ndarray:
    """Ideal KL-regularised RL on every graph: ``π*(path) ∝ π0(path)·exp(r/β)`` (theory §2.1, §5.2).

    One soft-Bellman pass over the union (scores ``log π0``, leaf 0 at goals and ``−1/β`` at
    dead ends) gives every graph's optimum; β = 0 is the filter ``π0(·|C)`` (R2).  Ratios
    among each graph's valid paths are the base's (R1).  Shape
    ``broadcast(batch_shape, beta.shape) + (E,)``.

    Raises
    ------
    ValueError
        ``bank`` not a :class:`GraphBank`; ``beta`` not a real number (or array) >= 0.
    """
    log = chk.boolean(log, "log")
    if not isinstance(bank, GraphBank):
        raise ValueError(f"bank must be a GraphBank; got {chk.describe(bank)}")
    beta = chk.real(beta, "beta", low=0.0)
    if isinstance(beta, np.ndarray):
        with np.errstate(divide="ignore"):
            rate = 1.0 / beta
    else:
        rate = np.inf if beta == 0.0 else 1.0 / beta
    leaf = np.where(bank.graph.goal, 0.0, -chk.col(rate))
    out = normalise_paths(bank.graph, bank.log_base, leaf,
                          what="the KL-regularised optimum is undefined: a graph has no valid path")
    return out if log else np.exp(out)


#: Metrics of :func:`bank_metrics`, by name.
_METRIC_NAMES = ("pass@k", "distinct_paths@k", "distinct_concepts@k", "token_entropy")


def bank_metrics(policy, bank: GraphBank, ks=(1, 16), *, ood: str | None = None,
                 mean: bool = True) -> dict[str, np.ndarray]:
    """The experiment's metrics of a policy on a bank (theory §4, §10), exact by DP.

    Returns ``{"pass@k": (..., Q), "distinct_paths@k": (..., Q), "distinct_concepts@k":
    (..., Q), "token_entropy": (...)}`` averaged over graphs (``mean=True``) or per graph
    (an extra graph axis before ``k``).  ``ood`` names a blocked-edge mask for the validity
    of paths (pass@k, distinct paths); concepts and token entropy count every rollout.

    Raises
    ------
    ValueError
        ``bank`` not a :class:`GraphBank`; ``policy`` not per-edge probabilities of shape
        (..., E) (negative, NaN, a node whose out-edges do not sum to 1 within 1e-6, a batch
        shape not broadcasting against the bank's); ``ks`` not finite positive integers or above
        24 (the exact distinct-paths DP); ``mean`` not a boolean; ``ood`` not None or a mask
        name.
    """
    lp = _policy(policy, bank)
    p = np.exp(lp)
    chk.boolean(mean, "mean")
    k_arr = chk.ks(ks, "ks")
    if np.any(k_arr > MAX_DISTINCT_PATHS_K):
        raise ValueError(f"ks must be <= {MAX_DISTINCT_PATHS_K} (distinct paths@k is exact by a power-sum DP "
                         f"whose cancellation grows as 2^k); got {chk.describe(ks)}")
    out = {
        "pass@k": bank_pass_at_k(p, bank, ks, ood=ood),
        "distinct_paths@k": bank_distinct_paths(p, bank, ks, ood=ood),
        "distinct_concepts@k": bank_distinct_concepts(p, bank, ks),
        "token_entropy": bank_token_entropy(p, bank),
    }
    if mean:
        kdim = np.ndim(chk.ks(ks))
        out = {k: v.mean(axis=-1 - (kdim if k != "token_entropy" else 0)) for k, v in out.items()}
    return out


# ------------------------------------------------------------------------ favourite routes


def favourite_route_mask(bank: GraphBank, log_policy: np.ndarray, n_edges: int = 1) -> np.ndarray:
    """Blocked-edge mask (E,) of the last ``n_edges`` edges of each graph's most probable valid
    path under ``log_policy`` (E,): one Viterbi pass over the union, then every graph's path
    followed at once (ties broken toward the first edge, as
    :func:`~modesim.paths.most_probable_path`)."""
    g = bank.graph
    lp = np.asarray(log_policy, dtype=np.float64)
    M = backward(g, lp, g.log_goal, reduce="max")
    if np.any(np.isneginf(M[bank.starts])):
        bad = np.flatnonzero(np.isneginf(M[bank.starts]))
        raise ValueError(f"policy has no valid rollout of positive probability in graphs {bad[:5].tolist()}")
    with np.errstate(invalid="ignore"):
        score = lp + M[g.dst]
    best = np.maximum.reduceat(score, g.out_offsets)
    is_best = score == np.repeat(best, g.out_lengths)
    # First best edge of each branching node.
    idx = np.where(is_best, np.arange(g.n_edges), g.n_edges)
    first = np.minimum.reduceat(idx, g.out_offsets)
    nxt = np.full(g.n_nodes, -1, dtype=np.int64)
    nxt[g.out_nodes] = first
    G = bank.n_graphs
    depth = len(g.layers)
    taken = np.full((G, depth), -1, dtype=np.int64)
    cur = bank.starts.copy()
    alive = np.arange(G)
    for t in range(depth):
        alive = alive[~g.goal[cur[alive]]]
        if alive.size == 0:
            break
        e = nxt[cur[alive]]
        taken[alive, t] = e
        cur[alive] = g.dst[e]
    length = (taken >= 0).sum(axis=1)
    cols = length[:, None] - 1 - np.arange(n_edges)[None, :]
    ok = cols >= 0
    rows = np.broadcast_to(np.arange(G)[:, None], cols.shape)
    mask = np.zeros(g.n_edges, dtype=bool)
    mask[taken[rows[ok], cols[ok]]] = True
    return mask


def _count_valid(bank: GraphBank, blocked: np.ndarray) -> np.ndarray:
    """Number of valid paths of each graph avoiding ``blocked`` (float; 0 exactly when none)."""
    w = np.where(blocked, -np.inf, 0.0)
    return np.exp(backward(bank.graph, w, bank.graph.log_goal)[bank.starts])


# ------------------------------------------------------------------------ generators


def _child_rng(root: np.random.SeedSequence, key: tuple) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(root.entropy, spawn_key=key))


def _root(seed) -> np.random.SeedSequence:
    seed = chk.seed(seed)
    if isinstance(seed, np.random.Generator):
        return np.random.SeedSequence(int(seed.integers(0, 2**63)))
    return np.random.SeedSequence(seed)


def graph_bank(spec, n_graphs: int, seed=0, *, first: int = 0, stream: int = 0,
               harder: int | None = 1, max_tries: int = 100) -> GraphBank:
    """A seeded bank of ``n_graphs`` graphs drawn from a generator spec (theory §10).

    Graph ``i`` (global id ``first + i``) is drawn by ``spec.build`` from its own generator,
    ``SeedSequence(seed, spawn_key=(stream, first + i))``, so a bank's graph i is the same in
    every bank drawn with that seed and stream, whatever its size.  With ``harder`` (an
    int), each graph gets the ``"harder"`` blocked-edge mask of
    :meth:`GraphBank.with_harder` (the last ``harder`` edges of the base's favourite route);
    a graph where that leaves no valid path is redrawn from the same generator, so every
    graph of such a bank has an alternative to its favourite route.

    Parameters
    ----------
    spec : ConceptGraph, LayeredDAG or any object with ``build(rng) -> PathTask``
    n_graphs : int >= 1
    seed : None, int >= 0 or numpy.random.Generator
    first : int >= 0
        Global id of the first graph.
    stream : int >= 0
        Separate sequences of graphs for the same seed (e.g. training and evaluation).
    harder : int >= 1 or None
    max_tries : int >= 1
        Draws per graph before giving up.

    Raises
    ------
    ValueError
        ``spec`` without ``build``; ``n_graphs``/``max_tries`` not integers >= 1, ``first``
        or ``stream`` not integers >= 0, ``harder`` not an integer >= 1 or None; a bad
        ``seed``; what ``spec.build`` raises; a graph that needs more than ``max_tries``
        draws to keep a valid path besides its favourite route.

    Examples
    --------
    >>> from modesim.paths import ConceptGraph, graph_bank
    >>> graph_bank(ConceptGraph(20), 4, seed=1)
    GraphBank(n_graphs=4, n_nodes=80, n_edges=183, ood=['harder'])
    """
    chk.implements(spec, "spec", ("build",), "a graph generator with build(seed) (e.g. ConceptGraph())")
    n_graphs = chk.integer(n_graphs, "n_graphs", low=1)
    first = chk.integer(first, "first", low=0)
    stream = chk.integer(stream, "stream", low=0)
    max_tries = chk.integer(max_tries, "max_tries", low=1)
    if harder is not None:
        harder = chk.integer(harder, "harder", low=1)
    root = _root(seed)
    from .generators import harder as block

    tasks = []
    for i in range(first, first + n_graphs):
        rng = _child_rng(root, (stream, i))
        for _ in range(max_tries):
            task = spec.build(rng)
            if harder is None:
                break
            try:
                task = block(task, n_edges=harder)
                break
            except ValueError:
                continue
        else:
            raise ValueError(
                f"graph {i}: no draw in max_tries={max_tries} has a valid path besides its favourite "
                f"route's last {harder} edges; lower harder or change the spec"
            )
        tasks.append(task)
    return GraphBank.from_tasks(tasks, graph_ids=np.arange(first, first + n_graphs))


def graph_splits(spec, *, n_train: int = 64, n_eval: int = 64, larger: float = 2.0, seed=0,
                 harder: int = 1) -> dict[str, GraphBank]:
    """The experiment's banks (theory §10): ``{"train", "in_distribution", "larger"}``.

    ``train`` and ``in_distribution`` are disjoint draws from ``spec`` (streams 0 and 1),
    ``larger`` draws from ``spec.larger(larger)`` (stream 2); all carry the ``"harder"``
    mask.  The three evaluation splits of :data:`SPLITS` are in-distribution, larger, and
    the in-distribution bank with each graph's favourite route blocked (``ood="harder"``).

    Raises
    ------
    ValueError
        ``spec`` without ``larger(factor)`` (or ``build``); ``n_train``/``n_eval`` not
        integers >= 1; ``larger`` not a scalar >= 1; a bad ``seed``; ``harder`` not an
        integer >= 1 (or None); a graph needing more than 100 draws (see :func:`graph_bank`).

    Notes
    -----
    Source: the in-distribution, larger and harder splits of the paper's controlled
    experiment (arXiv 2606.26091); theory §10.1.
    """
    chk.implements(spec, "spec", ("build", "larger"), "a graph generator with build(seed) and larger(factor) "
                   "(e.g. ConceptGraph())")
    root = _root(seed)
    seed = int(root.entropy) if not isinstance(root.entropy, int) else root.entropy
    return {
        "train": graph_bank(spec, n_train, seed, stream=0, harder=harder),
        "in_distribution": graph_bank(spec, n_eval, seed, stream=1, harder=harder),
        "larger": graph_bank(spec.larger(chk.real(larger, "larger", low=1.0, allow_array=False)),
                             n_eval, seed, stream=2, harder=harder),
    }
