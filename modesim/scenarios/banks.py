"""Prompt banks: many prompts, each with its own base policy and valid set (theory §4, §7).

A bank is a core :class:`~modesim.Task` of batch shape ``(P,)``.  Its out-of-distribution
valid set ``"dominant_blocked"`` removes each prompt's most probable valid mode: the answer
must be reached another way, which a policy collapsed onto its favourite strategy cannot do.
pass@k curves average the exact ``pass@k`` over prompts (and seeds).  This is the one bank
builder of modesim (the figures and :func:`~modesim.scenarios.sd_vs_rl` use it).
"""

from __future__ import annotations

import numpy as np

from .. import _checks as chk
from ..metrics import pass_at_k
from ..task import Task

__all__ = ["BLOCKED", "prompt_bank", "bank_pass_at_k"]

#: Name of the out-of-distribution valid set of :func:`prompt_bank`.
BLOCKED = "dominant_blocked"


def _valid_mass(valid_mass) -> tuple[float, float]:
    what = "a pair (low, high) with 0 < low <= high < 1"
    if isinstance(valid_mass, (str, bytes)) or np.ndim(valid_mass) != 1 or np.size(valid_mass) != 2:
        raise ValueError(f"valid_mass must be {what}; got {chk.describe(valid_mass)}")
    lo, hi = (chk.real(v, "valid_mass", low=0.0, high=1.0, low_open=True, high_open=True,
                       allow_array=False) for v in valid_mass)
    if lo > hi:
        raise ValueError(f"valid_mass must be {what}; got {chk.describe(valid_mass)}")
    return lo, hi


def prompt_bank(
    n_prompts: int = 64,
    n_modes: int = 16,
    *,
    n_valid: int = 4,
    valid_mass: tuple[float, float] = (0.03, 0.6),
    decay: float = 0.5,
    seed=0,
) -> Task:
    """A bank of ``n_prompts`` prompts over ``n_modes`` modes (theory §4, §7).

    Prompt p has ``n_valid`` valid modes at random positions holding base mass
    ``q_p = π0_p(C)``, log-uniform in ``valid_mass``; the valid modes' shares of ``q_p`` are
    ``∝ decay^i`` (i = 0 … n_valid − 1, so mode rank 0 dominates), and the invalid modes
    share ``1 − q_p`` by a flat Dirichlet draw.

    Parameters
    ----------
    n_prompts, n_modes : int
        P >= 1 and K >= n_valid + 1.
    n_valid : int >= 2
        Valid modes per prompt (two or more, so blocking one leaves a way to succeed).
    valid_mass : (low, high) with 0 < low <= high < 1
    decay : float in (0, 1)
        Ratio between successive valid shares.
    seed : None, int or numpy.random.Generator

    Returns
    -------
    Task
        Batch shape ``(n_prompts,)``, with ``ood["dominant_blocked"]``: the valid set minus
        each prompt's most probable valid mode.

    Raises
    ------
    ValueError
        Naming the argument and what is allowed.

    Examples
    --------
    >>> from modesim.scenarios import prompt_bank
    >>> bank = prompt_bank(3, 6, n_valid=2, seed=0)
    >>> bank.batch_shape, int(bank.valid.sum()), int(bank.ood["dominant_blocked"].sum())
    ((3,), 6, 3)
    """
    P = chk.integer(n_prompts, "n_prompts", low=1)
    m = chk.integer(n_valid, "n_valid", low=2)
    K = chk.integer(n_modes, "n_modes", low=m + 1)
    lo, hi = _valid_mass(valid_mass)
    r = chk.real(decay, "decay", low=0.0, high=1.0, low_open=True, high_open=True, allow_array=False)
    rng = np.random.default_rng(chk.seed(seed))
    order = np.argsort(rng.random((P, K)), axis=-1)
    q = np.exp(rng.uniform(np.log(lo), np.log(hi), size=(P, 1)))
    shares = r ** np.arange(m)
    invalid = rng.standard_gamma(1.0, size=(P, K - m))
    by_rank = np.concatenate(
        [q * shares / shares.sum(), (1.0 - q) * invalid / invalid.sum(-1, keepdims=True)], axis=-1
    )
    base = np.empty((P, K))
    np.put_along_axis(base, order, by_rank, axis=-1)
    valid = np.zeros((P, K), dtype=bool)
    np.put_along_axis(valid, order[:, :m], True, axis=-1)
    blocked = valid.copy()
    np.put_along_axis(blocked, order[:, :1], False, axis=-1)
    with np.errstate(divide="ignore"):
        return Task(np.log(base), valid, {BLOCKED: blocked})


def bank_pass_at_k(policy, task: Task, k, *, split: str = "in_distribution") -> np.ndarray:
    """pass@k averaged over every batch axis (prompts, seeds) for one split (theory §4).

    Parameters
    ----------
    policy : array_like, shape (..., P, K)
        Policies whose trailing batch axes match the bank (leading axes, e.g. seeds, are
        averaged too).
    task : Task
        The bank.
    k : int or array_like of int
    split : str
        ``"in_distribution"`` (the valid set) or a key of ``task.ood``.

    Returns
    -------
    ndarray, shape ``np.shape(k)``
        The exact pass@k (a probability) averaged over every batch axis.

    Raises
    ------
    ValueError
        ``task`` not a :class:`~modesim.Task`, ``split`` neither ``"in_distribution"`` nor a
        key of ``task.ood``, ``policy`` not probabilities with the bank's K modes, batch
        axes of ``policy`` that do not broadcast against the bank's, or ``k`` not positive
        integers.
    """
    if not isinstance(task, Task):
        raise ValueError(f"task must be a modesim Task (a prompt bank); got {chk.describe(task)}")
    splits = ("in_distribution", *sorted(task.ood))
    chk.choice(split, "split", splits)
    mask = task.valid if split == "in_distribution" else task.ood[split]
    p = chk.probabilities(policy, "policy", n_modes=task.n_modes)
    if p.ndim < 2:
        return pass_at_k(p, mask, k)
    return pass_at_k(p, mask, k, axis=tuple(range(p.ndim - 1)))
