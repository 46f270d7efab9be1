"""``modesim sweep CONFIG.toml --out PATH``: the entry points the ``modesim`` command wires in
(``add_parser``, ``run``) and ``python -m modesim.sweeps``."""

import argparse
import os
import subprocess
import sys
from pathlib import Path

import pytest
import xarray as xr

import modesim as ms
from modesim.sweeps import cli
from modesim.sweeps.config import load_config

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "sweep.toml"


def _parser():
    parser = argparse.ArgumentParser(prog="modesim")
    sub = parser.add_subparsers(dest="command")
    cli.add_parser(sub)
    return parser


def test_the_example_config_runs_on_a_two_worker_cluster(dask_client, tmp_path, capsys):
    out = tmp_path / "example.zarr"
    args = _parser().parse_args(["sweep", str(EXAMPLE), "--out", str(out), "--scheduler",
                                 dask_client.scheduler.address, "--no-progress"])
    assert args.func(args) == 0
    line = capsys.readouterr().out.strip()
    assert line == (f"wrote {out}: teacher.alpha 10 × beta 5 × objective 2; 9 recorded rounds; "
                    "variables effective_modes, pass_at_k, top_valid, valid_mass")
    in_process = ms.sweep(**load_config(EXAMPLE).kwargs)
    xr.testing.assert_identical(ms.load_sweep(out), in_process)


def test_run_resumes_and_refuses_another_sweep_at_the_same_path(tmp_path):
    out = tmp_path / "s.zarr"
    small = tmp_path / "small.toml"
    small.write_text(EXAMPLE.read_text().replace("rounds = 40", "rounds = 4").replace("every = 5", "every = 2"))
    parse = _parser().parse_args
    assert cli.run(parse(["sweep", str(small), "--out", str(out), "--no-progress"])) == 0
    assert cli.run(parse(["sweep", str(small), "--out", str(out), "--no-progress"])) == 0  # nothing left to do
    small.write_text(small.read_text().replace("rounds = 4", "rounds = 6"))
    with pytest.raises(ValueError, match="holds a different sweep; pass overwrite=True"):
        cli.run(parse(["sweep", str(small), "--out", str(out)]))
    assert cli.run(parse(["sweep", str(small), "--out", str(out), "--overwrite", "--no-progress"])) == 0
    assert ms.load_sweep(out)["round"].values.tolist() == [0, 2, 4, 6]


def test_errors_name_the_config_line(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text(EXAMPLE.read_text().replace("beta = [0.0, 0.25, 0.5, 1.0, 2.0]", "beta = [0.0, -0.25]"))
    with pytest.raises(ValueError, match=r"bad.toml, line 27: grid\['beta'\] value -0.25 \(index 1\) is refused by the rule: beta must be"):
        cli.run(_parser().parse_args(["sweep", str(bad), "--out", str(tmp_path / "x.zarr")]))
    with pytest.raises(ValueError, match="--workers must be at least 1"):
        cli.run(_parser().parse_args(["sweep", str(EXAMPLE), "--out", str(tmp_path / "x.zarr"), "--workers", "0"]))


def test_python_dash_m_prints_one_line_and_exits_2_on_a_mistake(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    missing = subprocess.run([sys.executable, "-m", "modesim.sweeps", str(tmp_path / "none.toml"), "--out", str(tmp_path / "o.zarr")],
                             capture_output=True, text=True, cwd=ROOT, env=env)
    assert missing.returncode == 2
    assert missing.stderr.strip().splitlines() == [f"modesim sweep: error: cannot read the configuration {str(tmp_path / 'none.toml')!r}: No such file or directory"]
    helped = subprocess.run([sys.executable, "-m", "modesim.sweeps", "--help"], capture_output=True, text=True, cwd=ROOT, env=env)
    assert helped.returncode == 0 and "--scheduler ADDRESS" in helped.stdout and "resumes" in helped.stdout


def test_scheduler_and_workers_exclude_each_other(capsys):
    with pytest.raises(SystemExit):
        _parser().parse_args(["sweep", "c.toml", "--out", "o", "--scheduler", "tcp://x:1", "--workers", "2"])
    assert "not allowed with argument" in capsys.readouterr().err
