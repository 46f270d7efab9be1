"""Hypothesis strategies for tasks, policies and parameters (shared by tests and ``verify``).

Drawn instances keep probabilities away from the floating-point floor (``min_prob``) so
that the statement being checked, not round-off, decides a verdict.
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from .task import Task, make_task

__all__ = ["policies", "tasks", "alphas", "betas", "etas", "kappas"]


@st.composite
def policies(draw, *, min_K: int = 2, max_K: int = 6, K: int | None = None, min_prob: float = 1e-3):
    """A probability vector of length K with every entry >= ``min_prob``."""
    k = K if K is not None else draw(st.integers(min_K, max_K))
    w = np.array(draw(st.lists(st.floats(0.0, 1.0), min_size=k, max_size=k)))
    p = min_prob + (1.0 - k * min_prob) * (w + 1e-12) / (w + 1e-12).sum()
    return p / p.sum()


@st.composite
def tasks(
    draw,
    *,
    min_K: int = 2,
    max_K: int = 6,
    min_valid: int = 1,
    min_invalid: int = 0,
    all_valid: bool = False,
    distinct: float = 0.0,
    min_prob: float = 1e-3,
) -> Task:
    """A single task: base policy and a valid mask with at least ``min_valid`` valid modes.

    ``min_invalid > 0`` forces at least that many invalid modes (so ``π0(C) < 1``); it
    cannot be combined with ``all_valid``.  ``distinct > 0`` requires the valid base
    probabilities to differ pairwise by at least that relative margin (for strict
    statements such as S4).
    """
    if all_valid and min_invalid:
        raise ValueError(f"min_invalid={min_invalid} contradicts all_valid=True; allowed: min_invalid=0")
    K = draw(st.integers(max(min_K, min_valid + min_invalid), max_K))
    p = draw(policies(K=K, min_prob=min_prob))
    if all_valid:
        valid = np.ones(K, dtype=bool)
    else:
        bits = draw(st.lists(st.booleans(), min_size=K, max_size=K))
        valid = np.array(bits)
        order = draw(st.permutations(range(K)))
        for i in order[:min_valid]:
            valid[i] = True
        for i in order[min_valid : min_valid + min_invalid]:
            valid[i] = False
    if distinct > 0:
        pv = np.sort(p[valid])
        if pv.size > 1 and np.any(pv[1:] < pv[:-1] * (1 + distinct)):
            from hypothesis import assume

            assume(False)
    return make_task(p, valid)


def alphas(min_value: float = 0.01, max_value: float = 0.95):
    """Copy strengths α in [min_value, max_value] ⊂ (0, 1)."""
    return st.floats(min_value, max_value)


def betas(min_value: float = 0.0, max_value: float = 10.0):
    """KL strengths β."""
    return st.floats(min_value, max_value)


def etas(min_value: float = 0.05, max_value: float = 1.0):
    """Step sizes η in (0, 1]."""
    return st.floats(min_value, max_value)


def kappas(min_value: float = -5.0, max_value: float = 5.0):
    """Tilt strengths κ (negative = anti-copying)."""
    return st.floats(min_value, max_value)
