"""Demonstration sources on paths: the law D of the demonstrated rollout (theory §3.3, §5.2).

A path teacher conditioned on a demonstration ``d`` needs only where ``d`` goes: the
probability ``m(u) = P_D(d visits u)`` of each node and ``m(e) = P_D(d takes e)`` of each
edge.  A source maps the teacher base ``ρ`` (per-edge log-probabilities, ``(..., E)``) to
these marginals in log space, ``log_marginals(graph, log_rho) -> (log m_node (..., n),
log m_edge (..., E))``; ``check(task)`` is called once when a rule starts on a task.

- :class:`ConditionedPaths`: self-generated demonstrations ``D = ρ(·|C)``, the teacher
  base's own correct rollouts (a path policy again: the h-transform ``ρ(v|u)·S(v)/S(u)``).
- :class:`UniformPaths`: diverse external demonstrations, uniform over the valid paths.
- :class:`FixedPath`: one fixed demonstrated path (OPSD-style).

These are the path counterparts of the core's :class:`~modesim.ConditionedDemos`,
:class:`~modesim.UniformDemos` and :class:`~modesim.FixedDemo`.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

import numpy as np

from .. import _checks as chk
from .dp import backward, forward, normalise_paths

__all__ = ["PathDemoSource", "ConditionedPaths", "UniformPaths", "FixedPath"]


def _chain_marginals(graph, log_d: np.ndarray):
    """Node and edge visitation log-probabilities of a path policy ``log_d`` (clamped ≤ 0)."""
    L = np.minimum(forward(graph, log_d), 0.0)
    return L, np.minimum(L[..., graph.src] + log_d, 0.0)


class PathDemoSource:
    """Base class of path demonstration sources (define ``log_marginals``; theory §5.2).

    A source maps the teacher base (per-edge log-probabilities, (..., E)) to the node and
    edge marginals of the demonstration law, (..., n) and (..., E) log-probabilities.  The
    base class takes no arguments and checks nothing; a subclass validates its parameters
    in ``__post_init__`` and its fit to a task in :meth:`check`.
    """

    param_shape: tuple[int, ...] = ()

    def check(self, task) -> None:
        """Validate the source against a path task (called once per run)."""

    def log_marginals(self, graph, log_rho: np.ndarray):
        """``(log m_node (..., n), log m_edge (..., E))`` of the demonstration law."""
        raise NotImplementedError(f"{type(self).__name__} must define log_marginals(graph, log_rho)")


@dataclass(frozen=True)
class ConditionedPaths(PathDemoSource):
    """Self-generated demonstrations ``D = ρ(·|C)``: the teacher base's correct rollouts.

    ``D`` is the path policy ``ρ(v|u)·S(v)/S(u)`` (``S`` the success probability under
    ρ), so its marginals cost one backward and one forward pass (theory §5.1, §5.2).
    The path counterpart of :class:`~modesim.ConditionedDemos` (the paper's design:
    demonstrations are the model's own correct rollouts, arXiv 2606.26091).

    Raises
    ------
    ValueError
        From :meth:`log_marginals` (so from a rule's round) when ``ρ(C) = 0``: there is no
        correct rollout to sample (theory §3.5 S6), named by batch index.
    """

    def log_marginals(self, graph, log_rho: np.ndarray):
        # m(u) = μ_ρ(u)·S(u)/S(start) and m(u → v) = μ_ρ(u)·ρ(v|u)·S(v)/S(start): one
        # backward pass for S, one forward pass for μ_ρ.
        log_S = backward(graph, log_rho, graph.log_goal)
        log_S0 = log_S[..., graph.start]
        if np.any(np.isneginf(log_S0)):
            where = "" if np.ndim(log_S0) == 0 else f" at batch index {chk.bad_index(np.isneginf(log_S0))}"
            raise ValueError(
                "the teacher base reaches a goal with probability 0: π(·|C) is undefined "
                f"(no correct rollout can be sampled as a demonstration){where}"
            )
        log_mu = forward(graph, log_rho)
        log_m_node = log_mu + log_S
        log_m_node -= log_S0[..., None]
        log_m_edge = log_mu[..., graph.src] + log_rho
        log_m_edge += log_S[..., graph.dst]
        log_m_edge -= log_S0[..., None]
        return np.minimum(log_m_node, 0.0, out=log_m_node), np.minimum(log_m_edge, 0.0, out=log_m_edge)


_UNIFORM_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


@dataclass(frozen=True)
class UniformPaths(PathDemoSource):
    """Diverse external demonstrations: ``D`` uniform over the valid paths (theory §5.1, §5.2).

    ``D(v|u) = N(v)/N(u)`` with ``N`` the number of valid paths from a node; the marginals
    depend only on the graph and are computed once per graph.  The path counterpart of
    :class:`~modesim.UniformDemos` (the paper's diverse-external-demonstrations ablation);
    takes no arguments and raises nothing.
    """

    def log_marginals(self, graph, log_rho: np.ndarray):
        cached = _UNIFORM_CACHE.get(graph)
        if cached is None:
            log_d = normalise_paths(graph, np.zeros(graph.n_edges), graph.log_goal)
            cached = _chain_marginals(graph, log_d)
            _UNIFORM_CACHE[graph] = cached
        return cached


@dataclass(frozen=True)
class FixedPath(PathDemoSource):
    """A single fixed demonstrated path (OPSD-style), given as a node sequence.

    The path must run from the start to a goal along edges of the graph (checked when a
    rule starts on a task).  Marginals: 1 on the path's nodes and edges, 0 elsewhere
    (theory §5.2).

    Parameters
    ----------
    path : sequence of int
        Node numbers from the start to a goal, e.g. ``(0, 2, 5)``.

    Raises
    ------
    ValueError
        ``path`` not a sequence of at least two integers; when a run starts
        (:meth:`check`): a path that does not start at the start node, end at a goal, or
        follow edges of the graph.

    Notes
    -----
    Source: OPSD conditions the teacher on one external reference solution per prompt
    (siyan-zhao/OPSD commit 590ec26; theory §8.2, presets).
    """

    path: tuple

    def __post_init__(self):
        try:
            nodes = np.asarray(self.path)
        except (TypeError, ValueError):
            nodes = np.asarray([None], dtype=object)
        if nodes.ndim != 1 or nodes.size < 2 or not np.issubdtype(nodes.dtype, np.integer):
            raise ValueError(f"path must be a node sequence of at least two integers; got {chk.describe(self.path)}")
        object.__setattr__(self, "path", tuple(int(x) for x in nodes))

    def check(self, task) -> None:
        g = task.graph
        if self.path[0] != g.start or not (0 <= self.path[-1] < g.n_nodes and g.goal[self.path[-1]]):
            raise ValueError(f"path must run from the start {g.start} to a goal; got {list(self.path)}")
        g.path_edges(self.path)

    def log_marginals(self, graph, log_rho: np.ndarray):
        m_edge = np.full(graph.n_edges, -np.inf)
        m_edge[graph.path_edges(self.path)] = 0.0
        m_node = np.full(graph.n_nodes, -np.inf)
        m_node[list(self.path)] = 0.0
        return m_node, m_edge
