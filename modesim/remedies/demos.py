"""Demonstrations resampled against the teacher's bias (theory §11, registry entries W1 W2).

With a copy-type teacher ``T(y|d) = (1 − a(d))·ρ(y) + a(d)·1[y = d]`` (the copy teacher,
a(d) = α; :class:`~modesim.PowerCopyTeacher`, a(d) = σ(log c + γ log ρ(d))) the expected
pointwise information under a demonstration law D is

    Ī(y) = Σ_d D(d)·log(1 − a(d)) + D(y)·L(y),      L(y) = log(1 + a(y)/((1 − a(y))·ρ(y))),

the first term the same for every mode.  One reverse-KL round from ``π0`` changes
``log(π(y)/π(y'))`` by ``(D(y)L(y) − D(y')L(y'))/(1 + β)``: it preserves every ratio of
valid modes **exactly iff D(y)·L(y) is constant on C**, i.e.

    D*(y) ∝ 1/L(y) on C                                               (BalancedDemos)

(registry entry W1).  Valid modes then all gain ``1/Σ_C 1/L`` nats over invalid ones, so the
round raises the valid mass without changing any ratio.  As importance weights on
self-generated demonstrations ``ρ(·|C)`` this is ``w(y) ∝ 1/(ρ(y)·L(y))``.

It is not a power law.  For the copy teacher ``L = log(1 + κ/ρ)``, κ = α/(1 − α);
reweighting self-generated demonstrations by ``ρ^(−e)`` (:class:`PowerDemos`, ``D ∝ ρ^(1−e)``)
gives ``Δ log ratio ∝ h_e(ρ(y)) − h_e(ρ(y'))``, ``h_e(ρ) = ρ^(1−e)·log(1 + κ/ρ)``, and
(registry entry W2):

- e ≤ 0 amplifies every valid ratio (e = 0: plain self-generated demonstrations, S4/S4b);
- e ≥ 1 compresses every valid ratio (e = 1: uniform demonstrations, theory §7);
- 0 < e < 1: ``h_e`` rises on ``ρ < ρ*_e`` and falls above, ``ρ*_e = κ/u*_e`` with u*_e the
  positive root of ``(1 − e)·log(1 + u) = u/(1 + u)``
  (:func:`~modesim.remedies.formulas.power_ipw_threshold`): pairs of modes below ρ*_e are
  amplified, pairs above are compressed.

So no exponent preserves ratios for every base.  The exact law interpolates: for weak
copying (κ ≪ ρ) ``1/L ≈ ρ/κ``, self-generated demonstrations (e = 0); for strong copying
(κ ≫ ρ) ``1/L ≈ 1/log(κ/ρ)``, nearly uniform (e ≈ 1) with a logarithmic correction.  For
the power-copy teacher ``L = log(1 + c·ρ^(γ−1))``: γ = 1 makes L constant, so uniform
demonstrations (e = 1) are exactly balanced (B1's identity); for weak copying
(c·ρ^(γ−1) ≪ 1) ``1/L ≈ ρ^(1−γ)/c``: the exponent e = γ is balanced asymptotically.

:class:`BalancedDemos` computes D* for *any* teacher from its matrix: Ī is linear in D,
``Ī(y) = Σ_d D(d)·A[d, y]`` with ``A[d, y] = log T(y|d) − log ρ(y)``, so D* solves the linear
system "Ī equal on C, Σ D = 1" (one solve per batch entry).  A solution with negative
weights means no demonstration law makes that teacher's round ratio preserving (an error).

Source: ours (theory §11).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import _checks as chk
from ..demos import DemoSource
from ..simplex import log_normalise
from ..teachers import MAX_LAW_ENTRIES

__all__ = ["BalancedDemos", "PowerDemos", "weighted_group_demos"]

#: Negative weights down to this (relative to the largest) count as round-off and are set to 0.
_NEGATIVE_TOL = 1e-12


@dataclass(frozen=True, eq=False)
class BalancedDemos(DemoSource):
    """The demonstration law that makes ``teacher``'s reverse-KL round ratio preserving (theory §11, W1).

    ``D*`` is supported on C and solves ``Σ_d D*(d)·(log T(y|d) − log ρ(y)) = ν`` for every
    valid y (Ī equal on C), ``Σ D* = 1``; for a copy-type teacher ``D*(y) ∝ 1/L(y)``,
    ``L(y) = log(1 + a(y)/((1 − a(y))·ρ(y)))`` (the module docstring).  With the rule's own
    teacher on ``ρ = π0`` and reference π0, one round multiplies every valid mode by the same
    factor ``exp(ν/(1 + β))`` relative to invalid ones: ratios exactly preserved, valid mass
    raised.  With a different teacher in the rule the balance is lost (control W1:wrong-teacher).

    A teacher that ignores its demonstration (Ī the same for every law, e.g. α = 0) is
    balanced by every law; then ``D* = ρ(·|C)``.

    Parameters
    ----------
    teacher : Teacher
        The teacher the law is balanced for (one demonstration; its ``log_matrix`` is used).

    Costs: O(K) for a teacher with a two-point demonstration law (the copy teacher:
    ``T(y|d)`` the same for every d ≠ y, :func:`~modesim.remedies.teachers.two_point_values`),
    in closed form ``D*(y) = (ν − k(y))/L(y)``; otherwise one K × K teacher matrix and one
    K × K linear solve per batch entry (``numpy.linalg.solve``), refused above 2·10^8 entries.

    Raises
    ------
    ValueError
        ``teacher`` without ``log_matrix``; at a round: a valid mode with ``ρ(y) = 0`` (its L
        is infinite), or no non-negative balanced law (named with the batch index).

    Examples
    --------
    >>> import modesim as ms
    >>> from modesim.remedies import BalancedDemos
    >>> task = ms.make_task([0.5, 0.3, 0.1, 0.1], [1, 1, 1, 0])
    >>> teacher = ms.CopyTeacher(0.5)
    >>> pi = ms.sd_optimum(task, teacher=teacher, demos=BalancedDemos(teacher))
    >>> (pi[:3] / task.base[:3]).round(6).tolist(), bool(pi[:3].sum() > 0.9)
    ([1.040807, 1.040807, 1.040807], True)
    """

    teacher: object

    def __post_init__(self):
        chk.implements(self.teacher, "teacher", ("log_matrix",), "a modesim Teacher (with log_matrix)")
        if getattr(self.teacher, "n_demos", 1) != 1:
            raise ValueError(
                "teacher must read one demonstration (BalancedDemos balances the law of that demonstration); "
                f"got teacher.n_demos={self.teacher.n_demos}"
            )

    @property
    def param_shape(self):
        return getattr(self.teacher, "param_shape", ())

    def distribution(self, log_rho: np.ndarray, task) -> np.ndarray:
        lr = np.minimum(np.asarray(log_rho, dtype=np.float64), 0.0)
        K = lr.shape[-1]
        batch = np.broadcast_shapes(lr.shape[:-1], task.valid.shape[:-1], self.param_shape)
        valid = np.broadcast_to(task.valid, batch + (K,))
        lr = np.broadcast_to(lr, batch + (K,))
        zero = valid & np.isneginf(lr) if lr.min() == -np.inf else None
        if zero is not None and np.any(zero):
            raise ValueError(
                "BalancedDemos needs the teacher base to give every valid mode positive probability (a valid "
                f"mode has zero probability, so its copy gain is infinite){chk.at_index(np.any(zero, axis=-1))}"
            )
        fast = self._two_point(lr, valid)
        if fast is not None:
            return fast
        if int(np.prod(batch, dtype=np.int64)) * K * K > MAX_LAW_ENTRIES:
            raise ValueError(
                f"BalancedDemos solves a K × K system per batch entry (K = {K}, batch {batch}); that is too "
                f"large (allowed: {MAX_LAW_ENTRIES:.3g} entries)"
            )
        lT = np.broadcast_to(self.teacher.log_matrix(lr), batch + (K, K))
        vv = valid[..., :, None] & valid[..., None, :]
        with np.errstate(invalid="ignore"):
            A = np.where(vv, lT - lr[..., None, :], 0.0)                 # A[d, y] on C × C
        if np.any(np.isinf(A)):
            raise ValueError(
                "BalancedDemos needs T(y|d) > 0 for valid y and d (the teacher gives a valid mode zero "
                "probability under some valid demonstration)"
            )
        # Rows y ∈ C (except the last valid mode, ℓ): Σ_d D(d)(A[d, y] − A[d, ℓ]) = 0; row ℓ: Σ_{d∈C} D(d) = 1.
        idx = np.arange(K)
        last = np.max(np.where(valid, idx, -1), axis=-1)
        At = np.swapaxes(A, -1, -2)                                       # At[y, d] = A[d, y]
        ref = np.take_along_axis(At, last[..., None, None], axis=-2)      # (..., 1, K): A[d, ℓ]
        M = np.where(vv, At - ref, 0.0)
        is_last = idx == last[..., None]
        M = np.where(is_last[..., :, None], valid[..., None, :].astype(np.float64), M)
        rest = ~valid
        M = np.where(rest[..., :, None] & (idx[:, None] == idx[None, :]), 1.0, M)
        rhs = is_last.astype(np.float64)
        # A teacher that ignores its demonstrations has no information to balance: keep ρ(·|C).
        blind = ~np.any(np.abs(np.where(vv & ~is_last[..., :, None], M, 0.0)) > 0.0, axis=(-2, -1))
        if np.any(blind):
            eye = np.broadcast_to(np.eye(K), M.shape)
            M = np.where(blind[..., None, None], eye, M)
            rhs = np.where(blind[..., None], np.where(valid, np.exp(lr), 0.0), rhs)
        try:
            D = np.linalg.solve(M, rhs[..., None])[..., 0]
        except np.linalg.LinAlgError:
            raise ValueError(
                "no unique demonstration law balances this teacher (its balancing system is singular)"
            ) from None
        if np.any(blind):
            D = np.where(blind[..., None], D / np.sum(D, axis=-1, keepdims=True), D)
        D = np.where(valid, D, 0.0)
        scale = np.max(np.abs(D), axis=-1, keepdims=True)
        bad = np.any(D < -_NEGATIVE_TOL * scale, axis=-1) | ~np.all(np.isfinite(D), axis=-1)
        if np.any(bad):
            raise ValueError(
                "no non-negative demonstration law makes this teacher's round ratio preserving (the "
                f"balancing solution puts negative weight on a valid mode){chk.at_index(bad)}"
            )
        D = np.maximum(D, 0.0)
        return D / np.sum(D, axis=-1, keepdims=True)

    def _two_point(self, lr, valid):
        """O(K) closed form for a two-point demonstration law (``T(y|d) = r(y)`` for every d ≠ y).

        Then ``Ī(y) = k(y) + D(y)·L(y)`` with ``k = log r − log ρ`` and ``L = log T(y|y) − log r``, so
        ``D*(y) = (ν − k(y))/L(y)`` on C with ``ν = (1 + Σ_C k/L)/Σ_C 1/L`` (the copy teacher:
        k = log(1 − α), D* ∝ 1/L).  None (use the linear solve) for any other law, or when some
        valid mode has L = 0 in a row where others do not.
        """
        from .teachers import two_point_values

        tp = two_point_values(self.teacher, lr)
        if tp is None:
            return None
        lh, lrest = tp
        if np.isneginf(lrest.min()) and np.any(valid & np.isneginf(lrest)):
            raise ValueError(
                "BalancedDemos needs T(y|d) > 0 for valid y and d (the teacher gives a valid mode zero "
                "probability under some valid demonstration)"
            )
        if lr.min() > -np.inf and lh.min() > -np.inf and lrest.min() > -np.inf:
            L = lh - lrest                              # no −inf − (−inf): no errstate needed
            k = lrest - lr
            if L.min() > 0.0:
                # The common case (every mode gains from its own demonstration): the same
                # formula with the mask as a 0/1 weight, fewer passes for small K.
                inv = valid / L
                kin = k * inv
                nu = (1.0 + kin.sum(axis=-1, keepdims=True)) / inv.sum(axis=-1, keepdims=True)
                D = nu * inv
                D -= kin
                if D.min() >= 0.0:
                    return D / D.sum(axis=-1, keepdims=True)
        else:
            with np.errstate(invalid="ignore", divide="ignore"):
                L = lh - lrest
                k = lrest - lr
        L = np.where(valid, L, 1.0)
        if not np.all(L != 0.0):                        # a teacher that ignores (some) demonstrations
            zero = valid & (L == 0.0)
            blind = np.all(zero | ~valid, axis=-1)
            if np.any(zero & ~blind[..., None]):
                return None
            L = np.where(zero, 1.0, L)
        else:
            blind = None
        inv = np.where(valid, 1.0 / L, 0.0)
        k = np.where(valid, k, 0.0)
        nu = (1.0 + np.sum(k * inv, axis=-1, keepdims=True)) / np.sum(inv, axis=-1, keepdims=True)
        D = (nu - k) * inv
        if blind is not None and np.any(blind):
            D = np.where(blind[..., None], np.where(valid, np.exp(lr), 0.0), D)
        if not (D.min() >= 0.0 and np.all(np.isfinite(D))):
            scale = np.max(np.abs(D), axis=-1, keepdims=True)
            bad = np.any(D < -_NEGATIVE_TOL * scale, axis=-1) | ~np.all(np.isfinite(D), axis=-1)
            if np.any(bad):
                raise ValueError(
                    "no non-negative demonstration law makes this teacher's round ratio preserving (the "
                    f"balancing solution puts negative weight on a valid mode){chk.at_index(bad)}"
                )
        D = np.maximum(D, 0.0)
        return D / np.sum(D, axis=-1, keepdims=True)


@dataclass(frozen=True, eq=False)
class PowerDemos(DemoSource):
    """Self-generated demonstrations reweighted by ``ρ(y)^(−e)``: ``D ∝ ρ^(1−e)`` on C (theory §11, W2).

    Inverse-propensity weights with exponent e: ``e = 0`` is :class:`~modesim.ConditionedDemos`
    (``ρ(·|C)``), ``e = 1`` is :class:`~modesim.UniformDemos`.  With the copy teacher no
    exponent preserves ratios for every base (module docstring).  Valid modes with
    ``ρ(y) = 0`` get weight 0 (for ``e = 1``: the uniform law, which includes them).

    Parameters
    ----------
    exponent : float or array (finite)

    Raises
    ------
    ValueError
        ``exponent`` not finite; at a round, ``ρ(C) = 0`` with ``e ≠ 1`` (no correct rollout).
    """

    exponent: float = 0.5

    def __post_init__(self):
        object.__setattr__(self, "exponent", chk.real(self.exponent, "exponent"))

    @property
    def param_shape(self):
        return chk.param_shape(self.exponent)

    def log_distribution(self, log_rho: np.ndarray, task) -> np.ndarray:
        lr = np.minimum(np.asarray(log_rho, dtype=np.float64), 0.0)
        e = chk.col(self.exponent)
        k = 1.0 - e
        # (1 − e)·(log ρ − r) with r the valid log ρ that maximises (1 − e)·log ρ: every term is
        # ≤ 0, so a huge |1 − e| sends the others to −inf (probability 0) instead of overflowing.
        live = task.valid & np.isfinite(lr)
        hi = np.max(np.where(live, lr, -np.inf), axis=-1, keepdims=True)
        lo = np.min(np.where(live, lr, np.inf), axis=-1, keepdims=True)
        ref = np.where(k >= 0.0, hi, lo)
        ref = np.where(np.isfinite(ref), ref, 0.0)
        with np.errstate(over="ignore", invalid="ignore"):
            x = np.where(np.isneginf(lr), np.where(e == 1.0, 0.0, -np.inf), k * (lr - ref))
        x = np.where(task.valid, x, -np.inf)
        if np.any(np.all(np.isneginf(x), axis=-1)):
            raise ValueError(
                "PowerDemos: the teacher base gives the valid set zero mass, so there is no correct "
                f"rollout to reweight{chk.at_index(np.all(np.isneginf(x), axis=-1))}"
            )
        return log_normalise(x)


def weighted_group_demos(y: np.ndarray, correct: np.ndarray, weight: np.ndarray, u: np.ndarray,
                         exclude_self: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Demonstrations drawn from a group's correct rollouts with probability ∝ ``weight`` (theory §11).

    The importance-weighted version of :func:`modesim.sampled.sd.group_demos` (theory §3.6):
    rollout n's demonstration is correct rollout j (j ≠ n when ``exclude_self``) with
    probability ``weight[j]/Σ_{eligible j'} weight[j']``, with replacement for m
    demonstrations.  With ``weight ∝ D*(y)/ρ(y)`` the picks follow a target law D* (such as
    :class:`BalancedDemos`, statement W1) as the group grows, self-normalised within a group
    of N.  The kernel of :class:`~modesim.remedies.RemedySampledSD`'s ``reweight``, run every step on
    arrays the rule built: its inputs are not checked (it is not part of the package's API).

    Parameters
    ----------
    y, correct, weight : ndarrays (…, N)
        Rollouts (mode indices), whether each is correct, and each rollout's importance
        weight (≥ 0).
    u : ndarray (…, N, m)
        Uniforms in [0, 1), one per demonstration.
    exclude_self : bool
        A rollout never demonstrates for itself.

    Returns
    -------
    demos : int ndarray (…, N, m)
        Mode of each demonstration (where ``has`` is False: a placeholder, to be ignored).
    has : bool ndarray (…, N)
        Rollout n had an eligible demonstration of positive weight.

    Raises
    ------
    ValueError
        Not validated: a low-level kernel of :class:`RemedySampledSD`'s round, called with
        arrays the rule built.  Arrays that do not broadcast raise numpy's ``ValueError``;
        ``y`` given as a list raises ``AttributeError``.

    Notes
    -----
    Source: ours (theory §11); the group demonstrations it reweights follow the paper's and
    the public self-distillation trainers' design (theory §3.6).
    """
    n = y.shape[-1]
    wt = np.where(np.asarray(correct, dtype=bool), np.asarray(weight, dtype=np.float64), 0.0)
    W = np.broadcast_to(wt[..., None, :], wt.shape + (n,)).copy()      # W[..., i, j]: weight of j for i
    if exclude_self:
        W[..., np.arange(n), np.arange(n)] = 0.0
    cdf = np.cumsum(W, axis=-1)
    total = cdf[..., -1:]
    has = total[..., 0] > 0
    target = u * total                                                  # (…, N, m)
    pick = np.sum(cdf[..., :, None, :] <= target[..., :, :, None], axis=-1)
    pick = np.minimum(pick, n - 1)
    # A pick past the last positive weight (round-off) falls back to the last eligible rollout.
    last = n - 1 - np.argmax((W > 0)[..., ::-1], axis=-1)
    ok = np.take_along_axis(W, pick, axis=-1) > 0
    pick = np.where(ok, pick, last[..., None])
    demos = np.take_along_axis(np.broadcast_to(y[..., None, :], y.shape + (n,)), pick, axis=-1)
    return demos, has
