"""``modesim run``: worked numbers, every option, input files, output formats, and refusals."""

from __future__ import annotations

import csv
import io
import json
import math
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import modesim as ms
from modesim.cli import main

ROOT = Path(__file__).resolve().parents[2]


def run(capsys, *args):
    status = main(["run", *args])
    out = capsys.readouterr()
    return status, out.out, out.err


def run_json(capsys, *args):
    status, out, err = run(capsys, *args, "--json")
    assert status == 0, err
    return json.loads(out)


def table_rows(text: str) -> list[list[str]]:
    """Data rows of the table (after the comment lines and the header), split on 2+ spaces."""
    lines = [ln for ln in text.splitlines() if ln and not ln.startswith("#")]
    return [re.split(r"\s{2,}", ln.strip()) for ln in lines]


# ------------------------------------------------------------------ worked numbers (theory §3.4–§4)


def test_run_json_schema_and_worked_numbers(capsys):
    out = run_json(capsys, "--base", "0.6,0.3,0.1", "--rule", "sd", "--alpha", "0.5", "--rounds", "5",
                   "--ood-valid", "0,1,1")
    rounds = out["rounds"]
    assert [r["round"] for r in rounds] == [0, 1, 2, 3, 4, 5]
    assert set(rounds[0]) >= {"round", "policy", "pass_at_k", "pass_at_k_ood", "entropy", "effective_modes"}
    assert list(rounds[0]["pass_at_k"]) == ["1", "2", "4", "8", "16", "32", "64"]
    np.testing.assert_allclose(rounds[-1]["policy"], [0.847, 0.138, 0.014], atol=1e-3)
    ood = rounds[-1]["pass_at_k_ood"]
    np.testing.assert_allclose([ood["1"], ood["16"]], [0.153, 0.930], atol=1e-3)
    assert out["units"]["entropy"] == "nats"


def test_json_holds_the_rule_parameters_as_a_dict(capsys):
    out = run_json(capsys, "--base", "0.5,0.3,0.2", "--teacher", "tilt", "--kappa", "-1",
                   "--demos", "uniform", "--teacher-base", "ema:0.5", "--beta", "0.2",
                   "--step-size", "0.5", "--objective", "forward", "--rounds", "1")
    assert out["rule_params"] == {
        "type": "SelfDistillation",
        "teacher": {"type": "TiltTeacher", "kappa": -1.0, "similarity": None},
        "demos": {"type": "UniformDemos"},
        "objective": "forward", "beta": 0.2, "step_size": 0.5,
        "teacher_base": {"type": "EMA", "tau": 0.5}, "reference": "base", "jsd_weight": None,
    }
    assert out["modesim_version"] == ms.__version__ and out["rule"] == "sd"
    assert out["rule_params"] == run_json(capsys, "--base", "0.5,0.3,0.2", "--teacher", "tilt",
                                          "--kappa", "-1", "--demos", "uniform", "--teacher-base",
                                          "ema:0.5", "--beta", "0.2", "--step-size", "0.5",
                                          "--objective", "forward", "--rounds", "1")["rule_params"]


@pytest.mark.parametrize("rule, flags", [("rl-kl", ["--beta", "0.5"]), ("rl-npg", ["--lr", "0.7"]),
                                         ("rl-pg", ["--lr", "0.7"])])
def test_rl_rules_match_their_closed_forms(capsys, rule, flags):
    out = run_json(capsys, "--base", "0.4,0.2,0.4", "--valid", "1,1,0", "--rule", rule, "--rounds", "1", *flags)
    p0, r = np.array([0.4, 0.2, 0.4]), np.array([1.0, 1.0, 0.0])
    if rule == "rl-kl":
        expected = p0 * np.exp(r / 0.5)
    elif rule == "rl-npg":
        expected = p0 * np.exp(0.7 * r)
    else:  # θ += lr·π·(r − J) with J = π(C) = 0.6
        expected = p0 * np.exp(0.7 * p0 * (r - 0.6))
    np.testing.assert_allclose(out["rounds"][1]["policy"], expected / expected.sum(), rtol=1e-13)


def test_rl_kl_default_beta_is_the_filter_limit(capsys):
    out = run_json(capsys, "--base", "0.5,0.3,0.2", "--valid", "1,1,0", "--rule", "rl-kl", "--rounds", "1")
    assert out["rounds"][1]["policy"] == pytest.approx([0.625, 0.375, 0.0], rel=1e-15, abs=0)


def test_sd_options_change_the_dynamics(capsys):
    anti = run_json(capsys, "--base", "0.5,0.3,0.2", "--teacher", "tilt", "--kappa", "-1", "--rounds", "2")
    copy = run_json(capsys, "--base", "0.5,0.3,0.2", "--rounds", "2")
    assert anti["rounds"][-1]["policy"][0] < 0.5 < copy["rounds"][-1]["policy"][0]
    out = run_json(capsys, "--base", "0.5,0.3,0.2", "--demos", "fixed:1", "--demos-in-context", "3",
                   "--rounds", "1")
    assert out["rule_params"]["demos"] == {"type": "FixedDemo", "mode": 1}
    assert out["rule_params"]["teacher"] == {"type": "MultiDemoTeacher", "alpha": 0.5, "m": 3}
    assert out["rounds"][1]["policy"][1] > 0.3


def test_negative_numbers_are_values_not_options(capsys):
    out = run_json(capsys, "--base", "0.5,0.3,0.2", "--teacher", "tilt", "--kappa", "-1e-3", "--rounds", "1")
    assert out["rule_params"]["teacher"]["kappa"] == -1e-3


# ------------------------------------------------------------------ the deprecated --eta


@pytest.mark.parametrize("rule, field", [("rl-npg", "lr"), ("rl-pg", "lr"), ("sd", "step_size")])
def test_eta_is_a_deprecated_alias_mapped_per_rule(capsys, rule, field):
    status, out, err = run(capsys, "--base", "0.6,0.4", "--valid", "1,0", "--rule", rule, "--eta", "0.5",
                           "--rounds", "1", "--json")
    assert status == 0
    assert json.loads(out)["rule_params"][field] == 0.5
    flag = "--" + field.replace("_", "-")
    assert err.strip() == (f"modesim run: warning: --eta is deprecated (removed in modesim 0.3); "
                           f"use {flag} for --rule {rule}")


@pytest.mark.parametrize(
    "args, match",
    [
        (["--rule", "rl-kl", "--eta", "0.5"], "--eta (deprecated) has no meaning for --rule rl-kl"),
        (["--rule", "rl-npg", "--eta", "0.5", "--lr", "0.5"], "give only --lr"),
    ],
)
def test_eta_errors(capsys, args, match):
    status, _, err = run(capsys, "--base", "0.6,0.4", *args)
    assert status == 2 and match in err


# ------------------------------------------------------------------ flags a rule does not use


@pytest.mark.parametrize(
    "args, message",
    [
        (["--rule", "rl-kl", "--alpha", "0.9"],
         "--alpha is not used by --rule rl-kl (ideal KL-regularised RL); it takes --beta, --reference"),
        (["--rule", "rl-npg", "--beta", "0.1", "--step-size", "0.5"],
         "--beta, --step-size are not used by --rule rl-npg"),
        (["--rule", "sd", "--lr", "0.5"], "--lr is not used by --rule sd"),
        (["--teacher", "tilt", "--demos-in-context", "3"],
         "--demos-in-context is not used by --teacher tilt"),
        (["--kappa", "2"], "--kappa is not used by --teacher copy"),
    ],
)
def test_flags_a_rule_does_not_use_are_refused(capsys, args, message):
    status, out, err = run(capsys, "--base", "0.6,0.4", *args)
    assert status == 2 and out == ""
    assert err.startswith("modesim run: error: " + message)
    assert err.count("\n") == 1


# ------------------------------------------------------------------ the table


def test_table_shows_every_requested_k_once(capsys):
    status, out, _ = run(capsys, "--base", "0.6,0.3,0.1", "--rounds", "1", "--k", "1,2,3,2,1",
                         "--ood-valid", "0,1,1")
    header = table_rows(out)[0]
    assert header[4:] == ["pass@1", "pass@2", "pass@3", "ood@1", "ood@2", "ood@3"]
    row = table_rows(out)[1]  # round 0: ood@k = 1 − 0.6^k
    assert row[7:] == [f"{1 - 0.6 ** k:.4g}" for k in (1, 2, 3)]


def test_table_worked_row_and_units(capsys):
    status, out, _ = run(capsys, "--base", "0.6,0.3,0.1", "--rounds", "2", "--ood-valid", "0,1,1")
    assert status == 0
    assert "H(π|C) nats" in out and "in nats" in out and "eff.modes" in out and "ood@16" in out
    pi = ms.sd_optimum(ms.make_task([0.6, 0.3, 0.1]), teacher=ms.CopyTeacher(0.5))
    assert "(" + ", ".join(f"{x:.4g}" for x in pi) + ")" in out  # (0.6458, 0.2783, 0.07594)


def test_tiny_numbers_keep_significant_figures(capsys):
    """β = 0.05 leaves the invalid mode e^{−20}/(1 + e^{−20}) ≈ 2.061e-09, not 0.0000."""
    status, out, _ = run(capsys, "--base", "0.5,0.5", "--valid", "1,0", "--rule", "rl-kl",
                         "--beta", "0.05", "--rounds", "1")
    tiny = math.exp(-20) / (1 + math.exp(-20))
    assert f"{tiny:.4g}" == "2.061e-09" and "2.061e-09" in out
    assert "0.0000" not in out


def test_entropy_of_a_point_mass_prints_as_zero(capsys):
    status, out, _ = run(capsys, "--base", "1,0,0", "--rule", "rl-npg", "--rounds", "2")
    assert status == 0
    for row in table_rows(out)[1:]:
        assert row[2] == "0" and row[3] == "1"
    assert "-0" not in out


def test_many_modes_are_summarised_in_the_table(capsys, tmp_path):
    K = 1000
    p = np.random.default_rng(0).dirichlet(np.ones(K))
    path = tmp_path / "base.csv"
    path.write_text(",".join(map(repr, p.tolist())) + "\n")
    status, out, _ = run(capsys, "--base", f"@{path}", "--rounds", "2", "--k", "1")
    assert status == 0
    top = np.argsort(-p)[:3]
    for line in out.splitlines():
        assert len(re.findall(r"\d\.\d+", line)) < 15  # never the 1,000 probabilities
    assert f"top 3 of {K}: #{top[0]} {p[top[0]]:.4g}, #{top[1]} {p[top[1]]:.4g}" in out
    full = run_json(capsys, "--base", f"@{path}", "--rounds", "0")
    assert len(full["rounds"][0]["policy"]) == K


# ------------------------------------------------------------------ CSV


def test_csv_has_one_row_per_round_and_every_mode(capsys):
    args = ["--base", "0.6,0.3,0.1", "--rounds", "3", "--k", "1,4", "--ood-valid", "0,1,1"]
    status, out, _ = run(capsys, *args, "--csv")
    assert status == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    ref = run_json(capsys, *args)["rounds"]
    assert list(rows[0]) == ["round", "entropy_nats", "effective_modes", "pass@1", "pass@4",
                             "ood_pass@1", "ood_pass@4", "p0", "p1", "p2"]
    assert len(rows) == 4
    for row, r in zip(rows, ref):
        assert int(row["round"]) == r["round"]
        assert [float(row[f"p{i}"]) for i in range(3)] == r["policy"]  # full precision
        assert float(row["ood_pass@4"]) == r["pass_at_k_ood"]["4"]


def test_json_and_csv_exclude_each_other(capsys):
    with pytest.raises(SystemExit):
        main(["run", "--base", "0.5,0.5", "--json", "--csv"])
    assert "not allowed with argument" in capsys.readouterr().err


# ------------------------------------------------------------------ --base from a file or stdin


def test_base_file_with_valid_row_comments_and_whitespace(capsys, tmp_path):
    path = tmp_path / "base.txt"
    path.write_text("# base policy, then the valid mask\n0.4 0.2\t0.4\n\n1, 1, 0  # mask\n")
    a = run_json(capsys, "--base", f"@{path}", "--rule", "rl-npg", "--rounds", "1")
    b = run_json(capsys, "--base", "0.4,0.2,0.4", "--valid", "1,1,0", "--rule", "rl-npg", "--rounds", "1")
    assert a["rounds"] == b["rounds"] and a["valid"] == [1, 1, 0]


def test_base_file_as_one_column(capsys, tmp_path):
    path = tmp_path / "col.txt"
    np.savetxt(path, [0.2, 0.3, 0.5])
    out = run_json(capsys, "--base", f"@{path}", "--rounds", "0")
    assert out["base"] == [0.2, 0.3, 0.5]


def test_base_from_stdin_in_a_real_pipe():
    K = 7000  # more modes than a command line holds comfortably
    p = np.full(K, 1.0 / K)
    text = ",".join(map(repr, p.tolist())) + "\n" + ",".join("1" if i % 2 else "0" for i in range(K))
    proc = subprocess.run([sys.executable, "-m", "modesim", "run", "--base", "-", "--rule", "rl-npg",
                           "--rounds", "1", "--json"], input=text, capture_output=True, text=True,
                          cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert len(out["base"]) == K and sum(out["valid"]) == K // 2
    # NPG with lr = 1: valid modes gain e against invalid ones.
    np.testing.assert_allclose(out["rounds"][1]["policy"][:2], np.array([1, math.e]) / (K / 2 * (1 + math.e)),
                               rtol=1e-12)


@pytest.mark.parametrize(
    "content, match",
    [
        ("", "holds no numbers"),
        ("# only a comment\n", "holds no numbers"),
        ("0.5,0.5\n1,0\n1,1\n", "must hold one row (the base policy) or two rows"),
        ("0.5,x\n", "--base entry 2 (line 1 of"),
        ("0.5,,0.5\n", "--base has an empty entry at position 2 (line 1 of"),
        ("0.5,0.5\n1,2\n", "entries must be 0 or 1; got 2 at position 2"),
        ("0.5,0.5\n1,0,1\n", "has 3 entries; --base has 2 modes"),
    ],
)
def test_bad_base_files(capsys, tmp_path, content, match):
    path = tmp_path / "base.csv"
    path.write_text(content)
    status, _, err = run(capsys, "--base", f"@{path}")
    assert status == 2 and match in err and err.count("\n") == 1


def test_unreadable_base_files(capsys, tmp_path):
    status, _, err = run(capsys, "--base", f"@{tmp_path / 'missing.csv'}")
    assert status == 2 and "cannot read" in err and "No such file or directory" in err
    status, _, err = run(capsys, "--base", f"@{tmp_path}")
    assert status == 2 and "cannot read" in err
    status, _, err = run(capsys, "--base", "@")
    assert status == 2 and "needs a file name" in err


def test_valid_mask_given_twice(capsys, tmp_path):
    path = tmp_path / "base.csv"
    path.write_text("0.5,0.5\n1,0\n")
    status, _, err = run(capsys, "--base", f"@{path}", "--valid", "1,1")
    assert status == 2 and "the valid mask is given twice" in err


# ------------------------------------------------------------------ bad values


@pytest.mark.parametrize(
    "args, match",
    [
        (["--base", "-0.2,0.7,0.5"], "base must be non-negative"),
        (["--base", "0.6,,0.4"], "--base has an empty entry at position 2"),
        (["--base", "0.6,0.4,"], "--base has an empty entry at position 3"),
        (["--base", "0.6,abc"], "--base entry 2 is not a number: 'abc'"),
        (["--base", "0.6,0.3"], "base"),
        (["--base", "0.6,0.3,0.1", "--valid", "1,1"], "--valid has 2 entries; --base has 3 modes"),
        (["--base", "0.6,0.4", "--valid", "0,0"], "--valid must mark at least one mode with 1"),
        (["--base", "0.6,0.4", "--valid", "1,0.5"], "--valid entries must be 0 or 1; got 0.5 at position 2"),
        (["--base", "0.6,0.4", "--ood-valid", "0,0"], "--ood-valid must mark at least one mode"),
        (["--base", "0.6,0.4", "--alpha", "1.2"], "alpha must be in [0, 1); got 1.2"),
        (["--base", "0.6,0.4", "--step-size", "5"], "--step-size must be in (0, 1]; got 5.0"),
        (["--base", "0.6,0.4", "--rule", "rl-npg", "--lr", "0"], "lr must be a finite number > 0"),
        (["--base", "0.6,0.4", "--teacher-base", "ema:abc"], "--teacher-base must look like ema:TAU"),
        (["--base", "0.6,0.4", "--teacher-base", "ema:2"], "--teacher-base ema:TAU must be in [0, 1]"),
        (["--base", "0.6,0.4", "--teacher-base", "old"], "--teacher-base must be current, frozen or ema:TAU"),
        (["--base", "0.6,0.4", "--demos", "fixed:x"], "--demos must look like fixed:N"),
        (["--base", "0.6,0.4", "--demos", "weird"], "--demos must be self, uniform or fixed:N"),
        (["--base", "0.6,0.4", "--k", "0"], "--k must hold positive integers below 2**63 such as 1,4,16; got 0"),
        (["--base", "0.6,0.4", "--k", "1.5"], "--k must hold positive integers"),
        (["--base", "0.6,0.4", "--rounds", "-1"], "rounds"),
    ],
)
def test_bad_input_is_a_one_line_error(capsys, args, match):
    status, out, err = run(capsys, *args)
    assert status == 2 and out == ""
    assert err.startswith("modesim run: error: ") and match in err and err.count("\n") == 1


# ------------------------------------------------------------------ help


def test_help_explains_rules_defaults_and_units(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["run", "--help"])
    assert exc.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    for phrase in ("self-distillation with sampled demonstrations", "ideal KL-regularised RL",
                   "natural policy gradient", "vanilla softmax policy gradient", "nats",
                   "default 0.5", "--lr", "--step-size", "@FILE", "deprecated"):
        assert phrase in text, phrase


def test_console_script_entry_point():
    proc = subprocess.run(
        [sys.executable, "-m", "modesim.cli", "run", "--base", "0.5,0.5", "--rounds", "1", "--json"],
        capture_output=True, text=True, check=True, cwd=ROOT,
    )
    assert json.loads(proc.stdout)["rounds"][1]["round"] == 1


def test_jsd_objective_from_the_command_line_equals_the_library(capsys):
    out = run_json(capsys, "--base", "0.6,0.3,0.1", "--objective", "jsd", "--jsd-weight", "0.5", "--rounds", "1")
    task = ms.make_task([0.6, 0.3, 0.1])
    expected = ms.sd_optimum(task, objective="jsd", jsd_weight=0.5)
    np.testing.assert_allclose(out["rounds"][-1]["policy"], expected, rtol=1e-12)
    assert main(["run", "--base", "0.6,0.3,0.1", "--jsd-weight", "0.5"]) == 2
    assert "--jsd-weight is used only with --objective jsd" in capsys.readouterr().err


@pytest.mark.parametrize("value", ["0", "1", "1e-9", "-3"])
def test_a_jsd_weight_out_of_range_gets_one_message_in_flags(capsys, value):
    """0 and 1 got "(0, 1)" while 1e-9 got "[1e-8, 1 - 1e-8]"; the help said (0, 1).  The
    message no longer advises objective='forward'/'reverse' for λ near 0 or 1: with β > 0
    the round tends to π_ref at both ends, not to those objectives (theory §8.1)."""
    assert main(["run", "--base", "0.6,0.3,0.1", "--objective", "jsd", "--jsd-weight", value]) == 2
    err = capsys.readouterr().err
    assert "--jsd-weight must be in [1e-8, 1 - 1e-8], the exact JSD round's range" in err
    assert "modesim.SampledSD(objective='jsd', jsd_weight=...) in Python takes them" in err
    assert f"got {float(value)!r}" in err


def test_the_json_echoes_the_base_as_given(capsys):
    """The task holds log π0: exp(log 0.4) is 0.39999999999999997, which the echo showed."""
    out = run_json(capsys, "--base", "0.4,0.2,0.4", "--valid", "1,1,0", "--rounds", "0")
    assert out["base"] == [0.4, 0.2, 0.4]


def test_a_run_too_long_to_keep_is_refused_with_the_every_that_fits(capsys):
    """--rounds 1e8 with --every 1 held every row in memory (5.7 GB after 10 min, nothing printed)."""
    from modesim.cli import main
    from modesim.cli.run import MAX_ROWS

    assert main(["run", "--base", "0.6,0.3,0.1", "--rounds", "100000000"]) == 2
    err = capsys.readouterr().err
    need = -(-100_000_000 // (MAX_ROWS - 2))
    assert f"prints 100000001 rows of K = 3 modes; at most {MAX_ROWS} are kept" in err and f"--every {need}" in err
    assert main(["run", "--base", "0.6,0.3,0.1", "--rounds", "100000000", "--every", str(need), "--rounds", "0"]) == 0


@pytest.mark.parametrize("args, message", [
    (["--rounds", "-1"], "--rounds must be an integer >= 0; got -1"),
    (["--every", "0"], "--every must be an integer >= 1; got 0"),
    (["--base", "0.6,0.4,0.1"], "--base must sum to 1"),
])
def test_run_messages_name_the_flags(capsys, args, message):
    from modesim.cli import main

    base = [] if "--base" in args else ["--base", "0.6,0.3,0.1"]
    assert main(["run", *base, *args]) == 2
    assert message in capsys.readouterr().err


def test_no_progress_bar_into_a_file(tmp_path):
    """A long run with stderr redirected to a file wrote 4 KB of progress bars into it."""
    import subprocess
    import sys

    base = tmp_path / "base.csv"
    base.write_text(",".join(["0.0001"] * 10000))
    with open(tmp_path / "err.txt", "w") as err:
        done = subprocess.run([sys.executable, "-m", "modesim", "run", "--base", f"@{base}", "--rounds", "20001",
                               "--every", "20001", "--csv"], stdout=subprocess.DEVNULL, stderr=err, timeout=120)
    assert done.returncode == 0
    assert (tmp_path / "err.txt").read_text() == ""
