"""Sequence-level quantities of a path policy by dynamic programming (MATH §4–§5).

A path policy is one probability per edge, ``π(v|u)`` (shape ``(E,)``, in the graph's
edge order), like the core's policies are one probability per mode.  Every function
here is exact and costs O(E) (a few forward/backward passes over the DAG, see
:mod:`._dp`), except :func:`expected_distinct_paths`, which enumerates paths and is
meant for small graphs; sampled rollouts (:func:`sample_paths`) give unbiased
estimators for large ones.

Validity: a rollout is valid if it ends at a goal; under an OOD mask ``ood`` (a name
in ``task.ood``) it must also avoid every blocked edge.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..metrics import _ks, expected_distinct, pass_at_k_unbiased
from ..simplex import _describe
from ..task import Task
from ._dp import backward, forward, policy_from_values, segment_logsumexp_all
from .graphs import PathGraph, PathTask

__all__ = [
    "success_probability",
    "path_pass_at_k",
    "node_marginals",
    "edge_marginals",
    "path_entropy",
    "token_entropy",
    "expected_distinct_concepts",
    "expected_distinct_paths",
    "most_probable_path",
    "count_paths",
    "PATH_METRICS",
    "Rollouts",
    "sample_paths",
    "PathEnumeration",
    "enumerate_paths",
    "categorical_task",
]


def _log_policy(policy, task: PathTask) -> np.ndarray:
    """Validate per-edge probabilities and return their logarithm."""
    if not isinstance(task, PathTask):
        raise ValueError(f"task must be a PathTask; got {type(task).__name__}")
    p = np.asarray(policy, dtype=np.float64)
    g = task.graph
    if p.shape != (g.n_edges,):
        raise ValueError(f"policy must have one probability per edge, shape ({g.n_edges},); got shape {p.shape}")
    if not np.all(np.isfinite(p)) or np.any(p < 0):
        raise ValueError(f"policy must be finite and non-negative; got {_describe(p)}")
    with np.errstate(divide="ignore"):
        lp = np.log(p)
    totals = segment_logsumexp_all(g, lp)
    off = (g.out_degree > 0) & ~(np.abs(np.expm1(np.where(g.out_degree > 0, totals, 0.0))) <= 1e-6)
    if np.any(off):
        u = int(np.flatnonzero(off)[0])
        raise ValueError(
            f"policy must sum to 1 over the out-edges of every node (within 1e-6); node {u} "
            f"sums to {np.exp(totals[u]):.6g}"
        )
    return lp


def _log_success(graph: PathGraph, lp: np.ndarray, blocked) -> np.ndarray:
    """``log S(u)``: probability of reaching a goal from ``u`` (avoiding ``blocked``)."""
    w = lp if blocked is None else np.where(blocked, -np.inf, lp)
    return backward(graph, w, np.where(graph.goal, 0.0, -np.inf))


def _log_failure(graph: PathGraph, lp: np.ndarray, blocked) -> np.ndarray:
    """``log F(u) = log(1 − S(u))`` by its own pass, accurate when ``S ≈ 1``."""
    return backward(graph, lp, np.where(graph.goal, -np.inf, 0.0), absorb=blocked)


def _conditioned(graph: PathGraph, lp: np.ndarray, blocked, *, name="policy") -> np.ndarray:
    """The policy conditioned on a valid rollout, again a path policy (Doob h-transform).

    ``π(v|u, valid) = π(v|u)·S(v)/S(u)`` (blocked edges get 0).  Raises ValueError when
    ``S(start) = 0``: there is no valid rollout to condition on (MATH §3.5 S6).
    """
    logS = _log_success(graph, lp, blocked)
    if np.isneginf(logS[graph.start]):
        raise ValueError(
            f"{name} reaches a goal with probability 0: π(·|C) is undefined "
            "(no correct rollout can be sampled as a demonstration)"
        )
    w = lp if blocked is None else np.where(blocked, -np.inf, lp)
    return policy_from_values(graph, w, logS)


def success_probability(policy, task: PathTask, *, ood: str | None = None) -> float:
    """pass@1: probability that a rollout reaches a goal (avoiding ``ood``'s blocked edges).

    ``S(u) = Σ_v π(v|u)·S(v)``, ``S(goal) = 1``, ``S(dead end) = 0`` (MATH §5).
    """
    lp = _log_policy(policy, task)
    return float(np.exp(_log_success(task.graph, lp, task.blocked(ood))[task.graph.start]))


def path_pass_at_k(policy, task: PathTask, k, *, ood: str | None = None) -> np.ndarray:
    """Exact pass@k ``1 − (1 − π(C))^k`` of a path policy (MATH §4), shape ``np.shape(k)``.

    ``1 − π(C)`` comes from its own backward pass (dead ends and blocked edges count 1),
    so the result stays accurate when ``π(C) ≈ 1``.
    """
    lp = _log_policy(policy, task)
    ks = _ks(k)
    log_fail = _log_failure(task.graph, lp, task.blocked(ood))[task.graph.start]
    # ``0.0 −`` rather than unary minus: certain failure gives 0.0, not −0.0.
    return 0.0 - np.expm1(ks * min(log_fail, 0.0))


def node_marginals(policy, task: PathTask) -> np.ndarray:
    """``μ(v)``: probability that a rollout visits node ``v``, shape (n,) (MATH §5)."""
    return np.exp(forward(task.graph, _log_policy(policy, task)))


def edge_marginals(policy, task: PathTask) -> np.ndarray:
    """``μ(u → v) = μ(u)·π(v|u)``: probability that a rollout takes each edge, shape (E,)."""
    lp = _log_policy(policy, task)
    return np.exp(forward(task.graph, lp)[task.graph.src] + lp)


def _chain_entropy(graph: PathGraph, lp: np.ndarray) -> float:
    """``H = Σ_e μ(e)·(−log π(e))`` (chain rule of entropy along a rollout)."""
    mu_e = np.exp(forward(graph, lp)[graph.src] + lp)
    return float(-np.sum(np.where(mu_e > 0, mu_e * np.where(mu_e > 0, lp, 0.0), 0.0)))


def path_entropy(policy, task: PathTask, *, given_valid: bool = False,
                 ood: str | None = None) -> float:
    """Shannon entropy (nats) of the distribution over whole rollouts (MATH §4).

    By the chain rule ``H = Σ_u μ(u)·H(π(·|u))``.  With ``given_valid`` it is the
    entropy of ``π(·|C)`` (the core's :func:`modesim.entropy` with a valid mask),
    computed on the conditioned chain ``π(v|u)·S(v)/S(u)``.
    """
    lp = _log_policy(policy, task)
    g = task.graph
    if given_valid:
        lp = _conditioned(g, lp, task.blocked(ood))
    return _chain_entropy(g, lp)


def token_entropy(policy, task: PathTask) -> float:
    """Average per-step (token) entropy along rollouts (MATH §4), in nats.

    The token-weighted mean that training logs report:
    ``Σ_u μ(u)·H(π(·|u)) / Σ_u μ(u)·1[u has out-edges]`` = expected path entropy per
    expected step.  Not a diversity measure: see :func:`token_entropy_example`.
    """
    lp = _log_policy(policy, task)
    g = task.graph
    steps = float(np.sum(np.exp(forward(g, lp))[g.out_degree > 0]))
    return _chain_entropy(g, lp) / steps


def _log1m(x: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return np.log1p(-np.clip(x, 0.0, 1.0))


def expected_distinct_concepts(policy, task: PathTask, k, *, valid_only: bool = False,
                               ood: str | None = None) -> np.ndarray:
    """Expected number of distinct nodes ("concepts") visited in k independent rollouts.

    Exact for every k: a rollout visits a node at most once, so node ``v`` is missed by
    all k rollouts with probability ``(1 − q(v))^k`` and the expectation is
    ``Σ_v 1 − (1 − q(v))^k`` with ``q = μ`` (every rollout, start node included) or,
    with ``valid_only``, ``q(v) = P(a valid rollout visits v) = μ̃(v)·S(v)`` (``μ̃``
    avoiding blocked edges).  Returns shape ``np.shape(k)``.
    """
    lp = _log_policy(policy, task)
    ks = _ks(k)
    g = task.graph
    if valid_only:
        blocked = task.blocked(ood)
        w = lp if blocked is None else np.where(blocked, -np.inf, lp)
        q = np.exp(forward(g, w) + _log_success(g, lp, blocked))
    else:
        q = np.exp(forward(g, lp))
    miss = _log1m(q).reshape(q.shape + (1,) * ks.ndim)
    return -np.expm1(ks * miss).sum(axis=0)


def expected_distinct_paths(policy, task: PathTask, k, *, ood: str | None = None,
                            limit: int = 100_000) -> np.ndarray:
    """Exact expected number of distinct valid paths in k rollouts, by enumeration.

    ``Σ_{y∈C} 1 − (1 − π(y))^k`` (MATH §4, :func:`modesim.expected_distinct`) over the
    enumerated valid paths; raises ValueError on graphs with more than ``limit`` valid
    paths (use :meth:`Rollouts.distinct_paths` there).  Returns shape ``np.shape(k)``.
    """
    lp = _log_policy(policy, task)
    enum = enumerate_paths(task.graph, valid_only=True, blocked=task.blocked(ood), limit=limit)
    p = np.exp(enum.log_prob(lp))
    # One extra, invalid mode carries the rest of the mass so the core sees a distribution.
    rest = max(0.0, 1.0 - p.sum())
    full = np.append(p, rest) / (p.sum() + rest)
    return expected_distinct(full, np.append(np.ones(p.size, dtype=bool), False), k)


def most_probable_path(policy, task: PathTask, *, ood: str | None = None) -> list[int]:
    """The most probable valid rollout, as a node list (Viterbi: ``max`` in place of Σ)."""
    lp = _log_policy(policy, task)
    g = task.graph
    blocked = task.blocked(ood)
    w = lp if blocked is None else np.where(blocked, -np.inf, lp)
    M = backward(g, w, np.where(g.goal, 0.0, -np.inf), reduce="max")
    if np.isneginf(M[g.start]):
        raise ValueError("policy has no valid rollout of positive probability")
    path, u = [g.start], g.start
    while not g.goal[u]:
        lo = g.out_start[u]
        seg = w[lo:lo + g.out_degree[u]] + M[g.dst[lo:lo + g.out_degree[u]]]
        u = int(g.dst[lo + int(np.argmax(seg))])
        path.append(u)
    return path


def count_paths(graph: PathGraph, *, blocked=None, valid_only: bool = True) -> float:
    """Number of rollouts (valid ones by default) as a float (exact below 2**53)."""
    leaf = np.where(graph.goal, 0.0, -np.inf) if valid_only else np.zeros(graph.n_nodes)
    w = np.zeros(graph.n_edges)
    if blocked is not None:
        w = np.where(blocked, -np.inf, w)
    total = float(np.exp(backward(graph, w, leaf)[graph.start]))
    # Counts are integers; exp(log count) is off by rounding, which matters for limits.
    return float(np.round(total)) if total < 2.0**53 else total


#: Metrics for :func:`modesim.iterate` on path tasks: ``(policy, task) -> float``.
PATH_METRICS = {
    "valid_mass": lambda p, t: success_probability(p, t),
    "path_entropy": lambda p, t: path_entropy(p, t, given_valid=True),
    "token_entropy": lambda p, t: token_entropy(p, t),
}


# ------------------------------------------------------------------------- sampling


@dataclass(frozen=True, eq=False)
class Rollouts:
    """Sampled rollouts of a path policy, with unbiased diversity estimators.

    Attributes
    ----------
    task : PathTask
    nodes : ndarray of int, shape (n, L + 1)
        Visited nodes, padded with −1 after the rollout ends; ``L + 1`` is the number of
        topological layers, so ``L`` bounds the length of every rollout.
    edges : ndarray of int, shape (n, L)
        Edges taken, padded with −1.
    """

    task: PathTask
    nodes: np.ndarray
    edges: np.ndarray

    @property
    def n(self) -> int:
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
        """Unbiased pass@k estimate ``1 − C(n−c, k)/C(n, k)`` (MATH §4)."""
        return pass_at_k_unbiased(self.n, int(self.valid(ood).sum()), k)

    def distinct_paths(self, k, *, ood: str | None = None) -> np.ndarray:
        """Unbiased estimate of the expected number of distinct valid paths in k rollouts.

        Each distinct valid path seen ``c`` times contributes the chance that a random
        k-subset of the n rollouts contains it, ``1 − C(n−c, k)/C(n, k)``; the sum is a
        U-statistic, unbiased for ``Σ_{y∈C} 1 − (1 − π(y))^k``.  Needs ``k <= n``.
        """
        rows = self.edges[self.valid(ood)]
        if rows.shape[0] == 0:
            return np.zeros(np.shape(k))
        _, counts = np.unique(rows, axis=0, return_counts=True)
        return _sum_unbiased(self.n, counts, k)

    def distinct_concepts(self, k, *, valid_only: bool = False,
                          ood: str | None = None) -> np.ndarray:
        """Unbiased estimate of :func:`expected_distinct_concepts` (same U-statistic)."""
        rows = self.nodes[self.valid(ood)] if valid_only else self.nodes
        counts = np.bincount(rows[rows >= 0], minlength=self.task.graph.n_nodes)
        return _sum_unbiased(self.n, counts[counts > 0], k)


def _sum_unbiased(n: int, counts: np.ndarray, k) -> np.ndarray:
    """``Σ_i 1 − C(n − c_i, k)/C(n, k)`` over items seen ``c_i`` times; shape ``np.shape(k)``."""
    ks = np.asarray(k)
    if counts.size == 0:
        return np.zeros(ks.shape)
    per_item = pass_at_k_unbiased(n, counts.reshape(counts.shape + (1,) * ks.ndim), ks)
    return per_item.sum(axis=0)


def sample_paths(policy, task: PathTask, n: int, seed=None) -> Rollouts:
    """Sample ``n`` rollouts, vectorised over rollouts (one numpy step per path step).

    Inverse-CDF sampling: the cumulative probabilities of each node's out-edges are laid
    end to end as ``rank(u) + cdf`` so one ``searchsorted`` picks every rollout's edge.

    Parameters
    ----------
    policy : array_like, shape (E,)
    task : PathTask
    n : int >= 1
    seed : int or numpy.random.Generator
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be a positive integer number of rollouts; got {n!r}")
    lp = _log_policy(policy, task)
    g = task.graph
    rng = np.random.default_rng(seed)
    p = np.exp(lp)
    first = np.r_[True, g.src[1:] != g.src[:-1]] if g.n_edges else np.zeros(0, dtype=bool)
    seg = np.cumsum(first) - 1
    total = np.cumsum(p)
    lengths = np.diff(np.r_[np.flatnonzero(first), g.n_edges])
    cdf = total - np.repeat(total[first] - p[first], lengths)
    keys = seg + np.minimum(cdf, 1.0)
    rank = np.zeros(g.n_nodes, dtype=np.int64)
    rank[g.src[first]] = np.arange(int(first.sum()))
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


# ---------------------------------------------------------------------- enumeration


@dataclass(frozen=True, eq=False)
class PathEnumeration:
    """Every rollout of a small graph, as modes of a categorical policy (tests, exact checks).

    Attributes
    ----------
    graph : PathGraph
    paths : tuple of tuple of int
        Node sequences, start to sink.
    edges : tuple of ndarray of int
        Edge numbers along each path.
    """

    graph: PathGraph
    paths: tuple
    edges: tuple

    @property
    def n_paths(self) -> int:
        return len(self.paths)

    def valid(self, blocked=None) -> np.ndarray:
        """Valid mask over the enumerated rollouts (end at a goal, avoid ``blocked``)."""
        ok = np.array([self.graph.goal[p[-1]] for p in self.paths])
        if blocked is not None:
            ok &= np.array([not np.any(blocked[e]) for e in self.edges])
        return ok

    def log_prob(self, log_policy: np.ndarray) -> np.ndarray:
        """``log π(path) = Σ_{e∈path} log π(e)`` for every rollout, shape (K,)."""
        return np.array([log_policy[e].sum() for e in self.edges])


def enumerate_paths(graph: PathGraph, *, valid_only: bool = False, blocked=None,
                    limit: int = 100_000) -> PathEnumeration:
    """Enumerate every rollout (start to any sink), or only the valid ones, by DFS.

    Exponential in general: raises ValueError when there are more than ``limit``.
    With ``valid_only``, branches that cannot reach a goal (avoiding ``blocked``) are
    pruned, so the cost is proportional to the number of valid paths.
    """
    total = count_paths(graph, blocked=blocked, valid_only=valid_only)
    if total > limit:
        raise ValueError(
            f"graph has {total:.3g} {'valid paths' if valid_only else 'rollouts'}; "
            f"enumeration allowed up to limit={limit}"
        )
    usable = np.ones(graph.n_edges, dtype=bool)
    if valid_only:
        w = np.zeros(graph.n_edges) if blocked is None else np.where(blocked, -np.inf, 0.0)
        reach = backward(graph, w, np.where(graph.goal, 0.0, -np.inf))
        usable = np.isfinite(w) & np.isfinite(reach[graph.dst])
    paths, edges = [], []
    stack = [((graph.start,), ())]
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
    return PathEnumeration(graph, tuple(paths), tuple(edges))


def categorical_task(task: PathTask, log_policy=None, *, limit: int = 100_000):
    """The core :class:`modesim.Task` whose modes are the rollouts of ``task``.

    Base probabilities are the path probabilities under ``log_policy`` (default the base
    policy); the valid mask marks rollouts that end at a goal; each OOD blocked-edge mask
    becomes an OOD valid mask.  Returns ``(Task, PathEnumeration)``.
    """
    enum = enumerate_paths(task.graph, limit=limit)
    lp = task.log_base if log_policy is None else np.asarray(log_policy, dtype=np.float64)
    logp = enum.log_prob(lp)
    ood = {name: enum.valid(mask) for name, mask in task.ood.items() if enum.valid(mask).any()}
    return Task(logp - np.logaddexp.reduce(logp), enum.valid(), ood), enum

