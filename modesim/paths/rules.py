"""The core's update rules on path policies, via soft-Bellman passes (theory §5.2).

Each rule follows the core protocol (:mod:`modesim.rule`)::

    state = rule.init(path_task)          # State with log_policy of shape (..., E)
    state = rule.step(state, path_task)   # one round, a few O(E) passes

so :func:`modesim.iterate` runs them unchanged (record path metrics such as
:data:`~modesim.paths.PATH_METRICS`).  The modes of the core are the complete rollouts.
Every sequence-level target here has the form ``π(path) ∝ exp(Σ_{e∈path} s(e) + leaf(end))``
and becomes a per-node policy by the backward pass of theory §5.1
(:func:`~modesim.paths.normalise_paths`)::

    V(u) = log Σ_v exp(s(u→v) + V(v)),    π(v|u) = exp(s(u→v) + V(v) − V(u)).

RL on paths keeps the ratios among valid paths (R1, R3 hold verbatim).  Self-distillation
with the per-step copy teacher amplifies them on fan graphs (S4), but not on general DAGs,
where a path's gain depends on where it branches; and the forward-KL target is the per-step
mixture, not the sequence-level one (theory §5.3).

Real parameters (β, ``lr``, ``step_size``, the EMA rate, the teacher's α) may be arrays
broadcasting against the task's batch axes (theory §1): a run's policy then has shape
``broadcast(task.batch_shape, rule.param_shape) + (E,)``.
"""

from __future__ import annotations

from dataclasses import InitVar, dataclass, field

import numpy as np

from .. import _checks as chk
from .._compat import renamed_keyword
from ..rl import LearningRateRule
from ..rule import EMA, SDShell, State, combine_forward, combine_reverse, geometric_mix
from .demos import ConditionedPaths
from .dp import normalise_nodes, normalise_paths
from .graphs import PathTask
from .teachers import PathCopyTeacher

__all__ = [
    "path_kl_regularised_optimum",
    "path_sd_optimum",
    "PathKLRegularisedRL",
    "PathNaturalPG",
    "PathSelfDistillation",
]

_RL_CAPS = frozenset({"deterministic", "memoryless"})
_DISJOINT = ("the self-distillation target gives zero probability to every rollout (the "
             "teacher and the KL reference have disjoint supports)")


def _path_task(task, owner: str) -> PathTask:
    if not isinstance(task, PathTask):
        raise ValueError(f"{owner} runs on a PathTask (modesim.paths.path_task); got {chk.describe(task)}")
    return task


def _batch_base(rule, task: PathTask) -> np.ndarray:
    batch = chk.broadcast_batch(task.batch_shape, rule.param_shape, type(rule).__name__)
    return np.broadcast_to(task.log_base, batch + (task.n_edges,))


def _dead_end_leaf(graph, rate) -> np.ndarray:
    """Leaf values: 0 at goals, ``−rate`` elsewhere (dead ends), shape (..., n).

    ``π(path) ∝ π_ref(path)·exp(−rate·(1 − r))``: the KL optimum (rate 1/β) and the natural
    gradient step (rate ``lr``) as a penalty on failure, which cannot overflow.
    """
    return np.where(graph.goal, 0.0, -chk.col(rate))


def _inverse(beta):
    """``1/β`` with ``1/0 = inf`` (β = 0 is the filter limit), scalar or array."""
    if isinstance(beta, np.ndarray):
        with np.errstate(divide="ignore", over="ignore"):
            return 1.0 / beta
    if beta == 0.0:
        return np.inf
    with np.errstate(over="ignore"):
        return float(np.float64(1.0) / beta)


def path_kl_regularised_optimum(task: PathTask, beta, *, log: bool = False) -> np.ndarray:
    """Per-edge KL-regularised RL optimum ``π*(path) ∝ π0(path)·exp(r(path)/β)`` (theory §2.1, §5.2).

    Soft-Bellman pass with scores ``log π0(e)``, leaf 0 at goals and ``−1/β`` at dead
    ends; ``beta = 0`` is the filter limit ``π0(·|C)``.  Ratios among valid paths equal the
    base ratios (R1).  Every node is normalised to a few ulp however small β is.

    Parameters
    ----------
    task : PathTask
    beta : float or array >= 0
    log : bool
        Return log-probabilities.

    Returns
    -------
    ndarray, shape ``broadcast(task.batch_shape, beta.shape) + (E,)``
        Per-edge probabilities (log-probabilities with ``log=True``).

    Raises
    ------
    ValueError
        ``task`` not a :class:`~modesim.paths.PathTask`; ``beta`` not a real number (or
        array) >= 0, or an array not broadcasting against the task's batch shape.

    Examples
    --------
    >>> from modesim.paths import PathGraph, path_kl_regularised_optimum, path_task
    >>> t = path_task(PathGraph.from_edges([(0, 1), (0, 2)], 0, 1), [0.5, 0.5])
    >>> path_kl_regularised_optimum(t, 1.0).round(3).tolist()
    [0.731, 0.269]
    """
    log = chk.boolean(log, "log")
    task = _path_task(task, "path_kl_regularised_optimum")
    rule = PathKLRegularisedRL(beta)
    out = rule.step(rule.init(task), task).log_policy
    return out if log else np.exp(out)


@dataclass(frozen=True)
class PathKLRegularisedRL:
    """:class:`modesim.KLRegularisedRL` on paths: each round the KL-regularised optimum.

    ``π_{t+1}(path) ∝ π_ref(path)·exp(r/β)`` with ``π_ref = π0`` (``"base"``) or ``π_t``
    (``"current"``), by one soft-Bellman pass (theory §2.1–2.2, §5.2).

    Parameters
    ----------
    beta : float or array >= 0
    reference : {"base", "current"}

    Raises
    ------
    ValueError
        ``beta`` not a real number (or array) >= 0; an unknown ``reference``.  In
        :meth:`init`: a task that is not a :class:`~modesim.paths.PathTask`, or a ``beta``
        array that does not broadcast against its batch shape.
    """

    beta: float = 0.1
    reference: str = "base"

    capabilities = _RL_CAPS

    def __post_init__(self):
        object.__setattr__(self, "beta", chk.real(self.beta, "beta", low=0.0))
        chk.choice(self.reference, "reference", ("base", "current"))

    @property
    def param_shape(self) -> tuple[int, ...]:
        return chk.param_shape(self.beta)

    def init(self, task: PathTask) -> State:
        return State(_batch_base(self, _path_task(task, type(self).__name__)))

    def step(self, state: State, task: PathTask) -> State:
        ref = task.log_base if self.reference == "base" else state.log_policy
        leaf = _dead_end_leaf(task.graph, _inverse(self.beta))
        return state.advance(normalise_paths(task.graph, ref, leaf))


@dataclass(frozen=True)
class PathNaturalPG(LearningRateRule):
    """:class:`modesim.NaturalPG` on paths: ``π_{t+1}(path) ∝ π_t(path)·exp(lr·r(path))``.

    Soft-Bellman pass with scores ``log π_t(e)`` and leaf ``−lr`` at dead ends (theory
    §2.2, §5.2): ``π_t(·|C) = π0(·|C)`` for every t (R3) while ``π_t(C) → 1``.  Every node
    stays normalised to a few ulp for any ``lr``.

    Parameters
    ----------
    lr : float or array > 0
        Learning rate (``eta`` is its deprecated name).

    Raises
    ------
    ValueError
        ``lr`` not a real number (or array) > 0; both ``eta`` and ``lr``.  In :meth:`init`:
        a task that is not a :class:`~modesim.paths.PathTask`, or an ``lr`` array that does
        not broadcast against its batch shape.

    Examples
    --------
    R3 on paths: the valid paths keep their base ratios.

    >>> import modesim as ms
    >>> from modesim.paths import PathGraph, PathNaturalPG, path_task
    >>> t = path_task(PathGraph.from_edges([(0, 1), (0, 2), (0, 3)], 0, [1, 2]), [0.3, 0.2, 0.5])
    >>> p = ms.iterate(PathNaturalPG(lr=1.0), t, 4).policy[-1]
    >>> round(float(p[0] / p[1]), 12)
    1.5
    """

    capabilities = _RL_CAPS

    def init(self, task: PathTask) -> State:
        return State(_batch_base(self, _path_task(task, type(self).__name__)))

    def step(self, state: State, task: PathTask) -> State:
        leaf = _dead_end_leaf(task.graph, self.lr)
        return state.advance(normalise_paths(task.graph, state.log_policy, leaf))


def path_sd_optimum(task: PathTask, *, teacher=None, demos=None, objective: str = "reverse",
                    beta=0.0, log: bool = False) -> np.ndarray:
    """One self-distillation round from the base policy, per edge (theory §3.2, §5.2).

    Reverse KL: ``π_SD(path) ∝ exp((E_d log T(path|d) + β·log π0(path))/(1 + β))`` with
    per-edge scores from the path teacher and a soft-Bellman pass; equal to
    :func:`modesim.sd_optimum` on the enumerated rollouts with ``T[d, y] = Π_{e∈y} T(e|d)``.
    Large β gives the base policy (the combination is written so that it cannot overflow).

    Forward KL: the per-step target ``π(·|u) = (E_d T(·|u, d) + β·π0(·|u))/(1 + β)``,
    what on-policy per-token forward KL (or SFT on teacher next steps) converges to.
    Unlike the reverse KL it is *not* the core's sequence-level forward target: the
    mixture ``E_d T(path|d)`` correlates choices at different nodes and is generally not
    a per-node policy (theory §5.3).  The two agree when D is a single path and β = 0.

    Parameters
    ----------
    task : PathTask
    teacher : PathTeacher, default ``PathCopyTeacher(0.5)``
    demos : path demonstration source, default ``ConditionedPaths()``
    objective : {"reverse", "forward"}
    beta : float or array >= 0
    log : bool

    Returns
    -------
    ndarray, shape ``broadcast(task.batch_shape, parameter shapes) + (E,)``
        Per-edge probabilities (log-probabilities with ``log=True``).

    Raises
    ------
    ValueError
        ``task`` not a :class:`~modesim.paths.PathTask`; everything
        :class:`PathSelfDistillation` refuses (an objective other than "reverse" or
        "forward", ``beta`` < 0, a teacher or demonstration source of the wrong kind, an
        invalid teacher parameter); parameter arrays that do not broadcast against the
        task; a demonstration source that does not fit the task (a :class:`FixedPath` off
        the graph); a target with no rollout of positive probability.

    Notes
    -----
    Source: S1 (the paper's closed form, arXiv 2606.26091) and P2 (this project's
    correction) on paths; theory §5.2, §5.3.

    Examples
    --------
    >>> from modesim.paths import PathGraph, path_sd_optimum, path_task
    >>> t = path_task(PathGraph.from_edges([(0, 1), (0, 2)], 0, [1, 2]), [0.6, 0.4])
    >>> path_sd_optimum(t).round(3).tolist()  # p·(1 + 1/p)^p normalised (S4, α = 0.5)
    [0.621, 0.379]
    """
    log = chk.boolean(log, "log")
    rule = PathSelfDistillation(
        teacher=teacher if teacher is not None else PathCopyTeacher(0.5),
        demos=demos if demos is not None else ConditionedPaths(),
        objective=objective,
        beta=beta,
    )
    lb = rule.init(task).log_policy
    out = rule.target(lb, lb, task)
    return out if log else np.exp(out)


@dataclass(frozen=True)
class PathSelfDistillation(SDShell):
    """:class:`modesim.SelfDistillation` on paths, one round per step (theory §3, §5.2).

    Same options and semantics as the core rule (the shell :class:`modesim.rule.SDShell`),
    with the modes being rollouts.  Each round computes the target of
    :func:`path_sd_optimum` with teacher base ``ρ_t`` and reference ``π_ref`` and moves a
    fraction ``step_size`` of the way by geometric interpolation over *sequences*,
    ``log π_{t+1}(path) ∝ (1 − step_size)·log π_t(path) + step_size·log π*_t(path)``
    (per-edge scores, then a soft-Bellman pass).

    An :class:`~modesim.EMA` teacher averages the per-edge logits and normalises them at
    every node, ``log ρ̄(v|u) ← softmax_u(τ·log ρ̄(·|u) + (1 − τ)·log π(·|u))``: what an
    exponential moving average of the weights of a tabular autoregressive policy does
    (and, for a log-linear policy, of its feature weights).

    Parameters
    ----------
    teacher : PathTeacher, default ``PathCopyTeacher(0.5)``
    demos : path demonstration source, default ``ConditionedPaths()``
        :class:`~modesim.paths.ConditionedPaths`, :class:`~modesim.paths.UniformPaths`,
        :class:`~modesim.paths.FixedPath` or your own :class:`~modesim.paths.PathDemoSource`.
    objective : {"reverse", "forward"}
    beta : float or array >= 0
    step_size : float or array in (0, 1]
    teacher_base : {"current", "frozen"} or EMA
    reference : {"base", "current"}
    eta : deprecated
        The old name of ``step_size``.

    Raises
    ------
    ValueError
        On construction: an objective other than "reverse"/"forward", an unknown
        ``teacher_base`` or ``reference``, ``beta`` < 0, ``step_size`` outside (0, 1],
        both ``eta`` and ``step_size``, a ``teacher`` without the path teacher kernels or
        ``demos`` without ``log_marginals``.  In :meth:`init`: a task that is not a
        :class:`~modesim.paths.PathTask`, parameter arrays that do not broadcast against
        it, a demonstration source that does not fit it.  In a round: a teacher base that
        reaches a goal with probability 0 (no demonstration; theory §3.5 S6) or a target
        with no rollout of positive probability.

    Notes
    -----
    Source: the paper's controlled path-finding experiment (arXiv 2606.26091) trains with
    a per-token reverse KL; this exact sequence-level rule and its path teacher are this
    project's (theory §5.2, §5.3 P1, P2).

    Examples
    --------
    >>> import modesim as ms
    >>> from modesim.paths import PathGraph, PathSelfDistillation, path_task
    >>> t = path_task(PathGraph.from_edges([(0, 2), (0, 3), (2, 1), (3, 1)], 0, 1), [0.6, 0.4, 1, 1])
    >>> ms.iterate(PathSelfDistillation(), t, 3).policy[-1].round(3).tolist()
    [0.674, 0.326, 1.0, 1.0]
    """

    teacher: object = field(default_factory=lambda: PathCopyTeacher(0.5))
    demos: object = field(default_factory=ConditionedPaths)
    objective: str = "reverse"
    beta: float = 0.0
    step_size: float = 1.0
    teacher_base: str | EMA = "current"
    reference: str = "base"
    eta: InitVar[float | None] = None

    def __post_init__(self, eta):
        step = renamed_keyword("PathSelfDistillation", "eta", "step_size", eta, self.step_size, 1.0)
        self._check_shell()
        object.__setattr__(self, "step_size", chk.real(step, "step_size", low=0.0, high=1.0, low_open=True))
        chk.implements(self.teacher, "teacher", ("edge_expected_log", "edge_log_mixture"),
                       "a path teacher (e.g. PathCopyTeacher(0.5)) providing edge_expected_log(graph, log_rho, "
                       "log_m_node, log_m_edge) and edge_log_mixture(...)")
        chk.implements(self.demos, "demos", ("log_marginals",),
                       "a path demonstration source (ConditionedPaths(), UniformPaths(), FixedPath(path))")

    @property
    def _full_step(self) -> bool:
        return not isinstance(self.step_size, np.ndarray) and self.step_size == 1.0

    @property
    def capabilities(self) -> frozenset:
        return self._shell_capabilities() | {"deterministic", "target"}

    @property
    def param_shape(self) -> tuple[int, ...]:
        """Broadcast shape of the array-valued parameters (rule, teacher, demonstrations)."""
        return np.broadcast_shapes(chk.param_shape(*self._shell_params(), self.step_size),
                                   getattr(self.teacher, "param_shape", ()),
                                   getattr(self.demos, "param_shape", ()))

    def _normalise(self, x: np.ndarray, task: PathTask) -> np.ndarray:
        return normalise_nodes(task.graph, x)

    def target(self, log_rho: np.ndarray, log_ref: np.ndarray, task: PathTask) -> np.ndarray:
        """Per-edge log of the one-round optimum for teacher base ``ρ`` and reference ``π_ref``.

        Shapes (..., E) in and out; inputs are not re-validated (theory §5.2).

        Raises
        ------
        ValueError
            No demonstration (``ρ(C) = 0`` with self-generated demonstrations) or a target
            with no rollout of positive probability, named by batch index.
        """
        g = task.graph
        log_m_node, log_m_edge = self.demos.log_marginals(g, log_rho)
        if self.objective == "reverse":
            s = self.teacher.edge_expected_log(g, log_rho, log_m_node, log_m_edge)
            return normalise_paths(g, combine_reverse(s, log_ref, self.beta), what=_DISJOINT)
        m = self.teacher.edge_log_mixture(g, log_rho, log_m_node, log_m_edge)
        return normalise_nodes(g, combine_forward(m, log_ref, self.beta))

    def init(self, task: PathTask) -> State:
        task = _path_task(task, type(self).__name__)
        self.demos.check(task)
        return self._shell_init(_batch_base(self, task))

    def step(self, state: State, task: PathTask) -> State:
        lp = state.log_policy
        target = self.target(self.teacher_log_base(state, task), self.reference_log(lp, task), task)
        if not self._full_step:
            target = normalise_paths(task.graph, geometric_mix(lp, target, self.step_size), what=_DISJOINT)
        return self._shell_advance(state, target, task)
