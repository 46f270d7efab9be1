"""Exact round of a blend of RL and self-distillation, and of anti-distillation (theory §11, L1).

One objective covers both remedies: each round maximises

    F(π) = λ_r·E_π[r] − μ·E_{d~D} KL(π ‖ T(·|d)) − β·KL(π ‖ π_ref),        μ + β > 0,

with ``λ_r = reward_weight`` ≥ 0 and ``μ = distill_weight``.  μ > 0 is a **blend**
(``λ_r = λ``, ``μ = 1 − λ`` is the mixed objective λ·RL + (1 − λ)·SD); μ < 0 is
**anti-distillation** (the distillation term with its sign reversed, added to RL).  F is
strictly concave on the simplex when μ + β > 0 (its entropy coefficient), and its
maximiser is the closed form

    log π* = normalise((λ_r·r + μ·G + β·log π_ref)/(μ + β)),      G = E_{d~D} log T(·|d).

With the teacher base and reference at π0 (``G = log π0 + Ī``), for valid y, y':

    log(π*(y)/π*(y')) − log(π0(y)/π0(y')) = (μ/(μ + β))·(Ī(y) − Ī(y')).

So the reward term never changes a ratio among valid modes (it is constant on C): a blend
keeps the fraction μ/(μ + β) of self-distillation's distortion — **all of it at β = 0, for
every λ < 1** — and the distortion vanishes only as μ/β → 0 (λ → 1 with a KL term).
Anti-distillation (μ < 0) reverses the sign: with the copy teacher it compresses every
ratio, by |μ|/(β − |μ|) times SD's amplification (registry entry L1).

Source: ours (theory §11); the mixed objective is the exact counterpart of a mixed
advantage λ·A_GRPO + (1 − λ)·A_SD (:class:`~modesim.remedies.SampledBlend`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .. import _checks as chk
from ..demos import ConditionedDemos
from ..distill import check_parts
from ..rule import EMA, SDShell, State, geometric_mix, normalise_checked, relaxation
from ..simplex import log_normalise
from ..task import Task
from ..teachers import CopyTeacher
from .formulas import blend_coefficients

__all__ = ["DistillationBlend", "blend_optimum"]

_DISJOINT = ("the blended round's target gives zero probability to every mode (teacher and KL "
             "reference have disjoint supports)")


def _check_weights(reward_weight, distill_weight, beta):
    lr_ = chk.real(reward_weight, "reward_weight", low=0.0)
    mu = chk.real(distill_weight, "distill_weight")
    chk.param_shape(reward_weight=lr_, distill_weight=mu, beta=beta)
    *_, positive = blend_coefficients(lr_, mu, beta)
    if not np.all(positive):
        bad = ~np.asarray(positive)
        where = f" (at index {tuple(int(i) for i in np.argwhere(bad)[0])})" if bad.ndim else ""
        raise ValueError(
            "distill_weight + beta must be > 0 (anti-distillation needs a KL term stronger than it: the "
            f"round's objective is otherwise unbounded); got distill_weight={chk.describe(distill_weight)}, "
            f"beta={chk.describe(beta)}{where}"
        )
    return lr_, mu


def _blend_target(G, log_ref, task, reward_weight, distill_weight, beta) -> np.ndarray:
    """``normalise((λ_r r + μ G + β log π_ref)/(μ + β))`` with zeros handled (inputs validated)."""
    a_r, a_g, a_ref, _ = (chk.col(x) for x in blend_coefficients(reward_weight, distill_weight, beta))
    neg = np.asarray(a_g) < 0
    with np.errstate(invalid="ignore"):
        if np.any(neg & np.isneginf(G)):
            raise ValueError(
                "anti-distillation (distill_weight < 0) needs a teacher with E_d log T(y|d) > −inf on every "
                "mode (its objective rewards distance from the teacher, unbounded where T = 0)"
            )
    with np.errstate(invalid="ignore", over="ignore"):
        tg = np.where(np.asarray(a_g) == 0.0, 0.0, a_g * G)
        tref = np.where(np.asarray(a_ref) == 0.0, 0.0, a_ref * log_ref)
        g = tg + tref - np.where(task.valid, 0.0, a_r)     # a_r may be +inf (μ + β tiny): −inf off C
    if np.isnan(g).any():
        raise ValueError(
            "the blended round's target leaves the float range: distill_weight + beta is too small against "
            f"the weights (got reward_weight={chk.describe(reward_weight)}, distill_weight="
            f"{chk.describe(distill_weight)}, beta={chk.describe(beta)}); allowed: weights whose ratios to "
            "distill_weight + beta stay below 1e308"
        )
    return normalise_checked(np.array(g, dtype=np.float64), _DISJOINT)


@dataclass(frozen=True)
class DistillationBlend(SDShell):
    """Exact round of ``λ_r·E r − μ·E_d KL(π‖T_d) − β·KL(π‖π_ref)`` (theory §11, registry entry L1).

    Each round moves a fraction ``step_size`` of the way (geometrically, as
    :class:`~modesim.SelfDistillation`) to the closed-form maximiser

        log π* = normalise((λ_r·r + μ·G + β·log π_ref)/(μ + β)),   G = E_{d~D} log T(·|d).

    ``reward_weight = λ, distill_weight = 1 − λ`` is the blend λ·RL + (1 − λ)·SD;
    ``reward_weight = 1, distill_weight = −μ`` (μ > 0) is RL with an anti-distillation term.
    ``distill_weight = 0`` is the KL-regularised RL optimum with reward weight λ_r (R1).
    From π0 the valid log-ratios change by ``μ/(μ + β)·(Ī(y) − Ī(y'))``
    (:func:`~modesim.remedies.formulas.blend_exponent`).

    Parameters
    ----------
    teacher : Teacher, default ``CopyTeacher(0.5)``
    demos : demonstration source, default ``ConditionedDemos()``
    reward_weight : float or array >= 0
    distill_weight : float or array (any sign)
    beta : float or array >= 0
        ``distill_weight + beta > 0`` everywhere.
    step_size : float or array in (0, 1]
    teacher_base : {"current", "frozen"} or EMA
    reference : {"base", "current"}

    Raises
    ------
    ValueError
        Named arguments out of range (``distill_weight + beta ≤ 0`` included; weight arrays
        that do not broadcast together, named); at a round,
        anti-distillation with a teacher that gives some mode zero probability.

    Examples
    --------
    >>> import modesim as ms
    >>> from modesim.remedies import blend_optimum
    >>> task = ms.make_task([0.5, 0.25, 0.25], [1, 1, 0])
    >>> pi = blend_optimum(task, reward_weight=0.5, distill_weight=0.5, beta=0.5)
    >>> bool(pi[0] / pi[1] > 2.0), bool(pi[:2].sum() > 0.75)
    (True, True)
    """

    teacher: object = field(default_factory=lambda: CopyTeacher(0.5))
    demos: object = field(default_factory=ConditionedDemos)
    reward_weight: float = 0.5
    distill_weight: float = 0.5
    beta: float = 0.0
    step_size: float = 1.0
    teacher_base: str | EMA = "current"
    reference: str = "base"
    objective: str = "reverse"

    OBJECTIVES = ("reverse",)

    def __post_init__(self):
        self._check_shell()
        lr_, mu = _check_weights(self.reward_weight, self.distill_weight, self.beta)
        object.__setattr__(self, "reward_weight", lr_)
        object.__setattr__(self, "distill_weight", mu)
        object.__setattr__(self, "step_size",
                           chk.real(self.step_size, "step_size", low=0.0, high=1.0, low_open=True))
        check_parts(self.teacher, self.demos)

    @property
    def capabilities(self) -> frozenset:
        return self._shell_capabilities() | {"deterministic", "target", "velocity"}

    @property
    def param_shape(self) -> tuple[int, ...]:
        return np.broadcast_shapes(
            chk.param_shape(*self._shell_params(), self.step_size, self.reward_weight, self.distill_weight),
            getattr(self.teacher, "param_shape", ()), getattr(self.demos, "param_shape", ()),
        )

    def _normalise(self, x, task):
        return log_normalise(x)

    def target(self, log_rho: np.ndarray, log_ref: np.ndarray, task: Task) -> np.ndarray:
        """Log of the round's maximiser for teacher base ``ρ`` and reference ``π_ref``."""
        D = self.demos.distribution(log_rho, task)
        shifted = getattr(self.teacher, "expected_log_up_to_constant", None)   # normalised below
        G = shifted(log_rho, D) if shifted is not None else self.teacher.expected_log(log_rho, D)
        return _blend_target(G, log_ref, task, self.reward_weight, self.distill_weight, self.beta)

    def init(self, task: Task) -> State:
        chk.task(task)
        self.demos.check(task)
        batch = chk.broadcast_batch(task.batch_shape, self.param_shape, type(self).__name__)
        return self._shell_init(np.broadcast_to(task.log_base, batch + (task.n_modes,)))

    def step(self, state: State, task: Task) -> State:
        lp = state.log_policy
        target = self.target(self.teacher_log_base(state, task), self.reference_log(lp, task), task)
        full = not isinstance(self.step_size, np.ndarray) and self.step_size == 1.0
        new = target if full else log_normalise(geometric_mix(lp, target, self.step_size))
        return self._shell_advance(state, new, task)

    def velocity(self, log_policy: np.ndarray, task: Task, *, teacher_log_base=None) -> np.ndarray:
        """``g = step_size·(log π* − log π)`` (theory §6); an EMA teacher needs ``teacher_log_base``."""
        rho = self.velocity_teacher_base(log_policy, task.log_base, teacher_log_base)
        ref = self.reference_log(log_policy, task)
        return chk.col(self.step_size) * relaxation(self.target(rho, ref, task), log_policy)


def blend_optimum(task: Task, *, teacher=None, demos=None, reward_weight=0.5, distill_weight=0.5, beta=0.0,
                  log: bool = False) -> np.ndarray:
    """The blended round's maximiser from π0 (teacher base and reference π0; theory §11, L1).

    ``π* ∝ exp((λ_r·r + μ·G + β·log π0)/(μ + β))``, ``G = E_{d~D} log T(·|d)`` on ``ρ = π0``.

    Parameters
    ----------
    task : Task
    teacher : Teacher, default ``CopyTeacher(0.5)``
    demos : demonstration source, default ``ConditionedDemos()``
    reward_weight, distill_weight, beta : float or array
        As :class:`DistillationBlend` (``distill_weight + beta > 0``).
    log : bool
        Return log-probabilities (``−inf`` for a zero) instead of probabilities.

    Returns
    -------
    ndarray of shape ``broadcast(task.batch_shape, parameter shapes) + (K,)``
        The maximiser's probabilities (or log-probabilities with ``log``).

    Raises
    ------
    ValueError
        ``task`` not a :class:`~modesim.Task`; a weight out of range as in
        :class:`DistillationBlend` (``distill_weight + beta ≤ 0`` included); parameter
        arrays that do not broadcast with the task's batch shape, or weight arrays that
        do not broadcast with each other (named); the
        demonstration source's refusal (``ρ(C) = 0``: no correct rollout); anti-distillation
        with a teacher that gives some mode zero probability, or a target that leaves the
        float range (weights enormous against ``distill_weight + beta``).

    Notes
    -----
    Source: ours (theory §11, L1).

    >>> import modesim as ms
    >>> from modesim.remedies import blend_optimum
    >>> blend_optimum(ms.make_task([0.6, 0.3, 0.1]), reward_weight=1.0, distill_weight=-0.2,
    ...               beta=0.5).round(3).tolist()
    [0.567, 0.313, 0.119]
    """
    log = chk.boolean(log, "log")
    chk.task(task)
    rule = DistillationBlend(
        teacher=teacher if teacher is not None else CopyTeacher(0.5),
        demos=demos if demos is not None else ConditionedDemos(),
        reward_weight=reward_weight, distill_weight=distill_weight, beta=beta,
    )
    lb = rule.init(task).log_policy
    out = rule.target(lb, lb, task)
    return out if log else np.exp(out)
