"""Iteration and continuous time, written once for every rule (theory §3.5, §6).

- :func:`iterate`: discrete rounds of any rule, recording every n-th state and/or chosen
  metrics, with a progress bar for long runs.
- :func:`flow`: the continuous-time limit ``d log π_i/dt = g_i − Σ_j π_j g_j`` with
  ``g = rule.velocity(log π, task)``, integrated with :func:`scipy.integrate.solve_ivp`;
  an EMA teacher is integrated alongside as a second state.  For a sampled rule this is
  its mean field.
- :func:`rounds_to_collapse`: first round at which the top valid mode exceeds 1 − ε.

Jacobians and fixed points are in :mod:`modesim.stability`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from . import _checks as chk
from . import metrics as _m
from ._progress import progress_bar
from .rule import State, capabilities, require
from .simplex import log_normalise
from .task import Task

__all__ = ["Trajectory", "iterate", "flow", "rounds_to_collapse", "BUILTIN_METRICS"]

#: Metrics that ``iterate``/``flow`` accept by name; each maps (policy, task) to shape (...):
#: ``valid_mass`` = π(C) (pass@1); ``top_valid`` = max over valid y of π(y) (the favourite
#: correct answer's probability, not conditioned on C); ``entropy`` = H(π(·|C)) in nats;
#: ``effective_modes`` = exp H(π(·|C)); ``kl_to_rl_target`` = KL(π(·|C) ‖ π0(·|C)) in nats
#: (theory §4).  :func:`modesim.sweep` also records ``pass_at_k`` and ``distinct_at_k``
#: over a ``k`` dimension.
BUILTIN_METRICS: dict[str, Callable[[np.ndarray, Task], np.ndarray]] = {
    "valid_mass": lambda p, t: np.clip(np.where(t.valid, p, 0.0).sum(-1), 0.0, 1.0),
    "top_valid": lambda p, t: np.where(t.valid, p, 0.0).max(-1),
    "entropy": lambda p, t: _m.entropy(p, np.broadcast_to(t.valid, p.shape)),
    "effective_modes": lambda p, t: _m.effective_modes(p, np.broadcast_to(t.valid, p.shape)),
    "kl_to_rl_target": lambda p, t: _m.kl_to_rl_target(p, t.broadcast(p.shape[:-1])),
}


@dataclass(frozen=True, eq=False)
class Trajectory:
    """Recorded states of a rule over rounds (or of a flow over time; theory §1, §6).

    A plain record built by :func:`iterate` and :func:`flow` (it checks nothing itself).

    Attributes
    ----------
    times : ndarray, shape (T,)
        Round indices (``iterate``) or times (``flow``); always starts with the initial
        state (round 0 / ``t_eval[0]``).
    log_policy : ndarray, shape (T, ..., K), or None
        Recorded log-policies (None when ``record_policy=False``).
    metrics : dict of str to ndarray of shape (T, ...)
        Recorded metric values.
    final : State
        The last state (for continuing a run).
    """

    times: np.ndarray
    log_policy: np.ndarray | None
    metrics: Mapping[str, np.ndarray]
    final: State

    @property
    def policy(self) -> np.ndarray:
        """Recorded policies as probabilities, shape ``(T, ..., K)``.

        Raises
        ------
        ValueError
            If the trajectory was recorded with ``record_policy=False``.
        """
        if self.log_policy is None:
            raise ValueError("this trajectory was recorded with record_policy=False")
        return np.exp(self.log_policy)

    def to_xarray(self, dims=None, *, coords=None):
        """The trajectory as an :class:`xarray.Dataset` (needs ``pip install modesim[sweep]``).

        Dimensions: ``round`` (integer times, from :func:`iterate`) or ``time`` (from
        :func:`flow`), then the batch dimensions, then ``mode`` for ``log_policy``; one
        variable per metric (a metric with extra trailing axes gets dimensions
        ``<name>_dim_0``, …).  Coordinates: the times, ``mode = 0..K−1``, and ``coords``.

        Parameters
        ----------
        dims : str or sequence of str, optional
            Names of the batch dimensions (default ``batch_0``, ``batch_1``, …).
        coords : mapping, optional
            Extra coordinates, e.g. ``{"beta": betas}`` for a batch dimension named ``beta``.

        Raises
        ------
        ValueError
            If ``dims`` does not give one distinct name per batch axis.
        ImportError
            If xarray is not installed.
        """
        try:
            import xarray as xr
        except ImportError as exc:
            raise ImportError("Trajectory.to_xarray needs xarray: pip install 'modesim[sweep]' (in a checkout: pip install -e '.[sweep]')") from exc

        time = "round" if np.issubdtype(np.asarray(self.times).dtype, np.integer) else "time"
        batch = self.final.log_policy.shape[:-1]
        if dims is None:
            dims = tuple(f"batch_{i}" for i in range(len(batch)))
        elif isinstance(dims, str):
            dims = (dims,)
        dims = tuple(dims)
        if len(dims) != len(batch) or len(set(dims)) != len(dims) or not all(isinstance(d, str) for d in dims):
            raise ValueError(
                f"dims must give {len(batch)} distinct name(s), one per batch axis (batch shape {batch}); "
                f"got {chk.describe(dims)}"
            )
        data = {}
        if self.log_policy is not None:
            data["log_policy"] = ((time, *dims, "mode"), self.log_policy)
        for name, arr in self.metrics.items():
            extra = tuple(f"{name}_dim_{i}" for i in range(arr.ndim - 1 - len(batch)))
            data[name] = ((time, *dims, *extra), arr)
        base = {time: np.asarray(self.times), "mode": np.arange(self.final.log_policy.shape[-1])}
        return xr.Dataset(data, coords={**base, **dict(coords or {})}, attrs={"final_round": int(self.final.round)})

    def to_dataframe(self, dims=None, *, coords=None, what: str = "metrics"):
        """A tidy :class:`pandas.DataFrame`: one row per time and batch entry (and mode).

        ``what="metrics"``: columns ``round``/``time``, the batch dimensions and one column
        per metric (a metric with a trailing axis adds its dimension as a column).
        ``what="policy"``: columns ``round``/``time``, the batch dimensions, ``mode`` and
        ``policy`` (probabilities).  ``dims`` and ``coords`` as in :meth:`to_xarray`
        (batch dimensions without coordinates are numbered from 0).

        Raises
        ------
        ValueError
            If ``what`` is not ``"metrics"`` or ``"policy"``, or the trajectory recorded no
            metrics (or no policy) to tabulate.
        """
        chk.choice(what, "what", ("metrics", "policy"))
        ds = self.to_xarray(dims, coords=coords)
        if what == "policy":
            if self.log_policy is None:
                raise ValueError("this trajectory was recorded with record_policy=False; to_dataframe(what='policy') needs the policies")
            return np.exp(ds["log_policy"]).rename("policy").to_dataframe().reset_index()
        if not self.metrics:
            raise ValueError("this trajectory recorded no metrics (pass metrics= to iterate or flow); use what='policy' for the policies")
        return ds[list(self.metrics)].to_dataframe().reset_index()


def _resolve_metrics(metrics) -> dict[str, Callable]:
    if metrics is None:
        return {}
    if isinstance(metrics, str):
        metrics = [metrics]
    if isinstance(metrics, (list, tuple)):
        metrics = {name: name for name in metrics}
    if not isinstance(metrics, Mapping):
        raise ValueError(
            f"metrics must be a list of built-in names or a mapping of names to callables; "
            f"got {chk.describe(metrics)}"
        )
    out = {}
    for name, fn in metrics.items():
        if isinstance(fn, str):
            if fn not in BUILTIN_METRICS:
                raise ValueError(
                    f"metrics names an unknown metric {fn!r}; built-ins are {sorted(BUILTIN_METRICS)} "
                    "(or pass a callable (policy, task) -> array)"
                )
            fn = BUILTIN_METRICS[fn]
        elif not callable(fn):
            raise ValueError(f"metrics[{name!r}] must be a built-in name or a callable; got {chk.describe(fn)}")
        out[name] = fn
    return out


def _check_task(task, rule, fn: str) -> None:
    if not hasattr(task, "log_base") or not hasattr(task, "batch_shape"):
        hint = " (the rule comes first: iterate(rule, task, rounds))" if hasattr(task, "step") else ""
        if hasattr(getattr(task, "task", None), "log_base"):
            hint = f" (it holds one: pass its .task, e.g. {fn}(rule, bank.task, ...))"
        raise ValueError(f"{fn} takes a task (modesim.Task or a path task); got {chk.describe(task)}{hint}")
    capabilities(rule)


def _check_state(state, fresh: State, task) -> State:
    """A state to continue from: a :class:`State` of the rule's shape on ``task``, normalised
    log-probabilities (per row for categorical tasks), a whole round number ≥ 0."""
    if not isinstance(state, State):
        raise ValueError(f"state must be a modesim State (from rule.init or a trajectory's final); got {chk.describe(state)}")
    lp = np.asarray(state.log_policy, dtype=np.float64)
    if lp.shape != np.shape(fresh.log_policy):
        raise ValueError(
            f"state.log_policy has shape {lp.shape}; this rule on this task has shape "
            f"{np.shape(fresh.log_policy)} (was the state made on another task?)"
        )
    if np.any(np.isnan(lp)) or np.any(np.isposinf(lp)):
        raise ValueError("state.log_policy must not contain NaN or +inf")
    if isinstance(task, Task):
        chk.log_probabilities(lp, "state.log_policy")
    chk.integer(state.round, "state.round", low=0)
    return state


def iterate(
    rule,
    task: Task,
    rounds: int,
    *,
    every: int = 1,
    metrics=None,
    record_policy: bool = True,
    progress: bool | None = None,
    state: State | None = None,
) -> Trajectory:
    """Run ``rounds`` rounds of ``rule`` on ``task`` (every rule, batched; theory §1, §3.5).

    ``state_0 = rule.init(task)``, ``state_{t+1} = rule.step(state_t, task)``: the
    discrete rounds of theory §1 ("Rules and state"), e.g. the compounding map of §3.5.
    Batch axes (the task's and the parameter grids') are carried through unchanged.

    Parameters
    ----------
    rule : a rule (``init(task)``, ``step(state, task)``; :mod:`modesim.rule`)
    task : Task
    rounds : int >= 0
    every : int >= 1
        Record rounds 0, every, 2·every, … and always the last round.
    metrics : list of names, or mapping of name to callable or built-in name, optional
        Metrics recorded at the same rounds; callables take ``(policy, task)`` and return
        shape ``batch_shape``.  Built-ins (:data:`BUILTIN_METRICS`): ``valid_mass`` π(C),
        ``top_valid`` max_{y∈C} π(y), ``entropy`` H(π(·|C)) (nats), ``effective_modes``
        exp H(π(·|C)), ``kl_to_rl_target`` KL(π(·|C) ‖ π0(·|C)).
    record_policy : bool
        Record the policies themselves (``T × batch × K`` floats); turn off for long,
        large runs and record only metrics.
    progress : bool or None
        Show a progress bar; None shows one when the run is large.
    state : State, optional
        Continue from this state instead of ``rule.init(task)``.

    Returns
    -------
    Trajectory
        ``log_policy`` of shape ``(T, *batch_shape, K)``.

    Raises
    ------
    ValueError
        Naming the argument: a rule without ``init``/``step`` (or declaring an unknown or
        unbacked capability), a non-task, negative or non-integer ``rounds``/``every``, a
        non-boolean ``record_policy``, unknown metrics (or a non-callable one), a ``state``
        that is not a :class:`State` of this rule's shape with valid log-probabilities and
        a whole round >= 0; and whatever the rule's ``init`` and rounds raise (e.g.
        parameter grids that do not broadcast against the task, no correct mode to
        demonstrate).

    Examples
    --------
    >>> import modesim as ms
    >>> traj = ms.iterate(ms.SelfDistillation(), ms.make_task([0.6, 0.3, 0.1]), 5,
    ...                   metrics=["effective_modes"])
    >>> traj.metrics["effective_modes"][[0, -1]].round(3).tolist()
    [2.455, 1.609]
    """
    _check_task(task, rule, "iterate")
    rounds = chk.integer(rounds, "rounds", low=0)
    every = chk.integer(every, "every", low=1)
    chk.boolean(record_policy, "record_policy")
    fns = _resolve_metrics(metrics)
    fresh = rule.init(task)
    state = fresh if state is None else _check_state(state, fresh, task)
    times, pols, recs = [], [], {name: [] for name in fns}

    def record(s):
        times.append(s.round)
        if record_policy:
            pols.append(s.log_policy)
        if fns:
            p = np.exp(s.log_policy)
            for name, fn in fns.items():
                recs[name].append(np.asarray(fn(p, task), dtype=np.float64))

    record(state)
    work = float(rounds) * max(1, int(np.prod(np.shape(state.log_policy))))
    with progress_bar(progress, auto=work > 2e8, total=rounds, desc=type(rule).__name__) as bar:
        for i in range(1, rounds + 1):
            state = rule.step(state, task)
            if i % every == 0 or i == rounds:
                record(state)
            bar.update(1)
    return Trajectory(
        times=np.asarray(times),
        log_policy=np.stack(pols) if record_policy else None,
        metrics={k: np.stack(v) for k, v in recs.items()},
        final=state,
    )


def flow(
    rule,
    task: Task,
    t_eval,
    *,
    method: str = "LSODA",
    rtol: float = 1e-8,
    atol: float = 1e-10,
    metrics=None,
    record_policy: bool = True,
    progress: bool | None = None,
) -> Trajectory:
    """Integrate the continuous-time flow (or a sampled rule's mean field) of ``rule`` (theory §6).

    ``d log π_i/dt = g_i − Σ_j π_j g_j`` with ``g = rule.velocity(log π, task)``: the
    replicator form ``dπ_i/dt = π_i (f_i − Σ π_j f_j)`` written in log space.  For
    :class:`~modesim.NaturalPG` ``g = lr·r``; for :class:`~modesim.SoftmaxPG`
    ``g = lr·π ⊙ (r − J)``; for reverse-KL :class:`~modesim.SelfDistillation`
    ``g = step_size·(log π* − log π)``; for a sampled rule ``g`` is its expected logit
    update per step (its mean field).  A rule with an EMA teacher base carries the teacher
    logits ``θ̄`` as a second state, ``dθ̄/dt = (1 − τ)(θ − θ̄)`` (the EMA's drift per
    round).  Time is measured in rounds: for small steps the flow at time t tracks
    ``iterate`` at round t.

    Parameters
    ----------
    t_eval : array_like, shape (T,)
        Increasing finite times at which to record; integration starts at ``t_eval[0]``
        from the base policy (there is no hidden default grid).
    method : str
        A :func:`scipy.integrate.solve_ivp` method (LSODA switches to a stiff solver).
    rtol, atol : float > 0
        Tolerances passed to the solver.

    Returns
    -------
    Trajectory
        ``times = t_eval`` and ``log_policy`` of shape ``(T, *batch_shape, K)``; with an
        EMA teacher ``final.teacher_log_base`` holds the teacher at the last time.

    Raises
    ------
    ValueError
        For a rule without the ``velocity`` capability (or a non-task), ``t_eval`` not a
        1-D increasing array of finite times, ``rtol`` < 1e-13 or ``atol`` <= 0, an
        unknown ``method``, unknown metrics, when the solver fails, or when the solution
        leaves the valid range (NaN), naming the time; and what the rule's velocity raises
        (e.g. a target that gives zero to a mode the policy holds).

    Notes
    -----
    Integration by :func:`scipy.integrate.solve_ivp` (theory §6).
    """
    record_policy = chk.boolean(record_policy, "record_policy")
    _check_task(task, rule, "flow")
    require(rule, ("velocity",), "flow (continuous time)")
    from scipy.integrate import solve_ivp

    t = _times(t_eval)
    rtol = chk.real(rtol, "rtol", low=1e-13, allow_array=False)  # scipy's solvers floor it at 100ε
    atol = chk.real(atol, "atol", low=0.0, low_open=True, allow_array=False)
    chk.choice(method, "method", ("RK45", "RK23", "DOP853", "Radau", "BDF", "LSODA"))
    fns = _resolve_metrics(metrics)
    state0 = rule.init(task)
    lp0 = state0.log_policy
    shape = lp0.shape
    alive = np.isfinite(lp0)
    tau = getattr(rule, "ema_tau", None)
    ema = tau is not None and not (not isinstance(tau, np.ndarray) and tau in (0.0, 1.0))
    size = lp0.size
    y0 = np.where(alive, lp0, 0.0).ravel()
    if ema:
        y0 = np.concatenate([y0, y0])

    def unpack(y):
        return log_normalise(np.where(alive, y.reshape(shape), -np.inf))

    last = [t[0]]

    with progress_bar(progress, auto=size * t.size > 1e7, total=float(t[-1] - t[0]), desc="flow") as bar:

        class _Overflow(Exception):
            pass

        def rhs(time, y):
            if not np.isfinite(y).all():  # a trial step of the solver left the float range
                raise _Overflow(time)
            lp = unpack(y[:size])
            if ema:
                lbar = unpack(y[size:])
                g = rule.velocity(lp, task, teacher_log_base=lbar)
            else:
                g = rule.velocity(lp, task)
            g = np.where(alive, g, 0.0)
            dy = np.where(alive, g - np.sum(np.exp(lp) * g, axis=-1, keepdims=True), 0.0).ravel()
            if time > last[0]:
                bar.update(time - last[0])
                last[0] = time
            if ema:
                dbar = (1.0 - chk.col(tau)) * np.where(alive, lp - np.where(alive, lbar, 0.0), 0.0)
                dy = np.concatenate([dy, dbar.ravel()])
            return dy

        if t.size == 1:
            ys = y0[:, None]
        else:
            try:
                with np.errstate(all="ignore"):
                    sol = solve_ivp(rhs, (t[0], t[-1]), y0, method=method, t_eval=t, rtol=rtol, atol=atol)
            except _Overflow as exc:
                raise ValueError(
                    f"t_eval reaches t = {t[-1]:g}: the solver's steps near t = {exc.args[0]:.3g} leave the float "
                    "range (the log-policy grows with t); allowed: horizons the log-policy can follow in "
                    "float64, e.g. t_eval up to 1e200 (the flow has reached its limit long before)"
                ) from None
            if not sol.success:
                raise ValueError(f"the flow could not be integrated ({sol.message}); try a stiffer method or looser tolerances")
            ys = sol.y
    if not np.all(np.isfinite(ys)):
        bad = int(np.argmax(~np.all(np.isfinite(ys), axis=0)))
        raise ValueError(f"the flow left the simplex (non-finite logits) at t = {t[bad]:g}")
    lps = np.stack([unpack(ys[:size, i]) for i in range(ys.shape[1])])
    recs = {name: np.stack([np.asarray(fn(np.exp(lp), task)) for lp in lps]) for name, fn in fns.items()}
    final = state0._replace(log_policy=lps[-1], round=0)
    if ema:
        final = final._replace(teacher_log_base=unpack(ys[size:, -1]))
    return Trajectory(
        times=t,
        log_policy=lps if record_policy else None,
        metrics=recs,
        final=final,
    )


def _times(t_eval) -> np.ndarray:
    try:
        t = np.asarray(t_eval, dtype=np.float64)
    except (TypeError, ValueError, OverflowError):       # (an integer beyond float64: 10**400)
        t = None
    if t is None or t.ndim != 1 or t.size < 1 or not np.all(np.isfinite(t)) or np.any(np.diff(t) <= 0):
        raise ValueError(f"t_eval must be a 1-D increasing array of finite times; got {chk.describe(t_eval)}")
    return t


def rounds_to_collapse(
    rule, task: Task, *, eps: float = 1e-3, max_rounds: int = 10_000, progress: bool | None = None
) -> np.ndarray:
    """First round at which the top valid mode exceeds ``1 − eps``, per batch entry (theory §3.5).

    Runs ``rule`` until every batch entry has collapsed or ``max_rounds`` is reached: a
    measure of how fast compounding self-distillation reaches the top valid vertex (S6).
    The test is on ``log π(y*) > log1p(−eps)`` (no rounding near 1).

    Parameters
    ----------
    rule : a rule
    task : Task (or a path task)
    eps : float in (0, 1)
    max_rounds : int >= 0
    progress : bool or None

    Returns
    -------
    ndarray of int, shape = the run's batch shape
        The round (0 if the base is already collapsed); ``-1`` where no collapse
        happened within ``max_rounds``.

    Raises
    ------
    ValueError
        A rule without ``init``/``step``, a non-task, ``eps`` not a scalar in (0, 1),
        ``max_rounds`` not an integer >= 0; and what the rule's rounds raise.

    Examples
    --------
    >>> import modesim as ms
    >>> int(ms.rounds_to_collapse(ms.SelfDistillation(), ms.make_task([0.6, 0.3, 0.1]), eps=0.01))
    11
    """
    _check_task(task, rule, "rounds_to_collapse")
    eps = chk.real(eps, "eps", low=0.0, high=1.0, low_open=True, high_open=True, allow_array=False)
    max_rounds = chk.integer(max_rounds, "max_rounds", low=0)
    log_thresh = np.log1p(-eps)
    state = rule.init(task)
    top = lambda lp: np.where(task.valid, lp, -np.inf).max(-1)  # noqa: E731
    out = np.where(top(state.log_policy) > log_thresh, 0, -1)
    work = float(max_rounds) * np.size(state.log_policy)
    with progress_bar(progress, auto=work > 2e8, total=max_rounds, desc="rounds_to_collapse") as bar:
        for i in range(1, max_rounds + 1):
            if np.all(out >= 0):
                break
            state = rule.step(state, task)
            out = np.where((out < 0) & (top(state.log_policy) > log_thresh), i, out)
            bar.update(1)
    return out
