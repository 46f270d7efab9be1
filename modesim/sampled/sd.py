"""Finite-sample on-policy self-distillation with sampled demonstrations (theory §3.1, §3.6, §8).

:class:`SampledSD` is the stochastic counterpart of :class:`modesim.SelfDistillation`: the
same options (teacher, demonstrations, β, teacher base, KL reference) held by the shared
shell :class:`modesim.rule.SDShell`, with a sampled-gradient kernel instead of an exact
target.  Teachers are used only through the teacher protocol (``log_prob``,
``weighted_log_rows``, ``expected_log``, ``log_mixture``, ``log_matrix``, ``n_demos``;
:class:`modesim.Teacher`), so a user's own teacher runs the same code as the built-in ones,
with its own kernels.  The objectives' per-token gradients are :mod:`.objectives`; the
trainers' conventions (loss normalisation, shared demonstrations, KL estimators,
optimisers) theory §8.2 and :mod:`.presets`.
"""

from __future__ import annotations

from dataclasses import InitVar, dataclass, field

import numpy as np

from .. import _checks as chk
from .._compat import renamed_keyword
from ..rule import EMA, SDShell, State
from ..simplex import log_conditional, log_mass
from ..task import Task
from ..teachers import CopyTeacher, scatter_add
from .conventions import KL_ESTIMATORS, kl_penalty_grad, kl_penalty_mean, kl_penalty_weights
from .objectives import (
    OBJECTIVES,
    centred,
    check_support,
    expected_weighted_excess,
    full_gradient,
    token_excess,
)
from .optim import SGD, check_kl_step, checked_step
from .optim import optimiser as _optimiser
from .rl import check_decay, run_shaped
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
NORMALISATIONS = ("all", "demonstrated")
SHARINGS = ("per_rollout", "per_group")


def _any_nonzero(x) -> bool:
    return bool(np.any(x != 0.0)) if isinstance(x, np.ndarray) else x != 0.0


def _check_support(zero: np.ndarray) -> None:
    check_support(zero)


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
    """Finite-sample on-policy self-distillation with sampled demonstrations (theory §3.1, §3.6, §8).

    Per step and batch entry: N rollouts ``y_n ~ π_θ``; for each rollout n, ``m``
    demonstrations ``d_n`` (``m = teacher.n_demos``); the teacher ``T(·|d_n)`` built from
    its own (stop-gradient) base ``ρ`` (``teacher_base``); the descent direction
    ``−(ĝ + β·∇KL(π_θ‖π_ref))`` goes to the optimiser (SGD: ``θ ← θ − lr·(ĝ + β·∇KL)``);
    an EMA teacher base then moves toward the new student (``θ̄ ← τ·θ̄ + (1 − τ)·θ``,
    :func:`modesim.rule.geometric_mix`).  This is the training design reported in
    arXiv 2606.26091 (per-token reverse KL to a stop-gradient EMA teacher conditioned on a
    correct rollout of a group of N = 8; theory §3.1) on a tabular policy.  A public
    trainer's defaults in one line: :meth:`preset` (``SampledSD.preset("sdpo")``,
    ``"trl-sdpo"``, ``"opsd"``; :mod:`modesim.sampled.presets`).

    Demonstrations (``demos``, ``demo_sharing``):

    - ``"group"``: from the group's correct rollouts, excluding rollout n itself when
      ``exclude_self``.  ``demo_sharing="per_rollout"``: each rollout draws its own,
      uniformly with replacement from the eligible ones.  ``demo_sharing="per_group"`` (SDPO,
      TRL's SDPO): one per group, the group's first correct rollout in sampling order, given
      to every other rollout; that rollout itself gets the second correct one (with
      ``exclude_self``).  Rollouts are exchangeable, so the first correct rollout is a
      uniformly random one.  A rollout with no eligible correct rollout gets no SD signal;
      ``state.silent_groups`` counts, per batch entry, the steps in which no rollout had one.
    - a demonstration source (:class:`~modesim.UniformDemos` for diverse external
      demonstrations, :class:`~modesim.FixedDemo`, :class:`~modesim.ExplicitDemos`,
      :class:`~modesim.ConditionedDemos` for ``ρ(·|C)``): ``d`` drawn from
      ``demos.distribution(log ρ, task)``, per rollout or once per group; every rollout has
      a signal.

    Objectives (``objective``, ``jsd_weight`` = λ; :mod:`.objectives`, theory §8.1): the
    reverse KL ``KL(π‖T)``, the forward KL ``KL(T‖π)``, or the generalised Jensen–Shannon
    divergence ``λ·KL(T‖M) + (1 − λ)·KL(π‖M)``, ``M = λT + (1 − λ)π`` (TRL's GKD, SDPO and
    OPSD convention; λ = 1 is the reverse and λ = 0 the forward KL, special-cased as the
    trainers do).  With the excess ``e(y)`` of mode y (``log π − log T``, ``−T/π``,
    ``(1 − λ)(log π − log M)``), the gradient of the group's loss is estimated

    - ``"sampled"`` (per-token, on the student's own rollout; score function):
      ``ĝ = Σ_n c_n (e_n(y_n) − b_n)·(e_{y_n} − π)``.  ``baseline="none"``: ``b_n = 0``;
      ``"loo"``: ``b_n = mean_{k≠n} e_n(y_k)``, the same teacher row scored on the other
      rollouts.  Unbiased when ``d_n`` does not depend on ``y_n`` (``exclude_self=True`` or
      an external source); with ``exclude_self=False`` a rollout can be its own
      demonstration and the estimate is biased toward copying.  With group demonstrations
      and ``loss_normalisation="demonstrated"`` the LOO baseline is not mean-zero either
      (the weight ``1/H`` depends on whether the scored rollout is correct).
    - ``"full"``: the exact per-row gradient ``Σ_n c_n π ⊙ (e_n − Σ π e_n)`` for the sampled
      ``d_n`` (the rollouts only supply the demonstrations; the trainers' full-logit mode).

    ``c_n`` is ``1/N`` for every rollout with a demonstration (``loss_normalisation="all"``:
    the mean over the N rollouts, TRL's SDPO and today's modesim) or ``1/H`` with H the
    number of rollouts of the group that have one (``"demonstrated"``: lasgroup/SDPO's
    token-mean over the self-distillation mask); 0 otherwise.  Token-level versus
    sequence-level averaging is moot for categorical modes (one token per rollout).

    Parameters
    ----------
    teacher : Teacher
        :class:`~modesim.CopyTeacher` (default α = 0.5), :class:`~modesim.MultiDemoTeacher`,
        :class:`~modesim.TiltTeacher`, :class:`~modesim.MatrixTeacher` or your own
        :class:`~modesim.Teacher` subclass.
    demos : "group" or demonstration source
    objective : {"reverse", "forward", "jsd"}
    beta : float or array >= 0
        Strength of the KL term to the reference.
    teacher_base : {"current", "frozen"} or EMA
        The teacher's own base ``ρ``: the current student, the frozen ``π0``, or an
        :class:`~modesim.EMA` of the student's logits (public trainers: ``EMA(0.95)``).
    reference : {"base", "current"}
        KL reference: ``π0``, or the current policy (whose KL gradient vanishes at the
        current point except for the k1 estimator's noise).
    exclude_self : bool
    estimator : {"sampled", "full"}
    baseline : {"none", "loo"}
        Only for ``estimator="sampled"``.
    n_rollouts : int >= 1 (>= 2 for group demonstrations with ``exclude_self``, or "loo")
    lr : float or array > 0
    seed : None, int >= 0 or numpy.random.Generator
    jsd_weight : float or array in [0, 1], or None
        λ of ``objective="jsd"`` (None: 0.5, the SDPO and OPSD default); refused with
        another objective.
    loss_normalisation : {"all", "demonstrated"}
    demo_sharing : {"per_rollout", "per_group"}
        ``"per_group"`` with group demonstrations needs ``teacher.n_demos == 1``.
    kl_estimator : {"exact", "k1", "k2", "k3", "k3_clamped", "k3_is"}
        How the β term's gradient is formed (:mod:`modesim.sampled.conventions`); sampled
        estimators average over all N rollouts.
    optimiser : SGD, Adam, "sgd" or "adam"
        :mod:`modesim.sampled.optim`.
    tau : deprecated
        The old EMA rate: ``tau=0`` is ``teacher_base="current"``, ``tau=1`` is
        ``"frozen"``, otherwise ``EMA(tau)``.

    Notes
    -----
    Capabilities: ``estimate`` and, where a closed form exists, ``velocity`` (not for
    several demonstrations drawn from one finite group, nor for the self-including sampled
    estimator, nor with Adam or clipping).  Never ``deterministic``, never ``memoryless``
    (random key, round counter and possibly an EMA teacher or optimiser moments in the
    state): fixed points and map Jacobians refuse it.  Randomness and batching follow
    :mod:`modesim.sampled.sampling`; every option keeps the chunking contract (each batch
    entry's step reads only its own row).

    Raises
    ------
    ValueError
        Naming the argument for an unknown option or out-of-range value; ``jsd_weight``
        with an objective other than "jsd"; ``demo_sharing="per_group"`` with several group
        demonstrations; ``lr·weight_decay >= 1``.  During a run: a teacher without support
        where the objective needs it (reverse KL: ``T = 0`` where π > 0; forward KL:
        ``T > 0`` where π = 0).

    Examples
    --------
    >>> import modesim as ms
    >>> rule = ms.SampledSD(ms.CopyTeacher(0.5), teacher_base=ms.EMA(0.95), seed=0)
    >>> traj = ms.train(rule, ms.make_task([0.6, 0.3, 0.1]), 20, n_seeds=4)
    >>> traj.policy.shape
    (21, 4, 3)

    The JSD (λ = 0.5) pulls the same way as the reverse KL, about 6.6 times more weakly here
    (mean fields at the base, every mode valid, copy teacher on the current policy):

    >>> task = ms.make_task([0.6, 0.3, 0.1])
    >>> ms.SampledSD(objective="jsd", estimator="full").velocity(task.log_base, task).round(5).tolist()
    [0.00072, -0.00025, -0.00047]
    >>> ms.SampledSD(estimator="full").velocity(task.log_base, task).round(5).tolist()
    [0.00477, -0.00207, -0.00269]
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
    jsd_weight: float | None = None
    loss_normalisation: str = "all"
    demo_sharing: str = "per_rollout"
    kl_estimator: str = "exact"
    optimiser: object = field(default_factory=SGD)

    OBJECTIVES = OBJECTIVES

    def __post_init__(self, tau):
        if tau is not None:
            t = chk.real(tau, "tau", low=0.0, high=1.0)
            renamed_keyword("SampledSD", "tau", "teacher_base", t, self.teacher_base, "current")
            if isinstance(t, float) and t in (0.0, 1.0):
                base = "current" if t == 0.0 else "frozen"
            else:
                base = EMA(t)
            object.__setattr__(self, "teacher_base", base)
        self._check_shell()  # objective, jsd_weight (TRL's range [0, 1]), beta, teacher base, reference
        chk.choice(self.estimator, "estimator", ("sampled", "full"))
        chk.choice(self.baseline, "baseline", ("none", "loo"))
        if self.baseline == "loo" and self.estimator != "sampled":
            raise ValueError("baseline='loo' applies to estimator='sampled' only; got estimator='full'")
        group = isinstance(self.demos, str)
        if group:
            if self.demos != "group":
                raise ValueError(
                    "demos must be 'group' (the group's own correct rollouts) or a demonstration source "
                    f"(UniformDemos(), FixedDemo(mode), ExplicitDemos(probs), ConditionedDemos()); got {self.demos!r}"
                )
        else:
            chk.implements(self.demos, "demos", ("distribution",), "'group' or a demonstration source "
                           "(UniformDemos(), FixedDemo(mode), ExplicitDemos(probs), ConditionedDemos())")
        chk.implements(self.teacher, "teacher", _TEACHER_METHODS,
                       "a modesim Teacher (subclass modesim.Teacher and define log_matrix)")
        chk.integer(getattr(self.teacher, "n_demos", None), "teacher.n_demos", low=1)
        object.__setattr__(self, "exclude_self", chk.boolean(self.exclude_self, "exclude_self"))
        low = 2 if (self.baseline == "loo" or (group and self.exclude_self)) else 1
        object.__setattr__(self, "n_rollouts", chk.integer(self.n_rollouts, "n_rollouts", low=low))
        object.__setattr__(self, "lr", chk.real(self.lr, "lr", low=0.0, low_open=True))
        object.__setattr__(self, "seed", chk.seed(self.seed))
        chk.choice(self.loss_normalisation, "loss_normalisation", NORMALISATIONS)
        chk.choice(self.demo_sharing, "demo_sharing", SHARINGS)
        if group and self.demo_sharing == "per_group" and self.n_demos > 1:
            raise ValueError(
                f"demo_sharing='per_group' with group demonstrations gives each rollout one demonstration "
                f"(the group's first correct rollout); teacher.n_demos={self.n_demos} (allowed: a teacher "
                "with n_demos=1, demo_sharing='per_rollout', or an external demonstration source)"
            )
        chk.choice(self.kl_estimator, "kl_estimator", KL_ESTIMATORS)
        object.__setattr__(self, "optimiser", _optimiser(self.optimiser))
        self._check_own()
        # Checks across parameters come last, after every argument was checked on its own.
        check_decay(self.lr, self.optimiser)
        if self.reference == "base":  # a KL to the current policy has no gradient to overshoot
            check_kl_step(self.lr, self.beta, self.optimiser)

    def _check_own(self) -> None:
        """A subclass's checks of its own fields (run before the cross-parameter checks)."""

    @classmethod
    def preset(cls, name: str, **overrides) -> SampledSD:
        """A public self-distillation trainer's defaults, e.g. ``SampledSD.preset("sdpo", seed=0)``.

        ``name`` is one of :data:`modesim.sampled.presets.SD_PRESETS` (``"sdpo"``,
        ``"trl-sdpo"``, ``"opsd"``); every field can be overridden.  What each preset sets and
        which version of the trainer it follows: :mod:`modesim.sampled.presets` (theory §8.2).
        """
        from .presets import make

        return make(cls, name, overrides)

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
        if self.objective == "jsd" and self.n_demos > 1:
            return (f"objective='jsd' with m={self.n_demos} demonstrations in context: the JSD's mean field "
                    "needs the law of the whole demonstration tuple, which the teacher protocol does not give "
                    "(allowed: m = 1, or the reverse/forward KL)")
        if self._group and self.baseline == "loo" and self.loss_normalisation == "demonstrated":
            return ("baseline='loo' with loss_normalisation='demonstrated' and group demonstrations is biased "
                    "(the weight 1/H depends on whether the scored rollout is correct, so the baseline is not "
                    "mean-zero); its mean field has no closed form (allowed: baseline='none', or "
                    "loss_normalisation='all')")
        if not self.optimiser.linear:
            return (f"optimiser={self.optimiser!r}: the update is not lr times an expected gradient (Adam's "
                    "moments, or clipping), so this rule has no velocity (allowed: SGD() without max_grad_norm)")
        return None

    @property
    def capabilities(self) -> frozenset:
        if self._closed_form is not None:
            return frozenset({"estimate"})
        return frozenset({"estimate", "velocity"})

    @property
    def param_shape(self) -> tuple[int, ...]:
        """Broadcast shape of the array-valued parameters (rule, EMA, teacher, demonstrations, optimiser)."""
        lam = () if self.jsd_weight is None else (self.jsd_weight,)
        return np.broadcast_shapes(
            chk.param_shape(self.lr, *lam, *self._shell_params(), *self.optimiser.params()),
            getattr(self.teacher, "param_shape", ()),
            getattr(self.demos, "param_shape", ()),
        )

    def _normalise(self, x: np.ndarray, task: Task) -> np.ndarray:
        return normalise_rows(np.array(x, dtype=np.float64))

    def init(self, task: Task, *, offset=()) -> State:
        """Round 0: base policy, teacher base, one random key per batch entry, zero silent groups,
        fresh optimiser state.

        ``offset`` places this task inside a larger one (see
        :mod:`modesim.sampled.sampling`, point 3).
        """
        if not self._group:
            self.demos.check(task)
        batch = chk.broadcast_batch(task.batch_shape, self.param_shape, type(self).__name__)
        keys = entry_keys(root_key(self.seed), task.batch_shape, offset)
        shape = batch + (task.n_modes,)
        state = self._shell_init(np.broadcast_to(task.log_base, shape))
        return state._replace(
            rng_key=np.broadcast_to(keys, batch), silent_groups=np.zeros(batch, dtype=np.int64),
            optimiser=self.optimiser.init(shape),
        )

    # ----------------------------------------------------------- sampling

    def draws(self, state: State, n: int) -> np.ndarray:
        """The round's ``n`` uniforms per batch entry, shape ``(..., n)``: the entry's own stream
        at ``state.round`` (:func:`~modesim.sampled.sampling.round_uniforms`).  The first N
        pick the rollouts, the next ones the demonstrations (N·m per rollout, or m per group
        with ``demo_sharing="per_group"`` and an external source)."""
        return round_uniforms(state.rng_key, state.round, n)

    def group_demos(self, y: np.ndarray, correct: np.ndarray, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Demonstrations from the group's correct rollouts.

        ``y``, ``correct``: (…, N) rollouts and whether each is correct; ``u``: (…, N, m)
        uniforms.  Returns ``demos`` (…, N, m), drawn uniformly with replacement from the
        correct rollouts other than n (``exclude_self``) or all of them, and ``has``
        (…, N): rollout n had at least one eligible demonstration.
        """
        return group_demos(y, correct, u, self.exclude_self)


    def shared_group_demos(self, y: np.ndarray, correct: np.ndarray):
        """One demonstration per group (``demo_sharing="per_group"``; SDPO's ``_get_solution``).

        Rollout n gets the group's first correct rollout; with ``exclude_self`` that rollout
        itself gets the second correct one.  ``y``, ``correct``: (…, N).

        Returns
        -------
        demos : ndarray, shape (…, N, 1)
        has : ndarray of bool, shape (…, N)
        rows : (row_demos (…, 2, 1), row_of (…, N))
            The at most two distinct demonstrations (first, second) and which one rollout n
            uses (0 or 1): the full estimator scores two teacher rows, not N.
        """
        n = y.shape[-1]
        correct = np.asarray(correct, dtype=bool)
        small = np.uint8 if n < 256 else np.int64
        rank = np.cumsum(correct.view(np.uint8), axis=-1, dtype=small)
        count = rank[..., -1:]
        first = np.argmax(correct, axis=-1)[..., None]
        second = np.argmax(correct & (rank == 2), axis=-1)[..., None]
        if self.exclude_self:
            has = count - correct > 0
            row_of = (np.arange(n) == first).astype(np.int64)
        else:
            has = np.broadcast_to(count > 0, y.shape)
            row_of = np.zeros(y.shape, dtype=np.int64)
        row_y = take(y, np.concatenate([first, second], axis=-1))
        demos = np.where(row_of == 0, row_y[..., :1], row_y[..., 1:])[..., None]
        return demos, has, (row_y[..., None], row_of)

    def demonstrations(self, y: np.ndarray, task: Task, rho: np.ndarray, u: np.ndarray):
        """The round's demonstrations for rollouts ``y`` (…, N), from uniforms ``u`` (…, ≥ N·m).

        Returns ``demos`` (…, N, m), ``has`` (…, N) and ``rows`` (distinct demonstrations
        (…, R, m) and the row each rollout uses (…, N)) or None when every rollout has its own.
        """
        m = self.n_demos
        shared = self.demo_sharing == "per_group"
        if self._group:
            correct = take(task.valid, y)
            if shared:
                return self.shared_group_demos(y, correct)
            demos, has = self.group_demos(y, correct, u.reshape(y.shape + (m,)))
            return demos, has, None
        dist = np.broadcast_to(self.demos.distribution(rho, task), rho.shape)
        has = np.ones(y.shape, dtype=bool)
        if shared:
            d = inverse_cdf(dist, u[..., :m])
            demos = np.broadcast_to(d[..., None, :], y.shape + (m,))
            return demos, has, (d[..., None, :], np.zeros(y.shape, dtype=np.int64))
        return inverse_cdf(dist, u).reshape(y.shape + (m,)), has, None

    def estimate(self, state: State, task: Task) -> tuple[np.ndarray, np.ndarray]:
        """One stochastic descent direction and which groups had no SD signal.

        Returns
        -------
        direction : ndarray, shape (..., K)
            ``−(ĝ + β·∇KL)``; with SGD the step is ``θ ← θ + lr·direction``.
        silent : ndarray of bool, shape (...)
            True where no rollout had a demonstration.
        """
        lp = state.log_policy
        rho = np.broadcast_to(self.teacher_log_base(state, task), lp.shape)
        n, m = self.n_rollouts, self.n_demos
        if self.demo_sharing == "per_rollout":
            n_draws = n * (1 + m)
        else:
            n_draws = n if self._group else n + m
        u = self.draws(state, n_draws)
        y = inverse_cdf(np.exp(lp), u[..., :n])
        demos, has, rows = self.demonstrations(y, task, rho, u[..., n:])
        return self.group_direction(lp, rho, y, demos, has, task, rows=rows)

    def group_direction(self, log_policy, teacher_log_base, y, demos, has, task: Task, *, rows=None):
        """The descent direction for given rollouts and demonstrations (no draws).

        ``log_policy``, ``teacher_log_base``: (…, K); ``y``, ``has``: (…, N); ``demos``:
        (…, N, m); ``rows``: optional (distinct demonstrations (…, R, m), row of each rollout
        (…, N)) that the full estimator may use instead of one teacher row per rollout.
        :meth:`estimate` is this kernel on sampled rollouts; tests average it over every
        possible group and demonstration to get the exact expected update.

        Returns
        -------
        direction : ndarray, shape (..., K)
            ``−(ĝ + β·(KL gradient))``.
        silent : ndarray of bool, shape (...)
            True where no rollout had a demonstration.
        """
        lp = log_policy
        rho = teacher_log_base
        n = y.shape[-1]
        pi = np.exp(lp)
        has = np.asarray(has, dtype=bool)
        demonstrated = self.loss_normalisation == "demonstrated"
        if demonstrated:
            count = row_sum(has.astype(np.float64))
            np.maximum(count, 1.0, out=count)
        ref = self.reference_log(lp, task)
        kl_on = _any_nonzero(self.beta) and (ref is not lp or self.kl_estimator == "k1")
        if self.estimator == "sampled":
            log_t = self.teacher.log_prob(rho, demos, y)
            lp_y = take(lp, y)
            if self.objective == "reverse":
                _check_support((log_t == -np.inf) & has)
                excess = lp_y - log_t
            else:
                excess = token_excess(self.objective, self.jsd_weight, lp_y, log_t)
                _check_support(np.isposinf(excess) & has)
            if self.baseline == "loo":
                # cross[n, k] = e_n(y_k): teacher row n scored on every rollout.
                m = demos.shape[-1]
                shape = y.shape + (n,)
                dd = np.broadcast_to(demos[..., :, None, :], shape + (m,)).reshape(y.shape[:-1] + (n * n, m))
                yy = np.broadcast_to(y[..., None, :], shape).reshape(y.shape[:-1] + (n * n,))
                cross_t = self.teacher.log_prob(rho, dd, yy).reshape(shape)
                if self.objective == "reverse":
                    _check_support((cross_t == -np.inf) & has[..., None])
                    cross = lp_y[..., None, :] - cross_t
                else:
                    cross = token_excess(self.objective, self.jsd_weight, np.broadcast_to(lp_y[..., None, :], shape), cross_t)
                    _check_support(np.isposinf(cross) & has[..., None])
                excess -= (row_sum(cross)[..., 0] - excess) / (n - 1)
            sampled_kl = kl_on and self.kl_estimator != "exact"
            if demonstrated or sampled_kl:
                # Σ_n c_n e_n (e_{y_n} − π) (+ the sampled KL's (β/N) Σ_n w_n (e_{y_n} − π)): one scatter.
                w = np.where(has, excess, 0.0)
                w /= count if demonstrated else n
                if sampled_kl:
                    kw = kl_penalty_weights(self.kl_estimator, lp, ref, y)
                    kw *= chk.col(self.beta) / n
                    w += kw
                grad = scatter_add(y, w, pi.shape[-1])
                grad -= row_sum(w) * pi
            else:
                grad = score_mean(y, np.where(has, excess, 0.0), pi)
            if kl_on and self.kl_estimator == "exact":
                grad += chk.col(self.beta) * kl_logit_grad(lp, ref, pi)
        else:
            w = has / count if demonstrated else has / n
            if self.objective == "reverse":
                frac = row_sum(w)
                summed = self.teacher.weighted_log_rows(rho, demos, w)
                _check_support((summed == -np.inf) & (lp > -np.inf))
                # Σ_n w_n ∇KL(π‖T_n) + β ∇KL(π‖π_ref) as one centred gradient (linear in log π − log q):
                # the log-space direction is frac·log π − Σ_n w_n log T_n + β (log π − log π_ref).
                with np.errstate(invalid="ignore"):
                    d = frac * lp
                    d -= summed
                    if kl_on and self.kl_estimator == "exact":
                        d += chk.col(self.beta) * (lp - ref)
                grad = centred_grad(d, lp, pi)
            else:
                if rows is None:
                    row_demos, row_w = demos, w
                else:
                    row_demos, row_of = rows
                    R = row_demos.shape[-2]
                    # R ≤ 2 distinct demonstrations: Σ of the weights of the rollouts using each.
                    row_w = np.stack([row_sum(np.where(row_of == r, w, 0.0))[..., 0] for r in range(R)], axis=-1)
                R = row_demos.shape[-2]
                if R <= 2:  # one O(K) teacher call per distinct demonstration (shared demonstrations)
                    one = np.ones(row_demos.shape[:-2] + (1,))
                    log_rows = np.stack([self.teacher.weighted_log_rows(rho, row_demos[..., r:r + 1, :], one)
                                         for r in range(R)], axis=-2)
                else:
                    ones = np.ones(row_demos.shape[:-1] + (1,))
                    log_rows = self.teacher.weighted_log_rows(rho[..., None, :], row_demos[..., :, None, :], ones)
                exact_kl = (chk.col(self.beta), ref) if kl_on and self.kl_estimator == "exact" else None
                grad = full_gradient(self.objective, self.jsd_weight, lp, pi, log_rows, row_w, exact_kl=exact_kl)
            if kl_on and self.kl_estimator != "exact":
                grad += chk.col(self.beta) * kl_penalty_grad(self.kl_estimator, lp, ref, pi, y)
        np.negative(grad, out=grad)
        return grad, all_true(~has)

    def step(self, state: State, task: Task) -> State:
        new, opt, silent = checked_step(self, state, task)
        return self._shell_advance(state, new, task, silent_groups=state.silent_groups + silent, optimiser=opt)

    def velocity(self, log_policy: np.ndarray, task: Task, *, teacher_log_base=None) -> np.ndarray:
        """Expected logit update per step, ``lr·E[direction]``: the mean field (theory §3.6, §6, §8).

        With ``q = π ⊙ E_{d~D} e_d`` (:func:`~modesim.sampled.objectives.expected_weighted_excess`;
        reverse KL: ``q = π ⊙ (log π − G)``, ``G = E_{d~D} log T(·|d)``) and ``D = π(·|C)``
        for group demonstrations (the student's own correct rollouts) or the source's
        distribution::

            E ĝ = P·(q − π Σ q) + P'·(q_¬C − π Σ q_¬C),     q_¬C = q ⊙ 1[y ∉ C]

        ``P`` is the chance that a rollout's gradient counts: ``1 − (1 − J)^{N−1}`` for group
        demonstrations with ``exclude_self`` (``1 − (1 − J)^N`` with the full estimator and
        ``loss_normalisation="demonstrated"``, or without exclusion), 1 for external sources.
        ``P' = J(1 − J)^{N−2}`` only for the sampled estimator with
        ``loss_normalisation="demonstrated"`` and group demonstrations: when exactly one
        rollout is correct it has no demonstration, so the others are averaged over N − 1
        (not N), and all of them are incorrect.  One demonstration per group or per rollout
        gives the same mean (given the correctness pattern the demonstration is a fresh
        draw from π(·|C), independent of the scored rollout).  ``(1 − J)^r`` is
        ``exp(r·log(1 − J))`` with ``1 − J`` the invalid mass summed directly.  This is a
        Euclidean gradient flow on the logits, not the natural-gradient flow of
        :class:`~modesim.SelfDistillation` (theory §6, "Euclidean versus natural-gradient
        self-distillation").  The β term adds ``β`` times the expected KL gradient of
        ``kl_estimator`` (:func:`~modesim.sampled.conventions.kl_penalty_mean`).

        ``teacher_log_base`` is needed with an :class:`~modesim.EMA` teacher base (the EMA
        state; :func:`modesim.flow` supplies it) unless τ is 0 or 1.  The JSD's mean field
        sums over the teacher's K × K matrix (``log_matrix``), so it needs m = 1
        demonstration in context.

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
        rho = self.velocity_teacher_base(lp, task.log_base, teacher_log_base)
        corr = None
        if self._group:
            demo = np.exp(log_conditional(lp, task.valid, name="policy"))
            log_fail = log_mass(lp, ~task.valid)
            n = self.n_rollouts
            demonstrated = self.loss_normalisation == "demonstrated"
            whole = not self.exclude_self or (demonstrated and self.estimator == "full")
            reach = n if whole else n - 1
            chance = -np.expm1(reach * log_fail)[..., None]
            if demonstrated and self.exclude_self and self.estimator == "sampled":
                log_j = log_mass(lp, task.valid)
                corr = np.exp(log_j + (0.0 if n == 2 else (n - 2) * log_fail))[..., None]
        else:
            demo = self.demos.distribution(rho, task)
            chance = 1.0
        if self.objective == "reverse":
            G = self.teacher.expected_log(rho, demo)
            g = chance * kl_logit_grad(lp, G)
            q = None
        else:
            q = expected_weighted_excess(self.objective, self.jsd_weight, self.teacher, lp, rho, demo)
            g = chance * centred(q.copy(), np.exp(lp))
        if corr is not None:
            if q is None:
                with np.errstate(invalid="ignore"):
                    q = np.where(np.isfinite(lp), np.exp(lp) * (lp - G), 0.0)
            q_bad = np.where(task.valid, 0.0, q)
            g = g + corr * centred(q_bad, np.exp(lp))
        ref = self.reference_log(lp, task)
        if _any_nonzero(self.beta) and ref is not lp:
            g = g + chk.col(self.beta) * kl_penalty_mean(self.kl_estimator, lp, ref)
        return run_shaped(-chk.col(self.lr) * g, lp, self.param_shape)
