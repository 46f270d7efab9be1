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

from dataclasses import InitVar, dataclass, field

import numpy as np

from . import _checks as chk
from ._compat import renamed_keyword
from .demos import ConditionedDemos
from .jsd_solve import _DISJOINT, _jsd_law, _jsd_solve
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
from .simplex import kl_terms, log_normalise
from .task import Task
from .teachers import CopyTeacher

__all__ = ["SelfDistillation", "EMA", "sd_optimum", "sd_target", "jsd_divergence", "jsd_score", "JSD_MIN"]

_OBJECTIVES = ("reverse", "forward", "jsd")



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
