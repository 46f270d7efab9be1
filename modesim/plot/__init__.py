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
        fig, axes = mp.new_figure(width="single", height=2.0)
        mp.plot_rounds(traj.times, traj.policy, ax=axes[0, 0])
        mp.check_figure(fig)                      # readable at 3.25 in?
        mp.save_figure(fig, "sd_rounds", formats=("png", "pdf"))

The pieces:

- **Printed size** (:mod:`._style`): :data:`WIDTHS` (single column 3.25 in, full width
  6.75 in), :func:`new_figure`, :func:`panel_figure`; text is 7–8 pt at that size.
- **One look per method** (:mod:`.methods`): :func:`method_style` ("RL", "SD", "GRPO",
  "base", "ideal RL", …) gives colour, family line style and marker;
  :func:`register_method` adds one (remedies); :meth:`MethodStyle.variants` shades a
  sweep; :func:`mode_styles` colours modes ``y₁ … y_K`` for any ``K``.
- **Layout** (:mod:`.layout`): :func:`panel_letters`, :func:`place_legends` (legends
  off the data).
- **The checker** (:mod:`.check`): :func:`figure_problems`, :func:`check_figure`.
- **Plots** (:mod:`.lines`, :mod:`.ternary`).
"""

from ._style import (
    FORMATS,
    MIN_FONT_SIZE,
    STYLE_PATH,
    WIDTHS,
    figure_width,
    get_ax,
    new_figure,
    save_figure,
    style,
)
from .check import check_figure, figure_problems
from .layout import (
    SPARE,
    finish_figure,
    fit_titles,
    panel_figure,
    panel_letters,
    place_legends,
    shared_legend,
)
from .lines import (
    mode_labels,
    plot_bars,
    plot_curves,
    plot_eigenvalues,
    plot_fan,
    plot_heatmap,
    plot_pass_at_k,
    plot_rounds,
    round_ticks,
)
from .methods import (
    COLORS,
    FAMILY_LINESTYLES,
    INVALID_MODE,
    METHODS,
    OKABE_ITO,
    REFERENCE,
    REMEDY_COLORS,
    MethodStyle,
    find_method,
    method_style,
    mode_styles,
    register_method,
)
from .ternary import (
    MARK_MARKERS,
    VERTICES,
    SimplexGrid,
    mark_handles,
    plot_portrait,
    simplex_grid,
    stability_handles,
    to_xy,
)

__all__ = [
    "COLORS",
    "FAMILY_LINESTYLES",
    "FORMATS",
    "INVALID_MODE",
    "MARK_MARKERS",
    "METHODS",
    "MIN_FONT_SIZE",
    "MethodStyle",
    "OKABE_ITO",
    "REFERENCE",
    "REMEDY_COLORS",
    "SPARE",
    "STYLE_PATH",
    "SimplexGrid",
    "VERTICES",
    "WIDTHS",
    "check_figure",
    "figure_problems",
    "figure_width",
    "find_method",
    "finish_figure",
    "fit_titles",
    "get_ax",
    "mark_handles",
    "method_style",
    "mode_labels",
    "mode_styles",
    "new_figure",
    "panel_figure",
    "panel_letters",
    "place_legends",
    "plot_bars",
    "plot_curves",
    "plot_eigenvalues",
    "plot_fan",
    "plot_heatmap",
    "plot_pass_at_k",
    "plot_portrait",
    "plot_rounds",
    "register_method",
    "round_ticks",
    "save_figure",
    "shared_legend",
    "simplex_grid",
    "stability_handles",
    "style",
    "to_xy",
]
