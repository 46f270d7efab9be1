"""Test collection: every docstring example in modesim/ runs as a doctest (issue 10).

Deprecated shims are skipped: importing them warns by design (tests/envs and
tests/sampled check that they still work).
"""

collect_ignore = ["modesim/envs", "modesim/stochastic.py", "modesim/__main__.py", "modesim/cli/__main__.py"]
