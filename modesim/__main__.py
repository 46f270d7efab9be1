"""``python -m modesim`` is the ``modesim`` command."""

import sys

from .cli import main

sys.exit(main())
