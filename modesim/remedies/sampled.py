"""Finite-sample remedies on softmax policies: forward-KL and reweighted self-distillation, mixed advantages (theory §11).

Two rules on the :class:`~modesim.SampledSD` machinery (same options, random streams,
teacher base, EMA and KL reference; :mod:`modesim.sampled`):

- :class:`RemedySampledSD`: sampled-demonstration self-distillation with the **forward**
  KL (distilling into the mixture of teachers, S2) and/or demonstrations drawn from the
  group **with importance weights** against the teacher's bias (a target law such as
  :class:`~modesim.remedies.BalancedDemos`: a correct rollout j is the demonstration with
  probability ∝ ``D*(y_j)/ρ(y_j)``);
- :class:`SampledBlend`: one score-function step with a **mixed advantage**
  ``A_n = λ_r·A^RL_n + μ·A^SD_n`` (a blend for μ > 0, anti-distillation for μ < 0), or the
  **sign-gated** advantage ``A_n = sign(A^RL_n)·|A^SD_n|`` ("the teacher sets the magnitude,
  the reward sets the direction"), with ``A^SD_n = log T(y_n|d_n) − log π(y_n)`` (the
  per-token reverse-KL score of :class:`~modesim.SampledSD`'s sampled estimator) and
  ``A^RL_n`` GRPO's (or RLOO's, REINFORCE's) advantage.

Both subclass :class:`~modesim.SampledSD` and replace its ``estimate``; cleaner later: a
demonstration hook (which rollouts demonstrate) and a group-direction kernel in
:mod:`modesim.sampled` (the trainer-conventions work adds both, and a native forward
objective), after which :class:`RemedySampledSD` reduces to a ``demonstrations`` override.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import _checks as chk
from ..rule import State
from ..sampled import SampledRL, SampledSD
from ..sampled.sampling import (
    all_true,
    inverse_cdf,
    kl_logit_grad,
    row_sum,
    score_mean,
    take,
)
from ..simplex import log_conditional, log_mass
from ..task import Task
from .demos import weighted_group_demos

__all__ = ["RemedySampledSD", "SampledBlend"]


def _any_nonzero(x) -> bool:
    return bool(np.any(x != 0.0)) if isinstance(x, np.ndarray) else x != 0.0


def _check_support(zero: np.ndarray) -> None:
    if np.any(zero):
        raise ValueError(
            "the teacher gives zero probability to a mode the student samples or holds: "
            "KL(π‖T) is infinite (allowed: teachers with T(y|d) > 0 wherever π(y) > 0)"
        )


def _full(g: np.ndarray, lp: np.ndarray, params: tuple[int, ...]) -> np.ndarray:
    shape = np.broadcast_shapes(lp.shape[:-1], params) + lp.shape[-1:]
    return g if g.shape == shape else np.broadcast_to(g, shape).copy()


class _Draws:
    """The round's rollouts and demonstrations, shared by both rules' estimates."""

    def _sample(self, state: State, task: Task):
        lp = state.log_policy
        rho = np.broadcast_to(self.teacher_log_base(state, task), lp.shape)
        n, m = self.n_rollouts, self.n_demos
        u = self.draws(state, n * (1 + m))
        pi = np.exp(lp)
        y = inverse_cdf(pi, u[..., :n])
        u_demo = u[..., n:].reshape(y.shape + (m,))
        if self._group:
            correct = take(task.valid, y)
            weights = self._pick_weights(rho, task)
            if weights is None:
                demos, has = self.group_demos(y, correct, u_demo)
            else:
                demos, has = weighted_group_demos(y, correct, take(weights, y), u_demo, self.exclude_self)
        else:
            dist = np.broadcast_to(self.demos.distribution(rho, task), lp.shape)
            demos = inverse_cdf(dist, u[..., n:]).reshape(y.shape + (m,))
            has = np.ones(y.shape, dtype=bool)
        return lp, rho, pi, y, demos, has

    def _pick_weights(self, rho, task):
        return None

# ------------------------------------------------------------------ forward KL, reweighted demonstrations


@dataclass(frozen=True, eq=False)
class RemedySampledSD(_Draws, SampledSD):
    """:class:`~modesim.SampledSD` with the forward KL and importance-weighted group demonstrations (theory §11).

    Everything is as in :class:`~modesim.SampledSD` (N rollouts, demonstrations from the
    group's other correct rollouts or an external source, teacher on its stop-gradient base
    ρ, exact KL term to the reference), with two options:

    - ``objective="forward"``: each rollout with a demonstration contributes
      ``∇_θ KL(T(·|d_n)‖π_θ) = π − T(·|d_n)`` (the exact gradient for the sampled
      demonstration; the rollouts only supply the demonstrations, as supervised fine-tuning
      on the teacher's distribution would), so the step is
      ``θ ← θ + lr·((1/N) Σ_n 1[has d_n]·(T(·|d_n) − π) − β·∇KL(π‖π_ref))``.  Its mean field is
      ``P_N(J)·(E_{d~D} T − π)``: it moves toward the mixture of teachers, which preserves
      valid ratios when the teacher is marginally consistent (S2, registry entry F1).
      ``estimator`` and ``baseline`` apply to the reverse objective only.
    - ``reweight``: a demonstration source giving a target law ``D*`` (e.g.
      :class:`~modesim.remedies.BalancedDemos`); with group demonstrations, correct rollout
      j is rollout n's demonstration with probability ∝ ``D*(y_j)/ρ(y_j)`` among the eligible
      ones (self-normalised importance weights: as the group grows the demonstrations'
      law tends to D*; in a group of N it is biased toward the group's own modes).

    Parameters
    ----------
    As :class:`~modesim.SampledSD`, plus
    objective : {"reverse", "forward"}
    reweight : demonstration source or None
        Only with ``demos="group"``.

    Raises
    ------
    ValueError
        As :class:`~modesim.SampledSD`; ``reweight`` that is not a demonstration source or
        used with an external ``demos``.

    Examples
    --------
    >>> import modesim as ms
    >>> from modesim.remedies import RemedySampledSD
    >>> rule = RemedySampledSD(ms.CopyTeacher(0.5), objective="forward", teacher_base=ms.EMA(0.95), seed=0)
    >>> ms.train(rule, ms.make_task([0.5, 0.3, 0.2], [1, 1, 0]), 5, n_seeds=2).policy.shape
    (6, 2, 3)
    """

    reweight: object = None

    OBJECTIVES = ("reverse", "forward")

    def _check_own(self) -> None:
        if self.reweight is not None:
            chk.implements(self.reweight, "reweight", ("distribution",),
                           "a demonstration source giving the target law (e.g. BalancedDemos(teacher)) or None")
            if not self._group:
                raise ValueError("reweight applies to demos='group' (importance weights on the group's "
                                 "correct rollouts); with an external source use that source directly")

    @property
    def _closed_form(self) -> str | None:
        if self.reweight is not None:
            return ("importance-weighted group demonstrations have no closed-form mean field (the "
                    "self-normalised weights depend on the whole group); allowed: reweight=None")
        if self.objective == "forward" and self._group and self.n_demos > 1:
            return (f"a teacher with m={self.n_demos} demonstrations drawn from a finite group has no "
                    "closed-form mean field (allowed: m = 1, or an external demonstration source)")
        return super()._closed_form

    @property
    def param_shape(self) -> tuple[int, ...]:
        return np.broadcast_shapes(super().param_shape, getattr(self.reweight, "param_shape", ()))

    def init(self, task: Task, *, offset=()) -> State:
        if self.reweight is not None:
            self.reweight.check(task)
        return super().init(task, offset=offset)

    def _pick_weights(self, rho, task):
        if self.reweight is None:
            return None
        target = np.broadcast_to(self.reweight.distribution(rho, task), rho.shape)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            w = np.where(task.valid & (target > 0), target * np.exp(-rho), 0.0)
        return np.where(np.isfinite(w), w, 0.0)

    def estimate(self, state: State, task: Task) -> tuple[np.ndarray, np.ndarray]:
        """One stochastic descent direction and which groups had no SD signal (as SampledSD)."""
        if self.objective == "reverse" and self.reweight is None:
            return super().estimate(state, task)
        lp, rho, pi, y, demos, has = self._sample(state, task)
        n = self.n_rollouts
        ref = self.reference_log(lp, task)
        kl_on = _any_nonzero(self.beta) and ref is not lp
        if self.objective == "forward":
            w = has / n
            ones = np.ones(demos.shape[:-1] + (1,))
            rows = self.teacher.weighted_log_rows(rho[..., None, :], demos[..., :, None, :], ones)  # (…, N, K)
            mix = np.einsum("...n,...nk->...k", w, np.exp(rows))
            grad = row_sum(w) * pi - mix                      # Σ_n w_n ∇KL(T_n‖π) = Σ w_n (π − T_n)
        elif self.estimator == "sampled":
            log_t = self.teacher.log_prob(rho, demos, y)
            _check_support((log_t == -np.inf) & has)
            lp_y = take(lp, y)
            excess = lp_y - log_t
            if self.baseline == "loo":
                m = demos.shape[-1]
                shape = y.shape + (n,)
                dd = np.broadcast_to(demos[..., :, None, :], shape + (m,)).reshape(y.shape[:-1] + (n * n, m))
                yy = np.broadcast_to(y[..., None, :], shape).reshape(y.shape[:-1] + (n * n,))
                cross_t = self.teacher.log_prob(rho, dd, yy).reshape(shape)
                _check_support((cross_t == -np.inf) & has[..., None])
                cross = lp_y[..., None, :] - cross_t
                excess -= (row_sum(cross)[..., 0] - excess) / (n - 1)
            grad = score_mean(y, np.where(has, excess, 0.0), pi)
        else:
            w = has / n
            summed = self.teacher.weighted_log_rows(rho, demos, w)
            _check_support((summed == -np.inf) & (lp > -np.inf))
            with np.errstate(invalid="ignore"):
                d = row_sum(w) * lp - summed
            d = np.where(np.isfinite(lp), d, 0.0)
            d -= row_sum(pi * d)
            grad = pi * d
        if kl_on:
            grad = grad + chk.col(self.beta) * kl_logit_grad(lp, ref, pi)
        return -grad, all_true(~has)

    def velocity(self, log_policy: np.ndarray, task: Task, *, teacher_log_base=None) -> np.ndarray:
        """Mean field ``lr·E[direction]`` (theory §3.6, §11); forward KL: ``lr·(P·(E_d T − π) − β∇KL)``.

        ``P = 1 − (1 − J)^{N−1}`` for group demonstrations (``exclude_self``), 1 for an external
        source; ``E_d T`` is ``teacher.log_mixture`` under ``D = π(·|C)`` or the source's law.

        Raises
        ------
        ValueError
            Where the mean field has no closed form (importance-weighted groups), or an
            EMA teacher base without ``teacher_log_base``.
        """
        why = self._closed_form
        if why is not None:
            raise ValueError(why)
        if self.objective == "reverse":
            return super().velocity(log_policy, task, teacher_log_base=teacher_log_base)
        lp = np.asarray(log_policy, dtype=np.float64)
        rho = self.velocity_teacher_base(lp, task.log_base, teacher_log_base)
        if self._group:
            log_demo = log_conditional(lp, task.valid, name="policy")
            reach = self.n_rollouts - 1 if self.exclude_self else self.n_rollouts
            chance = -np.expm1(reach * log_mass(lp, ~task.valid))[..., None]
        else:
            log_demo = self.demos.log_distribution(rho, task)
            chance = 1.0
        mix = np.exp(self.teacher.log_mixture(rho, log_demo))
        g = chance * (mix - np.exp(lp))
        ref = self.reference_log(lp, task)
        if _any_nonzero(self.beta) and ref is not lp:
            g = g - chk.col(self.beta) * kl_logit_grad(lp, ref)
        return _full(chk.col(self.lr) * g, lp, self.param_shape)


# ------------------------------------------------------------------ mixed advantages

_COMBINE = ("sum", "sign")


@dataclass(frozen=True, eq=False)
class SampledBlend(_Draws, SampledSD):
    """One score-function step with a mixed or sign-gated advantage of RL and self-distillation (theory §11).

    Per step and batch entry: N rollouts ``y_n ~ π_θ``, rewards ``r_n = 1[y_n ∈ C]``, the RL
    advantage ``A^RL_n`` (``rl_estimator``: GRPO ``(r − mean)/(std + ε)``, RLOO or REINFORCE,
    as :class:`~modesim.SampledRL`), a demonstration ``d_n`` (as :class:`~modesim.SampledSD`)
    and the distillation advantage ``A^SD_n = log T(y_n|d_n) − log π(y_n)`` (the per-token
    reverse-KL score: :class:`~modesim.SampledSD`'s sampled estimator steps along
    ``(1/N) Σ A^SD_n ∇log π(y_n)``).  Then

        θ ← θ + lr·((1/N) Σ_n A_n·(e_{y_n} − π) − β·∇KL(π‖π_ref)),

    with ``combine="sum"``: ``A_n = λ_r·A^RL_n + μ·A^SD_n`` (``A^SD_n = 0`` without a
    demonstration), a blend of GRPO and SD for μ > 0 and anti-distillation for μ < 0; and
    ``combine="sign"``: ``A_n = sign(A^RL_n)·|A^SD_n|``, the teacher's log-ratio sets the
    magnitude and the reward the direction (a rollout without a demonstration is scored by
    the teacher on its base, ``T(·|∅) = ρ``; ``reward_weight``/``distill_weight`` unused).

    Mean fields (``velocity``, theory §11): ``"sum"`` is ``λ_r·(GRPO's) + μ·(SampledSD's)``,
    both exact (GRPO clock, §2.3; §3.6).  ``"sign"`` with group demonstrations is
    ``lr·π ⊙ (a − Σ π a)`` with ``c ~ Bin(N − 1, J)`` correct other rollouts and, for valid y,
    ``a(y) = P(1 ≤ c ≤ N − 2)·E_{d~π(·|C)}|log T(y|d) − log π(y)| + P(c = 0)·|log ρ(y) − log π(y)|``,
    for invalid y ``a(y) = −P(c ≥ 1)·E_d|log T(y|d) − log π(y)|`` (GRPO and RLOO share these
    signs; registry entry H1 checks them against enumeration of groups).

    Parameters
    ----------
    As :class:`~modesim.SampledSD` (``estimator="sampled"`` only, no ``baseline``), plus
    reward_weight : float or array >= 0
    distill_weight : float or array (any sign)
    combine : {"sum", "sign"}
    rl_estimator : {"grpo", "rloo", "reinforce"}
    eps : float or array > 0
        GRPO's std offset.

    Raises
    ------
    ValueError
        As :class:`~modesim.SampledSD`; an unknown ``combine`` or ``rl_estimator``;
        ``estimator`` other than ``"sampled"`` or a ``baseline``; ``reward_weight``
        negative, ``distill_weight`` not finite or ``eps`` not positive; ``n_rollouts``
        below 2 for GRPO, RLOO or group demonstrations (REINFORCE with an external
        ``demos`` allows 1).  At a round: a teacher that gives zero
        probability to a sampled rollout (``T(y_n|d_n) = 0``).  ``velocity``: where the mean
        field has no closed form (see its docstring).

    Source: ours (theory §11, statements L1 and H1).  Mixed advantages of this form are the
    score-function counterpart of the blended objective
    :class:`~modesim.remedies.DistillationBlend`; GRPO's advantage as
    :class:`~modesim.SampledRL` computes it (theory §2.3).

    Examples
    --------
    >>> import modesim as ms
    >>> from modesim.remedies import SampledBlend
    >>> rule = SampledBlend(ms.CopyTeacher(0.5), combine="sign", teacher_base=ms.EMA(0.95), lr=0.5, seed=0)
    >>> task = ms.make_task([0.5, 0.3, 0.2], [1, 1, 0])
    >>> final = ms.train(rule, task, 50, n_seeds=4, record_policy=False).final
    >>> bool(final.policy[:, :2].sum(-1).mean() > 0.8)
    True
    """

    reward_weight: float = 0.5
    distill_weight: float = 0.5
    combine: str = "sum"
    rl_estimator: str = "grpo"
    eps: float = 1e-6

    def _check_own(self) -> None:
        chk.choice(self.combine, "combine", _COMBINE)
        chk.choice(self.rl_estimator, "rl_estimator", ("grpo", "rloo", "reinforce"))
        if self.estimator != "sampled" or self.baseline != "none":
            raise ValueError("SampledBlend scores the sampled rollouts (estimator='sampled', baseline='none'); "
                             f"got estimator={self.estimator!r}, baseline={self.baseline!r}")
        object.__setattr__(self, "reward_weight", chk.real(self.reward_weight, "reward_weight", low=0.0))
        object.__setattr__(self, "distill_weight", chk.real(self.distill_weight, "distill_weight"))
        object.__setattr__(self, "eps", chk.real(self.eps, "eps", low=0.0, low_open=True))
        low = 1 if self.rl_estimator == "reinforce" else 2
        chk.integer(self.n_rollouts, "n_rollouts", low=low)
        object.__setattr__(self, "_rl", SampledRL(self.rl_estimator, n_rollouts=self.n_rollouts, lr=1.0,
                                                  eps=self.eps))

    @property
    def _closed_form(self) -> str | None:
        if self.n_demos > 1 and self._group:
            return (f"a teacher with m={self.n_demos} demonstrations drawn from a finite group has no "
                    "closed-form mean field (allowed: m = 1)")
        if self._group and not self.exclude_self:
            return "exclude_self=False has no closed-form mean field here (allowed: exclude_self=True)"
        return None

    @property
    def param_shape(self) -> tuple[int, ...]:
        return np.broadcast_shapes(super().param_shape, chk.param_shape(self.reward_weight, self.distill_weight,
                                                                         self.eps))

    def advantages(self, state: State, task: Task):
        """``(y, A)``: this round's rollouts (…, N) and their combined advantages (…, N)."""
        lp, rho, pi, y, demos, has = self._sample(state, task)
        return self._advantages(lp, rho, y, demos, has, task)[:2]

    def _advantages(self, lp, rho, y, demos, has, task):
        r = take(task.valid, y).astype(np.float64)
        a_rl = self._rl.advantages(r)
        log_t = self.teacher.log_prob(rho, demos, y)
        lp_y = take(lp, y)
        if self.combine == "sum":
            _check_support((log_t == -np.inf) & has)
            with np.errstate(invalid="ignore"):
                a_sd = np.where(has, log_t - lp_y, 0.0)
            A = chk.col(self.reward_weight) * a_rl + chk.col(self.distill_weight) * a_sd
        else:
            base_t = take(np.broadcast_to(rho, lp.shape), y)
            lt = np.where(has, log_t, base_t)
            _check_support(lt == -np.inf)
            A = np.sign(a_rl) * np.abs(lt - lp_y)
        return y, A, a_rl

    def estimate(self, state: State, task: Task) -> tuple[np.ndarray, np.ndarray]:
        """One stochastic update direction and which groups had no signal (all ``A_n = 0``).

        Returns ``(direction, silent)``; the step is ``θ ← θ + lr·direction``.
        """
        lp, rho, pi, y, demos, has = self._sample(state, task)
        y, A, _ = self._advantages(lp, rho, y, demos, has, task)
        direction = score_mean(y, A, pi)
        ref = self.reference_log(lp, task)
        if _any_nonzero(self.beta) and ref is not lp:
            direction = direction - chk.col(self.beta) * kl_logit_grad(lp, ref, pi)
        return direction, all_true(A == 0.0)

    def velocity(self, log_policy: np.ndarray, task: Task, *, teacher_log_base=None) -> np.ndarray:
        """Exact expected update per step, ``lr·E[direction]`` (class docstring; theory §11).

        Raises
        ------
        ValueError
            Where the mean field has no closed form (several demonstrations from a group),
            or an EMA teacher base without ``teacher_log_base``.
        """
        why = self._closed_form
        if why is not None:
            raise ValueError(why)
        lp = np.asarray(log_policy, dtype=np.float64)
        rho = self.velocity_teacher_base(lp, task.log_base, teacher_log_base)
        if self.combine == "sum":
            rl = self._rl.velocity(lp, task)
            if self._group:
                D = np.exp(log_conditional(lp, task.valid, name="policy"))
                reach = self.n_rollouts - 1
                chance = -np.expm1(reach * log_mass(lp, ~task.valid))[..., None]
            else:
                D = self.demos.distribution(rho, task)
                chance = 1.0
            sdv = -chance * kl_logit_grad(lp, self.teacher.expected_log(rho, D))
            g = chk.col(self.reward_weight) * rl + chk.col(self.distill_weight) * sdv
        else:
            g = self._sign_field(lp, rho, task)
        ref = self.reference_log(lp, task)
        if _any_nonzero(self.beta) and ref is not lp:
            g = g - chk.col(self.beta) * kl_logit_grad(lp, ref)
        return _full(chk.col(self.lr) * g, lp, self.param_shape)

    def _sign_field(self, lp, rho, task):
        """``π ⊙ (a − Σ π a)`` with the expected sign-gated advantage a(y) (class docstring)."""
        lp, rho = np.broadcast_arrays(lp, rho)
        n = self.n_rollouts
        lT = self.teacher.log_matrix(rho)                         # (…, d, y)
        if self._group:
            D = np.exp(log_conditional(lp, task.valid, name="policy"))
        else:
            D = np.broadcast_to(self.demos.distribution(rho, task), lp.shape)
        with np.errstate(invalid="ignore"):
            mag = np.abs(lT - lp[..., None, :])
        mag = np.where(D[..., :, None] > 0, mag, 0.0)
        Md = np.einsum("...d,...dy->...y", D, mag)                 # E_d |log T(y|d) − log π(y)|
        with np.errstate(invalid="ignore"):
            M0 = np.where(np.isfinite(lp), np.abs(rho - lp), 0.0)
        log_j = log_mass(lp, task.valid)[..., None]
        log_f = log_mass(lp, ~task.valid)[..., None]
        p_none = np.exp((n - 1) * log_f)                          # P(c = 0)
        p_all = np.exp((n - 1) * log_j)                           # P(c = N − 1)
        if not self._group:
            p_none = np.zeros_like(p_none)                        # an external demonstration always exists
        est = self.rl_estimator
        if est == "reinforce":
            # A^RL = r ≥ 0: valid rollouts always +, invalid ones 0.
            valid_a = (1.0 - p_none) * Md + p_none * M0
            invalid_a = np.zeros_like(Md)
        else:
            plus = 1.0 - p_all if not self._group else 1.0 - p_none - p_all
            valid_a = plus * Md + p_none * M0
            minus = -np.expm1((n - 1) * log_f)                    # P(c ≥ 1)
            invalid_a = -minus * Md
        a = np.where(task.valid, valid_a, invalid_a)
        pi = np.exp(lp)
        a = np.where(pi > 0, a, 0.0)
        return pi * (a - row_sum(pi * a))
