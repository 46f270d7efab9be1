"""Where a figure's data and text lie on the page, in display coordinates.

Shared by the legend placement (:func:`modesim.plot.place_legends`) and the figure
checker (:func:`modesim.plot.check_figure`): both ask "does this box cover any data?"
of the same geometry, so a legend the placement accepts is one the checker accepts.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

import numpy as np
from matplotlib.collections import PathCollection, QuadMesh
from matplotlib.legend import Legend
from matplotlib.lines import Line2D
from matplotlib.path import Path
from matplotlib.transforms import Bbox

__all__ = ["Region", "render", "data_regions", "covered", "panels"]


@dataclass(frozen=True, eq=False)
class Region:
    """One artist's footprint: a polyline, a filled outline, points with a radius, or a box."""

    what: str
    paths: tuple  # display-coordinate Paths
    filled: bool
    points: np.ndarray | None  # (n, 2) marker centres
    radius: float
    clip: Bbox | None


_RENDERERS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def render(fig):
    """Draw ``fig`` once on an Agg renderer at the figure's dpi.

    Returns ``(renderer, texts)`` where ``texts`` lists every text the renderer drew as
    ``(artist, size_pt, string)``: the sizes are those actually rendered, so nothing
    that is drawn escapes a font check.  A figure keeps its renderer between calls (as
    an Agg canvas does), so matplotlib's text-metrics cache serves the later draws.
    """
    from matplotlib.backends.backend_agg import RendererAgg

    w, h = int(np.ceil(fig.bbox.width)), int(np.ceil(fig.bbox.height))
    renderer = _RENDERERS.get(fig)
    if renderer is None or (renderer.width, renderer.height, renderer.dpi) != (w, h, fig.dpi):
        renderer = RendererAgg(w, h, fig.dpi)
        _RENDERERS[fig] = renderer
        renderer.plain_draw_text = renderer.draw_text
    renderer.clear()
    drawn = []
    plain = renderer.plain_draw_text

    def draw_text(gc, x, y, s, prop, angle, ismath=False, mtext=None):
        drawn.append((mtext, float(prop.get_size_in_points()), s))
        return plain(gc, x, y, s, prop, angle, ismath=ismath, mtext=mtext)

    renderer.draw_text = draw_text
    fig.draw(renderer)
    return renderer, drawn


def _clip(artist):
    if not artist.get_clip_on():
        return None
    box = artist.get_clip_box()
    return None if box is None else Bbox(box.get_points())


def _runs(xy: np.ndarray):
    """Finite runs of a polyline (NaN breaks it, as matplotlib draws it)."""
    ok = np.isfinite(xy).all(axis=1)
    if ok.all():
        return [xy]
    edges = np.flatnonzero(np.diff(np.r_[0, ok.astype(np.int8), 0]))
    return [xy[a:b] for a, b in zip(edges[::2], edges[1::2])]


def _line_region(line: Line2D, dpi: float) -> Region:
    xy = line.get_transform().transform(np.asarray(line.get_xydata(), dtype=np.float64))
    drawn_line = line.get_linestyle() not in ("None", "none", "", " ") and line.get_linewidth() > 0
    paths = tuple(Path(run) for run in _runs(xy) if len(run) > 1) if drawn_line else ()
    marker = line.get_marker()
    has_marker = marker not in (None, "None", "none", "", " ")
    pts = xy[np.isfinite(xy).all(axis=1)]
    if not drawn_line:
        pts = pts if has_marker else pts[:0]
    radius = 0.5 * line.get_markersize() * dpi / 72.0 if has_marker else 0.0
    return Region(f"line {line.get_label()!r}", paths, False, pts, radius, _clip(line))


def _box_region(what: str, box: Bbox, clip) -> Region:
    return Region(what, (Path(box.corners()[[0, 1, 3, 2, 0]]),), True, None, 0.0, clip)


def data_regions(ax, renderer) -> list[Region]:
    """Footprints of everything ``ax`` shows as data: lines, collections (scatter, bands,
    streamlines, contours, meshes), patches (bars, arrows), images and text annotations."""
    dpi = ax.figure.dpi
    out: list[Region] = []
    for line in ax.lines:
        if line.get_visible() and line.get_alpha() != 0:
            out.append(_line_region(line, dpi))
    for coll in ax.collections:
        if not coll.get_visible():
            continue
        name = f"{type(coll).__name__} {coll.get_label()!r}"
        if isinstance(coll, PathCollection):
            offsets = np.asarray(coll.get_offsets(), dtype=np.float64)
            pts = coll.get_offset_transform().transform(offsets) if len(offsets) else offsets
            sizes = coll.get_sizes()
            radius = 0.5 * np.sqrt(sizes.max()) * dpi / 72.0 if len(sizes) else 0.0
            out.append(Region(name, (), False, pts.reshape(-1, 2), radius, _clip(coll)))
        elif isinstance(coll, QuadMesh):
            out.append(_box_region(name, coll.get_window_extent(renderer), _clip(coll)))
        else:
            face = coll.get_facecolor()
            filled = len(face) > 0 and bool(np.any(np.asarray(face)[:, 3] > 0))
            tr = coll.get_transform()
            paths = tuple(tr.transform_path(p) for p in coll.get_paths() if len(p.vertices))
            out.append(Region(name, paths, filled, None, 0.0, _clip(coll)))
    for patch in ax.patches:
        if patch.get_visible():
            out.append(_box_region(f"{type(patch).__name__}", patch.get_window_extent(renderer),
                                   _clip(patch)))
    for image in ax.images:
        if image.get_visible():
            out.append(_box_region("image", image.get_window_extent(renderer), _clip(image)))
    for text in ax.texts:
        if text.get_visible() and text.get_text().strip():
            out.append(_box_region(f"text {text.get_text()!r}", text.get_window_extent(renderer),
                                   None))
    return out


def covered(box: Bbox, regions: list[Region], *, slack: float = 1.0) -> list[str]:
    """The regions (by name) that ``box``, shrunk by ``slack`` pixels, touches."""
    inner = Bbox.from_extents(box.x0 + slack, box.y0 + slack, box.x1 - slack, box.y1 - slack)
    if inner.width <= 0 or inner.height <= 0:
        return []
    hits = []
    for reg in regions:
        b = inner if reg.clip is None else Bbox.intersection(inner, reg.clip)
        if b is None or b.width <= 0 or b.height <= 0:
            continue
        hit = any(p.intersects_bbox(b, filled=reg.filled) for p in reg.paths)
        if not hit and reg.points is not None and len(reg.points):
            r = reg.radius
            x, y = reg.points[:, 0], reg.points[:, 1]
            hit = bool(np.any((x >= b.x0 - r) & (x <= b.x1 + r) & (y >= b.y0 - r) & (y <= b.y1 + r)))
        if hit:
            hits.append(reg.what)
    return hits


def legends(fig) -> list[tuple[Legend, object]]:
    """Every visible legend of ``fig`` with its owner (an Axes, or the figure)."""
    out = [(ax.get_legend(), ax) for ax in fig.axes if ax.get_legend() is not None]
    out += [(leg, fig) for leg in fig.legends]
    return [(leg, owner) for leg, owner in out if leg.get_visible()]


def panels(fig) -> list:
    """The figure's panels: visible axes that are not colour bars, in reading order."""
    axes = [ax for ax in fig.axes
            if ax.get_visible() and ax.get_label() not in ("<colorbar>", "<spare>")]

    def reading_order(ax):
        spec = ax.get_subplotspec()
        if spec is not None:
            return (spec.rowspan.start, spec.colspan.start)
        box = ax.get_position()
        return (-round(box.y1, 2), round(box.x0, 2))

    return sorted(axes, key=reading_order)
