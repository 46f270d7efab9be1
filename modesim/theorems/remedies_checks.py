"""Checks and default implementations of the theory §11 statements (remedies): F1 M1 C1 W1 W2 L1 D1 H1.

Same contract as :mod:`modesim.theorems.checks`: ``check_<id>(instance, impl, parts)``
returns ``{clause: margin}``, positive exactly when the clause holds, comparing ``impl``
(the rule or round under test) with an independent computation: a brute-force sum over
demonstrations or over every group of rollouts, scipy's binomial law, a generic
optimiser, or a closed form of theory §11.
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from ..demos import ConditionedDemos, UniformDemos
from ..distill import sd_optimum
from ..simplex import log_mass, log_normalise
from ..teachers import CopyTeacher, TiltTeacher
from .checks import log_ratio_gains, relative_amplification, valid_pairs

__all__ = [
    "check_f1", "check_m1", "check_c1", "check_w1", "check_w2", "check_l1", "check_d1", "check_h1",
    "forward_round", "forward_uniform_round", "mixture_round", "log_average_round", "contrastive_round",
    "plain_round", "balanced_round", "wrongly_balanced_round", "power_demos_round", "power_copy_power_demos_round",
    "blend_round", "bonus_rule", "sign_rule",
    "FORWARD_IMPL", "MIXTURE_IMPL", "TEACHER_IMPL", "POWER_DEMOS_IMPL", "BLEND_IMPL", "BONUS_IMPL", "SIGN_IMPL",
]


# ------------------------------------------------------------------ helpers


def remedy_teacher(inst):
    """Copy teacher (``alpha``), power-copy teacher (``c``, ``gamma``) or identity tilt (``kappa``)."""
    if "gamma" in inst.params:
        from ..bias_teachers import PowerCopyTeacher

        return PowerCopyTeacher(inst["c"], inst["gamma"])
    if "kappa" in inst.params:
        return TiltTeacher(inst["kappa"])
    return CopyTeacher(inst["alpha"])


def _valid_spread(lp, lp0, valid) -> float:
    d = (lp - lp0)[valid]
    return float(np.max(d) - np.min(d)) if d.size else 0.0


def _brute_G(T: np.ndarray, D: np.ndarray) -> np.ndarray:
    """``Σ_d D(d) log T[d, y]`` by an explicit loop over demonstrations."""
    out = np.zeros(T.shape[-1])
    for d in np.flatnonzero(D > 0):
        with np.errstate(divide="ignore"):
            out = out + D[d] * np.log(T[d])
    return out


# ------------------------------------------------------------------ F1: forward KL

FORWARD_IMPL = "impl(task, teacher, beta) -> log of the forward-KL round from π0 (D = π0(·|C))"


def forward_round(task, teacher, beta):
    return sd_optimum(task, teacher=teacher, objective="forward", beta=beta, log=True)


def forward_uniform_round(task, teacher, beta):
    return sd_optimum(task, teacher=teacher, demos=UniformDemos(), objective="forward", beta=beta, log=True)


def check_f1(inst, impl, parts):
    """F1: the forward round preserves valid ratios and sets π*(C) = ((1 − α)Z + α + βZ)/(1 + β)."""
    task, beta = inst.task, inst["beta"]
    teacher = remedy_teacher(inst)
    lp = np.asarray(impl(task, teacher, beta))
    out = {}
    if "preserves" in parts:
        out["preserves"] = 1e-12 - _valid_spread(lp, task.log_base, task.valid)
    if "mixture" in parts:
        # Independent: the arithmetic mean of the teacher's rows, by brute force.
        T = teacher.matrix(task.log_base)
        D = ConditionedDemos().distribution(task.log_base, task)
        want = (D @ T + beta * task.base) / (1.0 + beta)
        out["mixture"] = 1e-12 - float(np.max(np.abs(np.exp(lp) - want)))
    return out


# ------------------------------------------------------------------ M1: mixture of m teachers

MIXTURE_IMPL = "impl(task, alpha, m, beta) -> log of the round with the mixture of m copy teachers (D = π0(·|C))"


def mixture_round(task, alpha, m, beta):
    from ..remedies import MixtureTeacher

    return sd_optimum(task, teacher=MixtureTeacher(CopyTeacher(alpha), m), beta=beta, log=True)


def log_average_round(task, alpha, m, beta):
    """The product of experts: E log of the *geometric* mean of m teachers = E_d log T (m-free)."""
    return sd_optimum(task, teacher=CopyTeacher(alpha), beta=beta, log=True)


def check_m1(inst, impl, parts):
    """M1: exact binomial form, the 1/m expansion within the explicit bound, and |Δ| ≤ 0.01 at large m."""
    from scipy.stats import binom

    from ..remedies.formulas import mixture_gap_bound, mixture_gap_leading

    task, a, m, beta = inst.task, inst["alpha"], int(inst["m"]), inst["beta"]
    lp = np.asarray(impl(task, a, m, beta))
    rho = task.base
    D = ConditionedDemos().distribution(task.log_base, task)
    v = np.flatnonzero(task.valid)
    pairs = [(i, j) for i in v for j in v if rho[i] > rho[j]]
    change = np.array([(lp[i] - lp[j]) - (task.log_base[i] - task.log_base[j]) for i, j in pairs])
    out = {}
    if "exact" in parts:
        n = np.arange(m + 1)
        G = np.array([np.sum(binom.pmf(n, m, D[y]) * np.log((1 - a) * rho[y] + a * n / m)) for y in v])
        Ibar = dict(zip(v, G - np.log(rho[v])))
        want = np.array([(Ibar[i] - Ibar[j]) / (1 + beta) for i, j in pairs])
        out["exact"] = 1e-10 - float(np.max(np.abs(change - want))) if pairs else math.inf
    if "rate" in parts:
        mu = (1 - a) * rho + a * D
        lead = {y: np.log(mu[y] / rho[y]) + mixture_gap_leading(a, m, rho[y], D[y]) for y in v}
        bnd = {y: mixture_gap_bound(a, m, rho[y], D[y]) for y in v}
        worst = -math.inf
        for (i, j), c in zip(pairs, change):
            err = abs(c - (lead[i] - lead[j]) / (1 + beta))
            worst = max(worst, (err - 1e-12) / ((bnd[i] + bnd[j]) / (1 + beta) + 1e-300))
        out["rate"] = 1.0 - worst if pairs else math.inf
    if "small" in parts:
        out["small"] = 0.01 - float(np.max(np.abs(change))) if pairs else math.inf
    return out


# ------------------------------------------------------------------ C1: contrastive teacher

TEACHER_IMPL = "impl(task, teacher, beta) -> log of the remedy's round from π0 with that teacher"


def contrastive_round(task, teacher, beta):
    from ..remedies import ContrastiveTeacher

    return sd_optimum(task, teacher=ContrastiveTeacher(teacher), beta=beta, log=True)


def plain_round(task, teacher, beta):
    """The contrastive score against no demonstration: T̃ = T, plain self-distillation."""
    from ..remedies import ContrastiveTeacher

    return sd_optimum(task, teacher=ContrastiveTeacher(teacher, baseline="none"), beta=beta, log=True)


def check_c1(inst, impl, parts):
    """C1: with an independent baseline demonstration the round from π0 returns π0."""
    task, beta = inst.task, inst["beta"]
    lp = np.asarray(impl(task, remedy_teacher(inst), beta))
    out = {}
    if "identity" in parts:
        alive = np.isfinite(task.log_base)
        out["identity"] = 1e-12 - float(np.max(np.abs(lp[alive] - task.log_base[alive])))
    return out


# ------------------------------------------------------------------ W1: balanced demonstrations


def balanced_round(task, teacher, beta):
    from ..remedies import BalancedDemos

    return sd_optimum(task, teacher=teacher, demos=BalancedDemos(teacher), beta=beta, log=True)


def wrongly_balanced_round(task, teacher, beta):
    """Demonstrations balanced for the copy teacher with the same copy odds at ρ(d) = 1."""
    from ..remedies import BalancedDemos

    alpha = teacher.c / (1.0 + teacher.c) if hasattr(teacher, "c") else 0.5
    return sd_optimum(task, teacher=teacher, demos=BalancedDemos(CopyTeacher(alpha)), beta=beta, log=True)


def check_w1(inst, impl, parts):
    """W1: ratios among valid modes preserved exactly; every valid mode gains ν/(1 + β) nats,
    ν = 1/Σ_C 1/L (copy-type teachers), over every invalid one."""
    task, beta = inst.task, inst["beta"]
    teacher = remedy_teacher(inst)
    lp = np.asarray(impl(task, teacher, beta))
    out = {}
    if "preserves" in parts:
        out["preserves"] = 1e-11 - _valid_spread(lp, task.log_base, task.valid)
    if "gain" in parts:
        # Independent of the solver: for a copy-type teacher A[d, y] = log T[d, y] − log ρ(y) is
        # c_d off the diagonal and c_d + L_d on it, so L_y = A[y, y] − A[y, y'] (any y' ≠ y), and
        # a valid mode gains ν = 1/Σ_C 1/L over an invalid one.
        v = task.valid
        if (~v).any():
            A = np.log(teacher.matrix(task.log_base)) - task.log_base[None, :]
            K = A.shape[-1]
            L = np.array([A[y, y] - A[y, (y + 1) % K] for y in range(K)])
            nu = 1.0 / np.sum(1.0 / L[v])
            y0, yi = int(np.flatnonzero(v)[0]), int(np.flatnonzero(~v)[0])
            got = (lp[y0] - lp[yi]) - (task.log_base[y0] - task.log_base[yi])
            want = nu / (1 + beta)
            out["gain"] = min(1e-10 - abs(got - want) / max(abs(want), 1.0), want)
        else:
            out["gain"] = math.inf
    return out


# ------------------------------------------------------------------ W2: power-law reweighting

POWER_DEMOS_IMPL = "impl(task, alpha, exponent, beta) -> log of the copy-teacher round with D ∝ π0^(1−e) on C"


def power_demos_round(task, alpha, exponent, beta):
    from ..remedies import PowerDemos

    return sd_optimum(task, teacher=CopyTeacher(alpha), demos=PowerDemos(exponent), beta=beta, log=True)


def power_copy_power_demos_round(task, alpha, exponent, beta):
    """The power-copy teacher with γ = 1 (copy odds c·ρ(d), c = α/(1 − α)) instead of the copy teacher."""
    from ..bias_teachers import PowerCopyTeacher
    from ..remedies import PowerDemos

    teacher = PowerCopyTeacher(alpha / (1 - alpha), 1.0)
    return sd_optimum(task, teacher=teacher, demos=PowerDemos(exponent), beta=beta, log=True)


def check_w2(inst, impl, parts):
    """W2: Δ log ratio = (h(y) − h(y'))/(S(1 + β)), h = ρ^(1−e) log(1 + κ/ρ); amplifies pairs
    below ρ*_e, compresses pairs above (e ≤ 0: all amplify, e ≥ 1: all compress)."""
    from ..remedies.formulas import power_ipw_threshold

    task, a, e, beta = inst.task, inst["alpha"], inst["exponent"], inst["beta"]
    lp = np.asarray(impl(task, a, e, beta))
    rho = task.base
    kappa = a / (1 - a)
    v = task.valid
    h = rho ** (1 - e) * np.log1p(kappa / rho)
    S = float(np.sum(rho[v] ** (1 - e)))
    pairs = valid_pairs(task.log_base, v)
    before, change = log_ratio_gains(task.log_base, lp, v)
    out = {}
    if "formula" in parts:
        want = np.array([(h[i] - h[j]) / (S * (1 + beta)) for i, j in pairs])
        out["formula"] = (1e-7 - float(np.max(np.abs(change - want) / (np.abs(want) + 1e-7)))) if pairs else math.inf
    if "direction" in parts:
        star = power_ipw_threshold(a, e)
        margins = []
        for (i, j), b0, c in zip(pairs, before, change):
            lo, hi = min(rho[i], rho[j]), max(rho[i], rho[j])
            if hi < star * (1 - 1e-3):
                margins.append(c / b0)          # both below ρ*: amplified
            elif lo > star * (1 + 1e-3):
                margins.append(-c / b0)         # both above ρ*: compressed
        out["direction"] = float(min(margins)) if margins else math.inf
    return out


# ------------------------------------------------------------------ L1: blend and anti-distillation

BLEND_IMPL = ("impl(task, teacher, reward_weight, distill_weight, beta) -> log of the blended round's "
              "maximiser from π0")


def blend_round(task, teacher, reward_weight, distill_weight, beta):
    from ..remedies import blend_optimum

    return blend_optimum(task, teacher=teacher, reward_weight=reward_weight, distill_weight=distill_weight,
                         beta=beta, log=True)


def _blend_objective(lp, r, G, lref, lam, mu, beta) -> float:
    """``−F(π) = −λ E r + μ Σ π(log π − G) + β KL(π‖π0)`` (to minimise)."""
    p = np.exp(lp)
    return float(-lam * np.sum(p * r) + mu * np.sum(p * (lp - G)) + beta * np.sum(p * (lp - lref)))


def check_l1(inst, impl, parts):
    """L1: the closed form maximises F (beats L-BFGS), changes valid log-ratios by μ/(μ+β)·ΔĪ,
    and with a copying teacher amplifies (μ > 0) or compresses (μ < 0) every valid ratio."""
    from scipy.optimize import minimize

    task, beta = inst.task, inst["beta"]
    lam, mu = inst["reward_weight"], inst["distill_weight"]
    teacher = remedy_teacher(inst)
    lp = np.asarray(impl(task, teacher, lam, mu, beta))
    T = teacher.matrix(task.log_base)
    D = ConditionedDemos().distribution(task.log_base, task)
    G = _brute_G(T, D)
    out = {}
    if "optimum" in parts:
        r = task.valid.astype(float)
        res = minimize(lambda z: _blend_objective(log_normalise(z), r, G, task.log_base, lam, mu, beta),
                       task.log_base.copy(), method="L-BFGS-B", options={"gtol": 1e-12, "ftol": 1e-15, "maxiter": 3000})
        closed = _blend_objective(lp, r, G, task.log_base, lam, mu, beta)
        out["optimum"] = 1e-10 - (closed - float(res.fun))
    Ibar = G - task.log_base
    pairs = valid_pairs(task.log_base, task.valid)
    _, change = log_ratio_gains(task.log_base, lp, task.valid)
    if "formula" in parts:
        want = np.array([mu / (mu + beta) * (Ibar[i] - Ibar[j]) for i, j in pairs])
        out["formula"] = (1e-9 - float(np.max(np.abs(change - want) / (np.abs(want) + 1e-9)))) if pairs else math.inf
    if "direction" in parts:
        out["direction"] = math.copysign(1.0, mu) * relative_amplification(task.log_base, lp, task.valid)
    return out


# ------------------------------------------------------------------ D1: diversity bonus (REINFORCE)

BONUS_IMPL = "impl(n_rollouts, bonus) -> a SampledRL('reinforce', ...) rule with that diversity bonus"


def bonus_rule(n_rollouts, bonus):
    from ..sampled import SampledRL

    return SampledRL("reinforce", n_rollouts=n_rollouts, lr=1.0, diversity_bonus=bonus, seed=0)


def _all_groups(K: int, N: int) -> np.ndarray:
    return np.array(list(itertools.product(range(K), repeat=N)), dtype=np.int64)


def check_d1(inst, impl, parts):
    """D1: the rule's expected update (every group enumerated through its reward and advantage
    hooks) is π ⊙ (a − Σπa), a(y) = 1[y∈C](1 + λ(N−1)(1−π(y))/N); a mirror step with it
    compresses every valid ratio."""
    from ..sampled.sampling import score_mean

    task, N, lam = inst.task, int(inst["n"]), inst["bonus"]
    rule = impl(N, lam)
    p = task.base
    K = p.size
    ys = _all_groups(K, N)
    prob = np.prod(p[ys], axis=-1)
    A = rule.advantages(rule.rewards(ys, task.valid))
    upd = score_mean(ys, A, np.broadcast_to(p, (len(ys), K)))
    mean = prob @ upd
    # E[A_1 | y_1 = y] from the same enumeration.
    a_emp = np.array([np.sum(prob[ys[:, 0] == y] * A[ys[:, 0] == y, 0]) / p[y] for y in range(K)])
    a = np.where(task.valid, 1.0 + lam * (N - 1) * (1.0 - p) / N, 0.0)
    out = {}
    if "mean_field" in parts:
        want = p * (a - np.sum(p * a))
        out["mean_field"] = 1e-12 - float(np.max(np.abs(mean - want)))
    if "compresses" in parts:
        pairs = valid_pairs(task.log_base, task.valid)
        # A mirror step log π ← log π + lr·a changes log(π_y/π_y') by lr·(a_y − a_y'): < 0 when π_y > π_y'.
        gaps = [(a_emp[j] - a_emp[i]) / (p[i] - p[j]) for i, j in pairs]
        out["compresses"] = float(min(gaps)) if gaps else math.inf
    return out


# ------------------------------------------------------------------ H1: sign-gated advantage

SIGN_IMPL = "impl(alpha, n_rollouts) -> a SampledBlend(CopyTeacher(alpha), combine='sign', ...) rule (lr = 1)"


def sign_rule(alpha, n_rollouts):
    from ..remedies import SampledBlend

    return SampledBlend(CopyTeacher(alpha), combine="sign", n_rollouts=n_rollouts, lr=1.0, seed=0)


def _sign_enumeration(rule, task, lp, rho, teacher, N):
    """E[(1/N) Σ_n A_n (e_{y_n} − π)] over every group, each rollout's demonstration averaged
    uniformly over the other correct rollouts (the teacher on ρ when there is none)."""
    p = np.exp(lp)
    K = p.size
    lT = teacher.log_matrix(rho)
    total = np.zeros(K)
    for ys in itertools.product(range(K), repeat=N):
        ys = np.array(ys)
        prob = float(np.prod(p[ys]))
        r = task.valid[ys].astype(float)
        rbar = r.mean()
        upd = np.zeros(K)
        for n in range(N):
            sign = np.sign(r[n] - rbar)
            others = [j for j in range(N) if j != n and r[j] > 0]
            if others:
                mag = np.mean([abs(lT[ys[j], ys[n]] - lp[ys[n]]) for j in others])
            else:
                mag = abs(rho[ys[n]] - lp[ys[n]])
            e = np.zeros(K)
            e[ys[n]] = 1.0
            upd += sign * mag * (e - p)
        total += prob * upd / N
    return total


def check_h1(inst, impl, parts):
    """H1: the sign-gated rule's mean field equals enumeration of groups; for the current copy
    teacher a valid mode's expected advantage is P(1 ≤ c ≤ N−2)·(−log(1−α) + q(L + 2 log(1−α)))
    (q = π(y|C), L = log(1 + α/((1−α)π(y)))), not constant on C."""
    task, a, N = inst.task, inst["alpha"], int(inst["n"])
    lag = inst.params.get("lag", 0.0)
    rule = impl(a, N)
    lp = task.log_base
    rho = log_normalise((1.0 + lag) * lp)
    vel = np.asarray(rule.velocity(lp, task, teacher_log_base=rho) if rule.ema_tau is not None
                     else _velocity_with_rho(rule, lp, task, rho))
    p = np.exp(lp)
    out = {}
    if "mean_field" in parts:
        want = _sign_enumeration(rule, task, lp, rho, CopyTeacher(a), N)
        out["mean_field"] = 1e-12 - float(np.max(np.abs(vel - want)))
    v = task.valid
    J = float(np.exp(log_mass(lp, v)))
    q = p / J
    L = np.log1p(a / ((1 - a) * p))
    P = 1.0 - (1 - J) ** (N - 1) - J ** (N - 1)
    a_closed = P * (-np.log(1 - a) + q * (L + 2 * np.log(1 - a)))
    pairs = valid_pairs(lp, v)
    # a(y) − a(y') from the velocity: v_y/π_y − v_y'/π_y' (the centring cancels).
    got = np.array([vel[i] / p[i] - vel[j] / p[j] for i, j in pairs])
    if "valid_advantage" in parts:
        want = np.array([a_closed[i] - a_closed[j] for i, j in pairs])
        out["valid_advantage"] = (1e-10 - float(np.max(np.abs(got - want)))) if pairs else math.inf
    if "distorts" in parts:
        out["distorts"] = float(np.max(np.abs(got))) - 1e-9 if pairs else math.inf
    return out


def _velocity_with_rho(rule, lp, task, rho):
    """The velocity of a rule whose teacher base is the current policy, evaluated with base ρ."""
    import dataclasses

    from ..rule import EMA

    lagged = dataclasses.replace(rule, teacher_base=EMA(0.5))
    return lagged.velocity(lp, task, teacher_log_base=rho)
