"""Line plots, heatmaps, fans and bars: modes over rounds, pass@k, eigenvalues, sweeps.

Every function takes data (arrays the caller computed with the library), draws it on
``ax`` (or the current axes) and returns the axes.  A curve whose label names a
registered method ("RL", "SD, 3 demos", …) is drawn in that method's style
(:func:`~modesim.plot.method_style`) unless the caller passes another; markers sit on a
few points of each line, staggered between curves so that curves lying on top of each
other stay visible.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
from matplotlib.ticker import MaxNLocator

from .. import _checks as chk
from ._style import _checked_axes, get_ax
from .methods import INVALID_MODE, MethodStyle, find_method, mode_styles

__all__ = [
    "mode_labels",
    "plot_rounds",
    "plot_curves",
    "plot_pass_at_k",
    "plot_eigenvalues",
    "plot_heatmap",
    "plot_fan",
    "plot_bars",
    "round_ticks",
]

_SUBSCRIPT = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")
#: Above this many modes, :func:`plot_rounds` keys the modes with a colour bar, not a legend.
LEGEND_MAX_MODES = 8


def mode_labels(n_modes: int) -> list[str]:
    """``["y₁", "y₂", …, "y_K"]``: the modes' names in every figure (not A, B, C: the valid
    set is C).

    Mode ``i`` of theory §1 (numbered from 0, as in the code) is labelled ``y_{i+1}``.

    Raises
    ------
    ValueError
        Naming ``n_modes`` when it is not an integer >= 1.
    """
    n_modes = chk.integer(n_modes, "n_modes", low=1)
    return [f"y{str(i + 1).translate(_SUBSCRIPT)}" for i in range(n_modes)]


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


def _markevery(n: int, i: int, n_marks: int = 7):
    """Markers on about ``n_marks`` points, shifted for curve ``i`` so coinciding curves
    show each other's markers."""
    step = max(1, int(np.ceil(n / n_marks)))
    return (int((i * max(1, step // 3)) % step), step)


def round_ticks(ax, last) -> None:
    """Whole-number ticks on the x axis that end at ``last`` (rounds or steps), not beyond.

    Time in rounds or steps (theory §3.5, §6: time is measured in rounds).

    Raises
    ------
    ValueError
        Naming ``last`` when it is not a finite number > 0, or ``ax`` when it is not a
        matplotlib Axes.
    """
    ax = _checked_axes(ax)
    last = chk.real(last, "last", low=0.0, low_open=True, allow_array=False)
    ax.xaxis.set_major_locator(MaxNLocator(nbins=5, integer=True, steps=[1, 2, 2.5, 5, 10]))
    ax.set_xlim(-0.03 * last, 1.03 * last)


def plot_rounds(rounds, policy, *, labels=None, valid=None, title=None, key="auto", ax=None):
    """Probability of every mode against the round.

    Valid modes get distinct colours for any ``K`` (:func:`~modesim.plot.mode_styles`,
    dark = first mode) and a marker each; invalid modes are grey and dashed.

    Parameters
    ----------
    rounds : array_like, shape (T,)
    policy : array_like, shape (T, K)
        E.g. ``Trajectory.policy`` of an unbatched task.
    labels : sequence of str, optional
        One per mode (default ``y₁ … y_K``; invalid ones get " (wrong)").
    valid : array_like of bool, shape (K,), optional
    key : {"auto", "legend", "colorbar", None}
        How modes are identified: a legend, a colour bar over the mode index, or nothing
        (e.g. :func:`~modesim.plot.shared_legend` for several panels).  "auto": a legend
        up to 8 modes, else a colour bar.

    Returns
    -------
    Axes

    Raises
    ------
    ValueError
        Naming the argument: ``rounds`` not a non-empty 1-D array of finite numbers,
        ``policy`` not of shape (T, K) with T = ``len(rounds)`` or a row not probabilities
        (finite, >= 0, summing to 1 within 1e-6), ``labels`` not a sequence of K names,
        ``valid`` not a mask of K modes, an unknown ``key``, or ``ax`` not an Axes.

    Notes
    -----
    The figure of R3 against S6 and S7 (theory §2.2, §3.5): ratios kept, mass concentrated.
    """
    rounds = _axis_values(rounds, "rounds")
    p = chk.numeric_array(policy, "policy", "an array of probabilities of shape (T, K)")
    if p.ndim != 2 or p.shape[0] != rounds.shape[0]:
        raise ValueError(f"policy must have shape (T, K) with T = {rounds.shape[0]}; got {p.shape}")
    chk.probabilities(p, "policy")          # drawn as given, not renormalised
    K = p.shape[1]
    chk.choice(key, "key", ("auto", "legend", "colorbar", None))
    labels = mode_labels(K) if labels is None else _entries(labels, "labels", K, f"a list of K = {K} mode names",
                                                          f"name the K = {K} modes")
    ok = np.ones(K, bool) if valid is None else chk.mask(valid, (K,), "valid", nonempty=False)
    ax = get_ax(ax)
    looks = mode_styles(int(ok.sum()))
    j = 0
    for i in range(K):
        if ok[i]:
            ax.plot(rounds, p[:, i], color=looks[j]["color"], marker=looks[j]["marker"],
                    markevery=_markevery(len(rounds), i), label=labels[i], zorder=2.5 - 0.01 * i)
            j += 1
        else:
            ax.plot(rounds, p[:, i], **INVALID_MODE, label=f"{labels[i]} (wrong)")
    ax.set_xlabel("round")
    if rounds[-1] > 0:                      # a single round 0 keeps matplotlib's own limits
        round_ticks(ax, rounds[-1])
    ax.set_ylabel("probability")
    ax.set_ylim(-0.02, 1.02)
    if key == "colorbar" or (key == "auto" and ok.sum() > LEGEND_MAX_MODES):
        _mode_colorbar(ax, [s["color"] for s in looks])
    elif key in ("legend", "auto"):
        ax.legend()
    if title:
        ax.set_title(title)
    return ax


def _mode_colorbar(ax, colors):
    """A discrete colour bar naming the valid modes 1 … n (ticks on a few of them)."""
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import BoundaryNorm, ListedColormap

    n = len(colors)
    sm = ScalarMappable(BoundaryNorm(np.arange(0.5, n + 1.5), n), ListedColormap(colors))
    cb = ax.figure.colorbar(sm, ax=ax, pad=0.02, aspect=30)
    cb.set_ticks(np.unique(np.linspace(1, n, min(n, 5)).round().astype(int)))
    cb.set_label("valid mode yᵢ, i =")
    cb.ax.minorticks_off()
    return cb


def _curve_style(label, i, n, styles, colors) -> dict:
    kw: dict = {}
    method = find_method(label)
    if method is not None:
        kw.update(method.line(label))
    given = styles.get(label)
    if isinstance(given, MethodStyle):
        kw.update(given.line(label))
    elif isinstance(given, str):
        kw["linestyle"] = given
    elif given:
        kw.update(given)
    if label in colors:
        kw["color"] = colors[label]
    kw.setdefault("label", label)
    if kw.get("marker"):
        kw.setdefault("markevery", _markevery(n, i))
    return kw


def _axis_values(value, name: str) -> np.ndarray:
    """A non-empty 1-D array of finite numbers for an x axis (rounds, steps, a parameter)."""
    arr = chk.numeric_array(value, name, "a non-empty 1-D array of finite numbers")
    if arr.ndim != 1 or arr.size == 0 or not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be a non-empty 1-D array of finite numbers; got {chk.describe(value)}")
    return arr


def _entries(value, name: str, n: int, what: str, need: str) -> list:
    """``value`` as a list of ``n`` entries; ``what`` says what the sequence is, ``need`` how
    many it must hold (a single string is refused: it is one name, not a sequence)."""
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Iterable):
        raise ValueError(f"{name} must be {what}; got {chk.describe(value)}")
    out = list(value)
    if len(out) != n:
        raise ValueError(f"{name} must {need}; got {len(out)} {'entry' if len(out) == 1 else 'entries'}")
    return out


def _mapping(value, name: str, what: str, *, optional: bool = False) -> dict:
    """``value`` as a dict (a mapping is required: a list or an array has no labels).

    ``optional``: None gives ``{}`` and an empty mapping is allowed; otherwise a mapping
    with at least one entry is required (with none, there is nothing to draw or label).
    """
    if value is None and optional:
        return {}
    if not isinstance(value, Mapping):
        raise ValueError(f"{name} must be a mapping (a dict) of {what}; got {chk.describe(value)}")
    if not value and not optional:
        raise ValueError(f"{name} must have at least one entry ({what}); got an empty mapping")
    return dict(value)


def _series(y, name: str, shape: tuple, what: str = "", *, low=None, high=None) -> np.ndarray:
    """``y`` as a float array of exactly ``shape``, its errors naming ``name``; with ``low``
    and ``high``, every entry must be finite and in ``[low, high]``."""
    arr = chk.numeric_array(y, name, "an array of numbers")
    if arr.shape != shape:
        raise ValueError(f"{name} must have shape {shape}{what}; got {arr.shape}")
    if low is not None or high is not None:
        chk.real(arr, name, low=low, high=high)
    return arr


def _curve_values(curves, x: np.ndarray, xname: str, name: str = "curves", **bounds) -> dict:
    """``curves`` (label → y) checked: a non-empty mapping, every y of ``x``'s shape."""
    ys = {}
    for label, y in _mapping(curves, name, "label → array of y values").items():
        where = f"{name}[{label!r}]"
        arr = chk.numeric_array(y, where, "an array of numbers")
        if arr.shape != x.shape:
            raise ValueError(f"{where} must have the shape of {xname}, {x.shape}; got {arr.shape}")
        if bounds:
            chk.real(arr, where, **bounds)
        ys[label] = arr
    return ys


def _looks(colors, styles) -> tuple[dict, dict]:
    """``colors`` and ``styles`` (label → look) checked: mappings or None, each style a
    MethodStyle, a dict of plot keywords, a line-style string or None."""
    colors = _mapping(colors, "colors", "label → colour", optional=True)
    styles = _mapping(styles, "styles", "label → MethodStyle, dict of plot keywords or line style",
                      optional=True)
    for label, given in styles.items():
        if not (given is None or isinstance(given, (MethodStyle, str, Mapping))):
            raise ValueError(f"styles[{label!r}] must be a MethodStyle, a dict of plot keywords or a "
                             f"line style such as '--'; got {chk.describe(given)}")
    return colors, styles


def plot_curves(
    x, curves: Mapping[str, np.ndarray], *, colors=None, styles=None, xlabel=None,
    ylabel=None, logx=False, integer_x=False, title=None, legend=True, ax=None,
):
    """One line per entry of ``curves`` against ``x``.

    Parameters
    ----------
    x : array_like, shape (T,)
    curves : mapping of str to array_like of shape (T,)
        Legend label → y values.  A label naming a registered method ("RL",
        "SD, 3 demos") takes that method's colour, line style and marker.
    styles : mapping of str to MethodStyle, dict of plot keywords, or a line style, optional
        Per label, overriding the method's look (e.g. one of ``method_style("SD").variants(3)``).
    colors : mapping of str to colour, optional
        Per label, overriding everything else.
    logx : bool
        Log-2 x axis (k in pass@k).
    integer_x : bool
        Whole-number ticks ending at the last ``x`` (rounds, steps); no effect with ``logx``
        (the log axis keeps its powers-of-2 ticks).

    Returns
    -------
    Axes

    Raises
    ------
    ValueError
        Naming the argument: ``x`` not a non-empty 1-D array of finite numbers; ``curves``
        not a non-empty mapping (label → array; an empty one would draw nothing and leave
        an empty legend), or a curve not numbers of ``x``'s shape (named
        ``curves['label']``); ``x`` not positive with ``logx``; ``colors`` or ``styles`` not a
        mapping by label (or a style not a MethodStyle, dict or line style); a switch not a
        boolean; ``ax`` not an Axes.

    Notes
    -----
    Draws the metrics of theory §4 (effective modes, pass@k, distinct counts) against
    rounds, steps or a parameter.
    """
    logx = chk.boolean(logx, "logx")
    integer_x = chk.boolean(integer_x, "integer_x")
    legend = chk.boolean(legend, "legend")
    x = _axis_values(x, "x")
    if logx and x.min() <= 0.0:
        raise ValueError(f"x must be > 0 on a log axis (logx=True); got {chk.describe(x)}")
    ys = _curve_values(curves, x, "x")
    colors, styles = _looks(colors, styles)
    ax = get_ax(ax)
    for i, (label, y) in enumerate(ys.items()):
        ax.plot(x, y, **_curve_style(label, i, x.size, styles, colors))
    if logx:
        ax.set_xscale("log", base=2)
    if integer_x and not logx and x[-1] > 0:      # a log axis keeps its powers-of-2 ticks
        round_ticks(ax, x[-1])
    return _label_axes(ax, xlabel=xlabel, ylabel=ylabel, title=title, legend=legend)


def plot_pass_at_k(k, curves: Mapping[str, np.ndarray], *, spread=None, colors=None, styles=None,
                   title=None, legend=True, ax=None):
    """pass@k against k (log scale) for each labelled policy, with an optional band.

    Parameters
    ----------
    k : array_like of int >= 1, shape (n,)
    curves : mapping of str to array_like of shape (n,)
        Label (e.g. "base", "RL", "SD") → pass@k, e.g. from :func:`modesim.pass_at_k`.
    spread : mapping of str to array_like of shape (2, n), optional
        Label → (lower, upper) band drawn lightly in the curve's colour, e.g. quantiles
        of the per-prompt pass@k.

    Returns
    -------
    Axes

    Raises
    ------
    ValueError
        Naming the argument: ``k`` not a non-empty 1-D array of integers >= 1 (k is drawn
        on a log axis); ``curves`` not a non-empty mapping, or a curve (named
        ``curves['label']``) not of ``k``'s shape or with a value outside [0, 1];
        ``spread`` not a mapping, a band (named ``spread['label']``) not of shape (2, n)
        or outside [0, 1], or labelling no curve; ``colors`` or ``styles`` not mappings by
        label; ``legend`` not a boolean; ``ax`` not an Axes.

    Notes
    -----
    pass@k as theory §4 defines it (in and out of distribution).
    """
    legend = chk.boolean(legend, "legend")
    k = chk.ks(k, "k")
    if k.ndim != 1:
        raise ValueError(f"k must be a 1-D array of integers >= 1; got shape {k.shape}")
    ys = _curve_values(curves, k, "k", low=0.0, high=1.0)
    bands = {}
    for label, band in _mapping(spread, "spread", "label → (lower, upper) band of shape (2, n)",
                                optional=True).items():
        if label not in ys:
            raise ValueError(f"spread[{label!r}] labels no curve; the curves are {', '.join(map(repr, ys))}")
        bands[label] = _series(band, f"spread[{label!r}]", (2, k.size), " (a lower and an upper row, one "
                               "column per k)", low=0.0, high=1.0)
    colors, styles = _looks(colors, styles)
    ax = get_ax(ax)
    for i, (label, y) in enumerate(ys.items()):
        kw = _curve_style(label, i, k.size, styles, colors)
        kw["markevery"] = None
        (line,) = ax.plot(k, y, **kw)
        if label in bands:
            lo, hi = bands[label]
            ax.fill_between(k, lo, hi, color=line.get_color(), alpha=0.15, lw=0, zorder=1)
    ax.set_xscale("log", base=2)
    exps = np.unique(np.round(np.log2(k)).astype(int))
    if exps.size:
        from matplotlib.ticker import FixedLocator, NullLocator

        ax.xaxis.set_major_locator(FixedLocator(2.0 ** exps[:: max(1, -(-exps.size // 5))]))
        ax.xaxis.set_major_formatter("{x:.0f}")
        ax.xaxis.set_minor_locator(NullLocator())
    ax.set_ylim(-0.02, 1.02)
    return _label_axes(ax, xlabel="k (samples)", ylabel="pass@k", title=title, legend=legend)


def plot_eigenvalues(alpha, closed_form: Mapping, numeric: Mapping | None = None, *, styles=None,
                     title=None, legend=True, ax=None):
    """Eigenvalue at the uniform point against α: closed-form lines, numeric markers.

    Parameters
    ----------
    alpha : array_like, shape (A,)
    closed_form : mapping label → array of shape (A,)
    numeric : mapping label → (alpha_points, values), optional
        Drawn as hollow markers in the colour of the matching closed-form line.
    styles : sequence of MethodStyle, optional
        One per closed-form curve (e.g. ``method_style("SD").variants(n)``).

    Returns
    -------
    Axes

    Raises
    ------
    ValueError
        Naming the argument: ``alpha`` not a non-empty 1-D array of finite numbers;
        ``closed_form`` not a non-empty mapping, or a curve (named ``closed_form['label']``)
        not numbers of ``alpha``'s shape; ``numeric`` not a mapping, an entry (named
        ``numeric['label']``) not a pair of equal-length 1-D arrays or labelling no
        closed-form curve; ``styles`` not one MethodStyle (or None) per closed-form curve;
        ``legend`` not a boolean; ``ax`` not an Axes.

    Notes
    -----
    The S8 eigenvalue against the numerical Jacobian (theory §3.5, statement S8).
    """
    legend = chk.boolean(legend, "legend")
    alpha = _axis_values(alpha, "alpha")
    closed_form = _curve_values(closed_form, alpha, "alpha", "closed_form")
    points = {}
    for label, pair in _mapping(numeric, "numeric", "label → (alpha_points, values)", optional=True).items():
        where = f"numeric[{label!r}]"
        if label not in closed_form:
            raise ValueError(f"{where} labels no closed-form curve; the closed-form curves are "
                             f"{', '.join(map(repr, closed_form))}")
        if isinstance(pair, (str, bytes)) or not isinstance(pair, Iterable) or len(pair := list(pair)) != 2:
            raise ValueError(f"{where} must be a pair (alpha_points, values); got {chk.describe(pair)}")
        a = _axis_values(pair[0], f"{where}[0] (alpha_points)")
        points[label] = (a, _series(pair[1], f"{where}[1] (values)", a.shape, ", one per alpha point"))
    if styles is None:
        styles = [None] * len(closed_form)
    else:
        styles = _entries(styles, "styles", len(closed_form), "a list of MethodStyles, one per closed-form curve",
                          f"have one MethodStyle (or None) per closed-form curve ({len(closed_form)})")
        for i, st in enumerate(styles):
            if st is not None and not isinstance(st, MethodStyle):
                raise ValueError(f"styles[{i}] must be a MethodStyle (e.g. from method_style('SD')."
                                 f"variants(n)) or None; got {chk.describe(st)}")
    ax = get_ax(ax)
    handles = []
    for (label, lam), st in zip(closed_form.items(), styles):
        kw = {"label": str(label)} if st is None else {**st.line(str(label)), "marker": ""}
        (line,) = ax.plot(alpha, lam, **kw)
        handle = line
        if label in points:
            a, v = points[label]
            (dots,) = ax.plot(a, v, ls="none", marker=st.marker if st else "o", color=line.get_color(),
                              mfc="none", ms=4, mew=0.8)
            handle = (line, dots)
        handles.append(handle)
    ax.axhline(1.0, color="black", lw=0.6, ls=":")
    ax.set_xlabel("copy strength α")
    ax.set_ylabel("eigenvalue λ\nat the uniform point")
    if legend:
        ax.legend(handles, [str(label) for label in closed_form])
    return _label_axes(ax, title=title)


def plot_heatmap(
    x, y, values, *, xlabel=None, ylabel=None, label=None, contours=None, cmap="viridis",
    norm=None, title=None, colorbar=True, ax=None,
):
    """``values[i, j]`` at ``(x[j], y[i])`` as a heatmap, with optional labelled contours.

    Parameters
    ----------
    x : array_like, shape (nx,)
    y : array_like, shape (ny,)
    values : array_like, shape (ny, nx)
    contours : sequence of float, optional
        Levels drawn as labelled black lines.
    norm : matplotlib.colors.Normalize, optional
        Share one colour scale across panels by passing the same norm.
    colorbar : bool
        Draw a colour bar beside this axes (pass False and draw one for several panels).

    Returns
    -------
    Axes

    Raises
    ------
    ValueError
        Naming the argument: ``x`` or ``y`` not a non-empty 1-D array of finite numbers,
        ``values`` not numbers of shape ``(len(y), len(x))``, ``contours`` not finite
        numbers, ``colorbar`` not a boolean, ``ax`` not an Axes; matplotlib's own
        (a ``ValueError`` naming the value) for an unknown ``cmap`` name; a bad ``norm``
        is not checked.

    Notes
    -----
    The parameter grids of theory §1 drawn as maps: the amplification exponent over (α, β)
    (theory §3.4) and the collapse regime over (α, β) (theory §8.4).
    """
    colorbar = chk.boolean(colorbar, "colorbar")
    x, y = _axis_values(x, "x"), _axis_values(y, "y")
    v = chk.numeric_array(values, "values", "an array of shape (len(y), len(x))")
    if v.shape != (y.size, x.size):
        raise ValueError(f"values must have shape (len(y), len(x)) = {(y.size, x.size)}; got {v.shape}")
    if contours is not None:
        contours = chk.real(contours, "contours")
        contours = np.atleast_1d(contours)
    ax = get_ax(ax)
    mesh = ax.pcolormesh(x, y, v, shading="nearest", cmap=cmap, norm=norm, rasterized=True)
    if contours is not None:
        cs = ax.contour(x, y, v, levels=sorted(contours), colors="white", linewidths=0.6)
        ax.clabel(cs, fontsize=7, fmt="%g", inline_spacing=2)
    if colorbar:
        ax.figure.colorbar(mesh, ax=ax, label=label)
    ax.grid(False)
    return _label_axes(ax, xlabel=xlabel, ylabel=ylabel, title=title)


def plot_fan(x, mean, bands=None, *, samples=None, color=None, label=None, linestyle="-", ax=None):
    """A trajectory fan across seeds: a central line, nested quantile bands and a few runs.

    Parameters
    ----------
    x : array_like, shape (T,)
    mean : array_like, shape (T,)
        The central line (mean or median).
    bands : array_like, shape (L, T), optional
        Quantiles at increasing levels; band ``i`` is filled between rows ``i`` and
        ``L − 1 − i``, inner bands darker.
    samples : array_like, shape (S, T), optional
        Individual runs, drawn as thin lines.

    Returns
    -------
    Axes

    Raises
    ------
    ValueError
        Naming the argument: ``x`` not a non-empty 1-D array of finite numbers; ``mean``
        not numbers of shape (T,), ``bands`` not of shape (L, T) or ``samples`` not of
        shape (S, T), with T = ``len(x)``; ``ax`` not an Axes.

    Notes
    -----
    Finite-sample training across seeds (theory §2.3, §3.6): :func:`modesim.fan` gives the
    quantiles.
    """
    x = _axis_values(x, "x")
    T = x.shape[0]
    mean = _series(mean, "mean", (T,), " (one value per x)")
    b = s = None
    if bands is not None:
        b = chk.numeric_array(bands, "bands", "quantiles of shape (L, T)")
        if b.ndim != 2 or b.shape[1] != T:
            raise ValueError(f"bands must have shape (L, T) with T = {T}; got {b.shape}")
    if samples is not None:
        s = chk.numeric_array(samples, "samples", "runs of shape (S, T)")
        if s.ndim != 2 or s.shape[1] != T:
            raise ValueError(f"samples must have shape (S, T) with T = {T}, one run per row; got {s.shape}")
    ax = get_ax(ax)
    (line,) = ax.plot(x, mean, color=color, label=label, lw=1.4, ls=linestyle, zorder=3)
    c = line.get_color()
    if b is not None:
        for i in range(b.shape[0] // 2):
            ax.fill_between(x, b[i], b[-1 - i], color=c, alpha=0.12 + 0.1 * i, lw=0)
    if s is not None:
        for row in s:
            ax.plot(x, row, color=c, lw=0.4, alpha=0.4)
    return ax


_HATCHES = ("", "////", "....", "\\\\\\\\", "xxxx")


def plot_bars(categories, groups: Mapping[str, np.ndarray], *, colors=None, ylabel=None,
              title=None, legend=True, ax=None):
    """Grouped bars: one group per category, one bar per entry of ``groups``.

    Groups named after a registered method take its colour; every group after the first
    is hatched so that greyscale prints separate them.

    Parameters
    ----------
    categories : sequence of str, length n
    groups : mapping of str to array_like of shape (n,)
        Legend label → one value per category (e.g. fixation probability per mode).

    Returns
    -------
    Axes

    Raises
    ------
    ValueError
        Naming the argument: ``categories`` not a sequence of names (a single string is
        refused, not split into letters); ``groups`` not a non-empty mapping, or a group
        (named ``groups['label']``) not numbers of shape ``(len(categories),)``; ``colors``
        not a mapping by label; ``legend`` not a boolean; ``ax`` not an Axes.

    Notes
    -----
    Fixation per mode in finite-sample training (theory §3.6) and pass@16 per split of the
    graph experiment (theory §10.4).
    """
    legend = chk.boolean(legend, "legend")
    if isinstance(categories, (str, bytes)) or not isinstance(categories, Iterable):
        raise ValueError(f"categories must be a sequence of names (a list of strings); got "
                         f"{chk.describe(categories)}")
    cats = list(categories)
    values_of = {label: _series(values, f"groups[{label!r}]", (len(cats),), ", one per category")
                 for label, values in _mapping(groups, "groups", "label → one value per category").items()}
    colors = _mapping(colors, "colors", "label → colour", optional=True)
    ax = get_ax(ax)
    n = len(values_of)
    width = 0.8 / n
    pos = np.arange(len(cats))
    for i, (label, v) in enumerate(values_of.items()):
        kw = {}
        method = find_method(label)
        if method is not None:
            kw["color"] = method.color
        if label in colors:
            kw["color"] = colors[label]
        ax.bar(pos + (i - (n - 1) / 2) * width, v, width, label=label,
               hatch=_HATCHES[i % len(_HATCHES)], edgecolor="white", linewidth=0.0, **kw)
    ax.set_xticks(pos, cats)
    ax.grid(False, axis="x")
    return _label_axes(ax, ylabel=ylabel, title=title, legend=legend)
