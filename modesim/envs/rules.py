"""The core's update rules on path policies, via soft-Bellman passes (MATH §2, §3, §5).

Each rule follows the core protocol (:mod:`modesim.rule`)::

    state = rule.init(path_task)          # State with log_policy of shape (E,)
    state = rule.step(state, path_task)   # one round, O(E) time

so :func:`modesim.iterate` runs them unchanged (pass path metrics such as
:data:`~modesim.envs.PATH_METRICS`).  The modes of the core are the complete rollouts.
Every sequence-level target here has the form ``π(path) ∝ exp(Σ_{e∈path} s(e) + leaf(end))``
and is turned into a per-node policy by the backward pass of MATH §5::

    V(u) = log Σ_v exp(s(u→v) + V(v)),    π(v|u) = exp(s(u→v) + V(v) − V(u)).

Self-distillation uses a teacher that copies a demonstrated path's next step (MATH §3.3):
``T(v|u, d) = (1 − α)·ρ(v|u) + α·1[d goes u → v]`` at nodes ``u`` that ``d`` visits and
``ρ(v|u)`` elsewhere.  ``log T(path|d)`` is a sum over edges, so the reverse-KL target
``π_SD(path) ∝ exp(E_d log T(path|d))`` (MATH §3.2) has per-edge scores
``E_d log T(v|u, d)``, which need only the demonstration's node and edge marginals:
O(E) per round, exactly equal to the core applied to the enumerated rollouts.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..distill import EMA, check_sd_options
from ..rule import State
from ..simplex import check_positive_scalar, check_unit_interval
from ..teachers import ConditionedDemos, UniformDemos
from ._dp import backward, forward, policy_from_values
from .graphs import PathGraph, PathTask
from .paths import _conditioned

__all__ = [
    "PathCopyTeacher",
    "FixedPath",
    "demo_marginals",
    "normalise_paths",
    "path_kl_regularised_optimum",
    "path_sd_optimum",
    "PathKLRegularisedRL",
    "PathNaturalPG",
    "PathSelfDistillation",
]


def normalise_paths(graph: PathGraph, score: np.ndarray, leaf=None) -> np.ndarray:
    """Per-edge log-policy of ``π(path) ∝ exp(Σ_{e∈path} score(e) + leaf(end))`` (MATH §5).

    The soft-Bellman pass: ``V(u) = log Σ_v exp(score(u→v) + V(v))`` with ``V = leaf``
    at sinks (default 0), ``log π(v|u) = score(u→v) + V(v) − V(u)``.

    Raises
    ------
    ValueError
        If every rollout has score −inf (the target does not exist).
    """
    leaf = np.zeros(graph.n_nodes) if leaf is None else leaf
    V = backward(graph, score, leaf)
    if np.isneginf(V[graph.start]):
        raise ValueError(
            "the target gives zero probability to every rollout (the teacher and KL "
            "reference have disjoint supports)"
        )
    return policy_from_values(graph, score, V)


# ------------------------------------------------------------- demonstrations


@dataclass(frozen=True)
class FixedPath:
    """A single fixed demonstrated path (OPSD-style), given as a node sequence.

    The path must run from the start to a goal along edges of the graph.
    """

    path: tuple

    def __post_init__(self):
        nodes = np.asarray(self.path)
        if nodes.ndim != 1 or nodes.size < 2 or not np.issubdtype(nodes.dtype, np.integer):
            raise ValueError(f"path must be a node sequence of at least two integers; got {self.path!r}")
        object.__setattr__(self, "path", tuple(int(x) for x in nodes))

    def path_marginals(self, graph: PathGraph, log_rho: np.ndarray):
        """Node and edge visitation probabilities of the demonstration (0 or 1)."""
        if self.path[0] != graph.start or not graph.goal[self.path[-1]]:
            raise ValueError(
                f"path must run from the start {graph.start} to a goal; got {list(self.path)}"
            )
        m_edge = np.zeros(graph.n_edges)
        m_edge[graph.path_edges(self.path)] = 1.0
        m_node = np.zeros(graph.n_nodes)
        m_node[list(self.path)] = 1.0
        return m_node, m_edge


def demo_marginals(demos, graph: PathGraph, log_rho: np.ndarray):
    """Node and edge marginals ``(m_node (n,), m_edge (E,))`` of the demonstration law D.

    ``ConditionedDemos()``: ``D = ρ(·|C)``, a path policy ``ρ(v|u)·S(v)/S(u)``;
    ``UniformDemos()``: uniform over valid paths, ``D(v|u) = N(v)/N(u)`` with ``N`` the
    number of valid paths from a node; :class:`FixedPath`; or any object with
    ``path_marginals(graph, log_rho)``.
    """
    if isinstance(demos, ConditionedDemos):
        log_d = _conditioned(graph, log_rho, None, name="teacher base")
    elif isinstance(demos, UniformDemos):
        log_count = backward(graph, np.zeros(graph.n_edges), np.where(graph.goal, 0.0, -np.inf))
        log_d = policy_from_values(graph, np.zeros(graph.n_edges), log_count)
    else:
        return demos.path_marginals(graph, log_rho)
    log_m = forward(graph, log_d)
    return np.exp(log_m), np.exp(log_m[graph.src] + log_d)


# -------------------------------------------------------------------- teacher


@dataclass(frozen=True)
class PathCopyTeacher:
    """Per-step copy teacher on paths (MATH §3.3, applied at each node).

    ``T(v|u, d) = (1 − α)·ρ(v|u) + α·1[d goes u → v]`` at nodes ``u`` on ``d``, ``ρ(v|u)``
    at nodes off ``d``.  With ``m_u = P_D(d visits u)`` and ``m_e = P_D(d takes e)``:

    ``E_d log T(e|d) = m_e·log((1−α)ρ_e + α) + (m_u − m_e)·log((1−α)ρ_e) + (1 − m_u)·log ρ_e
    = log ρ_e + m_u·log(1 − α) + m_e·log(1 + α/((1 − α)ρ_e))``

    and the per-node mixture ``E_d T(e|d) = (1 − α·m_u)·ρ_e + α·m_e``.
    """

    alpha: float = 0.5

    def __post_init__(self):
        object.__setattr__(self, "alpha", check_unit_interval(self.alpha, "alpha"))

    def edge_expected_log(self, graph, log_rho, m_node, m_edge) -> np.ndarray:
        """``E_d log T(e|d)`` per edge, shape (E,)."""
        a = self.alpha
        if a == 0.0:
            return np.array(log_rho, dtype=np.float64, copy=True)
        m_u = m_node[graph.src]
        zero = np.isneginf(log_rho)
        safe = np.where(zero, 0.0, log_rho)
        gain = np.logaddexp(0.0, np.log(a / (1.0 - a)) - safe)
        out = safe + m_u * np.log1p(-a) + m_edge * gain
        # ρ_e = 0: log T is log α when d takes e and −inf otherwise; finite iff m_e = 1.
        return np.where(zero, np.where(m_edge >= 1.0, np.log(a), -np.inf), out)

    def edge_mixture(self, graph, log_rho, m_node, m_edge) -> np.ndarray:
        """``log E_d T(e|d)`` per edge, shape (E,); normalised over each node's out-edges."""
        a = self.alpha
        if a == 0.0:
            return np.array(log_rho, dtype=np.float64, copy=True)
        with np.errstate(divide="ignore"):
            return np.logaddexp(np.log1p(-a * m_node[graph.src]) + log_rho,
                                np.log(a) + np.log(m_edge))


# ------------------------------------------------------------------ RL rules


def _kl_leaf(graph: PathGraph, beta: float) -> np.ndarray:
    # π* ∝ π_ref·exp(r/β) written as a penalty −1/β at dead ends: no overflow.
    with np.errstate(over="ignore", divide="ignore"):
        penalty = -np.inf if beta == 0.0 else -1.0 / beta
    return np.where(graph.goal, 0.0, penalty)


def path_kl_regularised_optimum(task: PathTask, beta: float, *, log: bool = False) -> np.ndarray:
    """Per-edge KL-regularised RL optimum ``π*(path) ∝ π0(path)·exp(r(path)/β)`` (MATH §2.1).

    Soft-Bellman pass with scores ``log π0(e)``, leaf 0 at goals and ``−1/β`` at dead
    ends; ``beta = 0`` is the filter limit ``π0(·|C)``.  Ratios among valid paths equal
    the base ratios (R1).  Returns shape (E,).
    """
    beta = check_positive_scalar(beta, "beta", allow_zero=True)
    out = normalise_paths(task.graph, task.log_base, _kl_leaf(task.graph, beta))
    return out if log else np.exp(out)


@dataclass(frozen=True)
class PathKLRegularisedRL:
    """:class:`modesim.KLRegularisedRL` on paths: each round the KL-regularised optimum.

    ``π_{t+1}(path) ∝ π_ref(path)·exp(r/β)`` with ``π_ref = π0`` (``"base"``) or ``π_t``
    (``"current"``), by one soft-Bellman pass (MATH §2.1–2.2, §5).
    """

    beta: float = 0.1
    reference: str = "base"

    def __post_init__(self):
        object.__setattr__(self, "beta", check_positive_scalar(self.beta, "beta", allow_zero=True))
        if self.reference not in ("base", "current"):
            raise ValueError(f"reference must be 'base' or 'current'; got {self.reference!r}")

    def init(self, task: PathTask) -> State:
        return State(task.log_base)

    def step(self, state: State, task: PathTask) -> State:
        ref = task.log_base if self.reference == "base" else state.log_policy
        return state.advance(normalise_paths(task.graph, ref, _kl_leaf(task.graph, self.beta)))


@dataclass(frozen=True)
class PathNaturalPG:
    """:class:`modesim.NaturalPG` on paths: ``π_{t+1}(path) ∝ π_t(path)·exp(η·r(path))``.

    Soft-Bellman pass with scores ``log π_t(e)`` and leaf ``−η`` at dead ends (MATH §2.2):
    ``π_t(·|C) = π0(·|C)`` for every t (R3) while ``π_t(C) → 1``.
    """

    eta: float = 1.0

    def __post_init__(self):
        object.__setattr__(self, "eta", check_positive_scalar(self.eta, "eta"))

    def init(self, task: PathTask) -> State:
        return State(task.log_base)

    def step(self, state: State, task: PathTask) -> State:
        leaf = np.where(task.graph.goal, 0.0, -self.eta)
        return state.advance(normalise_paths(task.graph, state.log_policy, leaf))


# ------------------------------------------------------------ self-distillation


def _sd_target(graph, log_rho, log_ref, *, teacher, demos, objective, beta) -> np.ndarray:
    m_node, m_edge = demo_marginals(demos, graph, log_rho)
    if objective == "reverse":
        g = teacher.edge_expected_log(graph, log_rho, m_node, m_edge)
        if beta > 0.0:
            g = (g + beta * log_ref) / (1.0 + beta)
        return normalise_paths(graph, g)
    m = teacher.edge_mixture(graph, log_rho, m_node, m_edge)
    if beta > 0.0:
        m = np.logaddexp(m - np.log1p(beta), log_ref + np.log(beta / (1.0 + beta)))
    return m


def path_sd_optimum(task: PathTask, *, teacher=None, demos=None, objective: str = "reverse",
                    beta: float = 0.0, log: bool = False) -> np.ndarray:
    """One self-distillation round from the base policy, per edge (MATH §3.2, §5).

    Reverse KL: ``π_SD(path) ∝ exp((E_d log T(path|d) + β·log π0(path))/(1 + β))`` with
    per-edge scores from :class:`PathCopyTeacher` and a soft-Bellman pass; equal to
    :func:`modesim.sd_optimum` on the enumerated rollouts with ``T[d, y] = Π_{e∈y} T(e|d)``.

    Forward KL: the per-token target ``π(·|u) = (E_d T(·|u, d) + β·π0(·|u))/(1 + β)``,
    what on-policy per-token forward KL (or SFT on teacher next steps) converges to.
    Unlike the reverse KL it is *not* the core's sequence-level forward target: the
    mixture ``E_d T(path|d)`` correlates choices at different nodes and is generally not
    a per-node policy.  The two agree when D is a single path and β = 0.

    Returns shape (E,).
    """
    rule = PathSelfDistillation(
        teacher=teacher if teacher is not None else PathCopyTeacher(0.5),
        demos=demos if demos is not None else ConditionedDemos(),
        objective=objective,
        beta=beta,
    )
    out = rule.target(task.log_base, task.log_base, task)
    return out if log else np.exp(out)


@dataclass(frozen=True)
class PathSelfDistillation:
    """:class:`modesim.SelfDistillation` on paths, one round per step, O(E) per round.

    Same parameters and semantics as the core rule, with the modes being rollouts:
    each round computes the target of :func:`path_sd_optimum` with teacher base ``ρ_t``
    and reference ``π_ref`` and moves a step η by geometric interpolation,
    ``log π_{t+1}(path) ∝ (1 − η)·log π_t(path) + η·log π*_t(path)`` (per-edge scores,
    then a soft-Bellman pass).  An :class:`~modesim.EMA` teacher mixes per-edge
    log-probabilities (the path logits) the same way.

    Parameters
    ----------
    teacher : PathCopyTeacher or object with ``edge_expected_log``/``edge_mixture``
    demos : ConditionedDemos, UniformDemos, FixedPath or object with ``path_marginals``
    objective : {"reverse", "forward"}
    beta : float >= 0
    eta : float in (0, 1]
    teacher_base : {"current", "frozen"} or EMA
    reference : {"base", "current"}
    """

    teacher: object = field(default_factory=lambda: PathCopyTeacher(0.5))
    demos: object = field(default_factory=ConditionedDemos)
    objective: str = "reverse"
    beta: float = 0.0
    eta: float = 1.0
    teacher_base: str | EMA = "current"
    reference: str = "base"

    def __post_init__(self):
        check_sd_options(self)
        for name in ("edge_expected_log", "edge_mixture"):
            if not hasattr(self.teacher, name):
                raise ValueError(
                    f"teacher must provide {name}(graph, log_rho, m_node, m_edge) "
                    f"(e.g. PathCopyTeacher); got {self.teacher!r}"
                )
        if not (isinstance(self.demos, (ConditionedDemos, UniformDemos))
                or hasattr(self.demos, "path_marginals")):
            raise ValueError(
                "demos must be ConditionedDemos(), UniformDemos(), FixedPath(path) or provide "
                f"path_marginals(graph, log_rho); got {self.demos!r}"
            )

    def target(self, log_rho: np.ndarray, log_ref: np.ndarray, task: PathTask) -> np.ndarray:
        """Per-edge log of this rule's one-round optimum for teacher base ``ρ``."""
        return _sd_target(task.graph, log_rho, log_ref, teacher=self.teacher, demos=self.demos,
                          objective=self.objective, beta=self.beta)

    def init(self, task: PathTask) -> State:
        if isinstance(self.teacher_base, EMA):
            return State(task.log_base, aux={"teacher_log_base": task.log_base})
        return State(task.log_base)

    def _teacher_log_base(self, state: State, task: PathTask) -> np.ndarray:
        if isinstance(self.teacher_base, EMA):
            return state.aux["teacher_log_base"]
        return state.log_policy if self.teacher_base == "current" else task.log_base

    def step(self, state: State, task: PathTask) -> State:
        g = task.graph
        lp = state.log_policy
        ref = task.log_base if self.reference == "base" else lp
        target = self.target(self._teacher_log_base(state, task), ref, task)
        new = target if self.eta == 1.0 else normalise_paths(
            g, (1.0 - self.eta) * lp + self.eta * target)
        if isinstance(self.teacher_base, EMA):
            tau = self.teacher_base.tau
            old = state.aux["teacher_log_base"]
            dead = np.isneginf(old) | np.isneginf(new)
            # τ = 0 or 1 would give 0·(−inf) = NaN; a dead edge stays dead, as in the core.
            safe = tau * np.where(dead, 0.0, old) + (1.0 - tau) * np.where(dead, 0.0, new)
            mixed = normalise_paths(g, np.where(dead, -np.inf, safe))
            return state.advance(new, teacher_log_base=mixed)
        return state.advance(new)
