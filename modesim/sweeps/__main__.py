"""``python -m modesim.sweeps CONFIG.toml --out results.zarr``: the sweep command on its own."""

import sys

from .cli import main

sys.exit(main())
