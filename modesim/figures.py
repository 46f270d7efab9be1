"""The paper figures: one registered builder per figure, and ``modesim figures``.

A builder computes with the library (tasks, rules, :func:`~modesim.iterate`,
:func:`~modesim.fixed_points`, metrics) and then draws with :mod:`modesim.plot`; it
returns a :class:`FigureResult` holding the data behind the figure (a dict of arrays,
which the tests assert on) and the :class:`~matplotlib.figure.Figure`.  Every builder
takes ``quick=True`` for a small, fast version with the same content, and is
deterministic: two builds give identical data.

>>> from modesim.figures import FIGURES, build_figure
>>> sorted(FIGURES)[:2]
['ablations', 'amplification']
>>> result = build_figure("stability", quick=True)
>>> float(result.data["max_abs_error"]) < 1e-5
True
"""

from __future__ import annotations

import functools
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from . import plot as mp
from .demos import UniformDemos
from .distill import SelfDistillation, sd_optimum
from .dynamics import flow, iterate
from .metrics import (
    amplification_exponent,
    conditional,
    effective_modes,
    fan,
    fixation_probability,
    pass_at_k,
)
from .paths import (
    LayeredDAG,
    PathCopyTeacher,
    PathNaturalPG,
    PathSelfDistillation,
    expected_distinct_concepts,
    expected_distinct_paths,
    harder,
    path_pass_at_k,
)
from .rl import NaturalPG, SoftmaxPG
from .sampled import SampledRL, SampledSD, train
from .scenarios import BLOCKED, prompt_bank, token_entropy_example
from .stability import fixed_points, map_jacobian
from .task import Task, make_task, zipf_task
from .teachers import CopyTeacher, MultiDemoTeacher, TiltTeacher

__all__ = ["FigureResult", "FigureSpec", "FIGURES", "register", "build_figure", "save_figures"]


@dataclass(frozen=True, eq=False)
class FigureResult:
    """What a builder returns.

    Attributes
    ----------
    data : dict of str to ndarray
        The numbers drawn in the figure (and a few derived ones the tests check).
    figure : matplotlib.figure.Figure
        A stand-alone figure (not registered with pyplot; nothing to close).
    """

    data: dict[str, np.ndarray]
    figure: Figure


@dataclass(frozen=True)
class FigureSpec:
    """A registered figure: its file name, a one-sentence description and its builder."""

    name: str
    description: str
    builder: Callable[..., FigureResult]


#: Registered figures by name, in registration order (the order of ``modesim figures``).
FIGURES: dict[str, FigureSpec] = {}


def register(name: str, description: str):
    """Register ``fn(*, quick=False) -> FigureResult`` as figure ``name``.

    The registered builder runs inside :func:`modesim.plot.style`, so the figure has
    the modesim look however it is called.
    """

    def deco(fn):
        @functools.wraps(fn)
        def styled(*, quick: bool = False) -> FigureResult:
            with mp.style():
                return fn(quick=quick)

        FIGURES[name] = FigureSpec(name, description, styled)
        return styled

    return deco


def build_figure(name: str, *, quick: bool = False) -> FigureResult:
    """Build the registered figure ``name`` (``quick=True``: small and fast)."""
    if name not in FIGURES:
        raise ValueError(f"unknown figure {name!r}; registered figures: {', '.join(FIGURES)}")
    return FIGURES[name].builder(quick=quick)


def save_figures(
    out="figures",
    *,
    only: Iterable[str] | None = None,
    formats: Iterable[str] = ("png",),
    quick: bool = False,
    progress: bool = True,
) -> list[Path]:
    """Build figures and write ``out/<name>.<format>``; returns the written paths.

    Parameters
    ----------
    out : path
        Output directory (created if missing).
    only : iterable of str, optional
        Names of the figures to build (default: all, in registration order).
    formats : iterable of str
        File formats, e.g. ``("png", "pdf")``.
    quick : bool
        Small versions (what the tests build).
    progress : bool
        Show a tqdm progress bar over figures.
    """
    from tqdm.auto import tqdm

    names = list(FIGURES) if only is None else list(only)
    unknown = [n for n in names if n not in FIGURES]
    if unknown:
        raise ValueError(f"unknown figure(s) {unknown}; registered figures: {', '.join(FIGURES)}")
    formats = [f.strip().lower().lstrip(".") for f in formats if f.strip()]
    bad = [f for f in formats if f not in ("png", "pdf", "svg")]
    if bad or not formats:
        raise ValueError(f"formats must be some of png, pdf, svg; got {list(formats) or 'none'}")
    paths: list[Path] = []
    with tqdm(names, desc="figures", unit="fig", disable=not progress) as bar:
        for name in bar:
            bar.set_postfix_str(name)
            result = build_figure(name, quick=quick)
            paths += mp.save_figure(result.figure, Path(out) / name, formats)
    return paths


# ----------------------------------------------------------------------- shared setup

#: Three equally correct modes (base shares 0.6 : 0.3 : 0.1) and one wrong answer.
_MODE_LABELS = ("A", "B", "C", "wrong")
_ALPHA = 0.5


def _demo_task() -> Task:
    """The running example: valid modes A, B, C with π0 ∝ (0.6, 0.3, 0.1) on C and
    π0(wrong) = 0.3."""
    return make_task([0.42, 0.21, 0.07, 0.30], [1, 1, 1, 0])


def _sd(**kw) -> SelfDistillation:
    kw.setdefault("teacher", CopyTeacher(_ALPHA))
    return SelfDistillation(**kw)


# ----------------------------------------------------------- 1. modes over rounds


@register("mode_probabilities", "Probability of each mode over rounds: RL keeps the ratios "
          "among correct answers, self-distillation concentrates on the favourite.")
def mode_probabilities(*, quick: bool = False) -> FigureResult:
    """Natural-PG RL (MATH §2.2, R3) against copy-teacher SD (§3.5, S6, S7) on the running example."""
    task = _demo_task()
    rounds = 4 if quick else 12
    rl = iterate(NaturalPG(lr=1.0), task, rounds)
    sd = iterate(_sd(), task, rounds)
    data = {
        "rounds": rl.times,
        "rl": rl.policy,
        "sd": sd.policy,
        "rl_effective_modes": effective_modes(rl.policy, task.valid),
        "sd_effective_modes": effective_modes(sd.policy, task.valid),
    }
    fig, ax = mp.new_figure(1, 3, width=9.0, height=2.8)
    mp.plot_rounds(data["rounds"], data["rl"], labels=_MODE_LABELS, valid=task.valid,
                   title="RL (natural policy gradient, η = 1)", ax=ax[0, 0])
    mp.plot_rounds(data["rounds"], data["sd"], labels=_MODE_LABELS, valid=task.valid,
                   title=f"self-distillation (copy teacher, α = {_ALPHA})", ax=ax[0, 1])
    ax[0, 0].legend()
    mp.plot_curves(
        data["rounds"], {"RL": data["rl_effective_modes"], "SD": data["sd_effective_modes"]},
        colors={"RL": mp.COLORS["rl"], "SD": mp.COLORS["sd"]}, xlabel="round", integer_x=True,
        ylabel="effective modes exp H(π(·|C))", title="diversity among correct answers",
        ax=ax[0, 2],
    )
    ax[0, 2].set_ylim(0.9, 3.1)
    return FigureResult(data, fig)


# ---------------------------------------------------------------- 2. phase portraits

#: Starting points (π(·|C)) of the trajectories drawn in every portrait.
_STARTS = np.array([
    [0.36, 0.33, 0.31], [0.31, 0.36, 0.33], [0.33, 0.31, 0.36],
    [0.5, 0.3, 0.2], [0.2, 0.5, 0.3], [0.3, 0.2, 0.5],
    [0.8, 0.1, 0.1], [0.1, 0.8, 0.1], [0.1, 0.1, 0.8],
])


def _slice_task(points: np.ndarray, invalid_mass: float) -> Task:
    """One prompt per point ``q`` of the triangle: π0 = ((1 − m)·q, m), mode 3 invalid
    (``m = 0``: three modes, all valid)."""
    if invalid_mass == 0.0:
        return make_task(points)
    base = np.concatenate([(1 - invalid_mass) * points, np.full(points.shape[:-1] + (1,), invalid_mass)], -1)
    return make_task(base, [1, 1, 1, 0])


def _portrait(rule, grid, *, invalid_mass: float, rounds: int, fixed: bool) -> dict:
    """Field, trajectories and fixed points of one rule, in π(·|C) coordinates.

    The field is the displacement of one round, ``q' − q``, evaluated (batched) at every
    node of ``grid`` with invalid mass ``invalid_mass``.  With ``fixed``, rest points come
    from :func:`modesim.fixed_points` on the three-mode, all-valid task (RL's rest points
    fill the whole valid face, so its panels skip them).
    """
    pts = grid.points[grid.inside]
    grid_task = _slice_task(pts, invalid_mass)
    step = iterate(rule, grid_task, 1)
    velocity = np.full(grid.points.shape, np.nan)
    velocity[grid.inside] = conditional(step.policy[-1], grid_task.valid)[..., :3] - pts
    traj_task = _slice_task(_STARTS, invalid_mass)
    traj = iterate(rule, traj_task, rounds)
    paths = conditional(traj.policy, traj_task.valid)[..., :3].transpose(1, 0, 2)
    out = {"grid_points": grid.points, "velocity": velocity, "trajectories": paths}
    if fixed:
        fps = fixed_points(rule, make_task([1 / 3, 1 / 3, 1 / 3]))
        out["fixed_points"] = np.array([fp.policy for fp in fps])
        out["stability"] = np.array([fp.stability for fp in fps])
    return out


@register("phase_portraits", "Flow of one round on the triangle of three correct answers: "
          "natural-PG RL never moves π(·|C), softmax PG drifts slowly, self-distillation with "
          "a copying teacher flows to a vertex and an anti-copying teacher to the centre.")
def phase_portraits(*, quick: bool = False) -> FigureResult:
    """One-round flows on π(·|C) for natural PG (R3), softmax PG (R4) and SD with a copying
    (S6) or anti-copying (S5) teacher, with :func:`modesim.fixed_points` marked by stability."""
    grid = mp.simplex_grid(12 if quick else 28)
    m = 0.5
    panels = {
        "npg": (NaturalPG(lr=1.0), m, 2 if quick else 10, False),
        "softmax_pg": (SoftmaxPG(lr=5.0), m, 20 if quick else 200, False),
        "sd_copy": (_sd(), 0.0, 4 if quick else 12, True),
        "sd_anti": (_sd(teacher=TiltTeacher(kappa=-1.0)), 0.0, 4 if quick else 12, True),
    }
    data = {}
    for key, (rule, mass, rounds, fixed) in panels.items():
        for k, v in _portrait(rule, grid, invalid_mass=mass, rounds=rounds, fixed=fixed).items():
            data[f"{key}_{k}"] = v
    # RL's rest points fill the whole valid face (a neutral continuum), so its panels
    # carry a note instead of markers.
    fig, ax = mp.new_figure(1, 4, width=10.0, height=2.9)
    labels = ("A", "B", "C")
    mp.plot_portrait(
        grid, data["npg_velocity"], trajectories=data["npg_trajectories"],
        color=mp.COLORS["rl"], labels=labels, title="RL: natural PG (η = 1)",
        note="π(·|C) never moves (R3): every point rests", ax=ax[0, 0],
    )
    mp.plot_portrait(
        grid, data["softmax_pg_velocity"],
        trajectories=data["softmax_pg_trajectories"], color=mp.COLORS["softmax_pg"],
        labels=labels, title="RL: softmax PG (η = 5)",
        note=f"field at π(wrong) = {m}; slows as π(C) → 1 (R4)", ax=ax[0, 1],
    )
    for j, (key, title, color) in enumerate([
        ("sd_copy", f"SD: copy teacher (α = {_ALPHA})", mp.COLORS["sd"]),
        ("sd_anti", "SD: anti-copying teacher (κ = −1)", mp.COLORS["sd_anti"]),
    ]):
        mp.plot_portrait(
            grid, data[f"{key}_velocity"], trajectories=data[f"{key}_trajectories"],
            fixed_points=data[f"{key}_fixed_points"], stability=data[f"{key}_stability"],
            color=color, labels=labels, title=title, legend=j == 0, ax=ax[0, 2 + j],
        )
    return FigureResult(data, fig)


# ----------------------------------------------------------------------- 3. pass@k


def _prompt_bank(n_prompts: int) -> Task:
    """A bank of prompts from :func:`modesim.scenarios.prompt_bank`: six modes, four correct,
    valid mass between 0.3 and 0.95, valid shares halving from the favourite down.

    Out of distribution ("top_blocked"), each prompt's favourite correct mode under π0
    stops working.
    """
    bank = prompt_bank(n_prompts, 6, n_valid=4, valid_mass=(0.3, 0.95), decay=0.5, seed=0)
    return Task(bank.log_base, bank.valid, {"top_blocked": bank.ood[BLOCKED]})


@register("pass_at_k", "pass@k against k for the base policy, RL and self-distillation after "
          "five rounds, averaged over a bank of prompts: in distribution all three saturate, "
          "out of distribution (favourite answer blocked) SD falls far behind RL.")
def pass_at_k_figure(*, quick: bool = False) -> FigureResult:
    """pass@k (MATH §4) of base, RL and SD over a Dirichlet bank of prompts, in and out of
    distribution (each prompt's favourite correct answer blocked)."""
    task = _prompt_bank(32 if quick else 256)
    rounds = 5
    k = 2 ** np.arange(0, 7 if quick else 11)
    policies = {
        "base": task.base,
        "RL": iterate(NaturalPG(lr=1.0), task, rounds, record_policy=False).final.policy,
        "SD": iterate(_sd(), task, rounds, record_policy=False).final.policy,
    }
    data = {"k": k}
    for label, p in policies.items():
        data[f"{label}_in"] = pass_at_k(p, task.valid, k, axis=0)
        data[f"{label}_ood"] = pass_at_k(p, task.ood["top_blocked"], k, axis=0)
    colors = {"base": mp.COLORS["base"], "RL": mp.COLORS["rl"], "SD": mp.COLORS["sd"]}
    fig, ax = mp.new_figure(1, 2, width=7.0, height=2.9)
    mp.plot_pass_at_k(k, {lab: data[f"{lab}_in"] for lab in policies}, colors=colors,
                      title="in distribution", ax=ax[0, 0])
    mp.plot_pass_at_k(k, {lab: data[f"{lab}_ood"] for lab in policies}, colors=colors,
                      title="out of distribution (favourite answer blocked)", legend=False,
                      ax=ax[0, 1])
    return FigureResult(data, fig)


# ------------------------------------------------------------------ 4. amplification


@register("amplification", "Amplification exponent of one self-distillation round (slope of "
          "log π' against log π over correct answers; 1 = ratios preserved) over copy "
          "strength α and KL strength β, and over α and the base policy's skew.")
def amplification(*, quick: bool = False) -> FigureResult:
    """:func:`modesim.amplification_exponent` of :func:`modesim.sd_optimum` (MATH §3.4, S4)
    over (α, β) and over (α, Zipf skew), the latter batched over prompts."""
    alpha = np.linspace(0.02, 0.95, 6 if quick else 32)
    beta = np.linspace(0.0, 4.0, 5 if quick else 21)
    skew = np.linspace(0.25, 3.0, 5 if quick else 23)
    task = make_task([0.6, 0.3, 0.1])
    by_beta = np.array([
        [amplification_exponent(task.base, sd_optimum(task, teacher=CopyTeacher(a), beta=b), task.valid)
         for a in alpha]
        for b in beta
    ])
    # One batched task: a prompt per Zipf exponent s (K = 8), all solved at once.
    zipf = make_task(np.stack([zipf_task(8, s).base for s in skew]))
    by_skew = np.stack(
        [amplification_exponent(zipf.base, sd_optimum(zipf, teacher=CopyTeacher(a)), zipf.valid)
         for a in alpha],
        axis=-1,
    )
    data = {"alpha": alpha, "beta": beta, "skew": skew, "by_beta": by_beta, "by_skew": by_skew}
    fig, ax = mp.new_figure(1, 2, width=8.0, height=3.0)
    mp.plot_heatmap(alpha, beta, by_beta, xlabel="copy strength α", ylabel="KL strength β",
                    label="amplification exponent", contours=[1.05, 1.2, 1.5],
                    title="base (0.6, 0.3, 0.1)", ax=ax[0, 0])
    mp.plot_heatmap(alpha, skew, by_skew, xlabel="copy strength α",
                    ylabel="base skew (Zipf s, K = 8)", label="amplification exponent",
                    contours=[1.05, 1.2, 1.5], title="β = 0", ax=ax[0, 1])
    return FigureResult(data, fig)


# ---------------------------------------------------------------------- 5. stability


def _s8_eigenvalue(alpha, K, beta=0.0):
    """MATH §3.5 S8: ``λ = 1 + (1/K)·f_α'(1/K)/(1 + β)``, ``f_α'(p) = log(1+u) − u/(1+u)``,
    ``u = α/((1 − α)p)``."""
    u = np.asarray(alpha) / ((1.0 - np.asarray(alpha)) / K)
    return 1.0 + (np.log1p(u) - u / (1.0 + u)) / K / (1.0 + beta)


def _numeric_eigenvalues(alphas, K, beta=0.0):
    """Eigenvalues of :func:`modesim.map_jacobian` at the uniform point, shape (A, K − 1).

    S8's map uses the current policy as teacher base, demonstration source *and* KL
    reference (MATH §3.5); with the frozen base as reference the uniform point is a
    different map's fixed point (stable for large enough β).
    """
    task = zipf_task(K, 0.0)
    return np.array([
        np.sort(np.linalg.eigvals(map_jacobian(
            _sd(teacher=CopyTeacher(a), beta=beta, reference="current"), task, np.full(K, 1.0 / K)
        )).real)
        for a in alphas
    ])


@register("stability", "Eigenvalue of the compounding self-distillation map at the uniform "
          "point against copy strength α (closed form S8, lines; numerical tangent-space "
          "Jacobian, circles): above 1 for every α, so uniform diversity is unstable.")
def stability(*, quick: bool = False) -> FigureResult:
    """MATH S8's eigenvalue at the uniform point against :func:`modesim.map_jacobian`
    (``data["max_abs_error"]`` is the largest gap over every K, β and α drawn)."""
    alpha = np.linspace(0.01, 0.99, 25 if quick else 99)
    alpha_num = np.array([0.1, 0.5, 0.9]) if quick else np.array([0.1, 0.3, 0.5, 0.7, 0.9])
    Ks = (2, 3, 10) if quick else (2, 3, 5, 10)
    betas = (0.0, 1.0) if quick else (0.0, 0.5, 2.0)
    data = {"alpha": alpha, "alpha_numeric": alpha_num}
    errors = []
    for K in Ks:
        data[f"closed_K{K}"] = _s8_eigenvalue(alpha, K)
        num = _numeric_eigenvalues(alpha_num, K)
        data[f"numeric_K{K}"] = num
        errors.append(np.abs(num - _s8_eigenvalue(alpha_num, K)[:, None]).max())
    for b in betas:
        data[f"closed_beta{b:g}"] = _s8_eigenvalue(alpha, 3, b)
        num = _numeric_eigenvalues(alpha_num, 3, b)
        data[f"numeric_beta{b:g}"] = num
        errors.append(np.abs(num - _s8_eigenvalue(alpha_num, 3, b)[:, None]).max())
    data["max_abs_error"] = np.array(max(errors))
    fig, ax = mp.new_figure(1, 2, width=8.0, height=3.0)
    mp.plot_eigenvalues(
        alpha, {f"K = {K}": data[f"closed_K{K}"] for K in Ks},
        {f"K = {K}": (alpha_num, data[f"numeric_K{K}"].max(axis=1)) for K in Ks},
        title="all modes valid, β = 0 (lines: S8; circles: numeric Jacobian)", ax=ax[0, 0],
    )
    mp.plot_eigenvalues(
        alpha, {f"β = {b:g}": data[f"closed_beta{b:g}"] for b in betas},
        {f"β = {b:g}": (alpha_num, data[f"numeric_beta{b:g}"].max(axis=1)) for b in betas},
        title="K = 3, KL to the current policy", ax=ax[0, 1],
    )
    return FigureResult(data, fig)


# ---------------------------------------------------------------------- 6. ablations


def _effective_modes_over_rounds(rule, task, rounds) -> np.ndarray:
    return iterate(rule, task, rounds, metrics=["effective_modes"], record_policy=False).metrics[
        "effective_modes"
    ]


@register("ablations", "Ablations (effective number of correct answers over rounds): several "
          "demonstrations in context still collapse; uniformly diverse external "
          "demonstrations do not collapse in this model; a KL penalty to the base stops "
          "collapse part-way while a KL to the current policy only slows it; in finite-sample "
          "training a diversity bonus keeps GRPO on all correct answers.")
def ablations(*, quick: bool = False) -> FigureResult:
    """Ablations of MATH §7: demonstrations in context, demonstration source, KL strength
    and reference, and finite-sample GRPO with a diversity bonus against sampled SD."""
    task = _demo_task()
    rounds = 6 if quick else 30
    betas = np.array([0.03, 0.3, 3.0]) if quick else np.geomspace(0.01, 30.0, 15)
    data: dict[str, np.ndarray] = {"rounds": np.arange(rounds + 1), "betas": betas}
    data["RL"] = _effective_modes_over_rounds(NaturalPG(lr=1.0), task, rounds)
    for m in (1, 3, 8):
        data[f"demos_m{m}"] = _effective_modes_over_rounds(
            _sd(teacher=MultiDemoTeacher(_ALPHA, m)), task, rounds)
    data["source_self"] = data["demos_m1"]
    data["source_uniform"] = _effective_modes_over_rounds(_sd(demos=UniformDemos()), task, rounds)
    for ref in ("base", "current"):
        data[f"beta_ref_{ref}"] = np.array([
            _effective_modes_over_rounds(_sd(beta=b, reference=ref), task, rounds)[-1] for b in betas
        ])
    # Finite-sample training (MATH §2.2, §3.1): GRPO with and without a diversity bonus
    # against sampled self-distillation with and without a KL to the base.
    steps, seeds = (40, 16) if quick else (300, 100)
    sampled = {  # data key: (legend label, rule)
        "sampled_grpo": ("GRPO", SampledRL(lr=1.0, seed=0)),
        "sampled_grpo_bonus": ("GRPO + bonus λ = 1", SampledRL(lr=1.0, diversity_bonus=1.0, seed=0)),
        "sampled_sd": ("SD", SampledSD(lr=1.0, seed=0)),
        "sampled_sd_beta1": ("SD, β = 1 to π0", SampledSD(lr=1.0, beta=1.0, seed=0)),
    }
    for key, (_, rule) in sampled.items():
        traj = train(rule, task, steps, n_seeds=seeds, every=5)
        data["steps"] = traj.times
        data[key] = effective_modes(traj.policy, task.valid).mean(axis=1)
    fig, ax = mp.new_figure(1, 4, width=13.0, height=2.9)
    rl = {"RL": data["RL"]}
    colors = {"RL": mp.COLORS["rl"]}
    mp.plot_curves(
        data["rounds"], {**rl, **{f"SD, {m} demo{'s' if m > 1 else ''}": data[f"demos_m{m}"]
                                  for m in (1, 3, 8)}},
        colors={**colors, "SD, 1 demo": mp.COLORS["sd"], "SD, 3 demos": mp.COLORS["sd_multi"],
                "SD, 8 demos": mp.OKABE_ITO["sky_blue"]},
        xlabel="round", ylabel="effective modes exp H(π(·|C))", integer_x=True,
        title="demonstrations in context", ax=ax[0, 0],
    )
    mp.plot_curves(
        data["rounds"], {**rl, "SD, self-generated demos": data["source_self"],
                         "SD, uniform external demos": data["source_uniform"]},
        colors={**colors, "SD, self-generated demos": mp.COLORS["sd"],
                "SD, uniform external demos": mp.COLORS["sd_uniform"]},
        xlabel="round", integer_x=True, title="demonstration source", ax=ax[0, 1],
    )
    mp.plot_curves(
        betas, {"SD, KL to base π0": data["beta_ref_base"],
                "SD, KL to current π_t": data["beta_ref_current"]},
        colors={"SD, KL to base π0": mp.COLORS["sd"], "SD, KL to current π_t": mp.COLORS["sd_multi"]},
        xlabel="KL strength β", title=f"KL strength (after {rounds} rounds)", ax=ax[0, 2],
    )
    ax[0, 2].set_xscale("log")
    ax[0, 2].axhline(data["RL"][-1], color=mp.COLORS["rl"], lw=1.0, ls=":", label="RL")
    ax[0, 2].legend()
    mp.plot_curves(
        data["steps"], {label: data[key] for key, (label, _) in sampled.items()},
        colors={"GRPO": mp.COLORS["grpo"], "GRPO + bonus λ = 1": mp.COLORS["bonus"],
                "SD": mp.COLORS["sd"], "SD, β = 1 to π0": mp.COLORS["sd_multi"]},
        styles={"GRPO": "--", "GRPO + bonus λ = 1": "--"}, legend=False,
        xlabel="step", title=f"finite-sample training (mean of {seeds} seeds)", ax=ax[0, 3],
    )
    ax[0, 3].legend(loc="center right", bbox_to_anchor=(1.0, 0.42))
    for a in ax[0]:
        a.set_ylim(0.9, 3.1)
    return FigureResult(data, fig)


# ------------------------------------------------------------------- 7. path-finding


@register("paths", "Graph path-finding: self-distillation collapses onto one path (distinct "
          "paths and concepts in 16 rollouts fall while RL's rise), token entropy hides the "
          "collapse, and on the harder graph (favourite path blocked) SD's pass@k stays near 0.")
def paths(*, quick: bool = False) -> FigureResult:
    """The path environment (MATH §5) on a layered DAG with a "harder" split, and
    :func:`modesim.scenarios.token_entropy_example` for token entropy against diversity."""
    task = harder(LayeredDAG().build(seed=0))
    rounds = 12 if quick else 20
    k = 16
    metrics = {
        "distinct_paths": lambda p, t: expected_distinct_paths(p, t, k),
        "distinct_concepts": lambda p, t: expected_distinct_concepts(p, t, k, valid_only=True),
    }
    runs = {
        "RL": iterate(PathNaturalPG(lr=1.0), task, rounds, metrics=metrics),
        "SD": iterate(PathSelfDistillation(teacher=PathCopyTeacher(_ALPHA)), task, rounds,
                      metrics=metrics),
    }
    ks = 2 ** np.arange(0, 7 if quick else 11)
    data = {"rounds": runs["RL"].times, "k": ks,
            "base_harder": path_pass_at_k(task.base, task, ks, ood="harder")}
    for label, traj in runs.items():
        data[f"{label}_distinct_paths"] = traj.metrics["distinct_paths"]
        data[f"{label}_distinct_concepts"] = traj.metrics["distinct_concepts"]
        data[f"{label}_in"] = path_pass_at_k(traj.final.policy, task, ks)
        data[f"{label}_harder"] = path_pass_at_k(traj.final.policy, task, ks, ood="harder")
    example = token_entropy_example(rounds=rounds if quick else 30, k=8)
    data["synonym_rounds"] = example.rounds
    for name in ("token_entropy", "distinct_strategies", "distinct_concepts"):
        data[f"synonym_{name}"] = getattr(example, name)
    colors = {"RL": mp.COLORS["rl"], "SD": mp.COLORS["sd"], "base": mp.COLORS["base"]}
    fig, ax = mp.new_figure(1, 4, width=13.0, height=2.9)
    mp.plot_curves(data["rounds"], {lab: data[f"{lab}_distinct_paths"] for lab in runs},
                   colors=colors, xlabel="round", integer_x=True,
                   ylabel=f"distinct valid paths in {k} rollouts",
                   title="paths (layered DAG, 4 valid paths)", ax=ax[0, 0])
    mp.plot_curves(data["rounds"], {lab: data[f"{lab}_distinct_concepts"] for lab in runs},
                   colors=colors, xlabel="round", integer_x=True,
                   ylabel=f"distinct concepts in {k} valid rollouts", title="concepts", ax=ax[0, 1])
    first = {name: data[f"synonym_{name}"] for name in
             ("token_entropy", "distinct_strategies", "distinct_concepts")}
    mp.plot_curves(
        data["synonym_rounds"],
        {"token entropy": first["token_entropy"] / first["token_entropy"][0],
         "distinct strategies (k = 8)": first["distinct_strategies"] / first["distinct_strategies"][0],
         "distinct concepts (k = 8)": first["distinct_concepts"] / first["distinct_concepts"][0]},
        colors={"token entropy": mp.OKABE_ITO["black"],
                "distinct strategies (k = 8)": mp.COLORS["sd"],
                "distinct concepts (k = 8)": mp.OKABE_ITO["orange"]},
        xlabel="SD round", integer_x=True, ylabel="relative to round 0",
        title="token entropy is not diversity (SD)", ax=ax[0, 2],
    )
    ax[0, 2].set_ylim(0, 1.05)
    mp.plot_pass_at_k(ks, {"base": data["base_harder"], "RL": data["RL_harder"],
                           "SD": data["SD_harder"]},
                      colors=colors, title=f"harder graph, after {rounds} rounds", ax=ax[0, 3])
    return FigureResult(data, fig)


# ------------------------------------------------------------ 8. finite-sample training


@register("training", "Finite-sample training (N = 8 rollouts per step) on the running example: "
          "fans of the favourite answer's probability across seeds with the mean-field limit, "
          "effective number of correct answers, and how often each answer fixes, GRPO vs SD.")
def training(*, quick: bool = False) -> FigureResult:
    """:mod:`modesim.sampled`: GRPO against sampled-demo SD across seeds (fans, mean
    field, effective modes, fixation probabilities)."""
    task = _demo_task()
    steps, seeds, every = (150, 24, 10) if quick else (600, 400, 10)
    rules = {"GRPO": SampledRL(lr=1.0, seed=0), "SD": SampledSD(lr=1.0, seed=1)}
    data: dict[str, np.ndarray] = {}
    for label, rule in rules.items():
        traj = train(rule, task, steps, n_seeds=seeds, every=every)
        band = fan(traj, 0)
        data["steps"] = traj.times
        data["levels"] = band.levels
        data[f"{label}_fan_mean"] = band.mean
        data[f"{label}_fan_bands"] = band.bands
        data[f"{label}_runs"] = traj.policy[:, :12, 0].T
        data[f"{label}_mean_field"] = flow(rule, task, traj.times.astype(float)).policy[:, 0]
        data[f"{label}_effective_modes"] = effective_modes(traj.policy, task.valid).mean(axis=1)
        data[f"{label}_fixation"] = fixation_probability(traj.policy[-1], eps=1e-2)
    colors = {"GRPO": mp.COLORS["grpo"], "SD": mp.COLORS["sd"]}
    fig, ax = mp.new_figure(1, 4, width=13.0, height=2.9)
    for j, label in enumerate(rules):
        a = ax[0, j]
        mp.plot_fan(data["steps"], data[f"{label}_fan_mean"], data[f"{label}_fan_bands"],
                    samples=data[f"{label}_runs"], color=colors[label],
                    label="mean, 5–25–75–95 %", ax=a)
        a.plot(data["steps"], data[f"{label}_mean_field"], color="black", lw=0.9, ls="--",
               label="mean field")
        a.set(xlabel="step", ylabel="π(A), the favourite answer", ylim=(-0.02, 1.02),
              title=f"{label}: {seeds} seeds, N = 8, lr = 1")
        a.legend(loc="lower right")
    mp.plot_curves(data["steps"], {lab: data[f"{lab}_effective_modes"] for lab in rules},
                   colors=colors, xlabel="step", ylabel="effective modes exp H(π(·|C))",
                   title="diversity (mean over seeds)", ax=ax[0, 2])
    mp.plot_bars(_MODE_LABELS, {lab: data[f"{lab}_fixation"] for lab in rules}, colors=colors,
                 ylabel="fraction of seeds", title=f"fixed (π > 0.99) after {steps} steps",
                 ax=ax[0, 3])
    ax[0, 3].set_ylim(0, 1)
    return FigureResult(data, fig)


# ---------------------------------------------------------------------- command line


def _figures_command(args) -> int:
    if args.list:
        width = max(len(n) for n in FIGURES)
        for spec in FIGURES.values():
            print(f"{spec.name.ljust(width)}  {spec.description}")
        return 0
    start = time.perf_counter()
    paths = save_figures(args.out, only=args.only, formats=args.format.split(","),
                         quick=args.quick, progress=not args.no_progress)
    print(f"wrote {len(paths)} file(s) to {args.out}/ in {time.perf_counter() - start:.1f} s",
          file=sys.stderr)
    return 0

