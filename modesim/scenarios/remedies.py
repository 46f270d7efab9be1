"""The remedies frontier: pass@1 gained against pass@16 and out-of-distribution pass@16 lost, relative to GRPO (theory §11).

:func:`remedy_frontier` trains every remedy of :data:`modesim.remedies.CATALOGUE` that runs
in an environment, with GRPO and plain self-distillation as references, at practical
settings (N = 8 rollouts per group, EMA teacher τ = 0.95, KL strengths β ∈ {0, 0.04}, one
learning rate for every method), and reports for each method and β:

- pass@1 and pass@16 in distribution, pass@16 out of distribution (prompt bank: each
  prompt's dominant answer blocked; graph experiment: each graph's favourite route blocked,
  the "harder" split; also pass@1 on larger graphs there);
- the same minus GRPO's at the same β: the **frontier** is Δpass@1 against Δpass@16 and
  against ΔOOD pass@16.

Environments: ``"prompt_bank"`` (the :func:`~modesim.scenarios.sd_vs_rl` bank and
trainers, softmax policies per prompt) and ``"graph"`` (the controlled experiment of
``modesim.scenarios.graph_experiment()``, a feature policy shared by all graphs).
Remedies that need several demonstrations per rollout, or reweighted demonstration picks,
or a path-level reward bonus, run on the prompt bank only (the reason is in each
catalogue entry).  :func:`frontier_table` prints one table for both.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from .. import _checks as chk
from .._progress import progress_bar, resolve, stderr_is_terminal
from ..rule import EMA

__all__ = ["RemedyFrontier", "remedy_frontier", "frontier_table", "FRONTIER_COLUMNS", "ENVIRONMENTS"]

#: The two environments.
ENVIRONMENTS = ("prompt_bank", "graph")
#: Columns of a frontier (absolute values; ``relative`` holds the differences to GRPO).
FRONTIER_COLUMNS = ("pass@1", "pass@16", "ood pass@16")
#: References drawn with the remedies.
REFERENCES = ("GRPO", "SD")


@dataclass(frozen=True, eq=False)
class RemedyFrontier:
    """Result of :func:`remedy_frontier` for one environment (theory §11, the frontier table).

    Attributes
    ----------
    environment : str
        ``"prompt_bank"`` or ``"graph"``.
    methods : tuple of str
        ``"GRPO"``, ``"SD"`` and the remedies, in catalogue order.
    betas : tuple of float
    values : mapping method → β → column → float
        Means over seeds (and prompts or graphs) of :data:`FRONTIER_COLUMNS` (graph: also
        ``"larger pass@1"``).
    stderr : mapping method → β → column → float
        Standard errors over training seeds (NaN with one seed).
    relative : mapping method → β → column → float
        ``values − values["GRPO"]`` at the same β.
    base : mapping column → float
        The base policy's values.
    settings : mapping
    seconds : float

    Raises
    ------
    ValueError
        Never: a plain record built by :func:`remedy_frontier` (not validated).
    """

    environment: str
    methods: tuple
    betas: tuple
    values: Mapping
    stderr: Mapping
    relative: Mapping
    base: Mapping
    settings: Mapping
    seconds: float

    def columns(self) -> tuple[str, ...]:
        return tuple(next(iter(self.values[self.methods[0]].values())))

    def table(self) -> str:
        """Plain text: method, β, the absolute values and the differences to GRPO."""
        cols = self.columns()
        head = f"{'method':<24s} {'β':>5s} " + " ".join(f"{c:>15s}" for c in cols) + "   Δpass@1  Δpass@16  ΔOOD@16"
        lines = [f"{self.environment} (relative to GRPO at the same β)", head, "-" * len(head)]
        lines.append(f"{'base':<24s} {'':>5s} " + " ".join(f"{self.base[c]:15.3f}" for c in cols))
        for m in self.methods:
            for b in self.betas:
                v, r = self.values[m][b], self.relative[m][b]
                lines.append(f"{m:<24s} {b:5.2f} " + " ".join(f"{v[c]:15.3f}" for c in cols)
                             + f"   {r['pass@1']:+7.3f}  {r['pass@16']:+8.3f}  {r['ood pass@16']:+7.3f}")
        return "\n".join(line.rstrip() for line in lines)

    def __repr__(self) -> str:
        return f"RemedyFrontier({self.environment}, {len(self.methods)} methods × {len(self.betas)} β)\n" + self.table()


# ------------------------------------------------------------------ rules


def _bank_rules(alpha, tau, n_rollouts, lr, grid, seed, *, m, blend, anti, bonus):
    from ..remedies import (
        BalancedDemos,
        ContrastiveTeacher,
        MixtureTeacher,
        RemedySampledSD,
        SampledBlend,
    )
    from ..sampled import SampledRL, SampledSD
    from ..teachers import CopyTeacher

    copy = CopyTeacher(alpha)
    common = dict(n_rollouts=n_rollouts, lr=lr, beta=grid, teacher_base=EMA(tau), seed=seed + 1)
    return {
        "GRPO": SampledRL("grpo", n_rollouts=n_rollouts, lr=lr, beta=grid, seed=seed),
        "SD": SampledSD(copy, **common),
        "forward KL": RemedySampledSD(copy, objective="forward", **common),
        "teacher mixture": SampledSD(MixtureTeacher(copy, m), **common),
        "contrastive teacher": SampledSD(ContrastiveTeacher(copy), **common),
        "balanced demos": RemedySampledSD(copy, reweight=BalancedDemos(copy), **common),
        "RL-SD blend": SampledBlend(copy, reward_weight=blend, distill_weight=1.0 - blend, **common),
        "sign-gated SD": SampledBlend(copy, combine="sign", **common),
        "anti-distillation": SampledBlend(copy, reward_weight=1.0, distill_weight=-anti, **common),
        "GRPO + diversity bonus": SampledRL("grpo", n_rollouts=n_rollouts, lr=lr, beta=grid, diversity_bonus=bonus,
                                           seed=seed),
    }


def _graph_rules(alpha, tau, n_rollouts, lr, grid, seed, policy, *, blend, anti):
    from ..paths import PathCopyTeacher, PathSampledRL, PathSampledSD
    from ..remedies import PathBlend

    copy = PathCopyTeacher(alpha)
    common = dict(n_rollouts=n_rollouts, lr=lr, beta=grid, teacher_base=EMA(tau), policy=policy, seed=seed + 1)
    return {
        "GRPO": PathSampledRL("grpo", n_rollouts=n_rollouts, lr=lr, beta=grid, policy=policy, seed=seed),
        "SD": PathSampledSD(copy, **common),
        "forward KL": PathSampledSD(copy, objective="forward", **common),
        "RL-SD blend": PathBlend(copy, reward_weight=blend, distill_weight=1.0 - blend, **common),
        "sign-gated SD": PathBlend(copy, combine="sign", **common),
        "anti-distillation": PathBlend(copy, reward_weight=1.0, distill_weight=-anti, **common),
    }


# ------------------------------------------------------------------ the scenario


def _summary(per_seed: dict) -> tuple[dict, dict]:
    mean = {c: float(np.mean(v)) for c, v in per_seed.items()}
    se = {c: (float(np.std(v, ddof=1) / np.sqrt(np.size(v))) if np.size(v) > 1 else float("nan"))
          for c, v in per_seed.items()}
    return mean, se


def remedy_frontier(
    environment: str = "prompt_bank",
    *,
    betas=(0.0, 0.04),
    steps: int | None = None,
    n_seeds: int | None = None,
    n_rollouts: int = 8,
    lr: float | None = None,
    tau: float = 0.95,
    alpha: float = 0.5,
    m: int = 4,
    blend: float = 0.5,
    anti: float = 0.2,
    bonus: float = 1.0,
    methods=None,
    quick: bool = False,
    seed: int = 0,
    progress: bool | None = None,
) -> RemedyFrontier:
    """Every remedy against GRPO at practical settings, in one environment (theory §11).

    Each method trains from the base with the same N, learning rate, seeds and KL strengths
    (one batched run over seeds and β per method); self-distillation methods use a copy
    teacher of strength ``alpha`` on an EMA teacher base (``tau``) with demonstrations drawn
    from the group's other correct rollouts.  Remedies (:data:`modesim.remedies.CATALOGUE`):

    - prompt bank: forward KL (:class:`~modesim.remedies.RemedySampledSD`), the mixture of
      ``m`` teachers (:class:`~modesim.remedies.MixtureTeacher`, m demonstrations from the
      group, with replacement), the contrastive teacher, balanced demonstrations
      (importance weights on the group), the blend ``λ·A_GRPO + (1 − λ)·A_SD`` (``blend`` = λ),
      the sign-gated advantage, anti-distillation ``A_GRPO − μ·A_SD`` (``anti`` = μ) and GRPO's
      diversity bonus (``bonus``);
    - graph: forward KL, the blend, the sign-gated advantage and anti-distillation
      (:class:`~modesim.remedies.PathBlend`, per-step SD with dense feedback).

    Parameters
    ----------
    environment : {"prompt_bank", "graph"}
    betas : sequence of float >= 0
        KL strengths (practitioners: 0 to 0.04).
    steps, n_seeds : int, optional
        Defaults: prompt bank 300 steps × 16 seeds (quick: 120 × 6); graph 2,000 steps ×
        2 seeds (quick: 150 × 1).
    n_rollouts : int
        N (8).
    lr : float > 0, optional
        SGD learning rate shared by all methods (default 0.5 on the bank, 1.0 on graphs, as
        :func:`~modesim.scenarios.sd_vs_rl` and ``modesim.scenarios.graph_experiment()``).
    tau, alpha : float
        EMA rate of the teacher base and copy strength.
    m : int >= 1
        Teachers in the mixture.
    blend : float in [0, 1]
        λ of the RL-SD blend (1 is GRPO, 0 is SD).
    anti : float >= 0
        μ of anti-distillation ``A_GRPO − μ·A_SD`` (0 is GRPO; a negative μ would be
        distillation, the blend's side).
    bonus : float >= 0
        GRPO's diversity bonus.
    methods : sequence of str, optional
        A subset of the environment's methods (GRPO is always run: it is the reference).
    quick : bool
        Small settings for tests and quick figures (bank: 24 prompts; graph: 16 + 16 graphs).
    seed : int
    progress : bool or None
        True shows tqdm progress bars on stderr (the methods, and each run's steps), False
        shows nothing, None shows them when stderr is a terminal.

    Returns
    -------
    RemedyFrontier

    Raises
    ------
    ValueError
        Naming the setting (``environment``, ``betas``, ``steps``, ``n_seeds``, ``lr``,
        ``seed`` (an integer >= 0 here), ``methods``, ``blend`` (λ in [0, 1]), ``anti``
        (μ >= 0), ``bonus``, ``quick``, ``progress``, or a rule's own parameter:
        ``n_rollouts``, ``tau``, ``alpha``, ``m``), before anything is trained.

    Notes
    -----
    Source: the remedies and the frontier are ours (theory §11); the settings follow the
    trainers (N = 8, EMA τ = 0.95, β in the practitioners' range; theory §8.2) and GRPO's
    advantage as introduced with DeepSeekMath (Shao et al., 2024; theory §2.3).

    Examples
    --------
    >>> from modesim.scenarios import remedy_frontier
    >>> fr = remedy_frontier("prompt_bank", quick=True, steps=20, n_seeds=2, methods=["SD"])
    >>> fr.methods, fr.relative["GRPO"][0.0]["pass@1"]
    (('GRPO', 'SD'), 0.0)
    """
    t0 = time.perf_counter()
    chk.choice(environment, "environment", ENVIRONMENTS)
    quick = chk.boolean(quick, "quick")
    show = resolve(progress, auto=stderr_is_terminal())
    n_rollouts = chk.integer(n_rollouts, "n_rollouts", low=2)
    tau = chk.real(tau, "tau", low=0.0, high=1.0, allow_array=False)
    alpha = chk.real(alpha, "alpha", low=0.0, high=1.0, high_open=True, allow_array=False)
    m = chk.integer(m, "m", low=1)
    blend = chk.real(blend, "blend", low=0.0, high=1.0, allow_array=False)
    anti = chk.real(anti, "anti", low=0.0, allow_array=False)
    bonus = chk.real(bonus, "bonus", low=0.0, allow_array=False)
    betas_arr = np.atleast_1d(chk.real(betas, "betas", low=0.0))
    if betas_arr.ndim != 1 or betas_arr.size == 0:
        raise ValueError(f"betas must be a non-empty sequence of KL strengths; got {chk.describe(betas)}")
    seed = chk.integer(seed, "seed", low=0)
    bank_env = environment == "prompt_bank"
    d_steps, d_seeds = ((120, 6) if quick else (300, 16)) if bank_env else ((150, 1) if quick else (2000, 2))
    steps = chk.integer(d_steps if steps is None else steps, "steps", low=1)
    n_seeds = chk.integer(d_seeds if n_seeds is None else n_seeds, "n_seeds", low=1)
    lr = chk.real((0.5 if bank_env else 1.0) if lr is None else lr, "lr", low=0.0, low_open=True, allow_array=False)
    if lr * float(betas_arr.max()) >= 4.0:
        # The rules take plain gradient steps on the KL penalty (theory §8.2, "Step-size limits").
        raise ValueError(f"lr·max(betas) must be < 4 (a gradient step on the KL penalty overshoots its reference "
                         f"beyond it); got lr={lr!r} with betas up to {float(betas_arr.max())!r}")
    grid = betas_arr[:, None, None] if bank_env else betas_arr[:, None]   # β × (seeds[, prompts])
    beta_keys = tuple(float(b) for b in betas_arr)
    if bank_env:
        result = _run_bank(grid, beta_keys, steps, n_seeds, n_rollouts, lr, tau, alpha, m, blend, anti, bonus,
                           methods, quick, seed, show)
    else:
        result = _run_graph(grid, beta_keys, steps, n_seeds, n_rollouts, lr, tau, alpha, blend, anti, methods,
                            quick, seed, show)
    names, values, stderr, base = result
    relative = {mth: {b: {c: values[mth][b][c] - values["GRPO"][b][c] for c in values[mth][b]} for b in beta_keys}
                for mth in names}
    settings = dict(environment=environment, betas=beta_keys, steps=steps, n_seeds=n_seeds, n_rollouts=n_rollouts,
                    lr=lr, tau=tau, alpha=alpha, m=m, blend=blend, anti=anti, bonus=bonus, quick=quick, seed=seed)
    return RemedyFrontier(environment, tuple(names), beta_keys, values, stderr, relative, base, settings,
                          time.perf_counter() - t0)


def _select(rules: dict, methods) -> list[str]:
    if methods is None:
        return list(rules)
    try:
        wanted = [methods] if isinstance(methods, str) else list(methods)
    except TypeError:
        raise ValueError(f"methods must be None, a method name or a sequence of names; got {chk.describe(methods)}") \
            from None
    unknown = [w for w in wanted if not (isinstance(w, str) and w in rules)]
    if unknown:
        raise ValueError(f"methods: unknown method(s) {unknown} in this environment; allowed: {list(rules)}")
    return ["GRPO"] + [w for w in rules if w in wanted and w != "GRPO"]


def _run_bank(grid, beta_keys, steps, n_seeds, n_rollouts, lr, tau, alpha, m, blend, anti, bonus, methods, quick,
              seed, show):
    from ..sampled import train
    from .banks import BLOCKED, prompt_bank

    task = prompt_bank(24 if quick else 48, valid_mass=(0.005, 0.7), seed=seed)
    rules = _bank_rules(alpha, tau, n_rollouts, lr, grid, seed, m=m, blend=blend, anti=anti, bonus=bonus)
    names = _select(rules, methods)

    def per_seed(p):                                     # p: (..., seeds, P, K) → columns (..., seeds)
        return {"pass@1": _pass(p, task.valid, 1), "pass@16": _pass(p, task.valid, 16),
                "ood pass@16": _pass(p, task.ood[BLOCKED], 16)}

    base = {c: float(np.mean(v)) for c, v in per_seed(task.base).items()}
    values, stderr = {}, {}
    with progress_bar(show, auto=False, desc="remedy_frontier (prompt bank)", total=len(names), unit="method") as bar:
        for name in names:
            bar.set_postfix_str(name)
            traj = train(rules[name], task, steps, n_seeds=n_seeds, every=steps, record_policy=False, progress=show)
            p = traj.final.policy                            # (β, seeds, P, K)
            cols = per_seed(p)
            values[name], stderr[name] = {}, {}
            for j, b in enumerate(beta_keys):
                values[name][b], stderr[name][b] = _summary({c: v[j] for c, v in cols.items()})
            bar.update()
    return names, values, stderr, base


def _pass(p, valid, k):
    """pass@k averaged over prompts (last batch axis), per leading entry."""
    from ..metrics import pass_at_k

    return np.mean(pass_at_k(p, np.broadcast_to(valid, p.shape), k), axis=-1)


def _run_graph(grid, beta_keys, steps, n_seeds, n_rollouts, lr, tau, alpha, blend, anti, methods, quick, seed, show):
    from ..dynamics import iterate
    from ..paths import SPLITS, ConceptGraph, FeaturePolicy, bank_pass_at_k, graph_splits
    from ..sampled import replicate

    n_train, n_eval = (16, 16) if quick else (64, 64)
    banks = graph_splits(ConceptGraph(30, dead_end_frac=0.1), n_train=n_train, n_eval=n_eval, seed=seed)
    policy = FeaturePolicy()
    rules = _graph_rules(alpha, tau, n_rollouts, lr, grid, seed, policy, blend=blend, anti=anti)
    names = _select(rules, methods)

    def per_seed(theta):                                 # θ (..., F) → columns (...)
        out = {}
        for col, split, k in (("pass@1", "in_distribution", 1), ("pass@16", "in_distribution", 16),
                              ("ood pass@16", "harder", 16), ("larger pass@1", "larger", 1)):
            key, ood = SPLITS[split]
            bank = banks[key]
            lp = policy.log_policy(theta, bank)
            out[col] = bank_pass_at_k(np.exp(lp), bank, k, ood=ood).mean(-1)
        return out

    base = {c: float(v) for c, v in per_seed(policy.theta_init()).items()}
    train = replicate(banks["train"], n_seeds)
    values, stderr = {}, {}
    with progress_bar(show, auto=False, desc="remedy_frontier (graph)", total=len(names), unit="method") as bar:
        for name in names:
            bar.set_postfix_str(name)
            state = iterate(rules[name], train, steps, record_policy=False, progress=show).final
            cols = per_seed(state.params)                    # (β, seeds)
            values[name], stderr[name] = {}, {}
            for j, b in enumerate(beta_keys):
                values[name][b], stderr[name][b] = _summary({c: np.atleast_1d(v[j]) for c, v in cols.items()})
            bar.update()
    return names, values, stderr, base


# ------------------------------------------------------------------ one table


def frontier_table(*results: RemedyFrontier, markdown: bool = False) -> str:
    """One table of every frontier: environment, method, β, pass@1, pass@16, OOD pass@16 and
    the differences to GRPO, with each remedy's verdict and registry entry (theory §11).

    Parameters
    ----------
    *results : RemedyFrontier
        One per environment (none: the header only).
    markdown : bool
        A Markdown table (as in theory §11) instead of plain text.

    Returns
    -------
    str

    Raises
    ------
    ValueError
        A result that is not a :class:`RemedyFrontier`.

    >>> from modesim.scenarios import frontier_table, remedy_frontier
    >>> fr = remedy_frontier("prompt_bank", quick=True, steps=10, n_seeds=1, methods=["forward KL"])
    >>> print(frontier_table(fr).splitlines()[0].split()[:3])
    ['environment', 'method', 'β']
    """
    from ..remedies import CATALOGUE

    markdown = chk.boolean(markdown, "markdown")
    verdicts = {r.name: f"{r.verdict} ({r.theorem})" for r in CATALOGUE}
    verdicts.update({"GRPO": "reference", "SD": "no (S4, S4b)"})
    for r in results:
        if not isinstance(r, RemedyFrontier):
            raise ValueError(f"results must be RemedyFrontier objects; got {chk.describe(r)}")
    rows = []
    for r in results:
        for mth in r.methods:
            for b in r.betas:
                v, d = r.values[mth][b], r.relative[mth][b]
                rows.append((r.environment, mth, b, v["pass@1"], v["pass@16"], v["ood pass@16"], d["pass@1"],
                             d["pass@16"], d["ood pass@16"], verdicts.get(mth, "")))
    if markdown:
        lines = ["| environment | method | β | pass@1 | pass@16 | OOD pass@16 | Δpass@1 | Δpass@16 | ΔOOD pass@16 | "
                 "preserves ratios |", "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
        lines += [f"| {e.replace('_', ' ')} | {m} | {b:g} | {a:.3f} | {c:.3f} | {o:.3f} | {da:+.3f} | {dc:+.3f} | "
                  f"{do:+.3f} | {v} |" for e, m, b, a, c, o, da, dc, do, v in rows]
        return "\n".join(line.rstrip() for line in lines)
    head = (f"{'environment':<12s} {'method':<23s} {'β':>5s} {'pass@1':>7s} {'pass@16':>8s} {'OOD@16':>7s} "
            f"{'Δpass@1':>8s} {'Δpass@16':>9s} {'ΔOOD@16':>8s}  preserves ratios")
    lines = [head, "-" * len(head)]
    lines += [f"{e:<12s} {m:<23s} {b:5.2f} {a:7.3f} {c:8.3f} {o:7.3f} {da:+8.3f} {dc:+9.3f} {do:+8.3f}  {v}"
              for e, m, b, a, c, o, da, dc, do, v in rows]
    return "\n".join(line.rstrip() for line in lines)
