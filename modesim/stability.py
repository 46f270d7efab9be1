"""Stability of a rule's round map: tangent-space Jacobians and fixed points (theory §3.5, §6).

- :func:`tangent_basis`: an orthonormal (Helmert) basis of ``{v : Σ v = 0}``.
- :func:`map_jacobian`, :func:`flow_jacobian`: Jacobians in those K − 1 coordinates,
  by central differences inside a face and second-order one-sided differences at it.
- :func:`fixed_points`: rest points found face by face in simplex coordinates, accepted
  by a relative test in log space on the map itself, with eigenvalues and stability.

All of them need a rule whose round is a map on the simplex: declared ``deterministic``
and ``memoryless`` (:mod:`modesim.rule`).
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from . import _checks as chk
from ._progress import progress_bar
from .rule import apply_map, require
from .simplex import log_normalise
from .task import Task

__all__ = ["tangent_basis", "map_jacobian", "flow_jacobian", "FixedPoint", "fixed_points"]


def tangent_basis(K: int) -> np.ndarray:
    """Orthonormal basis of ``{v ∈ R^K : Σ v = 0}``, shape ``(K, K − 1)`` (Helmert; theory §6).

    Column ``j`` (1-based) is ``(1, …, 1, −j, 0, …, 0)/√(j(j + 1))`` with j ones: the
    coordinates in which Jacobians of round maps and flows are taken.

    Parameters
    ----------
    K : int >= 1
        Number of modes (``K = 1`` gives shape (1, 0)).

    Raises
    ------
    ValueError
        ``K`` not an integer >= 1.

    >>> import modesim as ms
    >>> ms.tangent_basis(2).round(4).tolist()
    [[0.7071], [-0.7071]]
    """
    K = chk.integer(K, "K", low=1)
    j = np.arange(1, K, dtype=np.float64)
    V = np.where(np.arange(K)[:, None] < j[None, :], 1.0, 0.0)
    V[np.arange(1, K), np.arange(K - 1)] = -j
    return V / np.sqrt(j * (j + 1.0))


def _tangent_jacobian(F: Callable[[np.ndarray], np.ndarray], p: np.ndarray, h: float) -> np.ndarray:
    """Jacobian of ``F`` on the simplex at ``p`` in orthonormal tangent coordinates.

    Directional derivatives along ``e_j − e_ref`` (``ref`` = the largest entry): central
    differences where ``p_j > 4h`` and second-order one-sided differences into the simplex
    otherwise; then changed to the Helmert basis.  Eigenvalues do not depend on the
    basis; the orthonormal one keeps the matrix well scaled.
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
        hj = min(h, 0.25 * p[ref])
        if p[j] > 4 * h:
            cols[:, c] = (F(p + hj * v) - F(p - hj * v)) / (2 * hj)
        else:
            # At or next to the face p_j = 0 a central step would leave the simplex (or
            # shrink below round-off): a second-order one-sided step into it instead.
            cols[:, c] = (-3 * f0 + 4 * F(p + hj * v) - F(p + 2 * hj * v)) / (2 * hj)
    V = tangent_basis(K)
    C = np.linalg.lstsq(B, V, rcond=None)[0]
    return V.T @ cols @ C


def _single(task: Task, policy, name="policy"):
    chk.task(task)
    if task.batch_shape != ():
        raise ValueError(f"Jacobians and fixed points take an unbatched task; got batch shape {task.batch_shape}")
    return chk.probabilities(policy, name, n_modes=task.n_modes).reshape(-1)


def _check_step(h) -> float:
    return chk.real(h, "h", low=0.0, high=0.01, low_open=True, high_open=True, allow_array=False)


def _map_probs(rule, task):
    def F(q):
        with np.errstate(divide="ignore"):
            return np.exp(apply_map(rule, np.log(np.clip(q, 0.0, None)), task))

    return F


def map_jacobian(rule, task: Task, policy, *, h: float = 1e-6) -> np.ndarray:
    """Tangent-space Jacobian of one round ``π ↦ π'`` at ``policy``, shape (K−1, K−1).

    A fixed point is stable when every eigenvalue has modulus < 1 (theory §3.5, S6, S8).
    ``h`` is the finite-difference step in (0, 0.01) (central inside the face, second-order
    one-sided toward modes with ``π_j ≤ 4h``).  Coordinates: :func:`tangent_basis`.

    Parameters
    ----------
    rule : deterministic, memoryless rule
    task : Task
        Unbatched.
    policy : array_like, shape (K,)
        Probabilities at which to differentiate.
    h : float in (0, 0.01)

    Returns
    -------
    ndarray, shape (K − 1, K − 1)

    Raises
    ------
    ValueError
        ``rule`` not declaring ``deterministic`` and ``memoryless``; ``task`` not an
        unbatched :class:`~modesim.Task`; ``policy`` not probabilities with the task's K;
        ``h`` not a scalar in (0, 0.01); and what the rule's round raises at the perturbed
        points.

    Examples
    --------
    The S8 eigenvalue ``1 + f_α'(1/3)/3 = 1 + (log 4 − 3/4)/3`` at the uniform point:

    >>> import numpy as np
    >>> import modesim as ms
    >>> J = ms.map_jacobian(ms.SelfDistillation(), ms.make_task([1/3, 1/3, 1/3]), [1/3, 1/3, 1/3])
    >>> np.linalg.eigvals(J).real.round(4).tolist()
    [1.2121, 1.2121]
    """
    require(rule, ("deterministic", "memoryless"), "map_jacobian (a map on the simplex)")
    p = _single(task, policy)
    h = _check_step(h)
    if p.size == 1:
        return np.zeros((0, 0))
    with np.errstate(all="ignore"):
        return _tangent_jacobian(_map_probs(rule, task), p, h)


def flow_jacobian(rule, task: Task, policy, *, h: float = 1e-6) -> np.ndarray:
    """Tangent-space Jacobian of the vector field ``dπ/dt`` at ``policy`` (theory §6).

    A rest point is stable when every eigenvalue has negative real part.  The field is
    ``dπ_i/dt = π_i (g_i − Σ_j π_j g_j)`` with ``g = rule.velocity(log π, task)``; units:
    per round of time.  Differences and coordinates as :func:`map_jacobian`.

    Parameters
    ----------
    rule : deterministic, memoryless rule with a velocity
    task : Task
        Unbatched.
    policy : array_like, shape (K,)
    h : float in (0, 0.01)

    Returns
    -------
    ndarray, shape (K − 1, K − 1)

    Raises
    ------
    ValueError
        ``rule`` not declaring ``deterministic``, ``memoryless`` and ``velocity``; ``task``
        not an unbatched :class:`~modesim.Task`; ``policy`` not probabilities with the
        task's K; ``h`` not a scalar in (0, 0.01); and what the rule's velocity raises at
        the perturbed points.
    """
    require(rule, ("deterministic", "memoryless", "velocity"), "flow_jacobian")
    p = _single(task, policy)
    h = _check_step(h)
    if p.size == 1:
        return np.zeros((0, 0))

    def G(q):
        with np.errstate(divide="ignore"):
            lp = log_normalise(np.log(np.clip(q, 0.0, None)))
        alive = np.isfinite(lp)
        g = np.where(alive, rule.velocity(lp, task), 0.0)
        qq = np.exp(lp)
        return qq * (g - np.sum(qq * g))

    with np.errstate(all="ignore"):
        return _tangent_jacobian(G, p, h)


@dataclass(frozen=True, eq=False)
class FixedPoint:
    """A rest point of a rule's round map, with its tangent-space spectrum (theory §3.5, §12).

    A plain record returned by :func:`fixed_points` (it checks nothing itself):
    ``policy`` (K,), ``support`` the indices of its positive entries, ``eigenvalues``
    (K − 1,) of :func:`map_jacobian`, ``spectral_radius`` their largest modulus.

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
    progress: bool | None = None,
) -> list[FixedPoint]:
    """Fixed points of one round ``π ↦ π'`` of ``rule``, face by face (K ≤ 10; theory §3.5, §12).

    On each face (support S) the map is solved in simplex coordinates
    ``log π_S = normalise([0, z])``, ``z ∈ R^{|S|−1}``, from the face's barycentre and
    ``starts`` seeded random points, so no solution lands off the simplex.  A solution
    counts when the round maps it to itself *in relative terms*: every entry on S changes
    by less than 1e-8 in log space and the mass leaving S is below 1e-12.  Where a face is
    a continuum of rest points (e.g. the valid face under ratio-preserving RL) the points
    returned are samples of it, marked "neutral".  Faces where the rule is undefined
    (e.g. no valid mode, so no demonstration) are skipped.

    Parameters
    ----------
    starts : int >= 0
        Random starting points per face (besides the barycentre).
    seed : int or Generator
    tol : float > 0
        Root-finder tolerance.
    stability_tol : float > 0
        Band around 1 (spectral radius) labelled "neutral".
    progress : bool or None
        Show a progress bar over the 2^K − 1 faces (None: when K ≥ 7).  The cost grows as
        2^K·(starts + 1) root solves: about a second at K = 6 and a minute or more at
        K = 10 on a laptop core.

    Returns
    -------
    list of FixedPoint, sorted by support size then position.

    Raises
    ------
    ValueError
        For a rule that is not a deterministic, memoryless map, a task that is not an
        unbatched :class:`~modesim.Task`, K > 10, ``starts`` not an integer >= 0, ``tol``
        or ``stability_tol`` not > 0, a bad ``seed``, a non-boolean ``progress``; and what
        the rule's round raises at the base policy.

    Examples
    --------
    Compounding self-distillation (S6): the uniform point repels, each vertex attracts.

    >>> import modesim as ms
    >>> fps = ms.fixed_points(ms.SelfDistillation(), ms.make_task([0.5, 0.5]), starts=0)
    >>> [(fp.support, fp.stability) for fp in fps]
    [((0,), 'stable'), ((1,), 'stable'), ((0, 1), 'unstable')]
    """
    require(rule, ("deterministic", "memoryless"), "fixed_points (a map on the simplex)")
    chk.task(task)
    _single(task, task.base, name="task.base")
    starts = chk.integer(starts, "starts", low=0)
    tol = chk.real(tol, "tol", low=0.0, low_open=True, allow_array=False)
    stability_tol = chk.real(stability_tol, "stability_tol", low=0.0, low_open=True, allow_array=False)
    K = task.n_modes
    if K > 10:
        raise ValueError(f"fixed_points enumerates all 2^K faces; K = {K} is too large (allowed: K <= 10)")
    apply_map(rule, task.log_base, task)  # the rule must accept the task
    rng = np.random.default_rng(chk.seed(seed))
    found: list[np.ndarray] = []
    faces = (list(S) for size in range(1, K + 1) for S in itertools.combinations(range(K), size))
    with warnings.catch_warnings(), np.errstate(all="ignore"), \
            progress_bar(progress, auto=K >= 7, total=2**K - 1, desc="fixed_points (faces)") as bar:
        # The root finder probes points where the map is undefined; those raise or warn.
        warnings.simplefilter("ignore", RuntimeWarning)
        for S in faces:
            bar.update(1)
            size = len(S)
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


def _is_fixed(rule, task, p: np.ndarray) -> bool:
    """The relative log-space acceptance test: the map sends ``p`` to itself."""
    S = p > 0
    try:
        new = apply_map(rule, np.log(np.where(S, p, 1.0)) + np.where(S, 0.0, -np.inf), task)
    except ValueError:
        return False
    if not np.all(np.isfinite(new[S])):
        return False
    leaked = np.exp(new[~S]).sum() if np.any(~S) else 0.0
    return bool(np.max(np.abs(new[S] - np.log(p[S]))) < 1e-8 and leaked < 1e-12)


def _solve_face(rule, task, S, z0, tol):
    from scipy.optimize import root

    K = task.n_modes

    def full(z):
        lp = np.full(K, -np.inf)
        lp[S] = log_normalise(np.concatenate([[0.0], z]))
        return lp

    def resid(z):
        try:
            new = apply_map(rule, full(z), task)
        except ValueError:
            return np.full(len(S) - 1, 1e6)
        d = new[S] - full(z)[S]
        if not np.all(np.isfinite(d)):
            return np.full(len(S) - 1, 1e6)
        return d[1:] - d[0]

    if len(S) == 1:
        z = np.zeros(0)
    else:
        z = root(resid, z0, method="hybr", tol=tol).x
    if not np.all(np.isfinite(z)):
        return None
    p = np.exp(full(z))
    # A solution that ran onto a smaller face (entries at round-off level) belongs to that
    # face: snap it there so its Jacobian is not taken at a 1e-17 offset.
    p = np.where(p < 1e-12, 0.0, p)
    p /= p.sum()
    return p if _is_fixed(rule, task, p) else None
