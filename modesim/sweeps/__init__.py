"""Sweeps: parameter grids as batch axes, labelled results on disk, and Dask when one machine is not enough.

``ms.sweep(rule, task, grid, rounds=...)`` runs a rule over a grid of settings and returns
an :class:`xarray.Dataset` (:func:`modesim.sweeps.sweep`); ``ms.load_sweep(path)`` reads a
stored one back.  Running a
sweep needs xarray, zarr and dask (``pip install 'modesim[sweep]'``); ``import modesim`` and
``import modesim.sweeps`` import none of them.

**Grids as batch axes** (theory §1, parameter grids).  Every real-valued grid entry (α, β,
κ, τ, a learning rate, a step size) is passed to the rule as an array on its own leading
axis, broadcasting against the task's batch axes, so a block of the grid is *one* batched
:func:`modesim.iterate` call.  Integer, boolean, string and object entries (number of
demonstrations, group size, objective, teacher) cannot be arrays: the engine runs each
value (each *group*) separately and concatenates.  The grid names are the keywords of a
rule factory (``lambda alpha, beta: ms.SelfDistillation(ms.CopyTeacher(alpha), beta=beta)``)
or dotted field paths of a rule (``"teacher.alpha"``, ``"beta"``), replaced with
:func:`dataclasses.replace` (and so validated by the rule).

**Chunks.**  The grid is cut into chunks (blocks along batched entries, one value along
the others) that are scheduled, stored and resumed as units.  The cut depends only on the
grid, the task and ``chunks=``, never on the executor; and a deterministic rule's results
do not depend on the cut at all (every formula acts row by row, theory §1), which the
tests check bit for bit.

**Random keys of sampled rules.**  A rule that is not ``deterministic`` (its
``capabilities``) must be a dataclass with a ``seed`` field.  Grid point ``i`` (flat index,
row-major over the grid dimensions) runs with ``dataclasses.replace(rule, seed=s_i)``,
``s_i = SeedSequence(seed, spawn_key=(i,)).generate_state(1, uint64)[0]``
(:func:`~modesim.sweeps.engine.point_seed`), on the task replicated ``n_seeds`` times along
a leading ``seed`` axis; each chunk is one grid point.  So the random stream of every run
is a function of the sweep seed and the point's place in the grid alone: results are
identical whatever the number of workers or the order in which chunks run.

**Storage** (:mod:`modesim.sweeps.storage`): a Zarr store written chunk by chunk, resumable
after a kill; netCDF at the end.  **Execution** (:mod:`modesim.sweeps.executor`): in this
process by default; ``client=`` a :class:`distributed.Client` runs chunks as Dask tasks.
**Configuration files and the command line**: :mod:`modesim.sweeps.config`,
:mod:`modesim.sweeps.cli` (``modesim sweep CONFIG.toml --out results.zarr``).
"""

from __future__ import annotations

from .engine import point_seed, recorded_rounds, sweep
from .storage import load_sweep

__all__ = ["sweep", "load_sweep", "point_seed", "recorded_rounds"]
