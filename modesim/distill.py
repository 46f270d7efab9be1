"""Self-distillation with sampled demonstrations (SDSD): the ratio-amplifying side (theory §3).

One rule, :class:`SelfDistillation`, composed from a teacher (:mod:`modesim.teachers`), a
demonstration source (:mod:`modesim.demos`), an objective, a KL strength β, a step size
and a teacher base; the shared options live in :class:`modesim.rule.SDShell`.  The closed form
of one round is :func:`sd_optimum` (and :func:`sd_target` for any teacher base).

Objectives: ``"reverse"`` (per-token reverse KL to the teacher, the paper's; theory §3.2),
``"forward"`` (S2) and ``"jsd"``, the generalised Jensen–Shannon divergence with mixing
weight ``jsd_weight`` that public self-distillation trainers use (theory §8.1): its round
optimum has no closed form and is computed by a batched convex solve (:func:`jsd_divergence`,
:func:`jsd_score` are the divergence and its gradient).
"""

from __future__ import annotations

import functools
from dataclasses import InitVar, dataclass, field

import numpy as np

from . import _checks as chk
from ._compat import renamed_keyword
from .demos import ConditionedDemos
from .rule import (
    EMA,
    JSD_MIN,
    SDShell,
    State,
    check_jsd_weight,
    combine_forward,
    combine_reverse,
    geometric_mix,
    normalise_checked,
    relaxation,
)
from .simplex import kl_terms, log_normalise, logsumexp_last
from .task import Task
from .teachers import CopyTeacher, _states_two_points, two_point_values

__all__ = ["SelfDistillation", "EMA", "sd_optimum", "sd_target", "jsd_divergence", "jsd_score", "JSD_MIN"]

_OBJECTIVES = ("reverse", "forward", "jsd")

_DISJOINT = ("the self-distillation target gives zero probability to every mode (the teacher "
             "and the KL reference have disjoint supports)")


def check_parts(teacher, demos, objective="reverse") -> None:
    chk.implements(teacher, "teacher", ("expected_log", "log_mixture") + (("demo_law",) if objective == "jsd" else ()),
                   "a modesim Teacher (or provide expected_log(log_rho, ...) and log_mixture(log_rho, ...))")
    chk.implements(demos, "demos", ("distribution", "log_distribution"),
                   "a demonstration source (ConditionedDemos(), UniformDemos(), FixedDemo(mode), ExplicitDemos(probs))")


def _takes_out(teacher) -> bool:
    """Whether ``teacher.expected_log`` accepts ``out=`` (a teacher that writes its target into
    the demonstration buffer keeps a round at one array of K; a user's override need not)."""
    code = getattr(getattr(type(teacher), "expected_log", None), "__code__", None)
    return code is not None and "out" in code.co_varnames[code.co_argcount:code.co_argcount + code.co_kwonlyargcount]


def _target(log_rho, log_ref, task, teacher, demos, objective, beta, takes_out=None, jsd_weight=0.5) -> np.ndarray:
    """The kernel of :func:`sd_target` (inputs already validated)."""
    if objective == "jsd":
        w, lv = _jsd_law(teacher, log_rho, demos.distribution(log_rho, task))
        return _jsd_solve(w, lv, log_ref, beta, jsd_weight)
    if objective == "reverse":
        D = demos.distribution(log_rho, task)
        shifted = getattr(teacher, "expected_log_up_to_constant", None)
        if shifted is not None:        # a constant per row cancels in the normalisation below
            return normalise_checked(combine_reverse(shifted(log_rho, D), log_ref, beta), _DISJOINT)
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
    jsd_weight=None,
) -> np.ndarray:
    """Log of one round's self-distillation optimum (theory §3.2, §8.1), shape ``(..., K)``.

    Reverse KL (on-policy, theorem S1): minimise ``E_d KL(π‖T(·|d)) + β·KL(π‖π_ref)``::

        log π*(y) = (E_{d~D} log T(y|d) + β·log π_ref(y)) / (1 + β) − log Z

    Forward KL (S2): minimise ``E_d KL(T(·|d)‖π) + β·KL(π_ref‖π)`` (both terms forward, as
    SFT on teacher and reference samples would)::

        π*(y) = (E_{d~D} T(y|d) + β·π_ref(y)) / (1 + β)

    JSD (theory §8.1, J1; ``jsd_weight`` = λ in [1e-8, 1 − 1e-8], default 0.5): minimise
    ``E_d JSD_λ(T(·|d)‖π) + β·KL(π‖π_ref)`` (see :class:`SelfDistillation`), solved exactly
    by a batched convex solve.

    ``ρ`` (``log_rho``) is the teacher base, ``D`` the demonstration law built from it and
    ``π_ref`` (``log_ref``) the KL reference, all ``(..., K)`` log-probabilities.

    Parameters
    ----------
    log_rho, log_ref : array_like, shape (..., K)
        Normalised log-probabilities of the teacher base and the KL reference.
    task : Task
    teacher, demos, objective, beta, jsd_weight
        As :func:`sd_optimum`.

    Returns
    -------
    ndarray, shape ``broadcast(log_rho, log_ref, task, parameters) + (K,)``
        Normalised log-probabilities (``-inf`` for a zero).

    Raises
    ------
    ValueError
        ``task`` not a :class:`~modesim.Task`; ``teacher`` without ``expected_log``/
        ``log_mixture`` (and ``demo_law`` for the JSD) or ``demos`` not a demonstration
        source; an unknown ``objective``; ``beta`` not >= 0; ``jsd_weight`` outside
        [1e-8, 1 − 1e-8], or given with an objective other than ``"jsd"``; ``log_rho`` or
        ``log_ref`` not normalised log-probabilities with the task's K; a demonstration
        source that does not fit the task (:meth:`~modesim.DemoSource.check`); ``ρ(C) = 0``
        with self-generated demonstrations; a target with no positive entry (teacher and
        reference with disjoint supports), named by batch index.

    Examples
    --------
    >>> import numpy as np
    >>> import modesim as ms
    >>> task = ms.make_task([0.6, 0.3, 0.1])
    >>> lp = ms.sd_target(task.log_base, task.log_base, task, teacher=ms.CopyTeacher(0.5),
    ...                   demos=ms.ConditionedDemos())
    >>> np.exp(lp).round(3).tolist()
    [0.646, 0.278, 0.076]
    """
    chk.task(task)
    check_parts(teacher, demos, objective)
    chk.choice(objective, "objective", _OBJECTIVES)
    jsd_weight = _jsd_option(objective, jsd_weight)
    beta = chk.real(beta, "beta", low=0.0)
    K = task.n_modes
    lr = chk.log_probabilities(log_rho, "log_rho", n_modes=K)
    lf = chk.log_probabilities(log_ref, "log_ref", n_modes=K)
    demos.check(task)
    return _target(lr, lf, task, teacher, demos, objective, beta, jsd_weight=jsd_weight)


def _jsd_option(objective, jsd_weight):
    """λ for ``objective="jsd"`` (None → 0.5); ``jsd_weight`` is refused with other objectives."""
    if objective == "jsd":
        return _check_jsd_weight(0.5 if jsd_weight is None else jsd_weight)
    if jsd_weight is not None:
        raise ValueError(
            f"jsd_weight is the mixing weight of objective='jsd'; with objective={objective!r} it "
            f"is unused (got jsd_weight={chk.describe(jsd_weight)}); allowed: None"
        )
    return None


def sd_optimum(
    task: Task,
    *,
    teacher=None,
    demos=None,
    objective: str = "reverse",
    beta=0.0,
    jsd_weight=None,
    log: bool = False,
) -> np.ndarray:
    """Closed-form optimum of one self-distillation round from the base policy (theory §3.2).

    With the teacher base and the KL reference both ``π0``::

        π_SD(y) ∝ π0(y)·exp(Ī(y)/(1 + β)),   Ī(y) = E_{d~D}[log T(y|d) − log π0(y)]

    for the reverse KL (theorem S1; at β = 0 the normalised geometric mean of the
    teachers), and the arithmetic mean for the forward KL (S2); for the JSD objective
    (theory §8.1, J1) the exact minimiser of ``E_d JSD_λ(T(·|d)‖π) + β·KL(π‖π0)``, between
    the two.  Parameters may be arrays (a grid); they broadcast against the task's batch axes.

    Parameters
    ----------
    task : Task
    teacher : Teacher, default ``CopyTeacher(0.5)``
    demos : demonstration source, default ``ConditionedDemos()`` (``D = π0(·|C)``)
    objective : {"reverse", "forward", "jsd"}
    beta : float or array >= 0
    jsd_weight : float or array in [1e-8, 1 − 1e-8], optional
        λ of the JSD objective (default 0.5; only with ``objective="jsd"``).
    log : bool
        Return log-probabilities.

    Returns
    -------
    ndarray, shape ``broadcast(task.batch_shape, parameter shapes) + (K,)``
        Probabilities (log-probabilities with ``log=True``).

    Raises
    ------
    ValueError
        ``task`` not a :class:`~modesim.Task`; any argument :class:`SelfDistillation`
        refuses (unknown ``objective``, ``beta`` < 0, ``jsd_weight`` outside [1e-8, 1 − 1e-8]
        or without ``objective="jsd"``, a teacher or demonstration source of the wrong
        kind, an invalid teacher parameter); parameter arrays that do not broadcast against
        the task's batch shape; a demonstration source that does not fit the task
        (``FixedDemo`` of an invalid mode, ``ExplicitDemos`` with mass off C); a target
        with no positive entry.

    Notes
    -----
    Source: the paper (arXiv 2606.26091) for the tilt by the pointwise conditional mutual
    information (S1); the β-weighted form, S2 and the JSD solve are this project's
    (theory §3.2, §8.1).

    Examples
    --------
    >>> import modesim as ms
    >>> ms.sd_optimum(ms.make_task([0.6, 0.3, 0.1])).round(3).tolist()
    [0.646, 0.278, 0.076]
    >>> ms.sd_optimum(ms.make_task([0.6, 0.3, 0.1]), objective="jsd").round(3).tolist()
    [0.632, 0.289, 0.079]
    """
    log = chk.boolean(log, "log")
    chk.task(task)
    rule = SelfDistillation(
        teacher=teacher if teacher is not None else CopyTeacher(0.5),
        demos=demos if demos is not None else ConditionedDemos(),
        objective=objective,
        beta=beta,
        jsd_weight=jsd_weight,
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
    objective : {"reverse", "forward", "jsd"}
        Reverse KL (on-policy; geometric mean), forward KL (arithmetic mean) or the
        generalised Jensen–Shannon divergence (theory §8.1; see below).
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
    jsd_weight : float or array in [1e-8, 1 − 1e-8], optional
        Mixing weight λ of ``objective="jsd"`` (default 0.5, as TRL's ``GKDTrainer`` and
        lasgroup/SDPO); refused with the other objectives.  Nearer the endpoints the JSD is
        λ·KL(T‖π) or (1 − λ)·KL(π‖T) to 1e-8: use ``"forward"``/``"reverse"``.

    Raises
    ------
    ValueError
        On construction: an unknown ``objective``, ``teacher_base`` or ``reference``;
        ``beta`` not a real >= 0 (or array of them); ``step_size`` outside (0, 1];
        ``jsd_weight`` outside [1e-8, 1 − 1e-8] or given with another objective; both
        ``eta`` and ``step_size``; a ``teacher`` or ``demos`` that is not a teacher /
        demonstration source.  In :meth:`init`: a task that is not a
        :class:`~modesim.Task`, parameter arrays that do not broadcast against its batch
        shape, a demonstration source that does not fit it.  In a round: no correct mode
        in the teacher base to demonstrate (``ρ(C) = 0``, theory §3.5 S6) or a target with
        no positive entry, named by batch index.  :meth:`velocity`: a target that gives
        zero to a mode the policy holds (no flow), or an EMA teacher strictly inside
        (0, 1) without ``teacher_log_base``.

    Notes
    -----
    Source: the design (on-policy reverse KL to a teacher conditioned on a sampled correct
    rollout) is the paper's, arXiv 2606.26091 (theory §3.1); the closed-form round and the
    step size are this project's.

    **The JSD objective** (theory §8.1, J1).  Each round minimises::

        F(π) = E_{d~D} JSD_λ(T(·|d)‖π) + β·KL(π‖π_ref),
        JSD_λ(T‖π) = λ·KL(T‖M) + (1 − λ)·KL(π‖M),   M = λ·T + (1 − λ)·π,

    the loss of TRL's ``GKDTrainer.generalized_jsd_loss`` (parameter ``beta`` = λ; TRL
    1.10.0.dev0, commit f2cd577), of TRL's SDPO ``compute_divergence`` and of lasgroup/SDPO
    (``actor.self_distillation.alpha`` = λ, default 0.5; commit 0e6d510), also used by the
    OPSD training script (siyan-zhao/OPSD, ``--beta 0.5``).  Those trainers add the KL to the
    reference *unscaled* (verl: ``policy_loss + kl_loss_coef·kl_loss``), and so does
    modesim.  The trainers special-case λ = 0 and 1 as forward and reverse KL; here those
    are ``objective="forward"``/``"reverse"`` and λ is open.  Since ``JSD_λ ≈ (1 − λ)·KL(π‖T)``
    as λ → 1 and ``≈ λ·KL(T‖π)`` as λ → 0, the JSD optimum with strength ``β·(1 − λ)`` tends
    to the reverse-KL optimum with strength β (λ → 1), and at β = 0 it tends to the
    forward-KL optimum (λ → 0); with an unscaled β > 0 both limits tend to ``π_ref``.  Near
    ``T = π``, ``JSD_λ ≈ λ(1 − λ)·KL``: at λ = 0.5 a KL coefficient β weighs like 4β does
    against a reverse-KL loss.  The optimum solves the separable stationarity conditions
    ``(1 − λ)·E_d log(π_y/M_{d,y}) + β·log(π_y/π_ref(y)) = ν`` exactly (a batched Halley
    solve on the teacher's :meth:`~modesim.Teacher.demo_law`; O(K·J) per iteration, 2–4
    iterations), to ~1e-13 relative in each probability.

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
    jsd_weight: float | None = None

    OBJECTIVES = _OBJECTIVES
    JSD_EXACT_SOLVE = True

    def __post_init__(self, eta):
        step = renamed_keyword("SelfDistillation", "eta", "step_size", eta, self.step_size, 1.0)
        self._check_shell()
        object.__setattr__(self, "step_size", chk.real(step, "step_size", low=0.0, high=1.0, low_open=True))
        check_parts(self.teacher, self.demos, self.objective)
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
        """Log of this rule's one-round optimum for teacher base ``ρ`` and reference ``π_ref``.

        :func:`sd_target` without input validation (theory §3.2, §8.1): ``log_rho`` and
        ``log_ref`` (..., K) must already be normalised; returns (..., K).

        Raises
        ------
        ValueError
            ``ρ(C) = 0`` with self-generated demonstrations, or a target with no positive
            entry, named by batch index.
        """
        return _target(log_rho, log_ref, task, self.teacher, self.demos, self.objective, self.beta,
                       self._takes_out, self.jsd_weight)

    def init(self, task: Task) -> State:
        chk.task(task)
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
        :func:`~modesim.flow` integrates it as a second state.  Shapes: ``log_policy``
        (..., K) in, (..., K) out (per round of time).

        Raises
        ------
        ValueError
            An EMA rate strictly inside (0, 1) without ``teacher_log_base``; a target that
            gives zero to a mode the policy still holds (the flow does not exist); what a
            round raises (see the class).
        """
        rho = self.velocity_teacher_base(log_policy, task.log_base, teacher_log_base)
        ref = self.reference_log(log_policy, task)
        return chk.col(self.step_size) * relaxation(self.target(rho, ref, task), log_policy)


# ------------------------------------------------------------------ the JSD objective (theory §8.1)

#: Iterations of the batched Halley solve before it gives up (typical rounds take 2–4).
_JSD_MAX_ITER = 100
#: Stop after a step whose largest |Δ log π| is below this: the next error is ~C·step², below 1e-14.
_JSD_STEP_TOL = 1e-7
#: The ratio form r = e^{c − u} = e^c·e^{−u} is used while every exponent stays below this.
_JSD_RATIO_RANGE = 650.0
#: Teacher log-probabilities below −this are exact zeros for the JSD solve: a mode held only
#: with ``T ≤ e^−10^4`` ends at ``log π ≈ log T + O(20)`` (λ ≤ 1 − 1e-8), far below the float
#: range, or, with β > 0, where the KL term alone puts it; the Newton iterations would
#: otherwise have to travel 10^20 nats for a TiltTeacher(1e20) (it did not converge).
_JSD_NEGLIGIBLE_LOG = 1e4


def jsd_divergence(log_t, log_s, jsd_weight=0.5) -> np.ndarray:
    """Generalised Jensen–Shannon divergence ``JSD_λ(T‖S)`` over the last axis (nats), ≥ 0.

    ::

        JSD_λ(T‖S) = λ·KL(T‖M) + (1 − λ)·KL(S‖M),   M = λ·T + (1 − λ)·S

    with ``T`` the teacher and ``S`` the student, as in TRL's ``GKDTrainer.generalized_jsd_loss``
    (``beta`` there is λ here), TRL's SDPO ``compute_divergence`` and lasgroup/SDPO's
    ``compute_self_distillation_loss`` (``alpha`` there).  Summed from non-negative terms
    (:func:`~modesim.simplex.kl_terms`).  ``JSD_λ/(1 − λ) → KL(S‖T)`` as λ → 1 (reverse KL)
    and ``JSD_λ/λ → KL(T‖S)`` as λ → 0 (forward KL); ``JSD_λ ≤ H(λ) = −λ log λ − (1−λ) log(1−λ)``.

    Parameters
    ----------
    log_t, log_s : array (..., K)
        Normalised log-probabilities of the teacher and the student (broadcast).
    jsd_weight : float or array in [1e-8, 1 − 1e-8]
        Mixing weight λ (broadcasts against the batch axes).

    Returns
    -------
    ndarray of shape ``broadcast(...)`` (nats).

    Raises
    ------
    ValueError
        ``log_t`` or ``log_s`` not normalised log-probabilities (NaN, +inf, a row without
        mass, rows off 1 by more than 1e-6), ``log_s`` with a different K, or ``jsd_weight``
        outside [1e-8, 1 − 1e-8].

    Notes
    -----
    Source: theory §8.1; TRL 1.10.0.dev0 (commit f2cd577), ``trl/experimental/gkd/gkd_trainer.py``.

    >>> import numpy as np
    >>> import modesim as ms
    >>> round(float(ms.jsd_divergence(np.log([0.9, 0.1]), np.log([0.5, 0.5]))), 6)
    0.101749
    """
    lam = _check_jsd_weight(jsd_weight)
    lt = chk.log_probabilities(log_t, "log_t")
    ls = chk.log_probabilities(log_s, "log_s", n_modes=lt.shape[-1])
    lc = chk.col(lam)
    with np.errstate(divide="ignore"):
        lm = np.logaddexp(np.log(lc) + lt, np.log1p(-lc) + ls)
    lm = np.where(lt == ls, lt, lm)  # M = T = S exactly: every term is an exact 0
    return lam * kl_terms(lt, lm).sum(-1) + (1.0 - lam) * kl_terms(ls, lm).sum(-1)


def jsd_score(log_policy, log_teacher, jsd_weight=0.5) -> np.ndarray:
    """``g_y = (1 − λ)·log(π_y/M_y)``, ``M = λ·T + (1 − λ)·π``: the gradient of ``JSD_λ(T‖π)`` in π.

    ``∂ JSD_λ(T‖π)/∂π_y = g_y`` on the simplex (the ``T/M`` terms cancel; theory §8.1), so
    with softmax logits θ the gradient is ``π ⊙ (g − E_π g)``.  A sampled or path rule with
    the JSD objective averages ``g`` over its demonstrations' teacher rows (one row per
    sampled demonstration, from ``teacher.log_prob`` or ``teacher.log_matrix``).  ``g → 0``
    as λ → 1 like ``(1 − λ)·(log π − log T)`` (the reverse-KL score times 1 − λ) and
    ``g ≈ −λ·(T/π − 1)`` as λ → 0 (the forward-KL score times λ).

    Parameters
    ----------
    log_policy, log_teacher : array (..., K)
        Log-probabilities (broadcast).  A mode with π = 0 gets ``-inf`` when the teacher
        holds it (the divergence falls steeply as π rises there) and 0 when it does not.
    jsd_weight : float or array in [1e-8, 1 − 1e-8]

    Returns
    -------
    ndarray, shape broadcast(...) + (K,)
        ``g`` in nats (``-inf`` or 0 at π = 0 as described above).

    Raises
    ------
    ValueError
        ``log_policy`` or ``log_teacher`` not normalised log-probabilities, ``log_teacher``
        with a different K, or ``jsd_weight`` outside [1e-8, 1 − 1e-8].

    Notes
    -----
    Source: the gradient is this project's (theory §8.1, §10.3 G3) of the loss of TRL's
    ``GKDTrainer.generalized_jsd_loss`` (TRL 1.10.0.dev0, commit f2cd577).

    At π = (½, ½), T = (0.9, 0.1), λ = ½: ``M = (0.7, 0.3)``, ``g = ½·log(π/M)``:

    >>> import numpy as np
    >>> import modesim as ms
    >>> ms.jsd_score(np.log([0.5, 0.5]), np.log([0.9, 0.1])).round(5).tolist()
    [-0.16824, 0.25541]
    """
    lam = _check_jsd_weight(jsd_weight)
    lp = chk.log_probabilities(log_policy, "log_policy")
    lt = chk.log_probabilities(log_teacher, "log_teacher", n_modes=lp.shape[-1])
    lc = chk.col(lam)
    with np.errstate(divide="ignore", invalid="ignore"):
        lm = np.logaddexp(np.log(lc) + lt, np.log1p(-lc) + lp)
        g = (1.0 - lc) * (lp - lm)
    return np.where(np.isneginf(lp) & np.isneginf(lm), 0.0, g)


_check_jsd_weight = check_jsd_weight


#: Below this λ the solve starts from the forward target and forms log(1 + r) with log1p.
_JSD_FORWARD_START = 0.1
#: Entries per support point evaluated at once (J = 2; the temporaries of a block stay in cache).
_JSD_BLOCK = 16384
#: Entries (rows × K) the solve takes through its iterations at once (:func:`_jsd_solve`).
_JSD_ROWS = 32768


def _jsd_law(teacher, log_rho: np.ndarray, demo: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The demonstration law point-major: ``(weights, log_values)``, each (J, ..., K).

    A teacher that states its two points (:func:`~modesim.teachers.two_point_values` with
    ``probe=False``: the copy teacher) gives ``(D, 1 − D)`` and ``(log T(y|y), log T(y|d ≠ y))``
    as two contiguous slabs; any other teacher's :meth:`~modesim.Teacher.demo_law`
    (..., J, K) is read point-major (views; the solve copies them once)."""
    D = np.asarray(demo, dtype=np.float64)
    lr = np.asarray(log_rho, dtype=np.float64)
    pshape = tuple(getattr(teacher, "param_shape", ()))
    shape = np.broadcast_shapes(lr.shape, D.shape, pshape + (1,))
    if pshape == () and lr.shape == D.shape == shape and _states_two_points(type(teacher))[0]:
        return _TwoPointRows(teacher, lr.reshape(-1, shape[-1]), D.reshape(-1, shape[-1]), shape), None
    lv = np.empty((2,) + shape)
    if two_point_values(teacher, lr, probe=False, out=lv) is None:
        w, lv = teacher.demo_law(log_rho, demo)
        return (np.moveaxis(np.asarray(w, dtype=np.float64), -2, 0),
                np.moveaxis(np.asarray(lv, dtype=np.float64), -2, 0))
    w = np.empty((2,) + shape)
    np.clip(D, 0.0, 1.0, out=w[0])
    np.subtract(1.0, w[0], out=w[1])
    return w, lv


class _TwoPointRows:
    """The law of a teacher that states its two points (scalar parameters), written block by
    block of rows into the solve's reused law buffers (:func:`_jsd_solve`): no full-size law
    is allocated (fresh memory costs about a log pass per array on some hosts)."""

    J = 2

    def __init__(self, teacher, lr, D, shape):
        self.teacher, self.lr, self.D, self.shape = teacher, lr, D, shape

    def fill(self, rs: slice, W: np.ndarray, A: np.ndarray, L: np.ndarray) -> None:
        """Rows ``rs`` into ``W``, ``A``, ``L`` (2, n, K): weights ``(D, 1 − D)``, log values as
        :func:`_jsd_law`, and the values themselves (which the copy teacher forms anyway)."""
        two_point_values(self.teacher, self.lr[rs], probe=False, out=A, linear=L)
        np.clip(self.D[rs], 0.0, 1.0, out=W[0])
        np.subtract(1.0, W[0], out=W[1])


def _point_sum(a: np.ndarray, b: np.ndarray, out=None, scratch=None) -> np.ndarray:
    """``Σ_j a[j]·b[j]`` over the leading (point) axis of two (J, N) arrays, into ``out`` (N,)
    if given (``scratch`` (N,): a free array, so that no temporary is made)."""
    if a.shape[0] > 2:        # J up to K (a generic law): one einsum, no loop over points
        return np.einsum("jn,jn->n", a, b, out=out)
    out = np.multiply(a[0], b[0], out=out)
    if a.shape[0] == 2:
        out += np.multiply(a[1], b[1], out=scratch)
    return out


def _finish_eval(f, f1, h, q, p, u, beta, lref, scratch) -> None:
    """Turn the sums ``f = Σ w·log(1 + r)``, ``f1 = Σ w·σ``, ``h = Σ w·σ(1 − σ)`` (``w`` the
    (1 − λ)-scaled weights) into ``φ``, ``φ'``, ``h = φ''/(2φ')`` (in [−1/2, 0]) and ``q = π/φ'`` (in place;
    flat slices of equal length; ``beta`` None, a float or a slice; ``lref`` None or a slice;
    ``scratch`` a free array of the same length).

    ``φ = β·(u − log π_ref) − f``, ``φ' = f1 + β``.  Where φ' underflows (the student holds
    ~e^700 times the teacher's mass, β ≈ 0) the curvature ratio is set to its bound and φ'
    floored, which keeps the Halley step finite.
    """
    if beta is None:
        np.negative(f, out=f)
    else:
        t = np.subtract(u, lref, out=scratch)
        t *= beta
        np.subtract(t, f, out=f)
        f1 += beta
    if f1.min() > 0.0:
        h /= f1
    else:
        with np.errstate(invalid="ignore", divide="ignore"):
            h /= f1
        h[~(f1 > 0.0)] = 1.0
        np.maximum(f1, 1e-300, out=f1)
    h *= -0.5
    np.divide(p, f1, out=q)


def _jsd_eval(Tp, wom, p, u, beta, lref, f, f1, h, q, precise) -> None:
    """``φ``, ``φ'``, ``φ''/(2φ')`` and ``π/φ'`` at every entry (:func:`_finish_eval`), from
    ``r = Tp/π`` (``Tp = λT/(1 − λ)``, ``wom = (1 − λ)·w``, both (J, N); the rest (N,)).

    Evaluated in blocks of entries with three scratch arrays reused from block to block, so
    that the temporaries stay in cache and no full-size array is allocated: two logs (J = 2)
    and a few multiplications per entry.  ``log(1 + r)`` is ``log(1 + r)`` for λ ≥ 0.1, where
    φ' is bounded below at the solution and an absolute error ε moves u by at most ε/φ';
    ``log1p(r)`` below (``precise``).
    """
    J, N = Tp.shape
    b = min(N, _JSD_BLOCK if J <= 2 else max(1, 2 * _JSD_BLOCK // J))
    scalar_beta = beta is None or not isinstance(beta, np.ndarray)
    R_, ONE, L_ = np.empty((J, b)), np.empty((J, b)), np.empty((J, b))
    for n0 in range(0, N, b):
        s = slice(n0, min(N, n0 + b))
        n = s.stop - n0
        r, one, L = R_[:, :n], ONE[:, :n], L_[:, :n]
        pb = p[s]
        np.divide(Tp[:, s], pb, out=r)
        np.add(r, 1.0, out=one)
        if precise:
            np.log1p(r, out=L)
        else:
            np.log(one, out=L)
        w = wom[:, s]
        L *= w
        r /= one                                        # σ = r/(1 + r)
        r *= w
        fb, f1b, hb = f[s], f1[s], h[s]
        if J == 2:  # a reduction over a short leading axis is slower than one add
            np.add(L[0], L[1], out=fb)
            np.add(r[0], r[1], out=f1b)
            r /= one                                    # w·σ(1 − σ)
            np.add(r[0], r[1], out=hb)
        else:
            L.sum(axis=0, out=fb)
            r.sum(axis=0, out=f1b)
            r /= one
            r.sum(axis=0, out=hb)
        _finish_eval(fb, f1b, hb, q[s], pb, u[s], beta if scalar_beta else beta[s],
                     None if lref is None else lref[s], L[0])


def _jsd_eval_log(lc, wom, p, u, beta, lref, f, f1, h, q) -> None:
    """:func:`_jsd_eval` from logs, for ratios beyond the float range: ``x = log(λT/(1 − λ)) − u``,
    ``log(1 + r) = softplus(x)``, ``σ = 1/(1 + e^{−x})``."""
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        x = lc - u
        t = np.exp(-np.abs(x))
        L = np.maximum(x, 0.0) + np.log1p(t)
        sg = np.where(x >= 0, 1.0 / (1.0 + t), t / (1.0 + t))
    np.sum(wom * L, axis=0, out=f)
    ws = wom * sg
    ws.sum(axis=0, out=f1)
    ws *= 1.0 - sg
    ws.sum(axis=0, out=h)
    _finish_eval(f, f1, h, q, p, u, beta, lref, np.empty_like(f))


def _log_newton(step, f, nu, u, Tp, lc, wom, beta, lref) -> None:
    """Replace large downward Halley steps by Newton steps on ``log(−φ)`` (in place).

    A mode far above its solution (the student holds e^(tens or hundreds) times the
    teacher's mass) sits in φ's exponential regime, ``φ ≈ −A·e^{−u}``, where a Halley step
    moves only ~2 nats (and a Newton step overshoots without bound when φ' underflows);
    ``log(−φ)`` is linear there, so Newton on it lands on the root in one step.  Where a
    tiny β term dominates −φ the log-step may overshoot to the left, into φ's linear
    regime, from which the next (Halley) step is exact.  Everything is in log space:
    ``log(−φ)`` and ``log φ'`` are log-sums of ``log w + log softplus(x)`` and
    ``log w + log σ(x)``, ``x = log(λT/(1 − λ)) − u`` (no underflow for any depth).
    ``Tp``/``lc``/``wom`` are (J, N); the rest (N,) (``beta`` None, a float or (N,)).
    """
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        x = (np.log(Tp) if lc is None else lc) - u
        sp = np.maximum(x, 0.0) + np.log1p(np.exp(-np.abs(x)))
        log_sp = np.where(x < -35.0, x, np.log(sp))                 # log softplus(x)
        log_sig = x - sp                                            # log σ(x)
        log_w = np.log(wom)
        lneg = logsumexp_last((log_w + log_sp).T)                   # log((1 − λ)Σ w L)
        lf1 = logsumexp_last((log_w + log_sig).T)                   # log((1 − λ)Σ w σ)
        if beta is not None:
            B = beta * (u - lref)                                   # φ = −e^{lneg} + B
            ok = B < np.exp(lneg)
            lneg = np.where(B <= 0, np.logaddexp(lneg, np.log(-B)), lneg + np.log1p(-B * np.exp(-lneg)))
            lf1 = np.logaddexp(lf1, np.log(beta))
        else:
            ok = True
        ok = ok & (nu < 0) & (step < -1.0)
        cand = -(np.log(-nu) - lneg) * np.exp(lneg - lf1)
        use = ok & np.isfinite(cand) & (cand < 0)
    np.copyto(step, cand, where=use)


def _owned(a: np.ndarray, shape: tuple) -> np.ndarray:
    """``a`` as a C-contiguous float64 array of ``shape`` that may be overwritten: ``a`` itself
    when it is a writeable array it owns (a fresh result of :func:`_jsd_law`), else a copy."""
    if a.shape == shape and a.dtype == np.float64 and a.flags.writeable and a.flags.owndata and a.flags.c_contiguous:
        return a
    return np.array(np.broadcast_to(a, shape), dtype=np.float64)


def _flat(a, shape: tuple, N: int):
    """A per-row or per-entry quantity as a flat (N,) array (a float stays a float)."""
    if not isinstance(a, np.ndarray):
        return a
    return np.ascontiguousarray(np.broadcast_to(a, shape)).reshape(N)


def _jsd_solve(weights, log_values, log_ref, beta, lam) -> np.ndarray:
    """The JSD round's optimum (theory §8.1, J1), normalised log-probabilities (..., K).

    Minimises ``F(π) = E_d JSD_λ(T(·|d)‖π) + β·KL(π‖π_ref)`` for the demonstration law
    ``(weights, log_values)``, point-major: each (J, ..., K) (:func:`_jsd_law`; writeable
    arrays the caller owns are reused as buffers).  The stationarity conditions are
    separable given a multiplier ν: ``φ_y(u_y) = ν`` with ``u = log π`` and::

        φ_y(u) = −(1 − λ)·Σ_j w_{jy}·log(1 + r_{jy}) + β·(u − log π_ref(y)),
        r_{jy} = λ·T_{jy}/((1 − λ)·e^u),

    increasing and concave in u (φ' = (1 − λ)·Σ_j w·r/(1 + r) + β, φ'' = −(1 − λ)·Σ_j
    w·r/(1 + r)²).  Each iteration evaluates φ, φ', φ'' at every mode, takes ν from the
    linearised constraint ``Σ_y π_y·(ν − φ_y)/φ'_y = 0`` (leaving out modes more than a nat
    above their root), a Halley step per mode (a Newton step on log(−φ) for modes far above
    their root) and renormalises (one exp pass); it stops after a step below 1e-7 (the next
    error is below ~1e-14).  The start is the reverse-KL (geometric-mean) target for
    λ ≥ 0.1 and the forward (arithmetic-mean) one below, the exact limits as λ → 1 and
    λ → 0.  ``r`` is formed as ``(λT/(1 − λ))·(1/π)`` while every exponent is within ±650,
    else from logs.

    Modes the optimum leaves at zero: β > 0 and π_ref(y) = 0 (infinite KL), or β = 0 and
    the teacher never holds y.

    Rows are independent: the solve runs block by block of about 32k entries, each block to
    its own convergence with work arrays that stay in cache and are reused, so that the only
    full-size arrays are the law and the result (fresh memory costs as much as a log pass
    on some hosts: the pages are faulted in on first write).  ``weights`` may instead be
    the block-wise law of a two-point teacher (:class:`_TwoPointRows`, ``log_values``
    None): then the law too is written a block at a time into reused buffers.
    """
    lref = np.asarray(log_ref, dtype=np.float64)
    if isinstance(weights, _TwoPointRows):
        law, J, law_shape = weights, 2, weights.shape
        K, law_batch = law_shape[-1], law_shape[:-1]
    else:
        law = None
        w = np.asarray(weights, dtype=np.float64)
        lT = np.asarray(log_values, dtype=np.float64)
        K = lT.shape[-1]
        J = np.broadcast_shapes(w.shape[:1], lT.shape[:1])[0]
        law_batch = np.broadcast_shapes(w.shape[1:-1], lT.shape[1:-1])
    batch = np.broadcast_shapes(law_batch, lref.shape[:-1], np.shape(beta), np.shape(lam))
    shape = batch + (K,)
    R = int(np.prod(batch, dtype=np.int64))
    has_beta = not (not isinstance(beta, np.ndarray) and beta == 0.0)
    lam_r, beta_r = _per_row(lam, batch, R), _per_row(beta, batch, R)
    rb = max(1, _JSD_ROWS // K)
    # Every work array of a block (and, for a two-point teacher, the block's law) is carved
    # from one allocation, reused by every block: fresh memory is faulted in on first write,
    # which costs as much as a log pass, and glibc returns many freed arrays to the system at
    # the end of a round (one array of the largest size so far it keeps for the next round).
    nb = min(R, rb) * K
    buf = np.empty((_WORK_ARRAYS + (0 if law is None else 3 * J), nb))
    work = buf[:_WORK_ARRAYS]
    if law is None:
        W = _owned(w, (J,) + shape).reshape(J, R * K)       # w, later (1 − λ)·w
        A = _owned(lT, (J,) + shape).reshape(J, R * K)      # log T, later λT/(1 − λ)
    else:  # the law of a block at a time
        W, A, L = (buf[_WORK_ARRAYS + i * J:_WORK_ARRAYS + (i + 1) * J] for i in range(3))
    lref = np.broadcast_to(lref, shape).reshape(R, K)
    precise = bool(np.min(lam) < _JSD_FORWARD_START)
    out = np.empty((R, K))
    no_optimum = None
    for r0 in range(0, R, rb):
        rs = slice(r0, min(R, r0 + rb))
        n = rs.stop - r0
        if law is None:
            Wb, Ab, Lb = W[:, r0 * K:rs.stop * K], A[:, r0 * K:rs.stop * K], None
        else:
            Wb, Ab, Lb = W[:, :n * K], A[:, :n * K], L[:, :n * K]
            law.fill(rs, Wb.reshape(J, n, K), Ab.reshape(J, n, K), Lb.reshape(J, n, K))
        if float(Ab.min(initial=0.0)) < -_JSD_NEGLIGIBLE_LOG:
            np.copyto(Ab, -np.inf, where=Ab < -_JSD_NEGLIGIBLE_LOG)
        if (has_beta and np.isneginf(lref[rs]).any()) or np.isneginf(Ab).any():
            # Rows where every mode is left at zero have no optimum (every such row of the
            # batch is named: the remaining blocks are only checked).
            with np.errstate(invalid="ignore"):
                unheld = ~np.any((Wb > 0) & (Ab > -np.inf), axis=0).reshape(n, K)
            b_r = _rows(beta_r, rs)
            dead = np.where(b_r > 0, np.isneginf(lref[rs]), unheld) if has_beta else unheld
            if dead.all(axis=-1).any():
                if no_optimum is None:
                    no_optimum = np.zeros(R, bool)
                no_optimum[rs] = dead.all(axis=-1)
        if no_optimum is not None:
            continue
        _jsd_rows(Wb, Ab, lref[rs], _rows(beta_r, rs), _rows(lam_r, rs), has_beta, precise,
                  out[rs], work[:, :n * K], Lb)
    if no_optimum is not None:
        raise ValueError(f"{_DISJOINT}{chk.at_index(no_optimum.reshape(batch))}")
    return out.reshape(shape)


def _per_row(x, batch: tuple, R: int):
    """A per-row parameter as a float or an (R, 1) array."""
    c = chk.col(x)
    if not isinstance(c, np.ndarray):
        return c
    return np.broadcast_to(c, batch + (1,)).reshape(R, 1)


def _rows_view(a: np.ndarray, R: int, K: int) -> np.ndarray:
    """A (J, R·K) array as a (J, R, K) view (never a copy: in-place updates must reach ``a``)."""
    v = a.view()
    v.shape = (a.shape[0], R, K)
    return v


def _row_sums(a: np.ndarray) -> np.ndarray:
    """Row sums of an (R, K) array as (R, 1): a matrix–vector product for short rows (numpy's
    reduction over a short last axis is ~8× slower; for K ≤ 128 both add in sequence, to the
    same accuracy), numpy's pairwise sum otherwise (and for a single row)."""
    R, K = a.shape
    if K <= 128 and R > 1:
        return (a @ _ones(K))[:, None]
    return a.sum(axis=-1, keepdims=True)


@functools.lru_cache(maxsize=8)
def _ones(K: int) -> np.ndarray:
    ones = np.ones(K)
    ones.flags.writeable = False
    return ones


def _at_resolution(step: np.ndarray, u: np.ndarray) -> bool:
    """Every step below the tolerance or within 8 ulp of its u: a mode that β ≪ 1 holds at
    ``u ≈ log π_ref + ν/β`` (|u| ~ 1e11) cannot be resolved to 1e-7 in float64; the rounding
    of ν alone moves it by ulp(ν)/β ≈ ulp(u), so the iteration has converged there."""
    with np.errstate(invalid="ignore"):
        tol = np.fmax(8.0 * np.spacing(np.abs(u)), _JSD_STEP_TOL)
    return bool(np.all(np.abs(step) < tol))


def _rows(x, rs: slice):
    return x[rs] if isinstance(x, np.ndarray) else x


#: Work arrays (each of a block's length) that :func:`_jsd_rows` takes from :func:`_jsd_solve`.
_WORK_ARRAYS = 6


def _jsd_rows(W, A, lref, beta_c, lam_c, has_beta, precise, out, work, linear=None) -> None:
    """:func:`_jsd_solve` on a block of rows: ``W``, ``A`` (J, n·K) views of the law (overwritten),
    ``lref`` (n, K), ``beta_c``/``lam_c`` floats or (n, 1); writes log π into ``out`` (n, K),
    using ``work`` (_WORK_ARRAYS, n·K) as scratch.  ``linear`` (J, n·K): the law's values
    ``exp(A)`` when the teacher formed them (then λT/(1 − λ) costs a product, not an exp)."""
    J = W.shape[0]
    R, K = lref.shape
    N = R * K
    shape = (R, K)
    om = 1.0 - lam_c
    log_odds = np.log(lam_c) - np.log1p(-lam_c)            # log(λ/(1 − λ)), scalar or (n, 1)
    ref_zero = np.isneginf(lref)
    any_ref_zero = has_beta and bool(ref_zero.any())
    safe_lref = np.where(ref_zero, 0.0, lref) if any_ref_zero else lref
    beta = beta_c[:, 0] if isinstance(beta_c, np.ndarray) else beta_c   # per row, for combine_*

    f, f1, h, q, p, scratch = work
    g = out.reshape(N)                                      # E_d log T, then the start, then log π
    with np.errstate(invalid="ignore"):
        _point_sum(W, A, g, scratch)                        # nan from 0·(−inf)
        if np.isnan(g).any():
            _point_sum(W, np.where(W > 0, A, 0.0), g, scratch)
    g = out
    if isinstance(log_odds, np.ndarray):
        _rows_view(A, R, K)[...] += log_odds                # log(λT/(1 − λ)), per row
    else:
        A += log_odds                                       # log(λT/(1 − λ))
    lo = float(A.min())
    if lo == -np.inf:
        lo = float(np.min(np.where(np.isneginf(A), np.inf, A)))
    ratio_ok = lo > -_JSD_RATIO_RANGE and float(A.max()) < _JSD_RATIO_RANGE
    m = log_m = None
    with np.errstate(divide="ignore"):
        if ratio_ok and linear is not None:                 # λT/(1 − λ) from the values
            lc, Tp = None, A
            odds = lam_c / om
            if isinstance(odds, np.ndarray):
                np.multiply(_rows_view(linear, R, K), odds, out=_rows_view(A, R, K))
            else:
                np.multiply(linear, odds, out=A)
            if float(Tp.min()) > 0.0:
                held = True
            else:
                m = _point_sum(W.reshape(J, N), Tp).reshape(shape)
                held = m > 0.0
        elif ratio_ok:
            lc, Tp = None, np.exp(A, out=A).reshape(J, N)   # λT/(1 − λ), in place
            if float(Tp.min()) > 0.0:
                held = True                                 # every T > 0 (the weights sum to 1)
            else:
                m = _point_sum(W.reshape(J, N), Tp).reshape(shape)   # (λ/(1 − λ))·E_d T
                held = m > 0.0
        else:
            lc, Tp = A.reshape(J, N), None
            log_m = logsumexp_last(np.moveaxis(A + np.log(W), 0, -1)).reshape(shape)
            held = log_m > -np.inf
    if isinstance(om, np.ndarray):
        _rows_view(W, R, K)[...] *= om
    else:
        W *= om
    wom = W
    dead = None
    if any_ref_zero or held is not True and not held.all():
        unheld = ~np.asarray(held)
        dead = np.broadcast_to(np.where(beta_c > 0, ref_zero, unheld) if has_beta else unheld, shape)
        if not dead.any():
            dead = None
    rev = g
    combine_reverse(rev, lref, beta, out=rev)
    near_forward = lam_c < _JSD_FORWARD_START
    if (near_forward.any() if isinstance(near_forward, np.ndarray) else near_forward) or not np.isfinite(rev).all():
        if log_m is None:
            if m is None:
                m = _point_sum(W, Tp).reshape(shape) / om
            with np.errstate(divide="ignore"):
                log_m = np.log(m)
        fwd = combine_forward(log_m - log_odds, lref, beta)           # log E_d T, mixed with π_ref
        with np.errstate(invalid="ignore"):
            np.copyto(rev, fwd, where=near_forward | ~np.isfinite(rev))
    u = rev
    if dead is not None:
        u[dead] = -np.inf
    # Normalise with one exp pass (u ≤ 0: no overflow); rows whose every entry underflows are
    # shifted by their maximum first.
    p = p.reshape(shape)
    with np.errstate(under="ignore"):
        np.exp(u, out=p)
    total = _row_sums(p)
    if not (total > 1e-280).all():
        u -= u.max(axis=-1, keepdims=True)
        np.exp(u, out=p)
        total = _row_sums(p)
    u -= np.log(total)
    p /= total
    # Work buffers of the loop, flat (N,) views of (R, K) arrays (no allocation per iteration).
    u, p = u.reshape(N), p.reshape(N)
    rows = (R, K)
    beta_f = _flat(beta_c, shape, N) if has_beta else None
    lref_f = None if not has_beta else _flat(safe_lref, shape, N)
    dead_f = None if dead is None else np.ascontiguousarray(dead).reshape(N)

    big = np.inf
    for _ in range(_JSD_MAX_ITER):
        us = u if dead_f is None else np.where(dead_f, 0.0, u)
        pe = p if dead_f is None else np.where(dead_f, 1.0, p)
        if ratio_ok and float(us.min()) > -_JSD_RATIO_RANGE:
            _jsd_eval(Tp, wom, pe, us, beta_f, lref_f, f, f1, h, q, precise)
        else:
            if lc is None:
                with np.errstate(divide="ignore"):
                    lc = np.log(Tp)                 # once; −inf where T = 0
            _jsd_eval_log(lc, wom, pe, us, beta_f, lref_f, f, f1, h, q)
        if dead_f is not None:
            f1[dead_f], h[dead_f], q[dead_f] = 1.0, 0.0, 0.0
        q2, f2 = q.reshape(rows), f.reshape(rows)
        qs = _row_sums(q2)
        nu = _row_sums(np.multiply(q2, f2, out=scratch.reshape(rows)))
        nu /= qs
        newton = np.subtract(nu, f2, out=q2).reshape(N)  # into q: the sums above were its last use
        newton /= f1                        # Newton step (ν − φ)/φ'
        if float(newton.min()) < -1.0:
            # Modes more than a nat above their root: their linearisation is worthless (they
            # end with negligible mass), so ν comes from the rest.
            far = newton < -1.0
            qn = np.divide(p if dead_f is None else np.where(dead_f, 0.0, p), f1).reshape(rows)
            qn[far.reshape(rows)] = 0.0
            qs = qn.sum(axis=-1, keepdims=True)
            nu = np.where(qs > 0, np.sum(qn * f2, axis=-1, keepdims=True) / np.where(qs > 0, qs, 1.0), nu)
            np.subtract(nu, f2, out=newton.reshape(rows))
            newton /= f1
        # Halley: δ = newton/(1 + φ''·newton/(2φ')), the denominator kept ≥ 1/2 (h = φ''/(2φ')).
        step = np.multiply(h, newton, out=h)
        step += 1.0
        np.maximum(step, 0.5, out=step)
        np.divide(newton, step, out=step)
        low = float(step.min())
        if low < -1.0:
            nu_f = np.broadcast_to(nu, rows).reshape(N)
            _log_newton(step, f, nu_f, us, Tp, lc, wom, beta_f, lref_f)
            low = float(step.min())
        u += step
        if dead_f is not None:
            step[dead_f] = 0.0
            low = float(step.min())
        prev, big = big, max(float(step.max()), -low)
        # A step that stopped shrinking (the iteration converges cubically otherwise) may be at
        # the float resolution of u: then it has converged.
        if big < _JSD_STEP_TOL or (big < 1e-3 and big > 0.1 * prev and _at_resolution(step, u)):
            # Last step: Σ π·e^δ = Σ π·(1 + δ) to a relative δ²/2 < 5e-15, without an exp pass.
            step *= p
            u2, p2, s2 = u.reshape(rows), p.reshape(rows), step.reshape(rows)
            ps = _row_sums(p2)
            u2 -= np.log1p(_row_sums(s2) / ps) + np.log(ps)
            np.minimum(u2, 0.0, out=u2)
            return
        if not np.isfinite(big):
            break
        with np.errstate(over="ignore"):
            np.exp(u, out=p)
        u2, p2 = u.reshape(rows), p.reshape(rows)
        total = _row_sums(p2)
        if (total > 0.0).all() and (total < np.inf).all():
            u2 -= np.log(total)
            p2 /= total
        else:  # every entry of a row under- or overflowed: normalise in log space
            u2 -= logsumexp_last(u2, keepdims=True)
            np.exp(u, out=p)
    raise RuntimeError(
        "the JSD round's optimum did not converge (please report this input to modesim); "
        f"largest last step {big:.3g}"
    )
