"""``modesim figures``: output-directory and format errors are one line; the builder is called right.

The figure builders themselves are tested in tests/figures/; here a stand-in
``modesim.figures`` module records what the command asks of it.
"""

from __future__ import annotations

import sys
import types
from pathlib import Path

import pytest

from modesim.cli import main


@pytest.fixture
def fake_figures(monkeypatch):
    calls = []
    spec = types.SimpleNamespace(name="stability", description="the S8 eigenvalue against α",
                                 width="single")
    other = types.SimpleNamespace(name="flow", description="a second figure", width="double")
    module = types.ModuleType("modesim.figures")
    module.FIGURES = {"stability": spec, "flow": other}

    def save_figures(out, *, only=None, formats=("png",), quick=False, width=None, progress=True):
        calls.append({"out": Path(out), "only": only, "formats": list(formats), "quick": quick,
                      "width": width, "progress": progress})
        return [Path(out) / f"stability.{f}" for f in formats]

    module.save_figures = save_figures
    monkeypatch.setitem(sys.modules, "modesim.figures", module)
    return calls


def _error(capsys, *args) -> str:
    assert main(["figures", *args]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and err.startswith("modesim figures: error: ")
    return err


def test_out_is_an_existing_file(capsys, tmp_path, fake_figures):
    path = tmp_path / "notes.txt"
    path.write_text("x")
    assert "exists and is not a directory" in _error(capsys, "--out", str(path))
    assert fake_figures == [] and path.read_text() == "x"


def test_out_cannot_be_created(capsys, fake_figures):
    assert "--out: cannot create directory '/proc/x'" in _error(capsys, "--out", "/proc/x")
    assert fake_figures == []


def test_out_inside_a_file(capsys, tmp_path, fake_figures):
    (tmp_path / "f").write_text("x")
    assert "cannot create directory" in _error(capsys, "--out", str(tmp_path / "f" / "sub"))


def test_bad_format_and_unknown_figure(capsys, tmp_path, fake_figures):
    assert "--format must be some of png, pdf, svg" in _error(capsys, "--format", "gif", "--out",
                                                              str(tmp_path))
    err = _error(capsys, "--only", "nope", "--out", str(tmp_path / "figs"))
    assert "--only: unknown figure(s) nope; registered figures: stability, flow" in err
    assert fake_figures == []
    assert not (tmp_path / "figs").exists()  # a refused call leaves no directory behind


def test_a_good_call_reaches_the_builder(capsys, tmp_path, fake_figures):
    out = tmp_path / "new" / "dir"
    assert main(["figures", "--out", str(out), "--format", "png,PDF,png", "--quick",
                 "--no-progress"]) == 0
    assert fake_figures == [{"out": out, "only": None, "formats": ["png", "pdf"], "quick": True,
                             "width": None, "progress": False}]
    assert out.is_dir() and "wrote 2 file(s)" in capsys.readouterr().err


def test_width_reaches_the_builder_and_a_bad_one_is_named(capsys, tmp_path, fake_figures):
    assert main(["figures", "--out", str(tmp_path), "--width", "single", "--no-progress"]) == 0
    assert fake_figures[-1]["width"] == "single"
    capsys.readouterr()
    err = _error(capsys, "--width", "wide", "--out", str(tmp_path))
    assert "--width must be one of 'single', 'double'; got 'wide'" in err
    assert len(fake_figures) == 1


def test_list(capsys, fake_figures):
    assert main(["figures", "--list"]) == 0
    assert capsys.readouterr().out == ("stability  single  the S8 eigenvalue against α\n"
                                       "flow       double  a second figure\n")


class _NoMatplotlib:
    """An import hook under which importing modesim.figures fails as without matplotlib."""

    def find_spec(self, name, path=None, target=None):
        if name == "modesim.figures":
            raise ModuleNotFoundError("No module named 'matplotlib'", name="matplotlib")
        return None


def test_missing_plotting_dependency_is_named(capsys, monkeypatch, tmp_path):
    monkeypatch.delitem(sys.modules, "modesim.figures", raising=False)
    monkeypatch.setattr(sys, "meta_path", [_NoMatplotlib(), *sys.meta_path])
    err = _error(capsys, "--out", str(tmp_path))
    assert "needs the package 'matplotlib'; install it with: pip install matplotlib" in err


def test_only_may_be_repeated(capsys, tmp_path, fake_figures):
    """``--only a --only b`` builds both (it built only the last one; found by a README
    walkthrough), as ``--only a b`` does."""
    for args in (["--only", "stability", "--only", "flow"], ["--only", "stability", "flow"]):
        assert main(["figures", "--out", str(tmp_path), "--no-progress", *args]) == 0
        assert fake_figures.pop()["only"] == ["stability", "flow"]
