"""Line plots, heatmaps, fans and bars: modes over rounds, pass@k, eigenvalues, sweeps.

Every function takes data (arrays the caller computed with the library), draws it on
``ax`` (or the current axes) and returns the axes.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from matplotlib.ticker import MaxNLocator

from ._style import COLORS, get_ax


def _label_axes(ax, *, xlabel=None, ylabel=None, title=None, legend=False):
    """Set whichever of the labels, title and legend were asked for; return ``ax``."""
    if xlabel:
        ax.set_xlabel(xlabel)
    if ylabel:
        ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    if legend:
        ax.legend()
    return ax

__all__ = [
    "plot_rounds",
    "plot_curves",
    "plot_pass_at_k",
    "plot_eigenvalues",
    "plot_heatmap",
    "plot_fan",
    "plot_bars",
]


def plot_rounds(rounds, policy, *, labels=None, valid=None, title=None, ax=None):
    """Probability of every mode against the round.

    Parameters
    ----------
    rounds : array_like, shape (T,)
    policy : array_like, shape (T, K)
        E.g. ``Trajectory.policy`` of an unbatched task.
    labels : sequence of str, optional
        One per mode (default "mode 0", "mode 1", …).
    valid : array_like of bool, shape (K,), optional
        Invalid modes are drawn dashed and grey.

    Returns
    -------
    Axes
    """
    ax = get_ax(ax)
    rounds = np.asarray(rounds)
    p = np.asarray(policy, dtype=np.float64)
    if p.ndim != 2 or p.shape[0] != rounds.shape[0]:
        raise ValueError(f"policy must have shape (T, K) with T = {rounds.shape[0]}; got {p.shape}")
    K = p.shape[1]
    labels = [f"mode {i}" for i in range(K)] if labels is None else list(labels)
    ok = np.ones(K, bool) if valid is None else np.asarray(valid, dtype=bool)
    for i in range(K):
        if ok[i]:
            ax.plot(rounds, p[:, i], marker="o", ms=2.5, label=labels[i])
        else:
            ax.plot(rounds, p[:, i], ls="--", color=COLORS["base"], label=f"{labels[i]} (invalid)")
    ax.set_xlabel("round")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel("probability")
    ax.set_ylim(-0.02, 1.02)
    if title:
        ax.set_title(title)
    return ax


def plot_curves(
    x, curves: Mapping[str, np.ndarray], *, colors=None, styles=None, xlabel=None,
    ylabel=None, logx=False, integer_x=False, title=None, legend=True, ax=None,
):
    """One line per entry of ``curves`` against ``x``.

    Parameters
    ----------
    x : array_like, shape (T,)
    curves : mapping of str to array_like of shape (T,)
        Legend label → y values.
    colors, styles : mapping of str to colour / linestyle, optional
        Per label; unlisted labels follow the style's colour cycle and solid lines.
    logx : bool
        Log-2 x axis (k in pass@k).
    integer_x : bool
        Ticks on whole numbers only (rounds).

    Returns
    -------
    Axes
    """
    ax = get_ax(ax)
    x = np.asarray(x)
    for label, y in curves.items():
        kw = {}
        if colors and label in colors:
            kw["color"] = colors[label]
        if styles and label in styles:
            kw["ls"] = styles[label]
        ax.plot(x, np.asarray(y, dtype=np.float64), label=label, **kw)
    if logx:
        ax.set_xscale("log", base=2)
    if integer_x:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    return _label_axes(ax, xlabel=xlabel, ylabel=ylabel, title=title, legend=legend)


def plot_pass_at_k(k, curves: Mapping[str, np.ndarray], *, colors=None, title=None, legend=True, ax=None):
    """pass@k against k (log scale) for each labelled policy.

    Parameters
    ----------
    k : array_like of int, shape (n,)
    curves : mapping of str to array_like of shape (n,)
        Label (e.g. "base", "RL", "SD") → pass@k values, e.g. from :func:`modesim.pass_at_k`.
    colors : mapping of str to colour, optional

    Returns
    -------
    Axes
    """
    ax = plot_curves(
        k, curves, colors=colors, xlabel="k (samples)", ylabel="pass@k", logx=True,
        title=title, legend=legend, ax=ax,
    )
    for line in ax.get_lines():
        line.set_marker("o")
        line.set_markersize(2.5)
    ax.set_ylim(-0.02, 1.02)
    return ax


def plot_eigenvalues(alpha, closed_form: Mapping, numeric: Mapping | None = None, *, title=None, ax=None):
    """Eigenvalue at the uniform point against α: closed-form lines, numeric markers.

    Parameters
    ----------
    alpha : array_like, shape (A,)
    closed_form : mapping label → array of shape (A,)
    numeric : mapping label → (alpha_points, values), optional
        Drawn as hollow markers in the colour of the matching closed-form line.

    Returns
    -------
    Axes
    """
    ax = get_ax(ax)
    numeric = numeric or {}
    for label, lam in closed_form.items():
        (line,) = ax.plot(alpha, lam, label=str(label))
        if label in numeric:
            a, v = numeric[label]
            ax.plot(a, v, "o", color=line.get_color(), mfc="none", ms=5)
    ax.axhline(1.0, color="black", lw=0.8, ls=":")
    ax.set_xlabel("copy strength α")
    ax.set_ylabel("eigenvalue λ at the uniform point")
    if title:
        ax.set_title(title)
    ax.legend()
    return ax


def plot_heatmap(
    x, y, values, *, xlabel=None, ylabel=None, label=None, contours=None, cmap="viridis",
    title=None, colorbar=True, ax=None,
):
    """``values[i, j]`` at ``(x[j], y[i])`` as a heatmap, with optional labelled contours.

    Parameters
    ----------
    x : array_like, shape (nx,)
    y : array_like, shape (ny,)
    values : array_like, shape (ny, nx)
    contours : sequence of float, optional
        Levels drawn as labelled black lines.

    Returns
    -------
    Axes
    """
    ax = get_ax(ax)
    v = np.asarray(values, dtype=np.float64)
    x, y = np.asarray(x), np.asarray(y)
    if v.shape != (y.size, x.size):
        raise ValueError(f"values must have shape (len(y), len(x)) = {(y.size, x.size)}; got {v.shape}")
    mesh = ax.pcolormesh(x, y, v, shading="nearest", cmap=cmap)
    if contours is not None:
        cs = ax.contour(x, y, v, levels=sorted(contours), colors="black", linewidths=0.7)
        ax.clabel(cs, fontsize=7, fmt="%g")
    if colorbar:
        ax.figure.colorbar(mesh, ax=ax, label=label)
    ax.grid(False)
    return _label_axes(ax, xlabel=xlabel, ylabel=ylabel, title=title)


def plot_fan(x, mean, bands=None, *, samples=None, color=None, label=None, ax=None):
    """A trajectory fan across seeds: the mean, nested quantile bands and a few runs.

    Parameters
    ----------
    x : array_like, shape (T,)
    mean : array_like, shape (T,)
    bands : array_like, shape (L, T), optional
        Quantiles at increasing levels (e.g. ``modesim.stochastic.fan(...).bands``); band
        ``i`` is filled between rows ``i`` and ``L − 1 − i``, inner bands darker.
    samples : array_like, shape (S, T), optional
        Individual runs, drawn as thin lines.

    Returns
    -------
    Axes
    """
    ax = get_ax(ax)
    x = np.asarray(x)
    (line,) = ax.plot(x, np.asarray(mean, dtype=np.float64), color=color, label=label, lw=1.8, zorder=3)
    c = line.get_color()
    if bands is not None:
        b = np.asarray(bands, dtype=np.float64)
        if b.ndim != 2 or b.shape[1] != x.shape[0]:
            raise ValueError(f"bands must have shape (L, T) with T = {x.shape[0]}; got {b.shape}")
        for i in range(b.shape[0] // 2):
            ax.fill_between(x, b[i], b[-1 - i], color=c, alpha=0.12 + 0.1 * i, lw=0)
    if samples is not None:
        for row in np.asarray(samples, dtype=np.float64):
            ax.plot(x, row, color=c, lw=0.4, alpha=0.4)
    return ax


def plot_bars(categories, groups: Mapping[str, np.ndarray], *, colors=None, ylabel=None,
              title=None, legend=True, ax=None):
    """Grouped bars: one group per category, one bar per entry of ``groups``.

    Parameters
    ----------
    categories : sequence of str, length n
    groups : mapping of str to array_like of shape (n,)
        Legend label → one value per category (e.g. fixation probability per mode).

    Returns
    -------
    Axes
    """
    ax = get_ax(ax)
    cats = list(categories)
    n = len(groups)
    width = 0.8 / max(n, 1)
    pos = np.arange(len(cats))
    for i, (label, values) in enumerate(groups.items()):
        v = np.asarray(values, dtype=np.float64)
        if v.shape != (len(cats),):
            raise ValueError(f"{label!r} has shape {v.shape}; expected ({len(cats)},), one per category")
        kw = {"color": colors[label]} if colors and label in colors else {}
        ax.bar(pos + (i - (n - 1) / 2) * width, v, width, label=label, **kw)
    ax.set_xticks(pos, cats)
    ax.grid(False, axis="x")
    return _label_axes(ax, ylabel=ylabel, title=title, legend=legend)
