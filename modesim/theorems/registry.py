"""The registered statements and negative controls of ``modesim verify`` (data only).

One :class:`~modesim.theorems.Theorem` per statement of the theory document (R1–R4:
theory §2, RL preserves ratios; S1–S8 and S4b: theory §3, self-distillation amplifies
them) and the :class:`~modesim.theorems.Control` entries that drop one assumption each.
Checks are in :mod:`modesim.theorems.checks`, closed forms in
:mod:`modesim.theorems.formulas`, the search in :mod:`modesim.theorems.engine`.  See the
package docstring of :mod:`modesim.theorems` for how to add a statement.
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from ..task import make_task
from ..testing import alphas, betas, kappas, lrs, tasks
from .checks import (
    LR_IMPL,
    MAP_IMPL,
    RL_IMPL,
    SD_IMPL,
    check_r1,
    check_r2,
    check_r3,
    check_r4,
    check_s1,
    check_s2,
    check_s3,
    check_s4,
    check_s4b,
    check_s5,
    check_s6,
    check_s7,
    check_s8,
    compounding,
    natural_pg,
    rl_optimum,
    sd_copy_half,
    sd_forward,
    sd_reverse,
    softmax_pg,
)
from .engine import Control, Instance, Theorem, instances

__all__ = ["THEOREMS", "CONTROLS"]

_PROBS = "entries of π0 ≥ 1e-3, K ≤ 6"

THEOREMS: tuple[Theorem, ...] = (
    Theorem(
        id="R1",
        statement="The KL-regularised RL optimum preserves every probability ratio among valid "
                  "modes (and among invalid modes), for every β > 0.",
        latex=r"\forall \beta>0,\ y,y'\in C:\ \frac{\pi^*_\beta(y)}{\pi^*_\beta(y')}"
              r"=\frac{\pi_0(y)}{\pi_0(y')},\quad \pi^*_\beta\propto\pi_0\,e^{r/\beta}",
        assumptions=("β ∈ [0.01, 100]", _PROBS),
        section="§2.1",
        clauses={
            "valid_ratios": "1e-9 − spread over valid y of log π*(y) − log π0(y)",
            "invalid_ratios": "1e-9 − the same spread over invalid modes",
        },
        strategy=instances(tasks(), beta=st.floats(0.01, 100.0)),
        default_impl=rl_optimum,
        impl_doc=RL_IMPL,
        code="pi = ms.kl_regularised_optimum(task, beta)\n"
             "print('pi*/pi0 on valid modes:', (pi / task.base)[task.valid])  # R1: all equal\n",
        _check=check_r1,
    ),
    Theorem(
        id="R2",
        statement="As β → 0 the RL optimum tends to the filter π0(·|C), and π*_β(C) increases "
                  "monotonically as β falls.",
        latex=r"\lim_{\beta\to0}\pi^*_\beta=\pi_0(\cdot\mid C),\qquad "
              r"\beta'<\beta\Rightarrow \pi^*_{\beta'}(C)>\pi^*_\beta(C)",
        assumptions=("at least one invalid mode (π0(C) < 1)", "β ∈ [0.05, 10]", _PROBS),
        section="§2.1",
        clauses={
            "mass_increases": "min decrease of log π*_β(¬C) along β, β/10^{3/7}, …, β/1000 (> 0)",
            "filter_limit": "1e-12 − ‖π*_β − π0(·|C)‖₁ at β = 1e-6·β",
        },
        strategy=instances(tasks(min_invalid=1), beta=st.floats(0.05, 10.0)),
        default_impl=rl_optimum,
        impl_doc=RL_IMPL,
        code="for b in (beta, beta / 10, beta / 100):\n"
             "    print(b, ms.kl_regularised_optimum(task, b)[task.valid].sum())  # R2: rises\n"
             "print(ms.filter_limit(task))\n",
        _check=check_r2,
    ),
    Theorem(
        id="R3",
        statement="Natural policy gradient / mirror descent π_{t+1} ∝ π_t·exp(lr·r) keeps "
                  "π_t(·|C) = π0(·|C) for every t while π_t(C) rises.",
        latex=r"\pi_{t+1}\propto\pi_t e^{\mathrm{lr}\cdot r}\ \Rightarrow\ \pi_t(\cdot\mid C)=\pi_0(\cdot\mid C)"
              r"\ \forall t,\quad \pi_{t+1}(C)\ge\pi_t(C)",
        assumptions=("learning rate lr ∈ [0.05, 1]", "1–10 rounds", _PROBS),
        section="§2.2",
        clauses={
            "conditional_fixed": "1e-9 − max_t,y∈C |log π_t(y|C) − log π0(y|C)|",
            "mass_rises": "1e-12 + min_t (log π_{t+1}(C) − log π_t(C))",
        },
        strategy=instances(tasks(), lr=lrs(), rounds=st.integers(1, 10)),
        default_impl=natural_pg,
        impl_doc=LR_IMPL.format("NaturalPG"),
        code="traj = ms.iterate(ms.NaturalPG(lr=lr), task, rounds)\n"
             "print(ms.conditional(traj.policy, task.valid))  # R3: every row equals row 0\n",
        _check=check_r3,
    ),
    Theorem(
        id="R4",
        statement="Vanilla softmax policy gradient is not ratio preserving: one exact step raises "
                  "log(π_y/π_y') by lr·(π_y − π_y')(1 − J) > 0 for the richer valid mode y.",
        latex=r"\theta_{t+1}=\theta_t+\mathrm{lr}\,\pi\odot(r-J):\ "
              r"\Delta\log\frac{\pi_y}{\pi_{y'}}=\mathrm{lr}\,(\pi_y-\pi_{y'})(1-J)>0",
        assumptions=("≥ 2 valid modes with distinct probabilities (5% apart)",
                     "≥ 1 invalid mode (J < 1)", "learning rate lr ∈ [0.05, 1]", _PROBS),
        section="§2.2",
        clauses={
            "formula": "1e-6 − max relative error of Δ log(π_y/π_y') against lr·(π_y − π_y')(1 − J)",
            "amplifies": "min over valid pairs of Δ log ratio / log ratio (> 0)",
        },
        strategy=instances(tasks(min_valid=2, min_invalid=1, distinct=0.05), lr=lrs()),
        default_impl=softmax_pg,
        impl_doc=LR_IMPL.format("SoftmaxPG"),
        code="traj = ms.iterate(ms.SoftmaxPG(lr=lr), task, 1)\n"
             "print(ms.ratio_table(traj.policy[1], task.valid, by=task.base)[1] / "
             "ms.ratio_table(task.base, task.valid, by=task.base)[1])  # R4: > 1 above the diagonal (modes sorted by π0)\n",
        _check=check_r4,
    ),
    Theorem(
        id="S1",
        statement="The SD optimum π ∝ exp((E_d log T(·|d) + β log π0)/(1 + β)) is the exact "
                  "minimiser of E_d KL(π‖T(·|d)) + β KL(π‖π0) over the simplex.",
        latex=r"\arg\min_\pi\ \mathbb E_{d\sim D}\mathrm{KL}(\pi\|T(\cdot|d))+\beta\,\mathrm{KL}(\pi\|\pi_0)"
              r"\propto\exp\frac{\mathbb E_d\log T(y|d)+\beta\log\pi_0(y)}{1+\beta}",
        assumptions=("copy teacher α ∈ [0.01, 0.95] or identity tilt κ ∈ [−5, 5]",
                     "D = π0(·|C)", "β ∈ [0, 10]", _PROBS),
        section="§3.2",
        clauses={
            "stationary": "1e-9 − spread of (1+β) log π − E_d log T − β log π0 (Lagrange condition)",
            "beats_optimiser": "1e-10 − (F(closed form) − F(L-BFGS optimum))",
        },
        strategy=st.one_of(
            instances(tasks(), alpha=alphas(), beta=betas()),
            instances(tasks(), kappa=kappas(), beta=betas()),
        ),
        default_impl=sd_reverse,
        impl_doc=SD_IMPL,
        code="print(ms.sd_optimum(task, teacher={teacher}, beta=beta))\n",
        _check=check_s1,
    ),
    Theorem(
        id="S2",
        statement="For a marginally consistent teacher the forward-KL target (arithmetic mean) "
                  "preserves ratios exactly; pointwise exp E log T ≤ E T (Jensen).",
        latex=r"\mathbb E_{d\sim\pi_0}T(y|d)=\pi_0(y)\ \Rightarrow\ \pi_{\mathrm{fwd}}=\pi_0,"
              r"\qquad e^{\mathbb E_d\log T(y|d)}\le\mathbb E_dT(y|d)",
        assumptions=("every mode valid", "copy teacher on ρ = π0, α ∈ [0.01, 0.95], D = π0",
                     "β ∈ [0, 10]", _PROBS),
        section="§3.2",
        clauses={
            "forward_preserves": "1e-9 − max |log π_fwd − log π0|",
            "jensen": "1e-12 − max_y (E_d log T(y|d) − log E_d T(y|d))",
        },
        strategy=instances(tasks(all_valid=True), alpha=alphas(), beta=betas()),
        default_impl=sd_forward,
        impl_doc="impl(task, teacher, beta) -> log forward-KL target (default: sd_optimum(..., "
                 "objective='forward', log=True))",
        code="teacher = ms.CopyTeacher(alpha)\n"
             "print(ms.sd_optimum(task, teacher=teacher, beta=beta, objective='forward'), "
             "task.base)  # S2: equal\n",
        _check=check_s2,
    ),
    Theorem(
        id="S3",
        statement="For a marginally consistent teacher the β = 0 SD optimum is "
                  "π0(y|C)·exp(−Δ(y)) renormalised, with the Jensen penalty Δ ≥ 0.",
        latex=r"\pi_{SD}(y)\propto\pi_0(y|C)\,e^{-\Delta(y)},\quad "
              r"\Delta(y)=\log\mathbb E_dT(y|d)-\mathbb E_d\log T(y|d)\ge0",
        assumptions=("every mode valid", "copy teacher on ρ = π0, α ∈ [0.01, 0.95], D = π0",
                     _PROBS),
        section="§3.2",
        clauses={
            "penalty_form": "1e-9 − max |log π_SD − log(π0(·|C) e^{−Δ})/Z|",
            "penalty_nonnegative": "1e-12 + min_y Δ(y)",
        },
        strategy=instances(tasks(all_valid=True), alpha=alphas()),
        default_impl=sd_reverse,
        impl_doc=SD_IMPL,
        code="teacher = {teacher}\n"
             "T = teacher.matrix(task.log_base)\n"
             "delta = np.log(task.base @ T) - task.base @ np.log(T)\n"
             "closed = task.base * np.exp(-delta); print(closed / closed.sum())\n"
             "print(ms.sd_optimum(task, teacher=teacher))  # S3: equal\n",
        _check=check_s3,
    ),
    Theorem(
        id="S4",
        statement="Copy teacher, all modes valid: Ī(y) = log(1 − α) + f_α(p); SD strictly "
                  "amplifies every ratio of valid modes, by at most (1 − α)^{−1/(1+β)} per round.",
        latex=r"\bar I(y)=\log(1-\alpha)+f_\alpha(p),\ f_\alpha(p)=p\log\!\Big(1+\frac{\alpha}{(1-\alpha)p}\Big);"
              r"\ 1<\frac{\pi_{SD}(y)/\pi_{SD}(y')}{\pi_0(y)/\pi_0(y')}<(1-\alpha)^{-1/(1+\beta)}",
        assumptions=("every mode valid (π0(C) = 1)", "copy teacher on ρ = π0, α ∈ [0.01, 0.95]",
                     "D = π0(·|C)", "valid probabilities 5% apart", "β ∈ [0, 10]", _PROBS),
        section="§3.4",
        clauses={
            "formula": "1e-9 − max |Ī(y) − log(1 − α) − f_α(π0(y|C))|",
            "amplification": "min over valid pairs of Δ log ratio / log ratio (> 0)",
            "bound": "−log(1 − α)/(1 + β) − max Δ log ratio (> 0)",
        },
        strategy=instances(tasks(min_valid=2, all_valid=True, distinct=0.05),
                            alpha=alphas(), beta=betas()),
        default_impl=sd_reverse,
        impl_doc=SD_IMPL,
        code="pi = ms.sd_optimum(task, teacher={teacher}, beta=beta)\n"
             "mult = ms.ratio_table(pi, task.valid, by=task.base)[1] / ms.ratio_table(task.base, task.valid, by=task.base)[1]\n"
             "print('ratio multipliers (S4: > 1 above the diagonal (modes sorted by π0))', mult)\n"
             "print('S4 bound', (1 - alpha) ** (-1 / (1 + beta)))\n",
        _check=check_s4,
    ),
    Theorem(
        id="S4b",
        statement="Copy teacher with invalid modes (π0(C) = Z ≤ 1): Ī(y) = log(1 − α) + "
                  "p·log(1 + α/((1 − α)π0(y))); strict amplification; bound (1 + α/((1 − α)Z))^{1/(1+β)}.",
        latex=r"\bar I(y)=\log(1-\alpha)+p\log\!\Big(1+\frac{\alpha}{(1-\alpha)\pi_0(y)}\Big);\ "
              r"1<\frac{\pi_{SD}(y)/\pi_{SD}(y')}{\pi_0(y)/\pi_0(y')}<"
              r"\Big(1+\frac{\alpha}{(1-\alpha)Z}\Big)^{1/(1+\beta)}",
        assumptions=("any valid set (Z = π0(C) ≤ 1)", "copy teacher on ρ = π0, α ∈ [0.01, 0.95]",
                     "D = π0(·|C)", "valid probabilities 5% apart", "β ∈ [0, 10]", _PROBS),
        section="§3.4",
        clauses={
            "formula_general": "1e-9 − max |Ī(y) − log(1 − α) − p·log(1 + α/((1 − α)π0(y)))|",
            "amplification": "min over valid pairs of Δ log ratio / log ratio (> 0)",
            "bound_general": "log(1 + α/((1 − α)Z))/(1 + β) − max Δ log ratio (> 0)",
        },
        strategy=instances(tasks(min_valid=2, distinct=0.05), alpha=alphas(), beta=betas()),
        default_impl=sd_reverse,
        impl_doc=SD_IMPL,
        code="pi = ms.sd_optimum(task, teacher=ms.CopyTeacher(alpha), beta=beta)\n"
             "mult = ms.ratio_table(pi, task.valid, by=task.base)[1] / ms.ratio_table(task.base, task.valid, by=task.base)[1]\n"
             "Z = task.base[task.valid].sum()\n"
             "print('largest ratio multiplier', mult.max(),\n"
             "      'S4 bound', (1 - alpha) ** (-1 / (1 + beta)),\n"
             "      'S4b bound', (1 + alpha / ((1 - alpha) * Z)) ** (1 / (1 + beta)))\n",
        _check=check_s4b,
    ),
    Theorem(
        id="S5",
        statement="Amplification needs a copying bias: with the identity tilt teacher one SD round "
                  "multiplies π(y)/π(y') by exp(κ(q_y − q_y')/(1+β)), q = π0(·|C): κ < 0 compresses.",
        latex=r"T(y|d)\propto\rho(y)e^{\kappa 1[y=d]}:\ "
              r"\log\frac{\pi_{SD}(y)/\pi_{SD}(y')}{\pi_0(y)/\pi_0(y')}=\frac{\kappa\,(q_y-q_{y'})}{1+\beta}",
        assumptions=("identity tilt teacher on ρ = π0, |κ| ∈ [0.05, 5]", "D = π0(·|C)",
                     "≥ 2 valid modes 5% apart", "β ∈ [0, 10]", _PROBS),
        section="§3.4",
        clauses={
            "formula": "1e-7 − max relative error of Δ log ratio against κ(q_y − q_y')/(1 + β)",
            "direction": "min over valid pairs of sign(κ)·Δ log ratio / |predicted| (> 0)",
        },
        strategy=instances(
            tasks(min_valid=2, distinct=0.05),
            kappa=st.one_of(kappas(-5.0, -0.05), kappas(0.05, 5.0)), beta=betas(),
        ),
        default_impl=sd_reverse,
        impl_doc=SD_IMPL,
        code="pi = ms.sd_optimum(task, teacher=ms.TiltTeacher(kappa), beta=beta)\n"
             "print(ms.ratio_table(pi, task.valid, by=task.base)[1] / ms.ratio_table(task.base, task.valid, by=task.base)[1])"
             "  # S5: < 1 above the diagonal (modes sorted by π0) when kappa < 0\n",
        _check=check_s5,
    ),
    Theorem(
        id="S6",
        statement="Compounding SD (copy teacher) drives every other valid mode down relative to the "
                  "top valid mode; uniform over C is an unstable fixed point, each valid vertex stable; "
                  "π(C) = 0 is an input error.",
        latex=r"\pi_{t+1}\propto\pi_t e^{\bar I_{\pi_t}/(1+\beta)}:\ "
              r"\varrho(J(\mathrm{unif}_C))>1,\ \varrho(J(e_{y^*}))<1",
        assumptions=("≥ 2 valid modes 5% apart (unique top valid mode)",
                     "copy teacher α ∈ [0.05, 0.95] on the current policy", "β ∈ [0, 5]",
                     "1–15 rounds", _PROBS),
        section="§3.5",
        clauses={
            "top_gains": "min over rounds and valid y ≠ y* of the rise in log(π(y*)/π(y)) (> 0)",
            "uniform_unstable": "spectral radius of the tangent Jacobian at unif(C) − 1 (> 0)",
            "vertex_stable": "1 − spectral radius at the top valid vertex (> 0)",
            "no_demo_is_error": "+1 if a policy with π(C) = 0 raises ValueError, −1 if not",
        },
        strategy=instances(tasks(min_valid=2, distinct=0.05), alpha=alphas(0.05, 0.95),
                            beta=betas(0.0, 5.0), rounds=st.integers(1, 15)),
        default_impl=compounding,
        impl_doc=MAP_IMPL,
        code="rule = ms.SelfDistillation(teacher=ms.CopyTeacher(alpha), beta=beta, "
             "teacher_base='current', reference='current')\n"
             "print(ms.iterate(rule, task, rounds).policy[-1])\n"
             "for fp in ms.fixed_points(rule, task):\n"
             "    print(fp.policy.round(3), fp.stability)\n",
        _check=check_s6,
    ),
    Theorem(
        id="S7",
        statement="The entropy of π_t(·|C) strictly decreases every compounding SD round (unless "
                  "π_t(·|C) is uniform) and is constant under natural policy gradient (R3).",
        latex=r"H(\pi_{t+1}(\cdot|C))<H(\pi_t(\cdot|C))\ \text{(SD)},\qquad "
              r"H(\pi_t(\cdot|C))=H(\pi_0(\cdot|C))\ \text{(NPG)}",
        assumptions=("≥ 2 valid modes 5% apart (not uniform on C)",
                     "copy teacher α ∈ [0.01, 0.9] on the current policy", "β ∈ [0, 5]",
                     "1–8 rounds", _PROBS),
        section="§3.5",
        clauses={
            "sd_entropy_falls": "min over rounds of the relative entropy decrease (> 0)",
            "rl_entropy_constant": "1e-9 − max_t |H_t − H_0| under NaturalPG(lr=1)",
        },
        strategy=instances(tasks(min_valid=2, distinct=0.05), alpha=alphas(0.01, 0.9),
                            beta=betas(0.0, 5.0), rounds=st.integers(1, 8)),
        default_impl=compounding,
        impl_doc=MAP_IMPL,
        code="rule = ms.SelfDistillation(teacher={teacher}, beta=beta, "
             "teacher_base='current', reference='current')\n"
             "print(ms.iterate(rule, task, rounds, metrics=['entropy']).metrics['entropy'])\n",
        _check=check_s7,
    ),
    Theorem(
        id="S8",
        statement="All modes valid, copy teacher: the compounding map's tangent Jacobian at the "
                  "uniform point is λ·I with λ = 1 + (1/K) f_α'(1/K)/(1 + β) > 1.",
        latex=r"J(\tfrac1K\mathbf 1)=\lambda I,\ \lambda=1+\frac{f_\alpha'(1/K)}{K(1+\beta)},\ "
              r"f_\alpha'(p)=\log(1+u)-\frac{u}{1+u},\ u=\frac{\alpha}{(1-\alpha)p}",
        assumptions=("every mode valid, K ∈ [2, 8]", "copy teacher α ∈ [0.01, 0.95] on the "
                     "current policy", "β ∈ [0, 10]"),
        section="§3.5",
        clauses={
            "eigenvalue": "1e-6 − max |eigenvalue − λ| / λ (central differences)",
            "unstable": "smallest |eigenvalue| − 1 (> 0)",
        },
        strategy=st.builds(
            lambda K, a, b: Instance(make_task(np.full(K, 1.0 / K)), {"alpha": a, "beta": b}),
            st.integers(2, 8), alphas(), betas(),
        ),
        default_impl=compounding,
        impl_doc=MAP_IMPL,
        code="rule = ms.SelfDistillation(teacher=ms.CopyTeacher(alpha), beta=beta, "
             "teacher_base='current', reference='current')\n"
             "print(np.linalg.eigvals(ms.map_jacobian(rule, task, task.base)))\n"
             "from modesim.theorems import s8_eigenvalue\n"
             "print(s8_eigenvalue(task.n_modes, alpha, beta))\n",
        _check=check_s8,
    ),
)

CONTROLS: tuple[Control, ...] = (
    Control(
        id="R1:sd-optimum",
        theorem="R1",
        dropped="the RL optimum is replaced by the self-distillation optimum (copy teacher, α = 0.5)",
        strategy=instances(tasks(min_valid=2, distinct=0.05), beta=st.floats(0.01, 100.0)),
        parts=("valid_ratios",),
        impl=sd_copy_half,
        code="pi = ms.sd_optimum(task, teacher=ms.CopyTeacher(0.5), beta=beta)\n"
             "print('pi_SD/pi0 on valid modes:', (pi / task.base)[task.valid])  # not all equal\n",
    ),
    Control(
        id="R3:softmax-pg",
        theorem="R3",
        dropped="natural policy gradient is replaced by vanilla softmax policy gradient (R4)",
        strategy=instances(tasks(min_valid=2, min_invalid=1, distinct=0.05), lr=lrs(),
                            rounds=st.integers(1, 10)),
        parts=("conditional_fixed",),
        impl=softmax_pg,
        code="traj = ms.iterate(ms.SoftmaxPG(lr=lr), task, rounds)\n"
             "print(ms.conditional(traj.policy, task.valid))  # rows drift from row 0\n",
    ),
    Control(
        id="S2:reverse-kl",
        theorem="S2",
        dropped="the forward-KL (arithmetic-mean) target is replaced by the reverse-KL one",
        strategy=instances(tasks(min_valid=2, all_valid=True, distinct=0.05),
                            alpha=alphas(0.05, 0.95), beta=betas()),
        parts=("forward_preserves",),
        impl=sd_reverse,
        code="pi = ms.sd_optimum(task, teacher=ms.CopyTeacher(alpha), beta=beta)  # reverse KL\n"
             "print(pi, task.base)  # not equal\n",
    ),
    Control(
        id="S3:tilt-teacher",
        theorem="S3",
        dropped="the teacher is not marginally consistent (identity tilt, |κ| ≥ 0.5)",
        strategy=instances(tasks(min_valid=2, all_valid=True, distinct=0.05),
                            kappa=st.one_of(kappas(-5.0, -0.5), kappas(0.5, 5.0))),
        parts=("penalty_form",),
    ),
    Control(
        id="S4:anti-copy",
        theorem="S4",
        dropped="the copy teacher is replaced by an anti-copying tilt teacher (κ < 0)",
        strategy=instances(tasks(min_valid=2, all_valid=True, distinct=0.05),
                            kappa=kappas(-5.0, -0.05), beta=betas()),
        parts=("amplification",),
        code="pi = ms.sd_optimum(task, teacher=ms.TiltTeacher(kappa), beta=beta)\n"
             "print(ms.ratio_table(pi, task.valid, by=task.base)[1] / ms.ratio_table(task.base, task.valid, by=task.base)[1])"
             "  # < 1 above the diagonal (modes sorted by π0): compressed\n",
    ),
    Control(
        id="S4:bound-invalid-modes",
        theorem="S4",
        dropped="π0(C) = 1: with invalid modes the ratio multiplier can exceed (1 − α)^{−1/(1+β)}",
        strategy=instances(tasks(min_valid=2, min_invalid=1, distinct=0.05),
                            alpha=alphas(), beta=betas()),
        parts=("bound",),
    ),
    Control(
        id="S7:anti-copy",
        theorem="S7",
        dropped="the copy teacher is replaced by an anti-copying tilt teacher (κ < 0)",
        strategy=instances(tasks(min_valid=2, distinct=0.05), kappa=kappas(-5.0, -0.05),
                            beta=betas(0.0, 5.0), rounds=st.integers(1, 8)),
        parts=("sd_entropy_falls",),
    ),
)
