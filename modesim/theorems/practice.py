"""Registered statements of theory §8 (practice): the JSD objective (J1 J2, §8.1), teachers
that channel their own bias (B1–B3, §8.3) and the critical KL strength (K1 K3 K2, §8.4), with
their negative controls.  Checks are in :mod:`modesim.theorems.practice_checks`.
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from ..task import make_task
from ..testing import alphas, betas, kappas, tasks
from .engine import Control, Instance, Theorem, instances
from .formulas import f_alpha_prime
from .practice_checks import (
    COLLAPSE_IMPL,
    JSD_COLLAPSE_IMPL,
    JSD_IMPL,
    POWER_IMPL,
    check_b1,
    check_b2,
    check_b3,
    check_j1,
    check_j2,
    check_k1,
    check_k2,
    check_k3,
    collapse_rule,
    jsd_collapse_rule,
    jsd_round,
    power_copy_round,
    reference_current_rule,
    reverse_collapse_rule,
    reverse_round,
    tilt_rule,
)

__all__ = ["THEOREMS", "CONTROLS"]

_PROBS = "entries of π0 ≥ 1e-3, K ≤ 6"


def _lams(lo=0.02, hi=0.98):
    return st.floats(lo, hi)


def _k2_instance(K, alpha, m):
    beta = m * float(f_alpha_prime(1.0 / K, alpha)) / K
    return Instance(make_task(np.full(K, 1.0 / K)), {"alpha": alpha, "beta": beta})


_K2_MULT = st.one_of(st.floats(0.5, 0.95), st.floats(1.05, 2.0))


def _k3_instance(task, alpha, lam, beta_eff):
    return Instance(task, {"alpha": alpha, "beta": beta_eff * (1.0 - lam), "lam": lam})


_K3 = st.builds(_k3_instance, tasks(max_K=5, min_prob=0.02, distinct=0.05), alphas(0.6, 0.95),
                st.floats(0.5, 0.9), st.floats(0.005, 0.02))
_POWER = "from modesim.bias_teachers import PowerCopyTeacher\n"

THEOREMS: tuple[Theorem, ...] = (
    Theorem(
        id="J1",
        statement="The JSD round's optimum is the minimiser of E_d JSD_λ(T(·|d)‖π) + β KL(π‖π0): "
                  "(1 − λ) E_d log(π_y/M_{d,y}) + β log(π_y/π0(y)) is the same for every held y.",
        latex=r"\pi^*=\arg\min_\pi \mathbb E_d\,\mathrm{JSD}_\lambda(T_d\|\pi)+\beta\,\mathrm{KL}(\pi\|\pi_0):\ "
              r"(1-\lambda)\,\mathbb E_d\log\frac{\pi^*_y}{\lambda T_d(y)+(1-\lambda)\pi^*_y}+\beta\log\frac{\pi^*_y}{\pi_0(y)}=\nu",
        assumptions=("copy teacher α ∈ [0.01, 0.95] or identity tilt κ ∈ [−5, 5]", "D = π0(·|C)",
                     "λ ∈ [0.02, 0.98]", "β ∈ [0, 5]", _PROBS),
        section="§8.1",
        clauses={
            "stationary": "1e-9 − spread over held y of the stationarity expression (brute force over d)",
            "beats_optimiser": "1e-10 − (F(solve) − F(L-BFGS optimum))",
        },
        strategy=st.one_of(
            instances(tasks(), alpha=alphas(), beta=betas(0.0, 5.0), lam=_lams()),
            instances(tasks(), kappa=kappas(), beta=betas(0.0, 5.0), lam=_lams()),
        ),
        default_impl=jsd_round,
        impl_doc=JSD_IMPL,
        code="print(ms.sd_optimum(task, teacher={teacher}, beta=beta, objective='jsd', jsd_weight=lam))\n",
        _check=check_j1,
    ),
    Theorem(
        id="J2",
        statement="With the copy teacher (ρ = π_ref = π0, D = π0(·|C)) the JSD round strictly "
                  "amplifies every ratio of valid modes, for every λ ∈ (0, 1) and β ≥ 0.",
        latex=r"\pi_0(y)>\pi_0(y'),\ y,y'\in C\ \Rightarrow\ "
              r"\frac{\pi^*_{\mathrm{JSD}}(y)}{\pi^*_{\mathrm{JSD}}(y')}>\frac{\pi_0(y)}{\pi_0(y')}",
        assumptions=("copy teacher on ρ = π0, α ∈ [0.05, 0.95]", "D = π0(·|C)",
                     "≥ 2 valid modes 5% apart", "λ ∈ [0.02, 0.98]", "β ∈ [0, 5]", _PROBS),
        section="§8.1",
        clauses={"amplification": "min over valid pairs of Δ log ratio / log ratio (> 0)"},
        strategy=instances(tasks(min_valid=2, distinct=0.05), alpha=alphas(0.05, 0.95),
                           beta=betas(0.0, 5.0), lam=_lams()),
        default_impl=jsd_round,
        impl_doc=JSD_IMPL,
        code="pi = ms.sd_optimum(task, teacher={teacher}, beta=beta, objective='jsd', jsd_weight=lam)\n"
             "print(ms.ratio_table(pi, task.valid, by=task.base)[1] / ms.ratio_table(task.base, task.valid, by=task.base)[1])"
             "  # J2: > 1 above the diagonal (modes sorted by π0)\n",
        _check=check_j2,
    ),
    Theorem(
        id="B1",
        statement="Power-copy teacher T(y|d) ∝ ρ(y) + c ρ(d)^γ 1[y = d], uniform demonstrations "
                  "over C (n = |C|): one round changes log(π(y)/π(y')) by (G(y) − G(y'))/(n(1 + β)), "
                  "G = log(1 + c π0^(γ−1)): amplifying iff γ > 1.",
        latex=r"\Delta\log\frac{\pi(y)}{\pi(y')}=\frac{\log(1+c\pi_0(y)^{\gamma-1})-\log(1+c\pi_0(y')^{\gamma-1})}{|C|(1+\beta)}"
              r",\ \ \mathrm{sign}=\mathrm{sign}(\gamma-1)",
        assumptions=("power-copy teacher on ρ = π0, c ∈ [0.05, 20], γ ∈ [−2, 0.9] ∪ [1.1, 4]",
                     "D uniform over C", "≥ 2 valid modes 5% apart", "β ∈ [0, 5]", _PROBS),
        section="§8.3",
        clauses={
            "formula": "1e-7 − max |Δ log ratio − closed form|/(|closed form| + 1e-7)",
            "direction": "sign(γ − 1)·min over valid pairs of Δ log ratio / log ratio (> 0)",
        },
        strategy=instances(tasks(min_valid=2, distinct=0.05), c=st.floats(0.05, 20.0),
                           gamma=st.one_of(st.floats(-2.0, 0.9), st.floats(1.1, 4.0)), beta=betas(0.0, 5.0)),
        default_impl=power_copy_round("uniform"),
        impl_doc=POWER_IMPL.format("uniform"),
        code=_POWER + "pi = ms.sd_optimum(task, teacher=PowerCopyTeacher(c, gamma), demos=ms.UniformDemos(), beta=beta)\n"
             "print(ms.ratio_table(pi, task.valid, by=task.base)[1] / ms.ratio_table(task.base, task.valid, by=task.base)[1])"
             "  # B1: > 1 above the diagonal (modes sorted by π0) iff gamma > 1\n",
        _check=check_b1,
    ),
    Theorem(
        id="B2",
        statement="Power-copy teacher, self-generated demonstrations D = π0(·|C): one round changes "
                  "log(π(y)/π(y')) by (h(π0(y)) − h(π0(y')))/(Z(1 + β)), h(p) = p log(1 + c p^(γ−1)), "
                  "Z = π0(C); for γ ≥ 0 it strictly amplifies every valid ratio.",
        latex=r"h(p)=p\log(1+cp^{\gamma-1}),\ h'(p)=\log(1+v)+(\gamma-1)\tfrac{v}{1+v}>0\ (\gamma\ge0),\ v=cp^{\gamma-1}",
        assumptions=("power-copy teacher on ρ = π0, c ∈ [0.01, 50], γ ∈ [0, 4]", "D = π0(·|C)",
                     "≥ 2 valid modes 5% apart", "β ∈ [0, 5]", _PROBS),
        section="§8.3",
        clauses={
            "formula": "1e-7 − max |Δ log ratio − closed form|/(|closed form| + 1e-7)",
            "amplification": "min over valid pairs of Δ log ratio / log ratio (> 0)",
        },
        strategy=instances(tasks(min_valid=2, distinct=0.05), c=st.floats(0.01, 50.0),
                           gamma=st.floats(0.0, 4.0), beta=betas(0.0, 5.0)),
        default_impl=power_copy_round("self"),
        impl_doc=POWER_IMPL.format("self-generated"),
        code=_POWER + "pi = ms.sd_optimum(task, teacher=PowerCopyTeacher(c, gamma), beta=beta)\n"
             "print(ms.ratio_table(pi, task.valid, by=task.base)[1] / ms.ratio_table(task.base, task.valid, by=task.base)[1])"
             "  # B2: > 1 above the diagonal (modes sorted by π0)\n",
        _check=check_b2,
    ),
    Theorem(
        id="B3",
        statement="Power-copy teacher, a fixed demonstration d*: one round multiplies π(d*)/π(y) by "
                  "(1 + c π0(d*)^(γ−1))^(1/(1+β)) for every y ≠ d* and preserves every other ratio.",
        latex=r"D=\delta_{d^*}:\ \bar I(y)=\log(1-a(d^*))+1[y=d^*]\log(1+c\pi_0(d^*)^{\gamma-1})",
        assumptions=("power-copy teacher on ρ = π0, c ∈ [0.05, 20], γ ∈ [−2, 4]",
                     "D = δ at the first valid mode", "β ∈ [0, 5]", _PROBS),
        section="§8.3",
        clauses={
            "others_preserved": "1e-9 − spread of log π − log π0 over y ≠ d*",
            "boost": "1e-9·|prediction| + 64ε(1 + max|log π0|) − |gain − log(1 + c π0(d*)^(γ−1))/(1 + β)|, "
                     "gain = d*'s log-ratio change (the floor is what float64 resolves in differences of logs)",
        },
        strategy=instances(tasks(), c=st.floats(0.05, 20.0), gamma=st.floats(-2.0, 4.0), beta=betas(0.0, 5.0)),
        default_impl=power_copy_round("fixed"),
        impl_doc=POWER_IMPL.format("fixed (mode = the first valid)"),
        code=_POWER + "d = int(np.flatnonzero(task.valid)[0])\n"
             "pi = ms.sd_optimum(task, teacher=PowerCopyTeacher(c, gamma), demos=ms.FixedDemo(d), beta=beta)\n"
             "print(pi / task.base)  # B3: equal except at d\n",
        _check=check_b3,
    ),
    Theorem(
        id="K1",
        statement="Copy teacher and demonstrations on the current policy, KL to π0 (weight β, step 1): "
                  "the rest point near the top valid vertex t has π_y/π_t = (π0(y)/π0(t))(1 − α)^(1/β)"
                  "(1 + o(1)) as β → 0 for every y ≠ t; with every mode valid the ratio is at least "
                  "the prediction and the log-gap at most (f_α(π_y) + f_α'(π_t)(1 − π_t))/β.",
        latex=r"\log\frac{\pi_y}{\pi_t}=\log\frac{\pi_0(y)}{\pi_0(t)}+\frac{g_y-g_t}{\beta},\ "
              r"g_y=D_y\log\Big(1+\frac{\alpha}{(1-\alpha)\pi_y}\Big)\ \Rightarrow\ "
              r"\frac{\pi_y}{\pi_t}=\frac{\pi_0(y)}{\pi_0(t)}(1-\alpha)^{1/\beta}(1+o(1))",
        assumptions=("copy teacher α ∈ [0.3, 0.95] on the current policy, D = π(·|C)",
                     "KL to π0, β ∈ [0.005, 0.02], step 1", "unique top valid mode (5% apart)",
                     "entries of π0 ≥ 0.02, K ≤ 5"),
        section="§8.4",
        clauses={
            "fixed_point": "1e-9 − max |log π' − log π|/(1 + |log π|) at the K1 rest point under the rule",
            "asymptotic": "1e-2 − max_y |log(π_y/π_t) − log((π0(y)/π0(t))(1 − α)^(1/β))|",
            "lower_bound": "all valid: min of the log-gap and of (bound − log-gap) (≥ −1e-12 relative)",
        },
        strategy=instances(tasks(max_K=5, min_prob=0.02, distinct=0.05), alpha=alphas(0.3, 0.95),
                           beta=st.floats(0.005, 0.02)),
        default_impl=collapse_rule,
        impl_doc=COLLAPSE_IMPL,
        code="from modesim.kl_strength import collapse_depth\n"
             "out = collapse_depth(task, alpha, beta)\n"
             "print('log depth', out.log_depth, 'K1 prediction', out.log_predicted)\n",
        _check=check_k1,
    ),
    Theorem(
        id="K3",
        statement="With the JSD objective (weight λ) the rest points of that round are exactly those "
                  "of the reverse-KL round with copy strength λα and KL strength β/(1 − λ); the "
                  "collapsed one has π_y/π_t = (π0(y)/π0(t))(1 − λα)^((1 − λ)/β)(1 + o(1)).",
        latex=r"\beta\log\frac{\pi_y}{\pi_0(y)}-(1-\lambda)D_y\log\Big(1+\frac{\lambda\alpha}{(1-\lambda\alpha)\pi_y}\Big)"
              r"=\mathrm{const}\ \Rightarrow\ \frac{\pi_y}{\pi_t}\approx\frac{\pi_0(y)}{\pi_0(t)}(1-\lambda\alpha)^{(1-\lambda)/\beta}",
        assumptions=("copy teacher α ∈ [0.6, 0.95] on the current policy, D = π(·|C)",
                     "JSD weight λ ∈ [0.5, 0.9], KL to π0 with β/(1 − λ) ∈ [0.005, 0.02], step 1",
                     "unique top valid mode (5% apart)", "entries of π0 ≥ 0.02, K ≤ 5"),
        section="§8.4",
        clauses={
            "fixed_point": "1e-9 − max |log π' − log π|/(1 + |log π|) under the JSD rule",
            "asymptotic": "1e-2 − max_y |log(π_y/π_t) − log((π0(y)/π0(t))(1 − λα)^((1 − λ)/β))|",
        },
        strategy=_K3,
        default_impl=jsd_collapse_rule,
        impl_doc=JSD_COLLAPSE_IMPL,
        code="from modesim.kl_strength import collapse_depth\n"
             "out = collapse_depth(task, alpha, beta, jsd_weight=lam)\n"
             "print('log depth', out.log_depth, 'K3 prediction', out.log_predicted)\n",
        _check=check_k3,
    ),
    Theorem(
        id="K2",
        statement="Uniform base over K valid modes, copy teacher on the current policy, KL to π0: the "
                  "uniform point's tangent Jacobian is λ·I, λ = (1 + f_α'(1/K)/K)/(1 + β); it is "
                  "unstable iff β < β* = f_α'(1/K)/K.",
        latex=r"J(\tfrac1K\mathbf 1)=\frac{1+f_\alpha'(1/K)/K}{1+\beta}I,\quad "
              r"\varrho>1\iff\beta<\beta^*=\frac{f_\alpha'(1/K)}{K}",
        assumptions=("every mode valid, uniform π0, K ∈ [2, 6]", "copy teacher α ∈ [0.05, 0.95] on the "
                     "current policy, KL to π0", "β/β* ∈ [0.5, 0.95] ∪ [1.05, 2]"),
        section="§8.4",
        clauses={
            "eigenvalue": "1e-6 − max |eigenvalue − λ|/λ (central differences)",
            "threshold": "sign(β* − β)·(spectral radius − 1) (> 0)",
        },
        strategy=st.builds(_k2_instance, st.integers(2, 6), alphas(0.05, 0.95), _K2_MULT),
        default_impl=collapse_rule,
        impl_doc=COLLAPSE_IMPL,
        code="rule = ms.SelfDistillation(ms.CopyTeacher(alpha), beta=beta, teacher_base='current', "
             "reference='base')\n"
             "print(np.linalg.eigvals(ms.map_jacobian(rule, task, task.base)))\n"
             "from modesim.kl_strength import uniform_instability_threshold\n"
             "print('beta* =', uniform_instability_threshold(task.n_modes, alpha))\n",
        _check=check_k2,
    ),
)

CONTROLS: tuple[Control, ...] = (
    Control(
        id="J1:reverse-kl",
        theorem="J1",
        dropped="the JSD round is replaced by the reverse-KL round (the paper's objective)",
        strategy=instances(tasks(min_valid=2, distinct=0.05), alpha=alphas(0.05, 0.95),
                           beta=betas(0.0, 5.0), lam=_lams(0.05, 0.95)),
        parts=("stationary",),
        impl=reverse_round,
        code="print(ms.sd_optimum(task, teacher=ms.CopyTeacher(alpha), beta=beta))  # reverse KL\n",
    ),
    Control(
        id="J2:anti-copy",
        theorem="J2",
        dropped="the copy teacher is replaced by an anti-copying tilt teacher (κ < 0)",
        strategy=instances(tasks(min_valid=2, distinct=0.05), kappa=kappas(-5.0, -0.05),
                           beta=betas(0.0, 5.0), lam=_lams()),
        parts=("amplification",),
        code="pi = ms.sd_optimum(task, teacher=ms.TiltTeacher(kappa), beta=beta, objective='jsd', jsd_weight=lam)\n"
             "print(ms.ratio_table(pi, task.valid, by=task.base)[1] / ms.ratio_table(task.base, task.valid, by=task.base)[1])  # < 1\n",
    ),
    Control(
        id="B1:self-generated",
        theorem="B1",
        dropped="uniform demonstrations: with self-generated ones γ ∈ [0, 0.9] amplifies (B2) instead of compressing",
        strategy=instances(tasks(min_valid=2, distinct=0.05), c=st.floats(0.05, 20.0),
                           gamma=st.floats(0.0, 0.9), beta=betas(0.0, 5.0)),
        parts=("direction",),
        impl=power_copy_round("self"),
        code=_POWER + "pi = ms.sd_optimum(task, teacher=PowerCopyTeacher(c, gamma), beta=beta)\n"
             "print(ms.ratio_table(pi, task.valid, by=task.base)[1] / ms.ratio_table(task.base, task.valid, by=task.base)[1])  # > 1\n",
    ),
    Control(
        id="B2:negative-gamma",
        theorem="B2",
        dropped="γ ≥ 0: with γ < 0 and small copy odds the round compresses some ratio",
        strategy=instances(tasks(min_valid=2, distinct=0.05), c=st.floats(0.001, 0.1),
                           gamma=st.floats(-4.0, -0.5), beta=betas(0.0, 5.0)),
        parts=("amplification",),
    ),
    Control(
        id="K1:reference-current",
        theorem="K1",
        dropped="the KL is to the current policy (trust region) instead of π0: no rest point near the vertex",
        strategy=instances(tasks(max_K=5, min_prob=0.02, distinct=0.05), alpha=alphas(0.3, 0.95),
                           beta=st.floats(0.005, 0.02)),
        parts=("fixed_point",),
        impl=reference_current_rule,
        code="",
    ),
    Control(
        id="K1:tilt-teacher",
        theorem="K1",
        dropped="the copy teacher is replaced by an identity tilt teacher, κ = 2·log(1/(1 − α)) "
                "(its collapsed rest point has depth (1 − α)^(2/β))",
        strategy=instances(tasks(max_K=5, min_prob=0.02, distinct=0.05), alpha=alphas(0.3, 0.95),
                           beta=st.floats(0.005, 0.02)),
        parts=("fixed_point",),
        impl=tilt_rule,
    ),
    Control(
        id="K3:reverse-rule",
        theorem="K3",
        dropped="the JSD round is replaced by the reverse-KL round with the same (α, β)",
        strategy=_K3,
        parts=("fixed_point",),
        impl=reverse_collapse_rule,
    ),
    Control(
        id="K2:reference-current",
        theorem="K2",
        dropped="the KL is to the current policy: the eigenvalue is S8's 1 + f_α'(1/K)/(K(1 + β)) > 1",
        strategy=st.builds(_k2_instance, st.integers(2, 6), alphas(0.05, 0.95), _K2_MULT),
        parts=("eigenvalue", "threshold"),
        impl=reference_current_rule,
    ),
)
