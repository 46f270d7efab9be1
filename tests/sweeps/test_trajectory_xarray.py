"""Trajectory.to_xarray and the tidy Trajectory.to_dataframe hold exactly the recorded arrays."""

import copy
import pickle

import numpy as np
import pytest

import modesim as ms

BANK = ms.make_task([[0.5, 0.3, 0.2], [0.2, 0.3, 0.5]], [[1, 1, 0], [1, 0, 1]])
LR = np.array([0.5, 1.0, 2.0])


@pytest.fixture(scope="module")
def traj():
    return ms.iterate(ms.NaturalPG(LR[:, None]), BANK, 4, metrics=["valid_mass", "entropy"])


def test_to_xarray_labels_the_recorded_arrays(traj):
    ds = traj.to_xarray(["lr", "prompt"], coords={"lr": LR})
    assert ds.log_policy.dims == ("round", "lr", "prompt", "mode")
    np.testing.assert_array_equal(ds.log_policy.values, traj.log_policy)
    np.testing.assert_array_equal(ds.valid_mass.values, traj.metrics["valid_mass"])
    assert ds["round"].values.tolist() == [0, 1, 2, 3, 4] and ds.lr.values.tolist() == LR.tolist()
    np.testing.assert_array_equal(ds.entropy.sel(lr=2.0, prompt=1).values, traj.metrics["entropy"][:, 2, 1])
    assert traj.to_xarray().log_policy.dims == ("round", "batch_0", "batch_1", "mode")


def test_a_flow_has_a_time_dimension_and_extra_metric_axes_are_named():
    fl = ms.flow(ms.NaturalPG(1.0), BANK, [0.0, 0.5, 1.0],
                 metrics={"pass": lambda p, t: ms.pass_at_k(p, t.valid, [1, 2])})
    ds = fl.to_xarray("prompt")
    assert ds["pass"].dims == ("time", "prompt", "pass_dim_0")
    np.testing.assert_array_equal(ds["time"].values, [0.0, 0.5, 1.0])


def test_tidy_tables(traj):
    df = traj.to_dataframe(["lr", "prompt"], coords={"lr": LR})
    assert list(df.columns) == ["round", "lr", "prompt", "valid_mass", "entropy"]
    assert len(df) == 5 * 3 * 2
    row = df[(df["round"] == 3) & (df.lr == 1.0) & (df.prompt == 0)]
    assert float(row.valid_mass.iloc[0]) == traj.metrics["valid_mass"][3, 1, 0]
    pol = traj.to_dataframe(["lr", "prompt"], what="policy")
    assert list(pol.columns) == ["round", "lr", "prompt", "mode", "policy"] and len(pol) == 5 * 3 * 2 * 3
    np.testing.assert_allclose(pol.groupby(["round", "lr", "prompt"]).policy.sum(), 1.0, rtol=1e-14)


def test_tables_refuse_what_was_not_recorded(traj):
    bare = ms.iterate(ms.NaturalPG(1.0), BANK, 2, record_policy=False, metrics=["valid_mass"])
    with pytest.raises(ValueError, match="recorded with record_policy=False"):
        bare.to_dataframe(what="policy")
    with pytest.raises(ValueError, match="recorded no metrics"):
        ms.iterate(ms.NaturalPG(1.0), BANK, 2).to_dataframe()
    with pytest.raises(ValueError, match=r"what must be one of 'metrics', 'policy'"):
        traj.to_dataframe(what="table")
    with pytest.raises(ValueError, match=r"dims must give 2 distinct name\(s\)"):
        traj.to_xarray(["lr"])


def test_trajectories_and_their_datasets_pickle_and_deep_copy(traj):
    for other in (pickle.loads(pickle.dumps(traj)), copy.deepcopy(traj)):
        np.testing.assert_array_equal(other.log_policy, traj.log_policy)
    ds = traj.to_xarray()
    assert pickle.loads(pickle.dumps(ds)).identical(ds) and copy.deepcopy(ds).identical(ds)
