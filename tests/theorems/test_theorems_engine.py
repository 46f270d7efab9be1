"""The search engine of modesim.theorems: data types, lookup, verify's contract and errors."""

from __future__ import annotations

import json
import math
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import configuration
from hypothesis import strategies as st

import modesim as ms
from modesim import theorems as th
from modesim.testing import tasks
from modesim.theorems import engine

ROOT = Path(__file__).resolve().parents[2]


def _s4_instance():
    return th.Instance(ms.make_task([0.6, 0.3, 0.1]), {"alpha": 0.5, "beta": 0.0})


# ------------------------------------------------------------------ the public API


def test_public_names_import_from_the_package():
    from modesim.theorems import CONTROLS, REGISTRY, controls_for, get, get_control, verify

    assert REGISTRY and CONTROLS
    assert get("S4") is REGISTRY[7] and get_control("S4:anti-copy") in controls_for("S4")
    assert callable(verify)


def test_nothing_in_the_package_parses_arguments():
    import modesim.theorems as pkg

    for module in (pkg, pkg.engine, pkg.registry, pkg.checks, pkg.formulas):
        assert "argparse" not in vars(module)


# ------------------------------------------------------------------ Outcome and Instance


def test_outcome_margin_is_the_worst_clause():
    out = th.Outcome({"a": 0.5, "b": -0.25})
    assert out.margin == -0.25 and out.worst == "b" and not out.holds
    assert "VIOLATED" in str(out) and "b=-0.25" in str(out)
    assert th.Outcome({"a": 1e-9}).holds
    assert th.Outcome({}).margin == math.inf
    err = th.Outcome({}, error="ValueError: x")
    assert err.margin == -math.inf and err.worst == "error" and not err.holds


def test_instance_checks_its_arguments():
    with pytest.raises(ValueError, match="task must be a modesim Task"):
        th.Instance([0.6, 0.4], {"alpha": 0.5})
    with pytest.raises(ValueError, match="params must be a mapping"):
        th.Instance(ms.make_task([0.6, 0.4]), [("alpha", 0.5)])


def test_instance_outcome_and_report_pickle():
    inst = _s4_instance()
    again = pickle.loads(pickle.dumps(inst))
    assert repr(again) == repr(inst) and again["alpha"] == 0.5
    out = th.get("S4").check(inst)
    assert pickle.loads(pickle.dumps(out)) == out
    rep = th.verify(th.get_control("S4:anti-copy"), examples=50)
    back = pickle.loads(pickle.dumps(rep))
    assert back.ok and repr(back.counterexample) == repr(rep.counterexample)


# ------------------------------------------------------------------ lookup errors


@pytest.mark.parametrize("bad", ["S99", "", None, ["S4"], 4])
def test_get_names_the_known_ids(bad):
    with pytest.raises(ValueError, match=r"theorem must be one of \['R1'.*got"):
        th.get(bad)
    with pytest.raises(ValueError, match=r"control must be one of \['R1:sd-optimum'.*got"):
        th.get_control(bad)
    with pytest.raises(ValueError, match="theorem must be one of"):
        th.controls_for(bad)


def test_check_refuses_unknown_clauses_and_non_instances():
    s4 = th.get("S4")
    with pytest.raises(ValueError, match=r"unknown clause\(s\) \['nope'\] for S4; allowed: \['formula'"):
        s4.check(_s4_instance(), parts=["nope"])
    with pytest.raises(ValueError, match="parts must be clause names"):
        s4.check(_s4_instance(), parts=[1])
    with pytest.raises(ValueError, match="instance must be a modesim.theorems.Instance"):
        s4.check(ms.make_task([0.6, 0.4]))
    assert set(s4.check(_s4_instance(), parts="bound").parts) == {"bound"}


def test_registration_refuses_duplicates_and_dangling_controls(monkeypatch):
    monkeypatch.setattr(engine, "_THEOREMS", dict(engine._THEOREMS))
    monkeypatch.setattr(engine, "_CONTROLS", dict(engine._CONTROLS))
    with pytest.raises(ValueError, match="theorem id 'S4' is registered twice"):
        engine._register([th.get("S4")], [])
    ghost = th.Control("X:y", "X", "nothing", st.just(_s4_instance()), ("formula",))
    with pytest.raises(ValueError, match="refers to unknown theorem 'X'"):
        engine._register([], [ghost])
    bad_part = th.Control("S4:z", "S4", "nothing", st.just(_s4_instance()), ("nope",))
    with pytest.raises(ValueError, match="judges unknown clause"):
        engine._register([], [bad_part])
    with pytest.raises(ValueError, match="theorem must be a modesim.theorems.Theorem"):
        engine._register(["S4"], [])


# ------------------------------------------------------------------ verify


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"examples": 0}, "examples must be an integer >= 1; got 0"),
        ({"examples": 1.5}, "examples must be an integer; got 1.5"),
        ({"examples": True}, "examples must be an integer; got True"),
        ({"seed": -1}, "seed must be an integer >= 0; got -1"),
        ({"seed": "x"}, "seed must be an integer; got 'x'"),
        ({"progress": 3}, "progress must be a callable"),
    ],
)
def test_verify_names_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        th.verify("S4", **kwargs)


@pytest.mark.parametrize("item", [None, 4, ms.make_task([0.5, 0.5])])
def test_verify_refuses_what_is_not_an_entry(item):
    with pytest.raises(ValueError, match="item must be a Theorem, a Control or an id"):
        th.verify(item)


def test_verify_takes_ids():
    assert th.verify("S8", examples=5).id == "S8"
    rep = th.verify("S4:anti-copy", examples=50)
    assert rep.kind == "control" and rep.ok
    with pytest.raises(ValueError, match="theorem must be a theorem id"):
        th.verify("S99")


def test_verify_is_reproducible():
    a = th.verify("S4:bound-invalid-modes", examples=100, seed=3)
    b = th.verify("S4:bound-invalid-modes", examples=100, seed=3)
    assert a.snippet == b.snippet and a.examples == b.examples and a.worst_margin == b.worst_margin


def test_progress_is_called_once_per_checked_instance():
    calls = []
    rep = th.verify("R1", examples=25, progress=lambda n, found: calls.append((n, found)))
    assert [n for n, _ in calls] == list(range(1, 26)) and rep.examples == 25
    assert not any(found for _, found in calls)
    calls.clear()
    rep = th.verify("S4:anti-copy", examples=100, progress=lambda n, found: calls.append((n, found)))
    assert len(calls) == rep.examples and calls[-1][1]  # found, then shrinking


def test_report_as_dict_is_json_with_the_counterexample_as_data():
    rep = th.verify("S4:anti-copy", examples=100)
    d = json.loads(json.dumps(rep.as_dict()))
    cx = d["counterexample"]
    assert set(cx) == {"base", "valid", "params"}
    assert cx["base"] == rep.counterexample.task.base.tolist()
    assert set(cx["params"]) == {"kappa", "beta"}
    assert d["outcome"]["parts"]["amplification"] < 0 and d["ok"]
    clean = json.loads(json.dumps(th.verify("S8", examples=3).as_dict()))
    assert clean["counterexample"] is None and clean["outcome"] is None


_SEARCH = {
    "verify": "from modesim.theorems import verify; verify('S4', examples=30)",
    # The same search through hypothesis directly, without verify's guard.
    "bare": (
        "from hypothesis import find, settings; from modesim.theorems import get\n"
        "find(get('S4').strategy, lambda i: False, settings=settings(database=None, max_examples=30))"
    ),
}


def _search_in(cwd, which):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("HYPOTHESIS_STORAGE_DIRECTORY", None)
    proc = subprocess.run([sys.executable, "-c", _SEARCH[which]], cwd=cwd, env=env,
                          capture_output=True, text=True)
    assert proc.returncode in (0, 1), proc.stderr  # find() ends with NoSuchExample
    return sorted(p.name for p in cwd.iterdir())


def test_verify_writes_nothing_into_the_working_directory(tmp_path):
    """hypothesis caches the constants of local source files in ./.hypothesis; verify does not."""
    (tmp_path / "bare").mkdir()
    (tmp_path / "verify").mkdir()
    assert _search_in(tmp_path / "bare", "bare") == [".hypothesis"]  # the guard is needed
    assert _search_in(tmp_path / "verify", "verify") == []


def test_verify_restores_hypothesis_storage_setting():
    before = getattr(configuration, "__hypothesis_home_directory")
    th.verify("S4", examples=5)
    assert getattr(configuration, "__hypothesis_home_directory") == before


def test_instances_builds_instances_from_strategies():
    from hypothesis import find

    inst = find(th.instances(tasks(), beta=st.just(0.5)), lambda _: True)
    assert isinstance(inst, th.Instance) and inst["beta"] == 0.5


def test_instances_refuses_non_strategies_by_name():
    with pytest.raises(ValueError, match=r"task_strategy must be a hypothesis SearchStrategy of Task.*got"):
        th.instances(ms.make_task([0.6, 0.4]), beta=st.just(0.5))
    with pytest.raises(ValueError, match=r"beta must be a hypothesis SearchStrategy .*got 0\.5"):
        th.instances(tasks(), alpha=st.just(0.3), beta=0.5)
    assert engine._parameter_sets(th.instances(tasks(), alpha=st.just(0.3), beta=st.just(0.5))) == [("alpha", "beta")]


def test_check_names_a_missing_parameter_and_the_expected_ones():
    inst = _s4_instance()
    short = th.Instance(inst.task, {"alpha": inst["alpha"]})
    with pytest.raises(ValueError, match=r"instance has no parameter 'beta', which the check of S4 reads; "
                                         r"it has parameters \(alpha\); S4's instances carry \(alpha, beta\)"):
        th.get("S4").check(short)
    with pytest.raises(ValueError, match=r"it has no parameters; S1's instances carry \(alpha, beta\) or \(kappa, beta\)"):
        th.get("S1").check(th.Instance(inst.task, {}))
    with pytest.raises(KeyError):  # reading an Instance directly stays a mapping lookup
        short["beta"]
    assert th.get("S4").check(inst).holds
