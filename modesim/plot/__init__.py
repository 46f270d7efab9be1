"""Plotting for modesim: functions that take data and an optional ``ax``, return the ``Axes``.

Data flows one way: the library computes (rules, ``iterate``, ``fixed_points``,
metrics), these functions draw.  None of them computes dynamics, finds roots or
classifies stability, and none calls ``plt.show()``.  Importing this package changes no
matplotlib settings; wrap figure code in :func:`style` for the modesim look::

    import modesim as ms
    from modesim import plot as mp

    task = ms.make_task([0.6, 0.3, 0.1])
    traj = ms.iterate(ms.SelfDistillation(), task, rounds=10)
    with mp.style():
        fig, axes = mp.new_figure()
        mp.plot_rounds(traj.times, traj.policy, ax=axes[0, 0])
        mp.save_figure(fig, "sd_rounds", formats=("png", "pdf"))
"""

from ._style import COLORS, OKABE_ITO, STYLE_PATH, get_ax, new_figure, save_figure, style
from .lines import (
    plot_bars,
    plot_curves,
    plot_eigenvalues,
    plot_fan,
    plot_heatmap,
    plot_pass_at_k,
    plot_rounds,
)
from .simplex import VERTICES, SimplexGrid, plot_portrait, simplex_grid, to_xy

__all__ = [
    "COLORS",
    "OKABE_ITO",
    "STYLE_PATH",
    "SimplexGrid",
    "VERTICES",
    "get_ax",
    "new_figure",
    "plot_bars",
    "plot_curves",
    "plot_eigenvalues",
    "plot_fan",
    "plot_heatmap",
    "plot_pass_at_k",
    "plot_portrait",
    "plot_rounds",
    "save_figure",
    "simplex_grid",
    "style",
    "to_xy",
]
