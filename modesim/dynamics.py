"""Iteration and continuous time, written once for every rule (MATH §3.5, §6).

- :func:`iterate`: discrete rounds of any rule, recording every n-th state and/or chosen
  metrics, with a progress bar for long runs.
- :func:`flow`: the continuous-time limit ``d log π_i/dt = g_i − Σ_j π_j g_j`` with
  ``g = rule.velocity(log π, task)``, integrated with :func:`scipy.integrate.solve_ivp`.
- :func:`map_jacobian`, :func:`flow_jacobian`: tangent-space Jacobians in K − 1
  orthonormal coordinates of ``{v : Σ v = 0}``.
- :func:`fixed_points`: rest points found face by face in simplex coordinates, with
  their eigenvalues and stability.
- :func:`rounds_to_collapse`: first round at which the top valid mode exceeds 1 − ε.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

import numpy as np
from scipy.integrate import solve_ivp
from scipy.optimize import root

from . import metrics as _m
from .rule import State, apply_map
from .simplex import as_policy, log_normalise
from .task import Task

__all__ = [
    "Trajectory",
    "iterate",
    "flow",
    "tangent_basis",
    "map_jacobian",
    "flow_jacobian",
    "FixedPoint",
    "fixed_points",
    "rounds_to_collapse",
    "BUILTIN_METRICS",
]

#: Metrics that ``iterate``/``flow`` accept by name; each maps (policy, task) to shape (...).
BUILTIN_METRICS: dict[str, Callable[[np.ndarray, Task], np.ndarray]] = {
    "valid_mass": lambda p, t: np.where(t.valid, p, 0.0).sum(-1),
    "top_valid": lambda p, t: np.where(t.valid, p, 0.0).max(-1),
    "entropy": lambda p, t: _m.entropy(p, t.valid),
    "effective_modes": lambda p, t: _m.effective_modes(p, t.valid),
    "kl_to_rl_target": lambda p, t: _m.kl_to_rl_target(p, t),
}


@dataclass(frozen=True, eq=False)
class Trajectory:
    """Recorded states of a rule over rounds (or of a flow over time).

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
        """Recorded policies as probabilities, shape ``(T, ..., K)``."""
        if self.log_policy is None:
            raise ValueError("this trajectory was recorded with record_policy=False")
        return np.exp(self.log_policy)


def _resolve_metrics(metrics) -> dict[str, Callable]:
    if metrics is None:
        return {}
    if isinstance(metrics, (list, tuple)):
        metrics = {name: name for name in metrics}
    out = {}
    for name, fn in dict(metrics).items():
        if isinstance(fn, str):
            if fn not in BUILTIN_METRICS:
                raise ValueError(
                    f"unknown metric {fn!r}; built-ins are {sorted(BUILTIN_METRICS)} "
                    "(or pass a callable (policy, task) -> array)"
                )
            fn = BUILTIN_METRICS[fn]
        elif not callable(fn):
            raise ValueError(f"metric {name!r} must be a built-in name or a callable; got {fn!r}")
        out[name] = fn
    return out


def _progress(total: int, enabled: bool | None, work: float, desc: str):
    from tqdm.auto import tqdm

    if enabled is None:
        enabled = work > 2e8
    return tqdm(total=total, disable=not enabled, desc=desc, leave=False)


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
    """Run ``rounds`` rounds of ``rule`` on ``task`` (every rule, batched).

    Parameters
    ----------
    rule : object with ``init(task)`` and ``step(state, task)``
    task : Task
    rounds : int >= 0
    every : int >= 1
        Record rounds 0, every, 2·every, … and always the last round.
    metrics : list of names, or mapping of name to callable or built-in name, optional
        Metrics recorded at the same rounds; callables take ``(policy, task)`` and
        return shape ``batch_shape``.  Built-ins: see :data:`BUILTIN_METRICS`.
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
        ``log_policy`` of shape ``(T, *task.batch_shape, K)``.
    """
    if isinstance(rounds, bool) or not isinstance(rounds, (int, np.integer)) or rounds < 0:
        raise ValueError(f"rounds must be a non-negative integer; got {rounds!r}")
    if isinstance(every, bool) or not isinstance(every, (int, np.integer)) or every < 1:
        raise ValueError(f"every must be a positive integer; got {every!r}")
    fns = _resolve_metrics(metrics)
    state = rule.init(task) if state is None else state
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
    work = float(rounds) * max(1, int(np.prod(task.log_base.shape)))
    with _progress(rounds, progress, work, type(rule).__name__) as bar:
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
    """Integrate the continuous-time flow of ``rule`` (MATH §6).

    ``d log π_i/dt = g_i − Σ_j π_j g_j`` with ``g = rule.velocity(log π, task)``: the
    replicator form ``dπ_i/dt = π_i (f_i − Σ π_j f_j)`` written in log space.  For
    :class:`~modesim.NaturalPG` ``g = η r``; for :class:`~modesim.SoftmaxPG`
    ``g = η π ⊙ (r − J)``; for reverse-KL :class:`~modesim.SelfDistillation`
    ``g = η (log π* − log π)`` (at β = 0, ``f = E_d log T − log π``).  Time is measured
    in rounds: for small η the flow at time t tracks ``iterate`` at round t.

    Parameters
    ----------
    t_eval : array_like, shape (T,)
        Increasing times at which to record; integration starts at ``t_eval[0]`` from
        the base policy (there is no hidden default grid).
    method, rtol, atol
        Passed to :func:`scipy.integrate.solve_ivp` (LSODA switches to a stiff solver
        when needed).

    Returns
    -------
    Trajectory
        ``times = t_eval`` and ``log_policy`` of shape ``(T, *batch_shape, K)``.
    """
    if not hasattr(rule, "velocity"):
        raise ValueError(f"{type(rule).__name__} has no velocity(); it has no continuous-time flow")
    t = np.asarray(t_eval, dtype=np.float64)
    if t.ndim != 1 or t.size < 1 or not np.all(np.isfinite(t)) or np.any(np.diff(t) <= 0):
        raise ValueError(f"t_eval must be a 1-D increasing array of finite times; got {t_eval!r}")
    fns = _resolve_metrics(metrics)
    state0 = rule.init(task)
    lp0 = state0.log_policy
    shape = lp0.shape
    alive = np.isfinite(lp0)
    y0 = np.where(alive, lp0, 0.0).ravel()

    def unpack(y):
        return np.where(alive, y.reshape(shape), -np.inf)

    from tqdm.auto import tqdm

    show = progress if progress is not None else lp0.size * t.size > 1e7
    last = [t[0]]

    with tqdm(total=float(t[-1] - t[0]), disable=not show, desc="flow", leave=False) as bar:

        def rhs(time, y):
            lp = log_normalise(unpack(y))
            g = np.where(alive, rule.velocity(lp, task), 0.0)
            dy = g - np.sum(np.exp(lp) * g, axis=-1, keepdims=True)
            if time > last[0]:
                bar.update(time - last[0])
                last[0] = time
            return np.where(alive, dy, 0.0).ravel()

        if t.size == 1:
            ys = y0[:, None]
        else:
            sol = solve_ivp(rhs, (t[0], t[-1]), y0, method=method, t_eval=t, rtol=rtol, atol=atol)
            if not sol.success:
                raise RuntimeError(f"solve_ivp failed: {sol.message}")
            ys = sol.y
    lps = np.stack([log_normalise(unpack(ys[:, i])) for i in range(ys.shape[1])])
    recs = {name: np.stack([np.asarray(fn(np.exp(lp), task)) for lp in lps]) for name, fn in fns.items()}
    return Trajectory(
        times=t,
        log_policy=lps if record_policy else None,
        metrics=recs,
        final=replace(state0, log_policy=lps[-1]),
    )


# ------------------------------------------------------------------ Jacobians


def tangent_basis(K: int) -> np.ndarray:
    """Orthonormal basis of ``{v ∈ R^K : Σ v = 0}``, shape ``(K, K − 1)`` (Helmert)."""
    V = np.zeros((K, K - 1))
    for j in range(1, K):
        V[:j, j - 1] = 1.0
        V[j, j - 1] = -float(j)
        V[:, j - 1] /= np.sqrt(j * (j + 1.0))
    return V


def _tangent_jacobian(F: Callable[[np.ndarray], np.ndarray], p: np.ndarray, h: float) -> np.ndarray:
    """Jacobian of ``F`` on the simplex at ``p`` in orthonormal tangent coordinates.

    Directional derivatives along ``e_j − e_ref`` (``ref`` = the largest entry): central
    differences where ``p_j > 0`` and second-order one-sided differences into the
    simplex where ``p_j = 0``; then changed to the Helmert basis.  Eigenvalues do not
    depend on the basis; the orthonormal one keeps the matrix well scaled.
    """
    K = p.size
    ref = int(np.argmax(p))
    others = [j for j in range(K) if j != ref]
    B = np.zeros((K, K - 1))
    cols = np.zeros((K, K - 1))
    f0 = F(p)
    for c, j in enumerate(others):
        v = np.zeros(K)
        v[j], v[ref] = 1.0, -1.0
        B[:, c] = v
        if p[j] > 4 * h:
            hj = min(h, 0.25 * p[ref])
            cols[:, c] = (F(p + hj * v) - F(p - hj * v)) / (2 * hj)
        else:
            # At or next to the face p_j = 0 a central step would leave the simplex (or
            # shrink below round-off): a second-order one-sided step into it instead.
            hj = min(h, 0.25 * p[ref])
            cols[:, c] = (-3 * f0 + 4 * F(p + hj * v) - F(p + 2 * hj * v)) / (2 * hj)
    V = tangent_basis(K)
    C = np.linalg.lstsq(B, V, rcond=None)[0]
    return V.T @ cols @ C


def _single(task: Task, policy, name="policy"):
    if task.batch_shape != ():
        raise ValueError(f"Jacobians and fixed points take an unbatched task; got batch shape {task.batch_shape}")
    p = as_policy(policy, name=name)
    if p.shape != (task.n_modes,):
        raise ValueError(f"{name} must have shape ({task.n_modes},); got {p.shape}")
    return p


def map_jacobian(rule, task: Task, policy, *, h: float = 1e-6) -> np.ndarray:
    """Tangent-space Jacobian of one round ``π ↦ π'`` at ``policy``, shape (K−1, K−1).

    A fixed point is stable when every eigenvalue has modulus < 1 (MATH §3.5 S6, S8).
    ``h`` is the finite-difference step (central inside the face, second-order one-sided
    toward modes with ``π_j ≤ 4h``).
    """
    p = _single(task, policy)
    _check_step(h)

    def F(q):
        with np.errstate(divide="ignore"):
            return np.exp(apply_map(rule, np.log(np.clip(q, 0.0, None)), task))

    return _tangent_jacobian(F, p, h)


def flow_jacobian(rule, task: Task, policy, *, h: float = 1e-6) -> np.ndarray:
    """Tangent-space Jacobian of the vector field ``dπ/dt`` at ``policy`` (MATH §6).

    A rest point is stable when every eigenvalue has negative real part.
    """
    p = _single(task, policy)
    _check_step(h)

    def G(q):
        with np.errstate(divide="ignore"):
            lp = log_normalise(np.log(np.clip(q, 0.0, None)))
        g = rule.velocity(lp, task)
        alive = np.isfinite(lp)
        g = np.where(alive, g, 0.0)
        qq = np.exp(lp)
        return qq * (g - np.sum(qq * g))

    return _tangent_jacobian(G, p, h)


def _check_step(h) -> None:
    if not isinstance(h, (int, float, np.floating)) or not (0 < float(h) < 0.01):
        raise ValueError(f"h must be a finite step in (0, 0.01); got {h!r}")


@dataclass(frozen=True, eq=False)
class FixedPoint:
    """A rest point of a rule's round map, with its tangent-space spectrum.

    ``stability`` is "stable" (spectral radius < 1 − tol), "unstable" (> 1 + tol) or
    "neutral" (within tol of 1, e.g. a continuum of rest points); the default tolerance
    1e-5 sits above the finite-difference error of :func:`map_jacobian`.
    """

    policy: np.ndarray
    support: tuple[int, ...]
    eigenvalues: np.ndarray
    spectral_radius: float
    stability: str


def fixed_points(
    rule,
    task: Task,
    *,
    starts: int = 4,
    seed=0,
    tol: float = 1e-9,
    stability_tol: float = 1e-5,
) -> list[FixedPoint]:
    """Fixed points of one round ``π ↦ π'`` of ``rule``, found face by face (small K).

    On each face (support S of size ≥ 1) the map is solved in simplex coordinates
    ``log π_S = normalise([0, z])``, ``z ∈ R^{|S|−1}``, from the face's barycentre and
    ``starts`` seeded random points, so no solution lands off the simplex.  A solution
    counts when the round maps it to itself (``‖π' − π‖₁ < 1e-7``, which also rejects
    faces the map leaves).  Where a face is a continuum of rest points (e.g. the valid
    face under ratio-preserving RL) the points returned are samples of it, marked
    "neutral".  Faces where the rule is undefined (e.g. no valid mode, so
    no demonstration) are skipped.  Each point carries the eigenvalues of
    :func:`map_jacobian`.

    Returns
    -------
    list of FixedPoint, sorted by support size then position.
    """
    _single(task, task.base, name="task.base")
    if isinstance(starts, bool) or not isinstance(starts, (int, np.integer)) or starts < 0:
        raise ValueError(f"starts must be a non-negative integer; got {starts!r}")
    apply_map(rule, task.log_base, task)  # rejects rules that are not maps on the simplex
    K = task.n_modes
    if K > 10:
        raise ValueError(f"fixed_points enumerates all 2^K faces; K = {K} is too large (allowed: K <= 10)")
    rng = np.random.default_rng(seed)
    found: list[np.ndarray] = []
    for size in range(1, K + 1):
        for S in itertools.combinations(range(K), size):
            S = list(S)
            inits = [np.zeros(size - 1)] + [rng.normal(scale=1.5, size=size - 1) for _ in range(starts)]
            for z0 in inits:
                p = _solve_face(rule, task, S, z0, tol)
                if p is not None and not any(np.abs(p - q).sum() < 1e-6 for q in found):
                    found.append(p)
    out = []
    for p in found:
        ev = np.linalg.eigvals(map_jacobian(rule, task, p)) if K > 1 else np.zeros(0)
        rad = float(np.max(np.abs(ev))) if ev.size else 0.0
        kind = "stable" if rad < 1 - stability_tol else "unstable" if rad > 1 + stability_tol else "neutral"
        out.append(FixedPoint(p, tuple(int(i) for i in np.flatnonzero(p > 0)), ev, rad, kind))
    out.sort(key=lambda fp: (len(fp.support), tuple(-fp.policy)))
    return out


def _solve_face(rule, task, S, z0, tol):
    K = task.n_modes

    def full(z):
        lp = np.full(K, -np.inf)
        lp[S] = log_normalise(np.concatenate([[0.0], z]))
        return lp

    def resid(z):
        lp = full(z)
        new = apply_map(rule, lp, task)
        d = new[S] - lp[S]
        if not np.all(np.isfinite(d)):
            return np.full(len(S) - 1, 1e6)
        return d[1:] - d[0]

    try:
        if len(S) == 1:
            z = np.zeros(0)
        else:
            with np.errstate(all="ignore"):
                sol = root(resid, z0, method="hybr", tol=tol)
            z = sol.x
        p = np.exp(full(z))
        # A solution that ran onto a smaller face (entries at round-off level) belongs to
        # that face: snap it there so its Jacobian is not taken at a 1e-17 offset.
        p = np.where(p < 1e-12, 0.0, p)
        p /= p.sum()
        with np.errstate(divide="ignore"):
            p_new = np.exp(apply_map(rule, np.log(p), task))
    except ValueError:
        return None
    if not np.all(np.isfinite(p_new)) or np.abs(p_new - p).sum() > 1e-7:
        return None
    return p


def rounds_to_collapse(
    rule, task: Task, *, eps: float = 1e-3, max_rounds: int = 10_000, progress: bool | None = None
) -> np.ndarray:
    """First round at which the top valid mode exceeds ``1 − eps``, per batch entry.

    Runs ``rule`` until every batch entry has collapsed or ``max_rounds`` is reached.

    Returns
    -------
    ndarray of int, shape ``task.batch_shape``
        The round (0 if the base is already collapsed); ``-1`` where no collapse
        happened within ``max_rounds``.
    """
    if isinstance(eps, bool) or not isinstance(eps, (int, float, np.floating)) or not (0 < eps < 1):
        raise ValueError(f"eps must lie in (0, 1); got {eps!r}")
    if isinstance(max_rounds, bool) or not isinstance(max_rounds, (int, np.integer)) or max_rounds < 0:
        raise ValueError(f"max_rounds must be a non-negative integer; got {max_rounds!r}")
    log_thresh = np.log1p(-float(eps))
    state = rule.init(task)
    top = lambda lp: np.where(task.valid, lp, -np.inf).max(-1)  # noqa: E731
    out = np.where(top(state.log_policy) > log_thresh, 0, -1)
    work = float(max_rounds) * task.log_base.size
    with _progress(max_rounds, progress, work, "rounds_to_collapse") as bar:
        for i in range(1, max_rounds + 1):
            if np.all(out >= 0):
                break
            state = rule.step(state, task)
            out = np.where((out < 0) & (top(state.log_policy) > log_thresh), i, out)
            bar.update(1)
    return out
