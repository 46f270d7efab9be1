"""Sweeps on disk: a store equals the in-memory result, an interrupted sweep resumes to the
same dataset (also after a real process is killed), and nothing else is ever overwritten."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
import zarr

import modesim as ms
from modesim.sweeps import engine, storage

BANK = ms.make_task([[0.5, 0.3, 0.15, 0.05], [0.25, 0.25, 0.4, 0.1]], [[1, 1, 1, 0], [1, 1, 0, 1]])
RULE = ms.SelfDistillation(ms.CopyTeacher(0.5))
GRID = {"teacher.alpha": [0.0, 0.3, 0.6, 0.9], "beta": [0.0, 1.0], "objective": ["reverse", "forward"]}
KW = {"rounds": 4, "metrics": ["valid_mass", "pass_at_k"], "record_policy": True}
ROOT = Path(__file__).resolve().parents[2]


def test_a_store_reads_back_identical_to_the_in_memory_sweep(tmp_path):
    memory = ms.sweep(RULE, BANK, GRID, **KW)
    stored = ms.sweep(RULE, BANK, GRID, **KW, out=tmp_path / "s.zarr", chunks=1)
    xr.testing.assert_identical(stored, memory)
    xr.testing.assert_identical(ms.load_sweep(tmp_path / "s.zarr"), memory)
    group = zarr.open_group(str(tmp_path / "s.zarr"), mode="r")
    assert group.metadata.zarr_format == 2
    assert group["pass_at_k"].chunks[:3] == (1, 1, 1)  # one Zarr chunk per sweep chunk


def test_netcdf_output(tmp_path):
    memory = ms.sweep(RULE, BANK, GRID, **KW)
    ds = ms.sweep(RULE, BANK, GRID, **KW, out=tmp_path / "s.nc")
    xr.testing.assert_identical(ds, memory)
    xr.testing.assert_allclose(ms.load_sweep(tmp_path / "s.nc").load(), memory, rtol=0, atol=0)
    with pytest.raises(ValueError, match=r"s.nc' exists; pass overwrite=True"):
        ms.sweep(RULE, BANK, GRID, **KW, out=tmp_path / "s.nc")
    ms.sweep(RULE, BANK, GRID, **KW, out=tmp_path / "s.nc", overwrite=True)


def test_running_a_finished_sweep_again_computes_nothing(tmp_path, monkeypatch):
    first = ms.sweep(RULE, BANK, GRID, **KW, out=tmp_path / "s.zarr", chunks=1)
    calls = []
    monkeypatch.setattr(engine, "run_chunk", lambda plan, i: calls.append(i))
    again = ms.sweep(RULE, BANK, GRID, **KW, out=tmp_path / "s.zarr")
    assert calls == []
    xr.testing.assert_identical(again, first)


def test_an_interrupted_sweep_resumes_to_the_uninterrupted_dataset(tmp_path, monkeypatch):
    whole = ms.sweep(RULE, BANK, GRID, **KW, out=tmp_path / "whole.zarr", chunks=1)
    real = engine.run_chunk
    ran = []

    def dies_after_three(plan, i):
        if len(ran) == 3:
            raise KeyboardInterrupt
        ran.append(i)
        return real(plan, i)

    monkeypatch.setattr(engine, "run_chunk", dies_after_three)
    with pytest.raises(KeyboardInterrupt):
        ms.sweep(RULE, BANK, GRID, **KW, out=tmp_path / "cut.zarr", chunks=1)
    with pytest.raises(ValueError, match=r"unfinished sweep: 3 of 16 chunks are done; run the same sweep again"):
        ms.load_sweep(tmp_path / "cut.zarr")
    partial = ms.load_sweep(tmp_path / "cut.zarr", allow_incomplete=True)
    assert int(partial.valid_mass.notnull().any(["prompt", "round"]).sum()) == 3

    resumed = []
    monkeypatch.setattr(engine, "run_chunk", lambda plan, i: resumed.append(i) or real(plan, i))
    done = ms.sweep(RULE, BANK, GRID, **KW, out=tmp_path / "cut.zarr")  # chunks=None: the store's
    assert sorted(resumed) == [i for i in range(16) if i not in ran]
    xr.testing.assert_identical(done, whole)


def test_a_store_is_never_overwritten_by_another_sweep(tmp_path):
    out = tmp_path / "s.zarr"
    ms.sweep(RULE, BANK, GRID, **KW, out=out)
    with pytest.raises(ValueError, match=r"holds a different sweep; pass overwrite=True"):
        ms.sweep(RULE, BANK, GRID, **{**KW, "rounds": 5}, out=out)
    with pytest.raises(ValueError, match=r"holds this sweep cut into other chunks"):
        ms.sweep(RULE, BANK, GRID, **KW, out=out, chunks=1)
    replaced = ms.sweep(RULE, BANK, GRID, **{**KW, "rounds": 5}, out=out, overwrite=True)
    assert replaced["round"].values.tolist() == [0, 1, 2, 3, 4, 5]

    plain = tmp_path / "notes"
    plain.mkdir()
    (plain / "keep.txt").write_text("mine")
    for target in (plain, plain / "keep.txt"):
        with pytest.raises(ValueError, match=r"exists and is not a Zarr store; choose another path \(it is never deleted\)"):
            ms.sweep(RULE, BANK, GRID, **KW, out=target, overwrite=True)
    assert (plain / "keep.txt").read_text() == "mine"

    other = tmp_path / "other.zarr"
    xr.Dataset({"x": ("a", np.arange(3.0))}).to_zarr(other, zarr_format=2)
    with pytest.raises(ValueError, match="a Zarr store that is not a modesim sweep"):
        ms.sweep(RULE, BANK, GRID, **KW, out=other)
    with pytest.raises(ValueError, match="not a modesim sweep"):
        ms.load_sweep(other)


@pytest.mark.parametrize("path, match", [
    ("missing.zarr", "does not exist"),
    ("file.txt", "neither a Zarr store nor a netCDF"),
    ("junk.nc", "cannot be read as netCDF"),
    ("plain.nc", "is a netCDF file but not a modesim sweep"),
])
def test_load_sweep_names_a_bad_path(tmp_path, path, match):
    (tmp_path / "file.txt").write_text("x")
    (tmp_path / "junk.nc").write_text("not netCDF")
    xr.Dataset({"x": ("a", np.arange(3.0))}).to_netcdf(tmp_path / "plain.nc")
    with pytest.raises(ValueError, match=match):
        ms.load_sweep(tmp_path / path)


KILLED_ARGS = """(
    ms.SelfDistillation(ms.CopyTeacher(0.5), objective="forward"),
    ms.make_task([[0.5, 0.3, 0.15, 0.05], [0.25, 0.25, 0.4, 0.1]], [[1, 1, 1, 0], [1, 1, 0, 1]]),
    {"teacher.alpha": [0.1, 0.5, 0.9], "beta": [0.0, 2.0]},
)"""
ROUNDS = 1500  # ~0.2 s per chunk (6 chunks): slow enough to kill the process mid-sweep
KILLED_KW = {"rounds": ROUNDS, "every": 50, "metrics": ["valid_mass", "pass_at_k"], "chunks": 1, "progress": False}
KILLED = f"import sys\nimport modesim as ms\nms.sweep(*{KILLED_ARGS}, **{KILLED_KW!r}, out=sys.argv[1])\n"


def _done(path):
    try:
        return int(np.asarray(zarr.open_group(str(path), mode="r")[storage.MARKER][:]).sum())
    except Exception:  # noqa: BLE001 - the store is being created
        return 0


def test_a_killed_sweep_process_resumes_to_the_same_dataset(tmp_path, monkeypatch):
    out = tmp_path / "killed.zarr"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-c", KILLED, str(out)], cwd=ROOT, env=env)
    try:
        deadline = time.monotonic() + 60
        while _done(out) < 1 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.01)
        assert proc.poll() is None, "the sweep finished before it could be killed; raise ROUNDS"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    finished = _done(out)
    assert 1 <= finished < 6
    with pytest.raises(ValueError, match="unfinished sweep"):
        ms.load_sweep(out)
    real, ran = engine.run_chunk, []
    monkeypatch.setattr(engine, "run_chunk", lambda plan, i: ran.append(i) or real(plan, i))
    args = eval(KILLED_ARGS)  # the same sweep as the killed process
    resumed = ms.sweep(*args, **KILLED_KW, out=out)
    assert len(ran) == 6 - finished
    xr.testing.assert_identical(resumed, ms.sweep(*args, **KILLED_KW))


def test_a_store_whose_creation_was_interrupted_is_made_again(tmp_path, monkeypatch):
    out = tmp_path / "s.zarr"
    real = xr.Dataset.to_zarr

    def dies_before_the_marker(self, *args, **kwargs):
        if storage.MARKER in self:
            raise KeyboardInterrupt
        return real(self, *args, **kwargs)

    monkeypatch.setattr(xr.Dataset, "to_zarr", dies_before_the_marker)
    with pytest.raises(KeyboardInterrupt):
        ms.sweep(RULE, BANK, GRID, **KW, out=out)
    monkeypatch.setattr(xr.Dataset, "to_zarr", real)
    with pytest.raises(ValueError, match=r"holds an unfinished sweep \(interrupted while the store was created\)"):
        ms.load_sweep(out)
    xr.testing.assert_identical(ms.sweep(RULE, BANK, GRID, **KW, out=out), ms.sweep(RULE, BANK, GRID, **KW))
    with pytest.raises(ValueError, match="holds a different sweep"):  # another sweep's unfinished template is kept
        monkeypatch.setattr(xr.Dataset, "to_zarr", dies_before_the_marker)
        with pytest.raises(KeyboardInterrupt):
            ms.sweep(RULE, BANK, GRID, **{**KW, "rounds": 2}, out=tmp_path / "t.zarr")
        monkeypatch.setattr(xr.Dataset, "to_zarr", real)
        ms.sweep(RULE, BANK, GRID, **KW, out=tmp_path / "t.zarr")
