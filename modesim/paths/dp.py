"""Dynamic-programming kernels over a :class:`~modesim.paths.PathGraph` (theory §5.1).

Every per-edge array has shape ``(..., E)`` and every per-node array ``(..., n)``: the
leading axes are batch axes (seeds, parameter grids, base policies), exactly as for the
core's categorical policies (theory §1).  Each pass is a loop over topological *layers*
(the DP's sequential dependency) with one vectorised segment reduction per layer over
all batch entries and all nodes of the layer (``np.add.reduceat`` along the last axis),
so a pass costs O(E) per batch entry and never loops over nodes, edges or batch entries
in Python.  Everything is in log space: path probabilities in deep graphs underflow long
before 1e-300.

Segment log-sum-exps take a fast path (``log Σ exp x`` without a shift) whenever every
segment sum of the layer lies in ``[1e-280, 1e280]``; terms lost to underflow are then
below 1e-28 of their sum.  Otherwise the layer is recomputed with shifts: first by the
largest child value (so that children with equal huge values, e.g. a KL penalty
``−1/β`` at dead ends, cancel exactly), then by the largest term.

These are kernels: they do not validate their arrays (the public metrics, rules and
tasks validate once) and raise nothing of their own, except
:func:`normalise_paths` when a batch entry has no rollout of positive score.

Per-edge policies produced here are normalised *locally* (``x − log Σ_node exp x``, not
``score + V(v) − V(u)``), so every node's out-edges sum to 1 within a few ulp whatever
the magnitude of the values, and no log-probability exceeds 0.  Inputs need only be
normalised to round-off (entries a few ulp above 0 are accepted).
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "segment_logsumexp",
    "backward",
    "normalise_paths",
    "normalise_nodes",
    "forward",
    "log_success",
    "edge_log_marginals",
]

#: Segment log-sums within ±this need no shift: sums in [1e-280, 1e280] (module docstring).
SAFE_LOG = 280.0 * np.log(10.0)
#: A normaliser subtracts the segment's log-sum from its logits, losing an ulp of it: it takes the
#: unshifted sum only within ±log(1e3) (an ulp of 7, 9e-16) and shifts by the maximum otherwise.
NORMALISE_LOG = 3.0 * np.log(10.0)
#: Floating-point conditions the kernels handle themselves (−inf logs, underflow to 0).
_QUIET = dict(over="ignore", under="ignore", divide="ignore")


def fast_log_sums(x: np.ndarray, offsets: np.ndarray, limit: float = SAFE_LOG) -> np.ndarray | None:
    """``log Σ exp x`` per segment without a shift, or None if some segment needs one
    (a log-sum beyond ``±limit``).

    A zero sum is accepted when no finite term of the layer is below −700 (so nothing
    underflowed: the segment's terms are all ``−inf`` and its value is ``−inf``).  The
    caller silences over/underflow and divide-by-zero warnings.
    """
    s = np.add.reduceat(np.exp(x), offsets, axis=-1)
    ls = np.log(s, out=s)
    if np.all(np.abs(ls) <= limit):
        return ls
    if np.all((np.abs(ls) <= limit) | np.isneginf(ls)) and not np.any((x < -700.0) & (x > -np.inf)):
        return ls
    return None


def shifted_parts(x: np.ndarray, offsets: np.ndarray, lengths: np.ndarray):
    """``(m, ls, x − m)`` with ``log Σ exp x = m + ls`` per segment (shift by the largest term)."""
    m = np.maximum.reduceat(x, offsets, axis=-1)
    m[~np.isfinite(m)] = 0.0
    y = x - np.repeat(m, lengths, axis=-1)
    ls = np.log(np.add.reduceat(np.exp(y), offsets, axis=-1))
    return m, ls, y


def local_policy(y: np.ndarray, ls: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """``y − ls`` per segment; a segment with ``ls = −inf`` (no mass) becomes uniform."""
    with np.errstate(invalid="ignore"):
        out = y - np.repeat(ls, lengths, axis=-1)
    dead = np.isneginf(ls)
    if np.any(dead):
        uniform = np.broadcast_to(-np.log(lengths.astype(np.float64)), ls.shape)
        np.copyto(out, np.repeat(uniform, lengths, axis=-1), where=np.repeat(dead, lengths, axis=-1))
    return out


def segment_logsumexp(x: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """``log Σ exp x`` over the segments of the last axis that start at ``offsets``.

    ``offsets`` must be increasing with ``offsets[0] = 0`` and segments non-empty; a
    segment of all ``−inf`` gives ``−inf``.  Shape ``x.shape[:-1] + (len(offsets),)``.
    """
    if x.shape[-1] == 0:
        return np.full(x.shape[:-1] + (0,), -np.inf)
    with np.errstate(**_QUIET):
        fast = fast_log_sums(x, offsets)
        if fast is not None:
            return fast
        lengths = np.diff(np.append(offsets, x.shape[-1]))
        m, ls, _ = shifted_parts(x, offsets, lengths)
    return m + ls


def normalise_nodes(graph, x: np.ndarray) -> np.ndarray:
    """Per-node softmax of per-edge logits: ``x(e) − log Σ_{e' out of src(e)} exp x(e')``.

    What a tabular autoregressive policy does with its logits (theory §5.2): each node's
    out-edges are normalised on their own, over the whole edge array at once (no layer
    loop).  A node whose logits are all ``−inf`` gets the uniform distribution (finite,
    no NaN).  Output ``≤ 0``, shape ``x.shape``.
    """
    x = np.asarray(x, dtype=np.float64)
    if graph.n_edges == 0:
        return x.copy()
    offsets, lengths = graph.out_offsets, graph.out_lengths
    with np.errstate(**_QUIET):
        ls = fast_log_sums(x, offsets, NORMALISE_LOG)
        if ls is not None:
            out = local_policy(x, ls, lengths)
        else:
            _, ls, y = shifted_parts(x, offsets, lengths)
            out = local_policy(y, ls, lengths)
    return np.minimum(out, 0.0, out=out)


def _soft_layer(wl: np.ndarray, vd: np.ndarray, offsets: np.ndarray, lengths: np.ndarray,
                policy: bool):
    """One layer of the soft-Bellman pass: node values and (optionally) the local policy.

    ``wl`` are the layer's edge scores and ``vd`` the values of their destinations.  The
    slow path shifts ``vd`` by its per-node maximum before adding ``wl`` (equal huge child
    values then cancel exactly) and shifts again by the largest term.
    """
    x = wl + vd
    ls = fast_log_sums(x, offsets, NORMALISE_LOG if policy else SAFE_LOG)
    if ls is not None:
        return ls, (local_policy(x, ls, lengths) if policy else None)
    mv = np.maximum.reduceat(vd, offsets, axis=-1)
    mv[~np.isfinite(mv)] = 0.0
    x = wl + (vd - np.repeat(mv, lengths, axis=-1))
    m, ls, y = shifted_parts(x, offsets, lengths)
    return mv + m + ls, (local_policy(y, ls, lengths) if policy else None)


def backward(graph, w: np.ndarray, leaf: np.ndarray, *, reduce: str = "lse",
             absorb: np.ndarray | None = None, policy: bool = False):
    """Backward (soft-)Bellman pass ``V(u) = log Σ_v exp(w(u→v) + V(v))`` (theory §5.1).

    Parameters
    ----------
    graph : PathGraph
    w : ndarray, shape (..., E)
        Edge scores (``−inf`` allowed).
    leaf : ndarray, shape (..., n)
        ``V`` at sinks (entries at other nodes are ignored).
    reduce : {"lse", "max"}
        ``"max"`` gives the Viterbi recursion ``V(u) = max_v (w(u→v) + V(v))``.
    absorb : bool ndarray, shape (..., E), optional
        Edges that end the rollout with value 0 instead of continuing.
    policy : bool
        Also return the per-edge policy ``π(v|u) ∝ exp(w(u→v) + V(v))`` as
        log-probabilities, normalised locally at every node (uniform where ``V(u) = −inf``).

    Returns
    -------
    V : ndarray, shape (..., n)
    log_policy : ndarray, shape (..., E)
        Only with ``policy=True``.
    """
    w = np.asarray(w, dtype=np.float64)
    batch = np.broadcast_shapes(w.shape[:-1], np.shape(leaf)[:-1],
                                () if absorb is None else np.shape(absorb)[:-1])
    V = np.array(np.broadcast_to(leaf, batch + (graph.n_nodes,)), dtype=np.float64)
    w = np.broadcast_to(w, batch + (graph.n_edges,))
    if absorb is not None:
        absorb = np.broadcast_to(absorb, batch + (graph.n_edges,))
    lp = np.empty(batch + (graph.n_edges,)) if policy else None
    dst = graph.dst
    with np.errstate(**_QUIET):
        for layer in reversed(graph.layers):
            lo, hi = layer.edge_lo, layer.edge_hi
            if lo == hi:
                continue
            vd = V[..., dst[lo:hi]]
            if absorb is not None:
                vd = np.where(absorb[..., lo:hi], 0.0, vd)
            if reduce == "max":
                V[..., layer.branch] = np.maximum.reduceat(w[..., lo:hi] + vd, layer.offsets, axis=-1)
                continue
            value, lpl = _soft_layer(w[..., lo:hi], vd, layer.offsets, layer.lengths, policy)
            V[..., layer.branch] = value
            if policy:
                lp[..., lo:hi] = lpl
    if policy:
        return V, np.minimum(lp, 0.0, out=lp)
    return V


def normalise_paths(graph, score: np.ndarray, leaf: np.ndarray | None = None, *,
                    what: str = "the target gives zero probability to every rollout"):
    """Per-edge log-policy of ``π(path) ∝ exp(Σ_{e∈path} score(e) + leaf(end))`` (theory §5.1).

    The soft-Bellman pass ``V(u) = log Σ_v exp(score(u→v) + V(v))`` with ``V = leaf`` at
    sinks (default 0), and ``log π(v|u) = score(u→v) + V(v) − V(u)`` computed as a local
    normalisation at each node (every node sums to 1 within a few ulp).

    Parameters
    ----------
    score : ndarray, shape (..., E)
    leaf : ndarray, shape (..., n), optional
    what : str
        Start of the error message when some batch entry has no rollout of positive score.

    Raises
    ------
    ValueError
        If ``V(start) = −inf`` in some batch entry (named by its index).
    """
    from .._checks import bad_index

    leaf = np.zeros(graph.n_nodes) if leaf is None else leaf
    V, lp = backward(graph, score, leaf, policy=True)
    dead = np.isneginf(V[..., graph.start]) | np.isnan(V[..., graph.start])
    if np.any(dead):
        where = "" if dead.ndim == 0 else f" at batch index {bad_index(dead)}"
        raise ValueError(f"{what}{where}")
    return lp


def forward(graph, log_policy: np.ndarray) -> np.ndarray:
    """Log visitation probabilities ``log μ(v) = log Σ_u μ(u)·π(v|u)``, ``μ(start) = 1``.

    In a DAG a rollout visits a node at most once, so ``μ(v)`` is the probability that a
    rollout visits ``v`` (theory §5.1).  Shape ``(..., n)``.
    """
    lp = np.asarray(log_policy, dtype=np.float64)
    L = np.full(lp.shape[:-1] + (graph.n_nodes,), -np.inf)
    L[..., graph.start] = 0.0
    if graph.n_edges == 0:
        return L
    lp_in = lp[..., graph.in_edges]
    in_src = graph.in_src
    start_layer = graph.layer[graph.start]
    layers = graph.layers
    with np.errstate(**_QUIET):
        for ell in range(start_layer + 1, len(layers)):
            layer = layers[ell]
            lo, hi = layer.in_lo, layer.in_hi
            if lo == hi:
                continue
            x = lp_in[..., lo:hi] + L[..., in_src[lo:hi]]
            value = fast_log_sums(x, layer.in_offsets)
            if value is None:
                m, ls, _ = shifted_parts(x, layer.in_offsets, np.diff(np.append(layer.in_offsets, hi - lo)))
                value = m + ls
            L[..., layer.in_branch] = value
    return L


def log_success(graph, log_policy: np.ndarray, blocked: np.ndarray | None = None) -> np.ndarray:
    """``log S(u)``: probability of reaching a goal from ``u`` (avoiding ``blocked`` edges).

    ``S(u) = Σ_v π(v|u)·S(v)``, ``S = 1`` at goals and 0 at dead ends (theory §5.1).
    Shape ``(..., n)``.
    """
    w = log_policy if blocked is None else np.where(blocked, -np.inf, log_policy)
    return backward(graph, w, graph.log_goal)


def edge_log_marginals(graph, log_policy: np.ndarray, log_mu: np.ndarray | None = None) -> np.ndarray:
    """``log μ(u → v) = log μ(u) + log π(v|u)``: log-probability of taking each edge (theory §5.1).

    Shape (..., E); ``log_mu`` (..., n) is :func:`forward`'s result when already computed.
    A kernel like the others here: inputs are not validated (callers validate once).
    """
    if log_mu is None:
        log_mu = forward(graph, log_policy)
    return log_mu[..., graph.src] + log_policy
