"""Chunks as Dask tasks: a two-worker cluster gives, bit for bit, the in-process results."""

import numpy as np
import pytest
import xarray as xr

import modesim as ms

from .support import NoisyPG

BANK = ms.make_task([[0.5, 0.3, 0.15, 0.05], [0.25, 0.25, 0.4, 0.1]], [[1, 1, 1, 0], [1, 1, 0, 1]])


def test_two_workers_give_the_in_process_dataset(dask_client):
    grid = {"teacher.alpha": np.linspace(0.0, 0.9, 6).tolist(), "beta": [0.0, 1.0, 3.0], "objective": ["reverse", "forward"]}
    kw = {"rounds": 5, "metrics": ["valid_mass", "pass_at_k"], "record_policy": True, "chunks": 2}
    here = ms.sweep(ms.SelfDistillation(), BANK, grid, **kw)
    there = ms.sweep(ms.SelfDistillation(), BANK, grid, **kw, client=dask_client)
    xr.testing.assert_identical(there, here)
    workers = dask_client.run(lambda: 1)
    assert len(workers) == 2


def test_a_sampled_sweep_on_two_workers_equals_one_process(dask_client, tmp_path):
    grid = {"lr": [0.1, 0.4, 0.7, 1.0], "n_rollouts": [2, 6]}
    kw = {"rounds": 10, "seed": 7, "n_seeds": 5, "metrics": ["valid_mass", "top_valid"], "record_policy": True}
    here = ms.sweep(NoisyPG(), BANK, grid, **kw)
    there = ms.sweep(NoisyPG(), BANK, grid, **kw, client=dask_client, out=tmp_path / "s.zarr")
    xr.testing.assert_identical(there, here)
    assert np.isfinite(here.valid_mass.values).all()


def test_an_error_on_a_worker_is_raised_here_naming_the_chunk(dask_client):
    def fragile(alpha):
        if np.any(np.asarray(alpha) > 0.5):
            raise ValueError("this factory refuses large copy strengths at run time")
        return ms.SelfDistillation(ms.CopyTeacher(alpha))

    calls = []

    def checked(alpha):  # passes the checks made before running, fails on the workers
        calls.append(alpha)
        return ms.SelfDistillation(ms.CopyTeacher(alpha)) if len(calls) <= 2 else fragile(alpha)

    with pytest.raises(ValueError, match=r"sweep chunk 1 \(alpha=0.9\): this factory refuses"):
        ms.sweep(checked, BANK, {"alpha": [0.1, 0.9]}, rounds=2, chunks=1, client=dask_client)
