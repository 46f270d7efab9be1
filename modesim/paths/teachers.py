"""Per-step teachers on paths (theory §3.3, §5.2).

A path teacher conditioned on a demonstrated rollout ``d`` gives a next-step distribution
``T(v|u, d)`` at every node.  ``log T(path|d) = Σ_{e∈path} log T(e|d)`` is a sum over
edges, so the reverse-KL target ``π(path) ∝ exp(E_d log T(path|d))`` has per-edge scores
``E_d log T(e|d)``, which depend on D only through its node and edge marginals
(:mod:`modesim.paths.demos`).  A teacher is a :class:`PathTeacher` with

=========================================================  ====================================
``edge_expected_log(graph, log_rho, log_m_node, log_m_edge)``  ``E_d log T(e|d)`` per edge (reverse KL)
``edge_log_mixture(graph, log_rho, log_m_node, log_m_edge)``   ``log E_d T(e|d)`` per edge (per-step
                                                               forward KL)
``edge_log_given(graph, log_rho, edges, demo_edges)``           ``log T(e|u, d)`` for given edges and
                                                               the demonstration's step at their
                                                               node (sampled path rules, JSD)
``param_shape``                                                broadcast shape of array parameters
=========================================================  ====================================

A per-step teacher sees the demonstration only through what it does at the current node:
whether it visits the node and which edge it takes there.  ``edge_log_given`` states that
directly (``demo_edges = −1``: the demonstration does not visit the node); the two
expectation kernels are its averages over the demonstration law.

``log_rho`` is the teacher base (per-edge log-probabilities, ``(..., E)``, normalised at
every node, possibly only to round-off), the marginals are log-probabilities of shape
``(..., n)`` and ``(..., E)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import _checks as chk

__all__ = ["PathTeacher", "PathCopyTeacher"]


class PathTeacher:
    """Base class of per-step path teachers (define both edge kernels; theory §5.2).

    Kernels take the teacher base (per-edge log-probabilities, (..., E)) and the
    demonstration law's marginals ((..., n) and (..., E)) and return per-edge values
    (..., E).  The base class takes no arguments and checks nothing; a subclass validates
    its parameters in ``__post_init__``.
    """

    @property
    def param_shape(self) -> tuple[int, ...]:
        """Broadcast shape of the teacher's array-valued parameters (``()`` for scalars)."""
        return ()

    def edge_expected_log(self, graph, log_rho, log_m_node, log_m_edge) -> np.ndarray:
        """``E_{d~D} log T(e|d)`` per edge, shape (..., E)."""
        raise NotImplementedError(f"{type(self).__name__} must define edge_expected_log")

    def edge_log_mixture(self, graph, log_rho, log_m_node, log_m_edge) -> np.ndarray:
        """``log E_{d~D} T(e|d)`` per edge, shape (..., E); normalised at every node."""
        raise NotImplementedError(f"{type(self).__name__} must define edge_log_mixture")

    def edge_log_given(self, graph, log_rho, edges, demo_edges) -> np.ndarray:
        """``log T(e | src(e), d)`` for each edge in ``edges`` when the demonstration takes
        ``demo_edges`` at that node (``−1``: it does not visit the node).

        ``log_rho`` (…, E); ``edges``, ``demo_edges`` int arrays of one shape (…, M) whose
        leading axes broadcast against ``log_rho``'s batch axes; returns (…, M).  Needed by
        the sampled path rules (:mod:`modesim.paths.sampled`).
        """
        raise NotImplementedError(f"{type(self).__name__} must define edge_log_given")


@dataclass(frozen=True)
class PathCopyTeacher(PathTeacher):
    """Per-step copy teacher (theory §3.3 applied at each node, §5.2).

    ``T(v|u, d) = (1 − α)·ρ(v|u) + α·1[d goes u → v]`` at nodes ``u`` on ``d``, ``ρ(v|u)``
    at nodes off ``d``.  With ``m_u = P_D(d visits u)`` and ``m_e = P_D(d takes e)``::

        E_d log T(e|d) = m_e·log((1−α)ρ_e + α) + (m_u − m_e)·(log(1−α) + log ρ_e) + (1 − m_u)·log ρ_e
                       = (1 − m_e)·log ρ_e + (m_u − m_e)·log(1 − α) + m_e·log((1 − α)ρ_e + α)

    and the per-node mixture ``E_d T(e|d) = (1 − α·m_u)·ρ_e + α·m_e``.  An edge with
    ``ρ_e = 0`` has ``E_d log T = log α`` if every demonstration takes it (``m_e = 1``) and
    ``−inf`` otherwise.

    Parameters
    ----------
    alpha : float or array in [0, 1)
        Copy strength; an array broadcasts against the batch axes.

    Raises
    ------
    ValueError
        ``alpha`` not a real number (or array) in [0, 1).

    Notes
    -----
    Source: the categorical copy teacher of theory §3.3 applied at each node (this
    project's model of a teacher conditioned on a correct rollout); P1 (theory §5.3) shows
    what carries over from S4 and what does not.
    """

    alpha: float = 0.5

    def __post_init__(self):
        object.__setattr__(self, "alpha", chk.real(self.alpha, "alpha", low=0.0, high=1.0, high_open=True))

    @property
    def param_shape(self) -> tuple[int, ...]:
        return chk.param_shape(self.alpha)

    def _zero(self) -> bool:
        return not isinstance(self.alpha, np.ndarray) and self.alpha == 0.0

    def edge_expected_log(self, graph, log_rho, log_m_node, log_m_edge) -> np.ndarray:
        if self._zero():
            return np.asarray(log_rho, dtype=np.float64)
        a = chk.col(self.alpha)
        l1a = np.log1p(-a)
        shape = np.broadcast_shapes(np.shape(log_rho), np.shape(log_m_edge), np.shape(a))
        # Edges no demonstration takes (m_e = 0): log ρ_e + m_u·log(1 − α).
        out = np.array(np.broadcast_to(np.exp(log_m_node)[..., graph.src], shape), order="C")
        out *= l1a
        out += log_rho
        # Edges some demonstration takes (usually few): the full expression, on that subset.
        used = np.flatnonzero(np.broadcast_to(log_m_edge, shape) > -np.inf)
        if used.size:
            take = lambda x: np.broadcast_to(x, shape).reshape(-1)[used]  # noqa: E731
            lr, m_e, a_u, l1a_u = take(log_rho), np.exp(take(log_m_edge)), take(a), take(l1a)
            m_u = take(np.exp(log_m_node)[..., graph.src])
            with np.errstate(divide="ignore", invalid="ignore"):
                taken = np.log((1.0 - a_u) * np.exp(lr) + a_u)
                val = (1.0 - m_e) * lr + (m_u - m_e) * l1a_u + m_e * taken
                # ρ_e = 0: T(e|d) = α·1[d takes e]; the expectation is finite only if m_e = 1.
                val = np.where(np.isneginf(lr), np.where(m_e >= 1.0, np.log(a_u), -np.inf), val)
            np.put(out, used, val)
        return out

    def edge_log_given(self, graph, log_rho, edges, demo_edges) -> np.ndarray:
        """``log T(e|u, d)``: ``log((1 − α)ρ_e + α·1[e = d_u])`` where the demonstration visits
        ``u`` (``d_u ≥ 0``), ``log ρ_e`` where it does not (``d_u = −1``)."""
        from ..sampled.sampling import take

        edges = np.asarray(edges, dtype=np.int64)
        demo_edges = np.asarray(demo_edges, dtype=np.int64)
        lr = take(np.asarray(log_rho, dtype=np.float64), edges)
        if self._zero():
            return lr
        a = chk.col(self.alpha)
        with np.errstate(divide="ignore"):
            copied = np.log((1.0 - a) * np.exp(lr) + a)
            other = np.log1p(-a) + lr
        return np.where(demo_edges < 0, lr, np.where(edges == demo_edges, copied, other))

    def edge_log_mixture(self, graph, log_rho, log_m_node, log_m_edge) -> np.ndarray:
        if self._zero():
            return np.asarray(log_rho, dtype=np.float64)
        a = chk.col(self.alpha)
        m_u = np.exp(log_m_node)[..., graph.src]
        with np.errstate(divide="ignore"):
            return np.logaddexp(np.log1p(-a * m_u) + log_rho, np.log(a) + log_m_edge)
