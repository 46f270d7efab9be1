"""Progress bars of the scenarios: one rule for ``progress=`` and one tqdm bar maker.

Every scenario takes ``progress: bool | None = None``: True shows tqdm bars on stderr
(the scenario's stages, and each training run's steps), False shows nothing, None shows
them when stderr is a terminal (as ``modesim verify`` does).  The bars are tqdm's, as in
:func:`modesim.iterate` and ``modesim figures``.
"""

from __future__ import annotations

import sys

from .. import _checks as chk


def resolve(progress) -> bool:
    """``progress`` as a bool: None → whether stderr is a terminal; else True or False."""
    if progress is None:
        isatty = getattr(sys.stderr, "isatty", None)
        try:
            return bool(isatty()) if callable(isatty) else False
        except (ValueError, OSError):          # a closed or detached stream
            return False
    return chk.boolean(progress, "progress")


def bar(total: int, show: bool, desc: str, unit: str = "it"):
    """A tqdm bar on stderr (nothing at all when ``show`` is False); use it as a context manager."""
    from tqdm.auto import tqdm

    return tqdm(total=total, disable=not show, desc=desc, unit=unit, leave=False, file=sys.stderr)
