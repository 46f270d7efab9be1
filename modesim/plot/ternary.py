"""Drawing on the probability triangle of three modes (EGTTools-style phase portraits).

Geometry only: barycentric ↔ Cartesian coordinates and a Cartesian grid in the triangle.
The vector field, trajectories and fixed points are computed by the caller (a figure
builder calls the library); these functions only draw them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from .. import _checks as chk
from ._style import get_ax

__all__ = ["VERTICES", "MARK_MARKERS", "mark_handles", "stability_handles", "START_MARKER", "to_xy", "SimplexGrid", "simplex_grid",
           "plot_portrait"]

#: Markers of the rounds :func:`plot_portrait` marks on trajectories, in order.
MARK_MARKERS = ("^", "s", "D", "v")
#: Marker of a trajectory's start.
START_MARKER = "o"

#: Cartesian positions of the three vertices: mode 0 bottom left, 1 bottom right, 2 top.
VERTICES = np.array([[0.0, 0.0], [1.0, 0.0], [0.5, np.sqrt(3.0) / 2.0]])

_STABILITY_MARKERS = {
    "stable": dict(marker="o", facecolor="black", edgecolor="black", label="stable"),
    "unstable": dict(marker="o", facecolor="white", edgecolor="black", label="unstable"),
    "neutral": dict(marker="D", facecolor="#999999", edgecolor="black", label="neutral"),
}


def to_xy(p, *, displacement: bool = False) -> np.ndarray:
    """Barycentric coordinates ``(..., 3)`` (points or displacement vectors) to ``(..., 2)``.

    Positions on the triangle of three modes (:data:`VERTICES`), for the phase portraits of
    theory §3.5 and §6.

    Parameters
    ----------
    p : array_like, shape (..., 3)
        Probabilities on three modes (finite, >= 0, summing to 1 within 1e-6), or, with
        ``displacement=True``, finite displacement (velocity) vectors.
    displacement : bool
        ``p`` holds displacements, not points (only its shape and finiteness are checked).

    Raises
    ------
    ValueError
        Naming ``p``: not of shape ``(..., 3)``, not finite, or (points) not probabilities;
        ``displacement`` not a boolean.
    """
    return _xy(p, "p", chk.boolean(displacement, "displacement"))


def _xy(p, name: str, displacement: bool = False, *, ndim: int | None = None) -> np.ndarray:
    """:func:`to_xy` of ``p``, its errors naming ``name``; ``ndim`` fixes the dimension."""
    if displacement:
        arr = chk.numeric_array(p, name, "displacement vectors of shape (..., 3)")
        if arr.ndim == 0 or arr.shape[-1] != 3:
            raise ValueError(f"{name} must have shape (..., 3), 3 modes on the last axis; got {chk.describe(p)}")
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"{name} must be finite; got {chk.describe(p)}")
    else:
        chk.probabilities(p, name, n_modes=3)
        arr = np.asarray(p, dtype=np.float64)  # unrenormalised: drawn exactly as given
    if ndim is not None and arr.ndim != ndim:
        shape = "(T, 3)" if ndim == 2 else "(3,)" if ndim == 1 else f"{ndim} axes"
        raise ValueError(f"{name} must have shape {shape}; got shape {arr.shape}")
    return arr @ VERTICES


@dataclass(frozen=True, eq=False)
class SimplexGrid:
    """An evenly spaced Cartesian grid over the triangle (phase portraits, theory §3.5, §6).

    Attributes
    ----------
    x, y : ndarray, shapes (n,) and (n,)
        Grid coordinates (what :meth:`matplotlib.axes.Axes.streamplot` needs).
    points : ndarray, shape (n, n, 3)
        Barycentric coordinates of each node ``[row = y, column = x]``; NaN outside.
    inside : ndarray of bool, shape (n, n)
        Nodes strictly inside the triangle (all coordinates ≥ ``margin``).

    Raises
    ------
    ValueError
        Never: a plain record built by :func:`simplex_grid` (not validated).
    """

    x: np.ndarray
    y: np.ndarray
    points: np.ndarray
    inside: np.ndarray


def simplex_grid(n: int = 30, *, margin: float = 1e-3) -> SimplexGrid:
    """A ``n × n`` Cartesian grid on the triangle's bounding box, masked outside.

    Nodes with a barycentric coordinate below ``margin`` count as outside so that a
    field evaluated on ``points[inside]`` never meets an exact zero probability.  The
    grid of the phase portraits (theory §3.5, §6).

    Returns
    -------
    SimplexGrid

    Parameters
    ----------
    n : int >= 2
        Grid nodes per side.
    margin : float in [0, 1/3)
        Smallest barycentric coordinate of an inside node (at 1/3 or more nothing is
        inside).

    Raises
    ------
    ValueError
        Naming ``n`` when it is not an integer >= 2, or ``margin`` when it is not a number
        in [0, 1/3).
    """
    n = chk.integer(n, "n", low=2)
    margin = chk.real(margin, "margin", low=0.0, high=1.0 / 3.0, high_open=True, allow_array=False)
    x = np.linspace(0.0, 1.0, n)
    y = np.linspace(0.0, VERTICES[2, 1], n)
    X, Y = np.meshgrid(x, y)
    p2 = Y / VERTICES[2, 1]
    p1 = X - 0.5 * p2
    p0 = 1.0 - p1 - p2
    P = np.stack([p0, p1, p2], axis=-1)
    inside = np.all(P >= margin, axis=-1)
    P = np.where(inside[..., None], P, np.nan)
    return SimplexGrid(x, y, P, inside)


def _marks(marks) -> list[int]:
    """``marks`` as a list of at most four rounds (integers >= 0)."""
    if isinstance(marks, (str, bytes)) or not hasattr(marks, "__iter__"):
        raise ValueError(f"marks must be a sequence of rounds (integers >= 0); got {chk.describe(marks)}")
    out = [chk.integer(t, f"marks[{i}]", low=0) for i, t in enumerate(marks)]
    if len(out) > len(MARK_MARKERS):
        raise ValueError(f"marks: at most {len(MARK_MARKERS)} rounds can be marked (one per marker "
                         f"of MARK_MARKERS); got {len(out)}: {out}")
    return out


def mark_handles(marks, color="#555555"):
    """Legend handles explaining :func:`plot_portrait`'s start dot and round marks (theory §3.5, §6).

    Parameters
    ----------
    marks : sequence of int >= 0
        The rounds :func:`plot_portrait` marks, at most four (one per :data:`MARK_MARKERS`).
    color : colour
        Of the handles' markers (matplotlib checks it when the legend is drawn).

    Raises
    ------
    ValueError
        ``marks`` not a sequence of at most four integers >= 0 (as :func:`plot_portrait`
        refuses them).
    """
    from matplotlib.lines import Line2D

    marks = _marks(marks)
    handles = [Line2D([], [], ls="none", marker=START_MARKER, color=color, ms=2.2, label="start")]
    handles += [Line2D([], [], ls="none", marker=m, mfc=color, mec="white", mew=0.4, ms=3.6,
                       label=f"round {t}") for t, m in zip(marks, MARK_MARKERS)]
    return handles


def stability_handles():
    """Legend handles for the rest-point markers of :func:`plot_portrait` (stability, theory §6).

    Raises
    ------
    ValueError
        Never: it takes no argument.
    """
    from matplotlib.lines import Line2D

    return [Line2D([], [], ls="none", marker=kw["marker"], mfc=kw["facecolor"], mec=kw["edgecolor"],
                   ms=4.0, mew=0.7, label=f"{kind} rest point")
            for kind, kw in _STABILITY_MARKERS.items() if kind != "neutral"]


def _draw_triangle(ax, labels):
    tri = np.vstack([VERTICES, VERTICES[:1]])
    ax.plot(tri[:, 0], tri[:, 1], color="black", lw=0.6, zorder=1)
    offsets = [(-0.04, -0.03, "right"), (0.04, -0.03, "left"), (0.0, 0.08, "center")]
    for (vx, vy), (dx, dy, ha), lab in zip(VERTICES, offsets, labels):
        ax.text(vx + dx, vy + dy, lab, ha=ha, va="center")
    ax.set_aspect("equal")
    ax.set_xlim(-0.14, 1.14)
    ax.set_ylim(-0.27, VERTICES[2, 1] + 0.13)
    ax.axis("off")


def plot_portrait(
    grid: SimplexGrid,
    velocity,
    *,
    trajectories=None,
    fixed_points=None,
    stability=None,
    labels=("y₁", "y₂", "y₃"),
    note: str | None = None,
    title: str | None = None,
    color: str = "black",
    marks=(),
    speed_norm=None,
    cmap: str = "Greys",
    density: float = 0.8,
    legend: bool = False,
    ax=None,
):
    """Phase portrait on the triangle: streamlines, trajectories and fixed points.

    Parameters
    ----------
    grid : SimplexGrid
        From :func:`simplex_grid`.
    velocity : ndarray, shape (n, n, 3)
        Barycentric displacement (or velocity) at ``grid.points``; NaN or ignored
        outside ``grid.inside``.  An all-zero field draws no streamlines.
    trajectories : sequence of arrays of shape (T, 3), optional
        Barycentric paths, one point per round, drawn as lines from a dot at the start.
    marks : sequence of int
        Rounds (indices into each trajectory) marked on every path with the markers of
        :data:`MARK_MARKERS` in order ("round 10", "round 100", …): the time scale.
    fixed_points : ndarray, shape (m, 3), optional
        Rest points, each marked by ``stability[i]`` ("stable": filled, "unstable":
        hollow, "neutral": grey diamond).
    speed_norm : matplotlib.colors.Normalize, optional
        Colour scale of the streamlines' speed (length of the displacement in the
        plane); pass one norm to several portraits so that equal shades mean equal
        speeds.  Default: this field's own range.
    note : str, optional
        A caption written under the triangle (e.g. "no flow").
    ax : Axes, optional

    Returns
    -------
    Axes

    Raises
    ------
    ValueError
        Naming the argument: ``grid`` not a :class:`SimplexGrid`; ``velocity`` not finite
        numbers of the grid's shape ``(n, n, 3)`` inside the triangle; a trajectory not
        of shape ``(T, 3)`` probabilities; ``fixed_points`` not ``(m, 3)`` probabilities;
        ``stability`` not one entry per fixed point, each "stable", "unstable" or
        "neutral" (a single string is one label); ``labels`` not a sequence of 3 names (a
        string is refused, not split into letters); ``marks`` not at most four integers
        >= 0; ``density`` not a positive number; ``legend`` not a boolean; ``ax`` not an
        Axes.

    Notes
    -----
    The flows and rest points of theory §3.5 (S6: the uniform point unstable, vertices
    stable) and §6 (stability of rest points); the caller computes them.
    """
    legend = chk.boolean(legend, "legend")
    chk.one_of_types(grid, "grid", (SimplexGrid,), "a SimplexGrid (from simplex_grid)")
    density = chk.real(density, "density", low=0.0, low_open=True, allow_array=False)
    marks = _marks(marks)
    velocity = chk.numeric_array(velocity, "velocity", "displacements of shape (n, n, 3) on the grid")
    if velocity.shape != grid.points.shape:
        raise ValueError(f"velocity must have the grid's shape {grid.points.shape}; got shape {velocity.shape}")
    if not np.all(np.isfinite(velocity[grid.inside])):
        raise ValueError("velocity must be finite at the grid's inside nodes (grid.inside); "
                         f"got {chk.describe(velocity[grid.inside][~np.isfinite(velocity[grid.inside])][:4])}")
    if trajectories is None:
        paths = []
    elif isinstance(trajectories, (str, bytes)) or not isinstance(trajectories, Iterable):
        raise ValueError(f"trajectories must be a sequence of arrays of shape (T, 3); got {chk.describe(trajectories)}")
    else:
        paths = list(trajectories)
    paths_xy = [_xy(path, f"trajectories[{i}]", ndim=2) for i, path in enumerate(paths)]
    paths = [np.asarray(path, dtype=np.float64) for path in paths]
    fixed_xy, kinds = None, []
    if fixed_points is not None and len(fixed_points):
        fixed_xy = _xy(fixed_points, "fixed_points", ndim=2)
        if stability is None:
            kinds = ["neutral"] * len(fixed_xy)
        elif isinstance(stability, str):
            kinds = [stability]                 # one label (for one fixed point), not its letters
        elif isinstance(stability, Iterable):
            kinds = list(stability)
        else:
            raise ValueError(f"stability must be a sequence of labels ('stable', 'unstable', 'neutral'), "
                             f"one per fixed point; got {chk.describe(stability)}")
        if len(kinds) != len(fixed_xy):
            raise ValueError(f"stability must have one entry per fixed point ({len(fixed_xy)}); got {len(kinds)}")
        for i, kind in enumerate(kinds):
            chk.choice(kind, f"stability[{i}]", tuple(_STABILITY_MARKERS))
    if isinstance(labels, (str, bytes)) or not isinstance(labels, Iterable):
        raise ValueError(f"labels must be a sequence of 3 vertex names (a list of strings); got {chk.describe(labels)}")
    labels = list(labels)
    if len(labels) != 3:
        raise ValueError(f"labels must name the 3 vertices (modes); got {len(labels)} entries")
    ax = get_ax(ax)
    _draw_triangle(ax, labels)
    vel = np.where(grid.inside[..., None], velocity, np.nan)
    uv = _xy(np.nan_to_num(vel), "velocity", displacement=True)
    speed = np.hypot(uv[..., 0], uv[..., 1])
    if np.nanmax(np.where(grid.inside, speed, 0.0)) > 1e-12:
        mask = ~grid.inside
        U = np.ma.array(uv[..., 0], mask=mask)
        V = np.ma.array(uv[..., 1], mask=mask)
        S = np.ma.array(speed, mask=mask)
        ax.streamplot(
            grid.x, grid.y, U, V, color=S, cmap=cmap, density=density,
            linewidth=0.5, arrowsize=0.5, norm=speed_norm or _speed_norm(S), zorder=2,
        )
    for xy in paths_xy:
        ax.plot(xy[:, 0], xy[:, 1], color=color, lw=0.9, zorder=3)
    if paths_xy:
        starts = np.array([p[0] for p in paths]) @ VERTICES
        ax.plot(starts[:, 0], starts[:, 1], ls="none", marker=START_MARKER, color=color, ms=2.2,
                zorder=3.1, label="start")
        for t, marker in zip(marks, MARK_MARKERS):
            pts = (np.array([p[t] for p in paths if len(p) > t]).reshape(-1, 3)) @ VERTICES
            ax.plot(pts[:, 0], pts[:, 1], ls="none", marker=marker, mfc=color, mec="white",
                    mew=0.4, ms=3.6, zorder=3.2, label=f"round {t}")
    if fixed_xy is not None:
        xy = fixed_xy
        for kind in ("stable", "unstable", "neutral"):
            sel = [i for i, k in enumerate(kinds) if k == kind]
            if sel:
                ax.scatter(xy[sel, 0], xy[sel, 1], s=16, zorder=4, linewidths=0.7,
                           **_STABILITY_MARKERS[kind])
    if note:
        ax.text(0.5, -0.21, note, ha="center", va="center", color="#333333")
    if title:
        ax.set_title(title)
    if legend:
        ax.legend(loc="upper left", handletextpad=0.2, borderaxespad=0.0)
    return ax


def _speed_norm(S):
    from matplotlib.colors import Normalize

    top = float(S.max())
    # Start the grey ramp below zero so the slowest streamlines stay visible.
    return Normalize(vmin=-0.4 * top, vmax=top)
