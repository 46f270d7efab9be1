"""One progress bar for everything that can run more than a few seconds.

``progress`` is the user's switch: ``True``/``False``, or ``None`` for the caller's own
estimate of whether the run is long (``auto``; the scenarios use :func:`stderr_is_terminal`,
so that a log file gets no bars).  The bar is tqdm's (``tqdm.auto``: a widget in Jupyter,
text on stderr in a terminal) and is removed when done.
"""

from __future__ import annotations

import sys

import numpy as np

from . import _checks as chk


def stderr_is_terminal() -> bool:
    """Whether ``sys.stderr`` is a terminal (False for a closed, detached or missing stream)."""
    isatty = getattr(sys.stderr, "isatty", None)
    try:
        return bool(isatty()) if callable(isatty) else False
    except (ValueError, OSError):          # a closed or detached stream
        return False


def resolve(progress, *, auto: bool) -> bool:
    """``progress`` as a bool: None → ``auto``; else True or False.

    Raises
    ------
    ValueError
        ``progress`` neither None nor a boolean (``'yes'`` is refused, not read as True).
    """
    if progress is not None and not isinstance(progress, (bool, np.bool_)):
        raise ValueError(f"progress must be True, False or None (shown for long runs); got {chk.describe(progress)}")
    return bool(auto) if progress is None else bool(progress)


def progress_bar(progress, *, auto: bool, desc: str, total=None, iterable=None, **tqdm_kwargs):
    """A tqdm bar, shown when ``progress`` is True, or None and ``auto`` is True.

    Raises
    ------
    ValueError
        ``progress`` neither None nor a boolean (``'yes'`` is refused, not read as True).
    """
    show = resolve(progress, auto=auto)
    from tqdm.auto import tqdm

    tqdm_kwargs.setdefault("leave", False)
    return tqdm(iterable, total=total, desc=desc, disable=not show, **tqdm_kwargs)
