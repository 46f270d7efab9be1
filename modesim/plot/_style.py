"""One style and figure helpers for every modesim figure, built at its printed size.

Nothing here touches matplotlib's global state on import: the style is applied only
inside :func:`style`, and figures made by :func:`new_figure` are plain
:class:`~matplotlib.figure.Figure` objects not registered with pyplot (no backend, no
figure manager, nothing to close).

A figure is built at the size it is printed at, a journal's single column
(:data:`WIDTHS` ``["single"]`` = 3.25 in) or full width (``["double"]`` = 6.75 in), and
saved at exactly that size (no tight cropping): the style's font sizes (7–8 pt) are then
the printed sizes, and :func:`modesim.plot.check_figure` can verify them.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from contextlib import contextmanager
from pathlib import Path
from types import MappingProxyType

import matplotlib.style as mplstyle
from matplotlib.figure import Figure

from .. import _checks as chk

__all__ = ["STYLE_PATH", "WIDTHS", "MIN_FONT_SIZE", "FORMATS", "style", "figure_width",
           "new_figure", "save_figure", "get_ax"]

#: The style sheet shipped with modesim (``modesim/plot/modesim.mplstyle``).
STYLE_PATH = Path(__file__).with_name("modesim.mplstyle")

#: Printed widths in inches: one column of a two-column paper, and the full text width.
WIDTHS = MappingProxyType({"single": 3.25, "double": 6.75})

#: Smallest font size (pt) allowed at the printed size.
MIN_FONT_SIZE = 7.0

#: File formats :func:`save_figure` writes.
FORMATS = ("png", "pdf", "svg")


@contextmanager
def style():
    """Context manager applying the modesim style sheet (rcParams restored on exit).

    Create, draw and save figures inside it::

        with modesim.plot.style():
            ax = modesim.plot.plot_rounds(traj.times, traj.policy)

    Every paper figure is drawn inside it (the figures of theory §2–§5, §7, §8.4, §10 and
    §11).

    Raises
    ------
    ValueError
        Never: it takes no argument (a missing or broken style file would raise
        matplotlib's ``OSError``).
    """
    with mplstyle.context(STYLE_PATH):
        yield


def figure_width(width) -> float:
    """``width`` in inches: ``"single"`` (3.25), ``"double"`` (6.75) or a positive number.

    The printed width every figure is built at (the figures of theory §2–§5, §7, §8.4, §10
    and §11).

    Parameters
    ----------
    width : {"single", "double"} or float in [0.5, 20]
        A name in :data:`WIDTHS` or inches.

    Returns
    -------
    float
        Inches.

    Raises
    ------
    ValueError
        Naming ``width`` and what is allowed (an unknown name, or a number outside
        [0.5, 20] inches).
    """
    if isinstance(width, str):
        return WIDTHS[chk.choice(width, "width", tuple(WIDTHS))]
    return chk.real(width, "width", low=0.5, high=20.0, allow_array=False)


def new_figure(nrows: int = 1, ncols: int = 1, *, width="double", height: float = 2.2, **kw):
    """A stand-alone figure at its printed size and its axes (always a 2-D array).

    Parameters
    ----------
    nrows, ncols : int
    width : "single", "double" or float
        Printed width (:data:`WIDTHS`, or inches).
    height : float
        Inches.
    **kw
        Passed to :meth:`~matplotlib.figure.Figure.subplots` (``sharey=True``, …).

    The figure is not registered with pyplot, so it needs no closing and works under
    any backend; call inside :func:`style` so the style applies to the new artists.
    Every paper figure starts here (the figures of theory §2–§5, §7, §8.4, §10 and §11).

    Returns
    -------
    fig : matplotlib.figure.Figure
        ``width × height`` inches, constrained layout.
    axes : ndarray of Axes, shape (nrows, ncols)

    Raises
    ------
    ValueError
        ``width`` as :func:`figure_width` refuses it, or ``height`` outside [0.5, 20]
        inches; ``nrows`` or ``ncols`` not an integer >= 1.
    """
    nrows = chk.integer(nrows, "nrows", low=1)
    ncols = chk.integer(ncols, "ncols", low=1)
    w = figure_width(width)
    h = chk.real(height, "height", low=0.5, high=20.0, allow_array=False)
    fig = Figure(figsize=(w, h), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False, **kw)
    return fig, axes


def save_figure(fig: Figure, stem, formats: Iterable[str] = ("png",)) -> list[Path]:
    """Save ``fig`` as ``stem.<fmt>`` for each format, at the figure's own size.

    PNG at 200 dpi, vector PDF/SVG.  Metadata that changes between runs (creation dates,
    software versions) is dropped so that rebuilding a figure gives the same bytes.
    ``modesim figures`` writes the figures of theory §2–§5, §7, §8.4, §10 and §11 with it.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
    stem : str or path
        File name without suffix; ``.<fmt>`` is appended (``fig_beta0.04`` gives
        ``fig_beta0.04.png``); missing parent directories are created.
    formats : str or iterable of str
        One of :data:`FORMATS`, or several (case and a leading dot ignored); a single
        string is one format (``"png"``), never its letters.

    Returns
    -------
    list of Path
        The files written, one per format.

    Raises
    ------
    ValueError
        Naming the argument (checked before anything is written): ``fig`` not a matplotlib
        Figure, ``stem`` not a non-empty string or path, ``formats`` naming no format or
        one that is not in :data:`FORMATS`.  File-system errors are ``OSError``.
    """
    fig = _checked_figure(fig)
    if not isinstance(stem, (str, os.PathLike)) or not str(stem).strip():
        raise ValueError(f"stem must be a file name without suffix (a non-empty string or path); "
                         f"got {chk.describe(stem)}")
    stem = Path(stem)
    if isinstance(formats, (str, bytes)):
        formats = [formats]
    elif not isinstance(formats, Iterable):
        raise ValueError(f"formats must be one of {', '.join(map(repr, FORMATS))} or a sequence of them; "
                         f"got {chk.describe(formats)}")
    fmts = [chk.choice(f.strip().lower().lstrip(".") if isinstance(f, str) else f, "formats", FORMATS)
            for f in formats]
    fmts = list(dict.fromkeys(fmts))                             # each format once
    if not fmts:
        raise ValueError(f"formats must name at least one of {', '.join(map(repr, FORMATS))}; got none")
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = []
    with style():
        for fmt in fmts:
            path = stem.with_name(f"{stem.name}.{fmt}")      # appended: a dot in the stem is kept
            kw = {}
            if fmt == "pdf":
                kw["metadata"] = {"CreationDate": None, "Producer": None, "Creator": None}
            elif fmt == "svg":
                kw["metadata"] = {"Date": None, "Creator": None}
            else:
                kw["metadata"] = {"Software": None}
                kw["pil_kwargs"] = {"optimize": True}  # ~15% smaller, still deterministic
            fig.savefig(path, format=fmt, **kw)
            paths.append(path)
    return paths


def get_ax(ax):
    """``ax`` itself, or the current pyplot axes when ``ax`` is None (matplotlib convention).

    The ``ax=None`` default of every plot function of the figures (theory §2–§5, §7, §8.4,
    §10 and §11).

    Raises
    ------
    ValueError
        Naming ``ax`` when it is neither None nor a matplotlib Axes (an array of axes from
        :func:`new_figure` is refused with a hint to pick one, e.g. ``axes[0, 0]``).
    """
    if ax is not None:
        return _checked_axes(ax, "ax", " (or None for the current axes)")
    import matplotlib.pyplot as plt

    return plt.gca()


def _checked_axes(ax, name: str = "ax", allowed: str = ""):
    """``ax`` if it is a matplotlib :class:`~matplotlib.axes.Axes`, else a ValueError naming
    ``name`` (``allowed``: what else the caller accepts, e.g. " (or None …)")."""
    from matplotlib.axes import Axes

    if not isinstance(ax, Axes):
        hint = ""
        if isinstance(ax, (list, tuple)) or (hasattr(ax, "shape") and hasattr(ax, "ravel")):
            hint = " (new_figure and subplots return an array of axes: pass one of them, e.g. axes[0, 0])"
        raise ValueError(f"{name} must be a matplotlib Axes{allowed}; got {chk.describe(ax)}{hint}")
    return ax


def _checked_figure(fig, name: str = "fig") -> Figure:
    """``fig`` if it is a matplotlib :class:`~matplotlib.figure.Figure`, else a ValueError naming ``name``."""
    if not isinstance(fig, Figure):
        hint = " (pass ax.figure)" if hasattr(fig, "figure") and isinstance(getattr(fig, "figure", None), Figure) else ""
        raise ValueError(f"{name} must be a matplotlib Figure; got {chk.describe(fig)}{hint}")
    return fig
