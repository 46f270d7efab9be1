"""The update-rule protocol, declared once, and the pieces every self-distillation rule shares.

**Protocol** (theory §2–§3, in the spirit of optax's ``init``/``update``)::

    state = rule.init(task)          # round 0: the base policy
    state = rule.step(state, task)   # one round of training
    state.log_policy                 # the current policy, log-probabilities (..., K)

A rule declares what else it can do in ``rule.capabilities``, a frozenset of the names in
:data:`CAPABILITIES`.  Functions that need a capability call :func:`require`, which refuses
a rule that does not declare it, and refuses a rule that declares a capability whose
method it lacks:

=================  =====================================================================
``deterministic``  ``step`` is a deterministic function of the state and the task
``memoryless``     the state holds nothing beyond the policy that changes the next round
                   (no EMA teacher, no optimiser moments); with ``deterministic`` one
                   round is a map on the simplex (:func:`apply_map`, fixed points,
                   Jacobians)
``velocity``       ``velocity(log_policy, task, *, teacher_log_base=None)``: the logit
                   velocity ``g`` of the continuous-time flow or mean field
                   ``d log π/dt = g − E_π g`` (theory §6)
``target``         ``target(log_rho, log_ref, task)``: the closed-form optimum of one round
``estimate``       ``estimate(state, task)``: one sampled update direction and which
                   groups had no signal
=================  =====================================================================

**State** is a typed, picklable :class:`State` (a NamedTuple): the policy, the round and
the optional pieces a rule may carry (EMA teacher, random key, silent-group counter,
optimiser moments).

**Self-distillation shell.**  :class:`SDShell` holds what the categorical, path and sampled
self-distillation rules share (theory §3.1, §3.5): the teacher base (``"current"``,
``"frozen"`` or :class:`EMA`), the KL reference and strength β, the objective and the EMA
update; each rule supplies only its kernel (an exact target, a per-edge target, or a
sampled gradient) and its normaliser.  :func:`geometric_mix` is the one place where two
log-policies are interpolated (a step toward a target, an EMA), with one treatment of
zero-probability modes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple, Protocol, runtime_checkable

import numpy as np

from . import _checks as chk
from .simplex import exp_sum as _exp_sum_blocks

__all__ = [
    "State",
    "Rule",
    "CAPABILITIES",
    "capabilities",
    "require",
    "apply_map",
    "EMA",
    "geometric_mix",
    "combine_reverse",
    "combine_forward",
    "SDShell",
    "JSD_MIN",
    "check_jsd_weight",
    "relaxation",
    "normalise_checked",
]

#: The capabilities a rule may declare, with what each promises.
CAPABILITIES: dict[str, str] = {
    "deterministic": "deterministic (step is a function of the state and the task alone)",
    "memoryless": "memoryless (nothing in the state beyond the policy, such as an EMA teacher, affects the next round)",
    "velocity": "able to give a continuous-time velocity (velocity(log_policy, task))",
    "target": "able to give its one-round closed-form optimum (target(log_rho, log_ref, task))",
    "estimate": "able to give one sampled update direction (estimate(state, task))",
}
_METHODS = {"velocity": "velocity", "target": "target", "estimate": "estimate"}


class State(NamedTuple):
    """The state of a rule after ``round`` rounds (typed, immutable, picklable; theory §1).

    A plain record: it holds what ``init``/``step`` put in it and checks nothing (rules
    validate their inputs once, in ``__post_init__`` or ``init``).

    Attributes
    ----------
    log_policy : ndarray, shape (..., K)
        Normalised log-probabilities of the current policy (``-inf`` for zero).
    round : int
        Rounds taken since ``init``.
    teacher_log_base : ndarray, shape (..., K), or None
        The teacher's own base ``ρ`` when it is not the current policy (EMA or frozen).
    rng_key : ndarray of uint64, or None
        Key of a sampled rule's random stream (round t draws from ``(key, t)``).
    silent_groups : ndarray of int, shape (...), or None
        Sampled rules: per batch entry, the rounds whose update had no signal.
    optimiser : tuple of ndarrays, or None
        Optimiser state of a sampled rule (e.g. Adam's moments), rule-specific.
    params : ndarray, shape (..., F), or None
        Parameters of a parametrised policy when they are not the log-policy itself (the
        feature weights θ of :class:`modesim.paths.FeaturePolicy`, whose per-edge policy
        ``log_policy`` is derived from them); None for tabular policies.
    """

    log_policy: np.ndarray
    round: int = 0
    teacher_log_base: np.ndarray | None = None
    rng_key: np.ndarray | None = None
    silent_groups: np.ndarray | None = None
    optimiser: tuple | None = None
    params: np.ndarray | None = None

    @property
    def policy(self) -> np.ndarray:
        """Current policy as probabilities, shape ``(..., K)``."""
        return np.exp(self.log_policy)

    def advance(self, log_policy: np.ndarray, **changes) -> State:
        """The next state: ``round + 1``, a new policy and any changed fields."""
        if changes:
            return self._replace(log_policy=log_policy, round=self.round + 1, **changes)
        return State(log_policy, self.round + 1, self.teacher_log_base, self.rng_key,
                     self.silent_groups, self.optimiser, self.params)


@runtime_checkable
class Rule(Protocol):
    """What every update rule provides (RL, self-distillation, path and sampled rules; theory §1).

    ``capabilities`` is a frozenset of names from :data:`CAPABILITIES`; declare only what
    the rule implements (see the module docstring).  A typing protocol: it is never
    instantiated, and :func:`capabilities` is what checks a rule.
    """

    capabilities: frozenset

    def init(self, task) -> State:
        """Round 0: the base policy and any auxiliary state."""

    def step(self, state: State, task) -> State:
        """One round of the update."""


def capabilities(rule) -> frozenset:
    """The capabilities ``rule`` declares, after checking that each is backed by its method.

    A rule without a ``capabilities`` attribute declares none (it can still be iterated).
    What each capability promises: :data:`CAPABILITIES` (theory §1, "Rules and state").

    Returns
    -------
    frozenset of str
        A subset of ``CAPABILITIES``.

    Raises
    ------
    ValueError
        If ``rule`` lacks ``init``/``step``, declares an unknown capability, or declares
        one whose method it does not have.
    """
    if isinstance(rule, type):
        raise ValueError(f"rule must be a rule instance; got the class {rule.__name__} itself "
                         f"(write {rule.__name__}(...) with its parameters)")
    name = type(rule).__name__
    for method in ("init", "step"):
        if not callable(getattr(rule, method, None)):
            raise ValueError(
                f"rule must have init(task) and step(state, task) methods; {name} has no {method}() "
                f"(did you pass the arguments in the wrong order?)"
            )
    caps = getattr(rule, "capabilities", frozenset())
    if not isinstance(caps, (frozenset, set)):
        raise ValueError(f"{name}.capabilities must be a frozenset of names; got {chk.describe(caps)}")
    unknown = sorted(set(caps) - set(CAPABILITIES))
    if unknown:
        raise ValueError(f"{name} declares unknown capabilities {unknown}; known: {sorted(CAPABILITIES)}")
    for cap, method in _METHODS.items():
        if cap in caps and not callable(getattr(rule, method, None)):
            raise ValueError(f"{name} declares the capability {cap!r} but has no {method}() method")
    return frozenset(caps)


def require(rule, caps, purpose: str) -> None:
    """Refuse ``rule`` unless it declares every capability in ``caps`` (see :func:`capabilities`).

    Stability analysis needs a deterministic, memoryless rule (theory §1, §3.5), a flow a
    velocity (theory §6).

    Parameters
    ----------
    rule : object with ``init`` and ``step``
    caps : iterable of str
        Names from :data:`CAPABILITIES`.
    purpose : str
        What needs them, for the error message.

    Raises
    ------
    ValueError
        Naming ``purpose``, what it needs and what the rule declares; also everything
        :func:`capabilities` raises (no ``init``/``step``, an unknown or unbacked
        capability).
    """
    have = capabilities(rule)
    missing = [c for c in caps if c not in have]
    if missing:
        needs = " and ".join(CAPABILITIES[c] for c in missing)
        raise ValueError(
            f"{purpose} needs a rule that is {needs}; {type(rule).__name__} declares "
            f"{sorted(have) or 'no capabilities'}"
        )


def apply_map(rule, log_policy, task) -> np.ndarray:
    """One round of a deterministic, memoryless rule as a map on log-policies: ``log π ↦ log π'``.

    Used for fixed points and Jacobians (theory §3.5, §6).  ``log_policy`` is validated
    (shape ``task.batch_shape + (K,)``, normalised, no NaN).

    Parameters
    ----------
    rule : deterministic, memoryless rule
    log_policy : array_like, shape ``task.batch_shape + (K,)``
        Normalised log-probabilities (``-inf`` for a zero).
    task : Task

    Returns
    -------
    ndarray, shape ``task.batch_shape + (K,)``
        The next round's normalised log-policy.

    Raises
    ------
    ValueError
        ``rule`` not declaring ``deterministic`` and ``memoryless`` (e.g. an EMA teacher or
        a sampled rule); ``task`` not a categorical :class:`~modesim.Task`; ``log_policy``
        not normalised log-probabilities of that shape; and whatever the rule's round
        raises (e.g. no correct mode to demonstrate).

    Examples
    --------
    >>> import numpy as np
    >>> import modesim as ms
    >>> task = ms.make_task([0.6, 0.3, 0.1])
    >>> lp = ms.apply_map(ms.SelfDistillation(), task.log_base, task)
    >>> np.exp(lp).round(3).tolist()
    [0.646, 0.278, 0.076]
    """
    require(rule, ("deterministic", "memoryless"), "apply_map (a map on the simplex)")
    chk.task(task)  # categorical tasks only: a path policy's edge axis is not a simplex
    lp = chk.log_probabilities(log_policy, "log_policy", n_modes=task.log_base.shape[-1])
    state = rule.init(task)
    if lp.shape != state.log_policy.shape:
        raise ValueError(f"log_policy must have shape {state.log_policy.shape}; got {lp.shape}")
    return rule.step(state._replace(log_policy=lp), task).log_policy


# --------------------------------------------------------------- shared SD pieces


@dataclass(frozen=True)
class EMA:
    """EMA teacher base: logits ``θ̄ ← τ·θ̄ + (1 − τ)·θ`` after each round (theory §3.1, §3.5).

    Computed as the geometric mix ``log ρ ← normalise((1 − τ)·log π + τ·log ρ)``
    (:func:`geometric_mix`), the logit EMA up to a constant per row.  ``tau = 0`` is the
    current policy, ``tau = 1`` the frozen base.  ``tau`` may be an array (a grid): its
    shape joins the run's batch shape (theory §1).

    Parameters
    ----------
    tau : float or array in [0, 1]
        Weight on the old teacher per round (the EMA rate is ``1 − τ``).

    Raises
    ------
    ValueError
        ``tau`` not a real number (or array of them) in [0, 1].

    Notes
    -----
    Source: public self-distillation trainers use τ = 0.95, an EMA rate of 0.05 per step
    (lasgroup/SDPO commit 0e6d510 and TRL's ``SDPOTrainer`` at commit f2cd577; theory §8.2,
    presets).
    """

    tau: float = 0.9

    def __post_init__(self):
        object.__setattr__(self, "tau", chk.real(self.tau, "tau", low=0.0, high=1.0))


def geometric_mix(a: np.ndarray, b: np.ndarray, w) -> np.ndarray:
    """``(1 − w)·a + w·b`` on log-probabilities (unnormalised), zero-probability modes kept.

    A zero in ``a`` survives unless ``w = 1``; a zero in ``b`` enters unless ``w = 0``.
    Used for a step toward a round's optimum (``a`` the policy, ``b`` the target, ``w``
    the step) and for an EMA teacher (``a`` the new student, ``b`` the old teacher,
    ``w = τ``).  ``w`` is a scalar or an array broadcasting against the batch axes.
    """
    if not isinstance(w, np.ndarray):
        if w == 0.0:
            return a
        if w == 1.0:
            return b
        # 0 < w < 1: (1 − w)·(−inf) = −inf, so zeros survive without masks (no 0·inf).
        return (1.0 - w) * a + w * b
    wc = chk.col(w)
    dead = (np.isneginf(a) & (wc < 1.0)) | (np.isneginf(b) & (wc > 0.0))
    fa = np.where(np.isneginf(a), 0.0, a)
    fb = np.where(np.isneginf(b), 0.0, b)
    return np.where(dead, -np.inf, (1.0 - wc) * fa + wc * fb)


def combine_reverse(g: np.ndarray, log_ref: np.ndarray, beta, *, out=None) -> np.ndarray:
    """``(g + β·log π_ref)/(1 + β)`` as ``g/(1+β) + (β/(1+β))·log π_ref`` (theory §3.2).

    The weighted form cannot overflow for huge β or very negative ``log π_ref``; a
    reference zero gives a zero unless β = 0.  ``out`` (may be ``g``): an array of the
    result's shape to write it into (the same operations, so the same bits).
    """
    if not isinstance(beta, np.ndarray) and beta == 0.0:
        if out is None or out is g:
            return g
        np.copyto(out, g)
        return out
    b = chk.col(beta)
    inv = 1.0 / (1.0 + b)  # 1/(1+β), not 1 − β/(1+β), which rounds to 0 for β > 1e17
    w = b * inv
    with np.errstate(invalid="ignore"):
        ref = w * log_ref
    if isinstance(w, np.ndarray):
        ref = np.where(w > 0.0, ref, 0.0)  # β = 0 entries ignore the reference (0·(−inf))
    if out is None:
        return g * inv + ref
    np.multiply(g, inv, out=out)
    out += ref
    return out


def combine_forward(log_m: np.ndarray, log_ref: np.ndarray, beta) -> np.ndarray:
    """``log((M + β·π_ref)/(1 + β))`` for a log-mixture ``log_m`` (theory §3.2, S2)."""
    if not isinstance(beta, np.ndarray) and beta == 0.0:
        return log_m
    b = chk.col(beta)
    with np.errstate(divide="ignore"):
        return np.logaddexp(log_m - np.log1p(b), log_ref + np.log(b / (1.0 + b)))


#: The JSD objective's mixing weight λ is taken in [JSD_MIN, 1 − JSD_MIN] (theory §8.1): nearer
#: 0 or 1 the divergence is λ·KL(T‖π) or (1 − λ)·KL(π‖T) to a relative 1e-8 (use the forward
#: or reverse objective), and the solve would divide quantities of order λ that underflow.
JSD_MIN = 1e-8


def check_jsd_weight(value):
    """λ of the JSD objective: a float or read-only array in [1e-8, 1 − 1e-8] (``ValueError``
    naming ``jsd_weight`` otherwise)."""
    lam = chk.real(value, "jsd_weight")     # a finite real number; its range below, one message
    bad = np.asarray((lam < JSD_MIN) | (lam > 1.0 - JSD_MIN))
    if bad.any():
        first = tuple(int(i) for i in np.argwhere(bad)[0]) if bad.ndim else ()
        where = f" at index {first} of jsd_weight" if bad.ndim else ""
        got = float(np.asarray(lam)[first])
        raise ValueError(
            f"jsd_weight must be in [1e-8, 1 - 1e-8], the exact JSD round's range (TRL's λ = 0 "
            f"and 1, its forward and reverse KL losses, are per-token losses: "
            f"modesim.SampledSD(objective='jsd', jsd_weight=...) in Python takes them; theory "
            f"§8.1); got {got!r}{where}"
        )
    return lam


class SDShell:
    """Options and state handling shared by every self-distillation rule (theory §3.1, §3.5).

    A subclass is a frozen dataclass with the fields ``teacher``, ``demos``, ``objective``,
    ``beta``, ``teacher_base`` and ``reference``; it calls :meth:`_check_shell` in
    ``__post_init__`` and implements ``_normalise(x, task)`` (its space's normaliser) and
    its kernel.  The shell gives it ``init``, the teacher base and reference of a state,
    the EMA update and its capabilities.
    """

    #: Objectives the rule accepts (a subclass may narrow or widen this).  A subclass that
    #: accepts ``"jsd"`` has a ``jsd_weight`` field (λ, default None = 0.5), checked here.
    OBJECTIVES: tuple[str, ...] = ("reverse", "forward")
    #: True for rules whose JSD round is an exact solve (λ then lies in [1e-8, 1 − 1e-8],
    #: :func:`check_jsd_weight`); gradient-based rules take TRL's whole range [0, 1], whose
    #: endpoints are forward (0) and reverse (1) KL.
    JSD_EXACT_SOLVE: bool = False

    def _check_shell(self) -> None:
        chk.choice(self.objective, "objective", self.OBJECTIVES)
        if hasattr(self, "jsd_weight"):
            if self.objective == "jsd":
                lam = 0.5 if self.jsd_weight is None else self.jsd_weight
                lam = (check_jsd_weight(lam) if self.JSD_EXACT_SOLVE
                       else chk.real(lam, "jsd_weight", low=0.0, high=1.0))
                object.__setattr__(self, "jsd_weight", lam)
            elif self.jsd_weight is not None:
                raise ValueError(
                    f"jsd_weight is the mixing weight of objective='jsd'; with objective="
                    f"{self.objective!r} it is unused (got jsd_weight={chk.describe(self.jsd_weight)}); "
                    f"allowed: None"
                )
        object.__setattr__(self, "beta", chk.real(self.beta, "beta", low=0.0))
        if not (isinstance(self.teacher_base, EMA) or self.teacher_base in ("current", "frozen")):
            raise ValueError(
                f"teacher_base must be 'current', 'frozen' or EMA(tau); got {chk.describe(self.teacher_base)}"
            )
        chk.choice(self.reference, "reference", ("base", "current"))
        # Decided once: which base the teacher reads and which reference the KL term uses.
        object.__setattr__(self, "_ema", isinstance(self.teacher_base, EMA))
        object.__setattr__(self, "_current_teacher", self.teacher_base == "current")
        object.__setattr__(self, "_base_reference", self.reference == "base")

    @property
    def ema_tau(self):
        """The EMA rate τ of the teacher base, or None when it is the current or frozen policy."""
        return self.teacher_base.tau if self._ema else None

    def _shell_params(self) -> tuple:
        """Array-valued options of the shell (their shapes join the batch shape)."""
        tau = (self.teacher_base.tau,) if self._ema else ()
        jsd = (self.jsd_weight,) if self.objective == "jsd" else ()
        return (self.beta, *tau, *jsd)

    def _shell_init(self, log_base: np.ndarray) -> State:
        return State(log_base, teacher_log_base=log_base if self._ema else None)

    def teacher_log_base(self, state: State, task) -> np.ndarray:
        """The teacher's own base ``ρ`` in ``state``: current policy, ``π0`` or the EMA."""
        if self._ema:
            return state.teacher_log_base
        return state.log_policy if self._current_teacher else task.log_base

    def velocity_teacher_base(self, log_policy: np.ndarray, log_base: np.ndarray,
                              teacher_log_base=None) -> np.ndarray:
        """The teacher base ``ρ`` a velocity reads at ``log_policy`` (theory §3.5, §6).

        The current policy or ``π0`` (``log_base``); with an :class:`EMA` teacher the given
        ``teacher_log_base`` (the flow's second state), which ``EMA(0)`` (the current policy)
        and ``EMA(1)`` (``π0``) do without.  Broadcast against ``log_policy``.

        Raises
        ------
        ValueError
            An EMA rate strictly inside (0, 1) and no ``teacher_log_base``.
        """
        if not self._ema:
            rho = log_policy if self._current_teacher else log_base
        elif teacher_log_base is not None:
            rho = teacher_log_base
        else:
            tau = self.teacher_base.tau
            if isinstance(tau, np.ndarray) or tau not in (0.0, 1.0):
                raise ValueError(
                    f"teacher_base=EMA({chk.describe(tau)}) needs teacher_log_base (the EMA teacher's base) "
                    "in velocity; modesim.flow integrates it as a second state"
                )
            rho = log_policy if tau == 0.0 else log_base
        return np.broadcast_to(rho, np.broadcast_shapes(np.shape(rho), np.shape(log_policy)))

    def reference_log(self, state_log_policy: np.ndarray, task) -> np.ndarray:
        """The KL reference ``π_ref``: the base ``π0`` or the current policy."""
        return task.log_base if self._base_reference else state_log_policy

    def _shell_advance(self, state: State, new: np.ndarray, task, **changes) -> State:
        """The next state with policy ``new``; an EMA teacher moves toward it."""
        if self._ema:
            changes["teacher_log_base"] = self._normalise(
                geometric_mix(new, state.teacher_log_base, self.teacher_base.tau), task
            )
        return state.advance(new, **changes)

    def _shell_capabilities(self) -> frozenset:
        return frozenset() if self._ema else frozenset({"memoryless"})


def relaxation(target: np.ndarray, log_policy: np.ndarray) -> np.ndarray:
    """``g = log π* − log π`` with 0 where ``π = 0``: the velocity toward a round's optimum.

    A mode at zero stays at zero.  A target of zero for a mode the policy still holds
    would need an infinite velocity; that flow does not exist and is reported.
    """
    alive = np.isfinite(log_policy)
    if np.any(alive & np.isneginf(target)):
        raise ValueError(
            "the round's target gives zero probability to a mode the policy still holds; "
            "its continuous-time flow is undefined (use iterate for this rule)"
        )
    return np.where(alive, target - np.where(alive, log_policy, 0.0), 0.0)


def normalise_checked(g: np.ndarray, what: str) -> np.ndarray:
    """:func:`~modesim.simplex.log_normalise` of a round's unnormalised target, in place when
    ``g`` owns its data; a row with no positive entry is an error (``what`` says why).

    The shift by the row maximum is applied in place, so a round costs no full-size
    temporary beyond ``g`` (the exponentials are summed in blocks for large rows).
    """
    if not (g.flags.writeable and g.flags.owndata):
        g = np.array(g, dtype=np.float64)
    m = g.max(axis=-1, keepdims=True)
    if not (math.isfinite(m.item()) if m.size == 1 else np.isfinite(m).all()):
        dead = ~np.isfinite(m[..., 0])
        raise ValueError(f"{what}{chk.at_index(dead)}")
    g -= m
    g -= np.log(_exp_sum_blocks(g))
    return np.minimum(g, 0.0, out=g)
