"""The exp and log of whole arrays for the JSD solve's law (theory §8.1, "The compiled kernel").

When the compiled kernel is in use (numba installed, ``MODESIM_NUMBA`` not off:
:func:`modesim.jsd_solve._kernel`), :func:`exp_into` and :func:`log_into` run its vectorised
passes (:func:`modesim._jsd_kernel.exp_pass`, :func:`~modesim._jsd_kernel.log_pass`:
fdlibm's algorithms, below one ulp), ~2.5 ns an entry against numpy's ~4–5 ns on hosts
without AVX-512 (where numpy's float64 exp and log are scalar).  Otherwise they are numpy's.
Only the JSD solve's path reads them (the copy teacher's two points with ``linear=``), so a
reverse round's numbers never depend on numba.  Importing this module does not import numba.
"""

from __future__ import annotations

import numpy as np

#: The smallest normal float64: the vectorised log takes arguments from here up (numpy's
#: log takes the entries below, one by one).
_TINY = 2.2250738585072014e-308
#: :mod:`modesim.jsd_solve` and :mod:`modesim._jsd_kernel` once loaded (``_kernel`` is
#: still called each time: the environment variable, and tests that replace it).
_SOLVE = _PASSES = None


def _passes():
    """The kernel module when the compiled kernel is in use, else None.

    Whatever the size of the array: which log and exp an entry gets may not depend on the
    entries beside it, or a row's JSD round would differ in its last bits alone and in a
    batch (a size threshold here did that).  The lookups are kept (~1 µs a call in all,
    numba's dispatch ~0.4 µs of it)."""
    global _SOLVE, _PASSES
    if _SOLVE is None:
        from . import jsd_solve

        _SOLVE = jsd_solve
    if _SOLVE._kernel() is None:
        return None
    if _PASSES is None:
        from . import _jsd_kernel

        _PASSES = _jsd_kernel
    return _PASSES


def _flat(out: np.ndarray):
    """``out`` as a 1-D view the passes take, or None (not float64 or not C-contiguous)."""
    if out.dtype != np.float64 or not out.flags.c_contiguous:
        return None
    return out.reshape(-1)


def _source(x: np.ndarray, out: np.ndarray, flat: np.ndarray) -> np.ndarray:
    """``x`` as the 1-D float64 array of ``out``'s size the passes read: ``x`` itself when it
    has ``out``'s shape and is C-contiguous float64, else copied (broadcast) into ``out``."""
    if x.shape == out.shape and x.dtype == np.float64 and x.flags.c_contiguous:
        return x.reshape(-1)
    np.copyto(out, x)
    return flat


def exp_into(x: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``out[...] = exp(x)`` (``x`` broadcast to ``out``'s shape); returns ``out``."""
    flat = _flat(out)
    passes = None if flat is None or flat.size == 0 else _passes()
    if passes is None:
        return np.exp(x, out=out)
    passes.exp_pass(_source(x, out, flat), flat, flat.size)
    return out


def log_into(x: np.ndarray, out: np.ndarray, lowest: float) -> np.ndarray:
    """``out[...] = log(x)`` (``x`` broadcast to ``out``'s shape, or ``out`` itself), given
    ``lowest = x.min()``: entries below the smallest normal float (where the vectorised pass
    does not go) take numpy's log, each on its own; returns ``out``."""
    flat = _flat(out)
    passes = None if flat is None or flat.size == 0 else _passes()
    if passes is None:
        return np.log(x, out=out)
    low = None
    if not lowest >= _TINY:     # (NaN included: the pass keeps NaN, numpy's log takes the rest)
        where = np.broadcast_to(x, out.shape) < _TINY
        low = np.log(np.broadcast_to(x, out.shape)[where])
    passes.log_pass(_source(x, out, flat), flat, flat.size)
    if low is not None:
        out[where] = low
    return out
