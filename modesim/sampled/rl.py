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
from dataclasses import dataclass

import numpy as np

from .. import _checks as chk
from ..rule import State
from ..simplex import log_mass
from ..task import Task
from .sampling import (
    all_true,
    count_true,
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

__all__ = ["SampledRL", "grpo_speed"]


def _any_nonzero(x) -> bool:
    return bool(np.any(x != 0.0)) if isinstance(x, np.ndarray) else x != 0.0


def _full(g: np.ndarray, lp: np.ndarray, params: tuple[int, ...]) -> np.ndarray:
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


def grpo_speed(log_j: np.ndarray, log_fail: np.ndarray, n: int, eps) -> np.ndarray:
    """GRPO's clock ``s_N(J) = Σ_{c=1}^{N−1} C(N,c) J^{c−1} (1−J)^{N−c−1}·v_c/(√v_c + ε)`` (theory §2.3).

    ``v_c = (c/N)(1 − c/N)``; ``log_j = log J`` and ``log_fail = log(1 − J)`` are given
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

    Returns
    -------
    ndarray, shape (...)
    """
    c = np.arange(1, n, dtype=np.float64)
    v = (c / n) * (1.0 - c / n)
    gain = v / (np.sqrt(v) + chk.col(eps))
    a, b = c - 1.0, n - c - 1.0
    lj, lf = np.asarray(log_j)[..., None], np.asarray(log_fail)[..., None]
    with np.errstate(invalid="ignore", over="ignore"):
        # 0·log 0 = 0: a zero exponent contributes nothing even where J or 1 − J is 0.
        log_w = _log_binomials(n) + np.where(a == 0.0, 0.0, a * lj) + np.where(b == 0.0, 0.0, b * lf)
    return np.sum(np.exp(log_w) * gain, axis=-1)


@dataclass(frozen=True, eq=False)
class SampledRL:
    """Finite-sample policy-gradient RL on softmax logits (theory §2.3).

    Each step samples N rollouts ``y_n ~ π_θ`` per batch entry, computes advantages ``A_n``
    and takes ``θ ← θ + lr·(ĝ − β·∇_θ KL(π_θ‖π0))`` with ``ĝ = (1/N) Σ_n A_n·(e_{y_n} − π)``
    (the score-function estimate, ``∇_θ log π(y) = e_y − π``).  The KL gradient is exact,
    not sampled: ``∇_θ KL = π ⊙ (log π − log π0 − KL)``.

    Rewards: ``r_n = 1[y_n ∈ C]·(1 + λ·(1 − c_n/N))`` with ``c_n`` the number of rollouts of
    the group in mode ``y_n`` and ``λ = diversity_bonus`` (a correct rollout earns up to
    ``1 + λ`` when its mode is rare in the group; λ = 0 is the plain 0/1 reward).

    Parameters
    ----------
    estimator : {"grpo", "reinforce", "rloo"}
        ``"reinforce"`` (Williams 1992): ``A_n = r_n`` (no baseline; unbiased for ``∇J``).
        ``"rloo"`` (leave-one-out baseline, Kool et al. 2019; Ahmadian et al. 2024,
        arXiv 2402.14740): ``A_n = r_n − mean_{m≠n} r_m`` (unbiased).
        ``"grpo"`` (Shao et al. 2024, arXiv 2402.03300): ``A_n = (r_n − mean r)/(std r + ε)``
        with the population std; a group whose rewards are all equal gets ``A = 0`` exactly.
        (TRL's ``GRPOTrainer`` uses the Bessel-corrected std and ε = 1e-4 instead.)
    n_rollouts : int
        Group size N (>= 2 for "rloo" and "grpo").
    lr : float or array > 0
        Learning rate of the SGD step on the logits.
    beta : float or array >= 0
        Strength of the KL term to the base ``π0``.
    diversity_bonus : float or array >= 0
        λ above.
    eps : float or array > 0
        GRPO's std offset ε.
    seed : None, int >= 0 or numpy.random.Generator
        An int seed gives the same run every time; a Generator is drawn from once per
        ``init`` (so it advances, following numpy's convention).

    Notes
    -----
    Real parameters may be arrays broadcasting against the task's batch axes (theory §1);
    a batched run equals the loop over scalar settings bit for bit (all settings share
    the task's random draws; :mod:`modesim.sampled.sampling`).  ``state.silent_groups``
    counts, per batch entry, the steps whose advantages were all zero (no reward signal).

    Capabilities: ``estimate`` and, without a diversity bonus, ``velocity`` (the mean
    field).  Not ``deterministic`` (steps are random) and not ``memoryless`` (the random
    key and the round counter in the state decide the next step), so fixed points and
    map Jacobians refuse it; analyse its mean field with :func:`modesim.flow` instead.

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

    def __post_init__(self):
        chk.choice(self.estimator, "estimator", ("grpo", "reinforce", "rloo"))
        low = 1 if self.estimator == "reinforce" else 2
        object.__setattr__(self, "n_rollouts", chk.integer(self.n_rollouts, "n_rollouts", low=low))
        object.__setattr__(self, "lr", chk.real(self.lr, "lr", low=0.0, low_open=True))
        object.__setattr__(self, "beta", chk.real(self.beta, "beta", low=0.0))
        object.__setattr__(self, "diversity_bonus", chk.real(self.diversity_bonus, "diversity_bonus", low=0.0))
        object.__setattr__(self, "eps", chk.real(self.eps, "eps", low=0.0, low_open=True))
        object.__setattr__(self, "seed", chk.seed(self.seed))

    @property
    def capabilities(self) -> frozenset:
        if _any_nonzero(self.diversity_bonus):
            return frozenset({"estimate"})
        return frozenset({"estimate", "velocity"})

    @property
    def param_shape(self) -> tuple[int, ...]:
        """Broadcast shape of the array-valued parameters (``()`` when all are scalars)."""
        return chk.param_shape(self.lr, self.beta, self.diversity_bonus, self.eps)

    def init(self, task: Task, *, offset=()) -> State:
        """Round 0: the base policy, one random key per batch entry, zero silent groups.

        ``offset`` places this task inside a larger one (one int per task batch axis):
        entries get the keys, hence the draws, of the larger task's entries
        (:mod:`modesim.sampled.sampling`, point 3).
        """
        batch = chk.broadcast_batch(task.batch_shape, self.param_shape, type(self).__name__)
        keys = entry_keys(root_key(self.seed), task.batch_shape, offset)
        return State(
            np.broadcast_to(task.log_base, batch + (task.n_modes,)),
            rng_key=np.broadcast_to(keys, batch),
            silent_groups=np.zeros(batch, dtype=np.int64),
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
        """Advantages ``A_n`` of the chosen estimator from rewards ``r`` (…, N)."""
        n = r.shape[-1]
        if self.estimator == "reinforce":
            return r
        total = row_sum(r)
        if self.estimator == "rloo":
            return r - (total - r) / (n - 1)
        centred = r - total / n
        std = np.sqrt(row_sum(centred * centred) / n)
        # Equal rewards can leave round-off in r − mean; GRPO gives such groups no signal.
        flat = all_true(r == r[..., :1])
        centred /= std + chk.col(self.eps)
        centred[np.broadcast_to(flat[..., None], centred.shape)] = 0.0
        return centred

    def estimate(self, state: State, task: Task) -> tuple[np.ndarray, np.ndarray]:
        """One stochastic update direction and which groups had no signal.

        Returns
        -------
        direction : ndarray, shape (..., K)
            ``ĝ − β·∇KL``; the step is ``θ ← θ + lr·direction``.
        silent : ndarray of bool, shape (...)
            True where every advantage was zero.
        """
        lp = state.log_policy
        pi = np.exp(lp)
        y = inverse_cdf(pi, self.draws(state, self.n_rollouts))
        A = self.advantages(self.rewards(y, task.valid))
        direction = score_mean(y, A, pi)
        if _any_nonzero(self.beta):
            direction -= chk.col(self.beta) * kl_logit_grad(lp, task.log_base, pi)
        return direction, all_true(A == 0.0)

    def step(self, state: State, task: Task) -> State:
        direction, silent = self.estimate(state, task)
        direction *= chk.col(self.lr)
        direction += state.log_policy
        return state.advance(normalise_rows(direction), silent_groups=state.silent_groups + silent)

    def velocity(self, log_policy: np.ndarray, task: Task, *, teacher_log_base=None) -> np.ndarray:
        """Expected logit update per step, ``lr·E[direction]``: the mean field (theory §2.3, §6).

        ``"reinforce"``/``"rloo"``: ``lr·π ⊙ (r − J)``, the exact softmax policy gradient
        (:class:`~modesim.SoftmaxPG` with the same ``lr``); ``"grpo"``:
        ``lr·s_N(J)·π ⊙ (r − J)`` (:func:`grpo_speed`); minus ``lr·β·∇KL(π‖π0)``.
        ``r − J`` is ``1 − J`` (the invalid mass, summed directly) on valid modes.

        Raises
        ------
        ValueError
            With a diversity bonus: its expected update has no closed form.
        """
        if _any_nonzero(self.diversity_bonus):
            raise ValueError(
                f"diversity_bonus={chk.describe(self.diversity_bonus)}: the expected update has no "
                "closed form, so this rule has no velocity (allowed: diversity_bonus=0)"
            )
        lp = np.asarray(log_policy, dtype=np.float64)
        log_j = log_mass(lp, task.valid)
        log_fail = log_mass(lp, ~task.valid)
        pi = np.exp(lp)
        g = pi * np.where(task.valid, np.exp(log_fail)[..., None], -np.exp(log_j)[..., None])
        if self.estimator == "grpo":
            g = g * grpo_speed(log_j, log_fail, self.n_rollouts, self.eps)[..., None]
        if _any_nonzero(self.beta):
            g = g - chk.col(self.beta) * kl_logit_grad(lp, task.log_base)
        return _full(chk.col(self.lr) * g, lp, self.param_shape)
