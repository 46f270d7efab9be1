"""The paper's controlled experiment: sampled GRPO against self-distillation on concept graphs (theory §10).

:func:`graph_experiment` trains one log-linear next-concept policy
(:class:`~modesim.paths.FeaturePolicy`, weights shared by every graph) on a bank of concept
graphs with N rollouts per graph, by GRPO and by self-distillation with a per-step copy
teacher conditioned on a correct rollout of the group (EMA teacher, KL to the reference),
and evaluates base, GRPO, SD and ideal RL on three splits: fresh graphs of the training
size (in distribution), graphs twice as large, and the in-distribution graphs with each
graph's favourite route blocked (harder).  Every metric is exact (dynamic programming over
the bank, :mod:`modesim.paths.banks`); only training samples.

:func:`token_entropy_robustness` shows where the claim "token entropy does not measure
functional diversity" holds robustly: along a feature policy, where near-synonyms share
their features (theory §10).

:func:`plot_graph_experiment` draws the result (learning curves and the split table).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from .. import _checks as chk
from .._progress import progress_bar, resolve, stderr_is_terminal
from ..rule import EMA

__all__ = [
    "GraphExperiment",
    "graph_experiment",
    "plot_graph_experiment",
    "TokenEntropyRobustness",
    "token_entropy_robustness",
]

#: The split names of the table, in order (see :data:`modesim.paths.SPLITS`).
SPLIT_ORDER = ("in_distribution", "larger", "harder")
#: Columns of the table.
COLUMNS = ("pass@1", "pass@16", "distinct_concepts@16", "distinct_paths@16", "token_entropy")


@dataclass(frozen=True, eq=False)
class GraphExperiment:
    """Result of :func:`graph_experiment` (theory §10.4: the table and the learning curves).

    Attributes
    ----------
    methods : tuple of str
        Row labels, e.g. ``"GRPO β=0.04"``; ``"ideal RL"`` is the per-graph filter
        ``π0(·|C)`` (KL-regularised RL as β → 0, theory §2.1 R1/R2), an oracle computed on
        each evaluation graph, not a transferable policy.
    values : mapping label → split → column → float
        Means over graphs and training seeds; columns :data:`COLUMNS` (pass@k is exact; the
        harder split counts a rollout through a blocked edge as failed).
    stderr : mapping label → split → column → float
        Standard error over training seeds (NaN for deterministic rows or one seed).
    curves : mapping label → mapping of str to ndarray
        During training, every ``every`` steps: ``"step"``, ``"in_distribution pass@1"``,
        ``"larger pass@1"``, ``"harder pass@16"``, ``"distinct_concepts@16"`` (in
        distribution), each averaged over graphs and seeds, and ``"theta"`` (T, F) (seed mean).
    silent_fraction : mapping label → float
        Fraction of (seed, graph, step) groups without a learning signal.
    features : tuple of str
    settings : mapping of str to object
    seconds : float
        Wall time of the run.

    Raises
    ------
    ValueError
        Never: a plain record built by :func:`graph_experiment` (not validated).
    """

    methods: tuple
    values: Mapping
    stderr: Mapping
    curves: Mapping
    silent_fraction: Mapping
    features: tuple
    settings: Mapping
    seconds: float

    def table(self) -> str:
        """The paper's table layout: split × method × pass@1 / pass@16 / distinct concepts."""
        head = f"{'split':<16s} {'method':<28s} {'pass@1':>7s} {'pass@16':>8s} {'concepts@16':>12s}"
        lines = [head, "-" * len(head)]
        for split in SPLIT_ORDER:
            for m in self.methods:
                v = self.values[m][split]
                lines.append(f"{split:<16s} {m:<28s} {v['pass@1']:7.3f} {v['pass@16']:8.3f} "
                             f"{v['distinct_concepts@16']:12.2f}")
        return "\n".join(line.rstrip() for line in lines)

    def markdown(self) -> str:
        """The same table in Markdown (for the README)."""
        lines = ["| split | method | pass@1 | pass@16 | distinct concepts@16 |", "| --- | --- | --- | --- | --- |"]
        for split in SPLIT_ORDER:
            for m in self.methods:
                v = self.values[m][split]
                lines.append(f"| {split.replace('_', ' ')} | {m} | {v['pass@1']:.3f} | {v['pass@16']:.3f} | "
                             f"{v['distinct_concepts@16']:.1f} |")
        return "\n".join(line.rstrip() for line in lines)

    def __repr__(self) -> str:
        return f"GraphExperiment({len(self.methods)} methods × {len(SPLIT_ORDER)} splits)\n" + self.table()


def _label(method: str, beta) -> str:
    return f"{method} β={beta:g}"


def graph_experiment(
    *,
    spec=None,
    n_train: int = 64,
    n_eval: int = 64,
    larger: float = 2.0,
    steps: int = 2000,
    n_seeds: int = 2,
    n_rollouts: int = 8,
    lr: float = 1.0,
    betas=(0.0, 0.04),
    tau: float = 0.95,
    alpha: float = 0.5,
    features=None,
    dense_ablation: bool = True,
    every: int = 50,
    seed=0,
    quick: bool = False,
    progress: bool | None = None,
) -> GraphExperiment:
    """Base vs GRPO vs self-distillation vs ideal RL on concept graphs, three splits (theory §10).

    Training (every method on the same ``n_train`` graphs, ``n_seeds`` independent runs,
    one batched computation per method over seeds and KL strengths):

    - **GRPO**: :class:`~modesim.paths.PathSampledRL` (GRPO advantages, N rollouts per graph,
      per-step KL to the base of strength β);
    - **SD**: :class:`~modesim.paths.PathSampledSD`, per-step reverse KL to a copy teacher
      (strength ``alpha``) conditioned on another correct rollout of the group, EMA teacher
      base (``tau``), KL to the base of strength β, every rollout scored (dense feedback);
    - with ``dense_ablation``, SD scoring only correct rollouts (β = 0): what the dense
      feedback on failed rollouts is worth;
    - both on the same :class:`~modesim.paths.FeaturePolicy` (``features``, default
      log-probability of the base, depth gained, out-degree of the candidate) and ``lr``.

    Evaluation, exact by DP, means over graphs and seeds: pass@1, pass@16, distinct concepts
    and distinct valid paths in 16 rollouts, token entropy, on the splits in distribution,
    larger (``spec.larger(larger)``) and harder (favourite route blocked), for the base
    (θ0), the trained policies, and ideal RL (the per-graph filter, an oracle).

    Parameters
    ----------
    spec : graph generator, default ``ConceptGraph(30, dead_end_frac=0.1)``
    n_train, n_eval : int
        Graphs in the training bank and in each evaluation bank.
    larger : float >= 1
    steps : int
        Training steps (each: N rollouts on every training graph).
    n_seeds : int
    n_rollouts : int
        N (the paper: 8).
    lr : float > 0
        SGD learning rate on θ, shared by all methods.
    betas : sequence of float >= 0
        KL strengths (practitioners: 0 to 0.04).
    tau, alpha : float
        EMA rate of the SD teacher base (trainers: 0.95) and copy strength.
    features : tuple of str, optional
        Feature names of the bank (a tuple or list, even for one feature: ``("log_base",)``).
    dense_ablation : bool
    every : int
        Steps between recorded points of the learning curves.
    seed : int >= 0
        Draws the banks; the GRPO run uses ``seed``, the SD runs ``seed + 1``.
    quick : bool
        Small settings for tests (24 + 24 graphs, 300 steps, one seed).
    progress : bool or None
        True shows a tqdm progress bar on stderr (training steps of every method), False
        shows nothing, None shows it when stderr is a terminal.

    Returns
    -------
    GraphExperiment

    Raises
    ------
    ValueError
        Naming the setting: ``n_train``, ``n_eval``, ``steps``, ``n_seeds``, ``every``,
        ``betas``, ``larger``, ``quick``, ``dense_ablation``, ``spec``, ``features`` (not a
        tuple or list of names, or an unknown name), ``progress``, ``seed`` (not an integer
        >= 0), or a rule's own parameter (``lr``, ``n_rollouts``, ``tau``, ``alpha``).

    Notes
    -----
    Source: the experiment's design (concept graphs, N = 8, GRPO against SD with an EMA teacher
    conditioned on a correct rollout of the group, splits in distribution / larger /
    harder) is the paper's (arXiv 2606.26091); the model of it is ours (theory §10).

    Examples
    --------
    >>> from modesim.scenarios import graph_experiment
    >>> res = graph_experiment(quick=True, steps=40, n_train=8, n_eval=8, betas=(0.04,))
    >>> sorted(res.values["base"])
    ['harder', 'in_distribution', 'larger']
    """
    from ..paths import (
        DEFAULT_FEATURES,
        SPLITS,
        ConceptGraph,
        FeaturePolicy,
        PathCopyTeacher,
        PathSampledRL,
        PathSampledSD,
        bank_distinct_concepts,
        bank_kl_optimum,
        bank_metrics,
        bank_pass_at_k,
        graph_splits,
    )
    from ..sampled import replicate

    t0 = time.perf_counter()
    quick = chk.boolean(quick, "quick")
    show = resolve(progress, auto=stderr_is_terminal())
    spec = ConceptGraph(30, dead_end_frac=0.1) if spec is None else spec
    n_train = chk.integer(n_train, "n_train", low=1)
    n_eval = chk.integer(n_eval, "n_eval", low=1)
    n_seeds = chk.integer(n_seeds, "n_seeds", low=1)
    steps = chk.integer(steps, "steps", low=1)
    if quick:
        n_train, n_eval, n_seeds = min(n_train, 24), min(n_eval, 24), 1
        steps = min(steps, 300)
    every = chk.integer(every, "every", low=1)
    seed = chk.integer(seed, "seed", low=0)     # the SD runs use seed + 1: a Generator cannot be shifted
    betas = np.atleast_1d(chk.real(betas, "betas", low=0.0))
    if betas.ndim != 1 or betas.size == 0:
        raise ValueError(f"betas must be a non-empty sequence of KL strengths; got {chk.describe(betas)}")
    dense_ablation = chk.boolean(dense_ablation, "dense_ablation")
    policy = FeaturePolicy(DEFAULT_FEATURES if features is None else features)
    banks = graph_splits(spec, n_train=n_train, n_eval=n_eval, larger=larger, seed=seed)
    for f in policy.features:
        chk.choice(f, "features", tuple(banks["train"].feature_names))
    ks = (1, 16)

    def evaluate(log_policy_of) -> tuple[dict, dict]:
        mean, se = {}, {}
        for split in SPLIT_ORDER:
            key, ood = SPLITS[split]
            bank = banks[key]
            lp = log_policy_of(bank)
            m = bank_metrics(np.exp(lp), bank, ks, ood=ood, mean=False)
            per_seed = {  # (..., G, Q) → (...,) per training seed, then over seeds
                "pass@1": m["pass@k"][..., 0].mean(-1), "pass@16": m["pass@k"][..., 1].mean(-1),
                "distinct_concepts@16": m["distinct_concepts@k"][..., 1].mean(-1),
                "distinct_paths@16": m["distinct_paths@k"][..., 1].mean(-1),
                "token_entropy": m["token_entropy"].mean(-1),
            }
            mean[split] = {c: float(np.mean(v)) for c, v in per_seed.items()}
            se[split] = {c: (float(np.std(v, ddof=1) / np.sqrt(np.size(v))) if np.size(v) > 1 else float("nan"))
                         for c, v in per_seed.items()}
        return mean, se

    values, stderr, curves, silent = {}, {}, {}, {}
    values["base"], stderr["base"] = evaluate(lambda b: policy.log_policy(policy.theta_init(), b))
    values["ideal RL"], stderr["ideal RL"] = evaluate(lambda b: bank_kl_optimum(b, 0.0, log=True))

    def checkpoint(theta):
        """Cheap curves at a checkpoint: θ of shape (..., F)."""
        idb, lgb = banks["in_distribution"], banks["larger"]
        lp_id = policy.log_policy(theta, idb)
        return {
            "in_distribution pass@1": bank_pass_at_k(np.exp(lp_id), idb, 1).mean(-1),
            "larger pass@1": bank_pass_at_k(np.exp(policy.log_policy(theta, lgb)), lgb, 1).mean(-1),
            "harder pass@16": bank_pass_at_k(np.exp(lp_id), idb, 16, ood="harder").mean(-1),
            "distinct_concepts@16": bank_distinct_concepts(np.exp(lp_id), idb, 16).mean(-1),
        }

    train = replicate(banks["train"], n_seeds)
    grid = betas[:, None]
    runs = [
        ("GRPO", PathSampledRL("grpo", n_rollouts=n_rollouts, lr=lr, beta=grid, policy=policy, seed=seed), True),
        ("SD", PathSampledSD(PathCopyTeacher(alpha), n_rollouts=n_rollouts, lr=lr, beta=grid,
                             teacher_base=EMA(tau), policy=policy, seed=seed + 1), True),
    ]
    if dense_ablation:
        runs.append(("SD correct-only", PathSampledSD(
            PathCopyTeacher(alpha), n_rollouts=n_rollouts, lr=lr, beta=0.0, teacher_base=EMA(tau),
            score="correct", policy=policy, seed=seed + 1), False))
    with progress_bar(show, auto=False, desc="graph_experiment", total=len(runs) * steps, unit="step") as bar:
        for name, rule, gridded in runs:
            bar.set_postfix_str(name)
            state = rule.init(train)
            rec = {"step": [0], **{k: [v] for k, v in checkpoint(state.params).items()}, "theta": [state.params]}
            for i in range(1, steps + 1):
                state = rule.step(state, train)
                bar.update()
                if i % every == 0 or i == steps:
                    rec["step"].append(i)
                    for k, v in checkpoint(state.params).items():
                        rec[k].append(v)
                    rec["theta"].append(state.params)
            arrays = {k: np.stack([np.broadcast_to(x, rec["theta"][-1].shape[:-1] if k != "theta" and k != "step"
                                                   else np.shape(x)) for x in v]) for k, v in rec.items()}
            labels = [_label(name, b) for b in betas] if gridded else [f"{name} β=0"]
            for j, label in enumerate(labels):
                theta = state.params[j] if gridded else state.params
                values[label], stderr[label] = evaluate(lambda b, th=theta: policy.log_policy(th, b))
                pick = (lambda x, j=j: x[:, j]) if gridded else (lambda x: x)
                curves[label] = {"step": arrays["step"],
                                 **{k: pick(arrays[k]).mean(-1) for k in checkpoint(state.params) if k != "step"},
                                 "theta": pick(arrays["theta"]).mean(-2)}
                sg = state.silent_groups[j] if gridded else state.silent_groups
                silent[label] = float(np.mean(sg) / steps)
    order = ["base", "ideal RL"] + [k for k in values if k not in ("base", "ideal RL")]
    settings = dict(spec=spec, n_train=n_train, n_eval=n_eval, larger=larger, steps=steps, n_seeds=n_seeds,
                    n_rollouts=n_rollouts, lr=lr, betas=tuple(float(b) for b in betas), tau=tau, alpha=alpha,
                    seed=seed)
    return GraphExperiment(
        methods=tuple(order), values=values, stderr=stderr, curves=curves, silent_fraction=silent,
        features=policy.features, settings=settings, seconds=time.perf_counter() - t0,
    )


# ------------------------------------------------------------------ figure


def plot_graph_experiment(result: GraphExperiment, *, axes=None):
    """Draw a :class:`GraphExperiment`: four panels (theory §10.4).

    (a) in-distribution pass@1 and (b) harder-split pass@16 against the training step;
    (c) weight on the base's log-probability (how much each method sharpens the base's
    preferences) against the step; (d) pass@16 on each split, by method.

    Parameters
    ----------
    result : GraphExperiment
    axes : 2 × 2 array of Axes, optional
        Default: a new figure (:func:`modesim.plot.new_figure`, 9 × 6 in).

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ValueError
        ``result`` is not a :class:`GraphExperiment`.  ``axes`` is not checked (indexing a
        smaller array raises ``IndexError``).
    """
    from ..plot import OKABE_ITO, new_figure, plot_bars, plot_curves

    if not isinstance(result, GraphExperiment):
        raise ValueError(f"result must be a GraphExperiment; got {chk.describe(result)}")
    if axes is None:
        fig, axes = new_figure(2, 2, width=9.0, height=6.0)
    else:
        from matplotlib.axes import Axes

        grid = np.empty((2, 2), dtype=object)
        try:
            grid[...] = [list(row) for row in axes]
        except (TypeError, ValueError):
            grid[...] = None
        if not all(isinstance(a, Axes) for a in grid.ravel()):
            raise ValueError(f"axes must be None or a 2 × 2 array of matplotlib Axes; got {chk.describe(axes)}")
        axes = grid
        fig = axes[0][0].figure
    trained = [m for m in result.methods if m in result.curves]
    palette = [OKABE_ITO[c] for c in ("blue", "sky_blue", "vermillion", "orange", "reddish_purple", "bluish_green")]
    colors = {m: palette[i % len(palette)] for i, m in enumerate(trained)}
    colors.update({"base": "#555555", "ideal RL": "#000000"})
    styles = {m: "--" if "correct" in m else "-" for m in trained}

    def curve(key):
        return {m: result.curves[m][key] for m in trained}

    step = result.curves[trained[0]]["step"]
    plot_curves(step, curve("in_distribution pass@1"), colors=colors, styles=styles, xlabel="training step",
                ylabel="pass@1", title="(a) in distribution", ax=axes[0][0])
    plot_curves(step, curve("harder pass@16"), colors=colors, styles=styles, xlabel="training step",
                ylabel="pass@16", title="(b) harder graphs", legend=False, ax=axes[0][1])
    j = result.features.index("log_base") if "log_base" in result.features else 0
    plot_curves(step, {m: result.curves[m]["theta"][:, j] for m in trained}, colors=colors, styles=styles,
                xlabel="training step", ylabel=f"weight on {result.features[j]}",
                title="(c) sharpening of the base", legend=False, ax=axes[1][0])
    groups = {m: np.array([result.values[m][s]["pass@16"] for s in SPLIT_ORDER]) for m in result.methods}
    ax = plot_bars([s.replace("_", " ") for s in SPLIT_ORDER], groups, colors=colors, ylabel="pass@16",
                   title="(d) pass@16 by split", legend=False, ax=axes[1][1])
    handles, labels = ax.get_legend_handles_labels()
    keep = [i for i, lab in enumerate(labels) if lab in ("base", "ideal RL")]
    ax.legend([handles[i] for i in keep], [labels[i] for i in keep], loc="upper right", fontsize="small")
    return fig


# ------------------------------------------------------------------ token entropy


@dataclass(frozen=True, eq=False)
class TokenEntropyRobustness:
    """Result of :func:`token_entropy_robustness` (arrays over ``skews``; theory §10.5, statement G4).

    Attributes
    ----------
    skews : ndarray
        Relative skew s of the synonym probabilities (synonym j has weight (1 + s)^j).
    tabular_retained, feature_retained : ndarray
        Token entropy after training over token entropy of the base, for the tabular exact
        rule and for the feature policy.
    tabular_strategies, feature_strategies : ndarray
        Expected distinct strategies in k rollouts after training (base: ``base_strategies``).
    feature_weight : ndarray
        The feature policy's final weight on ``log_base`` (its amplification exponent).
    base_strategies : float
    k : int

    Raises
    ------
    ValueError
        Never: a plain record built by :func:`token_entropy_robustness` (not validated).
    """

    skews: np.ndarray
    tabular_retained: np.ndarray
    feature_retained: np.ndarray
    tabular_strategies: np.ndarray
    feature_strategies: np.ndarray
    feature_weight: np.ndarray
    base_strategies: float
    k: int


def _skewed_synonym_task(skew: float, shares, length, writeup, synonyms):
    from ..paths import path_task
    from .token_entropy import synonym_task

    task, heads, concepts = synonym_task(shares, length, writeup, synonyms)
    g = task.graph
    w = np.exp(task.log_base)
    syn = np.flatnonzero(g.out_degree[g.src] == synonyms) if synonyms > 1 else np.zeros(0, dtype=np.int64)
    syn = syn[~np.isin(g.src[syn], [g.start])]
    w[syn] *= (1.0 + skew) ** (syn - g.out_start[g.src[syn]])
    return path_task(g, w), heads


def token_entropy_robustness(*, skews=(0.0, 0.01, 0.04), shares=(0.5, 0.3, 0.2), length: int = 3,
                             writeup: int = 4, synonyms: int = 4, alpha: float = 0.5, rounds: int = 30,
                             steps: int = 500, lr: float = 1.0, k: int = 8) -> TokenEntropyRobustness:
    """Where token entropy stays high while strategies collapse, robustly (theory §4, §10.5, statement G4).

    The synonym task of :func:`~modesim.scenarios.token_entropy_example` (three strategies,
    then a write-up whose steps can each be spelled by ``synonyms`` tokens), with the
    synonyms skewed: token j of each step has base weight ∝ (1 + s)^j.  Two learners:

    - the **tabular** exact rule (:class:`~modesim.paths.PathSelfDistillation`, ``rounds``
      rounds): every per-node ratio is amplified on its own, so a skew among synonyms
      compounds like any other preference and the token entropy follows the strategies
      down — the example holds only at the symmetric point s = 0;
    - a **feature policy** (:class:`~modesim.paths.FeaturePolicy` over the base's
      log-probability, depth gained and degree; the mean field of
      :class:`~modesim.paths.PathSampledSD` with a current teacher, ``steps`` steps): one
      weight w multiplies every log-ratio, strategies' (log 5/3 ≈ 0.51) and synonyms'
      (log(1 + s)) alike, so the strategies collapse once w·0.51 ≫ 1 while the synonyms
      keep their entropy until w·log(1 + s) ≈ 1 — a separation of scales by a factor
      0.51/log(1 + s) (≈ 51 at s = 1 %, ≈ 13 at s = 4 %).

    Returns
    -------
    TokenEntropyRobustness
        Arrays of shape ``(len(skews),)``; retained token entropy is a ratio (nats over
        nats), strategies an expected count in ``k`` rollouts.

    Raises
    ------
    ValueError
        Naming ``skews`` (negative, not finite), ``k``, or a setting of the synonym task
        (``shares``, ``length``, ``writeup``, ``synonyms``) or of the rules (``alpha``,
        ``lr``); ``rounds`` or ``steps`` not an integer >= 0.

    Notes
    -----
    Source: the claim tested is the paper's (token entropy is not functional diversity,
    arXiv 2606.26091; theory §7.1, claim 7); the synonym task and the analysis are ours.

    Examples
    --------
    >>> from modesim.scenarios import token_entropy_robustness
    >>> r = token_entropy_robustness(skews=(0.0, 0.04), steps=200, rounds=30)
    >>> bool(r.feature_retained.min() > 0.7 and r.tabular_retained[-1] < 0.05)
    True
    """
    from ..dynamics import iterate
    from ..paths import (
        ExpectedUpdate,
        FeaturePolicy,
        PathCopyTeacher,
        PathSampledSD,
        PathSelfDistillation,
        as_bank,
        hit_probability,
        node_marginals,
        token_entropy,
    )

    skews = np.atleast_1d(chk.real(skews, "skews", low=0.0))
    k = chk.integer(k, "k", low=1)
    rounds = chk.integer(rounds, "rounds", low=0)
    steps = chk.integer(steps, "steps", low=0)
    ks = np.asarray(float(k))
    policy = FeaturePolicy()

    def strategies(p, task, heads):
        with np.errstate(divide="ignore"):
            return float(hit_probability(np.log(node_marginals(p, task)[..., heads]), ks).sum(-1))

    out = {name: [] for name in ("tr", "fr", "ts", "fs", "w")}
    base_strategies = None
    for s in skews:
        task, heads = _skewed_synonym_task(float(s), shares, length, writeup, synonyms)
        h0 = token_entropy(task.base, task)
        base_strategies = strategies(task.base, task, heads) if base_strategies is None else base_strategies
        tab = iterate(PathSelfDistillation(teacher=PathCopyTeacher(alpha)), task, rounds, record_policy=False).final
        rule = ExpectedUpdate(PathSampledSD(PathCopyTeacher(alpha), lr=lr, policy=policy))
        feat = iterate(rule, as_bank(task), steps, record_policy=False).final
        out["tr"].append(token_entropy(tab.policy, task) / h0)
        out["fr"].append(token_entropy(feat.policy, task) / h0)
        out["ts"].append(strategies(tab.policy, task, heads))
        out["fs"].append(strategies(feat.policy, task, heads))
        out["w"].append(float(feat.params[policy.features.index("log_base")]))
    arr = {key: np.array(v, dtype=np.float64) for key, v in out.items()}
    return TokenEntropyRobustness(skews, arr["tr"], arr["fr"], arr["ts"], arr["fs"], arr["w"], base_strategies, k)
