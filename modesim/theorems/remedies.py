"""Registered statements of theory §11 (remedies), with their negative controls.

F1 forward KL preserves ratios for a marginally consistent teacher; M1 the mixture of m
teachers distorts like 1/m; C1 the contrastive teacher's round is the identity; W1 balanced
demonstrations preserve ratios exactly; W2 no power-law reweighting does; L1 blends keep
μ/(μ + β) of SD's distortion and anti-distillation reverses it; D1 GRPO's diversity bonus
(REINFORCE) compresses; H1 the sign-gated advantage's mean field.  Checks are in
:mod:`modesim.theorems.remedies_checks`.
"""

from __future__ import annotations

from hypothesis import strategies as st

from ..testing import alphas, betas, kappas, tasks
from .engine import Control, Instance, Theorem, instances
from .remedies_checks import (
    BLEND_IMPL,
    BONUS_IMPL,
    FORWARD_IMPL,
    MIXTURE_IMPL,
    POWER_DEMOS_IMPL,
    SIGN_IMPL,
    TEACHER_IMPL,
    balanced_round,
    blend_round,
    bonus_rule,
    check_c1,
    check_d1,
    check_f1,
    check_h1,
    check_l1,
    check_m1,
    check_w1,
    check_w2,
    contrastive_round,
    forward_round,
    forward_uniform_round,
    log_average_round,
    mixture_round,
    plain_round,
    power_copy_power_demos_round,
    power_demos_round,
    sign_rule,
    wrongly_balanced_round,
)

__all__ = ["THEOREMS", "CONTROLS"]

_PROBS = "entries of π0 ≥ 1e-3, K ≤ 6"
_R = "from modesim import remedies as R\n"
_RATIO = "print(ms.ratio_table(pi, task.valid)[1] / ms.ratio_table(task.base, task.valid)[1])"

_M1_TASKS = tasks(max_K=4, min_valid=2, distinct=0.05, min_prob=0.05)


def _l1_instance(task, alpha, reward, beta, frac):
    return Instance(task, {"alpha": alpha, "reward_weight": reward, "distill_weight": frac * beta, "beta": beta})


def _l1_kappa_instance(task, kappa, reward, beta, frac):
    return Instance(task, {"kappa": kappa, "reward_weight": reward, "distill_weight": frac * beta, "beta": beta})


_FRAC = st.one_of(st.floats(-0.9, -0.02), st.floats(0.02, 3.0))
_L1 = st.builds(_l1_instance, tasks(min_valid=2, distinct=0.05), alphas(0.05, 0.95), st.floats(0.0, 2.0),
                st.floats(0.05, 5.0), _FRAC)


def _d1_instance(task, n, bonus):
    return Instance(task, {"n": n, "bonus": bonus})


def _h1_instance(task, alpha, n, lag=0.0):
    params = {"alpha": alpha, "n": n}
    if lag:
        params["lag"] = lag
    return Instance(task, params)


_H1_TASKS = tasks(max_K=4, min_valid=2, min_invalid=1, distinct=0.05, min_prob=0.01)

THEOREMS: tuple[Theorem, ...] = (
    Theorem(
        id="F1",
        statement="The forward-KL round π* = (E_d T + β π0)/(1 + β) preserves every ratio among valid modes "
                  "iff the teacher mixture E_d T is proportional to π0 on C; the copy teacher with "
                  "self-generated demonstrations is, with any invalid mass.",
        latex=r"\mathbb E_{d\sim\pi_0(\cdot\mid C)}T(y\mid d)=\pi_0(y)\big(1-\alpha+\tfrac{\alpha}{Z}\big)\ (y\in C)"
              r"\ \Rightarrow\ \frac{\pi^*(y)}{\pi^*(y')}=\frac{\pi_0(y)}{\pi_0(y')}",
        assumptions=("copy teacher on ρ = π0, α ∈ [0.01, 0.95]", "D = π0(·|C)", "β ∈ [0, 5]", _PROBS),
        section="§11",
        clauses={
            "preserves": "1e-12 − spread over valid y of log π*(y) − log π0(y)",
            "mixture": "1e-12 − max |π* − (Σ_d D(d)T[d] + β π0)/(1 + β)| (brute force over d)",
        },
        strategy=instances(tasks(), alpha=alphas(0.01, 0.95), beta=betas(0.0, 5.0)),
        default_impl=forward_round,
        impl_doc=FORWARD_IMPL,
        code="pi = ms.sd_optimum(task, teacher={teacher}, objective='forward', beta=beta)\n"
             "print('π*/π0 on valid modes:', (pi / task.base)[task.valid])  # F1: all equal\n",
        _check=check_f1,
    ),
    Theorem(
        id="M1",
        statement="Reverse KL to the mixture of m copy teachers (average probabilities, then log): the round "
                  "changes valid log-ratios by (Ī_m(y) − Ī_m(y'))/(1 + β) with Ī_m = log(μ/ρ) + E log(X/μ), "
                  "X = (1 − α)ρ + α Bin(m, p)/m; E log(X/μ) = −α²p(1 − p)/(2mμ²) + O(m⁻²) within an explicit "
                  "bound, so the distortion vanishes like 1/m.",
        latex=r"\mathbb E\log\frac{X}{\mu}=-\frac{\alpha^2p(1-p)}{2m\mu^2}+R_m,\ |R_m|\le\frac{|\kappa_3|}{3\mu^3}"
              r"+\frac{\mu_4}{4s^4\mu^4}+e^{-m\,\mathrm{KL}(q'\|p)}\Big(\log\frac{\mu}{c}+\frac{11}{6}\Big)",
        assumptions=("mixture of m copy teachers on ρ = π0, α ∈ [0.05, 0.9], m ∈ [1500, 4000]", "D = π0(·|C)",
                     "≥ 2 valid modes 5% apart", "β ∈ [0, 5]", "entries of π0 ≥ 0.05, K ≤ 4"),
        section="§11",
        clauses={
            "exact": "1e-10 − max |Δ log ratio − binomial sum (scipy.stats.binom)|",
            "rate": "1 − max |Δ log ratio − leading term|/(explicit bound) (≥ 0 within the bound)",
            "small": "0.01 − max over valid pairs |Δ log ratio|",
        },
        strategy=instances(_M1_TASKS, alpha=alphas(0.05, 0.9), m=st.integers(1500, 4000), beta=betas(0.0, 5.0)),
        default_impl=mixture_round,
        impl_doc=MIXTURE_IMPL,
        code=_R + "pi = ms.sd_optimum(task, teacher=R.MixtureTeacher(ms.CopyTeacher(alpha), m), beta=beta)\n"
             + _RATIO + "  # M1: within 1 ± O(1/m)\n",
        _check=check_m1,
    ),
    Theorem(
        id="C1",
        statement="The contrastive teacher T̃(y|d, b) ∝ ρ(y) T(y|d)/T(y|b) with an independent baseline "
                  "demonstration b ~ D has E log T̃ = log ρ − const: the round from π0 returns π0 (every ratio "
                  "preserved, no mass moved).",
        latex=r"\mathbb E_{d,b}\log\tilde T(y\mid d,b)=\log\rho(y)+\mathbb E_d\log T(y\mid d)-\mathbb E_b\log T(y\mid b)"
              r"-\mathbb E\log Z=\log\rho(y)-\mathrm{const}",
        assumptions=("copy teacher on ρ = π0, α ∈ [0.01, 0.95]", "D = π0(·|C), b independent of d",
                     "β ∈ [0, 5]", _PROBS),
        section="§11",
        clauses={"identity": "1e-12 − max |log π* − log π0|"},
        strategy=instances(tasks(), alpha=alphas(0.01, 0.95), beta=betas(0.0, 5.0)),
        default_impl=contrastive_round,
        impl_doc=TEACHER_IMPL,
        code=_R + "pi = ms.sd_optimum(task, teacher=R.ContrastiveTeacher({teacher}), beta=beta)\n"
             "print(pi - task.base)  # C1: zero\n",
        _check=check_c1,
    ),
    Theorem(
        id="W1",
        statement="Demonstrations balanced against the teacher's copy gain, D*(y) ∝ 1/L(y) on C "
                  "(BalancedDemos), make the round preserve every valid ratio exactly and raise every valid "
                  "mode by ν/(1 + β) nats over invalid ones, ν = 1/Σ_C 1/L > 0, for copy, power-copy and "
                  "identity-tilt teachers.",
        latex=r"\bar I(y)=\textstyle\sum_dD(d)\log(1-a(d))+D(y)L(y),\ L(y)=\log\Big(1+\frac{a(y)}{(1-a(y))\rho(y)}\Big)"
              r"\ \Rightarrow\ D^*\propto 1/L\ \text{on } C",
        assumptions=("copy (α ∈ [0.05, 0.95]), power-copy (c ∈ [0.05, 20], γ ∈ [−1, 3]) or identity tilt "
                     "(κ ∈ [0.1, 5]) on ρ = π0", "D = BalancedDemos(the same teacher)",
                     "≥ 1 invalid mode", "β ∈ [0, 5]", _PROBS),
        section="§11",
        clauses={
            "preserves": "1e-11 − spread over valid y of log π*(y) − log π0(y)",
            "gain": "min(1e-10 − |gain − ν/(1 + β)| (relative), ν/(1 + β)): valid over invalid log-ratio gain",
        },
        strategy=st.one_of(
            instances(tasks(min_invalid=1), alpha=alphas(0.05, 0.95), beta=betas(0.0, 5.0)),
            instances(tasks(min_invalid=1), c=st.floats(0.05, 20.0), gamma=st.floats(-1.0, 3.0), beta=betas(0.0, 5.0)),
            instances(tasks(min_invalid=1), kappa=kappas(0.1, 5.0), beta=betas(0.0, 5.0)),
        ),
        default_impl=balanced_round,
        impl_doc=TEACHER_IMPL,
        code=_R + "from modesim.theorems.remedies_checks import remedy_teacher\n"
             "teacher = remedy_teacher(Instance(task, {{k: v for k, v in dict(globals()).items() "
             "if k in ('alpha', 'c', 'gamma', 'kappa')}}))\n"
             "pi = ms.sd_optimum(task, teacher=teacher, demos=R.BalancedDemos(teacher), beta=beta)\n"
             "print('π*/π0 on valid modes:', (pi / task.base)[task.valid])  # W1: all equal\n",
        _check=check_w1,
    ),
    Theorem(
        id="W2",
        statement="Copy teacher with demonstrations reweighted by ρ^(−e) (D ∝ π0^(1−e) on C): one round changes "
                  "log(π(y)/π(y')) by (h(y) − h(y'))/(S(1 + β)), h = π0^(1−e) log(1 + κ/π0); pairs below "
                  "ρ*_e are amplified and pairs above compressed (e ≤ 0: all amplified, e ≥ 1: all "
                  "compressed), so no exponent preserves ratios for every base.",
        latex=r"h_e(\rho)=\rho^{1-e}\log\big(1+\tfrac{\kappa}{\rho}\big),\ h_e'(\rho)\gtrless0\iff\rho\lessgtr\rho^*_e"
              r"=\kappa/u^*_e,\ (1-e)\log(1+u^*_e)=\tfrac{u^*_e}{1+u^*_e}",
        assumptions=("copy teacher on ρ = π0, α ∈ [0.05, 0.95]", "D ∝ π0^(1−e) on C, e ∈ [−1, 2]",
                     "≥ 2 valid modes 5% apart", "β ∈ [0, 5]", _PROBS),
        section="§11",
        clauses={
            "formula": "1e-7 − max |Δ log ratio − closed form|/(|closed form| + 1e-7)",
            "direction": "min over valid pairs on one side of ρ*_e of ±Δ log ratio / log ratio (> 0)",
        },
        strategy=instances(tasks(min_valid=2, distinct=0.05), alpha=alphas(0.05, 0.95),
                           exponent=st.floats(-1.0, 2.0), beta=betas(0.0, 5.0)),
        default_impl=power_demos_round,
        impl_doc=POWER_DEMOS_IMPL,
        code=_R + "pi = ms.sd_optimum(task, teacher=ms.CopyTeacher(alpha), demos=R.PowerDemos(exponent), beta=beta)\n"
             "print('threshold', R.power_ipw_threshold(alpha, exponent))\n" + _RATIO + "\n",
        _check=check_w2,
    ),
    Theorem(
        id="L1",
        statement="The round maximising λ_r E_π r − μ E_d KL(π‖T_d) − β KL(π‖π0) (μ + β > 0) is "
                  "π* ∝ exp((λ_r r + μG + β log π0)/(μ + β)); it changes valid log-ratios by "
                  "μ/(μ + β)·(Ī(y) − Ī(y')): with the copy teacher a blend (μ > 0) amplifies every valid "
                  "ratio, anti-distillation (μ < 0) compresses every one.",
        latex=r"\log\frac{\pi^*(y)}{\pi^*(y')}-\log\frac{\pi_0(y)}{\pi_0(y')}=\frac{\mu}{\mu+\beta}\big(\bar I(y)-\bar I(y')\big)",
        assumptions=("copy teacher on ρ = π0, α ∈ [0.05, 0.95]", "D = π0(·|C)", "λ_r ∈ [0, 2]",
                     "β ∈ [0.05, 5], μ/β ∈ [−0.9, −0.02] ∪ [0.02, 3]", "≥ 2 valid modes 5% apart", _PROBS),
        section="§11",
        clauses={
            "optimum": "1e-10 − (−F(closed form) − min of −F by L-BFGS over logits)",
            "formula": "1e-9 − max |Δ log ratio − μ/(μ + β)·ΔĪ|/(|prediction| + 1e-9)",
            "direction": "sign(μ)·min over valid pairs of Δ log ratio / log ratio (> 0)",
        },
        strategy=_L1,
        default_impl=blend_round,
        impl_doc=BLEND_IMPL,
        code=_R + "pi = R.blend_optimum(task, teacher={teacher}, reward_weight=reward_weight, "
                  "distill_weight=distill_weight, beta=beta)\n" + _RATIO + "  # L1: > 1 iff μ > 0\n",
        _check=check_l1,
    ),
    Theorem(
        id="D1",
        statement="REINFORCE with GRPO's diversity bonus has expected update π ⊙ (a − Σπa), "
                  "a(y) = 1[y ∈ C](1 + λ(N − 1)(1 − π(y))/N): a mirror step with this advantage compresses "
                  "every valid ratio.",
        latex=r"a(y)=\mathbf 1[y\in C]\Big(1+\lambda\frac{N-1}{N}(1-\pi(y))\Big),\ "
              r"\Delta\log\frac{\pi_y}{\pi_{y'}}=-\mathrm{lr}\,\lambda\frac{N-1}{N}(\pi_y-\pi_{y'})",
        assumptions=("SampledRL('reinforce', diversity_bonus=λ), λ ∈ [0.1, 3], N ∈ [2, 4]",
                     "≥ 2 valid modes 5% apart", "entries of π0 ≥ 1e-3, K ≤ 4"),
        section="§11",
        clauses={
            "mean_field": "1e-12 − max |E[update] (every group enumerated) − π ⊙ (a − Σπa)|",
            "compresses": "min over valid pairs π_y > π_y' of (a_y' − a_y)/(π_y − π_y') (> 0)",
        },
        strategy=st.builds(_d1_instance, tasks(max_K=4, min_valid=2, distinct=0.05), st.integers(2, 4),
                           st.floats(0.1, 3.0)),
        default_impl=bonus_rule,
        impl_doc=BONUS_IMPL,
        code=_R + "print(R.diversity_bonus_reward(task.base, task.valid, n, bonus))  # D1: decreasing in π on C\n",
        _check=check_d1,
    ),
    Theorem(
        id="H1",
        statement="The sign-gated advantage A_n = sign(A_GRPO,n)·|log T(y_n|d_n) − log π(y_n)| (current copy "
                  "teacher) has the mean field π ⊙ (a − Σπa) with a(y) = P(1 ≤ c ≤ N−2)·(−log(1 − α) + "
                  "q(y)(L(y) + 2 log(1 − α))) on valid modes, c ~ Bin(N − 1, J): not constant on C.",
        latex=r"a(y)=P(1\le c\le N-2)\big(-\log(1-\alpha)+q(y)(L(y)+2\log(1-\alpha))\big),\ "
              r"q=\pi(y\mid C),\ L=\log\big(1+\tfrac{\alpha}{(1-\alpha)\pi(y)}\big)",
        assumptions=("SampledBlend(CopyTeacher(α), combine='sign'), α ∈ [0.05, 0.95], teacher on the current policy",
                     "group demonstrations, N ∈ [3, 4]", "≥ 2 valid modes 5% apart, ≥ 1 invalid mode",
                     "entries of π0 ≥ 0.01, K ≤ 4"),
        section="§11",
        clauses={
            "mean_field": "1e-12 − max |velocity − enumeration of every group (demonstrations averaged)|",
            "valid_advantage": "1e-10 − max |a(y) − a(y') − closed form| over valid pairs",
            "distorts": "max over valid pairs |a(y) − a(y')| − 1e-9 (> 0)",
        },
        strategy=st.builds(_h1_instance, _H1_TASKS, alphas(0.05, 0.95), st.integers(3, 4)),
        default_impl=sign_rule,
        impl_doc=SIGN_IMPL,
        code=_R + "rule = R.SampledBlend(ms.CopyTeacher(alpha), combine='sign', n_rollouts=n, lr=1.0)\n"
             "print(rule.velocity(task.log_base, task))\n",
        _check=check_h1,
    ),
)

CONTROLS: tuple[Control, ...] = (
    Control(
        id="F1:power-copy",
        theorem="F1",
        dropped="marginal consistency: a power-copy teacher (γ > 0) copies probable demonstrations more, so "
                "its mixture is not proportional to π0 on C and the forward round amplifies",
        strategy=instances(tasks(min_valid=2, distinct=0.05), c=st.floats(0.1, 10.0), gamma=st.floats(0.5, 3.0),
                           beta=betas(0.0, 5.0)),
        parts=("preserves",),
        code="from modesim.bias_teachers import PowerCopyTeacher\n"
             "pi = ms.sd_optimum(task, teacher=PowerCopyTeacher(c, gamma), objective='forward', beta=beta)\n"
             "print((pi / task.base)[task.valid])  # not all equal\n",
    ),
    Control(
        id="F1:uniform-demos",
        theorem="F1",
        dropped="self-generated demonstrations: with uniform ones the copy teacher's mixture "
                "(1 − α)π0 + α/|C| is not proportional to π0 (ratios compress)",
        strategy=instances(tasks(min_valid=2, distinct=0.05), alpha=alphas(0.05, 0.95), beta=betas(0.0, 5.0)),
        parts=("preserves",),
        impl=forward_uniform_round,
        code="pi = ms.sd_optimum(task, teacher={teacher}, demos=ms.UniformDemos(), objective='forward', beta=beta)\n"
             "print((pi / task.base)[task.valid])  # not all equal\n",
    ),
    Control(
        id="M1:few-demos",
        theorem="M1",
        dropped="m → ∞: with one to three demonstrations the distortion is of order one",
        strategy=instances(_M1_TASKS, alpha=alphas(0.5, 0.9), m=st.integers(1, 3), beta=betas(0.0, 0.5)),
        parts=("small",),
    ),
    Control(
        id="M1:log-average",
        theorem="M1",
        dropped="averaging probabilities: the geometric mean of m teachers (a product of experts) has "
                "E log = E_d log T for every m, so the distortion does not shrink",
        strategy=instances(_M1_TASKS, alpha=alphas(0.3, 0.9), m=st.integers(1500, 4000), beta=betas(0.0, 1.0)),
        parts=("rate", "small"),
        impl=log_average_round,
        code="pi = ms.sd_optimum(task, teacher=ms.CopyTeacher(alpha), beta=beta)  # the geometric mean's round\n"
             + _RATIO + "\n",
    ),
    Control(
        id="C1:no-baseline",
        theorem="C1",
        dropped="an independent baseline demonstration: against no demonstration (T(y|∅) = ρ) the contrastive "
                "score is the pointwise mutual information and the round is plain self-distillation",
        strategy=instances(tasks(min_valid=2, distinct=0.05), alpha=alphas(0.05, 0.95), beta=betas(0.0, 5.0)),
        parts=("identity",),
        impl=plain_round,
        code=_R + "pi = ms.sd_optimum(task, teacher=R.ContrastiveTeacher({teacher}, baseline='none'), beta=beta)\n"
             "print(pi - task.base)  # not zero\n",
    ),
    Control(
        id="W1:wrong-teacher",
        theorem="W1",
        dropped="balancing for the teacher in use: demonstrations balanced for the copy teacher fed to a "
                "power-copy teacher (γ ∈ [0.5, 3]) leave a distortion",
        strategy=instances(tasks(min_valid=2, distinct=0.05), c=st.floats(0.1, 10.0), gamma=st.floats(0.5, 3.0),
                           beta=betas(0.0, 5.0)),
        parts=("preserves",),
        impl=wrongly_balanced_round,
        code=_R + "from modesim.bias_teachers import PowerCopyTeacher\n"
                  "pi = ms.sd_optimum(task, teacher=PowerCopyTeacher(c, gamma), "
                  "demos=R.BalancedDemos(ms.CopyTeacher(c / (1 + c))), beta=beta)\n"
                  "print((pi / task.base)[task.valid])  # not all equal\n",
    ),
    Control(
        id="W2:power-copy-gamma-one",
        theorem="W2",
        dropped="the copy teacher: a power-copy teacher with γ = 1 has a constant gain, so uniform "
                "demonstrations (e = 1) preserve every ratio instead of compressing them",
        strategy=instances(tasks(min_valid=2, distinct=0.05), alpha=alphas(0.05, 0.95), exponent=st.just(1.0),
                           beta=betas(0.0, 5.0)),
        parts=("direction",),
        impl=power_copy_power_demos_round,
        code=_R + "from modesim.bias_teachers import PowerCopyTeacher\n"
                  "pi = ms.sd_optimum(task, teacher=PowerCopyTeacher(alpha / (1 - alpha), 1.0), "
                  "demos=R.PowerDemos(exponent), beta=beta)\n" + _RATIO + "  # 1: preserved\n",
    ),
    Control(
        id="L1:anti-copy",
        theorem="L1",
        dropped="a copying teacher: with an anti-copying tilt teacher (κ < 0) Ī falls in π0, so a blend "
                "compresses and anti-distillation amplifies",
        strategy=st.builds(_l1_kappa_instance, tasks(min_valid=2, distinct=0.05), kappas(-5.0, -0.05),
                           st.floats(0.0, 2.0), st.floats(0.05, 5.0), _FRAC),
        parts=("direction",),
    ),
    Control(
        id="D1:no-bonus",
        theorem="D1",
        dropped="a positive bonus: without it the advantage is 1 on every valid mode and the mirror step "
                "preserves ratios (R3)",
        strategy=st.builds(_d1_instance, tasks(max_K=4, min_valid=2, distinct=0.05), st.integers(2, 4),
                           st.just(0.0)),
        parts=("compresses",),
    ),
    Control(
        id="H1:lagged-teacher",
        theorem="H1",
        dropped="a teacher on the current policy: with an EMA teacher that lags (ρ ≠ π) the magnitudes "
                "change and the closed form of the valid advantage fails",
        strategy=st.builds(_h1_instance, _H1_TASKS, alphas(0.05, 0.95), st.integers(3, 4), st.floats(0.2, 1.0)),
        parts=("valid_advantage",),
        code=_R + "rule = R.SampledBlend(ms.CopyTeacher(alpha), combine='sign', n_rollouts=n, lr=1.0)\n",
    ),
)
