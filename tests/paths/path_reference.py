"""Independent references for the path tests: brute force over enumerated rollouts.

Nothing here uses the DP kernels: paths come from a plain recursive listing of the graph,
probabilities from products over edges, per-node normalisation from loops over nodes.
"""

from fractions import Fraction

import numpy as np


def LOG(x):
    with np.errstate(divide="ignore"):
        return np.log(np.asarray(x, dtype=float))


def rollouts(graph):
    """Every rollout as (nodes, edges), by recursion over out-edges (no DP)."""
    out = []

    def walk(nodes, edges):
        u = nodes[-1]
        es = [e for e in range(graph.n_edges) if graph.src[e] == u]
        if not es:
            out.append((tuple(nodes), tuple(edges)))
        for e in es:
            walk(nodes + [int(graph.dst[e])], edges + [e])

    walk([graph.start], [])
    return out


def path_probs(graph, policy):
    """``(rollouts, P, valid)``: probability of each rollout as a product over its edges."""
    rs = rollouts(graph)
    P = np.array([np.prod([policy[e] for e in es]) for _, es in rs])
    valid = np.array([bool(graph.goal[ns[-1]]) for ns, _ in rs])
    return rs, P, valid


def blocked_valid(rs, valid, blocked):
    return np.array([v and not any(blocked[e] for e in es) for (_, es), v in zip(rs, valid)])


def edge_policy_from_paths(graph, rs, P):
    """Recover π(v|u) = μ(u→v)/μ(u) from a distribution over rollouts (loops)."""
    mu_e = np.zeros(graph.n_edges)
    for p, (_, es) in zip(P, rs):
        for e in es:
            mu_e[e] += p
    mu_u = np.zeros(graph.n_nodes)
    for e in range(graph.n_edges):
        mu_u[graph.src[e]] += mu_e[e]
    out = np.ones(graph.n_edges)
    for e in range(graph.n_edges):
        if mu_u[graph.src[e]] > 0:
            out[e] = mu_e[e] / mu_u[graph.src[e]]
    # Nodes no rollout reaches carry no path's probability; use uniform there.
    for u in range(graph.n_nodes):
        es = [e for e in range(graph.n_edges) if graph.src[e] == u]
        if es and mu_u[u] == 0:
            out[es] = 1.0 / len(es)
    return LOG(out)


def node_softmax(graph, logits):
    """Per-node softmax by a loop over nodes (the reference for per-node normalisation)."""
    out = np.array(logits, dtype=float, copy=True)
    for u in range(graph.n_nodes):
        es = [e for e in range(graph.n_edges) if graph.src[e] == u]
        if es:
            x = out[es]
            m = np.max(x)
            out[es] = x - m - np.log(np.sum(np.exp(x - m)))
    return out


def copy_matrix(graph, rs, log_rho_edges, alpha):
    """T[d, y] = Π_{e∈y} T(e|d) for the per-node copy teacher, by brute force."""
    rho = np.exp(log_rho_edges)
    K = len(rs)
    T = np.ones((K, K))
    for d in range(K):
        on_d = set(rs[d][0][:-1])
        took = set(rs[d][1])
        for y in range(K):
            for e in rs[y][1]:
                if graph.src[e] in on_d:
                    T[d, y] *= (1 - alpha) * rho[e] + alpha * (e in took)
                else:
                    T[d, y] *= rho[e]
    return T


def node_sums(graph, policy):
    """Σ over each branching node's out-edges, by a loop (shape (..., #branching nodes))."""
    p = np.asarray(policy)
    return np.stack([p[..., [e for e in range(graph.n_edges) if graph.src[e] == u]].sum(-1)
                     for u in range(graph.n_nodes) if graph.out_degree[u] > 0], axis=-1)


def exact_node_policy(weights_by_node):
    """Fractions w/Σw per node: the exact normalised policy of rational weights."""
    return {u: [Fraction(w) / sum(map(Fraction, ws)) for w in ws] for u, ws in weights_by_node.items()}


# ---------------------------------------------------------------- sampled path rules


def node_edges(graph, u):
    """Out-edges of node u, by a scan of the edge list."""
    return [e for e in range(graph.n_edges) if graph.src[e] == u]


def score_gradient(graph, policy, edges):
    """∇_x log π(path) on per-edge logits: Σ_steps (1_e − π(·|u)), by loops."""
    g = np.zeros(graph.n_edges)
    for e in edges:
        g[e] += 1.0
        for f in node_edges(graph, graph.src[e]):
            g[f] -= policy[f]
    return g


def advantages(r, estimator, eps=1e-6):
    """GRPO (population std + ε), RLOO or REINFORCE advantages, written out."""
    r = np.asarray(r, dtype=float)
    n = r.size
    if estimator == "reinforce":
        return r
    if estimator == "rloo":
        return np.array([r[i] - (r.sum() - r[i]) / (n - 1) for i in range(n)])
    if np.all(r == r[0]):
        return np.zeros(n)
    return (r - r.mean()) / (r.std() + eps)


def copy_row(graph, rho, u, demo_edges, alpha):
    """T(·|u, d) for the per-node copy teacher: the demonstration's step at u (or none)."""
    es = node_edges(graph, u)
    took = [e for e in es if e in demo_edges]
    return {e: (1 - alpha) * rho[e] + (alpha if e in took else 0.0) for e in es} if took else {e: rho[e] for e in es}


def divergence_logit_grad(graph, policy, u, teacher, objective, lam=0.5):
    """∇ over the logits at node u of D(π_u, T_u), by the defining formulas (loops)."""
    es = node_edges(graph, u)
    p = np.array([policy[e] for e in es])
    t = np.array([teacher[e] for e in es])
    if objective == "reverse":
        d = np.log(p) - np.log(t)
    elif objective == "forward":
        # ∂KL(T‖π)/∂x = π − T, written as π ⊙ (d − Σπd) with d = −T/π.
        d = -t / p
    else:
        m = lam * t + (1 - lam) * p
        d = (1 - lam) * (np.log(p) - np.log(m))
    g = p * (d - np.dot(p, d))
    out = np.zeros(graph.n_edges)
    out[es] = g
    return out


def node_kl_grad(graph, policy, ref, u):
    es = node_edges(graph, u)
    p = np.array([policy[e] for e in es])
    q = np.array([ref[e] for e in es])
    d = np.log(p) - np.log(q)
    out = np.zeros(graph.n_edges)
    out[es] = p * (d - np.dot(p, d))
    return out
