"""Seeded generators of path tasks and their out-of-distribution variants (theory §5, §7).

- :class:`LayeredDAG`: layered random DAGs with an exact number of valid paths and a
  tunable base bias among them; distractor nodes lead only to dead ends.
- :class:`ConceptGraph`: a "concept graph" (the paper's controlled task): concepts in a
  random order of abstraction, edges to nearby concepts, some concepts dead ends, and a
  base policy that prefers popular concepts.
- ``spec.larger(factor)``: the same generator at a larger size (the "larger graphs" split).
- :func:`harder`: block edges of the base policy's most probable valid path (the
  "harder graphs" split), as an OOD blocked-edge mask of the task.

A spec is a small frozen dataclass; ``spec.build(seed)`` returns a :class:`PathTask`.
Seeds are ints or :class:`numpy.random.Generator`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from .. import _checks as chk
from .graphs import PathGraph, PathTask, path_task
from .metrics import count_paths, most_probable_path

__all__ = ["LayeredDAG", "ConceptGraph", "harder"]


#: Most nodes a generator builds (a graph's arrays are a few times this many entries).
MAX_NODES = 10**8


def _positive_int(value, name: str, minimum: int = 1, high: int | None = None) -> int:
    return chk.integer(value, name, low=minimum, high=high)


def _nonneg(value, name: str) -> float:
    return chk.real(value, name, low=0.0, allow_array=False)


#: Largest ``−log`` of a concept graph's popularity weight (``e^(−700)`` is a normal float).
_MAX_LOG_WEIGHT = 700.0


def _scale(value: int, factor: float) -> int:
    return max(1, int(round(value * factor)))


@dataclass(frozen=True)
class LayeredDAG:
    """Layered random DAG: start, ``n_layers`` layers of ``width`` nodes, one goal (theory §5).

    The valid paths form a tree from the start: ``n_paths − 1`` branchings placed at
    random layers, so there are exactly ``n_paths`` valid paths, sharing prefixes.  The
    remaining nodes are distractors whose edges lead only to distractors; distractors in
    the last layer are dead ends.  Every non-final node has ``out_degree`` out-edges
    (tree edges first, then edges to random distractors of the next layer).

    Base policy: at a tree node, the tree children share ``1 − leak`` in proportion to
    ``exp(−bias·j)`` for the j-th child, and the distractor edges share ``leak``;
    distractors are uniform.  ``bias = 0`` treats branches alike; larger ``bias`` makes
    the first branch of every split dominant.

    Parameters
    ----------
    n_layers, width, n_paths, out_degree : int
        ``n_paths <= width - 1`` (one slot per layer is kept for a distractor) and
        ``out_degree >= 2``.
    bias : float >= 0
    leak : float in [0, 1)

    Raises
    ------
    ValueError
        ``n_layers`` < 1, ``width`` < 2, ``out_degree`` < 2 or ``n_paths`` < 1 (or not
        integers); ``n_paths > width − 1`` or ``n_paths > out_degree**n_layers``; ``bias``
        not a scalar >= 0; ``leak`` not a scalar in [0, 1).  :meth:`build`: a bad ``seed``;
        :meth:`larger`: ``factor`` not a scalar >= 0.

    Examples
    --------
    >>> from modesim.paths import LayeredDAG
    >>> from modesim import paths
    >>> task = LayeredDAG(n_layers=6, width=8, n_paths=4).build(seed=0)
    >>> int(paths.count_paths(task.graph))
    4
    """

    n_layers: int = 6
    width: int = 8
    n_paths: int = 4
    out_degree: int = 3
    bias: float = 1.0
    leak: float = 0.2

    def __post_init__(self):
        for name, low in (("n_layers", 1), ("width", 2), ("out_degree", 2), ("n_paths", 1)):
            object.__setattr__(self, name, _positive_int(getattr(self, name), name, low, MAX_NODES))
        n_paths = self.n_paths
        if self.n_layers * self.width > MAX_NODES:
            raise ValueError(f"n_layers × width must be at most {MAX_NODES:.0e} nodes; got {self.n_layers} × "
                             f"{self.width}")
        if n_paths > self.width - 1:
            raise ValueError(f"n_paths must be <= width - 1 = {self.width - 1}; got {n_paths}")
        if self.n_layers < 64 and n_paths > self.out_degree ** self.n_layers:   # 2**64 > any n_paths
            raise ValueError(
                f"n_paths must be <= out_degree**n_layers = {self.out_degree ** self.n_layers}; "
                f"got {n_paths}"
            )
        object.__setattr__(self, "bias", _nonneg(self.bias, "bias"))
        object.__setattr__(self, "leak", chk.real(self.leak, "leak", low=0.0, high=1.0, high_open=True,
                                                  allow_array=False))

    def larger(self, factor: float = 2.0) -> LayeredDAG:
        """The same generator with ``factor`` times the layers, width and valid paths."""
        f = _nonneg(factor, "factor")
        if self.n_layers * self.width * f * f > MAX_NODES:
            raise ValueError(f"factor={factor!r} gives about {self.n_layers * self.width * f * f:.3g} nodes; at most "
                             f"{MAX_NODES:.0e} (allowed: a smaller factor)")
        width = _scale(self.width, f)
        return replace(self, n_layers=_scale(self.n_layers, f), width=max(width, 2),
                       n_paths=min(_scale(self.n_paths, f), max(width, 2) - 1))

    def build(self, seed=None) -> PathTask:
        """Draw one task.  Nodes: 0 = start, then layer by layer, last = goal.

        ``seed`` is None, a non-negative int or a :class:`numpy.random.Generator`.

        Raises
        ------
        ValueError
            ``seed`` not None, a non-negative int or a Generator.
        """
        rng = np.random.default_rng(chk.seed(seed))
        L, W, K = self.n_layers, self.width, self.out_degree
        goal = 1 + L * W
        lanes_per_layer = self._lane_counts(rng)
        src, dst, w = [], [], []
        lanes, prev_distract = np.array([0]), np.zeros(0, dtype=np.int64)
        for ell in range(L):
            ids = 1 + ell * W + rng.permutation(W)
            n_new = int(lanes_per_layer[ell + 1])
            new_lanes, distract = ids[:n_new], ids[n_new:]
            # Each lane keeps one child; the remaining branchings take random free slots.
            slots = rng.choice(lanes.size * (K - 1), size=n_new - lanes.size, replace=False)
            children = 1 + np.bincount(slots // (K - 1), minlength=lanes.size)
            first = np.cumsum(children) - children
            rank = np.arange(n_new) - np.repeat(first, children)
            tree = np.exp(-self.bias * rank)
            tree = tree / np.repeat(np.add.reduceat(tree, first), children)
            extra = np.minimum(K - children, distract.size)
            share = np.where(extra > 0, 1.0 - self.leak, 1.0)
            src += [np.repeat(lanes, children), np.repeat(lanes, extra)]
            dst += [new_lanes, _distinct_targets(rng, distract, extra)]
            w += [tree * np.repeat(share, children),
                  np.repeat(self.leak / np.maximum(extra, 1), extra)]
            m = np.full(prev_distract.size, min(K, distract.size))
            src.append(np.repeat(prev_distract, m))
            dst.append(_distinct_targets(rng, distract, m))
            w.append(np.ones(int(m.sum())))
            lanes, prev_distract = new_lanes, distract
        src.append(lanes)
        dst.append(np.full(lanes.size, goal))
        w.append(np.ones(lanes.size))
        edges = np.stack([np.concatenate(src), np.concatenate(dst)], axis=1)
        graph = PathGraph.from_edges(edges, 0, goal, n_nodes=goal + 1)
        weights = np.empty(graph.n_edges)
        weights[graph.edge_ids(edges[:, 0], edges[:, 1])] = np.concatenate(w)
        return path_task(graph, weights)

    def _lane_counts(self, rng) -> np.ndarray:
        """Tree nodes per layer ``a_0 = 1, …, a_L = n_paths``: random branching layers.

        Feasible: non-decreasing, ``a_{l+1} <= out_degree·a_l`` and ``a_l <= width − 1``.
        """
        L, K, n = self.n_layers, self.out_degree, self.n_paths
        cum = np.r_[0, np.cumsum(np.bincount(rng.integers(0, L, size=n - 1), minlength=L))]
        depth = np.arange(L + 1)
        upper = np.minimum(np.minimum(float(K) ** depth, self.width - 1), n)
        lower = np.ceil(n / float(K) ** (L - depth))
        a = np.clip(1 + cum, lower, upper).astype(np.int64)
        # Clipping to lower bounds keeps a_L = n reachable: K·lower_l >= lower_{l+1}.
        for ell in range(L):
            a[ell + 1] = min(a[ell + 1], K * a[ell])
        return a


def _distinct_targets(rng, pool: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """For each source, ``counts[i]`` distinct nodes of ``pool`` (a window of a shuffle)."""
    if pool.size == 0 or counts.sum() == 0:
        return np.zeros(0, dtype=np.int64)
    shuffled = rng.permutation(pool)
    begin = rng.integers(0, pool.size, size=counts.size)
    offset = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
    return shuffled[(np.repeat(begin, counts) + offset) % pool.size]


@dataclass(frozen=True)
class ConceptGraph:
    """A concept graph: from concept 0 to ``n_concepts − 1`` via related ones (theory §5, §10.1).

    Concepts are numbered in a topological order; concept ``i`` links to up to
    ``out_degree`` distinct concepts among the next ``window``; a fraction
    ``dead_end_frac`` of the intermediate concepts lead nowhere (dead ends).  Each concept
    has a popularity (Zipf with exponent ``popularity`` over a random ranking) and the
    base policy moves to a linked concept with probability proportional to its
    popularity.  Draws are repeated (from the same generator) until the goal is reachable.

    Parameters
    ----------
    n_concepts : int >= 3
    out_degree : int >= 1
    window : int >= out_degree
    dead_end_frac : float in [0, 1)
    popularity : float in [0, 700/ln(n_concepts)]
        Zipf exponent of the concepts' popularity (0: the base is uniform over links).  The
        bound keeps every ``rank^(−popularity) ≥ e^(−700)`` a normal float (about 205 for
        30 concepts).

    Raises
    ------
    ValueError
        ``n_concepts`` outside [3, 1e8], ``out_degree`` < 1 or ``window`` < ``out_degree`` (or not
        integers); ``dead_end_frac`` not a scalar in [0, 1); ``popularity`` not a scalar
        in [0, 700/ln(n_concepts)].  :meth:`build`: a bad ``seed``, ``max_tries`` < 1, or no reachable goal in
        ``max_tries`` draws; :meth:`larger`: ``factor`` not a scalar >= 0, or one that leaves
        fewer than 3 concepts.

    Notes
    -----
    Source: the controlled path-finding experiment of the paper (arXiv 2606.26091); this
    generator and its parameters are this project's model of it.  The experiment of
    theory §10 uses ``ConceptGraph(30, dead_end_frac=0.1)`` (base pass@1 0.336).

    Examples
    --------
    >>> from modesim.paths import ConceptGraph
    >>> task = ConceptGraph(30, dead_end_frac=0.1).build(seed=0)
    >>> task.graph.n_nodes
    30
    """

    n_concepts: int = 30
    out_degree: int = 3
    window: int = 6
    dead_end_frac: float = 0.1
    popularity: float = 1.0

    def __post_init__(self):
        object.__setattr__(self, "n_concepts", _positive_int(self.n_concepts, "n_concepts", 3, MAX_NODES))
        object.__setattr__(self, "out_degree", _positive_int(self.out_degree, "out_degree", 1))
        object.__setattr__(self, "window", _positive_int(self.window, "window", self.out_degree))
        object.__setattr__(self, "dead_end_frac", chk.real(
            self.dead_end_frac, "dead_end_frac", low=0.0, high=1.0, high_open=True, allow_array=False))
        top = _MAX_LOG_WEIGHT / np.log(self.n_concepts)
        popularity = chk.real(self.popularity, "popularity", low=0.0, allow_array=False)
        if popularity > top:
            raise ValueError(
                f"popularity must be in [0, {top:.6g}] for n_concepts={self.n_concepts} (the least popular "
                f"concept's weight n_concepts^(−popularity) must stay above e^(−{_MAX_LOG_WEIGHT:g})); "
                f"got {chk.describe(self.popularity)}"
            )
        object.__setattr__(self, "popularity", popularity)

    def larger(self, factor: float = 2.0) -> ConceptGraph:
        """The same generator with ``factor`` times as many concepts."""
        f = _nonneg(factor, "factor")
        if self.n_concepts * f > MAX_NODES:
            raise ValueError(f"factor={factor!r} gives {self.n_concepts * f:.3g} concepts; at most {MAX_NODES:.0e} "
                             "(allowed: a smaller factor)")
        n = _scale(self.n_concepts, f)
        if n < 3:
            raise ValueError(f"factor={factor!r} leaves {n} concepts of {self.n_concepts}; a concept graph needs at "
                             "least 3 (allowed: factor·n_concepts rounding to 3 or more)")
        return replace(self, n_concepts=n)

    def build(self, seed=None, *, max_tries: int = 100) -> PathTask:
        """Draw one task (``seed``: None, a non-negative int or a Generator).

        Raises
        ------
        ValueError
            A bad ``seed``; ``max_tries`` not an integer >= 1; no draw in ``max_tries``
            reaches the goal.
        """
        rng = np.random.default_rng(chk.seed(seed))
        max_tries = chk.integer(max_tries, "max_tries", low=1)
        N, K, Wn = self.n_concepts, self.out_degree, self.window
        for _ in range(max_tries):
            offsets = np.argsort(rng.random((N, Wn)), axis=1)[:, :K] + 1
            src = np.repeat(np.arange(N), K)
            dst = (np.arange(N)[:, None] + offsets).ravel()
            dead = np.zeros(N, dtype=bool)
            dead[1:N - 1] = rng.random(N - 2) < self.dead_end_frac
            keep = (dst < N) & ~dead[src] & (src != N - 1)
            rank = rng.permutation(N)
            weight = (rank + 1.0) ** (-self.popularity)
            edges = np.stack([src[keep], dst[keep]], axis=1)
            try:
                graph = PathGraph.from_edges(edges, 0, N - 1, n_nodes=N)
            except ValueError:
                continue
            return path_task(graph, weight[graph.dst])
        raise ValueError(
            f"no concept graph with a path to the goal in max_tries={max_tries} draws; "
            "lower dead_end_frac or raise out_degree"
        )


def harder(task: PathTask, *, policy=None, n_edges: int = 1, name: str = "harder") -> PathTask:
    """Add an OOD mask blocking edges of the most probable valid path (theory §4, §5, §7).

    Blocks the last ``n_edges`` edges (nearest the goal) of the most probable valid path
    under ``policy`` (default: the base policy), so that path and every path sharing those
    edges become invalid under ``ood=name``.

    Raises
    ------
    ValueError
        If ``n_edges`` is not a positive integer, ``task`` not a :class:`PathTask`,
        ``name`` not a string, ``policy`` not a per-edge policy of the graph (see
        :func:`most_probable_path`), ``name`` already an OOD split of ``task``, or if
        blocking leaves no valid path.

    Notes
    -----
    Source: the "harder graphs" split of the paper's controlled experiment
    (arXiv 2606.26091; theory §10.1 uses the last edge of the Viterbi path).

    Examples
    --------
    >>> from modesim.paths import LayeredDAG, harder
    >>> task = harder(LayeredDAG().build(seed=0))
    >>> sorted(task.ood)
    ['harder']
    """
    n_edges = _positive_int(n_edges, "n_edges")
    if not isinstance(task, PathTask):
        raise ValueError(f"task must be a PathTask; got {chk.describe(task)}")
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"name must be a non-empty string; got {chk.describe(name)}")
    if name in task.ood:
        raise ValueError(f"task already has an OOD split named {name!r}; pass another name (e.g. "
                         f"harder(task, name='{name}2')) to add a second one")
    g = task.graph
    p = task.base if policy is None else policy
    path = most_probable_path(p, task)
    mask = np.zeros(g.n_edges, dtype=bool)
    mask[g.path_edges(path)[-n_edges:]] = True
    if count_paths(g, blocked=mask) == 0:
        raise ValueError(
            f"blocking the last n_edges={n_edges} edges of path {path} leaves no valid path; "
            "use fewer edges or a graph with more paths"
        )
    return task.with_ood(**{name: mask})
