"""The SD-vs-RL scenario: GRPO against sampled-demonstration self-distillation (theory §7).

:func:`sd_vs_rl` trains GRPO and sampled-demonstration self-distillation on one
:func:`~modesim.scenarios.prompt_bank` and reproduces the paper's finding (arXiv
2606.26091, §7 of the theory): SD matches or beats RL at pass@1, falls behind at pass@16,
and fails out of distribution.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from .. import _checks as chk
from .._progress import progress_bar, resolve, stderr_is_terminal
from ..rule import EMA
from ..teachers import CopyTeacher
from .banks import BLOCKED, bank_pass_at_k, prompt_bank

__all__ = ["BankComparison", "sd_vs_rl"]


@dataclass(frozen=True, eq=False)
class BankComparison:
    """pass@k curves of the base, RL and SD policies on a bank (theory §4 pass@k; §7.1, claims 2 and 3).

    Attributes
    ----------
    ks : ndarray of int
    curves : mapping method → split → ndarray of shape ``ks.shape``
        Methods ``"base"``, ``"rl"``, ``"sd"``; splits ``"in_distribution"`` and
        ``"dominant_blocked"``; each averaged over prompts and seeds.
    silent_fraction : mapping method → float
        Fraction of (seed, prompt, step) groups with no learning signal.

    Raises
    ------
    ValueError
        Never: a plain record built by :func:`sd_vs_rl` (not validated).
    """

    ks: np.ndarray
    curves: Mapping[str, Mapping[str, np.ndarray]]
    silent_fraction: Mapping[str, float]

    def table(self) -> str:
        """A plain-text table of the curves."""
        head = "method split            " + " ".join(f"pass@{int(k):<4d}" for k in self.ks)
        lines = [head]
        for method, splits in self.curves.items():
            for split, values in splits.items():
                lines.append(f"{method:<6s} {split:<17s}" + " ".join(f"{v:9.3f}" for v in values))
        return "\n".join(line.rstrip() for line in lines)


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
    """GRPO against sampled-demo self-distillation on a :func:`prompt_bank` (theory §7.1, claims 2 and 3).

    Both train softmax policies from the same bank (``n_seeds`` independent runs) with N
    rollouts per group and learning rate ``lr``.  RL is :class:`~modesim.SampledRL` (GRPO)
    with an exact KL term ``beta_rl`` to the base; SD is :class:`~modesim.SampledSD` with a
    copy teacher of strength ``alpha`` conditioned on one correct rollout of the group
    (excluding the scored one), an EMA teacher (``teacher_base=EMA(tau)``), the
    sampled-token gradient and a weak KL term ``beta_sd``.

    What happens (defaults; tested over bank seeds in ``tests/scenarios/test_sd_vs_rl.py``):

    - GRPO learns from a single correct rollout (advantage ``√(N−1)``), so it lifts hard
      prompts too; its KL term keeps the valid ratios near the base (the mean field's rest
      point preserves them, theory §2.1 R1) and J below 1 on every prompt.  pass@k rises
      with k and survives blocking each prompt's dominant mode.
    - SD needs *two* correct rollouts in a group (one to score, another as demonstration),
      so hard prompts (valid mass down to 0.5%) stay unlearned; on the others it drives the
      policy onto the dominant valid mode (theory §3.4–3.5).  pass@1 matches or beats
      GRPO, pass@k is flat in k (pass@16 well below GRPO's) and near zero once the dominant
      mode is blocked.

    The pass@1 half of this depends on GRPO's strong KL term: of ``beta_rl`` ∈ {0, 0.001,
    0.04, 0.3, 0.5} only the default 0.5 holds GRPO's pass@1 down to SD's (theory §7.1,
    claim 2; ``paper_claims`` measures it).

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
    seed : None, int or numpy.random.Generator
        Draws the bank and both runs' random streams.
    progress : bool or None
        True shows tqdm progress bars on stderr (the two methods and each run's steps), False
        shows nothing, None shows them when stderr is a terminal.

    Returns
    -------
    BankComparison
        Curves of shape ``(len(ks),)``, averaged over prompts and seeds.

    Raises
    ------
    ValueError
        Naming the argument, before training: ``n_prompts``, ``valid_mass`` or ``seed`` as
        :func:`prompt_bank` refuses them; ``lr``, ``beta_rl``, ``beta_sd``, ``alpha``,
        ``tau`` or ``n_rollouts`` as :class:`~modesim.SampledRL` and
        :class:`~modesim.SampledSD` do; ``ks`` not positive integers; ``steps`` or
        ``n_seeds`` not an integer >= 1; ``progress`` not a boolean or None.

    Notes
    -----
    Source: the finding is the paper's (arXiv 2606.26091, theory §7); GRPO's advantage as
    introduced with DeepSeekMath (Shao et al., 2024; theory §2.3); the sampled SD design
    (demonstration from the group, self excluded, EMA teacher) as in theory §3.6.
    """
    from ..sampled import SampledRL, SampledSD, train

    seed = chk.seed(seed)
    show = resolve(progress, auto=stderr_is_terminal())
    steps = chk.integer(steps, "steps", low=1)
    n_seeds = chk.integer(n_seeds, "n_seeds", low=1)
    n_rollouts = chk.integer(n_rollouts, "n_rollouts", low=2)
    lr = chk.real(lr, "lr", low=0.0, low_open=True, allow_array=False)
    beta_rl = chk.real(beta_rl, "beta_rl", low=0.0, allow_array=False)
    beta_sd = chk.real(beta_sd, "beta_sd", low=0.0, allow_array=False)
    alpha = chk.real(alpha, "alpha", low=0.0, high=1.0, high_open=True, allow_array=False)
    tau = chk.real(tau, "tau", low=0.0, high=1.0, allow_array=False)
    ks = chk.ks(ks, "ks").astype(np.int64)
    for name, beta in (("beta_rl", beta_rl), ("beta_sd", beta_sd)):
        if lr * beta >= 4.0:        # SGD on the KL penalty (theory §8.2, "Step-size limits")
            raise ValueError(f"lr·{name} must be < 4 (a gradient step on the KL penalty overshoots its reference "
                             f"beyond it); got lr={lr!r} with {name}={beta!r}")
    task = prompt_bank(n_prompts, valid_mass=valid_mass, seed=seed)
    rng = np.random.default_rng(seed)
    rl = SampledRL("grpo", n_rollouts=n_rollouts, lr=lr, beta=beta_rl, seed=rng)
    sd = SampledSD(CopyTeacher(alpha), n_rollouts=n_rollouts, lr=lr, beta=beta_sd,
                   teacher_base=EMA(tau), seed=rng)
    splits = ("in_distribution", BLOCKED)
    curves = {"base": {s: bank_pass_at_k(task.base, task, ks, split=s) for s in splits}}
    silent = {}
    with progress_bar(show, auto=False, desc="sd_vs_rl", total=2, unit="method") as bar:
        for name, rule in (("rl", rl), ("sd", sd)):
            bar.set_postfix_str(name)
            traj = train(rule, task, steps, n_seeds=n_seeds, every=steps, record_policy=True, progress=show)
            final = traj.policy[-1]
            curves[name] = {s: bank_pass_at_k(final, task, ks, split=s) for s in splits}
            silent[name] = float(np.mean(traj.final.silent_groups) / steps)
            bar.update()
    return BankComparison(ks=ks, curves=curves, silent_fraction=silent)
