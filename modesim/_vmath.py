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

#: The smallest normal float64: the vectorised log takes arguments from here up.
_TINY = 2.2250738585072014e-308
#: Arrays smaller than this stay with numpy: a call into the compiled passes costs ~8 µs
#: (finding the kernel, numba's dispatch), which the passes repay from a few thousand entries.
_VECTOR_MIN = 4096


def _passes(size: int):
    """The kernel module when the compiled kernel is in use and ``size`` is worth a call, else None."""
    if size < _VECTOR_MIN:
        return None
    from .jsd_solve import _kernel

    if _kernel() is None:
        return None
    from . import _jsd_kernel

    return _jsd_kernel


def _flat(out: np.ndarray):
    """``out`` as a 1-D view the passes take, or None (not float64 or not C-contiguous)."""
    if out.dtype != np.float64 or not out.flags.c_contiguous:
        return None
    return out.reshape(-1)


def exp_into(x: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``out[...] = exp(x)`` (``x`` broadcast to ``out``'s shape); returns ``out``."""
    passes, flat = _passes(out.size), _flat(out)
    if passes is None or flat is None:
        return np.exp(x, out=out)
    src = x.reshape(-1) if x.shape == out.shape and x.dtype == np.float64 and x.flags.c_contiguous else None
    if src is None:
        np.copyto(out, x)
        src = flat
    passes.exp_pass(src, flat, flat.size)
    return out


def log_into(x: np.ndarray, out: np.ndarray, lowest: float) -> np.ndarray:
    """``out[...] = log(x)`` (``x`` of ``out``'s shape, or ``out`` itself), given
    ``lowest = x.min()`` (numpy's log when it is below the smallest normal float, where the
    vectorised pass does not go); returns ``out``."""
    passes, flat = _passes(out.size), _flat(out)
    if passes is None or flat is None or not lowest >= _TINY:
        return np.log(x, out=out)
    src = x.reshape(-1) if x.dtype == np.float64 and x.flags.c_contiguous else None
    if src is None:
        np.copyto(out, x)
        src = flat
    passes.log_pass(src, flat, flat.size)
    return out
