"""Checks and default implementations of the theory §8 statements (J1 J2, B1 B2 B3, K1 K2).

Same contract as :mod:`modesim.theorems.checks`: ``check_<id>(instance, impl, parts)``
returns ``{clause: margin}``, positive exactly when the clause holds, and compares
``impl`` (the rule or optimum under test) with an independent computation: brute force
over demonstrations, a generic optimiser, a closed form, or a finite-difference Jacobian.
"""

from __future__ import annotations

import math

import numpy as np

from ..demos import ConditionedDemos, FixedDemo, UniformDemos
from ..distill import SelfDistillation, sd_optimum
from ..kl_strength import collapsed_rest_point
from ..rule import apply_map
from ..simplex import log_mass, log_normalise
from ..stability import map_jacobian
from ..teachers import CopyTeacher, TiltTeacher
from .checks import log_ratio_gains, relative_amplification, teacher_of, valid_pairs
from .formulas import f_alpha, f_alpha_prime

__all__ = [
    "check_j1", "check_j2", "check_b1", "check_b2", "check_b3", "check_k1", "check_k2", "check_k3",
    "jsd_round", "reverse_round", "anti_copy_jsd", "power_copy_round", "collapse_rule",
    "reference_current_rule", "tilt_rule", "jsd_collapse_rule", "reverse_collapse_rule",
    "JSD_IMPL", "POWER_IMPL", "COLLAPSE_IMPL", "JSD_COLLAPSE_IMPL",
]


def _power(inst):
    from ..bias_teachers import PowerCopyTeacher

    return PowerCopyTeacher(inst["c"], inst["gamma"])


# ------------------------------------------------------------------ theory §8.1: JSD


def _jsd_objective(lp, T, D, lam, beta, lref) -> float:
    """``Σ_d D(d)·JSD_λ(T[d]‖π) + β·KL(π‖π_ref)`` by brute force over demonstrations."""
    p = np.exp(lp)
    total = 0.0
    with np.errstate(divide="ignore", invalid="ignore"):
        for d in np.flatnonzero(D > 0):
            m = lam * T[d] + (1 - lam) * p
            total += D[d] * (lam * np.sum(np.where(T[d] > 0, T[d] * np.log(T[d] / m), 0.0))
                             + (1 - lam) * np.sum(np.where(p > 0, p * (lp - np.log(m)), 0.0)))
        if beta:
            total += beta * np.sum(np.where(p > 0, p * (lp - lref), 0.0))
    return float(total)


def check_j1(inst, impl, parts):
    """J1: the JSD round's optimum meets its stationarity conditions and beats L-BFGS."""
    from scipy.optimize import minimize

    task, beta, lam = inst.task, inst["beta"], inst["lam"]
    teacher = teacher_of(inst)
    T = teacher.matrix(task.log_base)
    D = ConditionedDemos().distribution(task.log_base, task)
    lp = np.asarray(impl(task, teacher, beta, lam))
    out = {}
    if "stationary" in parts:
        # (1 − λ)·Σ_d D(d) log(π_y/M_{d,y}) + β log(π_y/π0(y)) is the same for every held y.
        p = np.exp(lp)
        M = lam * T + (1 - lam) * p[None, :]
        s = (1 - lam) * (D @ (lp[None, :] - np.log(M))) + beta * (lp - task.log_base)
        held = p > 0
        out["stationary"] = 1e-9 - float(np.max(s[held]) - np.min(s[held]))
    if "beats_optimiser" in parts:
        res = minimize(lambda z: _jsd_objective(log_normalise(z), T, D, lam, beta, task.log_base),
                       task.log_base.copy(), method="L-BFGS-B",
                       options={"gtol": 1e-12, "ftol": 1e-15, "maxiter": 2000})
        closed = _jsd_objective(lp, T, D, lam, beta, task.log_base)
        out["beats_optimiser"] = 1e-10 - (closed - float(res.fun))
    return out


def check_j2(inst, impl, parts):
    """J2: with the copy teacher the JSD round raises every valid log-ratio log(π(y)/π(y'))."""
    task = inst.task
    teacher = teacher_of(inst)
    lp = np.asarray(impl(task, teacher, inst["beta"], inst["lam"]))
    return {"amplification": relative_amplification(task.log_base, lp, task.valid)}


# ------------------------------------------------------------------ theory §8.3: bias teachers


def _gain(rho, c, gamma):
    """``log(1 + c·ρ^(γ−1))``."""
    return np.logaddexp(0.0, math.log(c) + (gamma - 1.0) * np.log(rho))


def _formula_margin(task, lp, expected, tol=1e-7):
    """``tol − max |change − want|/(|want| + 1e-8)`` over valid pairs: relative error, with an
    absolute floor of 1e-14 (a few ulp of a log-probability) where the predicted change is tiny."""
    pairs = valid_pairs(task.log_base, task.valid)
    if not pairs:
        return math.inf
    _, change = log_ratio_gains(task.log_base, lp, task.valid)
    want = np.array([expected[i] - expected[j] for i, j in pairs])
    return tol - float(np.max(np.abs(change - want) / (np.abs(want) + 1e-7)))


def check_b1(inst, impl, parts):
    """B1: uniform demonstrations: Δ log(π(y)/π(y')) = (G(y) − G(y'))/(n(1 + β)),
    G = log(1 + c·π0^(γ−1)); amplifying iff γ > 1."""
    task, beta, c, g = inst.task, inst["beta"], inst["c"], inst["gamma"]
    lp = np.asarray(impl(task, _power(inst), beta))
    n = int(task.valid.sum())
    out = {}
    if "formula" in parts:
        out["formula"] = _formula_margin(task, lp, _gain(task.base, c, g) / (n * (1 + beta)))
    if "direction" in parts:
        out["direction"] = math.copysign(1.0, g - 1.0) * relative_amplification(task.log_base, lp, task.valid)
    return out


def check_b2(inst, impl, parts):
    """B2: self-generated demonstrations: Δ log ratio = (h(π0(y)) − h(π0(y')))/(Z(1 + β)),
    h(p) = p·log(1 + c·p^(γ−1)), Z = π0(C); strict amplification for γ ≥ 0."""
    task, beta, c, g = inst.task, inst["beta"], inst["c"], inst["gamma"]
    lp = np.asarray(impl(task, _power(inst), beta))
    out = {}
    if "formula" in parts:
        Z = float(np.exp(log_mass(task.log_base, task.valid)))
        h = task.base * _gain(task.base, c, g)
        out["formula"] = _formula_margin(task, lp, h / (Z * (1 + beta)))
    if "amplification" in parts:
        out["amplification"] = relative_amplification(task.log_base, lp, task.valid)
    return out


def check_b3(inst, impl, parts):
    """B3: a fixed demonstration d* (the first valid mode) multiplies its ratios to every other
    mode by (1 + c·π0(d*)^(γ−1))^(1/(1+β)) and preserves every other ratio."""
    task, beta, c, g = inst.task, inst["beta"], inst["c"], inst["gamma"]
    d = int(np.flatnonzero(task.valid)[0])
    lp = np.asarray(impl(task, _power(inst), beta, d))
    delta = lp - task.log_base
    others = np.arange(task.n_modes) != d
    out = {}
    if "others_preserved" in parts:
        rest = delta[others]
        out["others_preserved"] = 1e-9 - float(np.max(rest) - np.min(rest)) if rest.size else math.inf
    if "boost" in parts:
        want = float(_gain(task.base[d], c, g)) / (1 + beta)
        got = float(delta[d] - np.mean(delta[others])) if others.any() else want
        # Relative 1e-9, floored at what float64 resolves in differences of logs of size
        # |log π0| (the boost can be ~1e-8 between logs near −7: an absolute 1e-15 floor sat
        # below the rounding of the subtraction itself).
        finite = task.log_base[np.isfinite(task.log_base)]
        floor = 64.0 * np.finfo(np.float64).eps * (1.0 + float(np.max(np.abs(finite), initial=0.0)))
        out["boost"] = 1e-9 * abs(want) + floor - abs(got - want)
    return out


# ------------------------------------------------------------------ theory §8.4: critical KL


def check_k1(inst, impl, parts):
    """K1: the collapsed rest point is a fixed point of the rule, and its depth tends to
    (π0(y)/π0(t))·(1 − α)^(1/β) (for all-valid tasks a lower bound with an explicit gap)."""
    task, a, b = inst.task, inst["alpha"], inst["beta"]
    u = collapsed_rest_point(task, a, b)
    l0 = task.log_base
    t = int(np.flatnonzero(task.valid)[np.argmax(l0[task.valid])])
    others = np.arange(task.n_modes) != t
    gap = (u - u[t]) - (l0 - l0[t] + math.log1p(-a) / b)
    out = {}
    if "fixed_point" in parts:
        new = apply_map(impl(a, b), u, task)
        out["fixed_point"] = 1e-9 - float(np.max(np.abs(new - u) / (1.0 + np.abs(u))))
    if "asymptotic" in parts:
        out["asymptotic"] = 1e-2 - float(np.max(np.abs(gap[others])))
    if "lower_bound" in parts:
        if not task.valid.all():
            out["lower_bound"] = math.inf
        else:
            # gap_y = (f_α(π_y) + f_α(1) − f_α(π_t))/β with 0 ≤ f_α(1) − f_α(π_t) ≤ f_α'(π_t)(1 − π_t).
            p = np.exp(u)
            rest = float(np.exp(log_mass(u, others)))           # 1 − π_t without cancellation
            bound = (f_alpha(p[others], a) + f_alpha_prime(p[t], a) * rest) / b
            g = gap[others]
            scale = 1e-12 * (1.0 + np.abs(u[others]))
            out["lower_bound"] = float(min(np.min(g + scale), np.min(bound - g + scale)))
    return out


def check_k3(inst, impl, parts):
    """K3: the JSD round's collapsed rest point is the reverse round's with (λα, β/(1 − λ)):
    the JSD rule maps it to itself, and its depth tends to (1 − λα)^((1 − λ)/β)."""
    task, a, b, lam = inst.task, inst["alpha"], inst["beta"], inst["lam"]
    u = collapsed_rest_point(task, a, b, jsd_weight=lam)
    l0 = task.log_base
    t = int(np.flatnonzero(task.valid)[np.argmax(l0[task.valid])])
    others = np.arange(task.n_modes) != t
    out = {}
    if "fixed_point" in parts:
        new = apply_map(impl(a, b, lam), u, task)
        out["fixed_point"] = 1e-9 - float(np.max(np.abs(new - u) / (1.0 + np.abs(u))))
    if "asymptotic" in parts:
        gap = (u - u[t]) - (l0 - l0[t] + (1 - lam) * math.log1p(-lam * a) / b)
        out["asymptotic"] = 1e-2 - float(np.max(np.abs(gap[others])))
    return out


def check_k2(inst, impl, parts):
    """K2: uniform base over K valid modes: the tangent Jacobian at the uniform point is
    λ·I, λ = (1 + f_α'(1/K)/K)/(1 + β); unstable iff β < β* = f_α'(1/K)/K."""
    task, a, b = inst.task, inst["alpha"], inst["beta"]
    K = task.n_modes
    ev = np.linalg.eigvals(map_jacobian(impl(a, b), task, np.full(K, 1.0 / K)))
    lam = (1.0 + f_alpha_prime(1.0 / K, a) / K) / (1.0 + b)
    star = float(f_alpha_prime(1.0 / K, a) / K)
    out = {}
    if "eigenvalue" in parts:
        out["eigenvalue"] = 1e-6 - float(np.max(np.abs(ev - lam)) / lam)
    if "threshold" in parts:
        rad = float(np.max(np.abs(ev)))
        out["threshold"] = math.copysign(1.0, star - b) * (rad - 1.0)
    return out


# ------------------------------------------------------------------ implementations under test

JSD_IMPL = ("impl(task, teacher, beta, lam) -> log-policy of one JSD round from π0 (default: "
            "sd_optimum(task, teacher=teacher, beta=beta, objective='jsd', jsd_weight=lam, log=True))")
POWER_IMPL = ("impl(task, teacher, beta[, mode]) -> log-policy of one reverse-KL round from π0 with "
              "{} demonstrations (default: sd_optimum(task, teacher=teacher, demos=..., beta=beta, log=True))")
JSD_COLLAPSE_IMPL = ("impl(alpha, beta, lam) -> rule (default: SelfDistillation(CopyTeacher(alpha), beta=beta, "
                     "objective='jsd', jsd_weight=lam, teacher_base='current', reference='base'))")
COLLAPSE_IMPL = ("impl(alpha, beta) -> rule (default: SelfDistillation(CopyTeacher(alpha), beta=beta, "
                 "teacher_base='current', reference='base'))")


def jsd_round(task, teacher, beta, lam):
    """One JSD round from π0 (theory §8.1)."""
    return sd_optimum(task, teacher=teacher, beta=beta, objective="jsd", jsd_weight=lam, log=True)


def reverse_round(task, teacher, beta, lam):
    """The reverse-KL round in place of the JSD round (control of J1)."""
    return sd_optimum(task, teacher=teacher, beta=beta, log=True)


def anti_copy_jsd(task, teacher, beta, lam):
    """The JSD round with an anti-copying tilt teacher (κ = −2) in place of the copy teacher."""
    return jsd_round(task, TiltTeacher(-2.0), beta, lam)


def power_copy_round(demos: str):
    """One reverse-KL round from π0 with the given demonstrations ("uniform", "self", "fixed")."""

    def run(task, teacher, beta, mode=None):
        src = {"uniform": UniformDemos(), "self": ConditionedDemos()}.get(demos) if demos != "fixed" else FixedDemo(mode)
        return sd_optimum(task, teacher=teacher, demos=src, beta=beta, log=True)

    run.__name__ = f"power_copy_round_{demos}"
    return run


def collapse_rule(alpha, beta):
    """The setting of theory §8.4: copy teacher and demonstrations on the current policy, KL to π0."""
    return SelfDistillation(CopyTeacher(alpha), beta=beta, teacher_base="current", reference="base")


def jsd_collapse_rule(alpha, beta, lam):
    """The setting of theory §8.4 with the JSD objective (weight λ)."""
    return SelfDistillation(CopyTeacher(alpha), beta=beta, objective="jsd", jsd_weight=lam,
                            teacher_base="current", reference="base")


def reverse_collapse_rule(alpha, beta, lam):
    """The reverse-KL round with the same (α, β), ignoring λ (control of K3)."""
    return collapse_rule(alpha, beta)


def reference_current_rule(alpha, beta):
    """The same round with the KL to the current policy (a trust region): control of K1 and K2."""
    return SelfDistillation(CopyTeacher(alpha), beta=beta, teacher_base="current", reference="current")


def tilt_rule(alpha, beta):
    """An identity tilt teacher with κ = 2·log(1/(1 − α)) (depth (1 − α)^(2/β)): control of K1."""
    return SelfDistillation(TiltTeacher(-2.0 * math.log1p(-alpha)), beta=beta, teacher_base="current",
                            reference="base")

