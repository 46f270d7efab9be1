"""Finite-sample on-policy self-distillation with sampled demonstrations (theory §3.1, §3.6).

:class:`SampledSD` is the stochastic counterpart of :class:`modesim.SelfDistillation`: the
same options (teacher, demonstrations, β, teacher base, KL reference) held by the shared
shell :class:`modesim.rule.SDShell`, with a sampled-gradient kernel instead of an exact
target.  Teachers are used only through the teacher protocol (``log_prob``,
``weighted_log_rows``, ``expected_log``, ``n_demos``; :class:`modesim.Teacher`), so a
user's own teacher runs the same code as the built-in ones, with its own kernels.
"""

from __future__ import annotations

from dataclasses import InitVar, dataclass, field

import numpy as np

from .. import _checks as chk
from .._compat import renamed_keyword
from ..rule import EMA, SDShell, State
from ..simplex import log_conditional, log_mass
from ..task import Task
from ..teachers import CopyTeacher
from .rl import _full
from .sampling import (
    all_true,
    centred_grad,
    entry_keys,
    inverse_cdf,
    kl_logit_grad,
    normalise_rows,
    root_key,
    round_uniforms,
    row_sum,
    score_mean,
    take,
)

__all__ = ["SampledSD", "group_demos"]

_TEACHER_METHODS = ("log_prob", "weighted_log_rows", "expected_log")


def _any_nonzero(x) -> bool:
    return bool(np.any(x != 0.0)) if isinstance(x, np.ndarray) else x != 0.0


def _check_support(zero: np.ndarray) -> None:
    if np.any(zero):
        raise ValueError(
            "the teacher gives zero probability to a mode the student samples or holds: "
            "KL(π‖T) is infinite (allowed: teachers with T(y|d) > 0 wherever π(y) > 0)"
        )


def group_demos(y: np.ndarray, correct: np.ndarray, u: np.ndarray,
                exclude_self: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Demonstrations drawn from a group's correct rollouts (theory §3.6).

    ``y``, ``correct``: (…, N) rollouts and whether each is correct; ``u``: (…, N, m)
    uniforms in [0, 1).  Returns ``demos`` (…, N, m), ``y`` at positions drawn uniformly
    with replacement from the correct rollouts other than n (``exclude_self``) or all of
    them, and ``has`` (…, N): rollout n had at least one eligible demonstration.  Pass
    ``y = arange(N)`` to get the positions themselves.  Each row uses its own entries only.
    """
    exclude = exclude_self
    n = y.shape[-1]
    correct = np.asarray(correct, dtype=bool)
    small = np.uint8 if n < 256 else np.int64
    rank = np.cumsum(correct.view(np.uint8), axis=-1, dtype=small)  # correct rollouts up to n
    eligible = rank[..., -1:] - correct if exclude else np.broadcast_to(rank[..., -1:], rank.shape)
    has = eligible > 0
    # j-th eligible (0-based), uniform: ⌊u·e⌋ ≤ e − 1 for u < 1 (the product rounds below
    # e), and 0 when e = 0 (those rollouts get no signal; any index will do).
    j = (u * eligible[..., None]).astype(np.int64)
    if exclude:
        # Skip rollout n itself: the j-th other correct one is the (j+1)-th overall
        # once j reaches the number of correct rollouts before n.
        j += correct[..., None] & (j >= (rank - correct)[..., None])
    # position[..., r] = position of the r-th (0-based) correct rollout: each correct
    # rollout writes its position into slot rank − 1; incorrect ones into a spare slot.
    batch = y.shape[:-1]
    B = int(np.prod(batch, dtype=np.int64))
    rows = (np.arange(B, dtype=np.int64) * (n + 1)).reshape(batch + (1,))
    dest = np.where(correct, rows + rank - 1, rows + n)
    position = np.zeros(B * (n + 1), dtype=np.int64)
    position[dest.reshape(-1)] = np.broadcast_to(np.arange(n, dtype=np.int64), dest.shape).reshape(-1)
    pick = take(position.reshape(batch + (n + 1,)), j.reshape(batch + (-1,))).reshape(j.shape)
    return take(y, pick.reshape(batch + (-1,))).reshape(pick.shape), has


@dataclass(frozen=True, eq=False)
class SampledSD(SDShell):
    """Finite-sample on-policy self-distillation with sampled demonstrations (theory §3.1, §3.6).

    Per step and batch entry: N rollouts ``y_n ~ π_θ``; for each rollout n, ``m``
    demonstrations ``d_n`` (``m = teacher.n_demos``); the teacher ``T(·|d_n)`` built from
    its own (stop-gradient) base ``ρ`` (``teacher_base``); then
    ``θ ← θ − lr·(ĝ + β·∇_θ KL(π_θ‖π_ref))`` with the exact KL gradient, and an EMA teacher
    base moves toward the new student (``θ̄ ← τ·θ̄ + (1 − τ)·θ``,
    :func:`modesim.rule.geometric_mix`).  This is the training design reported in
    arXiv 2606.26091 (per-token reverse KL to a stop-gradient EMA teacher conditioned on a
    correct rollout of a group of N = 8; theory §3.1) on a tabular policy; the conventions
    of the public self-distillation trainers (SDPO, OPSD: a JSD objective, the loss
    averaged over the rollouts with a demonstration, Adam) are theory §8 and issue 12.

    Demonstrations (``demos``):

    - ``"group"``: drawn uniformly, with replacement, from the group's correct rollouts,
      excluding rollout n itself when ``exclude_self``.  A rollout with no eligible correct
      rollout gets no SD signal; ``state.silent_groups`` counts, per batch entry, the steps
      in which no rollout of the group had one (e.g. no correct rollout at all).
    - a demonstration source (:class:`~modesim.UniformDemos` for diverse external
      demonstrations, :class:`~modesim.FixedDemo`, :class:`~modesim.ExplicitDemos`,
      :class:`~modesim.ConditionedDemos` for ``ρ(·|C)``): ``d`` drawn from
      ``demos.distribution(log ρ, task)``; every rollout has a signal.

    Gradient of ``(1/N) Σ_n KL(π_θ ‖ T(·|d_n))`` (``estimator``):

    - ``"sampled"`` (per-token, on the student's own rollout; score function):
      ``ĝ = (1/N) Σ_n (log π(y_n) − log T(y_n|d_n) − b_n)·(e_{y_n} − π)``.
      ``baseline="none"``: ``b_n = 0``; ``"loo"``: ``b_n = mean_{k≠n} (log π(y_k) − log T(y_k|d_n))``,
      the same teacher row scored on the other rollouts.  Both are unbiased when ``d_n``
      does not depend on ``y_n`` (``exclude_self=True`` or an external source); with
      ``exclude_self=False`` a rollout can be its own demonstration and the estimate is
      biased toward copying.
    - ``"full"``: the exact ``∇_θ KL(π_θ‖T(·|d_n)) = π ⊙ (log π − log T_n − KL_n)`` for the
      sampled ``d_n`` (the rollouts only supply the demonstrations), summed through
      ``teacher.weighted_log_rows``.

    Parameters
    ----------
    teacher : Teacher
        :class:`~modesim.CopyTeacher` (default α = 0.5), :class:`~modesim.MultiDemoTeacher`,
        :class:`~modesim.TiltTeacher`, :class:`~modesim.MatrixTeacher` or your own
        :class:`~modesim.Teacher` subclass.
    demos : "group" or demonstration source
    objective : {"reverse"}
        The per-token reverse KL of theory §3.1 (the JSD and forward-KL objectives of
        theory §8.1 are planned).
    beta : float or array >= 0
        Strength of the KL term to the reference.
    teacher_base : {"current", "frozen"} or EMA
        The teacher's own base ``ρ``: the current student, the frozen ``π0``, or an
        :class:`~modesim.EMA` of the student's logits (public trainers: ``EMA(0.95)``).
    reference : {"base", "current"}
        KL reference: ``π0``, or the current policy (whose KL gradient vanishes at the
        current point, so it has no effect on a single SGD step).
    exclude_self : bool
    estimator : {"sampled", "full"}
    baseline : {"none", "loo"}
        Only for ``estimator="sampled"``.
    n_rollouts : int >= 1 (>= 2 for group demonstrations with ``exclude_self``, or "loo")
    lr : float or array > 0
    seed : None, int >= 0 or numpy.random.Generator
    tau : deprecated
        The old EMA rate: ``tau=0`` is ``teacher_base="current"``, ``tau=1`` is
        ``"frozen"``, otherwise ``EMA(tau)``.

    Notes
    -----
    Capabilities: ``estimate`` and, where a closed form exists, ``velocity`` (not for
    several demonstrations drawn from one finite group, nor for the self-including sampled
    estimator).  Never ``deterministic``, never ``memoryless`` (random key, round counter
    and possibly an EMA teacher in the state): fixed points and map Jacobians refuse it.
    Randomness and batching follow :mod:`modesim.sampled.sampling`.

    Examples
    --------
    >>> import modesim as ms
    >>> rule = ms.SampledSD(ms.CopyTeacher(0.5), teacher_base=ms.EMA(0.95), seed=0)
    >>> traj = ms.train(rule, ms.make_task([0.6, 0.3, 0.1]), 20, n_seeds=4)
    >>> traj.policy.shape
    (21, 4, 3)
    """

    teacher: object = field(default_factory=lambda: CopyTeacher(0.5))
    demos: object = "group"
    objective: str = "reverse"
    beta: float = 0.0
    teacher_base: str | EMA = "current"
    reference: str = "base"
    exclude_self: bool = True
    estimator: str = "sampled"
    baseline: str = "none"
    n_rollouts: int = 8
    lr: float = 0.1
    seed: object = None
    tau: InitVar[float | None] = None

    OBJECTIVES = ("reverse",)

    def __post_init__(self, tau):
        if tau is not None:
            t = chk.real(tau, "tau", low=0.0, high=1.0)
            renamed_keyword("SampledSD", "tau", "teacher_base", t, self.teacher_base, "current")
            if isinstance(t, float) and t in (0.0, 1.0):
                base = "current" if t == 0.0 else "frozen"
            else:
                base = EMA(t)
            object.__setattr__(self, "teacher_base", base)
        self._check_shell()
        chk.choice(self.estimator, "estimator", ("sampled", "full"))
        chk.choice(self.baseline, "baseline", ("none", "loo"))
        if self.baseline == "loo" and self.estimator != "sampled":
            raise ValueError("baseline='loo' applies to estimator='sampled' only; got estimator='full'")
        group = isinstance(self.demos, str)
        if group:
            chk.choice(self.demos, "demos", ("group",))
        elif not callable(getattr(self.demos, "distribution", None)):
            raise ValueError(
                "demos must be 'group' or a demonstration source (UniformDemos(), FixedDemo(mode), "
                f"ExplicitDemos(probs), ConditionedDemos()); got {chk.describe(self.demos)}"
            )
        for method in _TEACHER_METHODS:
            if not callable(getattr(self.teacher, method, None)):
                raise ValueError(
                    "teacher must be a modesim Teacher (subclass modesim.Teacher and define "
                    f"log_matrix); got {chk.describe(self.teacher)}, which has no {method}()"
                )
        chk.integer(getattr(self.teacher, "n_demos", None), "teacher.n_demos", low=1)
        object.__setattr__(self, "exclude_self", chk.boolean(self.exclude_self, "exclude_self"))
        low = 2 if (self.baseline == "loo" or (group and self.exclude_self)) else 1
        object.__setattr__(self, "n_rollouts", chk.integer(self.n_rollouts, "n_rollouts", low=low))
        object.__setattr__(self, "lr", chk.real(self.lr, "lr", low=0.0, low_open=True))
        object.__setattr__(self, "seed", chk.seed(self.seed))

    # ----------------------------------------------------------- protocol

    @property
    def _group(self) -> bool:
        return isinstance(self.demos, str)

    @property
    def n_demos(self) -> int:
        """Demonstrations in the teacher's context (``m = teacher.n_demos``)."""
        return int(self.teacher.n_demos)

    @property
    def _closed_form(self) -> str | None:
        """Why the mean field has no closed form (None when it has one)."""
        if self._group and self.n_demos > 1:
            return (f"a teacher with m={self.n_demos} demonstrations drawn from a finite group has "
                    "no closed-form mean field (they repeat; allowed: m = 1, or an external "
                    "demonstration source)")
        if self._group and not self.exclude_self and self.estimator == "sampled":
            return ("exclude_self=False with estimator='sampled' is biased (a rollout can be its "
                    "own demonstration); its mean field has no closed form (allowed: "
                    "exclude_self=True or estimator='full')")
        return None

    @property
    def capabilities(self) -> frozenset:
        if self._closed_form is not None:
            return frozenset({"estimate"})
        return frozenset({"estimate", "velocity"})

    @property
    def param_shape(self) -> tuple[int, ...]:
        """Broadcast shape of the array-valued parameters (rule, EMA, teacher, demonstrations)."""
        return np.broadcast_shapes(
            chk.param_shape(self.lr, *self._shell_params()),
            getattr(self.teacher, "param_shape", ()),
            getattr(self.demos, "param_shape", ()),
        )

    def _normalise(self, x: np.ndarray, task: Task) -> np.ndarray:
        return normalise_rows(np.array(x, dtype=np.float64))

    def init(self, task: Task, *, offset=()) -> State:
        """Round 0: base policy, teacher base, one random key per batch entry, zero silent groups.

        ``offset`` places this task inside a larger one (see
        :mod:`modesim.sampled.sampling`, point 3).
        """
        if not self._group:
            self.demos.check(task)
        batch = chk.broadcast_batch(task.batch_shape, self.param_shape, type(self).__name__)
        keys = entry_keys(root_key(self.seed), task.batch_shape, offset)
        state = self._shell_init(np.broadcast_to(task.log_base, batch + (task.n_modes,)))
        return state._replace(
            rng_key=np.broadcast_to(keys, batch), silent_groups=np.zeros(batch, dtype=np.int64)
        )

    # ----------------------------------------------------------- sampling

    def draws(self, state: State, n: int) -> np.ndarray:
        """The round's ``n`` uniforms per batch entry, shape ``(..., n)``: the entry's own stream
        at ``state.round`` (:func:`~modesim.sampled.sampling.round_uniforms`).  The first N
        pick the rollouts, the next N·m the demonstrations."""
        return round_uniforms(state.rng_key, state.round, n)

    def group_demos(self, y: np.ndarray, correct: np.ndarray, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Demonstrations from the group's correct rollouts.

        ``y``, ``correct``: (…, N) rollouts and whether each is correct; ``u``: (…, N, m)
        uniforms.  Returns ``demos`` (…, N, m), drawn uniformly with replacement from the
        correct rollouts other than n (``exclude_self``) or all of them, and ``has``
        (…, N): rollout n had at least one eligible demonstration.
        """
        return group_demos(y, correct, u, self.exclude_self)

    def estimate(self, state: State, task: Task) -> tuple[np.ndarray, np.ndarray]:
        """One stochastic descent direction and which groups had no SD signal.

        Returns
        -------
        direction : ndarray, shape (..., K)
            ``−(ĝ + β·∇KL)``; the step is ``θ ← θ + lr·direction``.
        silent : ndarray of bool, shape (...)
            True where no rollout had a demonstration.
        """
        lp = state.log_policy
        rho = np.broadcast_to(self.teacher_log_base(state, task), lp.shape)
        n, m = self.n_rollouts, self.n_demos
        u = self.draws(state, n * (1 + m))
        pi = np.exp(lp)
        y = inverse_cdf(pi, u[..., :n])
        u_demo = u[..., n:].reshape(y.shape + (m,))
        if self._group:
            demos, has = self.group_demos(y, take(task.valid, y), u_demo)
        else:
            dist = np.broadcast_to(self.demos.distribution(rho, task), lp.shape)
            demos = inverse_cdf(dist, u[..., n:]).reshape(y.shape + (m,))
            has = np.ones(y.shape, dtype=bool)
        if self.estimator == "sampled":
            log_t = self.teacher.log_prob(rho, demos, y)
            _check_support((log_t == -np.inf) & has)
            lp_y = take(lp, y)
            excess = lp_y - log_t
            if self.baseline == "loo":
                # cross[n, k] = log π(y_k) − log T(y_k | d_n): teacher row n scored on every rollout.
                shape = y.shape + (n,)
                dd = np.broadcast_to(demos[..., :, None, :], shape + (m,)).reshape(y.shape[:-1] + (n * n, m))
                yy = np.broadcast_to(y[..., None, :], shape).reshape(y.shape[:-1] + (n * n,))
                cross_t = self.teacher.log_prob(rho, dd, yy).reshape(shape)
                _check_support((cross_t == -np.inf) & has[..., None])
                cross = lp_y[..., None, :] - cross_t
                excess -= (row_sum(cross)[..., 0] - excess) / (n - 1)
            grad = score_mean(y, np.where(has, excess, 0.0), pi)
            ref = self.reference_log(lp, task)
            if _any_nonzero(self.beta) and ref is not lp:  # KL(π‖π) has zero gradient at π
                grad += chk.col(self.beta) * kl_logit_grad(lp, ref, pi)
        else:
            w = has / n
            frac = row_sum(w)
            summed = self.teacher.weighted_log_rows(rho, demos, w)
            _check_support((summed == -np.inf) & (lp > -np.inf))
            # Σ_n w_n ∇KL(π‖T_n) + β ∇KL(π‖π_ref) as one centred gradient (linear in log π − log q):
            # the log-space direction is frac·log π − Σ_n w_n log T_n + β (log π − log π_ref).
            with np.errstate(invalid="ignore"):
                d = frac * lp
                d -= summed
                ref = self.reference_log(lp, task)
                if _any_nonzero(self.beta) and ref is not lp:
                    d += chk.col(self.beta) * (lp - ref)
            grad = centred_grad(d, lp, pi)
        np.negative(grad, out=grad)
        return grad, all_true(~has)

    def step(self, state: State, task: Task) -> State:
        direction, silent = self.estimate(state, task)
        direction *= chk.col(self.lr)
        direction += state.log_policy
        new = normalise_rows(direction)
        return self._shell_advance(state, new, task, silent_groups=state.silent_groups + silent)

    def velocity(self, log_policy: np.ndarray, task: Task, *, teacher_log_base=None) -> np.ndarray:
        """Expected logit update per step, ``lr·E[direction]``: the mean field (theory §3.6, §6).

        ``E ĝ = P_N(J)·π ⊙ (log π − G − Σ π (log π − G))`` with ``G = E_{d~D} log T(·|d)``
        (``teacher.expected_log``), ``D = π(·|C)`` for group demonstrations (the student's
        own correct rollouts) or the source's distribution, and ``P_N(J)`` the chance that
        a rollout has a demonstration: ``1 − (1 − J)^{N−1}`` (``exclude_self``),
        ``1 − (1 − J)^N`` (``estimator="full"`` without exclusion), 1 for external sources;
        ``(1 − J)^r`` is ``exp(r·log(1 − J))`` with ``1 − J`` the invalid mass summed
        directly (exactly 0 when every mode is valid).  Given that event the demonstration
        is independent of the scored rollout and distributed as ``D``, so both estimators
        are unbiased for this.  This is a Euclidean gradient flow on the logits, not the
        natural-gradient flow of :class:`~modesim.SelfDistillation` (theory §6, "Euclidean
        versus natural-gradient self-distillation").

        ``teacher_log_base`` is needed with an :class:`~modesim.EMA` teacher base (the EMA
        state; :func:`modesim.flow` supplies it) unless τ is 0 or 1.

        Raises
        ------
        ValueError
            Where the mean field has no closed form (see :attr:`capabilities`), or an EMA
            teacher base without ``teacher_log_base``.
        """
        why = self._closed_form
        if why is not None:
            raise ValueError(why)
        lp = np.asarray(log_policy, dtype=np.float64)
        if self._ema:
            tau = self.teacher_base.tau
            if teacher_log_base is not None:
                rho = teacher_log_base
            elif not isinstance(tau, np.ndarray) and tau in (0.0, 1.0):
                rho = lp if tau == 0.0 else task.log_base
            else:
                raise ValueError(
                    f"teacher_base=EMA({chk.describe(tau)}) needs teacher_log_base (the EMA teacher's "
                    "base) in velocity; modesim.flow integrates it as a second state"
                )
        else:
            rho = lp if self.teacher_base == "current" else task.log_base
        rho = np.broadcast_to(rho, np.broadcast_shapes(np.shape(rho), lp.shape))
        if self._group:
            demo = np.exp(log_conditional(lp, task.valid, name="policy"))
            reach = self.n_rollouts - 1 if self.exclude_self else self.n_rollouts
            chance = -np.expm1(reach * log_mass(lp, ~task.valid))[..., None]
        else:
            demo = self.demos.distribution(rho, task)
            chance = 1.0
        g = chance * kl_logit_grad(lp, self.teacher.expected_log(rho, demo))
        ref = self.reference_log(lp, task)
        if _any_nonzero(self.beta) and ref is not lp:
            g = g + chk.col(self.beta) * kl_logit_grad(lp, ref)
        return _full(-chk.col(self.lr) * g, lp, self.param_shape)

