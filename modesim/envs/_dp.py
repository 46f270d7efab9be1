"""Dynamic-programming kernels over a :class:`~modesim.envs.PathGraph` (MATH §5).

Every pass is a loop over topological layers with one segment reduction per layer
(``np.maximum.reduceat`` / ``np.add.reduceat``), so it costs O(E) time and never loops
over nodes or edges in Python.  All quantities are in log space: path probabilities in
deep graphs underflow long before 1e-300.
"""

from __future__ import annotations

import numpy as np

__all__ = ["backward", "forward", "policy_from_values", "segment_logsumexp_all"]


def _segment_lse(x: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """``log Σ exp`` of ``x`` over the segments starting at ``offsets``; empty-mass → −inf."""
    m = np.maximum.reduceat(x, offsets)
    m[~np.isfinite(m)] = 0.0
    lengths = np.diff(np.append(offsets, x.size))
    s = np.add.reduceat(np.exp(x - np.repeat(m, lengths)), offsets)
    with np.errstate(divide="ignore"):
        return np.log(s) + m


def segment_logsumexp_all(graph, w: np.ndarray) -> np.ndarray:
    """``log Σ_{v} exp w(u → v)`` for every node ``u``, shape (n,); −inf at sinks."""
    out = np.full(graph.n_nodes, -np.inf)
    if graph.n_edges:
        first = np.flatnonzero(np.r_[True, graph.src[1:] != graph.src[:-1]])
        out[graph.src[first]] = _segment_lse(w, first)
    return out


def backward(graph, w: np.ndarray, leaf: np.ndarray, *, reduce: str = "lse",
             absorb: np.ndarray | None = None) -> np.ndarray:
    """Backward (soft-)Bellman pass ``V(u) = log Σ_v exp(w(u→v) + V(v))`` (MATH §5).

    ``V`` equals ``leaf`` at sinks.  ``reduce="max"`` gives the Viterbi recursion
    ``V(u) = max_v (w(u→v) + V(v))``.  Edges marked in ``absorb`` end the rollout with
    value 0 instead of continuing (a blocked edge makes the rollout fail at once).

    Returns
    -------
    ndarray, shape (n,)
    """
    V = np.array(leaf, dtype=np.float64, copy=True)
    dst = graph.dst
    for layer in reversed(graph.layers):
        lo, hi = layer.edge_lo, layer.edge_hi
        if lo == hi:
            continue
        tail = V[dst[lo:hi]]
        if absorb is not None:
            tail = np.where(absorb[lo:hi], 0.0, tail)
        x = w[lo:hi] + tail
        if reduce == "max":
            V[layer.branch] = np.maximum.reduceat(x, layer.offsets)
        else:
            V[layer.branch] = _segment_lse(x, layer.offsets)
    return V


def forward(graph, logp: np.ndarray) -> np.ndarray:
    """Log visitation probabilities ``log μ(v) = log Σ_u μ(u)·π(v|u)``, ``μ(start) = 1``.

    In a DAG a rollout visits a node at most once, so ``μ(v)`` is the probability that
    a rollout visits ``v``.  Edge marginals are ``log μ(src) + log π(e)``.

    Returns
    -------
    ndarray, shape (n,)
    """
    L = np.full(graph.n_nodes, -np.inf)
    L[graph.start] = 0.0
    start_layer = graph.layer[graph.start]
    src, in_edges = graph.src, graph.in_edges
    for ell, layer in enumerate(graph.layers):
        if ell <= start_layer:
            continue
        if layer.in_lo == layer.in_hi:
            continue
        eids = in_edges[layer.in_lo:layer.in_hi]
        L[layer.in_branch] = _segment_lse(logp[eids] + L[src[eids]], layer.in_offsets)
    return L


def policy_from_values(graph, score: np.ndarray, V: np.ndarray) -> np.ndarray:
    """Per-edge policy of the soft-Bellman pass: ``π(v|u) = exp(s(u→v) + V(v) − V(u))``.

    At nodes with ``V(u) = −inf`` no path of positive probability passes, so their
    distribution affects no sequence-level quantity; it is set uniform (finite, no NaN).
    """
    vs = V[graph.src]
    alive = np.isfinite(vs)
    lp = score + V[graph.dst] - np.where(alive, vs, 0.0)
    return np.where(alive, lp, -np.log(graph.out_degree[graph.src]))
