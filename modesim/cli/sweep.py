"""``modesim sweep CONFIG.toml --out results.zarr``: a parameter sweep (theory §1, grids).

The command lives with the engine in :mod:`modesim.sweeps.cli` (its TOML format is
documented in :mod:`modesim.sweeps.config`); this module plugs it into ``modesim``.
"""

from ..sweeps.cli import add_parser
from ..sweeps.cli import run as main

__all__ = ["add_parser", "main"]
