"""Finite-sample training on path tasks: GRPO/RLOO/REINFORCE and per-step self-distillation (theory §10).

Two rules follow the rule protocol (:mod:`modesim.rule`), so :func:`modesim.iterate` and
:func:`modesim.train` run them on a :class:`~modesim.paths.PathTask` or a
:class:`~modesim.paths.GraphBank` (many graphs in one batched computation):

- :class:`PathSampledRL`: N rollouts per graph, a 0/1 reward for reaching the goal,
  advantages (GRPO, RLOO, REINFORCE) and the per-step log-probability gradient
  ``∇ log π(path) = Σ_t ∇ log π(v_t|u_t)``, plus an exact per-step KL term at visited nodes;
- :class:`PathSampledSD`: self-distillation with sampled demonstrations: each rollout's
  demonstration is another correct rollout of its group (never itself, as the public
  trainers do), the teacher is per-step (:class:`~modesim.paths.PathCopyTeacher`: copy the
  demonstration's step at nodes it visits) on its own stop-gradient base (current,
  frozen or EMA), and the loss is a per-step divergence at **every visited node of every
  rollout** — failed ones included (dense feedback) — reverse KL, forward KL or the
  generalised Jensen–Shannon divergence; groups without a correct rollout give no signal.

Policies are tabular (a logit per edge) or a :class:`~modesim.paths.FeaturePolicy` whose
weights θ are shared by every graph (``state.params``); updates are plain SGD steps.

**Mean fields, exact by dynamic programming** (``velocity``, the expected parameter update
per step; theory §10).  With μ the visitation probabilities, S the success probabilities
and J_g = S(start_g) (one forward and two backward passes over the bank):

- REINFORCE, RLOO: ``E ĝ_e = ∂J/∂x_e = μ(u)·π_e·(S(v) − S(u))`` for ``e = u → v`` (the
  policy-gradient theorem on a DAG); GRPO multiplies each graph's term by its clock
  ``s_N(J_g)`` (theory §2.3: rewards are binary per path, so the categorical argument
  holds with paths as modes);
- SD: ``E ĝ = Σ_u ν(u)·P_N(J)·E_{d~π(·|C)} ∇_u D(π_u, T_{u,d})`` with ``ν = μ`` (every
  rollout scored) or ``μ·S`` (only correct ones), ``P_N(J) = 1 − (1 − J)^{N−1}`` and the
  demonstration's node and edge marginals (it visits u with probability m_u and takes e
  with m_e);
- the KL term: ``β·Σ_u μ(u)·∇_u KL(π_u‖π_ref,u)``.

Per-step losses hold the visitation fixed (the gradient flows through the step
distributions of the sampled nodes only, as per-token trainers do), so these are not the
gradients of sequence-level objectives: the per-step SD mean field rests where every
visited node's policy is the per-node optimum, not at the soft-Bellman optimum of
:class:`~modesim.paths.PathSelfDistillation` (theory §10).

**Randomness** follows :mod:`modesim.sampled.sampling`: one key per batch entry (seed,
parameter grid point), and round t of an entry draws, for rollout n of graph g at step s,
the uniform number ``j = id_g·2^32 + n·2^16 + s`` of its round stream (the demonstration
pick is ``s = 2^16 − 1``), with ``id_g`` the graph's global id.  A run therefore does not
depend on how its seeds are chunked, and with tabular policies a bank's run equals the
runs of its graphs one by one, bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from .. import _checks as chk
from ..rule import EMA, SDShell, State
from ..sampled.optim import check_kl_step
from ..sampled.sampling import GAMMA, GAMMA_ROUND, entry_keys, root_key, splitmix64, splitmix64_int
from .banks import GraphBank, as_bank, bank_forward, bank_log_success
from .features import TabularPolicy, as_policy, normalise_nodes_rowwise
from .teachers import PathCopyTeacher

__all__ = ["ExpectedUpdate", "PathRollouts", "PathSampledRL", "PathSampledSD", "sample_rollouts", "path_uniforms"]

#: Draw-index layout: graph id << 32 | rollout << 16 | slot; slot 0xFFFF picks demonstrations.
_DEMO_SLOT = 0xFFFF
_MAX_ROLLOUTS = 1 << 15
_QUIET = dict(over="ignore", under="ignore", divide="ignore", invalid="ignore")


class PathRollouts(NamedTuple):
    """One round's rollouts of every batch entry and graph (theory §10.3, §10.6).

    A plain record returned by :func:`sample_rollouts` (it checks nothing itself).

    Attributes
    ----------
    nodes : ndarray of int, shape (..., G, N, T + 1)
        Visited (union) nodes, padded with −1 after the rollout ends (T = layers − 1).
    edges : ndarray of int, shape (..., G, N, T)
        Edges taken, padded with −1.
    valid : ndarray of bool, shape (..., G, N)
        The rollout ended at a goal.
    """

    nodes: np.ndarray
    edges: np.ndarray
    valid: np.ndarray


def path_uniforms(keys: np.ndarray, t: int, rows: np.ndarray, index: np.ndarray) -> np.ndarray:
    """Uniforms ``u_j`` of round ``t`` of the streams ``keys[rows]`` at draw indices ``index``.

    The same formula as :func:`~modesim.sampled.sampling.round_uniforms` (draw j of the
    SplitMix64 stream of the round key), at arbitrary indices: ``keys`` (B,) uint64,
    ``rows``, ``index`` int arrays of one shape → float64 in [0, 1) of that shape.
    """
    c = np.uint64(splitmix64_int((int(t) + 1) * GAMMA_ROUND))
    s = splitmix64(np.bitwise_xor(np.asarray(keys, dtype=np.uint64).reshape(-1), c))
    z = np.asarray(index, dtype=np.uint64) + np.uint64(1)
    z *= np.uint64(GAMMA)
    z += s[rows]
    splitmix64(z)
    z >>= np.uint64(11)
    u = z.astype(np.float64)
    u *= 2.0**-53
    return u


# ------------------------------------------------------------------ bank layout


def _layout(bank: GraphBank) -> dict:
    """Static index arrays of a bank's union graph for sampling and the SD kernels (cached)."""
    cache = bank.graph.__dict__.get("_sampled_layout")
    if cache is not None:
        return cache
    g = bank.graph
    E = g.n_edges
    pos = np.arange(E) - np.repeat(g.out_offsets, g.out_lengths)  # position within the node's segment
    dmax = int(g.out_lengths.max()) if E else 1
    by_pos = [np.flatnonzero(pos == k) for k in range(1, dmax)]
    last = g.out_offsets + g.out_lengths - 1
    # JSD pairs: for each branching node u with out-edges e_0..e_{d-1}, instances "no
    # demonstration at u" and "the demonstration takes e'" (e' ∈ out(u)), each paired with
    # every e ∈ out(u).  Instances are contiguous blocks of pairs.
    d = g.out_lengths
    n_inst = d + 1
    inst_node = np.repeat(g.out_nodes, n_inst)
    inst_first = np.repeat(g.out_offsets, n_inst)
    k = np.arange(inst_node.size) - np.repeat(np.cumsum(n_inst) - n_inst, n_inst)
    inst_demo = np.where(k == 0, -1, inst_first + k - 1)
    inst_len = np.repeat(d, n_inst)
    pair_inst = np.repeat(np.arange(inst_node.size), inst_len)
    pair_edge = np.repeat(inst_first, inst_len) + (np.arange(pair_inst.size) - np.repeat(np.cumsum(inst_len) - inst_len, inst_len))
    pair_demo = inst_demo[pair_inst]
    inst_offsets = np.r_[0, np.cumsum(inst_len)[:-1]]
    by_edge = np.argsort(pair_edge, kind="stable")
    edge_pair_offsets = np.searchsorted(pair_edge[by_edge], np.arange(E))
    layout = dict(
        by_pos=by_pos, last=last, dmax=dmax, iters=max(1, int(dmax - 1).bit_length()),
        branch=(g.out_degree > 0), inst_node=inst_node, inst_demo=inst_demo, inst_offsets=inst_offsets,
        pair_inst=pair_inst, pair_edge=pair_edge, pair_demo=pair_demo, by_edge=by_edge,
        edge_pair_offsets=edge_pair_offsets,
    )
    g.__dict__["_sampled_layout"] = layout
    return layout


def _segment_cdf(bank: GraphBank, p: np.ndarray) -> np.ndarray:
    """Per-node cumulative probabilities along each node's out-edges, last = 1 exactly (B, E)."""
    lay = _layout(bank)
    cdf = np.array(p, dtype=np.float64)
    for idx in lay["by_pos"]:
        cdf[:, idx] += cdf[:, idx - 1]
    total = cdf[:, lay["last"]]
    cdf /= np.repeat(total, bank.graph.out_lengths, axis=-1)
    return cdf


def sample_rollouts(bank: GraphBank, log_policy: np.ndarray, keys: np.ndarray, t: int,
                    n_rollouts: int) -> PathRollouts:
    """Sample N rollouts per graph and batch entry, one vectorised step at a time (theory §10).

    Walker (entry b, graph g, rollout n) at step s draws the uniform ``j = id_g·2^32 +
    n·2^16 + s`` of entry b's round-t stream (:func:`path_uniforms`) and takes the edge
    ``e = #{k < d − 1 : cdf_k ≤ u}`` of its node's d out-edges (inverse CDF on the node's
    segment, the CDF rescaled to end at 1, so a zero-probability edge is never taken), found
    by a vectorised binary search over every walker at once.

    Parameters
    ----------
    bank : GraphBank
    log_policy : ndarray, shape (..., E)
        Normalised per-edge log-probabilities (not re-validated).
    keys : ndarray of uint64, shape (...)
        One stream key per batch entry.
    t : int
        The round.
    n_rollouts : int

    Returns
    -------
    PathRollouts

    Notes
    -----
    A kernel of the sampled path rules (theory §10.6): its arguments come validated from
    the rule (``log_policy`` normalised, ``n_rollouts`` in [1, 32768], ``keys`` from
    :func:`modesim.sampled.sampling.entry_keys`) and are not checked again; it raises
    nothing of its own.
    """
    g = bank.graph
    lp = np.asarray(log_policy, dtype=np.float64)
    batch = lp.shape[:-1]
    B = int(np.prod(batch, dtype=np.int64))
    G, N, E = bank.n_graphs, int(n_rollouts), g.n_edges
    T = max(len(g.layers) - 1, 1)
    lay = _layout(bank)
    cdf = _segment_cdf(bank, np.exp(lp.reshape(B, E))).reshape(-1)
    W = B * G * N
    wb = np.repeat(np.arange(B, dtype=np.int64), G * N)
    wg = np.tile(np.repeat(np.arange(G, dtype=np.int64), N), B)
    wn = np.tile(np.arange(N, dtype=np.int64), B * G)
    j0 = (bank.graph_ids[wg].astype(np.uint64) << np.uint64(32)) | (wn.astype(np.uint64) << np.uint64(16))
    keys = np.broadcast_to(np.asarray(keys, dtype=np.uint64), batch).reshape(B)
    cur = bank.starts[wg].copy()
    nodes = np.full((W, T + 1), -1, dtype=np.int64)
    edges = np.full((W, T), -1, dtype=np.int64)
    nodes[:, 0] = cur
    deg, start, dst = g.out_degree, g.out_start, g.dst
    alive = np.flatnonzero(deg[cur] > 0)
    iters = lay["iters"]
    for s in range(T):
        if alive.size == 0:
            break
        u = cur[alive]
        x = path_uniforms(keys, t, wb[alive], j0[alive] + np.uint64(s))
        lo0 = start[u]
        cnt = deg[u] - 1
        base = wb[alive] * E + lo0
        top = np.maximum(cnt - 1, 0)
        lo = np.zeros(alive.size, dtype=np.int64)
        hi = cnt.copy()
        for _ in range(iters):
            active = lo < hi
            mid = (lo + hi) >> 1
            val = cdf[base + np.minimum(mid, top)]
            go = active & (val <= x)
            lo = np.where(go, mid + 1, lo)
            hi = np.where(active & ~go, mid, hi)
        e = lo0 + lo
        edges[alive, s] = e
        v = dst[e]
        cur[alive] = v
        nodes[alive, s + 1] = v
        alive = alive[deg[v] > 0]
    shape = batch + (G, N)
    return PathRollouts(nodes.reshape(shape + (T + 1,)), edges.reshape(shape + (T,)),
                        g.goal[cur].reshape(shape))


# ------------------------------------------------------------------ shared pieces


def _row(value, batch: tuple[int, ...]):
    """A scalar parameter, or an array one as shape (B,) (the flattened run batch)."""
    if not isinstance(value, np.ndarray):
        return value
    return np.broadcast_to(value, batch).reshape(-1)


def step_records(ro: PathRollouts, B: int):
    """Flat step records ``(walker, b, edge)`` of every taken step, walker-major (row order)."""
    edges = ro.edges.reshape(-1, ro.edges.shape[-1])
    w, _ = np.nonzero(edges >= 0)
    e = edges[edges >= 0]
    per_b = edges.shape[0] // B
    return w, w // per_b, e


def demo_step_records(ro: PathRollouts, graph, B: int, n_rollouts: int, pick: np.ndarray):
    """Step records ``(walker, b, edge, node)`` with the demonstration's edge at that node.

    ``demo_edge`` is the edge the walker's demonstration (rollout ``pick`` of its group) took
    out of the same node ``u``, or -1 where the demonstration did not pass through ``u``.  A
    layered path visits at most one node per layer, so a (walker, layer) record of nodes and
    edges answers it for every step at once.  Shapes: each output is (S,) over taken steps.
    """
    T = ro.edges.shape[-1]
    nodes = ro.nodes.reshape(-1, T + 1)
    W = nodes.shape[0]
    n_layers = len(graph.layers)
    node_at = np.full((W, n_layers), -1, dtype=np.int64)
    edge_at = np.full((W, n_layers), -1, dtype=np.int64)
    wv, tv = np.nonzero(nodes >= 0)
    vv = nodes[wv, tv]
    node_at[wv, graph.layer[vv]] = vv
    w, b, e = step_records(ro, B)
    u = graph.src[e]
    lay_u = graph.layer[u]
    edge_at[w, lay_u] = e
    dw = (w // n_rollouts) * n_rollouts + pick.reshape(-1)[w]
    demo_edge = np.where(node_at[dw, lay_u] == u, edge_at[dw, lay_u], -1)
    return w, b, e, u, demo_edge


def node_kl_grad(graph, lp: np.ndarray, pi: np.ndarray, log_ref: np.ndarray, visits: np.ndarray) -> np.ndarray:
    """``visits(u)·∇_{x_u} KL(π_u‖ref_u)`` per edge: ``visits·π_e·(d_e − Σ_u π d)``, ``d = log π − log ref``."""
    with np.errstate(**_QUIET):
        d = lp - log_ref
    d = np.where(pi > 0.0, d, 0.0)
    if np.any(np.isinf(d)):
        raise ValueError(
            "the KL reference gives zero probability to an edge the policy takes: KL(π‖π_ref) is "
            "infinite (allowed: references with π_ref > 0 wherever π > 0)"
        )
    kl = np.add.reduceat(pi * d, graph.out_offsets, axis=-1)
    centre = np.repeat(kl, graph.out_lengths, axis=-1)
    return visits[..., graph.src] * pi * (d - centre)


def _check_bank(task, owner: str) -> GraphBank:
    try:
        bank = as_bank(task)
    except ValueError:
        raise ValueError(f"{owner} runs on a PathTask or a GraphBank; got {chk.describe(task)}") from None
    if len(bank.graph.layers) > _DEMO_SLOT:
        raise ValueError(f"{owner} supports graphs up to {_DEMO_SLOT - 1} layers deep; got {len(bank.graph.layers)}")
    return bank


class _PathSampled:
    """What both sampled path rules share: parametrisation, keys, rollouts, SGD step."""

    def _check_common(self, low: int):
        object.__setattr__(self, "n_rollouts", chk.integer(self.n_rollouts, "n_rollouts", low=low,
                                                           high=_MAX_ROLLOUTS))
        object.__setattr__(self, "lr", chk.real(self.lr, "lr", low=0.0, low_open=True))
        object.__setattr__(self, "seed", chk.seed(self.seed))
        object.__setattr__(self, "policy", as_policy(self.policy))

    def _check_kl_step(self):
        """SGD on the per-node KL penalty: ``lr·beta < 2`` (tabular logits, whose curvature per
        edge is at most beta; a feature policy's depends on its features and is not checked)."""
        if isinstance(self.policy, TabularPolicy):
            check_kl_step(self.lr, self.beta)

    def _init_common(self, task, offset) -> tuple[GraphBank, State]:
        bank = _check_bank(task, type(self).__name__)
        batch = chk.broadcast_batch(bank.batch_shape, self.param_shape, type(self).__name__)
        keys = entry_keys(root_key(self.seed), bank.batch_shape, offset)
        lp, params = self.policy.init(bank, batch)
        return bank, State(
            lp, rng_key=np.broadcast_to(keys, batch),
            silent_groups=np.zeros(batch + (bank.n_graphs,), dtype=np.int64), params=params,
        )

    def rollouts(self, state: State, task) -> PathRollouts:
        """This round's rollouts (what :meth:`estimate` draws): N per graph and batch entry."""
        bank = as_bank(task)
        return sample_rollouts(bank, state.log_policy, state.rng_key, state.round, self.n_rollouts)

    def _apply(self, state: State, bank: GraphBank, direction: np.ndarray):
        return self.policy.apply(state.log_policy, state.params, direction, self.lr, bank)

    def _finish(self, bank, g_edge, batch):
        """Logit direction (B, E) → parameter direction in the run's batch shape."""
        return self.policy.pull_back(g_edge.reshape(batch + (bank.n_edges,)), bank)


# ------------------------------------------------------------------ RL


@dataclass(frozen=True, eq=False)
class PathSampledRL(_PathSampled):
    """Finite-sample policy-gradient RL on path tasks: GRPO, RLOO, REINFORCE (theory §2.3, §10).

    Per step, batch entry and graph: N rollouts ``y_n ~ π``, rewards ``r_n = 1[y_n ends at a
    goal]``, advantages ``A_n`` and the direction

        ĝ = (1/N) Σ_n A_n Σ_t ∇ log π(v_t|u_t) − β·(1/N) Σ_n Σ_t ∇ KL(π(·|u_t) ‖ π0(·|u_t)),

    with ``∇_{x} log π(v|u) = e_{u→v} − π(·|u)`` on the per-edge logits x (the per-step
    log-probability gradients of the sequence, summed along the path) and the exact
    per-node KL gradient at every visited node (the per-token KL penalty of the trainers,
    computed over the full next-step distribution).  A tabular policy steps its logits,
    ``x ← log π + lr·ĝ`` then a per-node softmax; a :class:`~modesim.paths.FeaturePolicy`
    steps ``θ ← θ + lr·(1/G) Σ_g Φ_gᵀ ĝ_g``.

    Parameters
    ----------
    estimator : {"grpo", "rloo", "reinforce"}
        As :class:`modesim.SampledRL`: GRPO ``(r − mean)/(std + ε)`` with the population std
        (a group whose rewards are all equal gives no signal), RLOO's leave-one-out
        baseline, plain REINFORCE.
    n_rollouts : int
        Group size N per graph (>= 2 for "grpo" and "rloo"; at most 32768).
    lr : float or array > 0
    beta : float or array >= 0
        KL strength to the base (TRL's default is 0; 0.04 was its earlier default).
    eps : float or array > 0
        GRPO's std offset ε.
    policy : "tabular" or FeaturePolicy
    seed : None, int >= 0 or numpy.random.Generator

    Notes
    -----
    ``velocity(log_policy, task)`` is the exact expected parameter update per step (the
    mean field), by dynamic programming: ``lr·E ĝ`` with ``E ĝ_e = c_g·μ(u)·π_e·(S(v) − S(u))
    − β·μ(u)·∇KL_u`` (``c_g = s_N(J_g)`` for GRPO, 1 otherwise); it is *not* declared as
    the ``velocity`` capability because :func:`modesim.flow` integrates categorical flows
    only.  ``state.silent_groups`` has shape ``batch + (G,)``: per entry and graph, the
    steps whose advantages were all zero.  Capabilities: ``estimate``.

    Raises
    ------
    ValueError
        On construction: an unknown ``estimator``; ``n_rollouts`` not an integer in
        [2, 32768] ([1, 32768] for "reinforce"); ``lr`` not > 0, ``beta`` not >= 0, ``eps``
        not > 0 (or arrays with such entries); a bad ``seed``; ``policy`` neither "tabular"
        nor a :class:`~modesim.paths.FeaturePolicy`.  In :meth:`init`: a task that is not a
        :class:`~modesim.paths.PathTask` or :class:`~modesim.paths.GraphBank` (or graphs
        deeper than 65534 layers), parameter arrays that do not broadcast against it, a bad
        ``offset``, a feature the bank lacks.  In a round: a step that overflows the float
        range.

    Source: GRPO (Shao et al. 2024, arXiv 2402.03300); RLOO (Ahmadian et al. 2024, arXiv
    2402.14740); per-token KL penalty as in TRL's ``GRPOTrainer`` (exact over the
    next-step distribution instead of TRL's k3 estimate on the sampled token); the mean
    field is G1 (theory §10.3).

    Examples
    --------
    >>> import modesim as ms
    >>> from modesim.paths import ConceptGraph, FeaturePolicy, PathSampledRL, bank_success, graph_bank
    >>> bank = graph_bank(ConceptGraph(20), 8, seed=0)
    >>> rule = PathSampledRL("grpo", lr=0.5, policy=FeaturePolicy(), seed=0)
    >>> state = ms.iterate(rule, bank, 200, record_policy=False).final
    >>> bool(bank_success(state.policy, bank).mean() > bank_success(bank.base, bank).mean())
    True
    """

    estimator: str = "grpo"
    n_rollouts: int = 8
    lr: float = 0.1
    beta: float = 0.0
    eps: float = 1e-6
    policy: object = "tabular"
    seed: object = None

    capabilities = frozenset({"estimate"})

    def __post_init__(self):
        chk.choice(self.estimator, "estimator", ("grpo", "rloo", "reinforce"))
        self._check_common(1 if self.estimator == "reinforce" else 2)
        object.__setattr__(self, "beta", chk.real(self.beta, "beta", low=0.0))
        object.__setattr__(self, "eps", chk.real(self.eps, "eps", low=0.0, low_open=True))
        self._check_kl_step()

    @property
    def param_shape(self) -> tuple[int, ...]:
        """Broadcast shape of the array-valued parameters."""
        return chk.param_shape(self.lr, self.beta, self.eps)

    def init(self, task, *, offset=()) -> State:
        """Round 0: the base (or θ0), one random key per batch entry, zero silent groups
        (shape ``batch + (G,)``); ``offset`` places the task's entries in a larger run
        (:mod:`modesim.sampled.sampling`, point 3)."""
        return self._init_common(task, offset)[1]

    def advantages(self, r: np.ndarray, batch: tuple[int, ...] = ()) -> np.ndarray:
        """Advantages ``A_n`` from rewards ``r`` (…, G, N) (``batch``: the run's batch shape
        when ε is an array)."""
        n = r.shape[-1]
        if self.estimator == "reinforce":
            return r
        total = r.sum(axis=-1, keepdims=True)
        if self.estimator == "rloo":
            return r - (total - r) / (n - 1)
        centred = r - total / n
        std = np.sqrt((centred * centred).sum(axis=-1, keepdims=True) / n)
        eps = self.eps
        if isinstance(eps, np.ndarray):
            eps = np.broadcast_to(eps, batch).reshape(batch + (1, 1))
        flat = np.all(r == r[..., :1], axis=-1, keepdims=True)
        centred /= std + eps
        return np.where(flat, 0.0, centred)

    def estimate(self, state: State, task) -> tuple[np.ndarray, np.ndarray]:
        """One stochastic update direction and which groups had no signal.

        Returns
        -------
        direction : ndarray, shape (..., E) (tabular) or (..., F) (feature policy)
            The step is ``params ← params + lr·direction``.
        silent : ndarray of bool, shape (..., G)
            Groups whose advantages were all zero.
        """
        bank = as_bank(task)
        ro = self.rollouts(state, bank)
        return self._direction(state, bank, ro)

    def _direction(self, state: State, bank: GraphBank, ro: PathRollouts):
        lp = state.log_policy
        batch = lp.shape[:-1]
        B = int(np.prod(batch, dtype=np.int64))
        g, E, n = bank.graph, bank.n_edges, bank.graph.n_nodes
        N = self.n_rollouts
        A = self.advantages(ro.valid.astype(np.float64), batch)
        w, b, e = step_records(ro, B)
        u = g.src[e]
        weight = (A.reshape(-1) / N)[w]
        ce = np.bincount(b * E + e, weight, minlength=B * E).reshape(B, E)
        cu = np.bincount(b * n + u, weight, minlength=B * n).reshape(B, n)
        lp2 = lp.reshape(B, E)
        pi = np.exp(lp2)
        direction = ce - pi * cu[:, g.src]
        beta = _row(self.beta, batch)
        if np.any(beta != 0.0):
            visits = np.bincount(b * n + u, minlength=B * n).reshape(B, n) / N
            ref = np.broadcast_to(bank.log_base, batch + (E,)).reshape(B, E)
            direction -= (beta if np.ndim(beta) == 0 else beta[:, None]) * node_kl_grad(g, lp2, pi, ref, visits)
        return self._finish(bank, direction, batch), np.all(A == 0.0, axis=-1)

    def step(self, state: State, task) -> State:
        bank = as_bank(task)
        direction, silent = self._direction(state, bank, self.rollouts(state, bank))
        lp, params = self._apply(state, bank, direction)
        return state.advance(lp, silent_groups=state.silent_groups + silent, params=params)

    def velocity(self, log_policy, task, *, teacher_log_base=None) -> np.ndarray:
        """Exact expected parameter update per step, ``lr·E[direction]`` (theory §2.3, §10).

        ``E ĝ_e = c_g·μ(u)·π_e·(S(v) − S(u)) − β·μ(u)·π_e·(d_e − Σ_u π d)`` for ``e = u → v``
        in graph g, ``d = log π − log π0``, ``c_g = s_N(J_g)`` (GRPO's clock,
        :func:`modesim.sampled.rl.grpo_speed`) or 1; ``S(v) − S(u)`` is taken as
        ``F(u) − F(v)`` from the failure pass where ``S(u) > 1/2``.  Returns shape
        ``batch + (E,)`` (tabular) or ``batch + (F,)`` (feature policy).
        """
        from ..sampled.rl import grpo_speed

        bank = _check_bank(task, type(self).__name__)
        lp = np.asarray(log_policy, dtype=np.float64)
        batch = np.broadcast_shapes(lp.shape[:-1], bank.batch_shape, self.param_shape)
        lp = np.broadcast_to(lp, batch + (bank.n_edges,))
        g = bank.graph
        lmu = bank_forward(bank, lp)
        lS = bank_log_success(bank, lp)
        lF = bank_log_success(bank, lp, failure=True)
        with np.errstate(**_QUIET):
            high = lS[..., g.src] > np.log(0.5)
            dS = np.where(high, np.exp(lF[..., g.src]) - np.exp(lF[..., g.dst]),
                          np.exp(lS[..., g.dst]) - np.exp(lS[..., g.src]))
            pi_mu = np.exp(lmu[..., g.src] + lp)
        grad = pi_mu * dS
        if self.estimator == "grpo":
            eps = self.eps[..., None] if isinstance(self.eps, np.ndarray) else self.eps
            clock = grpo_speed(lS[..., bank.starts], lF[..., bank.starts], self.n_rollouts, eps)
            grad = grad * clock[..., bank.edge_graph]
        if np.any(self.beta != 0.0):
            pi = np.exp(lp)
            kl = node_kl_grad(g, lp, pi, np.broadcast_to(bank.log_base, lp.shape), np.exp(lmu))
            grad = grad - chk.col(self.beta) * kl
        return chk.col(self.lr) * self.policy.pull_back(grad, bank)


# ------------------------------------------------------------------ SD


@dataclass(frozen=True, eq=False)
class PathSampledSD(_PathSampled, SDShell):
    """Self-distillation with sampled demonstrations on path tasks, per-step teacher (theory §3.6, §10).

    Per step, batch entry and graph: N rollouts ``y_n ~ π``; rollout n's demonstration
    ``d_n`` is drawn uniformly from the group's *other* correct rollouts (no signal for n
    when there is none; a group without a correct rollout is silent); the teacher is the
    per-step path teacher on its stop-gradient base ρ (``teacher_base``): for the copy
    teacher ``T(·|u, d) = (1 − α)ρ(·|u) + α·1[d takes u → ·]`` at nodes d visits and ρ
    elsewhere.  The loss is a divergence at **every visited node** of each scored rollout
    (``score="all"``: failed rollouts too, the dense feedback of the paper; ``"correct"``:
    only correct ones), averaged over the N rollouts, plus the per-step KL to the reference
    at every visited node:

        L = (1/N) Σ_n 1[n scored, has d_n] Σ_t D(π(·|u_t), T(·|u_t, d_n)) + β (1/N) Σ_n Σ_t KL(π(·|u_t) ‖ π_ref(·|u_t)),

    and the step is ``params ← params − lr·∇L`` (visitation held fixed, as per-token
    trainers do).  Divergences per step (``objective``):

    - ``"reverse"``: ``KL(π_u ‖ T_u)``, logit gradient ``π ⊙ (log π − log T − KL)``;
    - ``"forward"``: ``KL(T_u ‖ π_u)``, logit gradient ``π − T``;
    - ``"jsd"``: ``JSD_λ(T‖π) = λ·KL(T‖M) + (1 − λ)·KL(π‖M)``, ``M = λT + (1 − λ)π``, with
      ``∂JSD/∂π_i = (1 − λ)·log(π_i/M_i)`` and logit gradient ``π ⊙ (h − Σ π h)``,
      ``h = (1 − λ)(log π − log M)``; λ = ``jsd_weight`` in (0, 1), default 0.5.  This is
      TRL's ``GKDTrainer`` convention (its ``beta``; 1 is reverse KL and 0 forward KL there,
      special-cased: the JSD itself vanishes at both ends, ``JSD_λ ≈ (1 − λ)·KL(π‖T)`` as
      λ → 1).

    Parameters
    ----------
    teacher : path teacher, default ``PathCopyTeacher(0.5)``
        Must define ``edge_log_given`` (and ``edge_expected_log``/``edge_log_mixture`` for
        the reverse/forward objectives; :class:`~modesim.paths.PathTeacher`).
    demos : {"group"}
        Demonstrations from the group (the only source implemented for sampled paths).
    objective : {"reverse", "forward", "jsd"}
    jsd_weight : float in (0, 1), optional
    beta : float or array >= 0
    teacher_base : {"current", "frozen"} or EMA(tau)
        EMA(0.95) is the trainers' rate of 0.05 per step.
    reference : {"base", "current"}
    estimator : {"full", "sampled"}
        ``"full"``: the divergence over the whole next-step distribution at each visited
        node (what per-token trainers with full logits compute); ``"sampled"`` (reverse KL,
        ``score="all"`` only): ``(log π(v_t|u_t) − log T(v_t|u_t, d))·∇ log π(v_t|u_t)``,
        unbiased for the same per-step mean field (a correct rollout's steps are not draws
        of ``π(·|u)``, so scoring only correct ones would bias it).
    score : {"all", "correct"}
    n_rollouts : int >= 2
    lr : float or array > 0
    policy : "tabular" or FeaturePolicy
    seed : None, int >= 0 or numpy.random.Generator

    Notes
    -----
    ``velocity(log_policy, task, *, teacher_log_base=None)`` is the exact expected parameter
    update per step (``teacher_log_base`` needed with an EMA teacher base):
    ``−lr·[Σ_u ν(u)·P_N(J_g)·((1 − m_u)·∇D(π_u, T_u,none) + Σ_{e'∈u} m_{e'}·∇D(π_u, T_{u,e'}))
    + β·Σ_u μ(u)·∇KL_u]`` with ``P_N = 1 − (1 − J_g)^{N−1}``, the demonstration marginals
    ``m`` of ``π(·|C)`` on its graph, and ``ν = μ`` or ``μ·S`` (``score="correct"``).  The
    divergence gradient is linear in the weights, so the sampled "full" update is this
    kernel at the sampled visit counts and the mean field is it at their expectations.
    Capabilities: ``estimate`` only (the state carries random keys and possibly an EMA
    teacher, and ``velocity`` is not declared because :func:`modesim.flow` integrates
    categorical flows only; :class:`ExpectedUpdate` runs the mean field as a rule).

    Raises
    ------
    ValueError
        On construction: an unknown ``objective``, ``demos`` (only "group"), ``estimator``,
        ``score``, ``teacher_base`` or ``reference``; ``jsd_weight`` not in (0, 1) with the
        JSD, or given with another objective; ``estimator="sampled"`` with an objective
        other than "reverse" or with ``score="correct"`` (biased); a ``teacher`` without the
        path-teacher kernels the objective needs; ``beta`` < 0, ``lr`` not > 0,
        ``n_rollouts`` not an integer in [2, 32768], a bad ``seed``, ``policy`` neither
        "tabular" nor a :class:`~modesim.paths.FeaturePolicy`, an invalid teacher
        parameter.  In :meth:`init`: as :class:`PathSampledRL`.  In a round: a step that
        overflows the float range.  :meth:`velocity`: an EMA teacher strictly inside (0, 1)
        without ``teacher_log_base``.

    Source: the paper's training design (per-token reverse KL to a stop-gradient EMA teacher
    conditioned on a correct rollout of a group of 8, KL to the reference; arXiv
    2606.26091); group demonstrations excluding the scored rollout as SDPO and OPSD do; the
    JSD as in TRL's ``GKDTrainer`` (``generalized_jsd_loss``, TRL 1.10.0.dev0, commit
    f2cd577); the mean field is G2, the JSD gradient G3 (theory §10.3).

    Examples
    --------
    >>> import modesim as ms
    >>> from modesim.paths import ConceptGraph, FeaturePolicy, PathSampledSD, graph_bank
    >>> bank = graph_bank(ConceptGraph(20), 8, seed=0)
    >>> rule = PathSampledSD(teacher_base=ms.EMA(0.95), lr=0.5, policy=FeaturePolicy(), seed=0)
    >>> ms.iterate(rule, bank, 3, record_policy=False).final.params.shape
    (3,)
    """

    teacher: object = field(default_factory=lambda: PathCopyTeacher(0.5))
    demos: str = "group"
    objective: str = "reverse"
    jsd_weight: float | None = None
    beta: float = 0.0
    teacher_base: str | EMA = "current"
    reference: str = "base"
    estimator: str = "full"
    score: str = "all"
    n_rollouts: int = 8
    lr: float = 0.1
    policy: object = "tabular"
    seed: object = None

    OBJECTIVES = ("reverse", "forward", "jsd")
    capabilities = frozenset({"estimate"})

    def __post_init__(self):
        self._check_shell()  # objective, jsd_weight, beta, teacher base, reference
        if self.objective == "jsd":
            # The per-step JSD gradient here is the interior formula: its endpoints (TRL's
            # unscaled forward/reverse KL) are the "forward" and "reverse" objectives.
            chk.real(self.jsd_weight, "jsd_weight", low=0.0, high=1.0, low_open=True, high_open=True)
        chk.choice(self.demos, "demos", ("group",))
        chk.choice(self.estimator, "estimator", ("full", "sampled"))
        chk.choice(self.score, "score", ("all", "correct"))
        if self.estimator == "sampled" and self.objective != "reverse":
            raise ValueError(
                f"estimator='sampled' estimates the reverse KL on the sampled step only; got "
                f"objective={self.objective!r} (use estimator='full')"
            )
        if self.estimator == "sampled" and self.score == "correct":
            raise ValueError(
                "estimator='sampled' with score='correct' is biased (a correct rollout's steps are "
                "not drawn from π(·|u)); use estimator='full' to score correct rollouts only"
            )
        needed = ["edge_log_given"]
        needed += {"reverse": ["edge_expected_log"], "forward": ["edge_log_mixture"], "jsd": []}[self.objective]
        chk.implements(self.teacher, "teacher", needed,
                       f"a path teacher (e.g. PathCopyTeacher(0.5)) providing {', '.join(n + '(...)' for n in needed)}")
        self._check_common(2)
        if self.reference == "base":  # a KL to the current policy has no gradient to overshoot
            self._check_kl_step()

    @property
    def param_shape(self) -> tuple[int, ...]:
        """Broadcast shape of the array-valued parameters (rule, EMA, JSD weight, teacher)."""
        jsd = (self.jsd_weight,) if self.objective == "jsd" else ()
        return np.broadcast_shapes(chk.param_shape(self.lr, *self._shell_params(), *jsd),
                                   getattr(self.teacher, "param_shape", ()))

    def _normalise(self, x: np.ndarray, task) -> np.ndarray:
        return normalise_nodes_rowwise(as_bank(task).graph, x)

    def init(self, task, *, offset=()) -> State:
        """Round 0: the base (or θ0), teacher base, keys, zero silent groups (``batch + (G,)``)."""
        bank, state = self._init_common(task, offset)
        if self._ema:
            state = state._replace(teacher_log_base=state.log_policy)
        return state

    # ------------------------------------------------------------ kernels

    def _teacher_rho(self, state_lp, teacher_lp, bank):
        if self._ema:
            return teacher_lp
        return state_lp if self._current_teacher else np.broadcast_to(bank.log_base, state_lp.shape)

    def divergence_grad(self, log_policy, log_rho, w_plain, w_demo, task) -> np.ndarray:
        """``Σ_u w_plain(u)·∇_u D(π_u, T_u,none) + Σ_e w_demo(e)·∇_{src e} D(π, T_{src e, e})``.

        The logit gradient (…, E) of the weighted per-step divergences: ``w_plain`` (…, n)
        weighs the teacher at nodes the demonstration does not visit, ``w_demo`` (…, E) the
        teacher whose demonstration takes edge e.  Linear in the weights (theory §10).
        """
        bank = as_bank(task)
        g = bank.graph
        lp = np.asarray(log_policy, dtype=np.float64)
        pi = np.exp(lp)
        shape = np.broadcast_shapes(lp.shape, np.shape(w_demo))
        wd = np.add.reduceat(np.broadcast_to(w_demo, shape), g.out_offsets, axis=-1)  # (…, n_branch)
        wp = np.broadcast_to(w_plain, shape[:-1] + (g.n_nodes,))[..., g.out_nodes]
        W = wp + wd
        if self.objective == "jsd":
            return self._jsd_grad(bank, lp, pi, log_rho, W, wp, w_demo)
        with np.errstate(**_QUIET):
            pos = W > 0.0
            log_W = np.log(np.where(pos, W, 1.0))
            m_node = np.full(shape[:-1] + (g.n_nodes,), -np.inf)
            m_node[..., g.out_nodes] = np.where(pos, np.log(wd) - log_W, -np.inf)
            m_node = np.minimum(m_node, 0.0)
            log_W_e = np.repeat(np.where(pos, log_W, np.inf), g.out_lengths, axis=-1)
            m_edge = np.minimum(np.log(np.broadcast_to(w_demo, shape)) - log_W_e, 0.0)
        W_e = np.repeat(W, g.out_lengths, axis=-1)
        if self.objective == "reverse":
            G = self.teacher.edge_expected_log(g, log_rho, m_node, m_edge)
            with np.errstate(**_QUIET):
                d = lp - G
            live = (pi > 0.0) & (W_e > 0.0)
            if np.any(live & np.isinf(d)):
                raise ValueError(
                    "the teacher gives zero probability to an edge the student takes: KL(π‖T) is "
                    "infinite (allowed: teachers with T > 0 wherever π > 0)"
                )
            d = np.where(live, d, 0.0)
            kl = np.add.reduceat(pi * d, g.out_offsets, axis=-1)
            return W_e * pi * (d - np.repeat(kl, g.out_lengths, axis=-1))
        M = np.exp(self.teacher.edge_log_mixture(g, log_rho, m_node, m_edge))
        return np.where(W_e > 0.0, W_e * (pi - M), 0.0)

    def _jsd_grad(self, bank, lp, pi, log_rho, W, wp, w_demo):
        g = bank.graph
        lay = _layout(bank)
        lam = chk.col(self.jsd_weight)
        pe = lay["pair_edge"]
        lT = self.teacher.edge_log_given(g, log_rho, pe, lay["pair_demo"])
        lpi = lp[..., pe]
        ppi = pi[..., pe]
        with np.errstate(**_QUIET):
            log_m = np.logaddexp(np.log(lam) + lT, np.log1p(-lam) + lpi)
            h = (1.0 - lam) * (lpi - log_m)
        h = np.where(ppi > 0.0, h, 0.0)
        centre = np.add.reduceat(ppi * h, lay["inst_offsets"], axis=-1)  # per instance
        # Instance weights: plain instance of node u → w_plain(u); demo instance e' → w_demo(e').
        inst_demo = lay["inst_demo"]
        wdemo = np.broadcast_to(w_demo, pi.shape)
        node_rank = np.zeros(g.n_nodes, dtype=np.int64)
        node_rank[g.out_nodes] = np.arange(g.out_nodes.size)
        w_inst = np.where(inst_demo < 0, wp[..., node_rank[lay["inst_node"]]],
                          wdemo[..., np.maximum(inst_demo, 0)])
        pair_inst = lay["pair_inst"]
        contrib = w_inst[..., pair_inst] * ppi * (h - centre[..., pair_inst])
        return np.add.reduceat(contrib[..., lay["by_edge"]], lay["edge_pair_offsets"], axis=-1)

    # ------------------------------------------------------------ sampling

    def demo_picks(self, state: State, task, ro: PathRollouts) -> tuple[np.ndarray, np.ndarray]:
        """Each rollout's demonstration (its position n' in the group) and whether it has one.

        Uniform over the group's correct rollouts other than itself, from the uniform at
        slot 2^16 − 1 of the rollout's stream.  Returns ``(pick, has)`` of shape (…, G, N).
        """
        from ..sampled.sd import group_demos

        bank = as_bank(task)
        batch = ro.valid.shape[:-2]
        B = int(np.prod(batch, dtype=np.int64))
        G, N = bank.n_graphs, self.n_rollouts
        wb = np.repeat(np.arange(B, dtype=np.int64), G * N)
        wg = np.tile(np.repeat(np.arange(G, dtype=np.int64), N), B)
        wn = np.tile(np.arange(N, dtype=np.int64), B * G)
        j = (bank.graph_ids[wg].astype(np.uint64) << np.uint64(32)) | (wn.astype(np.uint64) << np.uint64(16)) \
            | np.uint64(_DEMO_SLOT)
        keys = np.broadcast_to(state.rng_key, batch).reshape(B)
        u = path_uniforms(keys, state.round, wb, j).reshape(batch + (G, N, 1))
        index = np.broadcast_to(np.arange(N, dtype=np.int64), ro.valid.shape)
        pick, has = group_demos(index, ro.valid, u, True)
        return pick[..., 0], has

    def estimate(self, state: State, task) -> tuple[np.ndarray, np.ndarray]:
        """One stochastic descent direction and which groups had no SD signal.

        Returns
        -------
        direction : ndarray, shape (..., E) (tabular) or (..., F) (feature policy)
            ``−∇L``; the step is ``params ← params + lr·direction``.
        silent : ndarray of bool, shape (..., G)
            Groups where no scored rollout had a demonstration.
        """
        bank = as_bank(task)
        ro = self.rollouts(state, bank)
        pick, has = self.demo_picks(state, bank, ro)
        return self._direction(state, bank, ro, pick, has)

    def _direction(self, state: State, bank: GraphBank, ro: PathRollouts, pick, has):
        lp = state.log_policy
        batch = lp.shape[:-1]
        B = int(np.prod(batch, dtype=np.int64))
        g, E, n = bank.graph, bank.n_edges, bank.graph.n_nodes
        N = self.n_rollouts
        scored = has if self.score == "all" else has & ro.valid
        w, b, e, u, de = demo_step_records(ro, g, B, N, pick)
        keep = scored.reshape(-1)[w]
        bs, es, us, de = b[keep], e[keep], u[keep], de[keep]
        lp2 = lp.reshape(B, E)
        pi = np.exp(lp2)
        rho = np.broadcast_to(self._teacher_rho(lp, state.teacher_log_base, bank), lp.shape)
        inv = 1.0 / N
        if self.estimator == "full":
            plain = de < 0
            w_plain = np.bincount(bs[plain] * n + us[plain], minlength=B * n).reshape(batch + (n,)) * inv
            w_demo = np.bincount(bs[~plain] * E + de[~plain], minlength=B * E).reshape(batch + (E,)) * inv
            grad = self.divergence_grad(lp, rho, w_plain, w_demo, bank).reshape(B, E)
        else:
            grad = self._sampled_grad(bank, lp, rho, pi, bs, es, us, de, B, batch) * inv
        beta = _row(self.beta, batch)
        ref = self.reference_log(lp, bank)
        if np.any(beta != 0.0) and ref is not lp:
            visits = np.bincount(b * n + u, minlength=B * n).reshape(B, n) * inv
            ref2 = np.broadcast_to(ref, lp.shape).reshape(B, E)
            grad += (beta if np.ndim(beta) == 0 else beta[:, None]) * node_kl_grad(g, lp2, pi, ref2, visits)
        np.negative(grad, out=grad)
        silent = ~np.any(scored, axis=-1)
        return self._finish(bank, grad, batch), silent

    def _sampled_grad(self, bank, lp, rho, pi, bs, es, us, de, B, batch):
        """``Σ (log π(e) − log T(e|u, d))·(1_e − π_u)`` over scored steps (before the 1/N)."""
        g, E, n = bank.graph, bank.n_edges, bank.graph.n_nodes
        counts = np.bincount(bs, minlength=B)
        M = max(int(counts.max(initial=0)), 1)
        pos = np.arange(bs.size) - np.repeat(np.cumsum(counts) - counts, counts)
        e_dense = np.zeros((B, M), dtype=np.int64)
        d_dense = np.full((B, M), -1, dtype=np.int64)
        e_dense[bs, pos] = es
        d_dense[bs, pos] = de
        lT = self.teacher.edge_log_given(bank.graph, rho, e_dense.reshape(batch + (M,)),
                                         d_dense.reshape(batch + (M,))).reshape(B, M)[bs, pos]
        lpe = lp.reshape(B, E)[bs, es]
        if np.any(np.isneginf(lT)):
            raise ValueError(
                "the teacher gives zero probability to an edge the student takes: KL(π‖T) is "
                "infinite (allowed: teachers with T > 0 wherever π > 0)"
            )
        wgt = lpe - lT
        ce = np.bincount(bs * E + es, wgt, minlength=B * E).reshape(B, E)
        cu = np.bincount(bs * n + us, wgt, minlength=B * n).reshape(B, n)
        return ce - pi * cu[:, g.src]

    def step(self, state: State, task) -> State:
        bank = as_bank(task)
        ro = self.rollouts(state, bank)
        pick, has = self.demo_picks(state, bank, ro)
        direction, silent = self._direction(state, bank, ro, pick, has)
        lp, params = self._apply(state, bank, direction)
        return self._shell_advance(state, lp, bank, silent_groups=state.silent_groups + silent, params=params)

    def velocity(self, log_policy, task, *, teacher_log_base=None) -> np.ndarray:
        """Exact expected parameter update per step, ``lr·E[direction]`` (theory §3.6, §10).

        See the class notes for the formula.  Returns shape ``batch + (E,)`` (tabular) or
        ``batch + (F,)`` (feature policy).

        Raises
        ------
        ValueError
            With an EMA teacher base (τ strictly between 0 and 1) and no ``teacher_log_base``.
        """
        bank = _check_bank(task, type(self).__name__)
        lp = np.asarray(log_policy, dtype=np.float64)
        batch = np.broadcast_shapes(lp.shape[:-1], bank.batch_shape, self.param_shape)
        lp = np.broadcast_to(lp, batch + (bank.n_edges,))
        rho = np.broadcast_to(self.velocity_teacher_base(lp, bank.log_base, teacher_log_base), lp.shape)
        g = bank.graph
        lmu = bank_forward(bank, lp)
        lS = bank_log_success(bank, lp)
        lF = bank_log_success(bank, lp, failure=True)
        lS0 = lS[..., bank.starts]
        chance = -np.expm1((self.n_rollouts - 1) * lF[..., bank.starts])  # P_N(J_g)
        chance = np.where(np.isneginf(lS0), 0.0, chance)
        with np.errstate(**_QUIET):
            nu = lmu + lS if self.score == "correct" else lmu
            m_node = np.exp(np.minimum(lmu + lS - lS[..., bank.start_of_node], 0.0))
            m_edge = np.exp(np.minimum(lmu[..., g.src] + lp + lS[..., g.dst]
                                       - lS[..., bank.start_of_node[g.src]], 0.0))
            ok_n = np.isfinite(lS0)[..., bank.node_graph]
            ok_e = np.isfinite(lS0)[..., bank.edge_graph]
            w_plain = np.where(ok_n, chance[..., bank.node_graph] * np.exp(nu) * (1.0 - np.where(ok_n, m_node, 0.0)), 0.0)
            w_demo = np.where(ok_e, chance[..., bank.edge_graph] * np.exp(nu[..., g.src]) * np.where(ok_e, m_edge, 0.0), 0.0)
        grad = self.divergence_grad(lp, rho, w_plain, w_demo, bank)
        ref = self.reference_log(lp, bank)
        if np.any(self.beta != 0.0) and ref is not lp:
            pi = np.exp(lp)
            grad = grad + chk.col(self.beta) * node_kl_grad(g, lp, pi, np.broadcast_to(ref, lp.shape), np.exp(lmu))
        return -chk.col(self.lr) * self.policy.pull_back(grad, bank)


# ------------------------------------------------------------------ mean-field rule


@dataclass(frozen=True, eq=False)
class ExpectedUpdate:
    """The mean field of a sampled path rule as a deterministic rule (theory §6, §10).

    Each step moves the parameters by the rule's exact expected update,
    ``params ← params + rule.velocity(log π, task)`` (per-edge logits then a per-node
    softmax for a tabular policy; θ for a feature policy), and an EMA teacher base moves
    toward the new policy as in the sampled rule.  This is the sampled rule with an
    infinite group of groups (the average of its steps over seeds, to first order in
    ``lr``): what ``N`` rollouts per graph estimate without noise.

    Parameters
    ----------
    rule : PathSampledRL or PathSampledSD

    Raises
    ------
    ValueError
        ``rule`` not a :class:`PathSampledRL` or :class:`PathSampledSD`; what the rule's
        :meth:`~PathSampledRL.init` and ``velocity`` raise (a task that is not a path task
        or bank, parameter arrays that do not broadcast).

    Examples
    --------
    >>> import modesim as ms
    >>> from modesim.paths import ConceptGraph, FeaturePolicy, bank_success, graph_bank
    >>> from modesim.paths import ExpectedUpdate, PathSampledRL
    >>> bank = graph_bank(ConceptGraph(20), 4, seed=0)
    >>> mf = ExpectedUpdate(PathSampledRL("reinforce", lr=1.0, policy=FeaturePolicy()))
    >>> state = ms.iterate(mf, bank, 50, record_policy=False).final
    >>> bool(bank_success(state.policy, bank).mean() > bank_success(bank.base, bank).mean())
    True
    """

    rule: object

    def __post_init__(self):
        if not isinstance(self.rule, (PathSampledRL, PathSampledSD)):
            raise ValueError(f"rule must be a PathSampledRL or PathSampledSD; got {chk.describe(self.rule)}")

    @property
    def capabilities(self) -> frozenset:
        ema = getattr(self.rule, "_ema", False)
        return frozenset({"deterministic"} if ema else {"deterministic", "memoryless"})

    @property
    def param_shape(self) -> tuple[int, ...]:
        return self.rule.param_shape

    def init(self, task) -> State:
        """Round 0 of the wrapped rule (its random key is unused)."""
        return self.rule.init(task)

    def step(self, state: State, task) -> State:
        bank = as_bank(task)
        rule = self.rule
        v = rule.velocity(state.log_policy, bank, teacher_log_base=state.teacher_log_base)
        if state.params is None:
            lp = normalise_nodes_rowwise(bank.graph, state.log_policy + v)
            params = None
        else:
            params = state.params + v
            lp = rule.policy.log_policy(params, bank)
        if isinstance(rule, PathSampledSD):
            return rule._shell_advance(state, lp, bank, params=params)
        return state.advance(lp, params=params)
