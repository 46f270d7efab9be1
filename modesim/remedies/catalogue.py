"""The catalogue of remedies and their verdicts (theory §11).

:data:`CATALOGUE` lists every remedy with its update rule, the registry entry that proves
(or refutes) ratio preservation, and its verdict: ``"exact"`` (the round preserves every
ratio among valid modes), ``"asymptotic"`` (only in a limit, named), ``"no"`` (it amplifies
or compresses).  :func:`verdict_table` prints it; the frontier's positions come from
:func:`modesim.scenarios.remedies.remedy_frontier`.
"""

from __future__ import annotations

from dataclasses import dataclass

from .. import _checks as chk

__all__ = ["Remedy", "CATALOGUE", "verdict_table", "remedy"]


@dataclass(frozen=True)
class Remedy:
    """One remedy of theory §11: its update rule, registry statement and verdict.

    Attributes
    ----------
    name : str
        Its method name in figures and tables (registered with
        :func:`modesim.plot.register_method`, family "remedy", by :mod:`modesim.figures.frontier`).
    rule : str
        The update, as modesim builds it.
    theorem : str
        Registry id of the statement about its ratios (``modesim verify --theorem <id>``).
    verdict : str
        ``"exact"``, ``"asymptotic"`` or ``"no"``.
    detail : str
        The verdict in words (direction, limit, assumption).
    paths : str
        How it runs on the graph experiment, or why it does not.

    Raises
    ------
    ValueError
        Never: a plain record, not validated (the entries are the data of
        :data:`CATALOGUE`, whose verdicts the registry entries of theory §11 prove).

    Notes
    -----
    Source: the remedies, statements and verdicts are ours (theory §11).
    """

    name: str
    rule: str
    theorem: str
    verdict: str
    detail: str
    paths: str


CATALOGUE: tuple[Remedy, ...] = (
    Remedy("forward KL", "SelfDistillation(objective='forward'); sampled: RemedySampledSD(objective='forward')",
           "F1", "exact",
           "exact iff the teacher mixture E_d T is proportional to ρ on C (marginal consistency: the copy "
           "teacher with self-generated demonstrations, any invalid mass); a bias-channelling teacher "
           "(power-copy, γ > 0) amplifies even here",
           "PathSampledSD(objective='forward') (per-step target, theory §5.3)"),
    Remedy("teacher mixture", "MixtureTeacher(teacher, m) (copy teacher: MultiDemoTeacher(α, m))",
           "M1", "asymptotic",
           "amplifies for every finite m; the distortion is −α²p(1−p)/(2mμ²) + O(m⁻²): it vanishes like "
           "1/m (m → ∞); averaging log-probabilities instead does not help at any m",
           "not run: path teachers read one demonstration"),
    Remedy("contrastive teacher", "ContrastiveTeacher(teacher, baseline='independent')",
           "C1", "exact",
           "preserves trivially: with an independent baseline demonstration the round is the identity (no "
           "mass moved); with no (or another prompt's) demonstration as baseline it is plain SD",
           "not run: needs two demonstrations per rollout"),
    Remedy("balanced demos", "BalancedDemos(teacher) (D ∝ 1/L); sampled: importance weights on the group",
           "W1", "exact",
           "exact for the teacher it is balanced for, with a positive gain of valid mass; no power-law "
           "reweighting ρ^(−e) does this for every base (W2)",
           "not run: path demonstrations are picked uniformly from the group"),
    Remedy("RL-SD blend", "DistillationBlend(λ, 1 − λ); sampled: SampledBlend(combine='sum')",
           "L1", "asymptotic",
           "keeps the fraction μ/(μ + β) of SD's amplification: all of it at β = 0 for every λ < 1; vanishes "
           "only as (1 − λ)/β → 0",
           "PathBlend(combine='sum')"),
    Remedy("sign-gated SD", "SampledBlend(combine='sign'): A = sign(A_GRPO)·|log T − log π|",
           "H1", "no",
           "the expected advantage of a valid mode, c·q(L + 2 log(1 − α)), is not constant on C: it rises with "
           "the mode's share q up to a peak q* (0.03–0.25 once J ≥ 0.5; q* falls as α and J grow) and falls beyond, so common modes are "
           "compressed and rare ones amplified",
           "PathBlend(combine='sign')"),
    Remedy("anti-distillation", "DistillationBlend(1, −μ); sampled: SampledBlend(1, −μ)",
           "L1", "no",
           "reverses SD's distortion: with the copy teacher it compresses every valid ratio, by μ/(β − μ)·ΔĪ",
           "PathBlend(reward_weight=1, distill_weight=−μ)"),
    Remedy("GRPO + diversity bonus", "SampledRL(diversity_bonus=λ)",
           "D1", "no",
           "REINFORCE with the bonus has mean advantage 1 + λ(N−1)(1−π(y))/N on C: a mirror step compresses "
           "every valid ratio; on logits (Euclidean) the sign depends on J and the pair",
           "not run: PathSampledRL's reward sees only success (a path bonus needs the group's paths)"),
)


def remedy(name: str) -> Remedy:
    """The catalogue entry called ``name`` (theory §11, the verdicts table).

    Parameters
    ----------
    name : str
        A :attr:`Remedy.name`, e.g. ``"forward KL"``.

    Returns
    -------
    Remedy

    Raises
    ------
    ValueError
        ``name`` is not a remedy of :data:`CATALOGUE`; the message lists the remedies.

    >>> from modesim.remedies import remedy
    >>> remedy("forward KL").theorem
    'F1'
    """
    for r in CATALOGUE:
        if r.name == name:
            return r
    raise ValueError(f"remedy must be one of {[r.name for r in CATALOGUE]}; got {name!r}")


def verdict_table(markdown: bool = False) -> str:
    """The verdicts: remedy, registry entry, ratios preserved (exact / asymptotic / no), detail (theory §11).

    Parameters
    ----------
    markdown : bool
        A Markdown table (for the README and theory §11) instead of plain text.

    Returns
    -------
    str
        One line per entry of :data:`CATALOGUE` after a header line (two with Markdown).

    Raises
    ------
    ValueError
        ``markdown`` not True or False.

    >>> from modesim.remedies import verdict_table
    >>> print(verdict_table().splitlines()[0])
    remedy                  entry  preserves ratios  detail
    """
    markdown = chk.boolean(markdown, "markdown")
    if markdown:
        lines = ["| remedy | registry entry | preserves ratios | detail |", "| --- | --- | --- | --- |"]
        lines += [f"| {r.name} | {r.theorem} | {r.verdict} | {r.detail} |" for r in CATALOGUE]
        return "\n".join(lines)
    lines = [f"{'remedy':<23s} {'entry':<6s} {'preserves ratios':<17s} detail"]
    lines += [f"{r.name:<23s} {r.theorem:<6s} {r.verdict:<17s} {r.detail}" for r in CATALOGUE]
    return "\n".join(lines)
