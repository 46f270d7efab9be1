"""Finite-sample training of softmax policies: GRPO-style RL and sampled-demo SD (MATH §2.2, §3.1).

The exact rules of :mod:`modesim.rl` and :mod:`modesim.distill` move a policy by its expected
update.  Here each step *samples*: N rollouts per prompt from ``π = softmax(θ)``, rewards or
demonstrations from those rollouts, and one stochastic-gradient step on the logits θ.

Two rules follow the core protocol (``init(task)``/``step(state, task)``, so
:func:`modesim.iterate` runs them, and ``velocity`` for the mean field):

- :class:`SampledRL`: REINFORCE, REINFORCE with leave-one-out baseline (RLOO), GRPO; optional
  exact KL gradient to the reference and a diversity bonus.
- :class:`SampledSD`: self-distillation with demonstrations drawn from the group's correct
  rollouts (or an external source), a core teacher conditioned on them, an EMA teacher and
  sampled-token or full-distribution reverse-KL gradients.

Every batch axis of the task is simulated independently and vectorised over the N rollouts;
:func:`replicate` adds a leading axis of independent seeds, :func:`train` runs it.  The
random stream is a pure function of ``(seed, round)``: ``state.aux["rng_key"]`` holds the
key and round t draws from ``SeedSequence(key, spawn_key=(t,))``, so ``step`` never mutates
its input and the same seed gives identical runs.

Mean field (``velocity`` = the exact expected logit update per step, times ``lr``):

- REINFORCE and RLOO: ``E ĝ = π ⊙ (r − J)``, the exact softmax policy gradient, i.e. the
  flow of :class:`modesim.SoftmaxPG` with ``η = lr`` (MATH §2.2 R4).
- GRPO: ``E ĝ = s_N(J)·π ⊙ (r − J)`` (derived below): the same orbit as SoftmaxPG run with a
  J-dependent clock, so the same (non-)preservation of ratios.
- SD: ``E ĝ = −P_N(J)·∇_θ KL(π_θ ‖ exp G)`` with ``G = E_{d~π(·|C)} log T(·|d)`` and
  ``P_N(J)`` the chance a rollout has a demonstration: a Euclidean gradient flow on logits.
  It is *not* the core's reverse-KL SD flow (:class:`modesim.SelfDistillation`), which is
  the mirror (natural-gradient) version whose velocity lacks the factor π; the two share
  interior rest points when β = 0 or ``P_N = 1`` (external demonstrations), while with group
  demonstrations and β > 0 the KL weight is effectively ``β/P_N(J)``.

:func:`mean_field` integrates these ODEs (with the EMA teacher as a second state) and
:func:`mean_field_distance` compares a simulation with them.  :func:`fixation_probability`,
:func:`collapse_times` and :func:`fan` summarise outcomes across seeds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np
from scipy.integrate import solve_ivp
from scipy.special import comb

from .dynamics import Trajectory, iterate
from .rule import State
from .simplex import (
    _describe,
    check_positive_scalar,
    check_unit_interval,
    log_conditional,
    log_mass,
    log_normalise,
)
from .task import Task
from .teachers import CopyTeacher, MultiDemoTeacher, TiltTeacher

__all__ = [
    "SampledRL",
    "SampledSD",
    "sample_modes",
    "replicate",
    "train",
    "mean_field",
    "mean_field_distance",
    "fixation_probability",
    "collapse_times",
    "Fan",
    "fan",
]

_KEY_WORDS = 4


# ------------------------------------------------------------------ validation helpers


def _check_int(value, name: str, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}; got {value!r}")
    return int(value)


def _check_choice(value, name: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {allowed}; got {value!r}")
    return value


def _check_seed(seed):
    if seed is None or isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(
            f"seed must be None, a non-negative integer or a numpy.random.Generator; got {seed!r}"
        )
    return int(seed)


def _rng_key(seed) -> np.ndarray:
    """Key of a run: drawn from a Generator (which advances), or derived from an int seed."""
    if isinstance(seed, np.random.Generator):
        return seed.integers(0, 2**63, size=_KEY_WORDS, dtype=np.uint64)
    return np.random.SeedSequence(seed).generate_state(_KEY_WORDS, dtype=np.uint64)


def _round_rng(state: State) -> np.random.Generator:
    """The generator of round ``state.round``: a pure function of the key and the round."""
    key = [int(w) for w in state.aux["rng_key"]]
    return np.random.default_rng(np.random.SeedSequence(key, spawn_key=(int(state.round),)))


# ------------------------------------------------------------------ sampling and gradients


def sample_modes(log_policy: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """Draw ``n`` modes from each row of ``softmax(log_policy)`` by inverse CDF.

    ``y = #{j : cdf_j ≤ u}`` with ``u ~ U[0, 1)`` and the CDF rescaled to end at exactly 1,
    so a mode of zero probability is never drawn.

    Returns
    -------
    ndarray of int, shape ``(..., n)``
    """
    return _sample_probs(np.exp(log_policy), n, rng)


def _sample_probs(p: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    cdf = np.cumsum(p, axis=-1)
    cdf /= cdf[..., -1:]
    u = rng.random(p.shape[:-1] + (n,))
    return _count_true(u[..., None] >= cdf[..., None, :])


def _count_true(mask: np.ndarray) -> np.ndarray:
    """``mask.sum(-1)`` as int64, via a float32 matrix product (exact below 2^24 and about
    twice as fast as numpy's reduction over a short last axis; it runs every step)."""
    ones = np.ones(mask.shape[-1], dtype=np.float32)
    return (mask.astype(np.float32) @ ones).astype(np.int64)


def _gather(x: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """``x[..., idx]`` per batch row: ``x`` (B..., K), ``idx`` (B..., *extra) → (B..., *extra)."""
    nb = x.ndim - 1
    flat = idx.reshape(idx.shape[:nb] + (-1,))
    return np.take_along_axis(x, flat, axis=-1).reshape(idx.shape)


def _scatter_add(idx: np.ndarray, w: np.ndarray, K: int) -> np.ndarray:
    """``out[..., k] = Σ_e w[..., e]·1[idx[..., e] = k]``: one ``bincount`` over the batch.

    ``idx`` and ``w`` have shape (B..., E); no (B..., E, K) one-hot is built.
    """
    batch = idx.shape[:-1]
    B = int(np.prod(batch, dtype=np.int64))
    rows = np.arange(B).reshape(batch + (1,)) * K
    counts = np.bincount((rows + idx).ravel(), weights=w.ravel(), minlength=B * K)
    return counts.reshape(batch + (K,))


def _score_mean(y: np.ndarray, w: np.ndarray, pi: np.ndarray) -> np.ndarray:
    """``(1/N) Σ_n w_n·(e_{y_n} − π)``, the score-function average (∇_θ log π(y) = e_y − π)."""
    n = y.shape[-1]
    return _scatter_add(y, w, pi.shape[-1]) / n - (w.sum(-1, keepdims=True) / n) * pi


def _kl_logit_grad(log_p: np.ndarray, log_q: np.ndarray) -> np.ndarray:
    """Exact ``∇_θ KL(π_θ‖q) = π ⊙ (log π − log q − KL)``; 0 on modes where π = 0."""
    alive = np.isfinite(log_p)
    d = np.where(alive, log_p - np.where(alive, log_q, 0.0), 0.0)
    pi = np.exp(log_p)
    return pi * (d - np.sum(pi * d, axis=-1, keepdims=True))


def _grpo_speed(J: np.ndarray, n: int, eps: float) -> np.ndarray:
    """``s_N(J) = Σ_{c=1}^{N−1} C(N,c) J^{c−1}(1−J)^{N−c−1}·v_c/(√v_c + ε)``, ``v_c = (c/N)(1 − c/N)``.

    GRPO's expected update is ``s_N(J)·π ⊙ (r − J)`` (binary rewards).  Derivation: given
    the rewards, a correct rollout's mode is ``π(·|C)`` and an incorrect one's ``π(·|¬C)``;
    the advantages sum to 0, so ``E ĝ = E[(1/N)Σ_n A_n r_n]·(π(·|C) − π(·|¬C))``, and
    ``π(·|C) − π(·|¬C) = π ⊙ (r − J)/(J(1 − J))``; with c correct,
    ``(1/N)Σ A_n r_n = v_c/(√v_c + ε)``.
    """
    out = np.zeros_like(J)
    for c in range(1, n):
        v = (c / n) * (1.0 - c / n)
        out += comb(n, c) * J ** (c - 1) * (1.0 - J) ** (n - c - 1) * v / (np.sqrt(v) + eps)
    return out


# ------------------------------------------------------------------ RL


@dataclass(frozen=True, eq=False)
class SampledRL:
    """Finite-sample policy-gradient RL on softmax logits (MATH §2.2, "Finite-sample RL").

    Each step samples N rollouts ``y_n ~ π_θ`` per batch entry, computes advantages ``A_n``
    and takes ``θ ← θ + lr·(ĝ − β·∇_θ KL(π_θ‖π0))`` with
    ``ĝ = (1/N) Σ_n A_n·(e_{y_n} − π)``.  The KL gradient is exact (not sampled):
    ``∇_θ KL = π ⊙ (log π − log π0 − KL)``.

    Rewards: ``r_n = 1[y_n ∈ C]·(1 + λ·(1 − c_n/N))`` with ``c_n`` the number of rollouts
    of the group in mode ``y_n`` and ``λ = diversity_bonus`` (a correct rollout earns up to
    ``1 + λ`` when its mode is rare in the group; λ = 0 is the plain 0/1 reward).

    Parameters
    ----------
    estimator : {"grpo", "reinforce", "rloo"}
        ``"reinforce"``: ``A_n = r_n`` (no baseline; unbiased for ``∇J``).
        ``"rloo"``: ``A_n = r_n − mean_{m≠n} r_m`` (leave-one-out baseline; unbiased).
        ``"grpo"``: ``A_n = (r_n − mean r)/(std r + eps)`` (population std); a group whose
        rewards are all equal gets ``A = 0`` exactly.
    n_rollouts : int
        Group size N (>= 2 for "rloo" and "grpo").
    lr : float > 0
    beta : float >= 0
        Strength of the KL term to the reference ``π0``.
    diversity_bonus : float >= 0
        λ above.
    eps : float > 0
        GRPO's std offset.
    seed : None, int >= 0 or numpy.random.Generator
        An int seed gives the same run every time; a Generator is drawn from once per
        ``init`` (so it advances, following numpy's convention).

    Notes
    -----
    ``state.aux["silent_groups"]`` counts, per batch entry, the steps whose advantages were
    all zero (no reward signal).  Mean field: see :meth:`velocity`.
    """

    estimator: str = "grpo"
    n_rollouts: int = 8
    lr: float = 0.1
    beta: float = 0.0
    diversity_bonus: float = 0.0
    eps: float = 1e-6
    seed: object = None

    memoryless = True

    def __post_init__(self):
        _check_choice(self.estimator, "estimator", ("grpo", "reinforce", "rloo"))
        low = 1 if self.estimator == "reinforce" else 2
        object.__setattr__(self, "n_rollouts", _check_int(self.n_rollouts, "n_rollouts", low))
        object.__setattr__(self, "lr", check_positive_scalar(self.lr, "lr"))
        object.__setattr__(self, "beta", check_positive_scalar(self.beta, "beta", allow_zero=True))
        object.__setattr__(
            self,
            "diversity_bonus",
            check_positive_scalar(self.diversity_bonus, "diversity_bonus", allow_zero=True),
        )
        object.__setattr__(self, "eps", check_positive_scalar(self.eps, "eps"))
        object.__setattr__(self, "seed", _check_seed(self.seed))

    def init(self, task: Task) -> State:
        return State(
            task.log_base,
            aux={
                "rng_key": _rng_key(self.seed),
                "silent_groups": np.zeros(task.batch_shape, dtype=np.int64),
            },
        )

    def rewards(self, y: np.ndarray, valid: np.ndarray) -> np.ndarray:
        """``r_n = 1[y_n ∈ C]·(1 + λ(1 − c_n/N))`` for rollouts ``y`` of shape ``(..., N)``."""
        r = _gather(valid, y).astype(np.float64)
        if self.diversity_bonus > 0.0:
            same = (y[..., :, None] == y[..., None, :]).sum(-1)
            r *= 1.0 + self.diversity_bonus * (1.0 - same / y.shape[-1])
        return r

    def advantages(self, r: np.ndarray) -> np.ndarray:
        """Advantages ``A_n`` of the chosen estimator, shape ``(..., N)``."""
        n = r.shape[-1]
        if self.estimator == "reinforce":
            return r
        total = r.sum(-1, keepdims=True)
        if self.estimator == "rloo":
            return r - (total - r) / (n - 1)
        centred = r - total / n
        std = np.sqrt(np.mean(centred * centred, axis=-1, keepdims=True))
        # Equal rewards can leave round-off in ``r − mean``; GRPO gives such groups no signal.
        flat = r.max(-1, keepdims=True) == r.min(-1, keepdims=True)
        return np.where(flat, 0.0, centred / (std + self.eps))

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
        y = sample_modes(lp, self.n_rollouts, _round_rng(state))
        A = self.advantages(self.rewards(y, np.broadcast_to(task.valid, lp.shape)))
        direction = _score_mean(y, A, np.exp(lp))
        if self.beta > 0.0:
            direction -= self.beta * _kl_logit_grad(lp, task.log_base)
        return direction, ~np.any(A != 0.0, axis=-1)

    def step(self, state: State, task: Task) -> State:
        direction, silent = self.estimate(state, task)
        return state.advance(
            log_normalise(state.log_policy + self.lr * direction),
            silent_groups=state.aux["silent_groups"] + silent,
        )

    def velocity(self, log_policy: np.ndarray, task: Task) -> np.ndarray:
        """Expected logit update per step, ``lr·E[direction]`` (the mean field).

        ``"reinforce"``/``"rloo"``: ``lr·π ⊙ (r − J)``, identical to
        ``SoftmaxPG(eta=lr).velocity``; ``"grpo"``: ``lr·s_N(J)·π ⊙ (r − J)`` (see
        ``_grpo_speed``); minus ``lr·β·∇KL(π‖π0)``.  With a diversity bonus the
        expectation has no closed form and a ``ValueError`` is raised.
        """
        if self.diversity_bonus > 0.0:
            raise ValueError(
                f"diversity_bonus={self.diversity_bonus!r}: the expected update has no closed "
                "form with a bonus (allowed: 0 for velocity/mean_field)"
            )
        pi = np.exp(log_policy)
        J = np.exp(log_mass(log_policy, task.valid))[..., None]
        g = pi * (task.reward - J)
        if self.estimator == "grpo":
            g *= _grpo_speed(J, self.n_rollouts, self.eps)
        if self.beta > 0.0:
            g -= self.beta * _kl_logit_grad(log_policy, task.log_base)
        return self.lr * g


# ------------------------------------------------------------------ teachers on samples


def _copy_params(teacher) -> tuple[float, int] | None:
    if isinstance(teacher, MultiDemoTeacher):
        return teacher.alpha, int(teacher.m)
    if isinstance(teacher, CopyTeacher):
        return teacher.alpha, 1
    return None


def _is_identity_tilt(teacher) -> bool:
    return isinstance(teacher, TiltTeacher) and teacher.similarity is None


def _log_matrix(teacher, log_rho: np.ndarray) -> np.ndarray:
    """``log T[..., d, y]`` broadcast to the batch (a fixed matrix teacher returns (K, K))."""
    if hasattr(teacher, "log_matrix"):
        lM = teacher.log_matrix(log_rho)
    else:
        with np.errstate(divide="ignore"):
            lM = np.log(teacher.matrix(log_rho))
    K = log_rho.shape[-1]
    return np.broadcast_to(lM, log_rho.shape[:-1] + (K, K))


def _tilt_log_norm(kappa: float, log_rho_d: np.ndarray) -> np.ndarray:
    # log Z(d) = log(1 − ρ(d) + ρ(d)·e^κ) of the identity tilt.
    with np.errstate(divide="ignore"):
        return np.logaddexp(np.log1p(-np.exp(log_rho_d)), log_rho_d + kappa)


def _log_teacher_at(teacher, log_rho: np.ndarray, demos: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``log T(y | d_1..d_m)`` for demonstrations ``demos`` (B..., *E, m) and modes ``y`` (B..., *E).

    Copy-type teachers: ``log((1 − α)ρ(y) + α·#{j: d_j = y}/m)``; identity tilt:
    ``log ρ(y) + κ·1[y = d] − log Z(d)``; any other teacher (one demonstration) reads
    ``log T[d, y]`` from its matrix.
    """
    demos, y = np.broadcast_arrays(demos, y[..., None])
    y = y[..., 0]
    copy = _copy_params(teacher)
    if copy is not None:
        a, m = copy
        hits = (demos == y[..., None]).sum(-1)
        with np.errstate(divide="ignore"):
            return np.logaddexp(np.log1p(-a) + _gather(log_rho, y), np.log(a * hits / m))
    d = demos[..., 0]
    if _is_identity_tilt(teacher):
        k = teacher.kappa
        return _gather(log_rho, y) + k * (d == y) - _tilt_log_norm(k, _gather(log_rho, d))
    K = log_rho.shape[-1]
    lM = _log_matrix(teacher, log_rho)
    return _gather(lM.reshape(lM.shape[:-2] + (K * K,)), d * K + y)


def _mean_log_teacher_rows(teacher, log_rho: np.ndarray, demos: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``Σ_n w_n·log T(· | d_n)`` for ``demos`` (B..., N, m) and weights ``w`` (B..., N) → (B..., K).

    Copy-type and identity-tilt rows differ from a common row only at the demonstrated
    modes, so the sum is that row times ``Σ w`` plus a scatter-add over the demonstrations:
    O(N·m²) per entry instead of O(N·K).  Other teachers gather whole matrix rows.
    """
    K = log_rho.shape[-1]
    total = w.sum(-1, keepdims=True)
    # Modes the teacher base gives zero probability: −inf in every row (w·(−inf) would
    # be NaN for w = 0), restored at the end.
    dead = np.isneginf(log_rho)
    safe_rho = np.where(dead, 0.0, log_rho)
    copy = _copy_params(teacher)
    if copy is not None:
        a, m = copy
        base = np.log1p(-a) + safe_rho
        hits = (demos[..., :, None] == demos[..., None, :]).sum(-1) if m > 1 else 1
        at = _gather(base, demos)
        with np.errstate(divide="ignore"):
            # Each distinct demonstrated mode is counted once: divide by its multiplicity.
            gain = (np.logaddexp(at, np.log(a * hits / m)) - at) / hits
        flat = demos.reshape(demos.shape[:-2] + (-1,))
        weights = (w[..., None] * gain).reshape(flat.shape)
        out = total * base + _scatter_add(flat, weights, K)
    elif _is_identity_tilt(teacher):
        k = teacher.kappa
        d = demos[..., 0]
        norm = np.sum(w * _tilt_log_norm(k, _gather(log_rho, d)), axis=-1, keepdims=True)
        out = total * safe_rho + k * _scatter_add(d, w, K) - norm
    else:
        rows = np.take_along_axis(_log_matrix(teacher, log_rho), demos[..., :1], axis=-2)
        zero = np.isneginf(rows)
        out = np.sum(w[..., None] * np.where(zero, 0.0, rows), axis=-2)
        dead = dead | np.any(zero & (w[..., None] > 0), axis=-2)
    return np.where(dead, -np.inf, out)


def _check_support(zero: np.ndarray) -> None:
    if np.any(zero):
        raise ValueError(
            "the teacher gives zero probability to a mode the student samples or holds: "
            "KL(π‖T) is infinite (allowed: teachers with T(y|d) > 0 wherever π(y) > 0)"
        )


# ------------------------------------------------------------------ self-distillation


@dataclass(frozen=True, eq=False)
class SampledSD:
    """Finite-sample on-policy self-distillation with sampled demonstrations (MATH §3.1).

    Per step and batch entry: N rollouts ``y_n ~ π_θ``; for each rollout n, ``m``
    demonstrations ``d_n`` (``m = teacher.m`` for :class:`~modesim.MultiDemoTeacher`, else 1);
    the teacher ``T(·|d_n)`` built by a core teacher object from the (stop-gradient) teacher
    base ``ρ = softmax(θ̄)``; then ``θ ← θ − lr·(ĝ + β·∇_θ KL(π_θ‖π0))`` (exact KL gradient)
    and ``θ̄ ← τ·θ̄ + (1 − τ)·θ``.

    Demonstrations (``demos``):

    - ``"group"``: drawn uniformly, with replacement, from the group's correct rollouts,
      excluding rollout n itself when ``exclude_self``.  A rollout with no eligible correct
      rollout gets no SD signal; ``state.aux["silent_groups"]`` counts, per batch entry,
      the steps in which no rollout of the group had one (e.g. no correct rollout at all).
    - a core source (:class:`~modesim.UniformDemos` for diverse external demonstrations,
      :class:`~modesim.FixedDemo`, :class:`~modesim.ExplicitDemos`,
      :class:`~modesim.ConditionedDemos` for ``ρ(·|C)``): ``d`` drawn from
      ``demos.distribution(log ρ, task)``; every rollout has a signal.

    Gradient of ``(1/N) Σ_n KL(π_θ ‖ T(·|d_n))`` (``estimator``):

    - ``"sampled"`` (per-token, on the student's own rollout; score function):
      ``ĝ = (1/N) Σ_n (log π(y_n) − log T(y_n|d_n) − b_n)·(e_{y_n} − π)``.  ``baseline="none"``:
      ``b_n = 0``; ``"loo"``: ``b_n = mean_{m≠n} (log π(y_m) − log T(y_m|d_n))``, the same
      teacher row scored on the other rollouts.  Both are unbiased when ``d_n`` does not
      depend on ``y_n`` (``exclude_self=True`` or an external source); with
      ``exclude_self=False`` a rollout can be its own demonstration and the estimate is
      biased toward copying.
    - ``"full"``: the exact ``∇_θ KL(π_θ‖T(·|d_n)) = π ⊙ (log π − log T_n − KL_n)`` for the
      sampled ``d_n`` (the rollouts only supply the demonstrations).

    Parameters
    ----------
    teacher : core teacher object
        :class:`~modesim.CopyTeacher` (default α = 0.5), :class:`~modesim.MultiDemoTeacher`,
        :class:`~modesim.TiltTeacher`, :class:`~modesim.MatrixTeacher` or any object with
        ``log_matrix``/``matrix`` (one demonstration).
    demos : "group" or demonstration source
    exclude_self : bool
    estimator : {"sampled", "full"}
    baseline : {"none", "loo"}
        Only for ``estimator="sampled"``.
    n_rollouts : int >= 1 (>= 2 for group demonstrations with exclude_self, or "loo")
    lr : float > 0
    beta : float >= 0
    tau : float in [0, 1]
        EMA rate of the teacher logits: 0 = the current student, 1 = frozen ``π0``.
    seed : None, int >= 0 or numpy.random.Generator
    """

    teacher: object = field(default_factory=lambda: CopyTeacher(0.5))
    demos: object = "group"
    exclude_self: bool = True
    estimator: str = "sampled"
    baseline: str = "none"
    n_rollouts: int = 8
    lr: float = 0.1
    beta: float = 0.0
    tau: float = 0.0
    seed: object = None

    def __post_init__(self):
        _check_choice(self.estimator, "estimator", ("sampled", "full"))
        _check_choice(self.baseline, "baseline", ("none", "loo"))
        if self.baseline == "loo" and self.estimator != "sampled":
            raise ValueError("baseline='loo' applies to estimator='sampled' only; got estimator='full'")
        if self.demos != "group" and not hasattr(self.demos, "distribution"):
            raise ValueError(
                f"demos must be 'group' or a source with distribution(log_rho, task); got {self.demos!r}"
            )
        if not isinstance(self.exclude_self, (bool, np.bool_)):
            raise ValueError(f"exclude_self must be True or False; got {self.exclude_self!r}")
        one_demo = _copy_params(self.teacher) is None
        if one_demo and not (hasattr(self.teacher, "log_matrix") or hasattr(self.teacher, "matrix")):
            raise ValueError(
                f"teacher must be a core teacher or provide log_matrix/matrix; got {self.teacher!r}"
            )
        low = 2 if (self.baseline == "loo" or (self.demos == "group" and self.exclude_self)) else 1
        object.__setattr__(self, "n_rollouts", _check_int(self.n_rollouts, "n_rollouts", low))
        object.__setattr__(self, "lr", check_positive_scalar(self.lr, "lr"))
        object.__setattr__(self, "beta", check_positive_scalar(self.beta, "beta", allow_zero=True))
        object.__setattr__(
            self, "tau", check_unit_interval(self.tau, "tau", closed_low=True, closed_high=True)
        )
        object.__setattr__(self, "seed", _check_seed(self.seed))

    @property
    def memoryless(self) -> bool:
        """True when the teacher is the current student (``tau = 0``)."""
        return self.tau == 0.0

    @property
    def n_demos(self) -> int:
        """Demonstrations in the teacher's context (``m``)."""
        copy = _copy_params(self.teacher)
        return 1 if copy is None else copy[1]

    def init(self, task: Task) -> State:
        return State(
            task.log_base,
            aux={
                "rng_key": _rng_key(self.seed),
                "teacher_log_base": task.log_base,
                "silent_groups": np.zeros(task.batch_shape, dtype=np.int64),
            },
        )

    def _group_demos(self, y, correct, rng):
        """Demonstrations from the group's correct rollouts; ``has[n]``: rollout n got some."""
        n, m = y.shape[-1], self.n_demos
        own = correct if self.exclude_self else np.zeros_like(correct)
        eligible = correct.sum(-1, keepdims=True) - own
        has = eligible > 0
        u = rng.random(y.shape + (m,))
        j = np.minimum((u * eligible[..., None]).astype(np.int64), np.maximum(eligible - 1, 0)[..., None])
        rank = np.cumsum(correct, axis=-1)
        if self.exclude_self:
            # Skip rollout n itself: the j-th other correct one is the (j+1)-th overall
            # once j reaches the number of correct rollouts before n.
            j = j + (correct[..., None] & (j >= (rank - correct)[..., None]))
        pick = np.minimum(_count_true(rank[..., None, None, :] <= j[..., None]), n - 1)
        demos = _gather(y, pick)
        return demos, has

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
        log_rho = state.aux["teacher_log_base"]
        rng = _round_rng(state)
        n = self.n_rollouts
        y = sample_modes(lp, n, rng)
        if self.demos == "group":
            correct = _gather(np.broadcast_to(task.valid, lp.shape), y)
            demos, has = self._group_demos(y, correct, rng)
        else:
            dist = np.broadcast_to(self.demos.distribution(log_rho, task), lp.shape)
            demos = _sample_probs(dist, n * self.n_demos, rng).reshape(y.shape + (self.n_demos,))
            has = np.ones(y.shape, dtype=bool)
        pi = np.exp(lp)
        if self.estimator == "sampled":
            log_t = _log_teacher_at(self.teacher, log_rho, demos, y)
            _check_support(np.isneginf(log_t) & has)
            excess = _gather(lp, y) - log_t
            if self.baseline == "loo":
                cross = _gather(lp, y)[..., None, :] - _log_teacher_at(
                    self.teacher, log_rho, demos[..., :, None, :], y[..., None, :]
                )
                excess = excess - (cross.sum(-1) - excess) / (n - 1)
            grad = _score_mean(y, np.where(has, excess, 0.0), pi)
        else:
            w = has / n
            frac = w.sum(-1, keepdims=True)
            summed = _mean_log_teacher_rows(self.teacher, log_rho, demos, w)
            _check_support(np.isneginf(summed) & np.isfinite(lp))
            with np.errstate(invalid="ignore", divide="ignore"):
                target = np.where(frac > 0, summed / frac, 0.0)
            grad = frac * _kl_logit_grad(lp, target)
        if self.beta > 0.0:
            grad += self.beta * _kl_logit_grad(lp, task.log_base)
        return -grad, ~has.any(-1)

    def step(self, state: State, task: Task) -> State:
        direction, silent = self.estimate(state, task)
        new = log_normalise(state.log_policy + self.lr * direction)
        old = state.aux["teacher_log_base"]
        if self.tau == 0.0:
            teacher = new
        elif self.tau == 1.0:
            teacher = old
        else:
            dead = np.isneginf(old)
            with np.errstate(invalid="ignore"):
                teacher = log_normalise(
                    np.where(dead, -np.inf, self.tau * old + (1.0 - self.tau) * new)
                )
        return state.advance(
            new, teacher_log_base=teacher, silent_groups=state.aux["silent_groups"] + silent
        )

    def velocity(self, log_policy: np.ndarray, task: Task, *, teacher_log_base=None) -> np.ndarray:
        """Expected logit update per step, ``lr·E[direction]`` (the mean field).

        ``E ĝ = P_N(J)·π ⊙ (log π − G − Σ π (log π − G))`` with ``G = E_{d~D} log T(·|d)``
        (``teacher.expected_log``), ``D = π(·|C)`` for group demonstrations (the student's
        own correct rollouts) or the source's distribution, and ``P_N(J)`` the chance that a
        rollout has a demonstration: ``1 − (1 − J)^{N−1}`` (``exclude_self``),
        ``1 − (1 − J)^N`` (``estimator="full"`` without exclusion), 1 for external sources.
        Given that event, the demonstration is independent of the scored rollout and
        distributed as ``D``, so both estimators are unbiased for this.

        Raises ``ValueError`` where there is no closed form: several demonstrations drawn
        from one finite group (they repeat), and the self-including sampled estimator.

        ``teacher_log_base`` defaults to the policy (``tau = 0``) or ``π0`` (``tau = 1``) and
        is required for ``0 < tau < 1``.
        """
        group = self.demos == "group"
        if group and self.n_demos > 1:
            raise ValueError(
                f"teacher with m={self.n_demos} demonstrations drawn from a finite group has no "
                "closed-form mean field (allowed: m = 1, or an external demonstration source)"
            )
        if group and not self.exclude_self and self.estimator == "sampled":
            raise ValueError(
                "exclude_self=False with estimator='sampled' is biased (a rollout can be its "
                "own demonstration); its mean field has no closed form (allowed: "
                "exclude_self=True or estimator='full')"
            )
        if teacher_log_base is None:
            if 0.0 < self.tau < 1.0:
                raise ValueError(f"tau={self.tau!r} needs teacher_log_base (the EMA teacher)")
            teacher_log_base = log_policy if self.tau == 0.0 else task.log_base
        if group:
            demo = np.exp(log_conditional(log_policy, task.valid, name="policy"))
            J = np.exp(log_mass(log_policy, task.valid))[..., None]
            reach = self.n_rollouts - 1 if self.exclude_self else self.n_rollouts
            chance = -np.expm1(reach * np.log1p(-np.minimum(J, 1.0)))
        else:
            demo = self.demos.distribution(teacher_log_base, task)
            chance = 1.0
        G = self.teacher.expected_log(teacher_log_base, demo)
        g = chance * _kl_logit_grad(log_policy, G)
        if self.beta > 0.0:
            g += self.beta * _kl_logit_grad(log_policy, task.log_base)
        return -self.lr * g


# ------------------------------------------------------------------ running and mean field


def replicate(task: Task, n_seeds: int) -> Task:
    """The task with a new leading axis of ``n_seeds`` independent copies (seeds).

    Returns a :class:`~modesim.Task` of batch shape ``(n_seeds, *task.batch_shape)``.
    """
    n = _check_int(n_seeds, "n_seeds", 1)
    shape = (n,) + task.log_base.shape
    return Task(
        np.broadcast_to(task.log_base, shape),
        np.broadcast_to(task.valid, shape),
        {k: np.broadcast_to(v, shape) for k, v in task.ood.items()},
    )


def train(
    rule,
    task: Task,
    steps: int,
    *,
    n_seeds: int = 1,
    every: int = 1,
    metrics=None,
    record_policy: bool = True,
    progress: bool | None = None,
) -> Trajectory:
    """Run a sampled rule for ``steps`` steps on ``n_seeds`` independent copies of ``task``.

    :func:`modesim.iterate` on :func:`replicate`; the progress bar shows by default when
    ``steps × seeds × batch × N × K > 2e8``.  Every copy draws its own rollouts (its own
    slice of each round's random draws from the rule's ``seed``), so the copies are
    independent runs and the whole array is reproducible from that one seed.

    Returns
    -------
    Trajectory
        ``log_policy`` of shape ``(T, n_seeds, *task.batch_shape, K)``;
        ``final.aux["silent_groups"]`` counts steps without signal per seed and prompt.
    """
    big = replicate(task, n_seeds)
    if progress is None:
        work = float(steps) * big.log_base.size * getattr(rule, "n_rollouts", 1)
        progress = work > 2e8
    return iterate(
        rule, big, steps, every=every, metrics=metrics, record_policy=record_policy, progress=progress
    )


def mean_field(rule, task: Task, t_eval, *, rtol: float = 1e-8, atol: float = 1e-10) -> Trajectory:
    """Integrate a sampled rule's mean-field ODE (time in steps) with scipy.

    ``dθ/dt = rule.velocity(θ)``; for :class:`SampledSD` with ``0 < tau < 1`` the teacher
    logits follow ``dθ̄/dt = (1 − τ)(θ − θ̄)`` (the EMA's mean drift per step).  For
    ``SampledRL("reinforce")`` this is :func:`modesim.flow` of ``SoftmaxPG(eta=lr)``.

    Returns
    -------
    Trajectory
        ``times = t_eval``, ``log_policy`` of shape ``(T, *batch_shape, K)``; ``final`` holds
        the last policy and, with an EMA teacher, ``aux["teacher_log_base"]``.
    """
    t = np.asarray(t_eval, dtype=np.float64)
    if t.ndim != 1 or t.size < 2 or not np.all(np.isfinite(t)) or np.any(np.diff(t) <= 0):
        raise ValueError(f"t_eval must be a 1-D increasing array of >= 2 finite times; got {_describe(t_eval)}")
    lp0 = task.log_base
    alive = np.isfinite(lp0)
    shape = lp0.shape
    ema = 0.0 < getattr(rule, "tau", 0.0) < 1.0
    size = lp0.size

    def unpack(v):
        return log_normalise(np.where(alive, v.reshape(shape), -np.inf))

    def rhs(_, z):
        lp = unpack(z[:size])
        if ema:
            lbar = unpack(z[size:])
            dth = rule.velocity(lp, task, teacher_log_base=lbar)
            dbar = (1.0 - rule.tau) * np.where(alive, lp - np.where(alive, lbar, 0.0), 0.0)
            return np.concatenate([np.where(alive, dth, 0.0).ravel(), dbar.ravel()])
        return np.where(alive, rule.velocity(lp, task), 0.0).ravel()

    z0 = np.where(alive, lp0, 0.0).ravel()
    if ema:
        z0 = np.concatenate([z0, z0])
    sol = solve_ivp(rhs, (t[0], t[-1]), z0, method="LSODA", t_eval=t, rtol=rtol, atol=atol)
    if not sol.success:
        raise RuntimeError(f"solve_ivp failed: {sol.message}")
    lps = np.stack([unpack(sol.y[:size, i]) for i in range(t.size)])
    aux = {"teacher_log_base": unpack(sol.y[size:, -1])} if ema else {}
    final = State(lps[-1], aux=MappingProxyType(aux))
    return Trajectory(times=t, log_policy=lps, metrics={}, final=final)


def mean_field_distance(
    simulated: Trajectory, reference: Trajectory, *, seed_axis: int | None = 0, average: bool = False
) -> float:
    """``max_{t, runs, y} |π_sim(t) − π_ref(t)|`` over the common recorded times.

    Parameters
    ----------
    simulated : Trajectory
        From :func:`train` (policies recorded), batch shape ``(n_seeds, *task.batch_shape)``.
    reference : Trajectory
        From :func:`mean_field` or :func:`modesim.flow` on the task, at the same times.
    seed_axis : int or None
        The batch axis of ``simulated`` that the reference lacks (0 for :func:`train`);
        None when both have the same batch shape.
    average : bool
        Compare the seed-averaged trajectory (the mean's distance) instead of every run.
    """
    if simulated.times.shape != reference.times.shape or not np.allclose(
        simulated.times, reference.times
    ):
        raise ValueError(
            "simulated and reference must be recorded at the same times; got "
            f"{_describe(simulated.times)} and {_describe(reference.times)}"
        )
    p, ref = simulated.policy, reference.policy
    if seed_axis is not None:
        if not 0 <= seed_axis < p.ndim - 2:
            raise ValueError(f"seed_axis must be in [0, {p.ndim - 2}) or None; got {seed_axis!r}")
        p = p.mean(axis=seed_axis + 1) if average else p
        ref = ref if average else np.expand_dims(ref, seed_axis + 1)
    try:
        return float(np.max(np.abs(p - ref)))
    except ValueError:
        raise ValueError(
            f"simulated policies of shape {simulated.policy.shape} do not match reference "
            f"policies of shape {reference.policy.shape} (seed_axis={seed_axis!r})"
        ) from None


# ------------------------------------------------------------------ outcomes across seeds


def _check_eps(eps) -> float:
    return check_unit_interval(eps, "eps", closed_low=False, closed_high=False)


def fixation_probability(policy, *, eps: float = 1e-3, axis: int = 0) -> np.ndarray:
    """Fraction of seeds in which each mode has fixed: ``mean_seeds 1[π(y) > 1 − eps]``.

    Parameters
    ----------
    policy : array_like, shape (..., K)
        Final policies with a seed axis (e.g. ``traj.policy[-1]`` from :func:`train`).
    axis : int
        The seed axis.

    Returns
    -------
    ndarray, shape of ``policy`` without ``axis``
    """
    p = np.asarray(policy, dtype=np.float64)
    eps = _check_eps(eps)
    ok = isinstance(axis, (int, np.integer)) and -p.ndim <= axis < p.ndim - 1 and axis != -1
    if p.ndim < 2 or not ok:
        raise ValueError(f"axis must be a batch (seed) axis of policy with shape {p.shape}; got {axis!r}")
    return np.mean(p > 1.0 - eps, axis=axis)


def collapse_times(trajectory: Trajectory, valid=None, *, eps: float = 1e-3) -> np.ndarray:
    """First recorded time at which one (valid) mode holds more than ``1 − eps``, per run.

    Returns
    -------
    ndarray of float, shape = the trajectory's batch shape
        The time (a round index for :func:`train`), ``-1`` where no collapse was recorded.
    """
    eps = _check_eps(eps)
    lp = trajectory.log_policy
    if lp is None:
        raise ValueError("collapse_times needs a trajectory recorded with record_policy=True")
    if valid is not None:
        lp = np.where(valid, lp, -np.inf)
    hit = lp.max(-1) > np.log1p(-eps)
    first = np.argmax(hit, axis=0)
    return np.where(hit.any(axis=0), trajectory.times[first], -1).astype(np.float64)


@dataclass(frozen=True, eq=False)
class Fan:
    """Quantile bands of a quantity across seeds over time.

    Attributes
    ----------
    times : ndarray, shape (T,)
    levels : ndarray, shape (L,)
        Quantile levels, e.g. (0.05, 0.25, 0.5, 0.75, 0.95).
    bands : ndarray, shape (L, T, ...)
        ``bands[i, t]`` = the ``levels[i]`` quantile at time ``t`` (remaining batch axes kept).
    mean : ndarray, shape (T, ...)
    """

    times: np.ndarray
    levels: np.ndarray
    bands: np.ndarray
    mean: np.ndarray


def fan(
    trajectory: Trajectory,
    mode: int,
    *,
    levels=(0.05, 0.25, 0.5, 0.75, 0.95),
    seed_axis: int = 0,
) -> Fan:
    """The fan of ``π_t(mode)`` across seeds: quantile bands at every recorded time.

    ``seed_axis`` indexes the trajectory's batch axes (0 for :func:`train`).
    """
    p = trajectory.policy
    K = p.shape[-1]
    if isinstance(mode, bool) or not isinstance(mode, (int, np.integer)) or not 0 <= mode < K:
        raise ValueError(f"mode must be an integer in [0, {K}); got {mode!r}")
    q = np.asarray(levels, dtype=np.float64)
    if q.ndim != 1 or q.size == 0 or np.any((q < 0) | (q > 1)) or np.any(np.isnan(q)):
        raise ValueError(f"levels must be a 1-D array of quantile levels in [0, 1]; got {_describe(levels)}")
    x = p[..., mode]
    if not 0 <= seed_axis < x.ndim - 1:
        raise ValueError(f"seed_axis must be in [0, {x.ndim - 1}); got {seed_axis!r}")
    return Fan(
        times=trajectory.times,
        levels=q,
        bands=np.quantile(x, q, axis=seed_axis + 1),
        mean=x.mean(axis=seed_axis + 1),
    )
