"""Printing numbers and tables for people (shared by the subcommands).

Numbers are shown with significant figures, not fixed decimals, so ``1e-09`` stays
visible and never prints as ``0.0000``; ``-0.0`` prints as ``0``.  Long policies are
summarised (the top modes and the count); JSON and CSV carry every number in full.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

__all__ = ["num", "table", "policy_summary", "params", "json_float"]

#: Policies with at most this many modes are printed in full in a table.
FULL_POLICY = 6
#: How many of the most probable modes a summary shows.
TOP = 3


def num(x: float, digits: int = 4) -> str:
    """``x`` with ``digits`` significant figures (``1e-09``, ``0.6458``, ``12.35``); ``-0`` → ``0``."""
    x = float(x)
    if x == 0.0:
        return "0"
    if not math.isfinite(x):
        return str(x)
    return f"{x:.{digits}g}"


def policy_summary(p, digits: int = 4) -> str:
    """``(0.6458, 0.2783, 0.07589)``, or for many modes ``top 3 of 1000: #17 0.41, #2 0.2, #9 0.1``."""
    p = np.asarray(p, dtype=np.float64)
    if p.size <= FULL_POLICY:
        return "(" + ", ".join(num(x, digits) for x in p) + ")"
    top = np.argsort(-p, kind="stable")[:TOP]
    shown = ", ".join(f"#{int(i)} {num(p[i], digits)}" for i in top)
    return f"top {TOP} of {p.size}: {shown}"


def table(rows: list[list[str]], *, align: str = "right") -> str:
    """Columns padded to a common width (``align`` "right" for numbers, "left" for text)."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    pad = (lambda c, w: c.rjust(w)) if align == "right" else (lambda c, w: c.ljust(w))
    return "\n".join("  ".join(pad(c, w) for c, w in zip(r, widths)).rstrip() for r in rows)


def json_float(x: float):
    """A float for JSON: finite as is, ``inf``/``nan`` as strings."""
    x = float(x)
    return x if math.isfinite(x) else str(x)


def params(obj):
    """A JSON-ready description of a rule, teacher or demonstration source.

    Dataclasses become ``{"type": ClassName, field: value, ...}`` (recursively), arrays
    lists, numpy scalars Python numbers; anything else its ``repr``.
    """
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        out = {"type": type(obj).__name__}
        for f in dataclasses.fields(obj):
            out[f.name] = params(getattr(obj, f.name))
        return out
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return json_float(obj)
    if isinstance(obj, str) or obj is None:
        return obj
    if isinstance(obj, np.ndarray):
        return [params(x) for x in obj.tolist()] if obj.ndim else params(obj.item())
    if isinstance(obj, (list, tuple)):
        return [params(x) for x in obj]
    return repr(obj)
