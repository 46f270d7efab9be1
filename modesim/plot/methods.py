"""One look per method, shared by every figure and notebook.

A reader who has seen RL in blue on one page must find RL in blue on the next, and a
greyscale print must still separate the curves.  So every method has one registered
:class:`MethodStyle`: a colour (Okabe–Ito, safe under the common colour-vision
deficiencies), the line style of its *family* (RL solid, SD dashed, base dotted, remedies
dash-dot) and a marker.  Plot with ``**method_style("SD").line()``; register a new method
(a remedy, say) once with :func:`register_method` and every figure uses the same look.

Parameter sweeps of one method (SD with 1, 3 and 8 demonstrations; the S8 eigenvalue for
K = 2, 3, 5, 10) are :meth:`MethodStyle.variants`: shades of the method's colour on a
fixed lightness ladder, each with its own marker, so a sweep never borrows another
method's colour.  Modes (answers ``y₁ … y_K``) are not methods: :func:`mode_styles` gives
them a sequential colour map (ordered like the modes' base probabilities), distinct for
any ``K``.

>>> from modesim.plot import method_style
>>> sd = method_style("SD")
>>> sd.color, sd.linestyle, sd.family
('#D55E00', '--', 'sd')
>>> method_style("SD, 3 demos").name       # a label resolves to the method it names
'SD'
>>> len(set(v.color for v in sd.variants(3)))
3
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np

from .. import _checks as chk

__all__ = [
    "OKABE_ITO",
    "REMEDY_COLORS",
    "FAMILY_LINESTYLES",
    "MethodStyle",
    "METHODS",
    "method_style",
    "find_method",
    "register_method",
    "mode_styles",
    "INVALID_MODE",
    "REFERENCE",
    "COLORS",
]

#: Okabe–Ito colours (Okabe & Ito 2008), distinguishable under common colour-vision deficiencies.
OKABE_ITO = MappingProxyType({
    "black": "#000000",
    "orange": "#E69F00",
    "sky_blue": "#56B4E9",
    "bluish_green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "reddish_purple": "#CC79A7",
})

#: Colours still free for methods registered later (remedies, theory §11): Paul Tol's "muted"
#: scheme without the entries too close to an Okabe–Ito colour already taken.
REMEDY_COLORS = ("#332288", "#44AA99", "#999933", "#882255", "#117733")
#: Two methods' colours must lie at least this far apart (Euclidean, 0–255 RGB).
_MIN_COLOR_DISTANCE = 60.0

#: One line style per family of methods.
FAMILY_LINESTYLES = MappingProxyType({
    "base": ":",
    "rl": "-",
    "sd": "--",
    "remedy": "-.",
})

#: Lightness ladder of a method's variants: negative mixes with black, positive with white.
_LADDER = (-0.45, -0.22, 0.0, 0.3, 0.55)
#: Which ladder rungs ``n`` variants use (dark to light; up to three start at the method's own colour).
_RUNGS = {1: (2,), 2: (2, 4), 3: (2, 3, 4), 4: (1, 2, 3, 4), 5: (0, 1, 2, 3, 4)}
#: Markers of variants, in order (none of them is easily mistaken for another at 3 pt).
_VARIANT_MARKERS = ("o", "s", "^", "D", "v")


def _rgb(color: str) -> np.ndarray:
    return np.array([int(color[i:i + 2], 16) for i in (1, 3, 5)], dtype=np.float64)


def _mix(color: str, t: float) -> str:
    """``color`` mixed with black (``t < 0``) or white (``t > 0``) by ``|t|``, as ``#RRGGBB``."""
    rgb = _rgb(color) / 255.0
    rgb = rgb * (1.0 + t) if t < 0 else rgb + t * (1.0 - rgb)
    return "#" + "".join(f"{int(round(c * 255)):02X}" for c in rgb)


@dataclass(frozen=True)
class MethodStyle:
    """How one method is drawn in every figure (the methods of theory §2, §3 and §11: RL, SD, remedies).

    Attributes
    ----------
    name : str
        The method's name as a reader sees it ("RL", "SD", "GRPO", …); legend labels
        starting with it ("SD, 3 demos") belong to it.
    family : str
        "base", "rl", "sd" or "remedy"; fixes :attr:`linestyle`.
    color : str
        ``#RRGGBB``.
    marker : str
        A matplotlib marker, so greyscale prints still separate curves.
    description : str
        What the method is, in one line.
    aliases : tuple of str
        Other names legends may use for it ("natural PG" for RL).

    Raises
    ------
    ValueError
        An unknown ``family`` (naming the allowed ones, on construction); the other fields
        are validated by :func:`register_method`; :meth:`variants` for ``n`` outside 1…5.
    """

    name: str
    family: str
    color: str
    marker: str
    description: str = ""
    aliases: tuple[str, ...] = field(default=(), compare=False)

    def __post_init__(self):
        chk.choice(self.family, "family", tuple(FAMILY_LINESTYLES))

    @property
    def linestyle(self) -> str:
        return FAMILY_LINESTYLES[self.family]

    @property
    def colors(self) -> frozenset[str]:
        """Every colour this method may be drawn in: its own and its variants' shades."""
        return frozenset(_mix(self.color, t) for t in _LADDER)

    def line(self, label: str | None = None, **overrides) -> dict:
        """Keyword arguments for :meth:`~matplotlib.axes.Axes.plot`: colour, line style,
        marker and label (default: the method's name); ``overrides`` win."""
        kw = {"color": self.color, "linestyle": self.linestyle, "marker": self.marker,
              "label": self.name if label is None else label}
        kw.update(overrides)
        return kw

    def variants(self, n: int) -> list[MethodStyle]:
        """``n`` (1 to 5) looks for a sweep of this method: shades dark to light, one marker each.

        Up to three variants start with the method's own look (so "SD" and "SD, 1 demo"
        match); four or five run from darker to lighter around it.  The shades lie on a
        fixed ladder, so the same method's sweep has the same colours in every figure;
        :attr:`colors` lists them all (the checker accepts any).
        """
        n = chk.integer(n, "n", low=1, high=len(_LADDER))
        markers = [self.marker] + [m for m in _VARIANT_MARKERS if m != self.marker]
        return [
            MethodStyle(self.name, self.family, _mix(self.color, _LADDER[r]),
                        markers[j], self.description, self.aliases)
            for j, r in enumerate(_RUNGS[n])
        ]


_REGISTRY: dict[str, MethodStyle] = {}
#: Registered methods by name (read-only view, registration order).
METHODS = MappingProxyType(_REGISTRY)


def register_method(name: str, *, family: str, color: str, marker: str, description: str = "",
                    aliases: tuple[str, ...] = ()) -> MethodStyle:
    """Register the look of a new method (e.g. a remedy); returns its :class:`MethodStyle`.

    Parameters
    ----------
    name : str
        What legends call it; labels that start with ``name`` followed by a space, comma,
        colon or parenthesis are this method's.
    family : {"base", "rl", "sd", "remedy"}
        Fixes the line style (:data:`FAMILY_LINESTYLES`).
    color : str
        ``#RRGGBB``, at least 60 (RGB distance, 0–255) from every registered method's
        colour.  Free colours: :data:`REMEDY_COLORS`.
    marker : str
        Must differ from the markers of registered methods of the same family.

    The remedies of theory §11 are registered this way (:mod:`modesim.figures.frontier`);
    the built-in methods are those of theory §2, §3 and §11.

    Raises
    ------
    ValueError
        If the name is empty or not a string, the family is unknown, the name (or an alias),
        the colour (within 60 of a registered one) or the family's marker is taken, or the
        colour is not ``#RRGGBB``.  ``marker`` is not checked against matplotlib's markers.
    """
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"name must be a non-empty string; got {chk.describe(name)}")
    chk.choice(family, "family", tuple(FAMILY_LINESTYLES))
    if not isinstance(color, str) or not re.fullmatch(r"#[0-9A-Fa-f]{6}", color):
        raise ValueError(f"color must be a '#RRGGBB' string; got {chk.describe(color)}")
    color = color.upper()
    style = MethodStyle(name, family, color, marker, description, tuple(aliases))
    for other in _REGISTRY.values():
        if {name, *aliases} & {other.name, *other.aliases}:
            raise ValueError(f"method {name!r} (or an alias) is already registered as {other.name!r}")
        if np.linalg.norm(_rgb(color) - _rgb(other.color)) < _MIN_COLOR_DISTANCE:
            free = [c for c in REMEDY_COLORS if all(
                np.linalg.norm(_rgb(c) - _rgb(o.color)) >= _MIN_COLOR_DISTANCE for o in _REGISTRY.values())]
            raise ValueError(f"color {color} of {name!r} is too close to {other.name!r}'s "
                             f"{other.color}; free colours: {', '.join(free) or 'none'}")
        if other.family == family and other.marker == marker:
            raise ValueError(f"marker {marker!r} is taken by {other.name!r} in family {family!r}")
    _REGISTRY[name] = style
    return style


def find_method(label) -> MethodStyle | None:
    """The registered method a legend label names, or None.

    A label names a method when it equals the method's name (or an alias) or starts with
    it followed by a space, comma, colon or parenthesis; the longest name wins
    ("GRPO + diversity bonus, λ = 1" is the bonus, not GRPO).  The methods are those of
    theory §2, §3 and §11.

    Raises
    ------
    ValueError
        Never: a label that is not a string names no method (None).
    """
    if not isinstance(label, str):
        return None
    best, size = None, -1
    for style in _REGISTRY.values():
        for n in (style.name, *style.aliases):
            if len(n) > size and (label == n or (label.startswith(n) and label[len(n)] in " ,:(")):
                best, size = style, len(n)
    return best


def method_style(name: str) -> MethodStyle:
    """The registered :class:`MethodStyle` of ``name`` (or of the method a label names).

    The methods are those of theory §2, §3 and §11 (each registered look cites its section).

    Raises
    ------
    ValueError
        Naming the registered methods when ``name`` is none of them.
    """
    style = find_method(name)
    if style is None:
        raise ValueError(f"unknown method {chk.describe(name)}; registered methods: "
                         f"{', '.join(_REGISTRY)} (add one with modesim.plot.register_method)")
    return style


register_method("base", family="base", color="#555555", marker="x",
                description="the base (reference) policy π0", aliases=("base π0", "π0"))
register_method("RL", family="rl", color=OKABE_ITO["blue"], marker="o",
                description="exact KL-regularised RL: natural policy gradient (theory §2.2)",
                aliases=("natural PG",))
register_method("ideal RL", family="rl", color=OKABE_ITO["sky_blue"], marker="D",
                description="the paper's ideal RL: the KL-regularised optimum (theory §2.1)")
register_method("softmax PG", family="rl", color=OKABE_ITO["reddish_purple"], marker="^",
                description="vanilla policy gradient on softmax logits (theory §2.2, R4)")
register_method("GRPO", family="rl", color=OKABE_ITO["bluish_green"], marker="s",
                description="finite-sample RL with group-normalised advantages (theory §2.3)")
register_method("SD", family="sd", color=OKABE_ITO["vermillion"], marker="v",
                description="self-distillation with sampled demonstrations (theory §3)",
                aliases=("self-distillation",))
register_method("GRPO + diversity bonus", family="remedy", color=OKABE_ITO["orange"], marker="P",
                description="GRPO paying rare correct answers more (theory §11)")

#: Reference lines that are not methods (mean field, closed form, y = 1): thin black.
REFERENCE = MappingProxyType({"color": "#000000", "linewidth": 0.8})

#: Invalid ("wrong") modes in mode plots: grey, dashed, no marker.
INVALID_MODE = MappingProxyType({"color": "#888888", "linestyle": "--", "marker": ""})

_MODE_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "h", "<", ">", "p", "*")


def mode_styles(n_modes: int) -> list[dict]:
    """Looks for modes ``y₁ … y_K``: ``[{"color", "marker"}, …]``, distinct colours for any ``K``.

    Colours follow viridis from dark (``y₁``, the base's favourite when modes are sorted)
    to light, so the order of the modes reads off the colour; markers cycle through twelve
    shapes for greyscale prints.  Method colours are not used, so a mode never looks like
    a method.  Modes are theory §1's ``y = 0 … K − 1``, drawn as ``y₁ … y_K``.

    Returns
    -------
    list of dict, length ``n_modes``

    Raises
    ------
    ValueError
        ``n_modes`` not an integer >= 1.
    """
    n = chk.integer(n_modes, "n_modes", low=1)
    from matplotlib import colormaps

    cmap = colormaps["viridis"]
    pos = np.linspace(0.0, 0.88, n) if n > 1 else np.zeros(1)
    out = []
    for i, x in enumerate(pos):
        r, g, b, _ = cmap(float(x))
        out.append({"color": "#" + "".join(f"{int(round(c * 255)):02X}" for c in (r, g, b)),
                    "marker": _MODE_MARKERS[i % len(_MODE_MARKERS)]})
    return out


#: Legacy lower-case keys (modesim ≤ 0.2); prefer :func:`method_style`.
COLORS = MappingProxyType({
    "base": method_style("base").color,
    "rl": method_style("RL").color,
    "ideal_rl": method_style("ideal RL").color,
    "softmax_pg": method_style("softmax PG").color,
    "grpo": method_style("GRPO").color,
    "sd": method_style("SD").color,
    "bonus": method_style("GRPO + diversity bonus").color,
})
