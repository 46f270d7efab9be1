"""``modesim sweep`` through the real command: the example config on a 2-worker local cluster
started by the command itself (issue 11), equal to the in-process sweep."""

from pathlib import Path

import xarray as xr

import modesim as ms
from modesim.cli import main
from modesim.sweeps.config import load_config

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "sweep.toml"


def test_modesim_sweep_runs_the_example_on_two_workers(tmp_path, capsys):
    out = tmp_path / "example.zarr"
    assert main(["sweep", str(EXAMPLE), "--out", str(out), "--workers", "2", "--no-progress"]) == 0
    assert capsys.readouterr().out.startswith(f"wrote {out}")
    xr.testing.assert_identical(ms.load_sweep(out), ms.sweep(**load_config(EXAMPLE).kwargs))


def test_modesim_sweep_reports_a_bad_config_on_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text("rounds = -1\n[rule]\ntype = 'NaturalPG'\n[task]\nbase = [0.5, 0.5]\n[grid]\nlr = [1.0]\n")
    assert main(["sweep", str(bad), "--out", str(tmp_path / "o.zarr")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("modesim sweep: error:") and "rounds" in err and "Traceback" not in err


def test_modesim_sweep_without_the_sweep_extra_says_what_to_install(tmp_path, capsys, monkeypatch):
    """Without xarray (simulated: its import fails) the command printed a two-exception
    traceback (exit 1); it now says what is missing and which extra installs it."""
    import sys

    for name in [m for m in sys.modules if m == "xarray" or m.startswith(("xarray.", "modesim.sweeps"))]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "xarray", None)
    example = Path(__file__).resolve().parents[2] / "examples" / "sweep.toml"
    assert main(["sweep", str(example), "--out", str(tmp_path / "r.zarr")]) == 2
    err = capsys.readouterr().err
    assert "modesim sweep: error: modesim sweeps need xarray" in err and "pip install 'modesim[sweep]'" in err
    assert "Traceback" not in err
