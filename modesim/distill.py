"""Self-distillation with sampled demonstrations (SDSD): the ratio-amplifying side (theory §3).

One rule, :class:`SelfDistillation`, composed from a teacher (:mod:`modesim.teachers`), a
demonstration source (:mod:`modesim.demos`), an objective, a KL strength β, a step size
and a teacher base; the shared options live in :class:`modesim.rule.SDShell`.  The closed form
of one round is :func:`sd_optimum` (and :func:`sd_target` for any teacher base).
"""

from __future__ import annotations

from dataclasses import InitVar, dataclass, field

import numpy as np

from . import _checks as chk
from ._compat import renamed_keyword
from .demos import ConditionedDemos
from .rule import (
    EMA,
    SDShell,
    State,
    combine_forward,
    combine_reverse,
    geometric_mix,
    normalise_checked,
    relaxation,
)
from .simplex import log_normalise
from .task import Task
from .teachers import CopyTeacher

__all__ = ["SelfDistillation", "EMA", "sd_optimum", "sd_target"]

_DISJOINT = ("the self-distillation target gives zero probability to every mode (the teacher "
             "and the KL reference have disjoint supports)")


def _check_parts(teacher, demos) -> None:
    for method in ("expected_log", "log_mixture"):
        if not callable(getattr(teacher, method, None)):
            raise ValueError(
                f"teacher must be a modesim Teacher (or provide {method}(log_rho, ...)); "
                f"got {chk.describe(teacher)}"
            )
    for method in ("distribution", "log_distribution"):
        if not callable(getattr(demos, method, None)):
            raise ValueError(
                f"demos must be a demonstration source (ConditionedDemos(), UniformDemos(), "
                f"FixedDemo(mode), ExplicitDemos(probs)); got {chk.describe(demos)}"
            )


def _takes_out(teacher) -> bool:
    """Whether ``teacher.expected_log`` accepts ``out=`` (a teacher that writes its target into
    the demonstration buffer keeps a round at one array of K; a user's override need not)."""
    code = getattr(getattr(type(teacher), "expected_log", None), "__code__", None)
    return code is not None and "out" in code.co_varnames[code.co_argcount:code.co_argcount + code.co_kwonlyargcount]


def _target(log_rho, log_ref, task, teacher, demos, objective, beta, takes_out=None) -> np.ndarray:
    """The kernel of :func:`sd_target` (inputs already validated)."""
    if objective == "reverse":
        D = demos.distribution(log_rho, task)
        if takes_out is None:
            takes_out = _takes_out(teacher)
        if takes_out and D.flags.writeable and D.flags.owndata:
            g = teacher.expected_log(log_rho, D, out=D)  # the weights' buffer becomes the target
        else:
            g = teacher.expected_log(log_rho, D)
        g = combine_reverse(g, log_ref, beta)
    else:
        m = teacher.log_mixture(log_rho, demos.log_distribution(log_rho, task))
        g = combine_forward(m, log_ref, beta)
    return normalise_checked(g, _DISJOINT)


def sd_target(
    log_rho: np.ndarray,
    log_ref: np.ndarray,
    task: Task,
    *,
    teacher,
    demos,
    objective: str = "reverse",
    beta=0.0,
) -> np.ndarray:
    """Log of one round's self-distillation optimum (theory §3.2), shape ``(..., K)``.

    Reverse KL (on-policy, theorem S1): minimise ``E_d KL(π‖T(·|d)) + β·KL(π‖π_ref)``::

        log π*(y) = (E_{d~D} log T(y|d) + β·log π_ref(y)) / (1 + β) − log Z

    Forward KL (S2): minimise ``E_d KL(T(·|d)‖π) + β·KL(π_ref‖π)`` (both terms forward, as
    SFT on teacher and reference samples would)::

        π*(y) = (E_{d~D} T(y|d) + β·π_ref(y)) / (1 + β)

    ``ρ`` (``log_rho``) is the teacher base, ``D`` the demonstration law built from it and
    ``π_ref`` (``log_ref``) the KL reference, all ``(..., K)`` log-probabilities.

    Raises
    ------
    ValueError
        On invalid inputs (named), or when the target has no positive entry.
    """
    chk.task(task)
    _check_parts(teacher, demos)
    chk.choice(objective, "objective", ("reverse", "forward"))
    beta = chk.real(beta, "beta", low=0.0)
    K = task.n_modes
    lr = chk.log_probabilities(log_rho, "log_rho", n_modes=K)
    lf = chk.log_probabilities(log_ref, "log_ref", n_modes=K)
    demos.check(task)
    return _target(lr, lf, task, teacher, demos, objective, beta)


def sd_optimum(
    task: Task,
    *,
    teacher=None,
    demos=None,
    objective: str = "reverse",
    beta=0.0,
    log: bool = False,
) -> np.ndarray:
    """Closed-form optimum of one self-distillation round from the base policy (theory §3.2).

    With the teacher base and the KL reference both ``π0``::

        π_SD(y) ∝ π0(y)·exp(Ī(y)/(1 + β)),   Ī(y) = E_{d~D}[log T(y|d) − log π0(y)]

    for the reverse KL (theorem S1; at β = 0 the normalised geometric mean of the
    teachers), and the arithmetic mean for the forward KL (S2).  Parameters may be
    arrays (a grid); they broadcast against the task's batch axes.

    Parameters
    ----------
    task : Task
    teacher : Teacher, default ``CopyTeacher(0.5)``
    demos : demonstration source, default ``ConditionedDemos()`` (``D = π0(·|C)``)
    objective : {"reverse", "forward"}
    beta : float or array >= 0
    log : bool
        Return log-probabilities.

    Returns
    -------
    ndarray, shape ``broadcast(task.batch_shape, parameter shapes) + (K,)``

    Examples
    --------
    >>> import modesim as ms
    >>> ms.sd_optimum(ms.make_task([0.6, 0.3, 0.1])).round(3).tolist()
    [0.646, 0.278, 0.076]
    """
    chk.task(task)
    rule = SelfDistillation(
        teacher=teacher if teacher is not None else CopyTeacher(0.5),
        demos=demos if demos is not None else ConditionedDemos(),
        objective=objective,
        beta=beta,
    )
    lb = rule.init(task).log_policy
    out = rule.target(lb, lb, task)
    return out if log else np.exp(out)


@dataclass(frozen=True)
class SelfDistillation(SDShell):
    """On-policy self-distillation with sampled demonstrations, one round per step (theory §3).

    Each round computes the optimum of theory §3.2 and moves a fraction ``step_size`` of the way
    toward it by geometric interpolation (a mirror step in the KL geometry)::

        log π_{t+1} = normalise((1 − step_size)·log π_t + step_size·log π*_t)

    where ``π*_t`` = :func:`sd_target` with teacher base ``ρ_t`` and KL reference
    ``π_ref``.  With ``teacher_base="current"``, ``reference="current"`` and
    ``step_size = 1`` this is the compounding map of theory §3.5:
    ``π_{t+1} ∝ π_t·exp(Ī_{π_t}/(1 + β))``.  (``step_size = λ/(1 + λ)`` for a
    mirror-descent learning rate λ on the round's objective.)

    Parameters
    ----------
    teacher : Teacher
        :class:`~modesim.CopyTeacher` (default α = 0.5), :class:`~modesim.TiltTeacher`,
        :class:`~modesim.MultiDemoTeacher`, :class:`~modesim.MatrixTeacher` or your own.
    demos : demonstration source
        :class:`~modesim.ConditionedDemos` (default), :class:`~modesim.UniformDemos`,
        :class:`~modesim.FixedDemo`, :class:`~modesim.ExplicitDemos`.
    objective : {"reverse", "forward"}
        Reverse KL (on-policy; geometric mean) or forward KL (arithmetic mean).
    beta : float or array >= 0
        Strength of the KL term to the reference.
    step_size : float or array in (0, 1]
        Fraction of the way to each round's optimum.
    teacher_base : {"current", "frozen"} or EMA
        Teacher's own base ``ρ``: the current policy, the frozen ``π0``, or an
        :class:`EMA` of the student's logits.
    reference : {"base", "current"}
        KL reference: the frozen base ``π0`` or the current policy (trust region).
    eta : deprecated
        The old name of ``step_size``.

    Examples
    --------
    >>> import modesim as ms
    >>> rule = ms.SelfDistillation(ms.CopyTeacher(0.5))
    >>> ms.iterate(rule, ms.make_task([0.6, 0.3, 0.1]), 5).policy[-1].round(3).tolist()
    [0.847, 0.138, 0.014]
    """

    teacher: object = field(default_factory=lambda: CopyTeacher(0.5))
    demos: object = field(default_factory=ConditionedDemos)
    objective: str = "reverse"
    beta: float = 0.0
    step_size: float = 1.0
    teacher_base: str | EMA = "current"
    reference: str = "base"
    eta: InitVar[float | None] = None

    def __post_init__(self, eta):
        step = renamed_keyword("SelfDistillation", "eta", "step_size", eta, self.step_size, 1.0)
        self._check_shell()
        object.__setattr__(self, "step_size", chk.real(step, "step_size", low=0.0, high=1.0, low_open=True))
        _check_parts(self.teacher, self.demos)
        object.__setattr__(self, "_takes_out", _takes_out(self.teacher))
        object.__setattr__(self, "_full_step", not isinstance(self.step_size, np.ndarray) and self.step_size == 1.0)

    @property
    def capabilities(self) -> frozenset:
        return self._shell_capabilities() | {"deterministic", "target", "velocity"}

    @property
    def param_shape(self) -> tuple[int, ...]:
        """Broadcast shape of the array-valued parameters (rule, teacher, demonstrations)."""
        shapes = [chk.param_shape(*self._shell_params(), self.step_size),
                  getattr(self.teacher, "param_shape", ()), getattr(self.demos, "param_shape", ())]
        return np.broadcast_shapes(*shapes)

    def _normalise(self, x: np.ndarray, task: Task) -> np.ndarray:
        return log_normalise(x)

    def target(self, log_rho: np.ndarray, log_ref: np.ndarray, task: Task) -> np.ndarray:
        """Log of this rule's one-round optimum for teacher base ``ρ`` and reference ``π_ref``."""
        return _target(log_rho, log_ref, task, self.teacher, self.demos, self.objective, self.beta,
                       self._takes_out)

    def init(self, task: Task) -> State:
        self.demos.check(task)
        batch = chk.broadcast_batch(task.batch_shape, self.param_shape, type(self).__name__)
        lb = np.broadcast_to(task.log_base, batch + (task.n_modes,))
        return self._shell_init(lb)

    def step(self, state: State, task: Task) -> State:
        lp = state.log_policy
        target = self.target(self.teacher_log_base(state, task), self.reference_log(lp, task), task)
        new = target if self._full_step else log_normalise(geometric_mix(lp, target, self.step_size))
        return self._shell_advance(state, new, task)

    def velocity(self, log_policy: np.ndarray, task: Task, *, teacher_log_base=None) -> np.ndarray:
        """``g = step_size·(log π* − log π)``; the flow is ``d log π/dt = g − E_π g`` (theory §6).

        With an :class:`EMA` teacher the teacher base must be given (``teacher_log_base``);
        :func:`~modesim.flow` integrates it as a second state.
        """
        if self._ema:
            if teacher_log_base is None:
                raise ValueError("an EMA teacher's velocity needs teacher_log_base (the EMA state)")
            rho = teacher_log_base
        else:
            rho = log_policy if self.teacher_base == "current" else task.log_base
        ref = self.reference_log(log_policy, task)
        return chk.col(self.step_size) * relaxation(self.target(rho, ref, task), log_policy)
