"""Drawing on the probability triangle of three modes (EGTTools-style phase portraits).

Geometry only: barycentric ↔ Cartesian coordinates and a Cartesian grid in the triangle.
The vector field, trajectories and fixed points are computed by the caller (a figure
builder calls the library); these functions only draw them.
"""

from __future__ import annotations

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


def to_xy(p) -> np.ndarray:
    """Barycentric coordinates ``(..., 3)`` (points or displacement vectors) to ``(..., 2)``.

    Positions on the triangle of three modes (:data:`VERTICES`), for the phase portraits of
    theory §3.5 and §6.

    Raises
    ------
    ValueError
        From numpy (``matmul``), unchanged, when the last axis is not 3 (the input is not
        checked here).
    """
    return np.asarray(p, dtype=np.float64) @ VERTICES


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

    Raises
    ------
    ValueError
        ``n`` below 2.  ``n`` and ``margin`` are not otherwise checked (a string ``n``
        raises ``TypeError``).
    """
    if n < 2:
        raise ValueError(f"n must be at least 2 grid nodes per side; got {n!r}")
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


def mark_handles(marks, color="#555555"):
    """Legend handles explaining :func:`plot_portrait`'s start dot and round marks (theory §3.5, §6).

    Raises
    ------
    ValueError
        Never: marks beyond the four of :data:`MARK_MARKERS` are dropped silently.
    """
    from matplotlib.lines import Line2D

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
        More than four ``marks``; from numpy, unchanged, a ``velocity`` whose shape is not
        the grid's ``(n, n, 3)``.  A ``stability`` entry other than "stable", "unstable"
        and "neutral" is not refused: its point is not drawn.

    Notes
    -----
    The flows and rest points of theory §3.5 (S6: the uniform point unstable, vertices
    stable) and §6 (stability of rest points); the caller computes them.
    """
    legend = chk.boolean(legend, "legend")
    ax = get_ax(ax)
    _draw_triangle(ax, labels)
    vel = np.where(grid.inside[..., None], np.asarray(velocity, dtype=np.float64), np.nan)
    uv = to_xy(np.nan_to_num(vel))
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
    marks = [int(t) for t in marks]
    if len(marks) > len(MARK_MARKERS):
        raise ValueError(f"marks: at most {len(MARK_MARKERS)} rounds can be marked; got {len(marks)}")
    paths = list(trajectories) if trajectories is not None else []
    for path in paths:
        xy = to_xy(path)
        ax.plot(xy[:, 0], xy[:, 1], color=color, lw=0.9, zorder=3)
    if paths:
        starts = to_xy(np.array([p[0] for p in paths]))
        ax.plot(starts[:, 0], starts[:, 1], ls="none", marker=START_MARKER, color=color, ms=2.2,
                zorder=3.1, label="start")
        for t, marker in zip(marks, MARK_MARKERS):
            pts = to_xy(np.array([p[t] for p in paths if len(p) > t]))
            ax.plot(pts[:, 0], pts[:, 1], ls="none", marker=marker, mfc=color, mec="white",
                    mew=0.4, ms=3.6, zorder=3.2, label=f"round {t}")
    if fixed_points is not None and len(fixed_points):
        xy = to_xy(fixed_points)
        kinds = list(stability) if stability is not None else ["neutral"] * len(xy)
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
