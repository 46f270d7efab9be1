"""The ``modesim run`` command."""

import json
import subprocess
import sys

import numpy as np
import pytest

from modesim.cli import main


def run_json(capsys, *args):
    assert main(["run", *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_run_json_schema_and_worked_numbers(capsys):
    out = run_json(capsys, "--base", "0.6,0.3,0.1", "--rule", "sd", "--alpha", "0.5", "--rounds", "5", "--ood-valid", "0,1,1")
    rounds = out["rounds"]
    assert [r["round"] for r in rounds] == [0, 1, 2, 3, 4, 5]
    assert set(rounds[0]) >= {"round", "policy", "pass_at_k", "pass_at_k_ood", "entropy", "effective_modes"}
    assert list(rounds[0]["pass_at_k"]) == ["1", "2", "4", "8", "16", "32", "64"]
    np.testing.assert_allclose(rounds[-1]["policy"], [0.847, 0.138, 0.014], atol=1e-3)
    ood = rounds[-1]["pass_at_k_ood"]
    np.testing.assert_allclose([ood["1"], ood["16"]], [0.153, 0.930], atol=1e-3)


@pytest.mark.parametrize("rule", ["rl-kl", "rl-npg", "rl-pg"])
def test_rl_rules_keep_or_raise_valid_mass(capsys, rule):
    extra = ["--beta", "0.5"] if rule == "rl-kl" else []
    out = run_json(capsys, "--base", "0.4,0.2,0.4", "--valid", "1,1,0", "--rule", rule, "--rounds", "3", *extra)
    first, last = out["rounds"][0], out["rounds"][-1]
    assert last["pass_at_k"]["1"] > first["pass_at_k"]["1"]


def test_run_sd_options(capsys):
    out = run_json(
        capsys, "--base", "0.5,0.3,0.2", "--rule", "sd", "--teacher", "tilt", "--kappa", "-1",
        "--demos", "uniform", "--teacher-base", "ema:0.5", "--beta", "0.2", "--eta", "0.5",
        "--objective", "forward", "--rounds", "2", "--k", "1,3",
    )
    assert list(out["rounds"][0]["pass_at_k"]) == ["1", "3"]
    assert "TiltTeacher(kappa=-1.0" in out["rule_repr"] and "EMA(tau=0.5)" in out["rule_repr"]
    assert "objective='forward'" in out["rule_repr"] and "UniformDemos" in out["rule_repr"]
    anti = out["rounds"][-1]["policy"]
    copy = run_json(capsys, "--base", "0.5,0.3,0.2", "--rounds", "2")["rounds"][-1]["policy"]
    assert anti[0] < 0.5 < copy[0]  # the options change the dynamics, not just the label
    out = run_json(capsys, "--base", "0.5,0.3,0.2", "--demos", "fixed:1", "--demos-in-context", "3", "--rounds", "1")
    assert "FixedDemo(mode=1)" in out["rule_repr"] and "m=3" in out["rule_repr"]
    assert out["rounds"][1]["policy"][1] > 0.3


def test_run_table_is_readable(capsys):
    assert main(["run", "--base", "0.6,0.3,0.1", "--rounds", "2", "--ood-valid", "0,1,1"]) == 0
    text = capsys.readouterr().out
    assert "pass@16" in text and "ood@16" in text and "eff.modes" in text
    assert "(0.6458, 0.2783, 0.0759)" in text


@pytest.mark.parametrize(
    "args, match",
    [
        (["--base", "0.6,0.3,-0.1"], "base must be non-negative"),
        (["--base", "0.6,0.3,0.1", "--valid", "1,1"], "--valid has 2 entries"),
        (["--base", "0.6,0.4", "--alpha", "1.2"], "alpha must lie"),
        (["--base", "0.6,0.4", "--valid", "0,0"], "at least one mode"),
        (["--base", "0.6,0.4", "--eta", "5"], "eta must lie in (0, 1]"),
        (["--base", "0.6,0.4", "--teacher-base", "ema:abc"], "--teacher-base must look like ema:TAU"),
        (["--base", "0.6,0.4", "--demos", "fixed:x"], "--demos must look like fixed:N"),
    ],
)
def test_run_bad_input_is_a_clear_error(capsys, args, match):
    assert main(["run", *args]) == 2
    assert match in capsys.readouterr().err


def test_bad_demos_flag_and_help(capsys):
    with pytest.raises(SystemExit):
        main(["run", "--base", "0.5,0.5", "--demos", "weird"])
    assert "--demos must be" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    assert "self-distillation" in capsys.readouterr().out


def test_console_script_entry_point():
    proc = subprocess.run(
        [sys.executable, "-m", "modesim.cli", "run", "--base", "0.5,0.5", "--rounds", "1", "--json"],
        capture_output=True, text=True, check=True,
    )
    assert json.loads(proc.stdout)["rounds"][1]["round"] == 1
