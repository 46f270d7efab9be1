"""Drawing on the probability triangle of three modes (EGTTools-style phase portraits).

Geometry only: barycentric ↔ Cartesian coordinates and a Cartesian grid in the triangle.
The vector field, trajectories and fixed points are computed by the caller (a figure
builder calls the library); these functions only draw them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._style import get_ax

__all__ = ["VERTICES", "to_xy", "SimplexGrid", "simplex_grid", "plot_portrait"]

#: Cartesian positions of the three vertices: mode 0 bottom left, 1 bottom right, 2 top.
VERTICES = np.array([[0.0, 0.0], [1.0, 0.0], [0.5, np.sqrt(3.0) / 2.0]])

_STABILITY_MARKERS = {
    "stable": dict(marker="o", facecolor="black", edgecolor="black", label="stable"),
    "unstable": dict(marker="o", facecolor="white", edgecolor="black", label="unstable"),
    "neutral": dict(marker="D", facecolor="#999999", edgecolor="black", label="neutral"),
}


def to_xy(p) -> np.ndarray:
    """Barycentric coordinates ``(..., 3)`` (points or displacement vectors) to ``(..., 2)``."""
    return np.asarray(p, dtype=np.float64) @ VERTICES


@dataclass(frozen=True, eq=False)
class SimplexGrid:
    """An evenly spaced Cartesian grid over the triangle.

    Attributes
    ----------
    x, y : ndarray, shapes (n,) and (n,)
        Grid coordinates (what :meth:`matplotlib.axes.Axes.streamplot` needs).
    points : ndarray, shape (n, n, 3)
        Barycentric coordinates of each node ``[row = y, column = x]``; NaN outside.
    inside : ndarray of bool, shape (n, n)
        Nodes strictly inside the triangle (all coordinates ≥ ``margin``).
    """

    x: np.ndarray
    y: np.ndarray
    points: np.ndarray
    inside: np.ndarray


def simplex_grid(n: int = 30, *, margin: float = 1e-3) -> SimplexGrid:
    """A ``n × n`` Cartesian grid on the triangle's bounding box, masked outside.

    Nodes with a barycentric coordinate below ``margin`` count as outside so that a
    field evaluated on ``points[inside]`` never meets an exact zero probability.
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


def _draw_triangle(ax, labels):
    tri = np.vstack([VERTICES, VERTICES[:1]])
    ax.plot(tri[:, 0], tri[:, 1], color="black", lw=0.8, zorder=1)
    offsets = [(-0.03, 0.0, "right"), (0.03, 0.0, "left"), (0.0, 0.05, "center")]
    for (vx, vy), (dx, dy, ha), lab in zip(VERTICES, offsets, labels):
        ax.text(vx + dx, vy + dy, lab, ha=ha, va="center", fontsize=8)
    ax.set_aspect("equal")
    ax.set_xlim(-0.1, 1.1)
    ax.set_ylim(-0.1, VERTICES[2, 1] + 0.09)
    ax.axis("off")


def plot_portrait(
    grid: SimplexGrid,
    velocity,
    *,
    trajectories=None,
    fixed_points=None,
    stability=None,
    labels=("mode 0", "mode 1", "mode 2"),
    note: str | None = None,
    title: str | None = None,
    color: str = "black",
    density: float = 1.0,
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
        Barycentric paths, drawn as lines from a start marker.
    fixed_points : ndarray, shape (m, 3), optional
        Rest points, each marked by ``stability[i]`` ("stable": filled, "unstable":
        hollow, "neutral": grey diamond).
    note : str, optional
        A caption written under the triangle (e.g. "no flow").
    ax : Axes, optional

    Returns
    -------
    Axes
    """
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
            grid.x, grid.y, U, V, color=S, cmap="Greys", density=density,
            linewidth=0.6, arrowsize=0.6, norm=_speed_norm(S), zorder=2,
        )
    for path in trajectories if trajectories is not None else ():
        xy = to_xy(path)
        ax.plot(xy[:, 0], xy[:, 1], color=color, lw=1.2, zorder=3)
        ax.plot(xy[0, 0], xy[0, 1], ".", color=color, ms=4, zorder=3)
    if fixed_points is not None and len(fixed_points):
        xy = to_xy(fixed_points)
        kinds = list(stability) if stability is not None else ["neutral"] * len(xy)
        for kind in ("stable", "unstable", "neutral"):
            sel = [i for i, k in enumerate(kinds) if k == kind]
            if sel:
                ax.scatter(xy[sel, 0], xy[sel, 1], s=28, zorder=4, linewidths=0.9,
                           **_STABILITY_MARKERS[kind])
    if note:
        ax.text(0.5, -0.07, note, ha="center", va="center", fontsize=7, color="#333333")
    if title:
        ax.set_title(title)
    if legend:
        ax.legend(loc="upper left", fontsize=7, handletextpad=0.2, borderaxespad=0.0)
    return ax


def _speed_norm(S):
    from matplotlib.colors import Normalize

    top = float(S.max())
    # Start the grey ramp below zero so the slowest streamlines stay visible.
    return Normalize(vmin=-0.4 * top, vmax=top)
