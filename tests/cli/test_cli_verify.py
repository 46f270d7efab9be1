"""``modesim verify``: table, JSON, controls, failures with runnable snippets, progress, no litter."""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import modesim as ms
from modesim import theorems as th
from modesim.cli import main
from modesim.theorems import engine

ROOT = Path(__file__).resolve().parents[2]


def _sd_forward(task, teacher, beta):
    return ms.sd_optimum(task, teacher=teacher, beta=beta, objective="forward", log=True)


def _exec_snippet(code: str) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "<snippet>", "exec"), {})
    return out.getvalue()


def test_table_and_exit_status(capsys):
    assert main(["verify", "--theorem", "S4", "S8", "--examples", "10"]) == 0
    out, err = capsys.readouterr()
    assert "S4" in out and "S8" in out and "2/2 ok in" in out
    # One line per theorem on stderr as each ends, numbered.
    assert "[1/2] S4" in err and "[2/2] S8" in err and "10 instances" in err


def test_json_with_controls(capsys):
    assert main(["verify", "--theorem", "S4", "--examples", "30", "--controls", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    kinds = {r["id"]: r["kind"] for r in data["reports"]}
    assert kinds == {"S4": "theorem", "S4:anti-copy": "control", "S4:bound-invalid-modes": "control"}
    assert data["ok"] and all(r["ok"] for r in data["reports"])
    assert data["modesim_version"] == ms.__version__ and data["examples"] == 30
    control = data["reports"][1]
    assert control["snippet"].startswith("import numpy")
    assert set(control["counterexample"]["params"]) == {"kappa", "beta"}


def test_repeated_ids_run_once(capsys):
    assert main(["verify", "--theorem", "S8", "S8", "--examples", "3", "--json"]) == 0
    assert [r["id"] for r in json.loads(capsys.readouterr().out)["reports"]] == ["S8"]


def test_a_failure_prints_a_runnable_counterexample(capsys, monkeypatch):
    broken = dataclasses.replace(th.get("S4"), default_impl=_sd_forward)
    monkeypatch.setitem(engine._THEOREMS, "S4", broken)
    assert main(["verify", "--theorem", "S4", "--examples", "50"]) == 1
    out = capsys.readouterr().out
    assert "FAIL" in out and "FAILED: S4" in out
    snippet = out[out.index("import numpy"):out.index("\n0/1 ok")]
    assert "VIOLATED" in _exec_snippet(snippet)


def test_unknown_ids_and_bad_numbers_are_one_line_errors(capsys):
    assert main(["verify", "--theorem", "S99"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("modesim verify: error: theorem must be one of") and err.count("\n") == 1
    assert main(["verify", "--examples", "0"]) == 2
    assert "--examples must be an integer >= 1; got 0" in capsys.readouterr().err
    assert main(["verify", "--seed", "-1"]) == 2
    assert "--seed must be an integer >= 0; got -1" in capsys.readouterr().err


def test_list_shows_sections(capsys):
    assert main(["verify", "--list"]) == 0
    out = capsys.readouterr().out
    assert all(t.id in out for t in th.REGISTRY) and "S4:bound-invalid-modes" in out
    s4 = next(line for line in out.splitlines() if line.startswith("S4 "))
    assert "§3.4" in s4 and "theory" in out.splitlines()[0]


def test_progress_bar_while_a_theorem_runs(capsys):
    assert main(["verify", "--theorem", "R1", "--examples", "40", "--progress"]) == 0
    err = capsys.readouterr().err
    assert re.search(r"R1 .*\d+/40 \[", err)  # tqdm's counter of checked instances
    assert main(["verify", "--theorem", "R1", "--examples", "5", "--no-progress"]) == 0
    assert "/5" not in capsys.readouterr().err


def test_help_states_timing(capsys):
    with pytest.raises(SystemExit):
        main(["verify", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "2-core machine" in text and "Nothing is written to the working directory" in text


def test_no_hypothesis_directory_in_the_working_directory(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("HYPOTHESIS_STORAGE_DIRECTORY", None)
    proc = subprocess.run([sys.executable, "-m", "modesim", "verify", "--theorem", "S4", "R3",
                           "--examples", "20", "--controls"], cwd=tmp_path, env=env,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert list(tmp_path.iterdir()) == []


def test_no_progress_is_silent_on_stderr(capsys):
    assert main(["verify", "--theorem", "S4", "--examples", "5", "--no-progress"]) == 0
    out, err = capsys.readouterr()
    assert "S4" in out and err == ""
