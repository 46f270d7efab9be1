"""Per-token gradients of the self-distillation objectives on the logits (theory §3.6, §8.1).

The student ``S = π = softmax(θ)`` is fitted to a stop-gradient teacher row
``T = T(·|d)``.  Three objectives, in the convention of TRL's ``GKDTrainer`` and the SDPO
and OPSD trainers (mixing weight λ = ``jsd_weight``):

- reverse KL ``KL(S‖T)`` (the paper's objective);
- forward KL ``KL(T‖S)``;
- generalised Jensen–Shannon ``JSD_λ = λ·KL(T‖M) + (1 − λ)·KL(S‖M)`` with
  ``M = λ·T + (1 − λ)·S``, for 0 < λ < 1.  The trainers special-case the endpoints:
  λ = 1 is the reverse KL and λ = 0 the forward KL (and so does modesim).  These are not
  the limits of ``JSD_λ``, which tends to 0 at both ends: ``JSD_λ/(1 − λ) → KL(S‖T)`` as
  λ → 1 and ``JSD_λ/λ → KL(T‖S)`` as λ → 0, so with SGD the scale of the update jumps at
  the endpoints (Adam removes most of the scale).

**Gradients (ours; checked against finite differences in tests/sampled/test_objectives.py).**
Every objective here is ``F(S) = Σ_y f_y(S)``; its gradient in ``S`` is a vector ``u`` and
its gradient on the logits is ``S ⊙ (u − Σ_y S(y) u(y))`` (``∂S_y/∂θ_k = S_y(1[y=k] − S_k)``).

- reverse: ``u_y = log S(y) − log T(y) + 1``;
- forward: ``u_y = −T(y)/S(y)``, so the logit gradient is ``S − T``;
- JSD: ``u_y = (1 − λ)·log(S(y)/M(y))`` (the λ·KL(T‖M) and (1 − λ)·KL(S‖M) terms'
  ``−λ(1−λ)T/M`` and ``(1−λ)(log S/M + 1 − (1−λ)S/M)`` add up to it, since
  ``λT + (1 − λ)S = M``).

The constant in ``u`` cancels.  Call ``e(y) = u_y`` up to that constant the **excess** of
mode y: ``log S − log T``, ``−T/S`` and ``(1 − λ)(log S − log M)``.  Then

- the **full-distribution estimator** (``estimator="full"``) is ``S ⊙ (e − Σ S e)`` with
  the whole teacher row (the trainers' "full-logit" distillation); for the forward KL this
  is ``S − T`` directly;
- the **sampled-token estimator** (``estimator="sampled"``) on a rollout ``y ~ S`` is
  ``e(y)·(e_y − S)``, unbiased for it because ``E_{y~S}[e(y)(e_y − S)] = S ⊙ (e − Σ S e)``.
  It needs the teacher only at the sampled token: ``T(y|d)``.  For the reverse KL it is
  SDPO's and TRL's ``sampled_token`` mode (``log_ratio.detach() * student_log_probs``);
  the trainers refuse the sampled-token mode for λ ≠ 1, and the forward/JSD versions here
  are ours (the forward one is an importance-weighted estimate, ``T(y)/S(y)``, with a
  large variance where the student under-covers the teacher).  A mode the student holds
  at zero is never sampled, so the sampled forward estimator cannot see teacher mass there
  (where the forward KL is infinite); the full estimator and the mean field report it.

Where ``S(y) = 0`` the gradient is 0 (the mode stays at zero).  The reverse and forward KL
are infinite when the teacher (reverse) or the student (forward) has no mass where the other
has: reported as ``ValueError``.  The JSD is always finite (``M ≥ (1 − λ)S`` and ``M ≥ λT``).

Sources: TRL ``trl/experimental/gkd/gkd_trainer.py`` (``generalized_jsd_loss``) and
``trl/experimental/sdpo/loss_utils.py`` (``compute_divergence``) at f2cd577; lasgroup/SDPO
``verl/trainer/ppo/core_algos.py`` (``compute_self_distillation_loss``) at 0e6d510;
siyan-zhao/OPSD ``opsd_trainer.py`` (``generalized_jsd_loss``) at 590ec26.
"""

from __future__ import annotations

import numpy as np

from .sampling import centred_grad, row_sum

__all__ = ["OBJECTIVES", "token_excess", "full_gradient", "expected_weighted_excess", "log_mix_ratio", "centred",
           "check_support"]

OBJECTIVES = ("reverse", "forward", "jsd")

_NO_SUPPORT = (
    "the teacher gives zero probability to a mode the student samples or holds: "
    "KL(π‖T) is infinite (allowed: teachers with T(y|d) > 0 wherever π(y) > 0, or objective='jsd')"
)
_NO_COVER = (
    "the teacher gives positive probability to a mode the student holds at zero probability: "
    "the forward KL(T‖π) is infinite (allowed: teachers with T(y|d) = 0 wherever π(y) = 0, or "
    "objective='jsd')"
)


def check_support(bad: np.ndarray, forward: bool = False) -> None:
    """Raise the support error of the reverse (or forward) KL where ``bad`` is True."""
    if np.any(bad):
        raise ValueError(_NO_COVER if forward else _NO_SUPPORT)


def _kinds(objective: str, lam):
    """Which kernels a (possibly array-valued) λ needs: {"reverse", "forward", "jsd"}."""
    if objective != "jsd":
        return {objective}
    if not isinstance(lam, np.ndarray):
        return {"reverse"} if lam == 1.0 else {"forward"} if lam == 0.0 else {"jsd"}
    kinds = set()
    if np.any(lam == 1.0):
        kinds.add("reverse")
    if np.any(lam == 0.0):
        kinds.add("forward")
    if np.any((lam > 0.0) & (lam < 1.0)):
        kinds.add("jsd")
    return kinds


def _select(parts: dict, lam, extra: int):
    """Combine per-kind arrays by λ (endpoints special-cased); ``extra`` axes follow λ's batch."""
    if len(parts) == 1:
        return next(iter(parts.values()))
    lc = lam.reshape(lam.shape + (1,) * extra)
    out = parts.get("jsd")
    if "forward" in parts:
        out = parts["forward"] if out is None else np.where(lc == 0.0, parts["forward"], out)
    if "reverse" in parts:
        out = parts["reverse"] if out is None else np.where(lc == 1.0, parts["reverse"], out)
    return out


def _jsd_lam(lam, extra: int):
    """λ shaped for ``extra`` trailing axes; endpoints (handled by :func:`_select`) become 0.5."""
    if isinstance(lam, np.ndarray):
        lam = np.where((lam > 0.0) & (lam < 1.0), lam, 0.5).reshape(lam.shape + (1,) * extra)
    return lam


def log_mix_ratio(z: np.ndarray, lam, *, overwrite: bool = False) -> np.ndarray:
    """``log(λ·e^z + 1 − λ)`` for ``z = log T − log S``, 0 < λ < 1, without overflow.

    Computed as ``log(λ·e^z + (1 − λ))`` for ``z ≤ 700`` (the argument cannot overflow since
    λ ≤ 1; ``z = −∞``, T = 0, gives ``log(1 − λ)`` exactly) and as
    ``z + log(λ + (1 − λ)·e^{−z})`` above (only those entries).  One ``exp`` and one ``log``
    per entry; ``np.logaddexp`` costs about twice as much.  ``overwrite=True`` reuses ``z``'s
    memory for the result.
    """
    with np.errstate(invalid="ignore", over="ignore"):
        big = z > 700.0 if np.nanmax(z, initial=-np.inf) > 700.0 else None
        if big is not None:
            zb = z[big]
        out = np.exp(z, out=z if overwrite else None)
        out *= lam
        out += 1.0 - lam
        np.log(out, out=out)
        if big is not None:
            lb = np.broadcast_to(lam, z.shape)[big] if np.ndim(lam) else lam
            out[big] = zb + np.log(lb + (1.0 - lb) * np.exp(-zb))
    return out


def token_excess(objective: str, lam, lp_y: np.ndarray, log_t: np.ndarray) -> np.ndarray:
    """Excess ``e(y)`` at sampled tokens: ``lp_y = log S(y)``, ``log_t = log T(y|d)``, shape (B..., E).

    ``lam`` is λ (float or array of the batch shape B...).  Returns (B..., E).  Entries with
    ``T(y|d) = 0`` give ``+inf`` for the reverse KL (the caller reports them).
    """
    parts = {}
    kinds = _kinds(objective, lam)
    if "reverse" in kinds:
        parts["reverse"] = lp_y - log_t
    if kinds - {"reverse"}:
        with np.errstate(invalid="ignore"):
            r = log_t - lp_y  # log(T/S)
    if "forward" in kinds:
        parts["forward"] = -np.exp(r)
    if "jsd" in kinds:
        lam_c = _jsd_lam(lam, lp_y.ndim - np.ndim(lam))
        # log S − log M = −log(λ·T/S + 1 − λ)
        out = log_mix_ratio(r, lam_c, overwrite="forward" not in kinds)
        out *= -(1.0 - lam_c)
        parts["jsd"] = out
    return _select(parts, lam, lp_y.ndim - np.ndim(lam))


def full_gradient(objective: str, lam, lp: np.ndarray, pi: np.ndarray, rows: np.ndarray, w: np.ndarray, *,
                  exact_kl=None) -> np.ndarray:
    """``Σ_r w_r ∇_θ D(T_r, S)`` for whole teacher rows ``rows = log T_r`` (B..., R, K), weights (B..., R).

    ``lp``, ``pi``: (B..., K) the student.  Returns the loss gradient on the logits (B..., K),
    0 on modes where S = 0.  The reverse KL needs ``T_r > 0`` wherever ``S > 0`` and the forward
    KL ``T_r = 0`` wherever ``S = 0`` (else ``ValueError``); the JSD has no condition.
    ``exact_kl = (β, log π_ref)`` adds ``β ∇KL(S‖π_ref)`` (β broadcasting like ``lp``), folded
    into the same centred gradient where the objective's is one.
    """
    kinds = _kinds(objective, lam)
    parts = {}
    live = np.isfinite(lp)
    wc = w[..., None]
    frac = row_sum(w)
    if exact_kl is not None:
        beta, log_ref = exact_kl
        with np.errstate(invalid="ignore"):
            kl_d = beta * (lp - log_ref)
    if "reverse" in kinds:
        check_support(np.any(np.isneginf(rows) & live[..., None, :] & (wc > 0), axis=-2))
        with np.errstate(invalid="ignore"):
            d = frac * lp - np.einsum("...r,...rk->...k", w, np.where(np.isneginf(rows), 0.0, rows))
            if exact_kl is not None:
                d = d + kl_d
        parts["reverse"] = centred_grad(d, lp, pi)
    if "forward" in kinds:
        t = np.exp(rows)
        check_support(np.any((t > 0) & ~live[..., None, :] & (wc > 0), axis=-2), forward=True)
        g = frac * pi - np.einsum("...r,...rk->...k", w, t)
        if exact_kl is not None:
            g += centred_grad(np.array(np.broadcast_to(kl_d, g.shape)), lp, pi)
        parts["forward"] = g
    if "jsd" in kinds:
        lam_c = _jsd_lam(lam, lp.ndim - np.ndim(lam))
        d = _weighted_log_mix(rows, lp, lam_c, w)
        d *= -(1.0 - lam_c)
        if exact_kl is not None:
            with np.errstate(invalid="ignore"):
                d += kl_d
        parts["jsd"] = centred_grad(d, lp, pi)
    return _select(parts, lam, lp.ndim - np.ndim(lam))


def _weighted_log_mix(rows: np.ndarray, lp: np.ndarray, lam, w: np.ndarray) -> np.ndarray:
    """``Σ_r w_r log(M_r/S)`` (B..., K) for rows ``log T_r`` (B..., R, K), ``M_r = λT_r + (1 − λ)S``.

    Two rows (one demonstration per group: the first correct rollout's and the one that
    rollout gets) usually differ in a few modes only: the second row's log-mixture is then
    evaluated where it differs from the first, ``w_0 F_0 + w_1 F_1 = (w_0 + w_1) F_0 + w_1 (F_1 − F_0)``.
    Any teacher; identical rows cost nothing extra.
    """
    with np.errstate(invalid="ignore"):
        if rows.shape[-2] == 2 and not np.ndim(lam) and rows.shape[:-2] == lp.shape[:-1]:
            r0, r1 = rows[..., 0, :], rows[..., 1, :]
            f0 = log_mix_ratio(r0 - lp, lam, overwrite=True)
            idx = np.nonzero(r1 != r0)
            d = f0 * row_sum(w)
            if idx[0].size:
                f1 = log_mix_ratio(r1[idx] - lp[idx], lam, overwrite=True)
                f1 -= f0[idx]
                f1 *= w[..., 1][idx[:-1]]
                d[idx] += f1
            return d
        z = rows - lp[..., None, :]
        lm = log_mix_ratio(z, lam[..., None] if np.ndim(lam) else lam, overwrite=True)  # log M_r − log S
        return np.einsum("...r,...rk->...k", w, lm)


def expected_weighted_excess(objective: str, lam, teacher, lp: np.ndarray, rho: np.ndarray, demo: np.ndarray) -> np.ndarray:
    """``q = S ⊙ E_{d~D} e_d``: the mean field's per-mode term (theory §3.6, §8.1).

    ``demo`` is the demonstration law D (B..., K).  The logit mean field of the per-rollout
    gradient is ``q − S·Σ q``.  Reverse KL: ``S ⊙ (log S − G)``, ``G = E_D log T`` (the
    teacher's ``expected_log``); forward KL: ``−E_D T`` (the teacher's ``log_mixture``); JSD:
    ``(1 − λ)·S ⊙ (log S − E_D log M_d)``, ``M_d = λT(·|d) + (1 − λ)S``, summed over the
    teacher's matrix (``log_matrix``, K² per entry).  0 where S = 0.
    """
    kinds = _kinds(objective, lam)
    pi = np.exp(lp)
    live = np.isfinite(lp)
    parts = {}
    if "reverse" in kinds:
        G = teacher.expected_log(rho, demo)
        check_support(np.any(np.isneginf(G) & live))
        with np.errstate(invalid="ignore"):
            parts["reverse"] = np.where(live, pi * (lp - G), 0.0)
    if "forward" in kinds:
        with np.errstate(divide="ignore"):
            mix = np.exp(teacher.log_mixture(rho, np.log(demo)))
        check_support(np.any((mix > 0) & ~live), forward=True)
        parts["forward"] = -np.where(live, mix, 0.0)
    if "jsd" in kinds:
        lT = teacher.log_matrix(rho)  # [..., d, y]
        lam_c = _jsd_lam(lam, lp.ndim - np.ndim(lam))
        with np.errstate(invalid="ignore"):
            z = lT - lp[..., None, :]
        lm = log_mix_ratio(z, lam_c[..., None] if np.ndim(lam_c) else lam_c, overwrite=True)  # log M_d(y) − log S(y)
        lm = np.where(live[..., None, :], lm, 0.0)
        e_lm = np.einsum("...d,...dy->...y", np.broadcast_to(demo, lm.shape[:-1]), lm)
        parts["jsd"] = np.where(live, -(1.0 - lam_c) * pi * e_lm, 0.0)
    return _select(parts, lam, lp.ndim - np.ndim(lam))


def centred(q: np.ndarray, pi: np.ndarray) -> np.ndarray:
    """``q − π·Σ q``: the logit gradient from a per-mode term ``q = π ⊙ e`` (in place on ``q``)."""
    q -= row_sum(q) * pi
    return q

