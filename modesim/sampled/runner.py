"""Running finite-sample rules over many seeds, and comparing them with their mean field (theory §6).

- :func:`replicate`: a task with a leading axis of independent copies (seeds).
- :func:`train`: :func:`modesim.iterate` on those copies, with the seed range explicit so
  that chunks of seeds reproduce one large run exactly.
- :func:`mean_field_distance`: how far simulated policies are from a reference trajectory
  (the mean field, :func:`modesim.flow`).
- :func:`mean_field`: deprecated; the mean field is :func:`modesim.flow`.

Seed statistics (fixation probabilities, collapse times, fans) are metrics:
:func:`modesim.metrics.fixation_probability`, :func:`~modesim.metrics.collapse_times`,
:func:`~modesim.metrics.fan`.
"""

from __future__ import annotations

import numpy as np

from .. import _checks as chk
from .._compat import deprecated
from ..dynamics import Trajectory, flow, iterate
from ..task import Task

__all__ = ["replicate", "train", "mean_field_distance", "mean_field"]


def replicate(task: Task, n_seeds: int) -> Task:
    """The task with a new leading axis of ``n_seeds`` independent copies (seeds; theory §1).

    Returns a task of the same kind (:class:`~modesim.Task`, :class:`~modesim.paths.PathTask`
    or :class:`~modesim.paths.GraphBank`) of batch shape ``(n_seeds, *task.batch_shape)``
    whose arrays are read-only broadcast views (no copy).  A seed axis is a batch axis like
    any other (theory §1, batch convention): a sampled rule draws an independent stream per
    entry.

    Raises
    ------
    ValueError
        ``n_seeds`` not an integer >= 1; ``task`` not a :class:`~modesim.Task`, path task or
        graph bank.

    >>> import modesim as ms
    >>> ms.replicate(ms.make_task([0.6, 0.3, 0.1]), 4).batch_shape
    (4,)
    """
    n = chk.integer(n_seeds, "n_seeds", low=1)
    if not isinstance(task, Task) and not _is_path_task(task):
        raise ValueError(
            f"task must be a modesim.Task, a modesim.paths.PathTask or a GraphBank; got {chk.describe(task)}"
        )
    return task.broadcast((n,) + task.batch_shape)


def _is_path_task(task) -> bool:
    """A path task or graph bank (imported lazily: modesim.paths is not loaded by ``import modesim``)."""
    import sys

    paths = sys.modules.get("modesim.paths")
    return paths is not None and isinstance(task, (paths.PathTask, paths.GraphBank))


def train(
    rule,
    task: Task,
    steps: int,
    *,
    n_seeds: int = 1,
    first_seed: int = 0,
    offset=(),
    every: int = 1,
    metrics=None,
    record_policy: bool = True,
    progress: bool | None = None,
) -> Trajectory:
    """Run a sampled rule for ``steps`` steps on ``n_seeds`` copies of ``task`` (theory §2.3, §3.6).

    :func:`modesim.iterate` on :func:`replicate`.  Seed ``s`` of the run is entry ``s`` of
    the leading axis; its random stream depends only on the rule's ``seed``, the global seed
    index ``first_seed + s``, its position in the task and the step
    (:mod:`modesim.sampled.sampling`).  So ``train(..., n_seeds=3, first_seed=2)`` equals,
    bit for bit, seeds 2–4 of ``train(..., n_seeds=10)``, and a sweep engine that splits
    seeds (or prompts, through ``offset``) into chunks reproduces one large run exactly,
    whatever the number of workers (theory §8.2, TC6: the chunking contract).  (This needs
    an int ``seed`` in the rule: a Generator is drawn from at every ``init``, so each chunk
    would get a new root key.)

    Parameters
    ----------
    rule : a sampled rule (:class:`SampledRL`, :class:`SampledSD`) or any rule
    task : Task, PathTask or GraphBank
    steps : int >= 0
    n_seeds : int >= 1
    first_seed : int in [0, 2**63)
        Global index of the first seed (for running seeds in chunks; the streams' keys are
        uint64, so positions end there).
    offset : tuple of int
        Position of ``task`` inside a larger task, one int per task batch axis (for running
        prompts in chunks); empty for the whole task.
    every, metrics, record_policy : as in :func:`modesim.iterate`
    progress : bool or None
        None shows a progress bar when ``steps × seeds × batch × N × K > 2e8``.

    Returns
    -------
    Trajectory
        ``log_policy`` of shape ``(T, n_seeds, *batch_shape, K)``; with array-valued
        parameters (a grid) their axes come first, broadcast against ``(n_seeds,
        *batch_shape)`` (so a grid axis needs its own position, e.g. ``lr[:, None]`` for a
        grid over learning rates: shape ``(T, len(lr), n_seeds, *batch_shape, K)``);
        ``final.silent_groups`` counts the steps without signal per seed and prompt.

    Raises
    ------
    ValueError
        ``steps`` or ``first_seed`` not an integer in [0, 2**63), ``n_seeds`` not an integer >= 1;
        ``task`` not a task; ``offset`` not a tuple with one entry per batch axis of the
        task; ``first_seed``/``offset`` with a rule that has no random stream to place;
        array-valued rule parameters that do not broadcast against
        ``(n_seeds, *task.batch_shape)``; and everything :func:`modesim.iterate` and the
        rule's rounds raise (e.g. a step that overflows the float range).

    Examples
    --------
    >>> import modesim as ms
    >>> task = ms.make_task([0.5, 0.3, 0.2], [1, 1, 0])
    >>> whole = ms.train(ms.SampledRL("grpo", seed=1), task, 5, n_seeds=4)
    >>> part = ms.train(ms.SampledRL("grpo", seed=1), task, 5, n_seeds=2, first_seed=2)
    >>> bool((whole.log_policy[:, 2:] == part.log_policy).all())
    True
    """
    steps = chk.integer(steps, "steps", low=0)
    first_seed = chk.integer(first_seed, "first_seed", low=0)
    big = replicate(task, n_seeds)
    if not isinstance(offset, (tuple, list)):
        raise ValueError(
            f"offset must be a tuple of non-negative integers, one per batch axis of the task; "
            f"got {chk.describe(offset)}"
        )
    if len(offset) not in (0, len(task.batch_shape)):
        raise ValueError(
            f"offset must have one entry per batch axis of the task ({len(task.batch_shape)}); "
            f"got {chk.describe(offset)}"
        )
    full = (first_seed, *offset) if offset else (first_seed,) + (0,) * len(task.batch_shape)
    state = None
    if any(full):
        try:
            state = rule.init(big, offset=full)
        except TypeError:
            raise ValueError(
                f"first_seed and offset need a sampled rule (init(task, offset=...)); "
                f"{type(rule).__name__} has no random stream to place"
            ) from None
    params = getattr(rule, "param_shape", ())
    try:
        np.broadcast_shapes(params, big.batch_shape)
    except ValueError:
        raise ValueError(
            f"the rule's array-valued parameters have shape {params}, which does not broadcast against "
            f"(n_seeds, *task.batch_shape) = {big.batch_shape}; train puts the seeds first, so give a "
            f"grid its own leading axes, e.g. lr[:, None] (theory §1)"
        ) from None
    if progress is None:
        work = float(steps) * np.prod(big.log_base.shape) * getattr(rule, "n_rollouts", 1)
        progress = work > 2e8
    return iterate(
        rule, big, steps, every=every, metrics=metrics, record_policy=record_policy,
        progress=progress, state=state,
    )


def mean_field_distance(
    simulated: Trajectory, reference: Trajectory, *, seed_axis: int | None = 0, average: bool = False
) -> float:
    """``max_{t, runs, y} |π_sim(t) − π_ref(t)|`` over the common recorded times (theory §6).

    Parameters
    ----------
    simulated : Trajectory
        From :func:`train` (policies recorded), batch shape ``(n_seeds, *task.batch_shape)``.
    reference : Trajectory
        From :func:`modesim.flow` on the task (the mean field), at the same times.
    seed_axis : int or None
        The batch axis of ``simulated`` that the reference lacks (0 for :func:`train`);
        None when both have the same batch shape.
    average : bool
        Compare the seed-averaged trajectory (the mean's distance) instead of every run.

    Returns
    -------
    float
        A difference of probabilities, in [0, 1].

    Raises
    ------
    ValueError
        ``simulated`` or ``reference`` not a :class:`~modesim.dynamics.Trajectory` (or one
        recorded without policies); the times differ; ``seed_axis`` not a batch axis of
        ``simulated``; ``average`` not a boolean; the shapes do not match.
    """
    for name, traj in (("simulated", simulated), ("reference", reference)):
        if not isinstance(traj, Trajectory):
            raise ValueError(f"{name} must be a modesim Trajectory; got {chk.describe(traj)}")
    average = chk.boolean(average, "average")
    if simulated.times.shape != reference.times.shape or not np.allclose(simulated.times, reference.times):
        raise ValueError(
            "simulated and reference must be recorded at the same times; got "
            f"{chk.describe(simulated.times)} and {chk.describe(reference.times)}"
        )
    p, ref = simulated.policy, reference.policy
    if seed_axis is not None:
        seed_axis = chk.integer(seed_axis, "seed_axis", low=0, high=p.ndim - 3)
        p = p.mean(axis=seed_axis + 1) if average else p
        ref = ref if average else np.expand_dims(ref, seed_axis + 1)
    try:
        shape = np.broadcast_shapes(p.shape, ref.shape)
    except ValueError:
        shape = None
    if shape is None or shape != p.shape:
        raise ValueError(
            f"simulated policies of shape {simulated.policy.shape} do not match reference "
            f"policies of shape {reference.policy.shape} (seed_axis={seed_axis!r})"
        )
    return float(np.max(np.abs(p - ref)))


def mean_field(rule, task: Task, t_eval, *, rtol: float = 1e-8, atol: float = 1e-10) -> Trajectory:
    """Deprecated: the mean field of a sampled rule is :func:`modesim.flow` (theory §6).

    ``mean_field(rule, task, t)`` is ``modesim.flow(rule, task, t, rtol=rtol, atol=atol)``;
    this alias warns (:class:`DeprecationWarning`) and is removed in modesim 0.3.

    Raises
    ------
    ValueError
        As :func:`modesim.flow` (a rule without a velocity, bad times or tolerances).
    """
    deprecated("modesim.sampled.mean_field", "modesim.flow(rule, task, t_eval)")
    return flow(rule, task, t_eval, rtol=rtol, atol=atol)
