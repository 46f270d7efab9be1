"""``python -m modesim.cli`` is the ``modesim`` command."""

import sys

from . import main

sys.exit(main())
