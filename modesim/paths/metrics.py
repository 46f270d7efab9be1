"""Sequence-level quantities of a path policy by dynamic programming (theory §4, §5.1).

A path policy is one probability per edge, ``π(v|u)`` (shape ``(..., E)`` in the graph's
edge order, leading axes batch axes), as the core's policies are one probability per
mode.  Every function here is exact and costs a few DP passes (O(E) per batch entry,
:mod:`modesim.paths.dp`), except :func:`expected_distinct_paths`, which enumerates valid
paths and is meant for small graphs (sampled rollouts, :func:`~modesim.paths.sample_paths`,
give unbiased estimates on large ones).  Each public function validates its policy once
(:meth:`PathTask.log_policy_of`); the kernels below it do not re-validate.

Validity: a rollout is valid if it ends at a goal; under an OOD mask ``ood`` (a name in
``task.ood``) it must also avoid every blocked edge.
"""

from __future__ import annotations

import numpy as np

from .. import _checks as chk
from .dp import backward, forward, log_success, normalise_paths
from .enumeration import enumerate_paths
from .graphs import PathGraph, PathTask

__all__ = [
    "success_probability",
    "path_pass_at_k",
    "node_marginals",
    "edge_marginals",
    "path_entropy",
    "token_entropy",
    "expected_distinct_concepts",
    "expected_distinct_paths",
    "most_probable_path",
    "count_paths",
    "PATH_METRICS",
]

#: Below this value of ``log(k·q)`` the probability ``1 − (1 − q)^k`` equals ``k·q`` to
#: within a relative 4e-18 and is taken as ``exp(log k + log q)`` (no underflow of q).
_LINEAR = -40.0


def _task(task) -> PathTask:
    if not isinstance(task, PathTask):
        raise ValueError(f"task must be a PathTask (see modesim.paths.path_task); got {chk.describe(task)}")
    return task


def _scalar(x: np.ndarray):
    return x[()] if isinstance(x, np.ndarray) and x.ndim == 0 else x


def hit_probability(log_q: np.ndarray, ks: np.ndarray) -> np.ndarray:
    """``1 − (1 − q)^k`` from ``log q`` (shape S) for every k (shape Q): shape ``S + Q``.

    Theory §4 (pass@k, distinct modes) and §12 (relative precision).

    Computed as ``−expm1(k·log1p(−q))``, and as ``k·q`` where that is exact to 4e-18, so
    a tiny ``q`` (even one below the float range) keeps its relative precision and
    ``q = 1`` gives exactly 1.  In [0, 1] by construction.  A kernel: ``ks`` must already
    be a float array of positive integers (:func:`modesim._checks.ks`); nothing is checked.

    >>> import numpy as np
    >>> from modesim.paths import hit_probability
    >>> h = hit_probability(np.log([0.5, 1e-300]), np.array([2.0]))
    >>> print(f"{h[0, 0]:.12g} {h[1, 0]:.12g}")
    0.75 2e-300
    """
    lq = np.minimum(log_q, 0.0).reshape(np.shape(log_q) + (1,) * ks.ndim)
    with np.errstate(divide="ignore"):
        log_miss = np.log1p(-np.exp(lq))
        lin = lq + np.log(ks)
    out = 0.0 - np.expm1(ks * log_miss)
    out = np.where(lin < _LINEAR, np.exp(lin), out)
    return np.clip(out, 0.0, 1.0)


def _blocked_scores(log_policy: np.ndarray, blocked) -> np.ndarray:
    return log_policy if blocked is None else np.where(blocked, -np.inf, log_policy)


def _log_conditioned(graph: PathGraph, log_policy: np.ndarray, blocked, name: str) -> np.ndarray:
    """The chain conditioned on a valid rollout, ``π(v|u)·S(v)/S(u)`` (Doob h-transform)."""
    return normalise_paths(
        graph, _blocked_scores(log_policy, blocked), graph.log_goal,
        what=f"{name} reaches a goal with probability 0: π(·|C) is undefined",
    )


def _chain_entropy(graph: PathGraph, log_policy: np.ndarray) -> np.ndarray:
    """``H = Σ_e μ(e)·(−log π(e))`` (chain rule of entropy along a rollout), shape (...)."""
    le = forward(graph, log_policy)[..., graph.src] + log_policy
    zero = np.isneginf(log_policy)
    terms = np.exp(le) * np.where(zero, 0.0, -log_policy)
    return np.maximum(terms.sum(axis=-1), 0.0)


def success_probability(policy, task: PathTask, *, ood: str | None = None):
    """pass@1: probability that a rollout reaches a goal (avoiding ``ood``'s blocked edges).

    ``S(u) = Σ_v π(v|u)·S(v)``, ``S(goal) = 1``, ``S(dead end) = 0`` (theory §5.1).
    Returns shape ``batch_shape`` (a float for one policy), a probability.

    Raises
    ------
    ValueError
        ``task`` not a :class:`PathTask`; ``policy`` not per-edge probabilities of shape
        (..., E) (negative, NaN, a node whose out-edges do not sum to 1 within 1e-6, a batch
        shape not broadcasting against the task's); ``ood`` not None or a mask name of the task.

    >>> from modesim.paths import PathGraph, path_task, success_probability
    >>> t = path_task(PathGraph.from_edges([(0, 1), (0, 2)], 0, 1), [3.0, 1.0])
    >>> round(float(success_probability(t.base, t)), 12)
    0.75
    """
    task = _task(task)
    lp = task.log_policy_of(policy)
    lS = log_success(task.graph, lp, task.blocked(ood))[..., task.graph.start]
    return _scalar(np.exp(np.minimum(lS, 0.0)))


def path_pass_at_k(policy, task: PathTask, k, *, ood: str | None = None) -> np.ndarray:
    """Exact pass@k ``1 − (1 − π(C))^k`` of a path policy (theory §4, §5.1).

    One backward pass gives ``log π(C)`` (the success probability from the start);
    pass@k is then ``−expm1(k·log1p(−π(C)))`` (``k·π(C)`` when that is exact), so it keeps
    its relative precision for tiny π(C) and any k, like the core's :func:`~modesim.pass_at_k`
    (up to the log-space storage of the policy: a relative ``|log π(C)|·2⁻⁵³``).

    Parameters
    ----------
    policy : array_like, shape (..., E)
        Per-edge probabilities.
    task : PathTask
    k : int or array_like of positive finite integers
    ood : str, optional
        Name of a blocked-edge mask in ``task.ood``.

    Returns
    -------
    ndarray in [0, 1], shape ``batch_shape + np.shape(k)``

    Raises
    ------
    ValueError
        Naming ``policy``, ``k`` or ``ood``.

    Examples
    --------
    >>> from modesim.paths import PathGraph, path_pass_at_k, path_task
    >>> t = path_task(PathGraph.from_edges([(0, 1), (0, 2)], 0, 1), [1e-20, 1.0])
    >>> print(f"{float(path_pass_at_k(t.base, t, 10**6)):.12g}")
    1e-14
    """
    task = _task(task)
    lp = task.log_policy_of(policy)
    ks = chk.ks(k)
    blocked = task.blocked(ood)
    lS = log_success(task.graph, lp, blocked)[..., task.graph.start]
    return hit_probability(lS, ks)


def node_marginals(policy, task: PathTask) -> np.ndarray:
    """``μ(v)``: probability that a rollout visits node ``v``, shape (..., n) (theory §5.1).

    One forward pass, ``μ(v) = Σ_u μ(u)·π(v|u)``, ``μ(start) = 1``.

    Raises
    ------
    ValueError
        ``task`` not a :class:`PathTask`; ``policy`` not per-edge probabilities of shape
        (..., E) (negative, NaN, a node whose out-edges do not sum to 1 within 1e-6, a batch
        shape not broadcasting against the task's).
    """
    task = _task(task)
    return np.exp(np.minimum(forward(task.graph, task.log_policy_of(policy)), 0.0))


def edge_marginals(policy, task: PathTask) -> np.ndarray:
    """``μ(u → v) = μ(u)·π(v|u)``: probability that a rollout takes each edge (theory §5.1).

    Shape (..., E).

    Raises
    ------
    ValueError
        ``task`` not a :class:`PathTask`; ``policy`` not per-edge probabilities of shape
        (..., E) (negative, NaN, a node whose out-edges do not sum to 1 within 1e-6, a batch
        shape not broadcasting against the task's).
    """
    task = _task(task)
    lp = task.log_policy_of(policy)
    return np.exp(np.minimum(forward(task.graph, lp)[..., task.graph.src] + lp, 0.0))


def path_entropy(policy, task: PathTask, *, given_valid: bool = False, ood: str | None = None):
    """Shannon entropy (nats) of the distribution over whole rollouts (theory §4, §5.1).

    By the chain rule ``H = Σ_u μ(u)·H(π(·|u))``.  With ``given_valid`` it is the entropy
    of ``π(·|C)`` (the core's :func:`modesim.entropy` with a valid mask), computed on the
    conditioned chain ``π(v|u)·S(v)/S(u)``.  Returns shape ``batch_shape``.

    Raises
    ------
    ValueError
        ``task`` not a :class:`PathTask`; ``policy`` not per-edge probabilities of shape
        (..., E) (negative, NaN, a node whose out-edges do not sum to 1 within 1e-6, a batch
        shape not broadcasting against the task's); ``given_valid`` not a boolean; ``ood`` not
        None or a mask name; with ``given_valid`` when the policy has no valid rollout
        (π(C) = 0).
    """
    task = _task(task)
    lp = task.log_policy_of(policy)
    chk.boolean(given_valid, "given_valid")
    if given_valid:
        lp = _log_conditioned(task.graph, lp, task.blocked(ood), "policy")
    elif ood is not None:
        task.blocked(ood)
    return _scalar(_chain_entropy(task.graph, lp))


def token_entropy(policy, task: PathTask):
    """Average per-step (token) entropy along rollouts (theory §4), in nats.

    The token-weighted mean that training logs report:
    ``Σ_u μ(u)·H(π(·|u)) / Σ_u μ(u)·1[u has out-edges]`` = expected path entropy per
    expected step.  Not a diversity measure (see
    :func:`modesim.scenarios.token_entropy_example`; theory §4, §10.5 G4).  Returns shape
    ``batch_shape``.

    Raises
    ------
    ValueError
        ``task`` not a :class:`PathTask`; ``policy`` not per-edge probabilities of shape
        (..., E) (negative, NaN, a node whose out-edges do not sum to 1 within 1e-6, a batch
        shape not broadcasting against the task's).
    """
    task = _task(task)
    lp = task.log_policy_of(policy)
    g = task.graph
    L = forward(g, lp)
    steps = np.exp(L[..., g.out_nodes]).sum(axis=-1)
    le = L[..., g.src] + lp
    H = (np.exp(le) * np.where(np.isneginf(lp), 0.0, -lp)).sum(axis=-1)
    return _scalar(np.maximum(H, 0.0) / steps)


def expected_distinct_concepts(policy, task: PathTask, k, *, valid_only: bool = False,
                               ood: str | None = None) -> np.ndarray:
    """Expected number of distinct nodes ("concepts") visited in k independent rollouts.

    Exact for every k: a rollout visits a node at most once, so node ``v`` is missed by
    all k rollouts with probability ``(1 − q(v))^k`` and the expectation is
    ``Σ_v 1 − (1 − q(v))^k`` with ``q = μ`` (every rollout, start node included) or,
    with ``valid_only``, ``q(v) = P(a valid rollout visits v) = μ̃(v)·S(v)`` (``μ̃``
    avoiding blocked edges) (theory §4, §5.1).  Returns shape ``batch_shape + np.shape(k)``.

    Raises
    ------
    ValueError
        ``task`` not a :class:`PathTask`; ``policy`` not per-edge probabilities of shape
        (..., E) (negative, NaN, a node whose out-edges do not sum to 1 within 1e-6, a batch
        shape not broadcasting against the task's); ``k`` not finite positive integers;
        ``valid_only`` not a boolean; ``ood`` not None or a mask name.
    """
    task = _task(task)
    lp = task.log_policy_of(policy)
    ks = chk.ks(k)
    chk.boolean(valid_only, "valid_only")
    blocked = task.blocked(ood)
    g = task.graph
    if valid_only:
        log_q = forward(g, _blocked_scores(lp, blocked)) + log_success(g, lp, blocked)
    else:
        log_q = forward(g, lp)
    return hit_probability(log_q, ks).sum(axis=lp.ndim - 1)


def expected_distinct_paths(policy, task: PathTask, k, *, ood: str | None = None,
                            limit: int = 100_000) -> np.ndarray:
    """Exact expected number of distinct valid paths in k rollouts, by enumeration.

    ``Σ_{y∈C} 1 − (1 − π(y))^k`` (theory §4, the core's :func:`modesim.expected_distinct`)
    over the enumerated valid paths (avoiding ``ood``'s blocked edges); 0 when there is
    none.  Returns shape ``batch_shape + np.shape(k)``.

    Raises
    ------
    ValueError
        On graphs with more than ``limit`` valid paths (use
        :meth:`~modesim.paths.Rollouts.distinct_paths` there); ``task`` not a :class:`PathTask`;
        ``policy`` not per-edge probabilities of shape (..., E) (negative, NaN, a node whose
        out-edges do not sum to 1 within 1e-6, a batch shape not broadcasting against the
        task's); ``k`` not finite positive integers; ``limit`` not an integer >= 1; ``ood`` not
        a mask name, or a batched OOD mask.
    """
    task = _task(task)
    lp = task.log_policy_of(policy)
    ks = chk.ks(k)
    limit = chk.integer(limit, "limit", low=1)
    blocked = task.blocked(ood)
    if blocked is not None and blocked.ndim > 1:
        raise ValueError("expected_distinct_paths needs an OOD mask shared by the batch (shape (E,))")
    enum = enumerate_paths(task.graph, valid_only=True, blocked=blocked, limit=limit)
    if enum.n_paths == 0:
        return np.zeros(lp.shape[:-1] + ks.shape)
    return hit_probability(enum.log_prob(lp), ks).sum(axis=lp.ndim - 1)


def most_probable_path(policy, task: PathTask, *, ood: str | None = None) -> list[int]:
    """The most probable valid rollout of one policy (shape (E,)), as a node list (Viterbi).

    Theory §5.1: the backward pass with ``max`` in place of the sum, then a greedy walk
    from the start.

    Raises
    ------
    ValueError
        If the policy is batched or has no valid rollout of positive probability; ``task`` not a
        :class:`PathTask`; ``policy`` not per-edge probabilities of shape (..., E) (negative,
        NaN, a node whose out-edges do not sum to 1 within 1e-6, a batch shape not broadcasting
        against the task's); ``ood`` not None or a mask name, or a batched OOD mask.

    >>> from modesim.paths import PathGraph, most_probable_path, path_task
    >>> g = PathGraph.from_edges([(0, 1), (1, 3), (0, 2), (2, 3)], 0, 3)
    >>> t = path_task(g, [3.0, 1.0, 1.0, 1.0])
    >>> most_probable_path(t.base, t)
    [0, 1, 3]
    """
    task = _task(task)
    lp = task.log_policy_of(policy)
    if lp.ndim != 1:
        raise ValueError(f"policy must be one policy of shape ({task.n_edges},); got shape {lp.shape}")
    g = task.graph
    w = _blocked_scores(lp, task.blocked(ood))
    if w.ndim != 1:
        raise ValueError("most_probable_path needs an OOD mask shared by the batch (shape (E,))")
    M = backward(g, w, g.log_goal, reduce="max")
    if np.isneginf(M[g.start]):
        raise ValueError("policy has no valid rollout of positive probability")
    path, u = [g.start], g.start
    while not g.goal[u]:
        lo, hi = g.out_start[u], g.out_start[u] + g.out_degree[u]
        u = int(g.dst[lo + int(np.argmax(w[lo:hi] + M[g.dst[lo:hi]]))])
        path.append(u)
    return path


def count_paths(graph: PathGraph, *, blocked=None, valid_only: bool = True) -> float:
    """Number of rollouts (valid ones by default, avoiding ``blocked`` edges) as a float.

    Theory §5.1: one backward pass with edge scores 0 (``N(u) = Σ_v N(v)``, 1 at goals); exact below
    2**53.  ``blocked`` is a boolean mask of shape (E,).

    Raises
    ------
    ValueError
        ``graph`` not a :class:`PathGraph`; ``valid_only`` not a boolean; ``blocked`` not a
        boolean mask of shape (E,).

    >>> from modesim.paths import PathGraph, count_paths
    >>> count_paths(PathGraph.from_edges([(0, 1), (0, 2), (2, 1)], 0, 1))
    2.0
    """
    if not isinstance(graph, PathGraph):
        raise ValueError(f"graph must be a PathGraph; got {chk.describe(graph)}")
    chk.boolean(valid_only, "valid_only")
    leaf = graph.log_goal if valid_only else np.zeros(graph.n_nodes)
    w = np.zeros(graph.n_edges)
    if blocked is not None:
        w = np.where(chk.mask(blocked, (graph.n_edges,), "blocked", nonempty=False), -np.inf, w)
    total = float(np.exp(backward(graph, w, leaf)[graph.start]))
    # Counts are integers; exp(log count) is off by rounding, which matters for limits.
    return float(np.round(total)) if total < 2.0**53 else total


#: Metrics for :func:`modesim.iterate` on path tasks: ``(policy, task) -> batch_shape``.
PATH_METRICS = {
    "valid_mass": lambda p, t: success_probability(p, t),
    "path_entropy": lambda p, t: path_entropy(p, t, given_valid=True),
    "token_entropy": lambda p, t: token_entropy(p, t),
}
