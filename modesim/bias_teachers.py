"""Teachers that channel the model's own bias into what they copy (theory §8.3).

The copy teacher of theory §3.3 copies every demonstration with the same strength α.
With demonstrations drawn uniformly over the valid set (diverse external
demonstrations) it therefore *compresses* probability ratios: a rare mode gains most
from being demonstrated.  The paper's ablation reports collapse even then, and says the
teacher "channels its feedback through the model's own biases".  The teacher here makes
that mechanism explicit: the odds of copying a demonstration grow with the teacher's own
probability of it,

    T(y | d) ∝ ρ(y) + c·ρ(d)^γ·1[y = d],

a copy teacher whose copy strength depends on the demonstration,
``a(d) = c·ρ(d)^γ/(1 + c·ρ(d)^γ)`` (copy odds ``c·ρ(d)^γ``).  ``γ = 0`` is
:class:`~modesim.CopyTeacher` with ``α = c/(1 + c)``; ``c = 0`` ignores the
demonstration.  Its expected pointwise information (theory §8.3, B1–B3) is::

    Ī(y) = E_d log T(y|d) − log ρ(y) = Σ_d D(d)·log(1 − a(d)) + D(y)·log(1 + c·ρ(y)^(γ−1))

(the first term is the same for every mode).  Hence, with the teacher base ρ:

- **uniform demonstrations** over C (|C| = n): ``Ī(y) = const + (1/n)·log(1 + c·ρ(y)^(γ−1))``
  on C, increasing in ρ(y) iff γ > 1: one round amplifies every valid ratio iff γ > 1,
  preserves them at γ = 1 and compresses them for γ < 1 (B1);
- **self-generated demonstrations** D = ρ(·|C): ``Ī(y) = const + h(ρ(y))/ρ(C)`` with
  ``h(p) = p·log(1 + c·p^(γ−1))``, ``h'(p) = log(1 + v) + (γ − 1)·v/(1 + v)``, ``v = c·p^(γ−1)``;
  for γ ≥ 0, ``h' ≥ log(1 + v) − v/(1 + v) > 0``: strict amplification for every c > 0 (B2).
  For γ < 0 it can fail: ``h'(p) < 0`` where ``log(1 + v) < (1 − γ)·v/(1 + v)``, i.e. for
  small ``v`` (small c, p away from 0);
- **a fixed demonstration** d* (OPSD-style): ``Ī(y) = log(1 − a(d*)) + 1[y = d*]·log(1 +
  c·ρ(d*)^(γ−1))``: d*'s ratio to every other mode is multiplied by
  ``(1 + c·ρ(d*)^(γ−1))^(1/(1+β))`` and every other ratio is preserved (B3).

Source: ours (the derivation above; checked in ``tests/test_bias_teachers.py`` and by the
registered theorems B1–B3).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import _checks as chk
from .simplex import logsumexp_last
from .teachers import Teacher, gather, scatter_add

#: Largest |γ| of :class:`PowerCopyTeacher`: γ·log ρ stays finite for every ρ > 0.
MAX_GAMMA = 1e300

__all__ = ["PowerCopyTeacher"]


@dataclass(frozen=True, eq=False)
class PowerCopyTeacher(Teacher):
    """Copy odds proportional to ρ(d)^γ: ``T(y|d) ∝ ρ(y) + c·ρ(d)^γ·1[y = d]`` (theory §8.3).

    Equivalently ``T(y|d) = (1 − a(d))·ρ(y) + a(d)·1[y = d]`` with copy strength
    ``a(d) = σ(log c + γ·log ρ(d))``.  ``gamma = 0`` is ``CopyTeacher(c/(1 + c))``;
    ``c = 0`` ignores the demonstration; ``gamma > 1`` amplifies even under uniform
    demonstrations (B1), ``gamma ≥ 0`` amplifies under self-generated ones (B2).  The
    closed forms of Ī under uniform, self-generated and fixed demonstrations are in the
    module docstring.

    Parameters
    ----------
    c : float or array >= 0
        Copy odds of a demonstration of probability 1 under the teacher base.
    gamma : float or array in [-1e300, 1e300]
        Exponent of the teacher's own probability of the demonstration in the copy odds.

    Costs: ``expected_log``, ``log_mixture``, ``log_prob`` and ``weighted_log_rows`` are O(K)
    (O(N) for a group); ``demo_law`` is the generic K × K law (T(y|d ≠ y) depends on d
    unless γ = 0).  Zero probabilities: a mode with ρ(y) = 0 is held only by its own
    demonstration, with ``T(y|y) = a(y)`` (1 if γ < 0, ``c/(1 + c)`` if γ = 0, 0 if γ > 0).

    Raises
    ------
    ValueError
        ``c`` negative or not finite, ``gamma`` outside [-1e300, 1e300] (or arrays of such values);
        ``demo_law`` (the JSD objective) above :data:`modesim.teachers.MAX_LAW_ENTRIES`.

    Notes
    -----
    Source: this project's model (theory §8.3, statements B1–B3) of the paper's remark
    that the teacher "channels its feedback through the model's own biases"
    (arXiv 2606.26091, the ablation with diverse external demonstrations).

    Examples
    --------
    >>> import modesim as ms
    >>> task = ms.make_task([0.6, 0.3, 0.1])
    >>> ms.sd_optimum(task, teacher=ms.PowerCopyTeacher(1.0, 2.0), demos=ms.UniformDemos()).round(3).tolist()
    [0.62, 0.289, 0.091]
    """

    c: float = 1.0
    gamma: float = 2.0

    def __post_init__(self):
        object.__setattr__(self, "c", chk.real(self.c, "c", low=0.0))
        # |γ|·|log ρ| stays a float for every ρ > 0 (|log ρ| <= 745): an overflow to +inf
        # copy log-odds would make the expected log NaN (inf − inf).
        object.__setattr__(self, "gamma", chk.real(self.gamma, "gamma", low=-MAX_GAMMA, high=MAX_GAMMA))

    @classmethod
    def from_alpha(cls, alpha, gamma=2.0) -> PowerCopyTeacher:
        """The teacher with the copy odds of ``CopyTeacher(alpha)`` at ρ(d) = 1: c = α/(1 − α).

        Theory §7.1 uses ``from_alpha(0.5, 2)`` and ``from_alpha(0.9, 2)``.

        Raises
        ------
        ValueError
            ``alpha`` not a real number (or array) in [0, 1); ``gamma`` outside [-1e300, 1e300].

        >>> import modesim as ms
        >>> ms.PowerCopyTeacher.from_alpha(0.9, 2.0).c
        9.000000000000002
        """
        a = chk.real(alpha, "alpha", low=0.0, high=1.0, high_open=True)
        return cls(a / (1.0 - np.asarray(a)) if isinstance(a, np.ndarray) else a / (1.0 - a), gamma)

    @property
    def param_shape(self):
        return chk.param_shape(self.c, self.gamma)

    # ------------------------------------------------------------ the copy strength a(d)

    def copy_log_odds(self, log_rho: np.ndarray) -> np.ndarray:
        """``z(d) = log c + γ·log ρ(d)``, the log-odds of copying demonstration d, (..., K).

        ``-inf`` when c = 0; for ρ(d) = 0: ``-inf`` (γ > 0), ``log c`` (γ = 0), ``+inf`` (γ < 0).
        """
        lr = np.minimum(np.asarray(log_rho, dtype=np.float64), 0.0)
        c, g = chk.col(self.c), chk.col(self.gamma)
        with np.errstate(divide="ignore", invalid="ignore"):
            gl = np.where(g == 0.0, 0.0, g * lr)
            z = np.log(c) + gl
        return np.where(c == 0.0, -np.inf, z)

    def _parts(self, log_rho):
        """(log ρ, z, log a, log(1 − a)) with a = σ(z), all (..., K)."""
        lr = np.minimum(np.asarray(log_rho, dtype=np.float64), 0.0)
        z = self.copy_log_odds(lr)
        log_a = -np.logaddexp(0.0, -z)
        log_1ma = -np.logaddexp(0.0, z)
        return lr, z, log_a, log_1ma

    # ------------------------------------------------------------ the protocol

    def expected_log(self, log_rho: np.ndarray, demo: np.ndarray, *, out=None) -> np.ndarray:
        """``E_d log T(y|d) = log ρ(y) + Σ_d D(d) log(1 − a(d)) + D(y)·log(1 + e^{z(y)}/ρ(y))``, O(K)."""
        lr, z, log_a, log_1ma = self._parts(log_rho)
        D = np.asarray(demo, dtype=np.float64)
        shape = np.broadcast_shapes(lr.shape, D.shape, z.shape)
        with np.errstate(invalid="ignore"):
            common = np.sum(np.where(D > 0, D * log_1ma, 0.0), axis=-1, keepdims=True)
            gain = np.logaddexp(0.0, z - lr)                  # log(1 + c·ρ(y)^(γ−1))
            res = lr + common + np.where(D > 0, D * gain, 0.0)
        dead = np.isneginf(lr)
        if np.any(dead):
            # ρ(y) = 0: only the demonstration y itself holds y, with T(y|y) = a(y).
            res = np.where(dead, np.where(D >= 1.0, np.broadcast_to(log_a, shape), -np.inf), res)
        return np.broadcast_to(res, shape) if res.shape != shape else res

    def log_mixture(self, log_rho: np.ndarray, log_demo: np.ndarray) -> np.ndarray:
        """``log(ρ(y)·Σ_d D(d)(1 − a(d)) + D(y)·a(y))``, O(K), in log space."""
        lr, _, log_a, log_1ma = self._parts(log_rho)
        ld = np.asarray(log_demo, dtype=np.float64)
        kept = logsumexp_last(ld + log_1ma, keepdims=True)
        return np.logaddexp(lr + kept, ld + log_a)

    def log_matrix(self, log_rho: np.ndarray) -> np.ndarray:
        lr, _, log_a, log_1ma = self._parts(log_rho)
        K = lr.shape[-1]
        with np.errstate(divide="ignore"):
            eye = np.log(np.eye(K))
        return np.logaddexp(log_1ma[..., :, None] + lr[..., None, :], log_a[..., :, None] + eye)

    def log_prob(self, log_rho: np.ndarray, demos: np.ndarray, y: np.ndarray) -> np.ndarray:
        """``log((1 − a(d))·ρ(y) + a(d)·1[y = d])`` for the demonstration ``demos[..., 0]``."""
        lr, _, log_a, log_1ma = self._parts(log_rho)
        d = demos[..., 0]
        hit = np.where(d == y, gather(log_a, d), -np.inf)
        return np.logaddexp(gather(log_1ma, d) + gather(lr, y), hit)

    def weighted_log_rows(self, log_rho: np.ndarray, demos: np.ndarray, w: np.ndarray) -> np.ndarray:
        """``Σ_n w_n log T(·|d_n)``: rows differ from ``(1 − a(d_n))·ρ`` only at d_n, O(N)."""
        lr, z, _, log_1ma = self._parts(log_rho)
        K = lr.shape[-1]
        d = demos[..., 0]
        dead = np.isneginf(lr)
        total = w.sum(-1, keepdims=True)
        keep = np.sum(w * gather(log_1ma, d), axis=-1, keepdims=True)
        gain = np.logaddexp(0.0, z - np.where(dead, 0.0, lr))  # log(1 + c ρ(d)^(γ−1))
        out = total * np.where(dead, 0.0, lr) + keep + scatter_add(d, w * gather(gain, d), K)
        return np.where(dead, -np.inf, out)
