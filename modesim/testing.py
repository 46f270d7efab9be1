"""Hypothesis strategies for tasks, policies and parameters (shared by tests and ``verify``).

Drawn instances keep probabilities away from the floating-point floor (``min_prob``) so
that the statement being checked, not round-off, decides a verdict.  Every strategy
checks its own arguments when it is built: a bad bound is a :class:`ValueError` naming
the argument, not a hypothesis error at draw time.

``import modesim`` does not import this module (hypothesis is slow to import); it loads
on first use of ``modesim.testing``.

>>> from hypothesis import find
>>> from modesim.testing import tasks
>>> find(tasks(min_valid=2), lambda t: True).n_modes >= 2
True
"""

from __future__ import annotations

import numpy as np
from hypothesis import assume
from hypothesis import strategies as st

from . import _checks as chk
from .task import Task, make_task

__all__ = ["policies", "tasks", "alphas", "betas", "lrs", "step_sizes", "kappas"]


def _sizes(min_K, max_K, K):
    if K is not None:
        K = chk.integer(K, "K", low=1)
        return K, K
    min_K = chk.integer(min_K, "min_K", low=1)
    max_K = chk.integer(max_K, "max_K", low=1)
    if min_K > max_K:
        raise ValueError(f"min_K must be <= max_K; got min_K={min_K}, max_K={max_K}")
    return min_K, max_K


def _min_prob(min_prob, max_K: int) -> float:
    return chk.real(min_prob, "min_prob", low=0.0, high=1.0 / max_K, high_open=True,
                    allow_array=False)


def policies(*, min_K: int = 2, max_K: int = 6, K: int | None = None, min_prob: float = 1e-3):
    """A probability vector of length K (``min_K ≤ K ≤ max_K``, or exactly ``K``), entries ≥ ``min_prob``.

    Raises
    ------
    ValueError
        Sizes that are not integers >= 1, ``min_K > max_K``, or ``min_prob`` outside
        ``[0, 1/max_K)`` (no policy could have every entry that large).
    """
    lo, hi = _sizes(min_K, max_K, K)
    floor = _min_prob(min_prob, hi)
    return _policies(lo, hi, floor)


@st.composite
def _policies(draw, lo: int, hi: int, min_prob: float):
    k = draw(st.integers(lo, hi))
    w = np.array(draw(st.lists(st.floats(0.0, 1.0), min_size=k, max_size=k)))
    p = min_prob + (1.0 - k * min_prob) * (w + 1e-12) / (w + 1e-12).sum()
    return p / p.sum()


def tasks(
    *,
    min_K: int = 2,
    max_K: int = 6,
    min_valid: int = 1,
    min_invalid: int = 0,
    all_valid: bool = False,
    distinct: float = 0.0,
    min_prob: float = 1e-3,
):
    """A single task: base policy and a valid mask with at least ``min_valid`` valid modes.

    ``min_invalid > 0`` forces at least that many invalid modes (so ``π0(C) < 1``); it
    cannot be combined with ``all_valid``.  ``distinct > 0`` requires the valid base
    probabilities to differ pairwise by at least that relative margin (for strict
    statements such as S4).

    Raises
    ------
    ValueError
        Bad sizes or counts (``min_valid ≥ 1``, ``min_invalid ≥ 0``, ``min_valid +
        min_invalid ≤ max_K``), ``min_invalid`` with ``all_valid``, ``distinct < 0``, or
        ``min_prob`` outside ``[0, 1/max_K)``.
    """
    lo, hi = _sizes(min_K, max_K, None)
    min_valid = chk.integer(min_valid, "min_valid", low=1)
    min_invalid = chk.integer(min_invalid, "min_invalid", low=0)
    all_valid = chk.boolean(all_valid, "all_valid")
    if all_valid and min_invalid:
        raise ValueError(f"min_invalid={min_invalid} contradicts all_valid=True; allowed: min_invalid=0")
    if min_valid + min_invalid > hi:
        raise ValueError(
            f"min_valid + min_invalid must be <= max_K; got {min_valid} + {min_invalid} > {hi}"
        )
    distinct = chk.real(distinct, "distinct", low=0.0, allow_array=False)
    floor = _min_prob(min_prob, hi)
    return _tasks(max(lo, min_valid + min_invalid), hi, min_valid, min_invalid, all_valid,
                  distinct, floor)


@st.composite
def _tasks(draw, lo, hi, min_valid, min_invalid, all_valid, distinct, min_prob) -> Task:
    K = draw(st.integers(lo, hi))
    p = draw(_policies(K, K, min_prob))
    if all_valid:
        valid = np.ones(K, dtype=bool)
    else:
        valid = np.array(draw(st.lists(st.booleans(), min_size=K, max_size=K)))
        order = draw(st.permutations(range(K)))
        for i in order[:min_valid]:
            valid[i] = True
        for i in order[min_valid : min_valid + min_invalid]:
            valid[i] = False
    if distinct > 0:
        pv = np.sort(p[valid])
        assume(not (pv.size > 1 and np.any(pv[1:] < pv[:-1] * (1 + distinct))))
    return make_task(p, valid)


def _interval(name, min_value, max_value, **bounds):
    lo = chk.real(min_value, f"{name} min_value", allow_array=False, **bounds)
    hi = chk.real(max_value, f"{name} max_value", allow_array=False, **bounds)
    if lo > hi:
        raise ValueError(f"{name}: min_value must be <= max_value; got {lo} > {hi}")
    return st.floats(lo, hi)


def alphas(min_value: float = 0.01, max_value: float = 0.95):
    """Copy strengths α in ``[min_value, max_value] ⊂ [0, 1)``."""
    return _interval("alphas", min_value, max_value, low=0.0, high=1.0, high_open=True)


def betas(min_value: float = 0.0, max_value: float = 10.0):
    """KL strengths β in ``[min_value, max_value] ⊂ [0, ∞)``."""
    return _interval("betas", min_value, max_value, low=0.0)


def lrs(min_value: float = 0.05, max_value: float = 1.0):
    """Learning rates ``lr`` of NaturalPG/SoftmaxPG in ``[min_value, max_value] ⊂ (0, ∞)``."""
    return _interval("lrs", min_value, max_value, low=0.0, low_open=True)


def step_sizes(min_value: float = 0.05, max_value: float = 1.0):
    """SelfDistillation step sizes in ``[min_value, max_value] ⊂ (0, 1]``."""
    return _interval("step_sizes", min_value, max_value, low=0.0, high=1.0, low_open=True)


def kappas(min_value: float = -5.0, max_value: float = 5.0):
    """Tilt strengths κ (negative = anti-copying), finite."""
    return _interval("kappas", min_value, max_value)
