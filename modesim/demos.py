"""Demonstration sources: the law ``D`` of the demonstration a teacher is conditioned on (theory §3.3).

A source maps the teacher base ``ρ`` to ``D`` (supported on the valid set C):
``distribution(log_rho, task)`` gives probabilities (an expectation weight),
``log_distribution(log_rho, task)`` log-probabilities.  ``check(task)`` is called once
when a rule starts on a task (e.g. a fixed demonstration must be valid in every prompt).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import _checks as chk
from .simplex import log_conditional

__all__ = ["DemoSource", "ConditionedDemos", "UniformDemos", "FixedDemo", "ExplicitDemos"]


class DemoSource:
    """Base class of demonstration sources (define ``distribution`` or ``log_distribution``).

    A source maps the teacher base ``log ρ`` (shape (..., K)) to the demonstration law
    ``D`` on the valid set C, shape broadcast(ρ's, the task's) (theory §3.3, the table of
    demonstration laws).  The base class takes no arguments and checks nothing; a subclass
    validates its parameters in ``__post_init__`` and its fit to a task in :meth:`check`.
    """

    param_shape: tuple[int, ...] = ()

    def check(self, task) -> None:
        """Validate the source against a task (called once per run)."""

    def distribution(self, log_rho: np.ndarray, task) -> np.ndarray:
        return np.exp(self.log_distribution(log_rho, task))

    def log_distribution(self, log_rho: np.ndarray, task) -> np.ndarray:
        with np.errstate(divide="ignore"):
            return np.log(self.distribution(log_rho, task))


#: Valid mass from which :class:`ConditionedDemos` divides in probability space.
_MIN_DIRECT_MASS = 1e-8


@dataclass(frozen=True)
class ConditionedDemos(DemoSource):
    """Self-generated demonstrations ``D = ρ(·|C)``: the teacher's correct rollouts (theory §3.3).

    ``D(y) = ρ(y)·1[y ∈ C]/ρ(C)``, computed in log space
    (:func:`~modesim.simplex.log_conditional`);
    the default of every self-distillation rule, as in the paper's design (a correct rollout
    of the model itself is the demonstration; arXiv 2606.26091, theory §3.1).

    Raises
    ------
    ValueError
        From :meth:`distribution` / :meth:`log_distribution` (so from a rule's round) when
        ``ρ(C) = 0`` in some row: there is no correct rollout to sample (theory §3.5 S6).
    """

    def distribution(self, log_rho: np.ndarray, task) -> np.ndarray:
        if task.all_valid:
            # Weights only: an entry at 1 + 2e-16 from a log-policy normalised to round-off is
            # harmless here (kernels that need D ≤ 1 clip it themselves).
            return np.exp(log_rho)
        # ρ(y)·1[y ∈ C]/ρ(C) in probability space: one exp pass instead of two (ρ is
        # normalised, so nothing overflows).  Rows whose valid mass is below 1e-8 go through
        # log space (there an underflowed ρ(y) could hold a weight above 1e-308), and a row
        # whose every mode is valid is left as exp(log ρ), as in an all-valid task: the
        # choices are per row, so a row's bits do not depend on the rest of the batch (a
        # review found an all-valid row of a mixed batch divided by its mass, 1 ± 1 ulp).
        valid = task.valid
        D = np.exp(log_rho)
        D = np.multiply(D, valid, out=D if D.shape == np.broadcast_shapes(D.shape, valid.shape) else None)
        mass = D.sum(axis=-1, keepdims=True)
        partial = ~np.all(valid, axis=-1, keepdims=True)
        low = (mass < _MIN_DIRECT_MASS) & partial
        if not np.any(low):
            np.divide(D, mass, out=D, where=partial)
            return D
        exact = np.exp(log_conditional(log_rho, valid, name="the teacher base"))
        with np.errstate(divide="ignore", invalid="ignore"):
            np.divide(D, mass, out=D, where=partial)
        return np.where(low, exact, D)

    def log_distribution(self, log_rho: np.ndarray, task) -> np.ndarray:
        return log_conditional(log_rho, task.valid, name="the teacher base")


@dataclass(frozen=True)
class UniformDemos(DemoSource):
    """Diverse external demonstrations: ``D`` uniform over the valid set C (theory §3.3, §7).

    ``D(y) = 1[y ∈ C]/|C|``, whatever the teacher base.  The paper's "diverse external
    demonstrations" ablation (arXiv 2606.26091); with the copy teacher it compresses ratios
    (theory §7, §8.3 B1).  Takes no arguments and raises nothing (a task always has a valid
    mode).
    """

    def distribution(self, log_rho: np.ndarray, task) -> np.ndarray:
        v = np.broadcast_to(task.valid, np.broadcast_shapes(task.valid.shape, np.shape(log_rho)))
        return v / v.sum(axis=-1, keepdims=True)


@dataclass(frozen=True)
class FixedDemo(DemoSource):
    """A single fixed reference demonstration (OPSD-style): ``D = δ_mode`` (theory §3.3, B3).

    ``mode`` must be valid in every prompt of the task.

    Parameters
    ----------
    mode : int >= 0
        The demonstrated mode (0-based index on the mode axis).

    Raises
    ------
    ValueError
        ``mode`` not an integer >= 0; when a run starts (:meth:`check`): ``mode >= K``, or
        ``mode`` invalid in some prompt (named by batch index).

    Notes
    -----
    Source: OPSD conditions the teacher on one external reference solution per prompt
    (siyan-zhao/OPSD commit 590ec26; theory §8.2, presets).
    """

    mode: int

    def __post_init__(self):
        object.__setattr__(self, "mode", chk.integer(self.mode, "mode", low=0))

    def check(self, task) -> None:
        K = task.n_modes
        if self.mode >= K:
            raise ValueError(f"mode must be < K = {K}; got {self.mode}")
        if not np.all(task.valid[..., self.mode]):
            raise ValueError(
                f"mode must be valid in every prompt (demonstrations are correct rollouts); "
                f"mode {self.mode} is invalid{chk.at_index(~task.valid[..., self.mode])}"
            )

    def distribution(self, log_rho: np.ndarray, task) -> np.ndarray:
        self.check(task)
        out = np.zeros(np.broadcast_shapes(np.shape(log_rho), task.valid.shape))
        out[..., self.mode] = 1.0
        return out


@dataclass(frozen=True, eq=False)
class ExplicitDemos(DemoSource):
    """An explicit demonstration distribution ``D`` given as ``probs``, shape ``(..., K)``.

    ``D`` must be a distribution supported on the valid set (checked when a run starts).

    Parameters
    ----------
    probs : array_like, shape (..., K)
        Probabilities; leading axes broadcast against the task's batch axes (theory §1).

    Raises
    ------
    ValueError
        ``probs`` not probabilities of shape (..., K) (non-finite, negative, rows not
        summing to 1 within 1e-6); when a run starts (:meth:`check`): ``probs`` not
        broadcasting against the task, or mass on an invalid mode.

    Notes
    -----
    Theory §3.3 (demonstration laws).  The exact JSD round of a finite group uses it for
    the group's empirical law (theory §8.1).
    """

    probs: np.ndarray

    def __post_init__(self):
        object.__setattr__(self, "probs", chk.probabilities(self.probs, "probs"))

    def check(self, task) -> None:
        try:
            D = np.broadcast_to(self.probs, np.broadcast_shapes(self.probs.shape, task.valid.shape))
        except ValueError:
            raise ValueError(
                f"probs of shape {self.probs.shape} does not broadcast against the task's shape "
                f"{task.valid.shape}"
            ) from None
        bad = np.any((D > 0) & ~task.valid, axis=-1)
        if np.any(bad):
            raise ValueError(
                "probs puts mass on invalid modes (demonstrations must be correct rollouts)"
                f"{chk.at_index(bad)}"
            )

    def distribution(self, log_rho: np.ndarray, task) -> np.ndarray:
        return np.broadcast_to(self.probs, np.broadcast_shapes(self.probs.shape, np.shape(log_rho)))
