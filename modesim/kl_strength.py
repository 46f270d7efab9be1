"""How strong a KL penalty stops self-distillation from collapsing (theory §8.4, K1 K2).

Setting: compounding self-distillation with the copy teacher on the current policy,
demonstrations from ``π(·|C)``, a KL term to the base ``π0`` with weight β
(``reference="base"``) and step 1 — ``SelfDistillation(CopyTeacher(α), beta=β,
teacher_base="current", reference="base")``.  With ``g_y = D_y·log(1 + α/((1 − α)·π_y))``,
``D = π(·|C)``, a policy π is a rest point iff (theory §8.4, K1)::

    β·log(π_y/π0(y)) − g_y(π)   is the same for every mode y.              (exact)

Near the vertex of the top valid mode t, ``g_t → log(1/(1 − α))`` and ``g_y → 0`` for
y ≠ t, so the depth of collapse is::

    π_y/π_t = (π0(y)/π0(t))·(1 − α)^(1/β)·(1 + o(1))   as β → 0,            (K1)

valid and invalid modes alike.  With every mode valid it is a lower bound at every β,
with ``0 ≤ log(ratio/prediction) ≤ (f_α(π_y) + f_α'(π_t)·(1 − π_t))/β``.  So "collapse
below a critical β" is a statement about *depth*, not a bifurcation: at the rest point the
pass@k of an out-of-distribution test that blocks t is about
``k·(1 − α)^(1/β)·Σ_{y ∈ C, y ≠ t} π0(y)/π0(t)`` when that is small, and it falls below a
tolerance δ (per unit of that sum and of k) for ``β < β_c(α; δ) = log(1 − α)/log δ``
(:func:`critical_kl_strength`; δ = 1e-2 gives 0.151 at α = 0.5 and 0.0485 at α = 0.2).

There is also a genuine bifurcation, of the diverse state: for a uniform base over K valid
modes the uniform point is a rest point whose tangent Jacobian is ``λ·I`` with
``λ = (1 + f_α'(1/K)/K)/(1 + β)``, unstable iff ``β < β* = f_α'(1/K)/K``
(:func:`uniform_instability_threshold`, K2; 0.216 at α = 0.5, 0.036 at α = 0.2 for K = 2;
a supercritical pitchfork).  For a non-uniform base the bifurcation is imperfect: the
branch that starts at π0 moves continuously toward the top vertex as β falls.

**The JSD objective** (theory §8.4, K3).  With ``objective="jsd"`` and weight λ the rest
points are *exactly* those of the reverse-KL round with copy strength ``λα`` and KL strength
``β/(1 − λ)``: the JSD round's stationarity condition at π* = π is
``β·log(π_y/π0(y)) − (1 − λ)·D_y·log(1 + λα/((1 − λα)π_y)) = const``.  So the depth is
``(1 − λα)^((1 − λ)/β)`` and every function here takes ``jsd_weight=λ``.  At the trainers'
λ = 0.5 and β = 0.04 this is mild (π_2/π_1 ≈ 0.19 from (0.6, 0.4) at α = 0.5, against
2e-8 for the reverse objective); β_c(0.5; 1e-2) falls from 0.15 to 0.031.

Practitioners use β between 0 and 0.04 (TRL's GRPO default 0, verl 0.001, DeepSeek-R1
0.001; :data:`PRACTICE_BETA`): at α ≥ 0.2 that is collapse to depth below 0.8^25 ≈ 4e-3.

Source: ours (derivation in theory §8.4; checked in ``tests/test_critical_kl.py`` and by the
registered theorems K1, K2).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from . import _checks as chk
from .rule import check_jsd_weight
from .simplex import log_normalise, logsumexp_last
from .task import Task

__all__ = [
    "PRACTICE_BETA",
    "MIN_BETA",
    "critical_kl_strength",
    "uniform_instability_threshold",
    "rest_residual",
    "collapsed_rest_point",
    "two_mode_rest_point",
    "CollapseDepth",
    "collapse_depth",
    "TwoModeRestPoint",
    "CollapseRegime",
    "collapse_regime",
]

#: The KL coefficients practitioners use (TRL GRPO default 0, verl 0.001, up to 0.04).
PRACTICE_BETA = (0.0, 0.04)

#: Smallest β of the rest-point solvers: below it the depth e^(log(1 − α)/β) is under e^(−10^6)
#: (use the K1 closed form).
MIN_BETA = 1e-6

#: Largest K for the dense Newton solve of :func:`collapsed_rest_point`.
_MAX_K = 256


def _effective(alpha, beta, jsd_weight):
    """(α, β) of the reverse-KL round whose rest points are the JSD round's (theory §8.4, K3)."""
    if jsd_weight is None:
        return alpha, beta
    lam = check_jsd_weight(jsd_weight)
    a = np.asarray(alpha) * lam
    b = None if beta is None else np.asarray(beta) / (1.0 - np.asarray(lam))
    a = float(a) if np.ndim(a) == 0 else a
    b = b if b is None or np.ndim(b) else float(b)
    return a, b


def critical_kl_strength(alpha, tol=1e-2, *, jsd_weight=None):
    """``β_c(α; δ) = log(1 − α)/log δ``: below it the rest point's depth (1 − α)^(1/β) < δ (theory §8.4).

    With ``jsd_weight=λ`` (the JSD objective, K3): ``β_c = (1 − λ)·log(1 − λα)/log δ``.

    The depth of collapse of the compounding copy-teacher round with KL to π0 is
    ``π_y/π_t ≈ (π0(y)/π0(t))·(1 − α)^(1/β)`` (K1); this is the β at which the factor
    ``(1 − α)^(1/β)`` equals ``tol``.  Not a bifurcation point (see
    :func:`uniform_instability_threshold` for that).

    Parameters
    ----------
    alpha : float or array in (0, 1)
        Copy strength.
    tol : float or array in (0, 1)
        Depth δ that counts as collapsed (e.g. the OOD pass@k per unit k·Σ π0(y)/π0(t)).

    Returns
    -------
    float or ndarray (broadcast shape), > 0.

    Raises
    ------
    ValueError
        ``alpha`` or ``tol`` not real numbers (or arrays) in (0, 1); ``jsd_weight``
        outside [1e-8, 1 − 1e-8].

    >>> import modesim as ms
    >>> round(ms.critical_kl_strength(0.5), 4), round(ms.critical_kl_strength(0.2), 4)
    (0.1505, 0.0485)
    """
    a = chk.real(alpha, "alpha", low=0.0, high=1.0, low_open=True, high_open=True)
    d = chk.real(tol, "tol", low=0.0, high=1.0, low_open=True, high_open=True)
    scale = 1.0
    if jsd_weight is not None:
        lam = check_jsd_weight(jsd_weight)
        a, scale = np.asarray(a) * lam, 1.0 - np.asarray(lam)
    out = scale * np.log1p(-np.asarray(a)) / np.log(np.asarray(d))
    return float(out) if np.ndim(out) == 0 else out


def uniform_instability_threshold(K, alpha, *, jsd_weight=None):
    """``β* = f_α'(1/K)/K``: the uniform point over K valid modes is unstable iff β < β* (theory §8.4, K2).

    For a uniform base π0 over K valid modes the compounding copy-teacher round with KL
    to π0 has the uniform point as a rest point with tangent Jacobian
    ``((1 + f_α'(1/K)/K)/(1 + β))·I``; ``f_α'(p) = log(1 + u) − u/(1 + u)``,
    ``u = α/((1 − α)p)``.  At β = β* a supercritical pitchfork (K = 2) creates the
    collapsed branches.  With ``jsd_weight=λ`` (K3): ``β* = (1 − λ)·f_{λα}'(1/K)/K``.

    Parameters
    ----------
    K : int >= 2
    alpha : float or array in [0, 1)
    jsd_weight : float or array in [1e-8, 1 − 1e-8], optional

    Raises
    ------
    ValueError
        ``K`` not an integer >= 2, ``alpha`` not a real number (or array) in [0, 1), or
        ``jsd_weight`` outside [1e-8, 1 − 1e-8].

    >>> import modesim as ms
    >>> round(ms.uniform_instability_threshold(2, 0.5), 4)
    0.216
    """
    from .theorems.formulas import f_alpha_prime

    K = chk.integer(K, "K", low=2)
    a = chk.real(alpha, "alpha", low=0.0, high=1.0, high_open=True)
    scale = 1.0
    if jsd_weight is not None:
        lam = check_jsd_weight(jsd_weight)
        a, scale = np.asarray(a) * lam, 1.0 - np.asarray(lam)
    out = scale * f_alpha_prime(1.0 / K, a) / K
    return float(out) if np.ndim(out) == 0 else out


def _check_setting(task, alpha, beta):
    chk.task(task)
    a = chk.real(alpha, "alpha", low=0.0, high=1.0, low_open=True, high_open=True)
    b = chk.real(beta, "beta", low=MIN_BETA)
    K = task.n_modes
    if K > _MAX_K:
        raise ValueError(f"the rest-point solve is a dense K × K Newton system; K = {K} is too large "
                         f"(allowed: K <= {_MAX_K})")
    if K < 2:
        raise ValueError(f"a collapse needs at least 2 modes; got K = {K}")
    if np.any(np.isneginf(task.log_base)):
        raise ValueError("the base π0 gives zero probability to a mode; the collapsed rest point needs "
                         "π0 > 0 everywhere (the KL to π0 is infinite where π0 = 0)")
    return a, b


def rest_residual(log_policy, task: Task, alpha, beta) -> np.ndarray:
    """``R_y = β·log(π_y/π0(y)) − D_y·log(1 + α/((1 − α)π_y))``, ``D = π(·|C)`` (theory §8.4, K1).

    π is a rest point of the compounding copy-teacher round with KL to π0 (step 1)
    iff ``R_y`` is the same for every mode y (the Lagrange condition of the round's
    optimum with ``π* = π``).  Shape ``(..., K)``; parameters broadcast (theory §1).
    """
    u = np.asarray(log_policy, dtype=np.float64)
    a = np.asarray(alpha, dtype=np.float64)
    return _residual(u, task.log_base, task.valid, chk.col(a / (1.0 - a)), chk.col(beta))[0]


def _residual(u, l0, valid, kappa, beta):
    """``R_y = β(u_y − l0_y) − g_y`` and the pieces of its Jacobian (theory §8.4)."""
    uv = np.where(valid, u, -np.inf)
    lZ = logsumexp_last(uv, keepdims=True)
    with np.errstate(over="ignore", divide="ignore"):
        Dv = np.where(valid, np.exp(uv - lZ), 0.0)            # D = π(·|C)
        L = np.logaddexp(0.0, np.log(kappa) - u)               # log(1 + κ e^{−u})
        sig = np.exp(np.log(kappa) - u - L)                    # κ e^{−u}/(1 + κ e^{−u})
    g = Dv * L
    R = beta * (u - l0) - g
    return R, Dv, L, sig


def collapsed_rest_point(task: Task, alpha, beta, *, jsd_weight=None, tol: float = 1e-13) -> np.ndarray:
    """The rest point near the vertex of the top valid mode (theory §8.4, K1), log-probabilities.

    Setting: ``SelfDistillation(CopyTeacher(α), beta=β, teacher_base="current",
    reference="base")`` (copy teacher and demonstrations from the current policy, KL to
    π0, step 1).  Newton's method on log π (analytic Jacobian, damped, batched) solves the
    exact rest-point condition ``β·log(π_y/π0(y)) − D_y·log(1 + α/((1 − α)π_y)) = const``,
    ``Σπ = 1``, starting from the K1 prediction ``π_y/π_t = (π0(y)/π0(t))·(1 − α)^(1/β)``.
    Depths far below 1e-300 stay in log space.  Where the branch continues to a mild rest
    point near π0 (large β, a clear top mode) that point is returned; where Newton does not
    converge or the top mode ends below 1/2 (no collapse to report) the call is refused.

    Parameters
    ----------
    task : Task (batched allowed; every entry of π0 > 0, K ≤ 256)
    alpha : float or array in (0, 1)
    beta : float or array >= 1e-6
    jsd_weight : float or array in [1e-8, 1 − 1e-8], optional
        The JSD objective's λ: its rest points are the reverse round's with ``(λα, β/(1 − λ))`` (K3).
    tol : float > 0
        Tolerance on each log-probability (relative to ``1 + |log π|``).

    Returns
    -------
    ndarray (..., K)

    Raises
    ------
    ValueError
        ``task`` not a :class:`~modesim.Task`, with K < 2 or K > 256, or with a base
        probability of 0; ``alpha`` not in (0, 1); ``beta`` below 1e-6; ``jsd_weight``
        outside [1e-8, 1 − 1e-8]; ``tol`` not > 0; parameter arrays that do not broadcast
        against the task; a singular Newton system, no convergence, or a top mode ending
        below 1/2 (no collapsed rest point near the prediction: β too large).

    Notes
    -----
    Source: this project's derivation (theory §8.4, K1 and K3).
    """
    a, b = _check_setting(task, alpha, beta)
    a, b = _effective(a, b, jsd_weight)
    tol = chk.real(tol, "tol", low=0.0, low_open=True, allow_array=False)
    K = task.n_modes
    shape = chk.broadcast_batch(task.batch_shape, chk.param_shape(alpha=a, beta=b), "collapsed_rest_point") + (K,)
    l0 = np.broadcast_to(task.log_base, shape)
    valid = np.broadcast_to(task.valid, shape)
    ac, bc = chk.col(a), chk.col(b)
    kappa = ac / (1.0 - ac)
    top = np.argmax(np.where(valid, l0, -np.inf), axis=-1)[..., None]
    is_top = np.arange(K) == top
    # K1 prediction: log(π_y/π_t) = log(π0(y)/π0(t)) + log(1 − α)/β for y ≠ t.
    start = np.where(is_top, 0.0, l0 - np.take_along_axis(l0, top, axis=-1) + np.log1p(-ac) / bc)
    u = log_normalise(start)
    idx = np.arange(K)

    def spread(u):
        R = _residual(u, l0, valid, kappa, bc)[0]
        return np.max(R, axis=-1) - np.min(R, axis=-1)

    for _ in range(100):
        R, Dv, L, sig = _residual(u, l0, valid, kappa, bc)
        # ∂R/∂u = diag(β − D(L − σ)) + (D·L)Dᵀ, bordered by the multiplier and Σπ = 1.
        J = np.zeros(shape[:-1] + (K + 1, K + 1))
        J[..., idx, idx] = bc - Dv * (L - sig)
        J[..., :K, :K] += (Dv * L)[..., :, None] * Dv[..., None, :]
        J[..., :K, K] = -1.0
        J[..., K, :K] = np.exp(u)
        rhs = np.concatenate([-(R - R[..., :1]), np.zeros(shape[:-1] + (1,))], axis=-1)
        try:
            du = np.linalg.solve(J, rhs[..., None])[..., :K, 0]
        except np.linalg.LinAlgError:
            raise ValueError("collapsed_rest_point: singular Newton system (β at a bifurcation?)") from None
        m0 = spread(u)
        step = np.ones(shape[:-1] + (1,))
        for _ in range(40):  # backtracking line search, every batch entry at once
            trial = log_normalise(u + step * du)
            worse = spread(trial) > m0
            if not np.any(worse & (m0 > tol)):
                break
            step = np.where(worse[..., None], step / 2, step)
        u = trial
        if np.all(np.abs(step * du) <= tol * (1.0 + np.abs(u))):
            break
    else:
        raise ValueError("collapsed_rest_point did not converge: the collapsed rest point is undefined "
                         "for these (alpha, beta) (β above the collapse regime?)")
    if np.any(np.take_along_axis(u, top, axis=-1) < np.log(0.5)):
        raise ValueError("the collapsed rest point is undefined for these (alpha, beta): no rest point near "
                         "the top valid vertex (β is above the collapse regime)")
    return u


class CollapseDepth(NamedTuple):
    """Result of :func:`collapse_depth`, arrays over the broadcast batch shape.

    Attributes
    ----------
    log_policy : ndarray (..., K)
        The rest point reached from π0 (log-probabilities).
    top : ndarray of int (...)
        The top valid mode t of π0.
    log_depth : ndarray (...)
        ``log(Σ_{y ≠ t} π_y/π_t)`` at the rest point (nats).
    log_predicted : ndarray (...)
        ``log(1 − α)/β + log Σ_{y ≠ t} π0(y)/π0(t)``, the K1 prediction.
    ood_pass_at_k : ndarray (..., k)
        pass@k at the rest point of the OOD test that blocks t (valid set C \\ {t}).
    """

    log_policy: np.ndarray
    top: np.ndarray
    log_depth: np.ndarray
    log_predicted: np.ndarray
    ood_pass_at_k: np.ndarray


def collapse_depth(task: Task, alpha, beta, *, k=(1, 16), jsd_weight=None) -> CollapseDepth:
    """Depth of collapse at the rest point of compounding copy-teacher SD with KL to π0 (theory §8.4, K1).

    Computes the exact collapsed rest point (:func:`collapsed_rest_point`) and compares it
    with the closed form ``π_y/π_t ≈ (π0(y)/π0(t))·(1 − α)^(1/β)``; also returns the pass@k of the
    out-of-distribution test that blocks the top valid mode t (valid set ``C \\ {t}``),
    ``≈ k·(1 − α)^(1/β)·Σ_{y ∈ C, y ≠ t} π0(y)/π0(t)`` when small.

    Parameters
    ----------
    task : Task (batched allowed; every entry of π0 > 0)
    alpha : float or array in (0, 1)
    beta : float or array >= 1e-6
    k : int or sequence of int >= 1
    jsd_weight : float or array in [1e-8, 1 − 1e-8], optional
        The JSD objective (K3): the prediction becomes ``(1 − λα)^((1 − λ)/β)``.

    Returns
    -------
    CollapseDepth

    Raises
    ------
    ValueError
        ``k`` not finite positive integers; everything :func:`collapsed_rest_point`
        refuses (a bad task, α outside (0, 1), β below 1e-6, ``jsd_weight`` outside
        [1e-8, 1 − 1e-8], no collapsed rest point for these parameters).

    >>> import modesim as ms
    >>> out = ms.collapse_depth(ms.make_task([0.6, 0.4]), 0.5, 0.04)
    >>> float(out.log_depth).__round__(4), float(out.log_predicted).__round__(4)  # nats
    (-17.7341, -17.7341)
    """
    from .metrics import pass_at_k_from_log_failure

    ks = chk.ks(k)
    lp = collapsed_rest_point(task, alpha, beta, jsd_weight=jsd_weight)
    l0 = np.broadcast_to(task.log_base, lp.shape)
    valid = np.broadcast_to(task.valid, lp.shape)
    top = np.argmax(np.where(valid, l0, -np.inf), axis=-1)
    onehot = np.arange(lp.shape[-1]) == top[..., None]
    lt = np.take_along_axis(lp, top[..., None], axis=-1)
    log_depth = logsumexp_last(np.where(onehot, -np.inf, lp)) - lt[..., 0]
    l0t = np.take_along_axis(l0, top[..., None], axis=-1)[..., 0]
    a, b = _effective(chk.real(alpha, "alpha"), chk.real(beta, "beta"), jsd_weight)
    a, b = np.asarray(a), np.asarray(b)
    log_pred = np.log1p(-a) / b + logsumexp_last(np.where(onehot, -np.inf, l0)) - l0t
    ood = valid & ~onehot
    from .simplex import log_complement

    log_fail = log_complement(logsumexp_last(np.where(ood, lp, -np.inf), keepdims=True))[..., 0] \
        if np.any(ood) else np.zeros(lp.shape[:-1])
    passk = pass_at_k_from_log_failure(log_fail, ks)
    return CollapseDepth(lp, top, log_depth, np.broadcast_to(log_pred, log_depth.shape), passk)


class TwoModeRestPoint(NamedTuple):
    """Result of :func:`two_mode_rest_point`, arrays over the broadcast shape of (α, β, p0).

    Attributes
    ----------
    logit : ndarray
        ``log(π_1/π_2)`` at the rest point the compounding round reaches from π0.
    n_rest : ndarray of int
        Number of interior rest points found (grid-resolved; see the function).
    n_stable : ndarray of int
        How many of them are stable (more than one: bistable, hysteresis).
    """

    logit: np.ndarray
    n_rest: np.ndarray
    n_stable: np.ndarray


def _two_mode_H(t, log_r, a, b):
    """``H(t) = t − log r − (f_α(σ(t)) − f_α(σ(−t)))/β``; rest points are its zeros."""
    from .theorems.formulas import f_alpha

    with np.errstate(under="ignore"):
        p = np.exp(-np.logaddexp(0.0, -t))
        q = np.exp(-np.logaddexp(0.0, t))
    return t - log_r - (f_alpha(p, a) - f_alpha(q, a)) / b


def two_mode_rest_point(alpha, beta, p0, *, points: int = 4001) -> TwoModeRestPoint:
    """Exact rest point reached from π0 = (p0, 1 − p0), two valid modes (theory §8.4).

    In logit coordinates ``t = log(π_1/π_2)`` one compounding copy-teacher round with KL to
    π0 is ``t' = (t + f_α(π_1) − f_α(π_2) + β·log r)/(1 + β)``, ``r = p0/(1 − p0)``: an
    increasing map, so the iterates from π0 converge monotonically to the first zero of
    ``H(t) = t − log r − (f_α(σ(t)) − f_α(σ(−t)))/β`` in the direction of motion.  All zeros
    are bracketed on a sinh-spaced grid of ``points`` logits (spacing ≈ 0.07 near t = 0,
    range past the K1 depth) and the reached one is refined by bisection to full precision.
    Two zeros closer than the grid spacing (within ~1e-3 of a fold) may be missed.

    Parameters
    ----------
    alpha : float or array in (0, 1)
    beta : float or array >= 1e-6
    p0 : float or array in (0, 1)
    points : int >= 101

    Returns
    -------
    TwoModeRestPoint

    Raises
    ------
    ValueError
        ``alpha`` or ``p0`` not in (0, 1), ``beta`` below 1e-6 (or arrays with such
        entries), ``points`` not an integer >= 101, or parameter arrays that do not
        broadcast together.

    >>> import numpy as np
    >>> import modesim as ms
    >>> out = ms.two_mode_rest_point(0.5, 0.04, 0.6)
    >>> round(float(-out.logit), 4), round(float(np.log(0.5) / 0.04 + np.log(0.4 / 0.6)), 4)
    (-17.7341, -17.7341)
    """
    a = chk.real(alpha, "alpha", low=0.0, high=1.0, low_open=True, high_open=True)
    b = chk.real(beta, "beta", low=MIN_BETA)
    p0 = chk.real(p0, "p0", low=0.0, high=1.0, low_open=True, high_open=True)
    points = chk.integer(points, "points", low=101)
    shape = chk.param_shape(alpha=a, beta=b, p0=p0)
    A, B, P = (np.broadcast_to(np.asarray(x, dtype=float), shape).ravel() for x in (a, b, p0))
    log_r = np.log(P) - np.log1p(-P)
    t_max = 2.0 * np.max(np.abs(np.log1p(-A) / B)) + np.max(np.abs(log_r)) + 50.0
    s = np.linspace(-np.arcsinh(t_max / 50.0), np.arcsinh(t_max / 50.0), points)
    grid = 50.0 * np.sinh(s)
    out_t = np.empty(A.size)
    n_rest = np.empty(A.size, dtype=np.int64)
    n_stable = np.empty(A.size, dtype=np.int64)
    chunk = max(1, (1 << 22) // points)
    for lo in range(0, A.size, chunk):  # chunks of the flattened parameter grid (memory)
        sl = slice(lo, min(A.size, lo + chunk))
        a_, b_, lr_ = A[sl, None], B[sl, None], log_r[sl, None]
        H = _two_mode_H(grid[None, :], lr_, a_, b_)
        sgn = np.sign(H)
        up = (sgn[:, :-1] < 0) & (sgn[:, 1:] >= 0)      # stable zeros (H crosses − → +)
        down = (sgn[:, :-1] > 0) & (sgn[:, 1:] <= 0)    # unstable zeros
        n_stable[sl] = up.sum(-1)
        n_rest[sl] = up.sum(-1) + down.sum(-1)
        H0 = _two_mode_H(lr_[:, 0], lr_[:, 0], a_[:, 0], b_[:, 0])
        right = grid[None, :] > lr_
        # Moving right (H(t0) < 0): the first grid point right of t0 with H ≥ 0.
        j_up = np.argmax(right & (sgn >= 0), axis=-1)
        # Moving left (H(t0) > 0): the last grid point left of t0 with H ≤ 0.
        left_ok = ~right & (sgn <= 0)
        j_dn = points - 1 - np.argmax(left_ok[:, ::-1], axis=-1)
        rows = np.arange(H.shape[0])
        lo_t = np.where(H0 < 0, np.maximum(grid[np.maximum(j_up - 1, 0)], lr_[:, 0]), grid[j_dn])
        hi_t = np.where(H0 < 0, grid[j_up], np.minimum(grid[np.minimum(j_dn + 1, points - 1)], lr_[:, 0]))
        del rows
        for _ in range(200):  # bisection on [lo_t, hi_t], H(lo) < 0 ≤ H(hi) or the mirror
            mid = 0.5 * (lo_t + hi_t)
            hm = _two_mode_H(mid, lr_[:, 0], a_[:, 0], b_[:, 0])
            go_right = (hm < 0) == (H0 < 0)
            lo_t = np.where(go_right, mid, lo_t)
            hi_t = np.where(go_right, hi_t, mid)
        out_t[sl] = np.where(H0 == 0, lr_[:, 0], 0.5 * (lo_t + hi_t))
    return TwoModeRestPoint(out_t.reshape(shape), n_rest.reshape(shape), n_stable.reshape(shape))


class CollapseRegime(NamedTuple):
    """Data of the collapse/no-collapse figure over (α, β) (theory §8.4); see :func:`collapse_regime`.

    Arrays of shape ``(len(alpha), len(beta))`` unless noted.
    """

    alpha: np.ndarray
    beta: np.ndarray
    log10_depth: np.ndarray
    log10_predicted: np.ndarray
    ood_pass_at_k: np.ndarray
    bistable: np.ndarray
    k: int
    tol: float
    critical_beta: np.ndarray
    instability_beta: np.ndarray
    practice_beta: tuple[float, float]


def collapse_regime(alpha=None, beta=None, *, p0: float = 0.6, k: int = 16, tol: float = 1e-2) -> CollapseRegime:
    """Collapse over a grid of (α, β), two valid modes with base (p0, 1 − p0) (theory §8.4).

    For every grid point, the exact rest point reached from π0 by the compounding
    copy-teacher round with KL to π0 (:func:`two_mode_rest_point`) gives ``log10`` of its
    depth ``π_2/π_1``, the K1 prediction ``log10(((1 − p0)/p0)·(1 − α)^(1/β))``, the OOD
    pass@k with mode 1 blocked, ``1 − (1 − π_2)^k``, and whether two stable rest points
    coexist (bistable).  The curves ``β_c(α; tol)`` (:func:`critical_kl_strength`), ``β*(α)``
    (:func:`uniform_instability_threshold`, K = 2) and :data:`PRACTICE_BETA` mark the
    regimes.  A figure builder can draw ``log10_depth`` as an image over (α, β) with those
    curves; this function only returns the data.

    Parameters
    ----------
    alpha, beta : 1-D arrays, optional
        Grids (default: 37 values of α in [0.05, 0.95], 61 of β log-spaced in [1e-3, 1]).
    p0 : float in (1/2, 1)
        Base probability of the top mode.
    k : int >= 1
    tol : float in (0, 1)

    Returns
    -------
    CollapseRegime

    Raises
    ------
    ValueError
        ``alpha`` not in (0, 1) or ``beta`` not > 0 (entries of either), grids that are not
        non-empty and 1-D, a ``beta`` below 1e-6 (:func:`two_mode_rest_point`), ``p0`` not a
        scalar in (1/2, 1), ``k`` not an integer >= 1, ``tol`` not a scalar in (0, 1).

    >>> import modesim as ms
    >>> out = ms.collapse_regime([0.5], [0.04, 0.5])
    >>> out.log10_depth.shape, bool(out.log10_depth[0, 0] < -7)
    ((1, 2), True)
    """
    a = np.linspace(0.05, 0.95, 37) if alpha is None else np.asarray(
        chk.real(alpha, "alpha", low=0.0, high=1.0, low_open=True, high_open=True), dtype=float)
    b = np.logspace(-3, 0, 61) if beta is None else np.asarray(chk.real(beta, "beta", low=0.0, low_open=True), dtype=float)
    if a.ndim != 1 or b.ndim != 1 or a.size == 0 or b.size == 0:
        raise ValueError(f"alpha and beta must be non-empty 1-D grids; got shapes {a.shape} and {b.shape}")
    p0 = chk.real(p0, "p0", low=0.5, high=1.0, low_open=True, high_open=True, allow_array=False)
    k = chk.integer(k, "k", low=1)
    tol = chk.real(tol, "tol", low=0.0, high=1.0, low_open=True, high_open=True, allow_array=False)
    rest = two_mode_rest_point(a[:, None], b[None, :], p0)
    ln10 = np.log(10.0)
    log_q = -np.logaddexp(0.0, rest.logit)          # log π_2
    from .simplex import log_complement

    log_fail = np.log1p(-np.exp(log_q))             # log(1 − π_2), π_2 ≤ 1/2 on the top branch
    log_fail = np.where(log_q > np.log(0.5), log_complement(np.stack([log_q, -np.logaddexp(0.0, -rest.logit)], -1))[..., 0], log_fail)
    passk = -np.expm1(k * log_fail)
    return CollapseRegime(
        alpha=a, beta=b,
        log10_depth=-rest.logit / ln10,
        log10_predicted=(np.log1p(-a)[:, None] / b[None, :] + np.log((1 - p0) / p0)) / ln10,
        ood_pass_at_k=passk, bistable=rest.n_stable > 1, k=k, tol=tol,
        critical_beta=critical_kl_strength(a, tol),
        instability_beta=uniform_instability_threshold(2, a),
        practice_beta=PRACTICE_BETA,
    )
