"""Figure ``frontier``: every remedy's pass@1 gained against pass@16 kept, relative to GRPO (theory §11).

Also registers the look of each remedy (family "remedy", dash-dot lines) with
:func:`modesim.plot.register_method`, so every figure and notebook draws a remedy the same way.
"""

from __future__ import annotations

import functools

import numpy as np

from .. import _checks as chk
from .. import plot as mp
from ..plot.methods import REMEDY_COLORS, find_method
from ._registry import FigureResult, register

#: Method looks of the remedies: name → (colour, marker, description).
REMEDY_LOOKS = {
    "forward KL": (REMEDY_COLORS[0], "s", "self-distillation into the teacher mixture (forward KL; theory §11, F1)"),
    "teacher mixture": (REMEDY_COLORS[1], "^", "reverse KL to the mixture of m teachers (theory §11, M1)"),
    "contrastive teacher": (REMEDY_COLORS[2], "D", "a teacher that divides out its own prior (theory §11, C1)"),
    "balanced demos": (REMEDY_COLORS[3], "X", "demonstrations reweighted against the copy bias (theory §11, W1)"),
    "RL-SD blend": (REMEDY_COLORS[4], "h", "mixed advantage λ·A_GRPO + (1 − λ)·A_SD (theory §11, L1)"),
    "sign-gated SD": ("#AA4499", "<", "teacher sets the magnitude, reward the direction (theory §11, H1)"),
    "anti-distillation": ("#661100", ">", "GRPO with a sign-reversed distillation term (theory §11, L1)"),
}


def register_remedy_styles() -> None:
    """Register :data:`REMEDY_LOOKS` with :func:`modesim.plot.register_method` (once; theory §11).

    Raises
    ------
    ValueError
        If a look clashes with a method registered earlier under another name (its colour
        or marker taken); a remedy already registered under its own name is skipped.
    """
    for name, (color, marker, description) in REMEDY_LOOKS.items():
        if find_method(name) is None or find_method(name).name != name:
            mp.register_method(name, family="remedy", color=color, marker=marker, description=description)


register_remedy_styles()

_PANELS = (("prompt_bank", "pass@16", "prompt bank"), ("prompt_bank", "ood pass@16", "prompt bank, dominant blocked"),
           ("graph", "pass@16", "concept graphs"), ("graph", "ood pass@16", "graphs, favourite route blocked"))


#: Markers of different methods closer than this (points) are drawn apart (:func:`_dodge`).
SEPARATION = 4.5


def frontier_data(quick: bool) -> dict[str, np.ndarray]:
    """The numbers behind the figure (both environments; cached per ``quick``; theory §11, the frontier).

    Returns
    -------
    dict of str to read-only ndarray
        Per environment: ``<env>_methods`` (M,), ``<env>_values`` and ``<env>_relative``
        (M, B, 3) over methods, β and :data:`~modesim.scenarios.remedies.FRONTIER_COLUMNS`
        (probabilities; relative ones are differences to GRPO), ``<env>_base`` (3,); and
        ``betas`` (B,), ``columns`` (3,).

    Raises
    ------
    ValueError
        ``quick`` not a boolean.
    """
    return _frontier_data(chk.boolean(quick, "quick"))


@functools.lru_cache(maxsize=2)
def _frontier_data(quick: bool) -> dict[str, np.ndarray]:
    from ..scenarios.remedies import FRONTIER_COLUMNS, remedy_frontier

    data: dict[str, np.ndarray] = {}
    for env in ("prompt_bank", "graph"):
        fr = remedy_frontier(env, quick=quick, progress=False)
        data[f"{env}_methods"] = np.array(fr.methods)
        data["betas"] = np.array(fr.betas)
        data[f"{env}_values"] = np.array([[[fr.values[m][b][c] for c in FRONTIER_COLUMNS] for b in fr.betas]
                                          for m in fr.methods])
        data[f"{env}_relative"] = np.array([[[fr.relative[m][b][c] for c in FRONTIER_COLUMNS] for b in fr.betas]
                                            for m in fr.methods])
        data[f"{env}_base"] = np.array([fr.base[c] for c in FRONTIER_COLUMNS])
    data["columns"] = np.array(FRONTIER_COLUMNS)
    for arr in data.values():
        arr.flags.writeable = False
    return data


def _candidates():
    """Offsets tried for a method that would hide another: none, then rings of radius 1, 1.5, …
    4 × :data:`SEPARATION` points, twelve directions each, from straight up round the clock."""
    yield 0.0, 0.0
    for radius in SEPARATION * np.arange(1.0, 4.01, 0.5):
        for k in range(12):
            angle = np.pi / 2 - 2 * np.pi * k / 12
            yield float(radius * np.cos(angle)), float(radius * np.sin(angle))


def _dodge(fig, ax, artists: dict, points: dict) -> dict:
    """Offsets (in points) that keep every method's markers visible in ``ax``.

    ``points[name]`` holds a method's marker positions (data units), ``artists[name]`` its
    artists.  In drawing order (GRPO first, so it stays at the origin) each method keeps its
    place unless a marker of it would lie within :data:`SEPARATION` points of a marker of a
    method drawn before; then its segment moves as a whole to the first offset of
    :func:`_candidates` clear of them all (or, failing that, the one farthest from them).
    The data are not changed, only where the markers are drawn.  Returns ``{name: (dx, dy)}``.
    """
    from matplotlib.transforms import offset_copy

    fig.draw_without_rendering()                       # the constrained layout: final axes size
    to_pt = 72.0 / fig.dpi
    placed = np.zeros((0, 2))
    offsets = {}
    for name, xy in points.items():
        pos = ax.transData.transform(np.asarray(xy, dtype=float)) * to_pt
        best, best_gap = (0.0, 0.0), -np.inf
        for off in _candidates():
            gap = np.min(np.linalg.norm(pos[:, None, :] + off - placed[None], axis=-1)) if placed.size else np.inf
            if gap >= SEPARATION:
                best = off
                break
            if gap > best_gap:
                best, best_gap = off, gap
        offsets[name] = best
        placed = np.vstack([placed, pos + best])
        if best != (0.0, 0.0):
            for artist in artists[name]:
                artist.set_transform(offset_copy(ax.transData, fig=fig, x=best[0], y=best[1], units="points"))
    return offsets


@register("frontier", "The remedies frontier at practical settings (N = 8, EMA teacher τ = 0.95, β = 0 filled "
          "and 0.04 open): each remedy's pass@1 gained against pass@16 and out-of-distribution pass@16, "
          "all relative to GRPO at the same β, on the prompt bank and on the concept-graph experiment; "
          "a method whose markers would hide another's is drawn a few points away (GRPO stays at the origin).")
def frontier(*, quick: bool, width: str) -> FigureResult:
    """Theory §11: :func:`modesim.scenarios.remedies.remedy_frontier` on both environments.

    (a, b) prompt bank: Δpass@16 and ΔOOD pass@16 (dominant answer blocked) against Δpass@1;
    (c, d) concept graphs: the same with the harder split (favourite route blocked).  Each
    method is a segment from β = 0 (filled marker) to β = 0.04 (open marker); GRPO sits at
    the origin.  Up and to the right is better than GRPO.  Methods whose markers would
    coincide are drawn a few points apart (:func:`_dodge`; the data are unchanged).
    the origin.  Up and to the right is better than GRPO.

    Raises
    ------
    ValueError
        ``quick`` not a boolean or ``width`` not ``"single"``/``"double"`` (checked by the
        registry's wrapper before anything is computed).
    """
    data = dict(frontier_data(quick))
    fig, ax = mp.panel_figure(4, width=width, panel_height=2.3 if width == "double" else 2.0)
    columns = list(data["columns"])
    handles, drawn = {}, []
    for i, (env, col, title) in enumerate(_PANELS):
        rel = data[f"{env}_relative"]
        methods = list(data[f"{env}_methods"])
        x_all, y_all = rel[:, :, 0], rel[:, :, columns.index(col)]
        ax[i].axhline(0.0, **mp.REFERENCE, zorder=0)
        ax[i].axvline(0.0, **mp.REFERENCE, zorder=0)
        artists, points = {}, {}
        for j, name in enumerate(methods):
            style = mp.method_style(name)
            x, y = x_all[j], y_all[j]
            (line,) = ax[i].plot(x, y, **style.line(label=name, markersize=4.5, markevery=[0], lw=1.1), gid=name)
            (hollow,) = ax[i].plot(x[1:], y[1:], linestyle="None", marker=style.marker, markersize=4.5,
                                   color=style.color, markerfacecolor="white", label="_nolegend_", gid=name)
            handles.setdefault(name, line)
            artists[name], points[name] = (line, hollow), np.column_stack([x, y])
        drawn.append((ax[i], artists, points))
        span_x = max(0.05, float(np.max(np.abs(x_all))) * 1.15)
        span_y = max(0.05, float(np.max(np.abs(y_all))) * 1.15)
        ax[i].set_xlim(-span_x, min(span_x, 0.25))
        ax[i].set_ylim(-span_y, span_y)
        ax[i].set_xlabel("Δpass@1 vs GRPO")
        ax[i].set_ylabel(("Δpass@16" if col == "pass@16" else "ΔOOD pass@16") + " vs GRPO")
        ax[i].set_title(title)
    mp.panel_letters(ax)
    mp.shared_legend(fig, handles=list(handles.values()), ncols=4 if width == "double" else 2)
    for axis, artists, points in drawn:
        _dodge(fig, axis, artists, points)
    return FigureResult(data, fig)
