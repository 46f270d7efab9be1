"""Test collection: every docstring example in modesim/ runs as a doctest (issue 10).

Deprecated shims are skipped: importing them warns by design (tests/envs and
tests/sampled check that they still work).

Examples run with EMPTY globals.  pytest's ``--doctest-modules`` would otherwise run
each example inside its own module's namespace, so an example could use a name its
module happens to define (``iterate``, ``np``, ...) without importing it, and then fail
with ``NameError`` when a user pastes it into a fresh session.  The hook
``pytest_collection_modifyitems`` below replaces each doctest's globals with a fresh
dict holding only ``__name__``: a passing doctest is an example that works as written
in a new interpreter, so every example imports what it uses (``import modesim as ms``,
``from modesim.paths import ...``, ``import numpy as np``).
``tests/test_docstring_examples.py`` checks the same rule without pytest's collector.
"""

from __future__ import annotations

from pytest import DoctestItem

collect_ignore = ["modesim/envs", "modesim/stochastic.py", "modesim/__main__.py", "modesim/cli/__main__.py"]


def pytest_collection_modifyitems(session, config, items):
    """Give every collected doctest empty globals (only ``__name__``), see the module docstring."""
    for item in items:
        if isinstance(item, DoctestItem) and item.dtest is not None:
            name = item.dtest.globs.get("__name__", "__main__")
            item.dtest.globs = {"__name__": name}
