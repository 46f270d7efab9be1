"""The checks of the registered theorems, and the implementations they are about.

A check has the signature ``check(instance, impl, parts) -> {clause: margin}``: it
measures the clauses named in ``parts`` on one :class:`~modesim.theorems.Instance`, using
``impl`` (the rule or closed form under test, injectable so a test can pass a broken
one), and returns one margin per clause, positive exactly when the clause holds.  A
check compares ``impl`` with something computed independently: a closed form from
:mod:`modesim.theorems.formulas`, a brute-force sum over demonstrations, a generic
optimiser, or another rule.

Default implementations (what each theorem is about) are the ``*_impl`` functions at the
end; their signatures are the ``*_IMPL`` strings the registry shows.
"""

from __future__ import annotations

import math

import numpy as np

from ..demos import ConditionedDemos
from ..distill import SelfDistillation, sd_optimum
from ..dynamics import iterate
from ..metrics import entropy
from ..rl import NaturalPG, SoftmaxPG, kl_regularised_optimum
from ..rule import apply_map
from ..simplex import log_conditional, log_mass, log_normalise
from ..stability import map_jacobian
from ..task import Task
from ..teachers import CopyTeacher, TiltTeacher
from .engine import Instance
from .formulas import f_alpha, s8_eigenvalue

__all__ = [
    "check_r1", "check_r2", "check_r3", "check_r4",
    "check_s1", "check_s2", "check_s3", "check_s4", "check_s4b", "check_s5",
    "check_s6", "check_s7", "check_s8",
    "rl_optimum", "sd_reverse", "sd_forward", "sd_copy_half", "compounding", "natural_pg", "softmax_pg",
    "RL_IMPL", "SD_IMPL", "MAP_IMPL", "LR_IMPL",
]


# ------------------------------------------------------------------ measuring helpers


def teacher_of(inst: Instance):
    """Copy teacher for instances with ``alpha``; identity tilt for those with ``kappa``."""
    return TiltTeacher(inst["kappa"]) if "kappa" in inst.params else CopyTeacher(inst["alpha"])


def demo(task: Task) -> np.ndarray:
    """``D = π0(·|C)`` (self-generated demonstrations from the base)."""
    return ConditionedDemos().distribution(task.log_base, task)


def valid_pairs(p: np.ndarray, valid: np.ndarray) -> list[tuple[int, int]]:
    """Index pairs (y, y') of valid modes with ``p[y] > p[y']``."""
    idx = np.flatnonzero(valid)
    return [(i, j) for i in idx for j in idx if p[i] > p[j]]


def log_ratio_gains(log_before: np.ndarray, log_after: np.ndarray, valid: np.ndarray):
    """For valid pairs with π(y) > π(y'): (log-ratio before, its change)."""
    pairs = valid_pairs(log_before, valid)
    before = np.array([log_before[i] - log_before[j] for i, j in pairs])
    change = np.array([log_after[i] - log_after[j] for i, j in pairs]) - before
    return before, change


def relative_amplification(log_before, log_after, valid) -> float:
    """``min (Δ log ratio)/(log ratio)`` over valid pairs: > 0 iff every gap grew."""
    before, change = log_ratio_gains(log_before, log_after, valid)
    return float(np.min(change / before)) if before.size else math.inf


def sd_objective(pi, G, log_ref, beta) -> float:
    """``F(π) = Σ_y π(y)(log π(y) − G(y)) + β·KL(π‖π_ref)`` with ``G = E_d log T(·|d)``."""
    with np.errstate(divide="ignore", invalid="ignore"):
        lp = np.where(pi > 0, np.log(np.where(pi > 0, pi, 1.0)), 0.0)
    return float(np.sum(pi * (lp - G)) + beta * np.sum(pi * (lp - log_ref)))


# ------------------------------------------------------------------ theory §2: RL


def check_r1(inst, impl, parts):
    """R1: every ratio among valid (and among invalid) modes of ``impl(task, β)`` is π0's."""
    task, lp0 = inst.task, inst.task.log_base
    lp = np.asarray(impl(task, inst["beta"]))
    out = {}
    for name, mask in (("valid_ratios", task.valid), ("invalid_ratios", ~task.valid)):
        if name in parts:
            idx = np.flatnonzero(mask)
            d = (lp[idx] - lp0[idx]) if idx.size else np.zeros(1)
            out[name] = 1e-9 - float(np.max(d) - np.min(d))
    return out


def check_r2(inst, impl, parts):
    """R2: π*_β(C) rises as β falls and π*_β tends to the filter π0(·|C)."""
    task = inst.task
    grid = inst["beta"] * np.logspace(0, -3, 8)
    log_invalid = [log_mass(np.asarray(impl(task, b)), ~task.valid) for b in grid]
    out = {}
    if "mass_increases" in parts:
        # π*(C) rising as β falls, measured on log π*(¬C), which does not round to 0.
        out["mass_increases"] = float(np.min(-np.diff(log_invalid)))
    if "filter_limit" in parts:
        target = np.exp(log_conditional(task.log_base, task.valid))
        tiny = np.exp(np.asarray(impl(task, 1e-3 * grid[-1])))
        out["filter_limit"] = 1e-12 - float(np.abs(tiny - target).sum())
    return out


def check_r3(inst, impl, parts):
    """R3: ``impl(lr)`` keeps π_t(·|C) = π0(·|C) while π_t(C) rises."""
    task = inst.task
    traj = iterate(impl(inst["lr"]), task, inst["rounds"])
    lp = traj.log_policy
    out = {}
    if "conditional_fixed" in parts:
        cond = np.stack([log_conditional(x, task.valid) for x in lp])
        v = task.valid
        out["conditional_fixed"] = 1e-9 - float(np.max(np.abs(cond[:, v] - cond[0, v])))
    if "mass_rises" in parts:
        out["mass_rises"] = 1e-12 + float(np.min(np.diff([log_mass(x, task.valid) for x in lp])))
    return out


def check_r4(inst, impl, parts):
    """R4: one exact softmax-PG step raises log(π_y/π_y') by lr·(π_y − π_y')(1 − J)."""
    task, lr = inst.task, inst["lr"]
    lp0 = task.log_base
    rule = impl(lr)
    lp1 = rule.step(rule.init(task), task).log_policy
    p = task.base
    J = float(p[task.valid].sum())
    pairs = valid_pairs(lp0, task.valid)
    _, change = log_ratio_gains(lp0, lp1, task.valid)
    expected = np.array([lr * (p[i] - p[j]) * (1.0 - J) for i, j in pairs])
    out = {}
    if "formula" in parts:
        out["formula"] = 1e-6 - float(np.max(np.abs(change / expected - 1.0)))
    if "amplifies" in parts:
        out["amplifies"] = relative_amplification(lp0, lp1, task.valid)
    return out


# ------------------------------------------------------------------ theory §3.2: the optimum


def check_s1(inst, impl, parts):
    """S1: the closed form meets the Lagrange condition and beats a generic optimiser."""
    from scipy.optimize import minimize

    task, beta = inst.task, inst["beta"]
    teacher = teacher_of(inst)
    T = teacher.matrix(task.log_base)
    G = demo(task) @ np.log(T)  # E_{d~D} log T(y|d), by brute force over d
    lp = np.asarray(impl(task, teacher, beta))
    out = {}
    if "stationary" in parts:
        # Lagrange condition of min F on the simplex: (1+β)·log π − G − β·log π0 is constant.
        s = (1.0 + beta) * lp - G - beta * task.log_base
        out["stationary"] = 1e-9 - float(np.max(s) - np.min(s))
    if "beats_optimiser" in parts:

        def F(z):
            lq = log_normalise(z)
            q = np.exp(lq)
            g = (1.0 + beta) * (lq + 1.0) - G - beta * task.log_base
            return float(np.sum(q * ((1 + beta) * lq - G - beta * task.log_base))), q * (g - q @ g)

        res = minimize(F, task.log_base.copy(), jac=True, method="L-BFGS-B",
                       options={"gtol": 1e-12, "ftol": 1e-15, "maxiter": 2000})
        closed = sd_objective(np.exp(lp), G, task.log_base, beta)
        out["beats_optimiser"] = 1e-10 - (closed - float(res.fun))
    return out


def check_s2(inst, impl, parts):
    """S2: the forward-KL target is π0 (marginally consistent teacher); Jensen's gap ≤ 0."""
    task = inst.task
    teacher = CopyTeacher(inst["alpha"])
    out = {}
    if "forward_preserves" in parts:
        lp = np.asarray(impl(task, teacher, inst["beta"]))
        out["forward_preserves"] = 1e-9 - float(np.max(np.abs(lp - task.log_base)))
    if "jensen" in parts:
        log_demo = ConditionedDemos().log_distribution(task.log_base, task)
        gap = teacher.expected_log(task.log_base, demo(task)) - teacher.log_mixture(task.log_base, log_demo)
        out["jensen"] = 1e-12 - float(np.max(gap))
    return out


def check_s3(inst, impl, parts):
    """S3: the β = 0 optimum is π0(·|C)·exp(−Δ) renormalised, with Δ ≥ 0."""
    task = inst.task
    teacher = teacher_of(inst)
    T = teacher.matrix(task.log_base)
    d = demo(task)
    delta = np.log(d @ T) - d @ np.log(T)  # Δ(y) = log E_d T − E_d log T
    out = {}
    if "penalty_form" in parts:
        closed = log_normalise(log_conditional(task.log_base, task.valid) - delta)
        lp = np.asarray(impl(task, teacher, 0.0))
        out["penalty_form"] = 1e-9 - float(np.max(np.abs(lp - closed)))
    if "penalty_nonnegative" in parts:
        out["penalty_nonnegative"] = 1e-12 + float(np.min(delta))
    return out


# ------------------------------------------------------------------ theory §3.4: amplification


def check_s4(inst, impl, parts, *, general=False):
    """S4 (``general=False``, all modes valid) and S4b (any valid set): Ī, amplification, bound."""
    task, beta = inst.task, inst["beta"]
    teacher = teacher_of(inst)
    lp0 = task.log_base
    out = {}
    formula = "formula_general" if general else "formula"
    if formula in parts:
        a = inst["alpha"]
        d = demo(task)
        Ibar = CopyTeacher(a).expected_log(lp0, d) - lp0
        v = task.valid
        if general:
            closed = np.log1p(-a) + d * np.log1p(a / ((1 - a) * task.base))
        else:
            closed = np.log1p(-a) + f_alpha(d, a)
        out[formula] = 1e-9 - float(np.max(np.abs(Ibar[v] - closed[v])))
    lp = None
    if {"amplification", "bound", "bound_general"} & set(parts):
        lp = np.asarray(impl(task, teacher, beta))
    if "amplification" in parts:
        out["amplification"] = relative_amplification(lp0, lp, task.valid)
    for name in ("bound", "bound_general"):
        if name in parts:
            a = inst["alpha"]
            Z = 1.0 if name == "bound" else float(np.exp(log_mass(lp0, task.valid)))
            log_bound = math.log1p(a / ((1 - a) * Z)) / (1 + beta)
            _, change = log_ratio_gains(lp0, lp, task.valid)
            out[name] = log_bound - float(np.max(change)) if change.size else math.inf
    return out


def check_s4b(inst, impl, parts):
    """S4b: :func:`check_s4` with the general (π0(C) ≤ 1) formula and bound."""
    return check_s4(inst, impl, parts, general=True)


def check_s5(inst, impl, parts):
    """S5: the identity tilt multiplies π(y)/π(y') by exp(κ(q_y − q_y')/(1 + β))."""
    task, beta, kappa = inst.task, inst["beta"], inst["kappa"]
    lp0 = task.log_base
    lp = np.asarray(impl(task, TiltTeacher(kappa), beta))
    q = demo(task)
    pairs = valid_pairs(lp0, task.valid)
    _, change = log_ratio_gains(lp0, lp, task.valid)
    expected = np.array([kappa * (q[i] - q[j]) / (1 + beta) for i, j in pairs])
    out = {}
    if "formula" in parts:
        out["formula"] = 1e-7 - float(np.max(np.abs(change / expected - 1.0)))
    if "direction" in parts:
        out["direction"] = float(np.min(np.sign(kappa) * change / np.abs(expected)))
    return out


# ------------------------------------------------------------------ theory §3.5: compounding


def check_s6(inst, impl, parts):
    """S6: the top valid mode gains; unif(C) unstable, the top vertex stable; π(C) = 0 refused."""
    task = inst.task
    rule = impl(teacher_of(inst), inst["beta"])
    v = task.valid
    top = int(np.flatnonzero(v)[np.argmax(task.base[v])])
    out = {}
    if "top_gains" in parts:
        lp = iterate(rule, task, inst["rounds"]).log_policy
        gaps = lp[:, [top]] - lp[:, v & (np.arange(task.n_modes) != top)]
        # Log-odds of the top valid mode against every other valid mode, growing each round.
        out["top_gains"] = float(np.min(np.diff(gaps, axis=0)))
    if "uniform_unstable" in parts:
        uniform = v / v.sum()
        rad = np.max(np.abs(np.linalg.eigvals(map_jacobian(rule, task, uniform))))
        out["uniform_unstable"] = float(rad - 1.0)
    if "vertex_stable" in parts:
        vertex = np.eye(task.n_modes)[top]
        rad = np.max(np.abs(np.linalg.eigvals(map_jacobian(rule, task, vertex))))
        out["vertex_stable"] = float(1.0 - rad)
    if "no_demo_is_error" in parts:
        if v.all():
            out["no_demo_is_error"] = math.inf
        else:
            dead = log_normalise(np.where(v, -np.inf, 0.0))
            try:
                apply_map(rule, dead, task)
                out["no_demo_is_error"] = -1.0
            except ValueError:
                out["no_demo_is_error"] = 1.0
    return out


def check_s7(inst, impl, parts):
    """S7: H(π_t(·|C)) falls every SD round and stays put under natural policy gradient."""
    task, rounds = inst.task, inst["rounds"]
    out = {}
    if "sd_entropy_falls" in parts:
        pol = iterate(impl(teacher_of(inst), inst["beta"]), task, rounds).policy
        H = np.array([entropy(x, task.valid) for x in pol])
        out["sd_entropy_falls"] = float(np.min(-np.diff(H) / H[:-1]))
    if "rl_entropy_constant" in parts:
        pol = iterate(NaturalPG(lr=1.0), task, rounds).policy
        H = np.array([entropy(x, task.valid) for x in pol])
        out["rl_entropy_constant"] = 1e-9 - float(np.max(np.abs(H - H[0])))
    return out


def check_s8(inst, impl, parts):
    """S8: the tangent Jacobian at the uniform point equals λ·I (central differences)."""
    task, alpha, beta = inst.task, inst["alpha"], inst["beta"]
    K = task.n_modes
    ev = np.linalg.eigvals(map_jacobian(impl(CopyTeacher(alpha), beta), task, np.full(K, 1.0 / K)))
    lam = s8_eigenvalue(K, alpha, beta)
    out = {}
    if "eigenvalue" in parts:
        out["eigenvalue"] = 1e-6 - float(np.max(np.abs(ev - lam)) / lam)
    if "unstable" in parts:
        out["unstable"] = float(np.min(np.abs(ev)) - 1.0)
    return out


# ------------------------------------------------------------------ implementations under test

RL_IMPL = "impl(task, beta) -> log π*_β (default: kl_regularised_optimum(task, beta, log=True))"
SD_IMPL = ("impl(task, teacher, beta) -> log-policy after one round from π0 "
           "(default: sd_optimum(task, teacher=teacher, beta=beta, log=True))")
MAP_IMPL = ("impl(teacher, beta) -> rule for the compounding map (default: SelfDistillation("
            "teacher, beta=beta, teacher_base='current', reference='current'))")
LR_IMPL = "impl(lr) -> rule (default: {}(lr=lr))"


def rl_optimum(task: Task, beta: float) -> np.ndarray:
    """The KL-regularised RL optimum, in logs (theory §2.1)."""
    return kl_regularised_optimum(task, beta, log=True)


def sd_reverse(task: Task, teacher, beta: float) -> np.ndarray:
    """One round of reverse-KL self-distillation from π0, in logs (theory §3.2)."""
    return sd_optimum(task, teacher=teacher, beta=beta, log=True)


def sd_forward(task: Task, teacher, beta: float) -> np.ndarray:
    """The forward-KL (arithmetic-mean) target, in logs (theory §3.2, S2)."""
    return sd_optimum(task, teacher=teacher, beta=beta, objective="forward", log=True)


def sd_copy_half(task: Task, beta: float) -> np.ndarray:
    """The SD optimum with a copy teacher (α = 0.5) in place of the RL optimum (control of R1)."""
    return sd_optimum(task, teacher=CopyTeacher(0.5), beta=beta, log=True)


def compounding(teacher, beta: float) -> SelfDistillation:
    """The compounding map of theory §3.5 (current policy as teacher base, demo source, reference)."""
    return SelfDistillation(teacher=teacher, beta=beta, teacher_base="current", reference="current")


def natural_pg(lr: float) -> NaturalPG:
    """Natural policy gradient / mirror descent with learning rate ``lr`` (theory §2.2)."""
    return NaturalPG(lr=lr)


def softmax_pg(lr: float) -> SoftmaxPG:
    """Vanilla softmax policy gradient with learning rate ``lr`` (theory §2.2, R4)."""
    return SoftmaxPG(lr=lr)
