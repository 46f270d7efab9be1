"""Prompt banks: many prompts, each with its own base policy and valid set (MATH §4, §7).

A bank is a core :class:`~modesim.Task` of batch shape ``(P,)``.  Its out-of-distribution
valid set ``"dominant_blocked"`` removes each prompt's most probable valid mode: the answer
must be reached another way, which a policy collapsed onto its favourite strategy cannot do.
pass@k curves average the exact ``pass@k`` over prompts (and seeds).

:func:`sd_vs_rl` trains GRPO and sampled-demo self-distillation on one bank and reproduces
the paper's finding (MATH §7): SD matches or beats RL at pass@1, falls behind at pass@16,
and fails out of distribution.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from ..metrics import pass_at_k
from ..simplex import _describe, check_unit_interval
from ..stochastic import SampledRL, SampledSD, train
from ..task import Task
from ..teachers import CopyTeacher

__all__ = ["prompt_bank", "bank_pass_at_k", "BankComparison", "sd_vs_rl"]

#: Name of the out-of-distribution valid set of :func:`prompt_bank`.
BLOCKED = "dominant_blocked"


def prompt_bank(
    n_prompts: int = 64,
    n_modes: int = 16,
    *,
    n_valid: int = 4,
    valid_mass: tuple[float, float] = (0.03, 0.6),
    decay: float = 0.5,
    seed=0,
) -> Task:
    """A bank of ``n_prompts`` prompts over ``n_modes`` modes.

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
    seed : int or numpy.random.Generator

    Returns
    -------
    Task
        Batch shape ``(n_prompts,)``, with ``ood["dominant_blocked"]``: the valid set minus
        each prompt's most probable valid mode.
    """
    P = _check_count(n_prompts, "n_prompts", 1)
    m = _check_count(n_valid, "n_valid", 2)
    K = _check_count(n_modes, "n_modes", m + 1)
    lo, hi = _check_range(valid_mass)
    r = check_unit_interval(decay, "decay", closed_low=False, closed_high=False)
    rng = np.random.default_rng(seed)
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
    return Task(np.log(base), valid, {BLOCKED: blocked})


def bank_pass_at_k(policy, task: Task, k, *, split: str = "in_distribution") -> np.ndarray:
    """pass@k averaged over every batch axis (prompts, seeds) for one split (MATH §4).

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
    """
    if split == "in_distribution":
        mask = task.valid
    elif split in task.ood:
        mask = task.ood[split]
    else:
        raise ValueError(
            f"split must be 'in_distribution' or one of {sorted(task.ood)}; got {split!r}"
        )
    p = np.asarray(policy, dtype=np.float64)
    return pass_at_k(p, mask, k, axis=tuple(range(p.ndim - 1)))


@dataclass(frozen=True, eq=False)
class BankComparison:
    """pass@k curves of the base, RL and SD policies on a bank.

    Attributes
    ----------
    ks : ndarray of int
    curves : mapping method → split → ndarray of shape ``ks.shape``
        Methods ``"base"``, ``"rl"``, ``"sd"``; splits ``"in_distribution"`` and
        ``"dominant_blocked"``; each averaged over prompts and seeds.
    silent_fraction : mapping method → float
        Fraction of (seed, prompt, step) groups with no learning signal.
    """

    ks: np.ndarray
    curves: Mapping[str, Mapping[str, np.ndarray]]
    silent_fraction: Mapping[str, float]

    def table(self) -> str:
        """A plain-text table of the curves."""
        head = "method split            " + " ".join(f"pass@{k:<4d}" for k in self.ks)
        lines = [head]
        for method, splits in self.curves.items():
            for split, values in splits.items():
                lines.append(f"{method:<6s} {split:<17s}" + " ".join(f"{v:9.3f}" for v in values))
        return "\n".join(lines)


def sd_vs_rl(
    *,
    n_prompts: int = 48,
    n_seeds: int = 16,
    steps: int = 300,
    lr: float = 0.5,
    beta_rl: float = 0.5,
    beta_sd: float = 0.02,
    valid_mass: tuple[float, float] = (0.005, 0.7),
    alpha: float = 0.5,
    tau: float = 0.9,
    n_rollouts: int = 8,
    ks=(1, 2, 4, 8, 16),
    seed=0,
    progress: bool | None = None,
) -> BankComparison:
    """GRPO against sampled-demo self-distillation on a :func:`prompt_bank` (MATH §7).

    Both train softmax policies from the same bank (``n_seeds`` independent runs) with N
    rollouts per group and learning rate ``lr``.  RL is
    :class:`~modesim.stochastic.SampledRL` (GRPO) with an exact KL term ``beta_rl`` to the
    base; SD is :class:`~modesim.stochastic.SampledSD` with a copy teacher of strength
    ``alpha`` conditioned on one correct rollout of the group (excluding the scored one), an
    EMA teacher (rate ``tau``), the sampled-token gradient and a weak KL term ``beta_sd``.

    What happens (defaults; tested over bank seeds in ``tests/test_banks.py``):

    - GRPO learns from a single correct rollout (advantage ``√(N−1)``), so it lifts hard
      prompts too; its KL term keeps the valid ratios near the base (the mean field's rest
      point preserves them, MATH §2.1 R1) and J below 1 on every prompt.  pass@k rises with
      k and survives blocking each prompt's dominant mode.
    - SD needs *two* correct rollouts in a group (one to score, another as demonstration),
      so hard prompts (valid mass down to 0.5%) stay unlearned; on the others it drives the
      policy onto the dominant valid mode (MATH §3.4–3.5).  pass@1 matches or beats GRPO,
      pass@k is flat in k (pass@16 well below GRPO's) and near zero once the dominant mode
      is blocked.

    Parameters
    ----------
    n_prompts, n_seeds, steps : int
    lr : float > 0
    beta_rl, beta_sd : float >= 0
        KL strengths to the base for GRPO and SD.
    valid_mass : (low, high)
        Range of the prompts' base valid mass (see :func:`prompt_bank`).
    alpha, tau : float
        Copy strength of the teacher and EMA rate of its logits.
    n_rollouts : int
    ks : sequence of int
        The k of the pass@k curves.
    seed : int or numpy.random.Generator
        Draws the bank and both runs' random streams.
    progress : bool or None

    Returns
    -------
    BankComparison
    """
    task = prompt_bank(n_prompts, valid_mass=valid_mass, seed=seed)
    rng = np.random.default_rng(seed)
    rl = SampledRL("grpo", n_rollouts=n_rollouts, lr=lr, beta=beta_rl, seed=rng)
    sd = SampledSD(
        CopyTeacher(alpha), n_rollouts=n_rollouts, lr=lr, beta=beta_sd, tau=tau, seed=rng
    )
    ks = np.asarray(ks)
    splits = ("in_distribution", BLOCKED)
    curves = {"base": {s: bank_pass_at_k(task.base, task, ks, split=s) for s in splits}}
    silent = {}
    for name, rule in (("rl", rl), ("sd", sd)):
        traj = train(
            rule, task, steps, n_seeds=n_seeds, every=steps, record_policy=True, progress=progress
        )
        final = traj.policy[-1]
        curves[name] = {s: bank_pass_at_k(final, task, ks, split=s) for s in splits}
        silent[name] = float(traj.final.aux["silent_groups"].mean() / max(steps, 1))
    return BankComparison(ks=ks, curves=curves, silent_fraction=silent)


def _check_count(value, name: str, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}; got {value!r}")
    return int(value)


def _check_range(valid_mass) -> tuple[float, float]:
    try:
        lo, hi = (float(x) for x in valid_mass)
    except (TypeError, ValueError):
        raise ValueError(
            f"valid_mass must be a pair (low, high) with 0 < low <= high < 1; got {_describe(valid_mass)}"
        ) from None
    if not (0.0 < lo <= hi < 1.0):
        raise ValueError(
            f"valid_mass must be a pair (low, high) with 0 < low <= high < 1; got {valid_mass!r}"
        )
    return lo, hi
