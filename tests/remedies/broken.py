"""Deliberately broken implementations of the theory §11 statements (registry entries F1 M1 C1
W1 W2 L1 D1 H1): each registered check must catch its own (``tests/theorems``), which is how
the checks are shown to have teeth.
"""

from __future__ import annotations

import modesim as ms
from modesim import remedies as R


def reverse_instead_of_forward(task, teacher, beta):
    """The reverse-KL round (the paper's objective) where the forward one is claimed."""
    return ms.sd_optimum(task, teacher=teacher, beta=beta, log=True)


def mixture_with_fewer_demos(task, alpha, m, beta):
    """A mixture of m/4 teachers: distorts four times as much."""
    return ms.sd_optimum(task, teacher=R.MixtureTeacher(ms.CopyTeacher(alpha), max(1, m // 4)), beta=beta, log=True)


def contrastive_without_baseline(task, teacher, beta):
    return ms.sd_optimum(task, teacher=teacher, beta=beta, log=True)


def uniform_instead_of_balanced(task, teacher, beta):
    return ms.sd_optimum(task, teacher=teacher, demos=ms.UniformDemos(), beta=beta, log=True)


def uniform_whatever_the_exponent(task, alpha, exponent, beta):
    return ms.sd_optimum(task, teacher=ms.CopyTeacher(alpha), demos=ms.UniformDemos(), beta=beta, log=True)


def blend_with_doubled_kl(task, teacher, reward_weight, distill_weight, beta):
    return R.blend_optimum(task, teacher=teacher, reward_weight=reward_weight, distill_weight=distill_weight,
                           beta=2 * beta, log=True)


def bonus_halved(n_rollouts, bonus):
    return ms.SampledRL("reinforce", n_rollouts=n_rollouts, lr=1.0, diversity_bonus=bonus / 2, seed=0)


def summed_instead_of_sign_gated(alpha, n_rollouts):
    return R.SampledBlend(ms.CopyTeacher(alpha), combine="sum", n_rollouts=n_rollouts, lr=1.0, seed=0)


BROKEN = {
    "F1": reverse_instead_of_forward,
    "M1": mixture_with_fewer_demos,
    "C1": contrastive_without_baseline,
    "W1": uniform_instead_of_balanced,
    "W2": uniform_whatever_the_exponent,
    "L1": blend_with_doubled_kl,
    "D1": bonus_halved,
    "H1": summed_instead_of_sign_gated,
}
