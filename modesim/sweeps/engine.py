"""The sweep engine: a grid of settings run as batched chunks, labelled results (theory §1).

See :func:`sweep` for the call and :mod:`modesim.sweeps` for the model (grids, chunks,
random keys, storage, execution).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, fields, is_dataclass, replace
from pathlib import Path

import numpy as np

from .. import _checks as chk
from .._progress import progress_bar
from ..dynamics import iterate
from ..rule import capabilities
from ..task import Task
from . import _grid, _metrics, _rules, executor, storage

__all__ = ["sweep", "Plan", "run_chunk", "point_seed", "recorded_rounds"]

RESERVED = ("round", "mode", "k", "seed", storage.MARKER_DIM)


def point_seed(seed: int, index: int) -> int:
    """The rule seed of grid point ``index`` (flat, row-major) of a sampled sweep with ``seed``:
    ``SeedSequence(seed, spawn_key=(index,)).generate_state(1, uint64)[0]``.

    A function of the sweep seed and the point's place in the grid only: never of the
    chunking, the executor or the order in which workers run (theory §1, parameter grids:
    a grid point is one batch entry; sampled rules draw their streams per point).

    Parameters
    ----------
    seed : int >= 0
        The sweep seed.
    index : int >= 0
        Flat, row-major index of the grid point.

    Returns
    -------
    int
        A seed in ``[0, 2**64)`` for the rule's ``seed`` field.

    Raises
    ------
    ValueError
        Naming ``seed`` or ``index`` when it is not an integer >= 0 (a float, a string,
        a boolean or a negative number).
    """
    seed = chk.integer(seed, "seed", low=0)
    index = chk.integer(index, "index", low=0)
    return int(np.random.SeedSequence(seed, spawn_key=(index,)).generate_state(1, np.uint64)[0])


def recorded_rounds(rounds: int, every: int) -> np.ndarray:
    """The rounds :func:`modesim.iterate` records: 0, every, 2·every, … and the last.

    The ``round`` coordinate of a sweep (theory §1: time is a coordinate, the grid and the
    prompts are batch axes).

    Parameters
    ----------
    rounds : int >= 0
    every : int >= 1

    Returns
    -------
    ndarray of int64, shape ``(ceil(rounds/every) + 1,)``
        Increasing, from 0 to ``rounds``.

    Raises
    ------
    ValueError
        Naming ``rounds`` when it is not an integer >= 0, or ``every`` when it is not an
        integer >= 1.

    >>> from modesim.sweeps import recorded_rounds
    >>> recorded_rounds(5, 2).tolist()
    [0, 2, 4, 5]
    """
    rounds = chk.integer(rounds, "rounds", low=0)
    every = chk.integer(every, "every", low=1)
    r = np.arange(0, rounds + 1, every, dtype=np.int64)
    return r if r[-1] == rounds else np.append(r, np.int64(rounds))


@dataclass(frozen=True, eq=False)
class Plan:
    """Everything a chunk needs (sent once to each Dask worker)."""

    spec: _rules.RuleSpec
    axes: tuple
    task: Task
    rounds: int
    every: int
    fns: dict
    with_k: frozenset
    n_k: int
    record_policy: bool
    sampled: bool
    seed: int
    n_seeds: int
    layout: _grid.Layout

    def params(self, region) -> dict:
        """The rule parameters of a chunk: arrays on their own leading axis for batched
        axes (theory §1: they broadcast against the task's batch axes), scalars otherwise."""
        nb = sum(a.batched for a in self.axes)
        tail = len(self.task.batch_shape)
        out, j = {}, 0
        for a, sl in zip(self.axes, region):
            if a.batched:
                shape = [1] * (nb + tail)
                shape[j] = sl.stop - sl.start
                out[a.name] = np.asarray(a.values[sl], dtype=np.float64).reshape(shape)
                j += 1
            else:
                out[a.name] = a.values[sl.start]
        return out

    def where(self, region) -> str:
        """``"alpha=0.1…0.3 (3 values), objective='forward'"``: a chunk, for error messages."""
        parts = []
        for a, sl in zip(self.axes, region):
            vals = a.coord[sl].tolist()
            if len(vals) == 1:
                parts.append(f"{a.name}={vals[0]!r}")
            else:
                parts.append(f"{a.name}={vals[0]!r}…{vals[-1]!r} ({len(vals)} values)")
        return ", ".join(parts) or "the only grid point"


def _arrange(plan: Plan, region, arr: np.ndarray, run_batch, name: str, n_extra: int) -> np.ndarray:
    """``(T, *run_batch, *extra)`` → ``(*grid chunk, [seed], *prompt, T, *extra)``."""
    got = arr.shape[1:arr.ndim - n_extra]
    if got != tuple(run_batch):
        raise ValueError(
            f"metric {name!r} returned shape {got} per round; a metric must return one value per "
            f"batch entry of the run, shape {tuple(run_batch)}"
        )
    sizes = tuple(sl.stop - sl.start for a, sl in zip(plan.axes, region) if a.batched)
    expected = sizes + ((plan.n_seeds,) if plan.sampled else ()) + plan.task.batch_shape
    moved = np.moveaxis(arr, 0, arr.ndim - 1 - n_extra)
    target = expected + (arr.shape[0],) + arr.shape[arr.ndim - n_extra:]
    try:
        out = np.broadcast_to(moved, target)
    except ValueError:
        raise ValueError(
            f"the rule's batch shape {tuple(run_batch)} does not fit the grid chunk {expected} "
            "(theory §1: array parameters must broadcast as leading axes against the task's batch axes)"
        ) from None
    for pos, a in enumerate(plan.axes):
        if not a.batched:
            out = np.expand_dims(out, pos)
    return np.ascontiguousarray(out)


def run_chunk(plan: Plan, index: int) -> dict:
    """Run chunk ``index`` of ``plan``: one batched :func:`modesim.iterate` call.

    Returns name → array with dimensions ``(*grid chunk, [seed], *prompt, round, [k | mode])``.
    A pure function of its arguments (a sampled rule's seed is :func:`point_seed` of the
    chunk's grid point).
    """
    region = plan.layout.region(index)
    try:
        rule = plan.spec.build(plan.params(region))
        task = plan.task
        if plan.sampled:
            rule = replace(rule, seed=point_seed(plan.seed, plan.layout.point_index(region)))
            task = task.broadcast((plan.n_seeds,) + task.batch_shape)
        traj = iterate(rule, task, plan.rounds, every=plan.every, metrics=_metrics.functions(plan.fns),
                       record_policy=plan.record_policy, progress=False)
        run_batch = traj.final.log_policy.shape[:-1]
        out = {name: _arrange(plan, region, arr, run_batch, name, 1 if name in plan.with_k else 0)
               for name, arr in traj.metrics.items()}
        if plan.record_policy:
            out["log_policy"] = _arrange(plan, region, traj.log_policy, run_batch, "log_policy", 1)
    except ValueError as exc:
        raise ValueError(f"sweep chunk {index} ({plan.where(region)}): {exc}") from None
    return out


# ------------------------------------------------------------------ checks before running


def _task_and_labels(task, prompts):
    """The task, its prompt dimension names and coordinate labels."""
    labels, extra = None, {}
    if not isinstance(task, Task) and isinstance(getattr(task, "task", None), Task):
        bank = task
        task = bank.task
        if prompts is None and getattr(bank, "prompt_ids", None) is not None:
            prompts = {"prompt": list(bank.prompt_ids)}
        mode_labels = getattr(bank, "mode_labels", None)
        if mode_labels is not None:
            extra["cluster"] = np.asarray(mode_labels, dtype=object)
    chk.task(task, "task")
    n = len(task.batch_shape)
    if prompts is None:
        names = ("prompt",) if n == 1 else tuple(f"prompt_{i}" for i in range(n))
    elif isinstance(prompts, str):
        names = (prompts,)
    elif isinstance(prompts, Mapping):
        names = tuple(prompts)
        labels = list(prompts.values())
    elif isinstance(prompts, (list, tuple)) and all(isinstance(p, str) for p in prompts):
        names = tuple(prompts)
    else:
        raise ValueError(
            f"prompts must name the task's batch axes: a name, a list of names or a mapping of names to "
            f"labels; got {chk.describe(prompts)}"
        )
    if len(names) != n or len(set(names)) != n:
        raise ValueError(f"prompts must give {n} distinct name(s), one per batch axis of the task (batch shape {task.batch_shape}); got {list(names)}")
    coords = {}
    for i, name in enumerate(names):
        if not isinstance(name, str) or not name:
            raise ValueError(f"prompts: dimension names must be non-empty strings; got {name!r}")
        if labels is None:
            coords[name] = np.arange(task.batch_shape[i], dtype=np.int64)
        else:
            lab = np.asarray(labels[i])
            if lab.ndim != 1 or lab.size != task.batch_shape[i]:
                raise ValueError(
                    f"prompts[{name!r}] must hold {task.batch_shape[i]} labels (the task's batch axis {i}); "
                    f"got {chk.describe(labels[i])}"
                )
            if lab.dtype.kind in "US":
                lab = lab.astype(object)
            coords[name] = lab
    return task, names, coords, extra


def _diagnose(spec, axes, base: dict, exc: Exception) -> ValueError:
    """A ValueError naming the grid entry and value the rule refuses (``exc`` came from
    building the rule at ``base``, one value per axis, or with whole batched axes).

    If ``base`` itself fails and some axis taking another value makes the rule build, that
    axis's value in ``base`` is the culprit; otherwise each axis's values are tried with
    the others at ``base``.
    """
    def fails(params):
        try:
            spec.build(params)
        except ValueError as sub:
            return sub
        return None

    def named(a, i, err):
        label = a.coord[i].item() if hasattr(a.coord[i], "item") else a.coord[i]
        return ValueError(f"grid[{a.name!r}] value {label!r} (index {i}) is refused by the rule: {err}")

    base_err = fails(base)
    if base_err is not None:
        for a in axes:
            i0 = next(i for i, v in enumerate(a.values) if v is base[a.name])
            for i, v in enumerate(a.values):
                if i != i0 and fails({**base, a.name: v}) is None:
                    return named(a, i0, base_err)
    for a in axes:
        for i, v in enumerate(a.values):
            err = fails({**base, a.name: v})
            if err is not None:
                return named(a, i, err)
    shown = ", ".join(f"{n}={v!r}" for n, v in base.items())
    return ValueError(f"the rule refuses the grid's values ({shown}): {exc}")


def _check_grid(spec, axes, sampled: bool) -> None:
    """Build the rule of every group (batched axes whole) or, for a sampled rule, of every
    point, so that a bad grid value fails before anything runs or is written."""
    nb = sum(a.batched for a in axes)
    for idx in np.ndindex(tuple(1 if a.batched else len(a) for a in axes)):
        base = {a.name: a.values[i] for a, i in zip(axes, idx)}
        params, j = dict(base), 0
        for a in axes:
            if a.batched:
                shape = [1] * nb
                shape[j] = len(a)
                params[a.name] = np.asarray(a.values).reshape(shape)
                j += 1
        try:
            spec.build(params)
        except ValueError as exc:
            raise _diagnose(spec, axes, base, exc) from None


def _metric_description(metrics, fns) -> dict:
    if isinstance(metrics, Mapping):
        return {n: (v if isinstance(v, str) else _rules.describe(v)) for n, v in metrics.items()}
    return {n: n for n in fns}


def _task_digest(task: Task) -> str:
    h = hashlib.sha256()
    for arr in (task.log_base, task.valid):
        a = np.ascontiguousarray(arr)
        h.update(repr((a.shape, a.dtype.str)).encode())
        h.update(a.tobytes())
    for key in sorted(task.ood):
        h.update(key.encode())
        h.update(np.ascontiguousarray(task.ood[key]).tobytes())
    return h.hexdigest()


def sweep(
    rule,
    task,
    grid=None,
    *,
    rounds: int,
    every: int = 1,
    metrics=None,
    k=(1, 4, 16),
    record_policy: bool = False,
    seed: int = 0,
    n_seeds: int | None = None,
    scalar=(),
    prompts=None,
    out=None,
    overwrite: bool = False,
    chunks=None,
    client=None,
    progress: bool | None = None,
):
    """Run ``rule`` over a grid of settings on ``task``; the results as a labelled dataset (theory §1).

    Every real-valued grid entry becomes an array parameter on its own leading batch axis
    (theory §1: parameter grids broadcast against the task's batch axes), so a block of the
    grid is one batched :func:`modesim.iterate` call; integer, boolean, string and object
    entries (group size, number of demonstrations, objective, teacher) are run one value at
    a time and concatenated.  Results are identical, bit for bit, whatever the number of
    Dask workers, and whatever the chunking except for ``objective="jsd"``: its exact round
    solves a block of rows together where the compiled kernel does not take them (theory
    §8.1), and its last digits (~1e-15) depend on the block.

    Parameters
    ----------
    rule : rule or callable
        A rule whose fields the grid replaces by dotted path (``"beta"``,
        ``"teacher.alpha"``, ``"teacher_base.tau"``; validated again by the rule), or a
        factory ``f(**params) -> rule`` called with the grid's names as keywords (it must
        accept arrays for batched entries).
    task : Task, or a bank with ``.task`` (e.g. :func:`modesim.rollouts.rollout_bank`)
        Its batch axes are the ``prompt`` dimensions (a bank's prompt ids label them).
    grid : mapping of name to values
        A 1-D sequence (or a mapping of labels to values) per entry.  Real numbers are
        batched unless named in ``scalar``; anything else runs one value at a time.
    rounds : int >= 0
        Rounds (steps, for a sampled rule) of every run.
    every : int >= 1
        Record rounds 0, every, 2·every, … and the last (the ``round`` coordinate).
    metrics : list of names, or mapping of name to name or callable, optional
        Built-ins of :func:`modesim.iterate` (``valid_mass``, ``top_valid``, ``entropy``,
        ``effective_modes``, ``kl_to_rl_target``) and ``pass_at_k`` / ``distinct_at_k``
        (with a ``k`` dimension); a callable takes ``(policy, task)`` and returns one value
        per batch entry.  Default: ``valid_mass``, ``effective_modes``, ``pass_at_k``.
    k : sequence of int
        The ``k`` values of ``pass_at_k`` and ``distinct_at_k``.
    record_policy : bool
        Also store ``log_policy`` (dimension ``mode``): grid × rounds × K values.
    seed : int >= 0
        Sweep seed of a sampled rule: grid point ``i`` (flat, row-major over the grid) runs
        with ``dataclasses.replace(rule, seed=point_seed(seed, i))``.
    n_seeds : int >= 1, optional
        Independent runs per grid point of a sampled rule (the ``seed`` dimension; the task
        is replicated along a leading axis, default 1).  Refused for deterministic rules.
    scalar : names
        Real-valued grid entries to pass one value at a time (for a factory or parameter that
        does not accept arrays).
    prompts : str, list of str or mapping of name to labels, optional
        Names (and labels) of the task's batch dimensions; default ``prompt`` (``prompt_0``,
        ``prompt_1``, … for several axes).
    out : path, optional
        Write the results to a Zarr store chunk by chunk (resumable: run the same sweep
        again to finish an interrupted one) or, for ``.nc``, to netCDF at the end.
    overwrite : bool
        Replace a store at ``out`` that holds a different sweep (or an existing netCDF file);
        a path that is not a Zarr store is never deleted.
    chunks : None, int or mapping of name to int
        Chunk sizes along batched grid entries (None: automatic, from the grid and the task
        alone).  A sampled rule runs one grid point per chunk.
    client : dask.distributed.Client, optional
        Run the chunks as Dask tasks on this client's cluster (default: in this process).
    progress : bool or None
        A progress bar over chunks (None: shown for large sweeps).

    Returns
    -------
    xarray.Dataset
        Dimensions: the grid's names (in order), ``seed`` (sampled rules), the prompt
        dimensions, ``round``, and ``k`` or ``mode``; one variable per metric
        ``(*grid, [seed], *prompts, round[, k])``, ``log_policy`` if recorded, the task's
        ``log_base`` and ``valid`` ``(*prompts, mode)``; attributes saying what produced it
        (rule and grid as JSON, task digest, rounds, metrics, seed, modesim version and a
        fingerprint of all of these).  With ``out`` the dataset is read from the store.

    Raises
    ------
    ValueError
        Naming the argument, or the grid entry and value the rule refuses (before anything
        runs); an error inside a chunk names the chunk's settings.
    ImportError
        xarray, zarr or dask is not installed (``pip install 'modesim[sweep]'``).

    Examples
    --------
    >>> import modesim as ms
    >>> ds = ms.sweep(ms.SelfDistillation(ms.CopyTeacher(0.5)), ms.make_task([0.6, 0.3, 0.1]),
    ...               {"teacher.alpha": [0.0, 0.5, 0.9], "beta": [0.0, 1.0]}, rounds=5,
    ...               metrics=["top_valid"])
    >>> dict(ds.sizes)
    {'teacher.alpha': 3, 'beta': 2, 'round': 6, 'mode': 3}
    >>> float(ds.top_valid.sel({"teacher.alpha": 0.5, "beta": 0.0, "round": 5}).round(3))
    0.847
    """
    import modesim

    storage.require("xarray", "zarr", "dask")
    rounds = chk.integer(rounds, "rounds", low=0)
    every = chk.integer(every, "every", low=1)
    record_policy = chk.boolean(record_policy, "record_policy")
    overwrite = chk.boolean(overwrite, "overwrite")
    if progress is not None:
        progress = chk.boolean(progress, "progress")
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(
            f"seed must be a non-negative integer (the random key of every grid point of a sampled "
            f"rule derives from it); got {chk.describe(seed)}"
        )
    seed = int(seed)
    client = executor.check_client(client)
    task, prompt_dims, prompt_coords, extra_coords = _task_and_labels(task, prompts)
    spec = _rules.RuleSpec(rule)
    reserved = RESERVED + prompt_dims
    axes0 = _grid.make_axes(grid, scalar=scalar, reserved=reserved)
    first = {a.name: a.values[0] for a in axes0}
    try:
        probe = spec.build(first)
    except ValueError as exc:
        raise _diagnose(spec, axes0, first, exc) from None
    sampled = "deterministic" not in capabilities(probe)
    if sampled:
        if not (is_dataclass(probe) and "seed" in {f.name for f in fields(probe)}):
            raise ValueError(
                f"{type(probe).__name__} is not deterministic and has no seed field: a sweep cannot make "
                "its runs reproducible (a sampled rule must be a dataclass with a seed field)"
            )
        n_seeds = 1 if n_seeds is None else chk.integer(n_seeds, "n_seeds", low=1)
        axes = _grid.make_axes(grid, scalar=scalar, reserved=reserved, sampled=True)
    else:
        if n_seeds is not None:
            raise ValueError(
                f"n_seeds is for sampled rules; {type(probe).__name__} is deterministic (every seed "
                f"would give the same run); got n_seeds={chk.describe(n_seeds)}"
            )
        n_seeds = 1
        axes = axes0
    fns, with_k, ks = _metrics.resolve(metrics, k)
    K = task.n_modes
    n_task = math.prod(task.batch_shape)
    rounds_coord = recorded_rounds(rounds, every)
    per_round = sum(ks.size if n in with_k else 1 for n in fns) + (K if record_policy else 0)
    _check_grid(spec, axes, sampled)

    # ----------------------------------------------------------- the dataset's skeleton
    grid_dims = tuple(a.name for a in axes)
    lead = grid_dims + (("seed",) if sampled else ()) + prompt_dims
    lead_shape = tuple(len(a) for a in axes) + ((n_seeds,) if sampled else ()) + task.batch_shape
    variables = {}
    for name in fns:
        tail = ("round", "k") if name in with_k else ("round",)
        tail_shape = (rounds_coord.size, ks.size) if name in with_k else (rounds_coord.size,)
        variables[name] = (lead + tail, lead_shape + tail_shape)
    if record_policy:
        variables["log_policy"] = (lead + ("round", "mode"), lead_shape + (rounds_coord.size, K))
    for name in variables:
        if name in grid_dims or name in prompt_dims or name in RESERVED or name in ("log_base", "valid", "cluster"):
            raise ValueError(f"metric name {name!r} clashes with a dimension or variable of the results; rename it")
        if "/" in name:
            raise ValueError(f"metric name {name!r} must not contain '/' (it names an array in the store)")
    coords = {a.name: (a.name, a.coord) for a in axes}
    if sampled:
        coords["seed"] = ("seed", np.arange(n_seeds, dtype=np.int64))
    coords.update({n: (n, c) for n, c in prompt_coords.items()})
    coords["round"] = ("round", rounds_coord)
    if with_k:
        coords["k"] = ("k", ks)
    coords["mode"] = ("mode", np.arange(K, dtype=np.int64))
    if "cluster" in extra_coords:
        coords["cluster"] = (prompt_dims + ("mode",), extra_coords["cluster"])
    static = {
        "log_base": (prompt_dims + ("mode",), np.asarray(task.log_base)),
        "valid": (prompt_dims + ("mode",), np.asarray(task.valid)),
    }
    description = {
        "modesim_version": modesim.__version__,
        **spec.describe(first),
        "grid": {a.name: {"values": _rules.describe(list(a.values)), "batched": a.batched,
                          **({"labels": a.coord.tolist()} if a.coord.tolist() != list(a.values) else {})}
                 for a in axes},
        "task": {"batch_shape": list(task.batch_shape), "n_modes": K, "sha256": _task_digest(task)},
        "prompts": {n: _rules.describe(c.tolist()) for n, c in prompt_coords.items()},
        "rounds": rounds,
        "every": every,
        "metrics": _metric_description(metrics, fns),
        "k": ks.tolist(),
        "record_policy": record_policy,
        "seed": seed,
        "n_seeds": n_seeds if sampled else None,
    }
    fingerprint = hashlib.sha256(json.dumps(description, sort_keys=True).encode()).hexdigest()
    attrs = {
        "modesim_version": modesim.__version__,
        "rule": json.dumps({k2: v for k2, v in description.items() if k2 in ("rule", "factory", "rule_at_first_point")}),
        "grid": json.dumps(description["grid"]),
        "task": json.dumps(description["task"]),
        "rounds": rounds,
        "every": every,
        "metrics": json.dumps(description["metrics"]),
        "seed": seed,
        "sampled": int(sampled),
        "fingerprint": fingerprint,
    }
    if with_k:
        attrs["k"] = ks.tolist()
    if sampled:
        attrs["n_seeds"] = n_seeds
        attrs["random_keys"] = (
            "grid point i (flat, row-major over the grid dimensions) ran with rule seed "
            "numpy.random.SeedSequence(seed, spawn_key=(i,)).generate_state(1, numpy.uint64)[0]"
        )

    # ----------------------------------------------------------- chunks (resuming: the store's)
    zarr_out = out is not None and not storage.is_netcdf(out)
    if out is not None and not zarr_out and Path(out).exists() and not overwrite:
        raise ValueError(f"out {str(out)!r} exists; pass overwrite=True to replace it, or choose another path")
    if zarr_out and chunks is None and not overwrite:
        chunks = storage.stored_layout(out, fingerprint)
    layout = _grid.make_layout(
        axes, chunks, point_state=n_seeds * n_task * K,
        point_record=n_seeds * n_task * rounds_coord.size * max(per_round, 1), sampled=sampled,
    )
    plan = Plan(spec, axes, task, rounds, every, fns, with_k, ks.size, record_policy, sampled, seed, n_seeds, layout)

    # ----------------------------------------------------------- where results go
    if zarr_out:
        import dask.array as da
        import xarray as xr

        chunk_of = dict(zip(grid_dims, layout.chunks))
        data = {}
        for name, (dims, shape) in variables.items():
            cks = tuple(chunk_of.get(d, n) for d, n in zip(dims, shape))
            data[name] = (dims, da.full(shape, np.nan, chunks=cks, dtype=np.float64))
        data[storage.MARKER] = ((storage.MARKER_DIM,), np.zeros(layout.n_chunks, dtype=bool))
        template = xr.Dataset({**data, **static}, coords=coords, attrs=attrs)
        done = storage.prepare(out, template, layout=storage.layout_json(layout.chunks, grid_dims),
                               n_chunks=layout.n_chunks, overwrite=overwrite)

        def sink(i, result):
            storage.write_chunk(out, i, layout.region(i), result)
    else:
        done = np.zeros(layout.n_chunks, dtype=bool)
        arrays = {name: np.full(shape, np.nan) for name, (dims, shape) in variables.items()}

        def sink(i, result):
            region = layout.region(i)
            for name, arr in result.items():
                arrays[name][region] = arr

    pending = [i for i in range(layout.n_chunks) if not done[i]]
    long = layout.n_chunks > 1 and float(rounds) * n_seeds * n_task * K * math.prod(layout.shape) > 2e8
    with progress_bar(progress, auto=long, total=layout.n_chunks, initial=layout.n_chunks - len(pending),
                      desc="sweep", unit="chunk") as bar:
        if client is None:
            executor.run_local(run_chunk, plan, pending, sink, bar)
        else:
            executor.run_dask(run_chunk, plan, pending, sink, bar, client)

    if zarr_out:
        return storage.load_sweep(out)
    import xarray as xr

    ds = xr.Dataset(
        {**{name: (variables[name][0], arr) for name, arr in arrays.items()}, **static},
        coords=coords, attrs=attrs,
    )
    if out is not None:
        ds.to_netcdf(out)
    return ds
