"""``modesim.show_versions``: what a bug report needs, including which JSD solve runs and why."""

from __future__ import annotations

import io
import sys
import types

import pytest

import modesim as ms
import modesim.jsd_solve as jsd_solve
from modesim._versions import jsd_solve_in_use


def test_show_versions_prints_modesim_python_every_dependency_and_the_jsd_solve():
    buf = io.StringIO()
    ms.show_versions(file=buf)
    lines = buf.getvalue().splitlines()
    assert lines[0] == f"modesim {ms.__version__}"
    assert lines[1].startswith(f"python {sys.version.split()[0]} (")
    import numpy

    assert f"numpy {numpy.__version__}" in lines[2] and lines[2].startswith("core: ")
    assert lines[3].startswith("fast: numba ") and lines[4].startswith("sweep: xarray ")
    assert lines[5].startswith("JSD round: ")


def test_show_versions_refuses_what_it_cannot_print_to():
    with pytest.raises(ValueError, match="file must be a text stream with a write method .*got 3"):
        ms.show_versions(file=3)
    for stream in (io.StringIO, io.BytesIO()):      # the class itself; a binary stream (TypeError in print)
        with pytest.raises(ValueError, match="file must be a text stream"):
            ms.show_versions(file=stream)


@pytest.mark.parametrize("value", ["0", "off", " False "])
def test_the_jsd_line_names_modesim_numba_when_it_turns_the_kernel_off(monkeypatch, value):
    monkeypatch.setenv("MODESIM_NUMBA", value)
    assert jsd_solve_in_use() == f"numpy solve (MODESIM_NUMBA={value} turns the compiled kernel off)"


def test_the_jsd_line_says_compiled_or_why_not(monkeypatch):
    """The four states: compiled (numba here), numba not installed (the import made to fail),
    and a numba that cannot load (its error, which the round otherwise keeps to itself)."""
    monkeypatch.delenv("MODESIM_NUMBA", raising=False)
    if jsd_solve._kernel() is not None:
        assert jsd_solve_in_use().startswith("compiled kernel (numba ")
        assert "the numpy solve for the others" in jsd_solve_in_use()
    jsd_solve._kernel_from_numba.cache_clear()
    try:
        monkeypatch.setitem(sys.modules, "numba", None)
        monkeypatch.delitem(sys.modules, "modesim._jsd_kernel", raising=False)
        monkeypatch.setattr(jsd_solve, "_KERNEL_ERROR", None)
        assert "numba is not installed; pip install 'modesim[fast]'" in jsd_solve_in_use()
        jsd_solve._kernel_from_numba.cache_clear()
        monkeypatch.setitem(sys.modules, "numba", types.ModuleType("numba"))
        line = jsd_solve_in_use()
        assert "is installed but could not load: AttributeError" in line, line
    finally:
        monkeypatch.undo()
        jsd_solve._kernel_from_numba.cache_clear()
