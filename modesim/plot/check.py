"""Is a figure readable at its printed size?  The rules every modesim figure passes.

:func:`figure_problems` draws a figure once and reads its artists (no pixel baselines):

1. **Font size**: every text the renderer draws (tick labels, axis labels, titles,
   legends, colour-bar labels, contour labels, annotations, panel letters) is at least
   :data:`~modesim.plot.MIN_FONT_SIZE` (7 pt) once the figure is printed ``width``
   inches wide.
2. **On the page**: no drawn text sticks out of the figure (figures are saved at their
   size, uncropped), and no two texts overlap (titles, tick labels, labels, legends).
3. **Legends off the data**: no legend's box touches a line (its segments, not only its
   points), marker, band, bar, streamline, mesh or text annotation of any panel.
4. **Method colours**: a line, band, bar or legend entry whose label names a registered
   method (:func:`~modesim.plot.find_method`) has that method's colour (or one of its
   variants' shades) and its family's line style.
5. **Panel letters**: a figure with several panels letters them a, b, c, … in reading
   order (:func:`~modesim.plot.panel_letters`).
6. **Mode names**: no text is a bare "A", "B" or "C" (the valid set is C; modes are
   ``y₁ … y_K``).

>>> from modesim import plot as mp
>>> with mp.style():
...     fig, axes = mp.new_figure(width="single", height=1.8)
...     _ = axes[0, 0].plot([0, 1], [0, 1], **mp.method_style("RL").line())
...     _ = axes[0, 0].legend(loc="upper left")
>>> mp.figure_problems(fig)
[]
"""

from __future__ import annotations

import matplotlib.colors as mcolors
from matplotlib.collections import Collection
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from .. import _checks as chk
from . import _geometry as geo
from ._style import MIN_FONT_SIZE, figure_width
from .layout import LETTER_PATTERN
from .methods import find_method

__all__ = ["figure_problems", "check_figure"]

_CLASHING_NAMES = {"A", "B", "C"}


def _hex(color) -> str:
    return mcolors.to_hex(color).upper()


def _artist_color(artist):
    if isinstance(artist, Line2D):
        return artist.get_color()
    if isinstance(artist, Patch):
        return artist.get_facecolor()
    if isinstance(artist, Collection):
        face = artist.get_facecolor()
        return face[0] if len(face) else (artist.get_edgecolor()[0] if len(artist.get_edgecolor()) else None)
    return None


def _method_problems(label: str, artist, where: str) -> list[str]:
    style = find_method(label)
    if style is None:
        return []
    out = []
    color = _artist_color(artist)
    if color is not None and _hex(color) not in style.colors:
        out.append(f"colour: {where}: {label!r} is drawn in {_hex(color)}, not {style.name}'s {style.color} "
                   f"(or its shades)")
    if isinstance(artist, Line2D) and artist.get_linestyle() not in ("None", style.linestyle):
        out.append(f"colour: {where}: {label!r} has line style {artist.get_linestyle()!r}, not the "
                   f"{style.family} family's {style.linestyle!r}")
    return out


def _panel_name(ax, i: int) -> str:
    title = ax.get_title("left") or ax.get_title()
    return f"panel {i + 1}" + (f" ({title[:40]!r})" if title else "")


def figure_problems(fig, *, width=None, min_font_size: float = MIN_FONT_SIZE) -> list[str]:
    """Everything that makes ``fig`` hard to read in print, as sentences (empty: none).

    Parameters
    ----------
    fig : matplotlib.figure.Figure
    width : "single", "double", float or None
        The printed width (inches, or a name in :data:`~modesim.plot.WIDTHS`); None: the
        figure's own width (it is built at its printed size).  Fonts scale by
        ``width / figure width``.
    min_font_size : float
        Smallest allowed printed font size in points.

    Every registered figure (the figures of theory §2–§5, §7, §8.4, §10 and §11) must return
    an empty list.

    Returns
    -------
    list of str
        One sentence per problem, prefixed by its rule (``"font: …"``, ``"legend: …"``).

    Raises
    ------
    ValueError
        If ``fig`` is not a matplotlib Figure, ``width`` is not a width, or ``min_font_size``
        is not a positive number.
    """
    from matplotlib.figure import Figure

    if not isinstance(fig, Figure):
        raise ValueError(f"fig must be a matplotlib Figure; got {chk.describe(fig)}")
    min_font_size = chk.real(min_font_size, "min_font_size", low=0.0, low_open=True, allow_array=False)
    printed = fig.get_figwidth() if width is None else figure_width(width)
    scale = printed / fig.get_figwidth()
    renderer, texts = geo.render(fig)
    problems: list[str] = []

    page = fig.bbox
    boxes = {}
    for artist, size, s in texts:
        if not s.strip():
            continue
        if size * scale < min_font_size - 1e-9:
            problems.append(f"font: {s!r} is {size * scale:.2f} pt at {printed:g} in "
                            f"(at least {min_font_size:g} pt)")
        if artist is not None:
            box = artist.get_window_extent(renderer)
            boxes[id(artist)] = (artist.get_text(), box)
            if box.x0 < page.x0 - 1 or box.y0 < page.y0 - 1 or box.x1 > page.x1 + 1 or box.y1 > page.y1 + 1:
                problems.append(f"page: {s!r} sticks out of the figure")
        if s.strip() in _CLASHING_NAMES:
            problems.append(f"names: a mode is called {s.strip()!r}, which clashes with the valid "
                            f"set C; call modes y₁ … y_K")

    items = list(boxes.values())
    for i, (s1, b1) in enumerate(items):
        for s2, b2 in items[i + 1:]:
            if (min(b1.x1, b2.x1) - max(b1.x0, b2.x0) > 1.0
                    and min(b1.y1, b2.y1) - max(b1.y0, b2.y0) > 1.0):
                problems.append(f"overlap: {s1!r} and {s2!r} are drawn on top of each other")

    regions = [r for ax in fig.axes for r in geo.data_regions(ax, renderer)]
    for leg, owner in geo.legends(fig):
        where = "figure legend" if owner is fig else f"legend of {_panel_name(owner, fig.axes.index(owner))}"
        hits = geo.covered(leg.get_window_extent(renderer), regions)
        if hits:
            problems.append(f"legend: the {where} covers {', '.join(sorted(set(hits))[:4])}")
        for text, handle in zip(leg.get_texts(), leg.legend_handles):
            if handle is not None:
                problems += _method_problems(text.get_text(), handle, where)

    for i, ax in enumerate(fig.axes):
        for artist in [*ax.lines, *ax.collections, *ax.patches]:
            label = artist.get_label()
            if label and not label.startswith("_"):
                problems += _method_problems(label, artist, _panel_name(ax, i))
        for container in ax.containers:
            label = container.get_label()
            if label and not label.startswith("_") and len(container):
                problems += _method_problems(label, container[0], _panel_name(ax, i))

    panels = geo.panels(fig)
    if len(panels) > 1:
        letters = []
        for ax in panels:
            m = LETTER_PATTERN.match(ax.get_title("left"))
            letters.append(m.group(1) if m else None)
        expected = [chr(ord("a") + i) for i in range(len(panels))]
        if letters != expected:
            problems.append(f"letters: {len(panels)} panels are lettered {letters} in reading order; "
                            f"expected {expected} (modesim.plot.panel_letters)")
    return problems


def check_figure(fig, *, width=None, min_font_size: float = MIN_FONT_SIZE) -> None:
    """Raise if ``fig`` breaks a rule of :func:`figure_problems`; return None if it passes.

    One parametrised test runs it on every registered figure (the figures of theory §2–§5,
    §7, §8.4, §10 and §11).

    Parameters
    ----------
    fig, width, min_font_size
        As :func:`figure_problems`.

    Raises
    ------
    ValueError
        Listing every problem found, or for a ``width`` that is not a width.
    """
    problems = figure_problems(fig, width=width, min_font_size=min_font_size)
    if problems:
        raise ValueError(f"the figure breaks {len(problems)} rule(s):\n  " + "\n  ".join(problems))
