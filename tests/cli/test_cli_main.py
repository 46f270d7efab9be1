"""The ``modesim`` command as a whole: --version, help, the error path, closed pipes, plug-ins."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import types
from pathlib import Path

import pytest

import modesim as ms
import modesim.cli as cli
from modesim.cli import main

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def modesim(*args, **kw):
    return subprocess.run([sys.executable, "-m", "modesim", *args], capture_output=True, text=True,
                          cwd=ROOT, env=ENV, **kw)


def test_version(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out == f"modesim {ms.__version__}\n"


def test_versions_prints_what_show_versions_prints(capsys):
    """``modesim versions`` is ``modesim.show_versions()`` on stdout (what a bug report needs)."""
    assert main(["versions"]) == 0
    text = capsys.readouterr().out
    ms.show_versions()
    assert text == capsys.readouterr().out
    assert text.startswith(f"modesim {ms.__version__}\n") and "JSD round:" in text


def test_top_level_help_lists_the_commands(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    text = capsys.readouterr().out
    assert all(name in text for name in cli.SUBCOMMANDS)
    assert "preserves" in text and "amplifies" in text


def test_no_command_prints_help_and_exits_2(capsys):
    assert main([]) == 2
    assert "COMMAND" in capsys.readouterr().err


def test_help_loads_no_heavy_dependency():
    code = ("import sys; from modesim.cli import make_parser; make_parser(); "
            "print(sorted({m.split('.')[0] for m in sys.modules} & "
            "{'hypothesis', 'matplotlib', 'scipy', 'sympy', 'networkx'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                         env=ENV, check=True)
    assert out.stdout.strip() == "[]"


# ------------------------------------------------------------------ closed pipes (a real `| head`)


def test_run_into_head_exits_quietly():
    proc = subprocess.run(
        f"{sys.executable} -m modesim run --base 0.6,0.3,0.1 --rule rl-npg --rounds 3000 | head -3",
        shell=True, capture_output=True, text=True, cwd=ROOT, env=ENV,
    )
    assert len(proc.stdout.splitlines()) == 3 and proc.stdout.startswith("# rule:")
    assert proc.stderr == ""


def test_closed_pipe_status_and_silence():
    """The reader goes away before anything is written: no traceback, status 141 (128 + SIGPIPE)."""
    for args in (["run", "--base", "0.6,0.3,0.1", "--rule", "rl-npg", "--rounds", "3000"],
                 ["verify", "--theorem", "R1", "--examples", "3", "--json"]):
        proc = subprocess.Popen([sys.executable, "-m", "modesim", *args], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, cwd=ROOT, env=ENV)
        proc.stdout.close()
        err = proc.stderr.read().decode()
        proc.stderr.close()
        assert proc.wait() == 128 + signal.SIGPIPE
        assert "Traceback" not in err and "BrokenPipe" not in err and "Exception ignored" not in err


def test_verify_json_into_head():
    proc = subprocess.run(
        f"{sys.executable} -m modesim verify --theorem R1 --examples 3 --json | head -c 20",
        shell=True, capture_output=True, text=True, cwd=ROOT, env=ENV,
    )
    assert proc.stdout.startswith('{"modesim_version"')
    assert "Traceback" not in proc.stderr and "Error" not in proc.stderr


# ------------------------------------------------------------------ the error path


def _plugin(monkeypatch, func):
    """Register a subcommand ``boom`` running ``func`` (the way `modesim sweep` will plug in)."""

    def add_parser(sub):
        p = sub.add_parser("boom", help="test command")
        p.add_argument("--n", type=int, default=1)
        p.set_defaults(func=func)
        return p

    module = types.ModuleType("modesim.cli.boom")
    module.add_parser, module.main = add_parser, func
    monkeypatch.setitem(sys.modules, "modesim.cli.boom", module)
    monkeypatch.setattr(cli, "SUBCOMMANDS", (*cli.SUBCOMMANDS, "boom"))


def test_a_new_subcommand_plugs_in(monkeypatch, capsys):
    _plugin(monkeypatch, lambda args: print("n =", args.n) or 0)
    assert main(["boom", "--n", "3"]) == 0
    assert capsys.readouterr().out == "n = 3\n"


@pytest.mark.parametrize(
    "exc, line",
    [
        (ValueError("rounds must be an integer >= 0; got -1"),
         "modesim boom: error: rounds must be an integer >= 0; got -1\n"),
        (FileNotFoundError(2, "No such file or directory", "/x/y.csv"),
         "modesim boom: error: No such file or directory: '/x/y.csv'\n"),
        (PermissionError(13, "Permission denied", "out.zarr"),
         "modesim boom: error: Permission denied: 'out.zarr'\n"),
        (OSError(28, "No space left on device"), "modesim boom: error: [Errno 28] No space left on device\n"),
    ],
)
def test_user_mistakes_are_one_line_errors(monkeypatch, capsys, exc, line):
    def fail(args):
        raise exc

    _plugin(monkeypatch, fail)
    assert main(["boom"]) == 2
    assert capsys.readouterr().err == line


def test_interrupt_is_quiet(monkeypatch, capsys):
    def stop(args):
        raise KeyboardInterrupt

    _plugin(monkeypatch, stop)
    assert main(["boom"]) == 130
    assert capsys.readouterr().err == "modesim boom: interrupted\n"


def test_a_bug_is_not_disguised_as_a_user_error(monkeypatch):
    def bug(args):
        raise ZeroDivisionError("internal")

    _plugin(monkeypatch, bug)
    with pytest.raises(ZeroDivisionError):
        main(["boom"])


def test_parser_error_format_matches_the_error_path(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["run", "--base", "0.5,0.5", "--rounds", "x"])
    assert exc.value.code == 2
    assert "modesim run: error: argument --rounds: invalid int value: 'x'" in capsys.readouterr().err


def test_negative_values_are_read_as_values():
    parser = cli.make_parser()
    args = parser.parse_args(["run", "--base", "-0.2,0.7,0.5", "--kappa", "-1e-3", "--beta", "-.5"])
    assert (args.base, args.kappa, args.beta) == ("-0.2,0.7,0.5", -1e-3, -0.5)
    assert isinstance(parser, argparse.ArgumentParser)


def test_a_terminal_without_unicode_gets_replacement_characters():
    proc = subprocess.run([sys.executable, "-m", "modesim", "run", "--base", "0.6,0.4", "--rounds", "1"],
                          capture_output=True, text=True, cwd=ROOT,
                          env={**ENV, "PYTHONIOENCODING": "ascii"})
    assert proc.returncode == 0 and proc.stderr == ""
    assert "H(?|C) nats" in proc.stdout


def test_a_missing_optional_dependency_is_one_line_naming_the_extra(capsys, monkeypatch):
    """A command whose extra is not installed ends with one line and exit status 2 (it
    printed a traceback)."""
    import modesim.cli.run as run

    def missing(args):
        raise ModuleNotFoundError("No module named 'zarr'", name="zarr")

    monkeypatch.setattr(run, "main", missing)
    from modesim.cli import main

    assert main(["run", "--base", "0.5,0.5"]) == 2
    err = capsys.readouterr().err
    assert err == "modesim run: error: this command needs zarr, which is not installed (pip install 'modesim[sweep]'; in a checkout: pip install -e '.[sweep]')\n"
