"""Panels, panel letters and legends that never sit on the data.

- :func:`panel_figure` lays ``n`` panels out at a printed width: one row at full width,
  two columns at single-column width.
- :func:`panel_letters` writes a bold **a**, **b**, … before each panel's title.
- :func:`place_legends` moves every axes legend to a spot inside its axes that covers no
  data (line, marker, band, bar, streamline, mesh or text), trying the corners first, and
  puts it under the axes when no such spot exists.  :func:`modesim.plot.check_figure`
  tests the same geometry, so a placed legend passes the check.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import numpy as np
from matplotlib.transforms import Bbox, ScaledTranslation

from .. import _checks as chk
from . import _geometry as geo
from ._style import _checked_axes, _checked_figure, figure_width, new_figure

__all__ = ["panel_figure", "panel_letters", "place_legends", "shared_legend", "fit_titles",
           "finish_figure", "LETTER_PATTERN",
           "panel_letter", "SPARE"]

#: Label of a grid cell :func:`panel_figure` left empty (a home for :func:`shared_legend`).
SPARE = "<spare>"

#: A panel's letter as written by :func:`panel_letters`: bold mathtext at the start of the
#: axes' left title.
LETTER_PATTERN = re.compile(r"^\$\\mathbf\{\(?([a-z])\)?\}\$")


def panel_figure(n: int, *, width="double", panel_height: float = 1.9, max_cols: int | None = None,
                 **kw):
    """A figure with ``n`` panels at a printed width; returns ``(fig, [ax, …])``.

    Full width puts up to ``max_cols`` (default 4) panels in a row; single-column width
    puts two per row.  An unused grid cell stays as an empty axes labelled :data:`SPARE`,
    where :func:`shared_legend` puts a legend.  ``**kw`` goes to :func:`new_figure`
    (``sharey=True``, …).

    The layout of the paper figures (theory §2–§5, §7, §8.4, §10 and §11).

    Parameters
    ----------
    n : int >= 1
    width : {"single", "double"} or float
    panel_height : float
        Inches per row of panels.
    max_cols : int, optional

    Returns
    -------
    fig : matplotlib.figure.Figure
    axes : list of Axes, length n

    Raises
    ------
    ValueError
        ``n`` not an integer >= 1, ``width`` not a width, ``max_cols`` not None or an
        integer >= 1, ``panel_height`` not a number > 0, or a total height
        (``panel_height`` × rows) outside [0.5, 20] inches.
    """
    n = chk.integer(n, "n", low=1)
    w = figure_width(width)
    if max_cols is not None:
        max_cols = chk.integer(max_cols, "max_cols", low=1)
    panel_height = chk.real(panel_height, "panel_height", low=0.0, low_open=True, allow_array=False)
    cols = max_cols or (4 if w > 5 else 2)
    cols = min(cols, n)
    rows = -(-n // cols)
    if not 0.5 <= panel_height * rows <= 20.0:
        raise ValueError(f"panel_height × rows must be in [0.5, 20] inches; got {panel_height:g} × {rows} "
                         f"= {panel_height * rows:g}")
    fig, axes = new_figure(rows, cols, width=width, height=panel_height * rows, **kw)
    flat = list(axes.ravel())
    for ax in flat[n:]:
        ax.set_axis_off()
        ax.set_label(SPARE)
    return fig, flat[:n]


def shared_legend(fig, ax=None, *, handles=None, **kw):
    """One legend for several panels, from ``ax``'s labelled artists or from ``handles``.

    It goes into the figure's spare grid cell (:func:`panel_figure`) when there is one,
    else under the panels (``loc="outside lower center"``, one row unless ``ncols`` is
    given).  ``**kw`` goes to :meth:`~matplotlib.figure.Figure.legend` /
    :meth:`~matplotlib.axes.Axes.legend`.

    Used by the multi-panel figures (theory §2–§5, §7, §8.4, §10 and §11).

    Returns
    -------
    matplotlib.legend.Legend

    Raises
    ------
    ValueError
        Naming the argument: ``fig`` not a matplotlib Figure; without ``handles``, ``ax``
        not an Axes or with no labelled artist; ``handles`` not a non-empty sequence of
        artists (with ``get_label``).  matplotlib's errors for bad ``**kw`` propagate.
    """
    fig = _checked_figure(fig)
    if handles is None:
        ax = _checked_axes(ax, "ax", " (whose labelled artists make the legend), or pass handles")
        handles, labels = ax.get_legend_handles_labels()
        if not handles:
            raise ValueError("ax has no labelled artist to put in a legend (label a line, or pass handles)")
    else:
        if isinstance(handles, (str, bytes)) or not isinstance(handles, Iterable):
            raise ValueError(f"handles must be a sequence of artists (lines, patches…); got {chk.describe(handles)}")
        handles = list(handles)
        if not handles:
            raise ValueError("handles must hold at least one artist; got an empty sequence")
        for i, h in enumerate(handles):
            if not callable(getattr(h, "get_label", None)):
                raise ValueError(f"handles[{i}] must be a matplotlib artist (a line, patch…); got {chk.describe(h)}")
        labels = [h.get_label() for h in handles]
    spare = [a for a in fig.axes if a.get_label() == SPARE and not a.get_legend()]
    if spare:
        return spare[0].legend(handles, labels, loc="center", **kw)
    kw.setdefault("ncols", len(labels))
    return fig.legend(handles, labels, loc="outside lower center", **kw)


def panel_letter(i: int) -> str:
    """The ``i``-th panel letter as mathtext: ``$\\mathbf{a}$`` (the multi-panel figures of
    theory §2–§5, §7, §8.4, §10 and §11).

    Raises
    ------
    ValueError
        Naming ``i`` when it is not an integer in [0, 25] (a to z).
    """
    i = chk.integer(i, "i", low=0, high=25)
    return rf"$\mathbf{{{chr(ord('a') + i)}}}$"


def panel_letters(axes, titles=None) -> None:
    """Write a bold letter (a, b, …, in the order of ``axes``) before each panel's title.

    Titles go to the left title slot after the letter, so a long title never collides
    with a centred one; ``titles`` (one per axes, optional) replaces the axes' titles.
    :func:`~modesim.plot.check_figure` requires the letters on every multi-panel figure
    (theory §2–§5, §7, §8.4, §10 and §11).

    Raises
    ------
    ValueError
        Naming the argument: ``axes`` not a sequence (or an array, read row by row) of
        matplotlib Axes (an entry is named ``axes[i]``) or more than 26 panels (letters a to z); ``titles`` not a sequence of
        strings (a single string is refused, not split into letters) with one entry per
        axes.
    """
    if not isinstance(axes, Iterable) or isinstance(axes, (str, bytes)):
        raise ValueError(f"axes must be a sequence of matplotlib Axes; got {chk.describe(axes)}")
    axes = list(axes.ravel()) if isinstance(axes, np.ndarray) else list(axes)  # a grid: row by row
    axes = [_checked_axes(ax, f"axes[{i}]") for i, ax in enumerate(axes)]
    if len(axes) > 26:
        raise ValueError(f"axes must have at most 26 panels (letters a to z); got {len(axes)}")
    if titles is not None:
        if isinstance(titles, (str, bytes)) or not isinstance(titles, Iterable):
            raise ValueError(f"titles must be a sequence of strings, one per axes; got {chk.describe(titles)}")
        titles = list(titles)
        for i, t in enumerate(titles):
            if not isinstance(t, str):
                raise ValueError(f"titles[{i}] must be a string; got {chk.describe(t)}")
        if len(titles) != len(axes):
            raise ValueError(f"titles must have one entry per axes ({len(axes)}); got {len(titles)}")
    for i, ax in enumerate(axes):
        title = titles[i] if titles is not None else (ax.get_title("left") or ax.get_title())
        title = LETTER_PATTERN.sub("", title).strip()
        ax.set_title("")
        ax.set_title(f"{panel_letter(i)}  {title}".rstrip(), loc="left")


def fit_titles(fig, *, slack: float = 0.05, renderer=None) -> list[str]:
    """Wrap panel titles that run past their axes (by more than ``slack`` inches) or off
    the page onto as many lines as they need; returns the titles wrapped.

    Panels at single-column width are narrow; this keeps a title from running into the
    next panel or off the page without hand-writing a title per width (the figures of
    theory §2–§5, §7, §8.4, §10 and §11).

    Returns
    -------
    list of str
        The titles that were wrapped (as they read before wrapping).

    Raises
    ------
    ValueError
        Naming ``slack`` when it is not a finite number >= 0, or ``fig`` when it is not a
        matplotlib Figure.
    """
    fig = _checked_figure(fig)
    slack = chk.real(slack, "slack", low=0.0, allow_array=False)
    if renderer is None:
        renderer, _texts = geo.render(fig)
    broken = []
    lo_page, hi_page = fig.bbox.x0 + 1, fig.bbox.x1 - 1
    for ax in geo.panels(fig):
        lo = max(ax.bbox.x0 - slack * fig.dpi, lo_page)
        hi = min(ax.bbox.x1 + slack * fig.dpi, hi_page)
        # The three title artists (matplotlib keeps them as attributes; set_title would
        # reset their font to the rcParams in force now).
        for title in (ax._left_title, ax.title, ax._right_title):
            text = title.get_text()
            if not text:
                continue

            def fits(title=title, lo=lo, hi=hi):
                box = title.get_window_extent(renderer)
                return box.x0 >= lo and box.x1 <= hi

            if fits():
                continue
            text = " ".join(text.split("\n"))
            m = LETTER_PATTERN.match(text)
            head = text[:m.end()] if m else ""
            # Break only at spaces, never next to "=" ("k = 8" stays on one line).
            words = [w for w in re.split(r"(?<!=) (?!=)", text[len(head):]) if w.strip()]
            lines = [f"{head} {words[0]}".strip() if words else head]
            for word in words[1:]:
                title.set_text("\n".join([*lines[:-1], f"{lines[-1]} {word}"]))
                if fits():
                    lines[-1] = f"{lines[-1]} {word}"
                else:
                    lines.append(word)
            title.set_text("\n".join(lines))
            if not fits():
                title.set_text(text)
                continue
            broken.append(text)
    return broken


def finish_figure(fig, *, rounds: int = 4) -> None:
    """Last touches every modesim figure gets: :func:`fit_titles` and :func:`place_legends`,
    repeated (at most ``rounds`` times) until a draw needs neither (a wrapped title or a
    legend moved under its axes changes the layout).

    :func:`~modesim.figures.register` applies it to every figure (theory §2–§5, §7, §8.4,
    §10 and §11).

    Raises
    ------
    ValueError
        Naming ``rounds`` when it is not an integer >= 1, or ``fig`` when it is not a
        matplotlib Figure.
    """
    fig = _checked_figure(fig)
    rounds = chk.integer(rounds, "rounds", low=1)
    geo.render(fig)  # the first draw settles tick labels; the layout is final from the second
    for _ in range(rounds):
        renderer, _texts = geo.render(fig)
        wrapped = fit_titles(fig, renderer=renderer)
        if wrapped:
            renderer = geo.render(fig)[0]
        if not _place_legends(fig, renderer)[1] and not wrapped:
            break


def _candidates(ax_box: Bbox, w: float, h: float, pad: float):
    """Lower-left corners to try for a ``w × h`` legend inside ``ax_box``: corners first,
    then edge centres, then a 5 × 5 grid."""
    x0, x1 = ax_box.x0 + pad, ax_box.x1 - pad - w
    y0, y1 = ax_box.y0 + pad, ax_box.y1 - pad - h
    if x1 < x0 or y1 < y0:
        return []
    xm, ym = (x0 + x1) / 2, (y0 + y1) / 2
    first = [(x1, y1), (x0, y1), (x1, y0), (x0, y0), (xm, y1), (xm, y0), (x1, ym), (x0, ym)]
    grid = [(x, y) for y in np.linspace(y1, y0, 5) for x in np.linspace(x1, x0, 5)]
    return first + grid


def _put_below(leg, ax, renderer) -> None:
    """Anchor ``leg`` under the axes' tick labels and x label (a fixed distance in inches,
    so it stays there when the layout moves the axes)."""
    leg.set_visible(False)
    tight = ax.get_tightbbox(renderer)
    leg.set_visible(True)
    dpi = ax.figure.dpi
    drop = (ax.bbox.y0 - tight.y0) / dpi + 0.03
    leg.set_loc("upper center")
    leg.set_bbox_to_anchor(
        (0.5, 0.0), transform=ax.transAxes + ScaledTranslation(0.0, -drop, ax.figure.dpi_scale_trans))


def place_legends(fig, *, passes: int = 4, renderer=None) -> list[str]:
    """Move each axes legend of ``fig`` to a spot that covers no data; returns what moved.

    A legend stays where it is when it covers nothing (and is pinned there, so that a
    ``loc="best"`` legend cannot wander on a later draw); otherwise the first free spot
    among the corners, the edge centres and a 5 × 5 grid inside its axes wins; failing
    that it goes under the axes.  Moving a legend outside changes the layout, so the
    search repeats (at most ``passes`` times) until a draw finds every legend clear.
    Figure legends are left alone (place them ``"outside …"``).  ``renderer``: the
    figure's current layout was just drawn with it (twice: the first draw settles tick
    labels, the layout is final from the second), so the first pass needs no new draw.
    Every figure (theory §2–§5, §7, §8.4, §10 and §11) gets it through
    :func:`finish_figure`.

    Returns
    -------
    list of str
        The title (or ``"axes"``) of each axes whose legend moved, once per move.

    Raises
    ------
    ValueError
        Naming ``passes`` when it is not an integer >= 1, or ``fig`` when it is not a
        matplotlib Figure.
    """
    fig = _checked_figure(fig)
    passes = chk.integer(passes, "passes", low=1)
    if renderer is None:
        geo.render(fig)
    moved, relayout = [], True
    for i in range(passes):
        if not relayout:
            break
        if i or renderer is None:
            renderer, _texts = geo.render(fig)
        more, relayout = _place_legends(fig, renderer)
        moved += more
    return moved


def _place_legends(fig, renderer):
    """One pass of :func:`place_legends` on the layout ``renderer`` just drew; returns
    ``(moved, relayout)``: the legends moved, and whether one went under its axes or came
    back (which changes the layout, so the caller draws again and checks again).

    A legend first seen outside its axes and covering nothing stays there (the caller
    put it there); one that a layout change pushed out of its axes is placed again.
    """
    regions = [r for a in fig.axes for r in geo.data_regions(a, renderer)]
    moved, relayout = [], False
    for leg, owner in geo.legends(fig):
        if owner is fig:
            continue
        ax = owner
        box = leg.get_window_extent(renderer)
        inside = (box.x0 >= ax.bbox.x0 - 1 and box.x1 <= ax.bbox.x1 + 1
                  and box.y0 >= ax.bbox.y0 - 1 and box.y1 <= ax.bbox.y1 + 1)
        clear = not geo.covered(box, regions)
        if getattr(leg, "_modesim_outside", None) is None:
            leg._modesim_outside = clear and not inside
        if clear and (inside or leg._modesim_outside):
            if inside:
                _pin(leg, ax, box.x0, box.y0)
            continue
        pad = leg.borderaxespad * leg.prop.get_size_in_points() * fig.dpi / 72.0
        for x, y in _candidates(ax.bbox, box.width, box.height, pad):
            if not geo.covered(Bbox.from_bounds(x, y, box.width, box.height), regions):
                relayout |= not inside  # it leaves the space it held outside the axes
                _pin(leg, ax, x, y)
                leg._modesim_outside = False
                break
        else:
            _put_below(leg, ax, renderer)
            leg._modesim_outside = True
            relayout = True
        moved.append(ax.get_title("left") or ax.get_title() or "axes")
    return moved, relayout


def _pin(leg, ax, x: float, y: float) -> None:
    """Fix ``leg``'s lower-left corner at display point ``(x, y)``, in axes fractions."""
    leg.set_bbox_to_anchor(None)
    leg.set_loc(((x - ax.bbox.x0) / ax.bbox.width, (y - ax.bbox.y0) / ax.bbox.height))
