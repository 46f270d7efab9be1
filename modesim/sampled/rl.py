"""Finite-sample policy-gradient RL on softmax logits: REINFORCE, RLOO, GRPO (theory §2.3).

:class:`SampledRL` samples N rollouts per batch entry and step, scores them with a binary
(optionally diversity-weighted) reward, forms advantages and takes one stochastic-gradient
step on the logits.  Its mean field (:meth:`SampledRL.velocity`, integrated by
:func:`modesim.flow`) is the exact softmax policy gradient for REINFORCE and RLOO, and the
same orbit on a J-dependent clock ``s_N(J)`` for GRPO (theory §2.3 "GRPO clock", a
correction to the first account listed in theory §9).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field

import numpy as np

from .. import _checks as chk
from ..rule import State
from ..simplex import log_mass
from ..task import Task
from .conventions import (
    KL_ESTIMATORS,
    REWARD_SCALES,
    STD_CONVENTIONS,
    advantage_gain,
    group_advantages,
    kl_penalty_grad,
    kl_penalty_mean,
    kl_penalty_weights,
)
from .optim import SGD, check_kl_step, checked_step
from .optim import optimiser as _optimiser
from .sampling import (
    all_true,
    count_true,
    entry_keys,
    inverse_cdf,
    root_key,
    round_uniforms,
    row_sum,
    score_mean,
    take,
)

__all__ = ["SampledRL", "grpo_speed"]


def _any_nonzero(x) -> bool:
    return bool(np.any(x != 0.0)) if isinstance(x, np.ndarray) else x != 0.0


def run_shaped(g: np.ndarray, lp: np.ndarray, params: tuple[int, ...]) -> np.ndarray:
    """``g`` with the run's shape: the policy's batch shape broadcast with the parameters'."""
    shape = np.broadcast_shapes(lp.shape[:-1], params) + lp.shape[-1:]
    return g if g.shape == shape else np.broadcast_to(g, shape).copy()


@functools.lru_cache(maxsize=32)
def _log_binomials(n: int) -> np.ndarray:
    """``log C(n, c)`` for c = 1 … n − 1 (``math.lgamma``; read-only)."""
    lg = math.lgamma
    out = np.array([lg(n + 1) - lg(c + 1) - lg(n - c + 1) for c in range(1, n)], dtype=np.float64)
    out.flags.writeable = False
    return out


def grpo_speed(log_j: np.ndarray, log_fail: np.ndarray, n: int, eps, *, std: str = "population",
               reward_scale: str = "group") -> np.ndarray:
    """GRPO's clock ``s_N(J) = Σ_{c=1}^{N−1} C(N,c) J^{c−1} (1−J)^{N−c−1}·v_c/(√v_c + ε)`` (theory §2.3).

    ``v_c = (c/N)(1 − c/N)``.  Under a trainer's conventions (theory §8.2) the gain
    ``v_c/(√v_c + ε)`` becomes ``v_c/(σ_c + ε)`` with the Bessel-corrected
    ``σ_c = √(v_c·N/(N − 1))`` (``std="bessel"``), or ``v_c`` without scaling
    (``reward_scale="none"``); see :func:`~modesim.sampled.conventions.advantage_gain`.
    ``log_j = log J`` and ``log_fail = log(1 − J)`` are given
    separately (each summed from its own modes, so neither is a difference from 1).  The
    binomial weights are formed in log space, ``log C(N,c) + (c−1)·log J + (N−c−1)·log(1−J)``,
    so they neither overflow (``C(1030, 515) ≈ 10^308``) nor lose the tiny factors; the
    terms are then summed in the linear domain.

    Derivation (binary rewards): given the rewards, a correct rollout's mode is
    distributed as ``π(·|C)`` and an incorrect one's as ``π(·|¬C)``; GRPO's advantages sum
    to 0, so ``E ĝ = E[(1/N) Σ_n A_n r_n]·(π(·|C) − π(·|¬C))``, with
    ``π(·|C) − π(·|¬C) = π ⊙ (r − J)/(J(1 − J))`` and, for c correct rollouts,
    ``(1/N) Σ_n A_n r_n = v_c/(√v_c + ε)``.  Hence ``E ĝ = s_N(J)·π ⊙ (r − J)``.

    Parameters
    ----------
    log_j, log_fail : ndarray, shape (...)
    n : int >= 2
    eps : float or ndarray broadcasting against ``log_j``
    std : {"population", "bessel"}
    reward_scale : {"group", "none"}

    Returns
    -------
    ndarray, shape (...)
    """
    c = np.arange(1, n, dtype=np.float64)
    gain = advantage_gain(n, std, eps, reward_scale)
    a, b = c - 1.0, n - c - 1.0
    lj, lf = np.asarray(log_j)[..., None], np.asarray(log_fail)[..., None]
    with np.errstate(invalid="ignore", over="ignore"):
        # 0·log 0 = 0: a zero exponent contributes nothing even where J or 1 − J is 0.
        log_w = _log_binomials(n) + np.where(a == 0.0, 0.0, a * lj) + np.where(b == 0.0, 0.0, b * lf)
    return np.sum(np.exp(log_w) * gain, axis=-1)


@dataclass(frozen=True, eq=False)
class SampledRL:
    """Finite-sample policy-gradient RL on softmax logits (theory §2.3, §8.2).

    Each step samples N rollouts ``y_n ~ π_θ`` per batch entry, computes advantages ``A_n``
    and hands the ascent direction ``ĝ − β·∇KL`` to the optimiser, with
    ``ĝ = (1/N) Σ_n A_n·(e_{y_n} − π)`` (the score-function estimate, ``∇_θ log π(y) = e_y − π``).
    With the default :class:`~modesim.sampled.SGD` the step is ``θ ← θ + lr·(ĝ − β·∇KL)``.

    Rewards: ``r_n = 1[y_n ∈ C]·(1 + λ·(1 − c_n/N))`` with ``c_n`` the number of rollouts of
    the group in mode ``y_n`` and ``λ = diversity_bonus`` (a correct rollout earns up to
    ``1 + λ`` when its mode is rare in the group; λ = 0 is the plain 0/1 reward).

    A public trainer's defaults in one line: :meth:`preset` (``SampledRL.preset("trl")``,
    ``SampledRL.preset("verl")``; :mod:`modesim.sampled.presets`).

    Parameters
    ----------
    estimator : {"grpo", "reinforce", "rloo"}
        ``"reinforce"`` (Williams 1992): ``A_n = r_n`` (no baseline; unbiased for ``∇J``).
        ``"rloo"`` (leave-one-out baseline, Kool et al. 2019; Ahmadian et al. 2024,
        arXiv 2402.14740): ``A_n = r_n − mean_{m≠n} r_m`` (unbiased).
        ``"grpo"`` (Shao et al. 2024, arXiv 2402.03300): ``A_n = (r_n − mean r)/(σ + ε)``
        with σ and ε set by ``std``, ``eps`` and ``reward_scale``; a group whose rewards
        are all equal gets ``A = 0`` exactly.
    n_rollouts : int
        Group size N (>= 2 for "rloo" and "grpo").
    lr : float or array > 0
        Learning rate of the optimiser.
    beta : float or array >= 0
        Strength of the KL term to the base ``π0``.
    diversity_bonus : float or array >= 0
        λ above.
    eps : float or array > 0
        GRPO's std offset ε (modesim 1e-6 = verl's; TRL uses 1e-4).
    seed : None, int >= 0 or numpy.random.Generator
        An int seed gives the same run every time; a Generator is drawn from once per
        ``init`` (so it advances, following numpy's convention).
    std : {"population", "bessel"}
        GRPO's standard deviation: divide the sum of squares by n (population) or n − 1
        (Bessel; ``torch.std``, used by TRL and verl), a factor ``√(N/(N−1))`` on σ
        (theory §8.2).  "grpo" only.
    reward_scale : {"group", "batch", "none"}
        Divide by the group's σ (``"group"``), by the σ of every reward of the step's batch
        (``"batch"``, TRL's ``scale_rewards="batch"``; the mean stays the group's), or not at
        all (``"none"``: Dr. GRPO, TRL ``scale_rewards="none"``, verl
        ``norm_adv_by_std_in_grpo=False``).  "grpo" only.
    batch_axes : tuple of int
        With ``reward_scale="batch"`` (required there, empty otherwise): the axes of the
        run's batch whose entries form one step's batch of prompts, numbered as numpy axes
        of the batch shape (negative from the last).  Under :func:`~modesim.sampled.train`
        on a prompt bank of batch shape (P,), the run's batch is (seeds, P) and
        ``batch_axes=(-1,)`` pools the P prompts of each seed's step (each seed is its own
        training run).  Entries along these axes are coupled: see Notes.
    kl_estimator : {"exact", "k1", "k2", "k3", "k3_clamped", "k3_is"}
        How the KL term's gradient is formed (:mod:`modesim.sampled.conventions`): exactly,
        or by differentiating a per-rollout estimate on the group's rollouts, as trainers do.
        ``"k3"`` (TRL and verl's choice) has the expected gradient of the *forward*
        ``KL(π0‖π)``; ``"k3_clamped"`` is verl's ``low_var_kl`` with its clamps;
        ``"k3_is"`` (TRL ``use_bias_correction_kl``) equals ``"k2"`` per sample and is
        unbiased for ``∇KL(π‖π0)``; ``"k1"`` has expected gradient 0.
    optimiser : SGD, Adam, "sgd" or "adam"
        :mod:`modesim.sampled.optim`; Adam's moments are carried in ``State.optimiser``.

    Notes
    -----
    Real parameters (including the optimiser's) may be arrays broadcasting against the
    task's batch axes (theory §1); a batched run equals the loop over scalar settings bit
    for bit (all settings share the task's random draws; :mod:`modesim.sampled.sampling`).
    ``state.silent_groups`` counts, per batch entry, the steps whose advantages were all
    zero (no reward signal).

    **Chunking.**  Every option keeps the contract of :mod:`modesim.sampled.sampling` (a
    slice of the run is the same slice of the whole run, bit for bit), except along
    ``batch_axes`` with ``reward_scale="batch"``: there the step's σ is a statistic of all
    the pooled entries, so a chunk must contain whole batches along those axes (chunking
    seeds, or any other axis, stays exact).  That coupling is what the trainers do: TRL
    pools the rewards of the whole generation batch.

    Capabilities: ``estimate``; ``velocity`` (the mean field) when the expected update is a
    function of the policy: no diversity bonus, no batch scaling, SGD without clipping.
    Not ``deterministic`` (steps are random) and not ``memoryless`` (the random key, the
    round counter and any optimiser moments in the state decide the next step), so fixed
    points and map Jacobians refuse it; analyse its mean field with :func:`modesim.flow`.

    Raises
    ------
    ValueError
        Naming the argument: an unknown option, an out-of-range value, a GRPO convention
        with another estimator, ``batch_axes`` without ``reward_scale="batch"`` (or the
        reverse), ``lr·weight_decay >= 1``.

    Examples
    --------
    >>> import modesim as ms
    >>> task = ms.make_task([0.5, 0.3, 0.2], valid=[1, 1, 0])
    >>> ms.SampledRL("grpo", n_rollouts=1030, lr=1.0).velocity(task.log_base, task).round(8).tolist()
    [0.24980943, 0.14988566, -0.39969509]
    """

    estimator: str = "grpo"
    n_rollouts: int = 8
    lr: float = 0.1
    beta: float = 0.0
    diversity_bonus: float = 0.0
    eps: float = 1e-6
    seed: object = None
    std: str = "population"
    reward_scale: str = "group"
    batch_axes: tuple = ()
    kl_estimator: str = "exact"
    optimiser: object = field(default_factory=SGD)

    def __post_init__(self):
        chk.choice(self.estimator, "estimator", ("grpo", "reinforce", "rloo"))
        low = 1 if self.estimator == "reinforce" else 2
        object.__setattr__(self, "n_rollouts", chk.integer(self.n_rollouts, "n_rollouts", low=low))
        object.__setattr__(self, "lr", chk.real(self.lr, "lr", low=0.0, low_open=True))
        object.__setattr__(self, "beta", chk.real(self.beta, "beta", low=0.0))
        object.__setattr__(self, "diversity_bonus", chk.real(self.diversity_bonus, "diversity_bonus", low=0.0))
        object.__setattr__(self, "eps", chk.real(self.eps, "eps", low=0.0, low_open=True))
        object.__setattr__(self, "seed", chk.seed(self.seed))
        chk.choice(self.std, "std", STD_CONVENTIONS)
        chk.choice(self.reward_scale, "reward_scale", REWARD_SCALES)
        chk.choice(self.kl_estimator, "kl_estimator", KL_ESTIMATORS)
        object.__setattr__(self, "batch_axes", _axes_spec(self.batch_axes))
        if self.estimator != "grpo":
            for name, default in (("std", "population"), ("reward_scale", "group")):
                if getattr(self, name) != default:
                    raise ValueError(
                        f"{name}={getattr(self, name)!r} is a GRPO convention; estimator={self.estimator!r} "
                        f"has no group statistics (allowed: estimator='grpo', or {name}={default!r})"
                    )
        if self.reward_scale == "batch" and not self.batch_axes:
            raise ValueError(
                "reward_scale='batch' needs batch_axes, the axes of the run's batch whose prompts form "
                "one step's batch (e.g. batch_axes=(-1,) for the prompts of a bank under ms.train); "
                "a batch of one prompt is reward_scale='group'"
            )
        if self.batch_axes and self.reward_scale != "batch":
            raise ValueError(
                f"batch_axes={self.batch_axes!r} applies to reward_scale='batch' only; got "
                f"reward_scale={self.reward_scale!r}"
            )
        object.__setattr__(self, "optimiser", _optimiser(self.optimiser))
        check_decay(self.lr, self.optimiser)
        check_kl_step(self.lr, self.beta, self.optimiser)

    @classmethod
    def preset(cls, name: str, **overrides) -> SampledRL:
        """A public trainer's GRPO defaults, e.g. ``SampledRL.preset("trl", lr=0.05, seed=0)``.

        ``name`` is one of :data:`modesim.sampled.presets.RL_PRESETS` (``"trl"``, ``"verl"``);
        every field can be overridden.  What each preset sets and which version of the
        trainer it follows: :mod:`modesim.sampled.presets` (theory §8.2).
        """
        from .presets import make

        return make(cls, name, overrides)

    @property
    def capabilities(self) -> frozenset:
        if self._no_mean_field is not None:
            return frozenset({"estimate"})
        return frozenset({"estimate", "velocity"})

    @property
    def _no_mean_field(self) -> str | None:
        """Why the expected update has no closed form in the policy (None when it has one)."""
        if _any_nonzero(self.diversity_bonus):
            return (f"diversity_bonus={chk.describe(self.diversity_bonus)}: the expected update has no "
                    "closed form, so this rule has no velocity (allowed: diversity_bonus=0)")
        if self.reward_scale == "batch":
            return ("reward_scale='batch': the step's σ depends on the other prompts of the batch, so the "
                    "expected update is not a function of one entry's policy (allowed: 'group' or 'none')")
        if not self.optimiser.linear:
            return (f"optimiser={self.optimiser!r}: the update is not lr times an expected gradient (Adam's "
                    "moments, or clipping), so this rule has no velocity (allowed: SGD() without max_grad_norm)")
        return None

    @property
    def param_shape(self) -> tuple[int, ...]:
        """Broadcast shape of the array-valued parameters (``()`` when all are scalars)."""
        return chk.param_shape(self.lr, self.beta, self.diversity_bonus, self.eps, *self.optimiser.params())

    def init(self, task: Task, *, offset=()) -> State:
        """Round 0: the base policy, one random key per batch entry, zero silent groups, fresh
        optimiser state.

        ``offset`` places this task inside a larger one (one int per task batch axis):
        entries get the keys, hence the draws, of the larger task's entries
        (:mod:`modesim.sampled.sampling`, point 3).
        """
        batch = chk.broadcast_batch(task.batch_shape, self.param_shape, type(self).__name__)
        if self.batch_axes:
            chk.batch_axes(self.batch_axes, len(batch), "batch_axes")
        keys = entry_keys(root_key(self.seed), task.batch_shape, offset)
        shape = batch + (task.n_modes,)
        return State(
            np.broadcast_to(task.log_base, shape),
            rng_key=np.broadcast_to(keys, batch),
            silent_groups=np.zeros(batch, dtype=np.int64),
            optimiser=self.optimiser.init(shape),
        )

    def draws(self, state: State, n: int) -> np.ndarray:
        """The round's ``n`` uniforms per batch entry, shape ``(..., n)``: the entry's own stream
        at ``state.round`` (:func:`~modesim.sampled.sampling.round_uniforms`)."""
        return round_uniforms(state.rng_key, state.round, n)

    def rewards(self, y: np.ndarray, valid: np.ndarray) -> np.ndarray:
        """``r_n = 1[y_n ∈ C]·(1 + λ(1 − c_n/N))`` for rollouts ``y`` (…, N) and mask ``valid`` (…, K)."""
        r = take(valid, y).astype(np.float64)
        if _any_nonzero(self.diversity_bonus):
            same = count_true(y[..., :, None] == y[..., None, :])
            r *= 1.0 + chk.col(self.diversity_bonus) * (1.0 - same / y.shape[-1])
        return r

    def advantages(self, r: np.ndarray) -> np.ndarray:
        """Advantages ``A_n`` of the chosen estimator and conventions from rewards ``r`` (…, N).

        With ``reward_scale="batch"`` the leading axes of ``r`` are the run's batch axes.
        """
        n = r.shape[-1]
        if self.estimator == "reinforce":
            return r
        if self.estimator == "rloo":
            return r - (row_sum(r) - r) / (n - 1)
        if self.std == "population" and self.reward_scale == "group":
            return self._grpo_population(r)
        nb = r.ndim - 1
        axes = tuple(a % nb for a in self.batch_axes) if nb else ()
        return group_advantages(r, std=self.std, eps=self.eps, reward_scale=self.reward_scale, batch_axes=axes)

    def _grpo_population(self, r: np.ndarray) -> np.ndarray:
        n = r.shape[-1]
        centred = r - row_sum(r) / n
        std = np.sqrt(row_sum(centred * centred) / n)
        # Equal rewards can leave round-off in r − mean; GRPO gives such groups no signal.
        flat = all_true(r == r[..., :1])
        centred /= std + chk.col(self.eps)
        centred[np.broadcast_to(flat[..., None], centred.shape)] = 0.0
        return centred

    def group_direction(self, log_policy: np.ndarray, y: np.ndarray, task: Task) -> tuple[np.ndarray, np.ndarray]:
        """The ascent direction for given rollouts ``y`` (…, N): ``ĝ − β·(KL gradient)``, and silence.

        Deterministic (no draws): :meth:`estimate` is this kernel on sampled rollouts, and
        tests average it over every possible group to get the exact expected update.

        Returns
        -------
        direction : ndarray, shape (..., K)
        silent : ndarray of bool, shape (...)
            True where every advantage was zero.
        """
        lp = log_policy
        pi = np.exp(lp)
        A = self.advantages(self.rewards(y, task.valid))
        silent = all_true(A == 0.0)
        if not _any_nonzero(self.beta):
            return score_mean(y, A, pi), silent
        if self.kl_estimator == "exact":
            direction = score_mean(y, A, pi)
            direction -= chk.col(self.beta) * kl_penalty_grad("exact", lp, task.log_base, pi, y)
            return direction, silent
        # A sampled KL estimate is also a score-function sum: one scatter for both terms.
        w = kl_penalty_weights(self.kl_estimator, lp, task.log_base, y)
        w *= -chk.col(self.beta)
        w += A
        return score_mean(y, w, pi), silent

    def estimate(self, state: State, task: Task) -> tuple[np.ndarray, np.ndarray]:
        """One stochastic update direction and which groups had no signal.

        Returns
        -------
        direction : ndarray, shape (..., K)
            ``ĝ − β·(KL gradient)``; with SGD the step is ``θ ← θ + lr·direction``.
        silent : ndarray of bool, shape (...)
            True where every advantage was zero.
        """
        lp = state.log_policy
        y = inverse_cdf(np.exp(lp), self.draws(state, self.n_rollouts))
        return self.group_direction(lp, y, task)

    def step(self, state: State, task: Task) -> State:
        new, opt, silent = checked_step(self, state, task)
        return state.advance(new, silent_groups=state.silent_groups + silent, optimiser=opt)

    def velocity(self, log_policy: np.ndarray, task: Task, *, teacher_log_base=None) -> np.ndarray:
        """Expected logit update per step, ``lr·E[direction]``: the mean field (theory §2.3, §6, §8.2).

        ``"reinforce"``/``"rloo"``: ``lr·π ⊙ (r − J)``, the exact softmax policy gradient
        (:class:`~modesim.SoftmaxPG` with the same ``lr``); ``"grpo"``:
        ``lr·s_N(J)·π ⊙ (r − J)`` (:func:`grpo_speed`, under ``std`` and ``reward_scale``);
        minus ``lr·β`` times the expected KL gradient of ``kl_estimator``
        (:func:`~modesim.sampled.conventions.kl_penalty_mean`).
        ``r − J`` is ``1 − J`` (the invalid mass, summed directly) on valid modes.

        Raises
        ------
        ValueError
            With a diversity bonus, batch reward scaling, Adam or clipping: the expected
            update is then not a closed-form function of the policy.
        """
        why = self._no_mean_field
        if why is not None:
            raise ValueError(why)
        lp = np.asarray(log_policy, dtype=np.float64)
        log_j = log_mass(lp, task.valid)
        log_fail = log_mass(lp, ~task.valid)
        pi = np.exp(lp)
        g = pi * np.where(task.valid, np.exp(log_fail)[..., None], -np.exp(log_j)[..., None])
        if self.estimator == "grpo":
            speed = grpo_speed(log_j, log_fail, self.n_rollouts, self.eps, std=self.std,
                               reward_scale=self.reward_scale)
            g = g * speed[..., None]
        if _any_nonzero(self.beta):
            g = g - chk.col(self.beta) * kl_penalty_mean(self.kl_estimator, lp, task.log_base)
        return run_shaped(chk.col(self.lr) * g, lp, self.param_shape)


def _axes_spec(axes) -> tuple[int, ...]:
    """``batch_axes`` as a tuple of distinct ints (their range is checked against the run in ``init``)."""
    seq = (axes,) if isinstance(axes, (int, np.integer)) and not isinstance(axes, (bool, np.bool_)) else axes
    if not isinstance(seq, (tuple, list)) or not all(
        isinstance(a, (int, np.integer)) and not isinstance(a, (bool, np.bool_)) for a in seq
    ) or len(set(int(a) for a in seq)) != len(seq):
        raise ValueError(f"batch_axes must be a tuple of distinct integers (batch axes of the run); got {chk.describe(axes)}")
    return tuple(int(a) for a in seq)


def check_decay(lr, opt) -> None:
    """Refuse ``lr·weight_decay >= 1`` (decoupled weight decay would flip or erase the logits)."""
    wd = getattr(opt, "weight_decay", 0.0)
    if np.any(np.asarray(lr) * np.asarray(wd) >= 1.0):
        raise ValueError(
            f"weight_decay={chk.describe(wd)} with lr={chk.describe(lr)}: decoupled weight decay scales the "
            "logits by 1 − lr·weight_decay, which must stay positive (allowed: lr·weight_decay < 1)"
        )
