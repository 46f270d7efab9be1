"""Figure ``phase_portraits``: one round's flow on the triangle of three correct answers."""

from __future__ import annotations

import numpy as np

from .. import plot as mp
from ..dynamics import iterate
from ..metrics import conditional
from ..rl import NaturalPG, SoftmaxPG
from ..stability import fixed_points
from ..task import Task, make_task
from ..teachers import TiltTeacher
from ._common import sd
from ._registry import FigureResult, register

#: Starting points (π(·|C)) of the trajectories drawn in every portrait.
STARTS = np.array([
    [0.36, 0.33, 0.31], [0.31, 0.36, 0.33], [0.33, 0.31, 0.36],
    [0.5, 0.3, 0.2], [0.2, 0.5, 0.3], [0.3, 0.2, 0.5],
    [0.8, 0.1, 0.1], [0.1, 0.8, 0.1], [0.1, 0.1, 0.8],
])


def _slice_task(points: np.ndarray, invalid_mass: float) -> Task:
    """One prompt per point ``q`` of the triangle: π0 = ((1 − m)·q, m), mode 4 invalid
    (``m = 0``: three modes, all valid)."""
    if invalid_mass == 0.0:
        return make_task(points)
    base = np.concatenate([(1 - invalid_mass) * points,
                           np.full(points.shape[:-1] + (1,), invalid_mass)], -1)
    return make_task(base, [1, 1, 1, 0])


def _portrait(rule, grid, *, invalid_mass: float, rounds: int, fixed: bool) -> dict:
    """Field, speed, trajectories and fixed points of one rule, in π(·|C) coordinates.

    The field is the displacement of one round, ``q' − q``, evaluated (batched) at every
    node of ``grid`` with invalid mass ``invalid_mass``; ``speed`` is its length in the
    plane of the triangle (side 1).  With ``fixed``, rest points come from
    :func:`modesim.fixed_points` on the three-mode, all-valid task (RL's rest points fill
    the whole valid face, so its panels skip them).
    """
    pts = grid.points[grid.inside]
    grid_task = _slice_task(pts, invalid_mass)
    step = iterate(rule, grid_task, 1)
    velocity = np.full(grid.points.shape, np.nan)
    velocity[grid.inside] = conditional(step.policy[-1], grid_task.valid)[..., :3] - pts
    xy = mp.to_xy(np.nan_to_num(velocity), displacement=True)
    speed = np.where(grid.inside, np.hypot(xy[..., 0], xy[..., 1]), np.nan)
    traj_task = _slice_task(STARTS, invalid_mass)
    traj = iterate(rule, traj_task, rounds)
    paths = conditional(traj.policy, traj_task.valid)[..., :3].transpose(1, 0, 2)
    out = {"grid_points": grid.points, "velocity": velocity, "speed": speed, "trajectories": paths}
    if fixed:
        fps = fixed_points(rule, make_task([1 / 3, 1 / 3, 1 / 3]))
        out["fixed_points"] = np.array([fp.policy for fp in fps])
        out["stability"] = np.array([fp.stability for fp in fps])
    return out


@register("phase_portraits", "Flow of one round on the triangle of three correct answers, all "
          "panels on one speed scale, trajectories run 1000 rounds with rounds 10, 100, 1000 marked: "
          "natural-PG RL never moves π(·|C), softmax PG drifts slowly toward the favourite, self-distillation with a "
          "copying teacher flows to a vertex and an anti-copying teacher to the centre.")
def phase_portraits(*, quick: bool, width: str) -> FigureResult:
    """One-round flows on π(·|C) for natural PG (R3), softmax PG (R4) and SD with a copying
    (S6) or anti-copying (S5) teacher, with :func:`modesim.fixed_points` marked by
    stability.  Streamlines share one logarithmic speed scale (distance moved per round)
    and every trajectory runs the same number of rounds (1000) with rounds 10, 100 and
    1000 marked, so softmax PG's drift (its speed dies with the wrong mass, R4) reads as
    slow next to SD's collapse (theory §2.2, §3.4–§3.5; rest points and stability: §6).

    Raises
    ------
    ValueError
        ``quick`` not a boolean or ``width`` not ``"single"``/``"double"`` (checked by the
        registry's wrapper before anything is computed).
    """
    grid = mp.simplex_grid(12 if quick else 28)
    m = 0.5
    rounds = 100 if quick else 1000
    marks = tuple(t for t in (10, 100, 1000) if t <= rounds)
    panels = {
        "npg": (NaturalPG(lr=1.0), m, False),
        "softmax_pg": (SoftmaxPG(lr=1.0), m, False),
        "sd_copy": (sd(), 0.0, True),
        "sd_anti": (sd(teacher=TiltTeacher(kappa=-1.0)), 0.0, True),
    }
    data = {"rounds": np.array(rounds)}
    for key, (rule, mass, fixed) in panels.items():
        for k, v in _portrait(rule, grid, invalid_mass=mass, rounds=rounds, fixed=fixed).items():
            data[f"{key}_{k}"] = v
    moving = np.concatenate([data[f"{k}_speed"][grid.inside] for k in ("softmax_pg", "sd_copy", "sd_anti")])
    moving = moving[moving > 0]
    data["speed_range"] = np.array([moving.min(), moving.max()])
    from matplotlib.colors import LogNorm

    lo, hi = data["speed_range"]
    norm = LogNorm(vmin=10 ** np.floor(np.log10(lo)), vmax=10 ** np.ceil(np.log10(hi)))
    fig, ax = mp.panel_figure(4, width=width, panel_height=1.75)
    common = {"speed_norm": norm, "cmap": "Greys", "marks": marks}
    rl, soft, sdl = (mp.method_style(n).color for n in ("RL", "softmax PG", "SD"))
    # RL's rest points fill the whole valid face (a neutral continuum), so its panel
    # carries a note instead of markers.
    mp.plot_portrait(grid, data["npg_velocity"], trajectories=data["npg_trajectories"], color=rl,
                     note="never moves (R3)", ax=ax[0], **common)
    mp.plot_portrait(grid, data["softmax_pg_velocity"], trajectories=data["softmax_pg_trajectories"],
                     color=soft, note=f"field at π(y₄) = {m}", ax=ax[1], **common)
    for j, key in ((2, "sd_copy"), (3, "sd_anti")):
        mp.plot_portrait(grid, data[f"{key}_velocity"], trajectories=data[f"{key}_trajectories"],
                         fixed_points=data[f"{key}_fixed_points"], stability=data[f"{key}_stability"],
                         color=sdl, ax=ax[j], **common)
    from matplotlib.cm import ScalarMappable

    bar = fig.colorbar(ScalarMappable(norm, "Greys"), ax=ax, shrink=0.8, aspect=25, pad=0.01)
    bar.set_label("distance moved\nin one round")
    mp.shared_legend(fig, handles=mp.stability_handles() + mp.mark_handles(marks),
                     ncols=6 if width == "double" else 3)
    mp.panel_letters(ax, ["RL: natural PG", "RL: softmax PG", "SD: copy teacher", "SD: anti-copy"])
    return FigureResult(data, fig)
