"""Deprecated names kept working for one release (those the README or notebooks used).

Each shim warns with a :class:`DeprecationWarning` that names the replacement; they are
removed in modesim 0.3.
"""

from __future__ import annotations

import warnings

__all__ = ["deprecated", "renamed_keyword"]

REMOVAL = "modesim 0.3"


def deprecated(old: str, new: str, *, stacklevel: int = 3) -> None:
    """Warn that ``old`` is deprecated in favour of ``new``."""
    warnings.warn(f"{old} is deprecated and will be removed in {REMOVAL}; use {new}",
                  DeprecationWarning, stacklevel=stacklevel)


def renamed_keyword(owner, old: str, new: str, old_value, new_value, default):
    """Resolve a renamed keyword: returns the value to use for ``new`` (warning if ``old`` was given)."""
    if old_value is None:
        return new_value
    if not (new_value is default or (not hasattr(new_value, "shape") and new_value == default)):
        raise ValueError(f"{owner} got both {old}= (deprecated) and {new}=; pass only {new}=")
    deprecated(f"{owner}({old}=...)", f"{new}=...", stacklevel=5)
    return old_value
