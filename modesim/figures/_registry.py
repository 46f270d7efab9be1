"""The figure registry: :func:`register`, :func:`build_figure`, :func:`save_figures`.

A figure module registers a builder ``fn(*, quick, width) -> FigureResult`` with
:func:`register`; the registry runs it inside :func:`modesim.plot.style`, moves legends
off the data (:func:`modesim.plot.place_legends`) and hands back the result.  Every
registered figure is checked by the same test (``tests/figures/test_registry.py``) with
:func:`modesim.plot.check_figure`, so a figure added later by another module follows the
same rules without anyone writing a test for them.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from .. import _checks as chk
from .. import plot as mp
from .._progress import progress_bar

__all__ = ["FigureResult", "FigureSpec", "FIGURES", "WIDTH_NAMES", "register", "build_figure",
           "save_figures"]

#: The widths a figure can be built at (:data:`modesim.plot.WIDTHS`).
WIDTH_NAMES = tuple(mp.WIDTHS)


@dataclass(frozen=True, eq=False)
class FigureResult:
    """What a builder returns: the data and the figure (theory §2–§5, §7, §8.4, §10 and §11).

    Attributes
    ----------
    data : dict of str to ndarray
        The numbers drawn in the figure (and a few derived ones the tests check).
    figure : matplotlib.figure.Figure
        A stand-alone figure at its printed size (not registered with pyplot; nothing to close).

    Raises
    ------
    ValueError
        Never: a plain record built by a figure builder (not validated).
    """

    data: dict[str, np.ndarray]
    figure: Figure


@dataclass(frozen=True)
class FigureSpec:
    """A registered figure: file name, one-sentence description, builder and natural width.

    ``width`` is the printed width the figure is designed for ("single": 3.25 in, one
    column; "double": 6.75 in, the full text width); every builder also lays itself out
    at the other width when asked (``modesim figures --width``).  One entry per figure of
    theory §2–§5, §7, §8.4, §10 and §11 (:data:`FIGURES`).

    Raises
    ------
    ValueError
        Never: entries are made by :func:`register`, which validates name and width.
    """

    name: str
    description: str
    builder: Callable[..., FigureResult]
    width: str = "double"


#: Registered figures by name, in registration order (the order of ``modesim figures``).
FIGURES: dict[str, FigureSpec] = {}


def register(name: str, description: str, *, width: str = "double"):
    """Register ``fn(*, quick: bool, width: str) -> FigureResult`` as figure ``name``.

    Parameters
    ----------
    name : str
        File name (``figures/<name>.png``) and the name ``modesim figures --only`` takes.
    description : str
        One sentence saying what the figure shows (``modesim figures --list``).
    width : {"single", "double"}
        The natural printed width; the builder receives the width to lay out for.

    The registered builder runs inside :func:`modesim.plot.style`, so the figure has the
    modesim look however it is called, and gets :func:`modesim.plot.finish_figure` (titles
    fitted to their panels, legends moved off the data).  Every figure of theory §2–§5, §7,
    §8.4, §10 and §11 is registered this way.

    Returns
    -------
    callable
        A decorator; the decorated builder is called as ``builder(quick=False, width=None)``
        and refuses a ``quick`` that is not a boolean or an unknown ``width`` with a
        ``ValueError``.

    Raises
    ------
    ValueError
        ``width`` not ``"single"``/``"double"``, ``name`` not an identifier, or a figure of
        that name already registered.
    """
    chk.choice(width, "width", WIDTH_NAMES)
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"name must be an identifier (it names a file); got {chk.describe(name)}")
    if name in FIGURES:
        raise ValueError(f"a figure named {name!r} is already registered")

    def deco(fn):
        @functools.wraps(fn)
        def styled(*, quick: bool = False, width: str | None = None) -> FigureResult:
            quick = chk.boolean(quick, "quick")
            w = FIGURES[name].width if width is None else chk.choice(width, "width", WIDTH_NAMES)
            with mp.style():
                result = fn(quick=quick, width=w)
                mp.finish_figure(result.figure)
            return result

        FIGURES[name] = FigureSpec(name, description, styled, width)
        return styled

    return deco


def _known(names, what: str) -> list[str]:
    names = [names] if isinstance(names, str) else list(names)
    unknown = [n for n in names if n not in FIGURES]
    if unknown:
        raise ValueError(f"{what}: unknown figure(s) {', '.join(map(repr, unknown))}; "
                         f"registered figures: {', '.join(FIGURES)}")
    return names


def build_figure(name: str, *, quick: bool = False, width: str | None = None) -> FigureResult:
    """Build the registered figure ``name`` (a figure of theory §2–§5, §7, §8.4, §10 and §11).

    Parameters
    ----------
    name : str
        A key of :data:`FIGURES`.
    quick : bool
        Small, fast version with the same content (what the tests build).
    width : {"single", "double"}, optional
        Printed width to lay out for (default: the figure's natural width).

    Returns
    -------
    FigureResult

    Raises
    ------
    ValueError
        For an unknown name, or a bad ``quick`` or ``width``; errors of the builder itself
        propagate.
    """
    (name,) = _known([name], "name")
    return FIGURES[name].builder(quick=quick, width=width)


def save_figures(
    out="figures",
    *,
    only: Iterable[str] | None = None,
    formats: Iterable[str] = ("png",),
    quick: bool = False,
    width: str | None = None,
    progress: bool = True,
) -> list[Path]:
    """Build figures and write ``out/<name>.<format>``; returns the written paths.

    ``modesim figures`` calls it to regenerate the figures of theory §2–§5, §7, §8.4, §10
    and §11.

    Parameters
    ----------
    out : path
        Output directory (created if missing).
    only : iterable of str, optional
        Names of the figures to build (default: all, in registration order).
    formats : iterable of str
        Some of ``"png"`` (200 dpi), ``"pdf"``, ``"svg"``.
    quick : bool
        Small versions (what the tests build).
    width : {"single", "double"}, optional
        Lay every figure out for this printed width (default: each figure's natural one).
    progress : bool
        Show a tqdm progress bar over figures.

    Returns
    -------
    list of Path
        Every file written, figure by figure in the order built, format by format.

    Raises
    ------
    ValueError
        Naming the bad argument (``only``, ``formats``, ``quick``, ``progress``, ``width``),
        before anything is built.  File-system errors are ``OSError``.
    """
    if not isinstance(out, (str, os.PathLike)):
        raise ValueError(f"out must be a directory path (str or pathlib.Path); got {chk.describe(out)}")
    if Path(out).exists() and not Path(out).is_dir():
        raise ValueError(f"out must be a directory; {str(out)!r} is an existing file")
    names = list(FIGURES) if only is None else list(dict.fromkeys(_known(only, "only")))   # each once
    formats = [chk.choice(str(f).strip().lower().lstrip("."), "formats", mp.FORMATS) for f in
               ([formats] if isinstance(formats, str) else formats)]
    if not formats:
        raise ValueError(f"formats must name at least one of {', '.join(mp.FORMATS)}; got none")
    quick = chk.boolean(quick, "quick")
    if width is not None:
        chk.choice(width, "width", WIDTH_NAMES)
    paths: list[Path] = []
    with progress_bar(progress, auto=False, iterable=names, desc="figures", unit="fig", leave=True) as bar:
        for name in bar:
            bar.set_postfix_str(name)
            result = build_figure(name, quick=quick, width=width)
            paths += mp.save_figure(result.figure, Path(out) / name, list(dict.fromkeys(formats)))
    return paths
