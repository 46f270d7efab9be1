"""Self-distillation with sampled demonstrations (SDSD): the ratio-amplifying side (MATH §3).

One rule, :class:`SelfDistillation`, composed from a teacher and a demonstration source
(:mod:`modesim.teachers`), an objective, a KL strength β, a step size η and a teacher
base.  The closed form of one round is :func:`sd_optimum`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .rl import _finite_diff
from .rule import State
from .simplex import check_positive_scalar, check_unit_interval, log_normalise
from .task import Task
from .teachers import ConditionedDemos, CopyTeacher

__all__ = ["SelfDistillation", "EMA", "sd_optimum", "sd_target"]


@dataclass(frozen=True)
class EMA:
    """EMA teacher base: teacher logits ``θ̄ ← τ·θ̄ + (1 − τ)·θ`` after each round.

    ``tau = 0`` is the current policy, ``tau = 1`` the frozen base (MATH §3.5).
    """

    tau: float = 0.9

    def __post_init__(self):
        object.__setattr__(
            self, "tau", check_unit_interval(self.tau, "tau", closed_low=True, closed_high=True)
        )


def sd_target(
    log_rho: np.ndarray,
    log_ref: np.ndarray,
    task: Task,
    *,
    teacher,
    demos,
    objective: str = "reverse",
    beta: float = 0.0,
) -> np.ndarray:
    """Log of one round's self-distillation optimum (MATH §3.2), shape ``(..., K)``.

    Reverse KL (on-policy, S1; MATH §3.1's objective): minimise
    ``E_d KL(π‖T(·|d)) + β·KL(π‖π_ref)``::

        log π*(y) = (E_{d~D} log T(y|d) + β·log π_ref(y)) / (1 + β) − log Z

    Forward KL (S2): minimise ``E_d KL(T(·|d)‖π) + β·KL(π_ref‖π)`` (both terms forward, as
    SFT on teacher and reference samples would; MATH §3.1 states only the reverse case)::

        π*(y) = (E_{d~D} T(y|d) + β·π_ref(y)) / (1 + β)

    Here ``ρ`` is the teacher base, ``D`` the demonstration distribution built from it
    and ``π_ref`` the KL reference.
    """
    beta = check_positive_scalar(beta, "beta", allow_zero=True)
    if objective == "reverse":
        g = teacher.expected_log(log_rho, demos.distribution(log_rho, task))
        if beta > 0.0:
            # Weights 1/(1+β) and β/(1+β) rather than (g + β·log π_ref)/(1+β): no overflow
            # for huge β or very negative log π_ref.
            g = g / (1.0 + beta) + (beta / (1.0 + beta)) * log_ref
        out = log_normalise(g)
    elif objective == "forward":
        m = teacher.log_mixture(log_rho, demos.log_distribution(log_rho, task))
        if beta > 0.0:
            m = np.logaddexp(m - np.log1p(beta), log_ref + np.log(beta / (1.0 + beta)))
        out = log_normalise(m)
    else:
        raise ValueError(f"objective must be 'reverse' or 'forward'; got {objective!r}")
    if np.any(np.isnan(out)):
        raise ValueError(
            "the self-distillation target gives zero probability to every mode "
            "(the teacher and KL reference have disjoint supports)"
        )
    return out


def sd_optimum(
    task: Task,
    *,
    teacher=None,
    demos=None,
    objective: str = "reverse",
    beta: float = 0.0,
    log: bool = False,
) -> np.ndarray:
    """Closed-form optimum of one self-distillation round from the base policy (MATH §3.2).

    With the teacher base and the KL reference both ``π0``::

        π_SD(y) ∝ π0(y)·exp(Ī(y)/(1 + β)),   Ī(y) = E_{d~D}[log T(y|d) − log π0(y)]

    for the reverse KL (Theorem S1; at β = 0 the normalised geometric mean of the
    teachers), and the arithmetic mean for the forward KL (S2).

    Parameters
    ----------
    task : Task
    teacher : teacher object, default ``CopyTeacher(0.5)``
    demos : demonstration source, default ``ConditionedDemos()`` (``D = π0(·|C)``)
    objective : {"reverse", "forward"}
    beta : float >= 0
    log : bool
        Return log-probabilities.

    Returns
    -------
    ndarray, shape ``task.batch_shape + (K,)``

    Examples
    --------
    >>> import modesim as ms
    >>> ms.sd_optimum(ms.make_task([0.6, 0.3, 0.1])).round(3).tolist()
    [0.646, 0.278, 0.076]
    """
    rule = SelfDistillation(
        teacher=teacher if teacher is not None else CopyTeacher(0.5),
        demos=demos if demos is not None else ConditionedDemos(),
        objective=objective,
        beta=beta,
    )
    out = rule.target(task.log_base, task.log_base, task)
    return out if log else np.exp(out)


def check_sd_options(rule) -> None:
    """Validate the options every self-distillation rule shares (here and on paths).

    Checks ``objective``, ``beta``, ``eta``, ``teacher_base`` and ``reference`` of a frozen
    dataclass and stores ``beta``/``eta`` as floats.
    """
    if rule.objective not in ("reverse", "forward"):
        raise ValueError(f"objective must be 'reverse' or 'forward'; got {rule.objective!r}")
    object.__setattr__(rule, "beta", check_positive_scalar(rule.beta, "beta", allow_zero=True))
    object.__setattr__(
        rule, "eta", check_unit_interval(rule.eta, "eta", closed_low=False, closed_high=True)
    )
    if not (isinstance(rule.teacher_base, EMA) or rule.teacher_base in ("current", "frozen")):
        raise ValueError(
            f"teacher_base must be 'current', 'frozen' or EMA(tau); got {rule.teacher_base!r}"
        )
    if rule.reference not in ("base", "current"):
        raise ValueError(f"reference must be 'base' or 'current'; got {rule.reference!r}")


@dataclass(frozen=True)
class SelfDistillation:
    """On-policy self-distillation with sampled demonstrations, one round per step.

    Each round computes the optimum of MATH §3.2 and moves a step η toward it by
    geometric interpolation (a mirror step in the KL geometry)::

        log π_{t+1} = normalise((1 − η)·log π_t + η·log π*_t)

    where ``π*_t`` = :func:`sd_target` with teacher base ``ρ_t`` and KL reference
    ``π_ref``.  Iterating with ``teacher_base="current"``, ``reference="current"`` and
    η = 1 is the compounding map of MATH §3.5:
    ``π_{t+1} ∝ π_t·exp(Ī_{π_t}/(1 + β))``.

    Parameters
    ----------
    teacher : teacher object
        :class:`~modesim.CopyTeacher` (default α = 0.5), :class:`~modesim.TiltTeacher`,
        :class:`~modesim.MultiDemoTeacher`, :class:`~modesim.MatrixTeacher` or anything
        with ``expected_log`` and ``log_mixture``.
    demos : demonstration source
        :class:`~modesim.ConditionedDemos` (default), :class:`~modesim.UniformDemos`,
        :class:`~modesim.FixedDemo`, :class:`~modesim.ExplicitDemos`.
    objective : {"reverse", "forward"}
        Reverse KL (on-policy; geometric mean) or forward KL (arithmetic mean).
    beta : float >= 0
        Strength of the KL term to the reference.
    eta : float in (0, 1]
        Step size toward each round's optimum.
    teacher_base : {"current", "frozen"} or EMA
        Teacher's own base ``ρ``: the current policy, the frozen ``π0``, or an
        :class:`EMA` of the student's logits.
    reference : {"base", "current"}
        KL reference: the frozen base ``π0`` or the current policy (trust region).
    """

    teacher: object = field(default_factory=lambda: CopyTeacher(0.5))
    demos: object = field(default_factory=ConditionedDemos)
    objective: str = "reverse"
    beta: float = 0.0
    eta: float = 1.0
    teacher_base: str | EMA = "current"
    reference: str = "base"

    def __post_init__(self):
        check_sd_options(self)
        for name in ("expected_log", "log_mixture"):
            if not hasattr(self.teacher, name):
                raise ValueError(f"teacher must provide {name}(log_rho, ...); got {self.teacher!r}")
        for name in ("distribution", "log_distribution"):
            if not hasattr(self.demos, name):
                raise ValueError(f"demos must provide {name}(log_rho, task); got {self.demos!r}")

    @property
    def memoryless(self) -> bool:
        """True when one round depends on the current policy only (a map on the simplex)."""
        return not isinstance(self.teacher_base, EMA)

    def target(self, log_rho: np.ndarray, log_ref: np.ndarray, task: Task) -> np.ndarray:
        """Log of this rule's one-round optimum for teacher base ``ρ`` and reference."""
        return sd_target(
            log_rho, log_ref, task,
            teacher=self.teacher, demos=self.demos, objective=self.objective, beta=self.beta,
        )

    def init(self, task: Task) -> State:
        if isinstance(self.teacher_base, EMA):
            return State(task.log_base, aux={"teacher_log_base": task.log_base})
        return State(task.log_base)

    def _teacher_log_base(self, state: State, task: Task) -> np.ndarray:
        if isinstance(self.teacher_base, EMA):
            return state.aux["teacher_log_base"]
        return state.log_policy if self.teacher_base == "current" else task.log_base

    def step(self, state: State, task: Task) -> State:
        lp = state.log_policy
        ref = task.log_base if self.reference == "base" else lp
        target = self.target(self._teacher_log_base(state, task), ref, task)
        if self.eta == 1.0:
            new = target
        else:
            with np.errstate(invalid="ignore"):
                new = log_normalise((1.0 - self.eta) * lp + self.eta * target)
        if isinstance(self.teacher_base, EMA):
            tau = self.teacher_base.tau
            old = state.aux["teacher_log_base"]
            # A zero in the old teacher survives unless τ = 0; a zero in the new student
            # enters unless τ = 1 (the frozen teacher must stay frozen).
            dead = (np.isneginf(old) & (tau > 0)) | (np.isneginf(new) & (tau < 1))
            finite_old = np.where(np.isneginf(old), 0.0, old)
            finite_new = np.where(np.isneginf(new), 0.0, new)
            mixed = log_normalise(np.where(dead, -np.inf, tau * finite_old + (1.0 - tau) * finite_new))
            return state.advance(new, teacher_log_base=mixed)
        return state.advance(new)

    def velocity(self, log_policy: np.ndarray, task: Task) -> np.ndarray:
        """``g = η·(log π* − log π)``; the flow ``d log π/dt = g − E_π g`` (MATH §6).

        Defined for ``teacher_base`` "current" or "frozen".
        """
        if isinstance(self.teacher_base, EMA):
            raise ValueError("the continuous-time flow needs teacher_base 'current' or 'frozen', not EMA")
        rho = log_policy if self.teacher_base == "current" else task.log_base
        ref = task.log_base if self.reference == "base" else log_policy
        return self.eta * _finite_diff(self.target(rho, ref, task), log_policy)
