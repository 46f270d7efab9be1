"""Figure ``paths``: the path-finding environment, RL against SD."""

from __future__ import annotations

import numpy as np

from .. import plot as mp
from ..dynamics import iterate
from ..paths import (
    LayeredDAG,
    PathCopyTeacher,
    PathNaturalPG,
    PathSelfDistillation,
    count_paths,
    expected_distinct_concepts,
    expected_distinct_paths,
    harder,
    path_pass_at_k,
)
from ..scenarios import token_entropy_example
from ._common import ALPHA
from ._registry import FigureResult, register


@register("paths", "Graph path-finding: self-distillation collapses onto one path (distinct "
          "paths and distinct concepts, i.e. graph nodes visited, in 16 valid rollouts fall "
          "while RL's rise), token entropy hides the collapse, and on the harder graph "
          "(favourite path blocked) SD's pass@k stays near 0.")
def paths(*, quick: bool, width: str) -> FigureResult:
    """The path environment (theory §5) on a layered DAG with a "harder" split, and
    :func:`modesim.scenarios.token_entropy_example` for token entropy against diversity.
    A *concept* is a node of the graph (a step of the solution); a rollout visits each
    node at most once.

    Raises
    ------
    ValueError
        ``quick`` not a boolean or ``width`` not ``"single"``/``"double"`` (checked by the
        registry's wrapper before anything is computed).
    """
    task = harder(LayeredDAG().build(seed=0))
    rounds = 12 if quick else 20
    k = 16
    metrics = {
        "distinct_paths": lambda p, t: expected_distinct_paths(p, t, k),
        "distinct_concepts": lambda p, t: expected_distinct_concepts(p, t, k, valid_only=True),
    }
    runs = {
        "RL": iterate(PathNaturalPG(lr=1.0), task, rounds, metrics=metrics),
        "SD": iterate(PathSelfDistillation(teacher=PathCopyTeacher(ALPHA)), task, rounds,
                      metrics=metrics),
    }
    ks = 2 ** np.arange(0, 7 if quick else 11)
    data = {"rounds": runs["RL"].times, "k": ks, "n_valid_paths": np.array(count_paths(task.graph)),
            "n_nodes": np.array(task.graph.n_nodes),
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

    fig, ax = mp.panel_figure(4, width=width, panel_height=2.0)
    mp.plot_curves(data["rounds"], {lab: data[f"{lab}_distinct_paths"] for lab in runs},
                   xlabel="round", integer_x=True, legend=False,
                   ylabel="distinct valid paths", ax=ax[0])
    ax[0].set_ylim(0, int(data["n_valid_paths"]) + 0.2)
    mp.plot_curves(data["rounds"], {lab: data[f"{lab}_distinct_concepts"] for lab in runs},
                   xlabel="round", integer_x=True,
                   ylabel="distinct concepts (nodes)", ax=ax[1])
    ax[1].set_ylim(0, None)
    first = {name: data[f"synonym_{name}"] / data[f"synonym_{name}"][0] for name in
             ("token_entropy", "distinct_strategies", "distinct_concepts")}
    looks = mp.method_style("SD").variants(3)
    mp.plot_curves(
        data["synonym_rounds"],
        {"SD: token entropy": first["token_entropy"],
         "SD: distinct concepts": first["distinct_concepts"],
         "SD: distinct strategies": first["distinct_strategies"]},
        styles={"SD: token entropy": looks[2], "SD: distinct concepts": looks[1],
                "SD: distinct strategies": looks[0]},
        xlabel="SD round", integer_x=True, ylabel="relative to round 0", ax=ax[2],
    )
    ax[2].set_ylim(0, 1.05)
    mp.plot_pass_at_k(ks, {"base": data["base_harder"], "RL": data["RL_harder"],
                           "SD": data["SD_harder"]}, ax=ax[3])
    mp.panel_letters(ax, [f"paths ({k} rollouts)", f"concepts ({k} valid)", "synonyms, k = 8", "harder graph"])
    return FigureResult(data, fig)
