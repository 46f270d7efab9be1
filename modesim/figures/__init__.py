"""The paper figures: one registered builder per figure, and ``modesim figures``.

A builder computes with the library (tasks, rules, :func:`~modesim.iterate`,
:func:`~modesim.fixed_points`, metrics) and then draws with :mod:`modesim.plot`; it
returns a :class:`FigureResult` holding the data behind the figure (a dict of arrays,
which the tests assert on) and the :class:`~matplotlib.figure.Figure`, built at its
printed size (:data:`modesim.plot.WIDTHS`).  Every builder takes ``quick=True`` for a
small, fast version with the same content and ``width="single" | "double"``, and is
deterministic: two builds give identical data and identical files.

Each figure lives in its own module of this package and registers itself with
:func:`register`; every public module here is imported when the package is, so a new
figure needs a new module and nothing else.  Every registered figure must pass
:func:`check_figure` (fonts ≥ 7 pt at the printed size, method colours from
:func:`modesim.plot.method_style`, legends off the data, panel letters), which one
parametrised test enforces.

>>> from modesim.figures import FIGURES, build_figure, check_figure
>>> sorted(FIGURES)[:2]
['ablations', 'amplification']
>>> result = build_figure("stability", quick=True)
>>> float(result.data["max_abs_error"]) < 1e-5
True
>>> check_figure(result.figure)
"""

from __future__ import annotations

import importlib
import pkgutil

from ..plot import check_figure, figure_problems
from ._registry import (
    FIGURES,
    WIDTH_NAMES,
    FigureResult,
    FigureSpec,
    build_figure,
    register,
    save_figures,
)

__all__ = ["FigureResult", "FigureSpec", "FIGURES", "WIDTH_NAMES", "register", "build_figure",
           "save_figures", "check_figure", "figure_problems"]

for _module in sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_")):
    importlib.import_module(f"{__name__}.{_module}")
del _module
