"""The sweep engine (theory §1, parameter grids): a sweep equals the runs of its grid points,
whatever the chunking; its dataset is labelled and says what produced it; bad grids fail
before anything runs, naming the entry and value."""

import copy
import json
import pickle
import subprocess
import sys

import numpy as np
import pytest
import xarray as xr

import modesim as ms
from modesim.sweeps import engine, executor, point_seed

from .support import NoisyPG

BANK = ms.make_task([[0.5, 0.3, 0.15, 0.05], [0.25, 0.25, 0.4, 0.1]], [[1, 1, 1, 0], [1, 1, 0, 1]])
ALPHAS = [0.0, 0.3, 0.6, 0.9]
BETAS = [0.0, 0.5, 2.0]


def _sd(alpha, beta, objective):
    return ms.SelfDistillation(ms.CopyTeacher(alpha), beta=beta, objective=objective)


def _grid():
    return {"alpha": ALPHAS, "objective": ["reverse", "forward"], "beta": BETAS}


def test_a_sweep_equals_the_run_of_every_grid_point():
    ds = ms.sweep(_sd, BANK, _grid(), rounds=6, metrics=["valid_mass", "entropy"], record_policy=True)
    assert ds.log_policy.dims == ("alpha", "objective", "beta", "prompt", "round", "mode")
    assert ds.valid_mass.dims == ("alpha", "objective", "beta", "prompt", "round")
    for a in ALPHAS:
        for obj in ("reverse", "forward"):
            for b in BETAS:
                one = ms.iterate(_sd(a, b, obj), BANK, 6, metrics=["valid_mass", "entropy"])
                got = ds.sel(alpha=a, objective=obj, beta=b)
                np.testing.assert_allclose(np.exp(got.log_policy.transpose("round", "prompt", "mode")),
                                           one.policy, rtol=1e-12, atol=1e-15)
                np.testing.assert_allclose(got.entropy.transpose("round", "prompt"), one.metrics["entropy"],
                                           rtol=1e-12, atol=1e-15)


def test_field_paths_and_a_factory_give_the_same_dataset_values():
    by_path = ms.sweep(ms.SelfDistillation(ms.CopyTeacher(0.5)), BANK,
                       {"teacher.alpha": ALPHAS, "objective": ["reverse", "forward"], "beta": BETAS},
                       rounds=4, metrics=["top_valid"])
    by_factory = ms.sweep(_sd, BANK, _grid(), rounds=4, metrics=["top_valid"])
    np.testing.assert_array_equal(by_path.top_valid.values, by_factory.top_valid.values)
    assert json.loads(by_path.attrs["rule"])["rule"]["teacher"] == {"type": "CopyTeacher", "alpha": 0.5}
    assert json.loads(by_factory.attrs["rule"])["factory"]["callable"].endswith(":_sd")


@pytest.mark.parametrize("chunks", [1, 2, 3, {"alpha": 1}, {"beta": 2}, {"alpha": 3, "beta": 1}])
def test_results_do_not_depend_on_the_chunking_bit_for_bit(chunks):
    whole = ms.sweep(_sd, BANK, _grid(), rounds=5, metrics=["valid_mass", "pass_at_k"], record_policy=True)
    cut = ms.sweep(_sd, BANK, _grid(), rounds=5, metrics=["valid_mass", "pass_at_k"], record_policy=True,
                   chunks=chunks)
    xr.testing.assert_identical(whole, cut)


def test_chunk_order_does_not_matter(monkeypatch):
    def backwards(run, plan, pending, sink, bar):
        for i in reversed(pending):
            sink(i, run(plan, i))

    ref = ms.sweep(_sd, BANK, _grid(), rounds=3, chunks=1, metrics=["valid_mass"])
    monkeypatch.setattr(executor, "run_local", backwards)
    xr.testing.assert_identical(ms.sweep(_sd, BANK, _grid(), rounds=3, chunks=1, metrics=["valid_mass"]), ref)


def test_k_metrics_agree_with_the_metric_functions():
    ds = ms.sweep(_sd, BANK, {"alpha": [0.2, 0.7], "objective": ["reverse"], "beta": [0.1]}, rounds=3,
                  metrics=["pass_at_k", "distinct_at_k"], k=[1, 3, 50], record_policy=True)
    assert ds.pass_at_k.dims[-2:] == ("round", "k") and ds.k.values.tolist() == [1, 3, 50]
    order = ("alpha", "objective", "beta", "round", "prompt")
    p = np.exp(ds.log_policy.transpose(*order, "mode").values)
    np.testing.assert_allclose(ds.pass_at_k.transpose(*order, "k").values, ms.pass_at_k(p, BANK.valid, [1, 3, 50]), rtol=1e-13)
    np.testing.assert_allclose(ds.distinct_at_k.transpose(*order, "k").values,
                               ms.expected_distinct(p, BANK.valid, [1, 3, 50]), rtol=1e-13)


def test_a_broken_metric_would_be_caught_by_the_comparison():
    wrong = ms.sweep(_sd, BANK, {"alpha": [0.2, 0.7], "objective": ["reverse"], "beta": [0.1]}, rounds=3,
                     metrics={"pass_at_k": lambda p, t: 1.0 - (1.0 - np.where(t.valid, p, 0).sum(-1)) ** 2},
                     record_policy=True)
    p = np.exp(wrong.log_policy.transpose("alpha", "objective", "beta", "round", "prompt", "mode").values)
    assert not np.allclose(wrong.pass_at_k.transpose("alpha", "objective", "beta", "round", "prompt").values,
                           ms.pass_at_k(p, BANK.valid, 3), rtol=1e-6)


def test_a_factory_that_ignores_an_entry_is_constant_along_it():
    def rl_or_sd(algo, alpha, beta):
        return ms.KLRegularisedRL(beta + 0.01) if algo == "rl" else ms.SelfDistillation(ms.CopyTeacher(alpha), beta=beta)

    ds = ms.sweep(rl_or_sd, BANK, {"algo": ["rl", "sd"], "alpha": [0.1, 0.5, 0.9], "beta": [0.0, 1.0]},
                  rounds=3, metrics=["top_valid"])
    rl = ds.top_valid.sel(algo="rl")
    assert float(abs(rl - rl.isel(alpha=0)).max()) == 0.0
    sd = ds.top_valid.sel(algo="sd", round=3)
    assert float(abs(sd - sd.isel(alpha=0)).max()) > 1e-3


def test_the_dataset_says_what_produced_it_and_the_fingerprint_is_deterministic():
    a = ms.sweep(_sd, BANK, _grid(), rounds=2, metrics=["valid_mass"], prompts={"prompt": ["easy", "hard"]})
    b = ms.sweep(_sd, BANK, _grid(), rounds=2, metrics=["valid_mass"], prompts={"prompt": ["easy", "hard"]})
    assert a.attrs == b.attrs
    assert a.prompt.values.tolist() == ["easy", "hard"]
    assert a.attrs["modesim_version"] == ms.__version__
    grid = json.loads(a.attrs["grid"])
    assert grid["alpha"] == {"values": ALPHAS, "batched": True}
    assert grid["objective"] == {"values": ["reverse", "forward"], "batched": False}
    assert json.loads(a.attrs["task"])["batch_shape"] == [2]
    for change in ({"rounds": 3}, {"metrics": ["entropy"]}, {"grid": {**_grid(), "beta": [0.0, 0.5]}}):
        kwargs = {"rounds": 2, "metrics": ["valid_mass"], "grid": _grid(), **change}
        grid_ = kwargs.pop("grid")
        assert ms.sweep(_sd, BANK, grid_, **kwargs).attrs["fingerprint"] != a.attrs["fingerprint"]
    np.testing.assert_array_equal(a.log_base.values, BANK.log_base)
    np.testing.assert_array_equal(a.valid.values, BANK.valid)


def test_every_and_an_empty_grid():
    ds = ms.sweep(ms.NaturalPG(1.0), BANK, {}, rounds=7, every=3, metrics=["valid_mass"])
    assert ds["round"].values.tolist() == [0, 3, 6, 7]
    ref = ms.iterate(ms.NaturalPG(1.0), BANK, 7, every=3, metrics=["valid_mass"])
    np.testing.assert_array_equal(ds.valid_mass.transpose("round", "prompt").values, ref.metrics["valid_mass"])


def test_objects_in_a_grid_are_labelled():
    teachers = {"copy": ms.CopyTeacher(0.5), "tilt": ms.TiltTeacher(2.0)}
    ds = ms.sweep(ms.SelfDistillation(), BANK, {"teacher": teachers, "beta": [0.0, 1.0]}, rounds=2,
                  metrics=["top_valid"])
    assert ds.teacher.values.tolist() == ["copy", "tilt"]
    tilt = ms.iterate(ms.SelfDistillation(ms.TiltTeacher(2.0), beta=1.0), BANK, 2, metrics=["top_valid"])
    np.testing.assert_allclose(ds.top_valid.sel(teacher="tilt", beta=1.0).transpose("round", "prompt"),
                               tilt.metrics["top_valid"], rtol=1e-12)
    unlabelled = ms.sweep(ms.SelfDistillation(), BANK, {"teacher": list(teachers.values())}, rounds=1,
                          metrics=["top_valid"])
    assert unlabelled.teacher.values.tolist() == ["CopyTeacher(alpha=0.5)", "TiltTeacher(kappa=2.0, similarity=None)"]


def test_results_pickle_and_deep_copy():
    ds = ms.sweep(_sd, BANK, _grid(), rounds=2, metrics=["pass_at_k"])
    xr.testing.assert_identical(pickle.loads(pickle.dumps(ds)), ds)
    xr.testing.assert_identical(copy.deepcopy(ds), ds)



def test_a_plan_pickles_without_cloudpickle(monkeypatch):
    """The object sent to each worker: plain pickle suffices for a rule and built-in metrics."""
    real, captured = engine.run_chunk, []
    monkeypatch.setattr(engine, "run_chunk", lambda plan, i: captured.append(plan) or real(plan, i))
    ms.sweep(ms.SelfDistillation(), BANK, {"teacher.alpha": [0.1, 0.2]}, rounds=2, metrics=["entropy", "pass_at_k"])
    plan = pickle.loads(pickle.dumps(captured[0]))
    np.testing.assert_array_equal(real(plan, 0)["entropy"], real(captured[0], 0)["entropy"])


# ------------------------------------------------------------------------ sampled rules


def test_a_sampled_grid_point_runs_with_the_seed_of_its_grid_index():
    grid = {"lr": [0.2, 0.8], "n_rollouts": [2, 5]}
    ds = ms.sweep(NoisyPG(), BANK, grid, rounds=8, seed=11, n_seeds=3, metrics=["valid_mass"], record_policy=True)
    assert ds.valid_mass.dims == ("lr", "n_rollouts", "seed", "prompt", "round")
    for i, (lr, n) in enumerate([(0.2, 2), (0.2, 5), (0.8, 2), (0.8, 5)]):
        rule = NoisyPG(lr, n, seed=point_seed(11, i))
        one = ms.iterate(rule, BANK.broadcast((3, 2)), 8)
        got = ds.log_policy.sel(lr=lr, n_rollouts=n).transpose("round", "seed", "prompt", "mode").values
        np.testing.assert_array_equal(got, one.log_policy)
    finals = ds.log_policy.isel(round=-1).values.reshape(4, -1)
    assert len({row.tobytes() for row in finals}) == 4  # four independent streams


def test_a_sampled_sweep_does_not_depend_on_the_order_of_chunks(monkeypatch):
    grid = {"lr": [0.2, 0.5, 0.8]}
    ref = ms.sweep(NoisyPG(), BANK, grid, rounds=5, seed=3, n_seeds=2, metrics=["valid_mass"])

    def backwards(run, plan, pending, sink, bar):
        for i in reversed(pending):
            sink(i, run(plan, i))

    monkeypatch.setattr(executor, "run_local", backwards)
    xr.testing.assert_identical(ms.sweep(NoisyPG(), BANK, grid, rounds=5, seed=3, n_seeds=2, metrics=["valid_mass"]), ref)
    other = ms.sweep(NoisyPG(), BANK, grid, rounds=5, seed=4, n_seeds=2, metrics=["valid_mass"])
    assert not np.array_equal(other.valid_mass.values, ref.valid_mass.values)


def test_point_seeds_are_the_documented_seed_sequence():
    assert point_seed(5, 7) == int(np.random.SeedSequence(5, spawn_key=(7,)).generate_state(1, np.uint64)[0])
    assert len({point_seed(0, i) for i in range(1000)}) == 1000


@pytest.mark.parametrize("args, match", [
    ((-1, 0), r"seed must be an integer >= 0; got -1"),
    ((1.5, 0), r"seed must be an integer; got 1\.5"),
    (("3", 0), r"seed must be an integer; got '3'"),
    ((0, -2), r"index must be an integer >= 0; got -2"),
    ((0, True), r"index must be an integer; got True"),
])
def test_point_seed_refuses_bad_arguments_by_name(args, match):
    with pytest.raises(ValueError, match=match):
        point_seed(*args)


def test_recorded_rounds_valid_and_refused_by_name():
    assert engine.recorded_rounds(0, 1).tolist() == [0]
    assert engine.recorded_rounds(5, 2).tolist() == [0, 2, 4, 5]
    assert engine.recorded_rounds(np.int64(4), 2).tolist() == [0, 2, 4]
    with pytest.raises(ValueError, match=r"every must be an integer >= 1; got 0"):
        engine.recorded_rounds(5, 0)
    with pytest.raises(ValueError, match=r"rounds must be an integer >= 0; got -1"):
        engine.recorded_rounds(-1, 1)
    with pytest.raises(ValueError, match=r"rounds must be an integer; got 2\.5"):
        engine.recorded_rounds(2.5, 1)


# ------------------------------------------------------------------------ errors


@pytest.mark.parametrize("rule, grid, match", [
    (_sd, {"alpha": [0.2, 1.5], "objective": ["reverse"], "beta": [0.0]}, r"grid\['alpha'\] value 1.5 \(index 1\) is refused by the rule: alpha must be in \[0, 1\)"),
    (_sd, {"alpha": [0.2], "objective": ["reverse", "sideways"], "beta": [0.0]}, r"grid\['objective'\] value 'sideways' \(index 1\) is refused .*objective must be one of"),
    (_sd, {"alpha": [0.2], "objective": ["reverse"], "beta": [-1.0, 0.0]}, r"grid\['beta'\] value -1.0 \(index 0\)"),
    (_sd, {"alpha": [1.5, 0.2], "objective": ["reverse"], "beta": [0.0]}, r"grid\['alpha'\] value 1.5 \(index 0\)"),
    (_sd, {"alpha": [0.2, 0.3], "objective": ["sideways", "reverse"], "beta": [0.0, 1.0]}, r"grid\['objective'\] value 'sideways' \(index 0\)"),
    (ms.SelfDistillation(), {"teacher.alfa": [0.1]}, r"grid entry 'teacher.alfa': CopyTeacher has no field 'alfa' \(fields: alpha\)"),
    (ms.SelfDistillation(), {"demos.mode": [1]}, r"ConditionedDemos has no field 'mode'"),
    (_sd, {"alpha": [0.1], "gamma": [1.0]}, r"refused the grid's keywords"),
    (_sd, {"alpha": 0.5}, r"grid\['alpha'\] must be a sequence"),
    (_sd, {"alpha": []}, r"grid\['alpha'\] must hold at least one value"),
    (_sd, {"alpha": [0.1, float("nan")]}, r"grid\['alpha'\] must not contain NaN; got nan at index 1"),
    (_sd, {"alpha": [0.1, 0.1]}, r"grid\['alpha'\] holds 0.1 twice \(indices 0 and 1\)"),
    (_sd, {"round": [1.0]}, r"grid entry 'round' clashes with a dimension"),
    (_sd, {"prompt": [1.0]}, r"grid entry 'prompt' clashes"),
    ("not a rule", {}, r"rule must be a rule \(with init and step\) or a rule factory"),
])
def test_bad_grids_are_named_before_anything_runs(rule, grid, match):
    with pytest.raises(ValueError, match=match):
        ms.sweep(rule, BANK, grid, rounds=1)


@pytest.mark.parametrize("kwargs, match", [
    ({"seed": -1}, r"seed must be a non-negative integer"),
    ({"seed": None}, r"seed must be a non-negative integer"),
    ({"n_seeds": 4}, r"n_seeds is for sampled rules; SelfDistillation is deterministic"),
    ({"rounds": -1}, r"rounds must be an integer >= 0"),
    ({"every": 0}, r"every must be an integer >= 1"),
    ({"metrics": ["entropyy"]}, r"unknown metric 'entropyy'"),
    ({"metrics": {"teacher.alpha": "entropy"}}, r"metric name 'teacher.alpha' clashes"),
    ({"metrics": ["pass_at_k"], "k": [0, 2]}, r"k must hold finite positive integers"),
    ({"metrics": {"a/b": "entropy"}}, r"metric name 'a/b' must not contain '/'"),
    ({"metrics": {"bad": lambda p, t: p.sum()}}, r"metric 'bad' returned shape \(\) per round; .*shape \(2, 2\)"),
    ({"chunks": {"objective": 2}}, r"chunks\['objective'\] must be 1"),
    ({"chunks": {"gamma": 2}}, r"chunks names 'gamma', which is not a grid entry"),
    ({"scalar": ["gamma"]}, r"scalar names 'gamma'"),
    ({"prompts": ["a", "b"]}, r"prompts must give 1 distinct name"),
    ({"prompts": {"prompt": ["x"]}}, r"prompts\['prompt'\] must hold 2 labels"),
    ({"client": object()}, r"client must be a dask.distributed.Client"),
])
def test_bad_arguments_are_named(kwargs, match):
    kwargs = {"rounds": 1, **kwargs}
    with pytest.raises(ValueError, match=match):
        ms.sweep(ms.SelfDistillation(), BANK, {"teacher.alpha": [0.1, 0.2], "objective": ["reverse"]}, **kwargs)


def test_an_error_inside_a_chunk_names_the_chunk():
    def wide(alpha):  # the rule's batch shape does not fit the grid chunk
        return ms.NaturalPG(np.ones((3,)) + np.ravel(alpha)[:1])

    with pytest.raises(ValueError, match=r"sweep chunk 0 \(alpha=0.1…0.2 \(2 values\)\): .*does not broadcast|sweep chunk 0 .*does not fit"):
        ms.sweep(wide, BANK, {"alpha": [0.1, 0.2]}, rounds=1)


def test_a_sampled_rule_needs_a_seed_field_and_one_point_per_chunk():
    class Unseeded:
        capabilities = frozenset()

        def init(self, task):
            return ms.State(task.log_base)

        def step(self, state, task):
            return state.advance(state.log_policy)

    with pytest.raises(ValueError, match="is not deterministic and has no seed field"):
        ms.sweep(lambda x: Unseeded(), BANK, {"x": [1, 2]}, rounds=1)
    with pytest.raises(ValueError, match="chunks must be None for a sampled rule"):
        ms.sweep(NoisyPG(), BANK, {"lr": [0.1, 0.2]}, rounds=1, chunks=2)


def test_scalar_entries_run_one_value_at_a_time():
    seen = []

    def factory(alpha):
        seen.append(np.shape(alpha))
        return ms.SelfDistillation(ms.CopyTeacher(alpha))

    batched = ms.sweep(factory, BANK, {"alpha": [0.1, 0.5]}, rounds=2, metrics=["top_valid"])
    n = len(seen)
    one_by_one = ms.sweep(factory, BANK, {"alpha": [0.1, 0.5]}, rounds=2, metrics=["top_valid"], scalar=["alpha"])
    assert (2, 1) in seen[:n] and set(seen[n:]) == {()}
    assert not json.loads(one_by_one.attrs["grid"])["alpha"]["batched"]
    np.testing.assert_allclose(batched.top_valid, one_by_one.top_valid, rtol=1e-13)


# ------------------------------------------------------------------------ the package


def test_import_modesim_does_not_import_the_sweep_dependencies():
    code = ("import sys, modesim; bad = [m for m in ('xarray', 'dask', 'zarr', 'distributed', 'pandas') "
            "if m in sys.modules]; print(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("first", ["import modesim.sweeps", "import modesim.sweeps.config", "pass"])
def test_ms_sweep_is_callable_whatever_was_imported_first(first):
    code = (f"{first}\nimport modesim as ms\n"
            "ds = ms.sweep(ms.NaturalPG(1.0), ms.make_task([0.5, 0.5], [1, 0]), {'lr': [1.0, 2.0]}, rounds=1, "
            "metrics=['valid_mass'])\nprint(ds.valid_mass.shape, ms.load_sweep.__name__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "(2, 2) load_sweep"


def test_progress_bar_over_chunks(capsys):
    ms.sweep(_sd, BANK, _grid(), rounds=1, chunks=1, metrics=["valid_mass"], progress=True)
    assert "sweep" in capsys.readouterr().err


def test_a_missing_dependency_says_how_to_install_it():
    code = ("import sys; sys.modules['zarr'] = None\nimport modesim as ms\n"
            "try:\n    ms.sweep(ms.NaturalPG(), ms.make_task([0.5, 0.5]), {}, rounds=1)\n"
            "except ImportError as e:\n    print(e)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "modesim sweeps need zarr (xarray, zarr and dask[distributed]): pip install 'modesim[sweep]' (in a checkout: pip install -e '.[sweep]')"
