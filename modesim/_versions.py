"""What a bug report needs: the versions modesim runs with and which JSD solve it uses."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import sys

#: Packages reported: the core dependencies, then each extra's (``pyproject.toml``).
_PACKAGES = (
    ("core", ("numpy", "scipy", "sympy", "matplotlib", "networkx", "tqdm", "hypothesis")),
    ("fast", ("numba", "llvmlite")),
    ("sweep", ("xarray", "zarr", "dask", "distributed")),
)


def _version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def jsd_solve_in_use() -> str:
    """Which solve a JSD round's ordinary rows take, and why (theory §8.1).

    ``"compiled kernel (numba X)"``; or the numpy solve with the reason: turned off by
    ``MODESIM_NUMBA``, numba not installed (the ``fast`` extra), or numba installed but
    failing to load, with its error.  Loads numba when it is installed (~0.5 s the first
    time in a process; a few seconds the first time after an install).
    """
    from . import jsd_solve

    if os.environ.get("MODESIM_NUMBA", "").strip().lower() in jsd_solve._NUMBA_OFF:
        return f"numpy solve (MODESIM_NUMBA={os.environ['MODESIM_NUMBA']} turns the compiled kernel off)"
    if jsd_solve._kernel() is not None:
        return (f"compiled kernel (numba {_version('numba')}) for blocks of at most 512 rows or of rows of "
                f"16 modes or more; the numpy solve for the others")
    if jsd_solve._KERNEL_ERROR is not None:
        err = jsd_solve._KERNEL_ERROR
        return f"numpy solve (numba {_version('numba')} is installed but could not load: {type(err).__name__}: {err})"
    return "numpy solve (numba is not installed; pip install 'modesim[fast]', or in a checkout pip install -e '.[fast]', for the compiled kernel)"


def show_versions(file=None) -> None:
    """Print modesim's version, Python's, the platform, every dependency's version (core and
    extras, ``not installed`` where absent) and which solve a JSD round uses — what a bug
    report needs.  The JSD line says whether the compiled kernel of theory §8.1 runs, and
    if not, why (:func:`jsd_solve_in_use`).

    Reads versions from the installed metadata (nothing is imported but numba, to find out
    whether the compiled kernel loads: ~0.5 s, or a few seconds the first time after an
    install, when it compiles).  ``file``: where to print (default
    ``sys.stdout``; any object with ``write``).

    Raises
    ------
    ValueError
        ``file`` neither None nor an object with a ``write`` method.

    Examples
    --------
    >>> import modesim as ms
    >>> ms.show_versions()  # doctest: +ELLIPSIS
    modesim ...
    python ...
    """
    from . import __version__
    from . import _checks as chk

    out = sys.stdout if file is None else chk.text_stream(file, "file")
    lines = [f"modesim {__version__}",
             f"python {platform.python_version()} ({platform.python_implementation()}, "
             f"{platform.system()} {platform.machine()})"]
    for group, names in _PACKAGES:
        lines.append(f"{group}: " + ", ".join(f"{n} {_version(n)}" for n in names))
    lines.append(f"JSD round: {jsd_solve_in_use()}")
    print("\n".join(lines), file=out)
