"""Reinforcement learning: the ratio-preserving side (theory §2).

Closed forms
    :func:`kl_regularised_optimum` (theory §2.1) and its β → 0 :func:`filter_limit`.
Rules (see :mod:`modesim.rule` for the protocol)
    :class:`KLRegularisedRL` (round-wise KL-regularised optimum),
    :class:`NaturalPG` (mirror descent / natural policy gradient, theorem R3) and
    :class:`SoftmaxPG` (exact vanilla policy gradient on logits, R4).

Every real parameter (β, the learning rate) may be an array broadcasting against the
task's batch axes (theory §1).
"""

from __future__ import annotations

from dataclasses import InitVar, dataclass

import numpy as np

from . import _checks as chk
from ._compat import renamed_keyword
from .rule import State, relaxation
from .simplex import log_mass, log_normalise
from .task import Task

__all__ = ["kl_regularised_optimum", "filter_limit", "KLRegularisedRL", "NaturalPG", "SoftmaxPG"]

_RL_CAPS = frozenset({"deterministic", "memoryless", "velocity"})


@dataclass(frozen=True)
class LearningRateRule:
    """The preamble of the rules whose one parameter is a learning rate ``lr`` (theory §2.2).

    Holds ``lr`` (validated as a real number or array > 0; ``eta`` is its deprecated name),
    ``param_shape`` and the capabilities of a deterministic, memoryless rule with a velocity
    (a subclass without a velocity overrides ``capabilities``).  Not a rule by itself.

    Raises
    ------
    ValueError
        ``lr`` not a real number (or array) > 0; both ``eta`` and ``lr`` given.
    """

    lr: float = 1.0
    eta: InitVar[float | None] = None

    capabilities = _RL_CAPS

    def __post_init__(self, eta):
        lr = renamed_keyword(type(self).__name__, "eta", "lr", eta, self.lr, 1.0)
        object.__setattr__(self, "lr", chk.real(lr, "lr", low=0.0, low_open=True))

    @property
    def param_shape(self) -> tuple[int, ...]:
        return chk.param_shape(self.lr)


def _log_kl_optimum(log_ref: np.ndarray, valid: np.ndarray, beta) -> np.ndarray:
    # π* ∝ π_ref·exp(r/β) written as a penalty −(1 − r)/β on invalid modes: no overflow,
    # and β = 0 gives −inf there, i.e. the filter π_ref(·|C).
    with np.errstate(divide="ignore", over="ignore"):
        penalty = np.where(valid, 0.0, np.divide(-1.0, chk.col(beta)))
    return log_normalise(log_ref + penalty)


def _batch(rule, task: Task) -> np.ndarray:
    chk.task(task)
    batch = chk.broadcast_batch(task.batch_shape, rule.param_shape, type(rule).__name__)
    return np.broadcast_to(task.log_base, batch + (task.n_modes,))


def kl_regularised_optimum(task: Task, beta, *, log: bool = False) -> np.ndarray:
    """KL-regularised RL optimum ``π*_β(y) ∝ π0(y)·exp(r(y)/β)`` (theory §2.1).

    Maximises ``E_π[r] − β·KL(π‖π0)``.  Ratios among valid modes (and among invalid
    modes) equal the base ratios for every β > 0 (theorem R1); ``beta = 0`` gives the
    filter limit ``π0(·|C)`` (R2).  Source: the standard KL-regularised RL solution, as in
    Section 2 of arXiv 2606.26091 (the paper's "ideal RL").

    Parameters
    ----------
    task : Task
    beta : float or array >= 0
        Broadcasts against the task's batch axes.
    log : bool
        Return log-probabilities instead of probabilities.

    Returns
    -------
    ndarray, shape ``broadcast(task.batch_shape, beta.shape) + (K,)``
        Probabilities (log-probabilities with ``log=True``).

    Raises
    ------
    ValueError
        ``task`` not a :class:`~modesim.Task`; ``beta`` not a real number (or array) >= 0;
        a ``beta`` array that does not broadcast against the task's batch shape.

    Examples
    --------
    >>> import modesim as ms
    >>> ms.kl_regularised_optimum(ms.make_task([0.5, 0.3, 0.2], [1, 1, 0]), 1.0).round(3).tolist()
    [0.572, 0.343, 0.084]
    """
    log = chk.boolean(log, "log")
    chk.task(task)
    beta = chk.real(beta, "beta", low=0.0)
    batch = chk.broadcast_batch(task.batch_shape, chk.param_shape(beta), "kl_regularised_optimum")
    out = _log_kl_optimum(np.broadcast_to(task.log_base, batch + (task.n_modes,)), task.valid, beta)
    return out if log else np.exp(out)


def filter_limit(task: Task, *, log: bool = False) -> np.ndarray:
    """β → 0 limit of the KL-regularised optimum: ``π0(·|C)`` (theory §2.1, R2).

    ``π0(y)·1[y ∈ C]/π0(C)``, computed as the optimum's penalty form at β = 0 (``−inf`` on
    invalid modes, then normalised in log space).

    Parameters
    ----------
    task : Task
    log : bool
        Return log-probabilities instead of probabilities.

    Returns
    -------
    ndarray, shape ``task.batch_shape + (K,)``

    Raises
    ------
    ValueError
        ``task`` not a :class:`~modesim.Task`, or ``log`` not True or False.

    Examples
    --------
    >>> import modesim as ms
    >>> ms.filter_limit(ms.make_task([0.5, 0.3, 0.2], [1, 1, 0])).round(3).tolist()
    [0.625, 0.375, 0.0]
    """
    log = chk.boolean(log, "log")
    chk.task(task)
    out = _log_kl_optimum(task.log_base, task.valid, 0.0)
    return out if log else np.exp(out)


@dataclass(frozen=True)
class KLRegularisedRL:
    """Each round returns the KL-regularised optimum against a reference (theory §2.1–2.2).

    ``π_{t+1}(y) ∝ π_ref(y)·exp(r(y)/β)`` with ``π_ref = π0`` (``reference="base"``: the
    ideal RL optimum, reached in one round and then fixed) or ``π_ref = π_t``
    (``reference="current"``: a trust-region sequence, identical to :class:`NaturalPG`
    with ``lr = 1/β``).  ``beta = 0`` gives the filter limit.

    Parameters
    ----------
    beta : float or array >= 0
        KL strength (dimensionless, per unit of reward); an array is a grid.
    reference : {"base", "current"}

    Raises
    ------
    ValueError
        ``beta`` not a real number (or array) >= 0; an unknown ``reference``.  In
        :meth:`init`: a task that is not a :class:`~modesim.Task`, or a ``beta`` array that
        does not broadcast against its batch shape.  :meth:`velocity` at β = 0 while the
        policy holds an invalid mode (the filter's target is 0 there: no flow).

    Notes
    -----
    Source: the standard Gibbs solution of KL-regularised RL, the paper's "ideal RL"
    (arXiv 2606.26091; theory §2.1, R1, R2); the trust-region identity with
    :class:`NaturalPG` is R3 (theory §2.2).

    Examples
    --------
    >>> import modesim as ms
    >>> task = ms.make_task([0.5, 0.3, 0.2], [1, 1, 0])
    >>> ms.iterate(ms.KLRegularisedRL(1.0), task, 3).policy[-1].round(3).tolist()
    [0.572, 0.343, 0.084]
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

    def init(self, task: Task) -> State:
        return State(_batch(self, task))

    def _target(self, log_policy, task):
        ref = task.log_base if self.reference == "base" else log_policy
        return _log_kl_optimum(ref, task.valid, self.beta)

    def step(self, state: State, task: Task) -> State:
        return state.advance(self._target(state.log_policy, task))

    def velocity(self, log_policy: np.ndarray, task: Task, *, teacher_log_base=None) -> np.ndarray:
        """``g = log π*(π) − log π``: relaxation toward each round's optimum (theory §6).

        Shape (..., K) in and out.

        Raises
        ------
        ValueError
            When the target gives zero to a mode the policy holds (β = 0 and invalid mass).
        """
        return relaxation(self._target(log_policy, task), log_policy)


@dataclass(frozen=True)
class NaturalPG(LearningRateRule):
    """Natural policy gradient / mirror descent: ``π_{t+1} ∝ π_t·exp(lr·r)`` (theory §2.2).

    Each step is the KL-regularised optimum with reference ``π_t`` and ``β = 1/lr``, so
    ``π_t(·|C) = π0(·|C)`` for every t while ``π_t(C) → 1`` (theorem R3).
    Continuous time: ``d log π_i/dt = lr·(r_i − J)``, ``J = π(C)``.

    Parameters
    ----------
    lr : float or array > 0
        Learning rate (``eta`` is its deprecated name).

    Raises
    ------
    ValueError
        ``lr`` not a real number (or array) > 0; both ``eta`` and ``lr`` given.  In
        :meth:`init`: a task that is not a :class:`~modesim.Task`, or an ``lr`` array that
        does not broadcast against its batch shape.

    Notes
    -----
    Source: standard mirror-descent algebra (theory §2.2, R3).

    Examples
    --------
    >>> import modesim as ms
    >>> ms.iterate(ms.NaturalPG(1.0), ms.make_task([0.5, 0.3, 0.2], [1, 1, 0]), 1).policy[-1].round(3).tolist()
    [0.572, 0.343, 0.084]
    """

    def init(self, task: Task) -> State:
        return State(_batch(self, task))

    def step(self, state: State, task: Task) -> State:
        # −lr·(1 − r) rather than +lr·r keeps valid logits fixed; an invalid log-probability
        # pushed below −1.8e308 is −inf (probability 0), exactly, so that overflow is silenced.
        with np.errstate(over="ignore"):
            return state.advance(log_normalise(state.log_policy - chk.col(self.lr) * (~task.valid)))

    def velocity(self, log_policy: np.ndarray, task: Task, *, teacher_log_base=None) -> np.ndarray:
        return np.broadcast_to(chk.col(self.lr) * task.reward, np.shape(log_policy)).copy()


@dataclass(frozen=True)
class SoftmaxPG(LearningRateRule):
    """Vanilla softmax policy gradient with exact gradients (theory §2.2, R4).

    Logits ``θ`` with ``π = softmax(θ)`` and ``J = π(C)``; one step is
    ``θ_i ← θ_i + lr·π_i·(r_i − J)``.  Continuous time: ``dθ_i/dt = lr·π_i·(r_i − J)``.
    Not ratio preserving among valid modes: ``d/dt log(π_y/π_y') = lr·(π_y − π_y')(1 − J)``.
    The state stores normalised logits (``θ − logsumexp θ``), which give the same policy
    and gradient.

    Parameters
    ----------
    lr : float or array > 0
        Learning rate (``eta`` is its deprecated name).

    Raises
    ------
    ValueError
        ``lr`` not a real number (or array) > 0; both ``eta`` and ``lr`` given.  In
        :meth:`init`: a task that is not a :class:`~modesim.Task`, or an ``lr`` array that
        does not broadcast against its batch shape.

    Notes
    -----
    Source: the exact policy gradient of ``J = π(C)`` on softmax logits, the mean field of
    REINFORCE and RLOO (theory §2.3); the drift identity R4 is this project's.

    Examples
    --------
    One step changes ``log(π_0/π_1)`` by exactly ``lr·(π_0 − π_1)(1 − J)`` = 0.2·0.2:

    >>> import numpy as np
    >>> import modesim as ms
    >>> p = ms.iterate(ms.SoftmaxPG(1.0), ms.make_task([0.5, 0.3, 0.2], [1, 1, 0]), 1).policy[-1]
    >>> round(float(np.log(p[0] / p[1]) - np.log(0.5 / 0.3)), 12)
    0.04
    """

    def init(self, task: Task) -> State:
        return State(_batch(self, task))

    def step(self, state: State, task: Task) -> State:
        lp = state.log_policy
        return state.advance(log_normalise(lp + self.velocity(lp, task)))

    def velocity(self, log_policy: np.ndarray, task: Task, *, teacher_log_base=None) -> np.ndarray:
        pi = np.exp(log_policy)
        J = np.exp(log_mass(log_policy, task.valid))[..., None]
        return chk.col(self.lr) * pi * (task.reward - J)
