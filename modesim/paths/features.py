"""Policy parametrisations on path graphs: tabular logits, and log-linear feature policies that transfer (theory §10).

A path policy is a next-step distribution ``π(v|u)`` at every node.  The exact path rules
(:mod:`modesim.paths.rules`) move one free logit per edge: a **tabular** policy, which is
tied to its graph.  The paper's "larger graphs" split needs a policy whose parameters are
shared across graphs, so that a model trained on one bank can be run on another without
refitting.  :class:`FeaturePolicy` is the log-linear next-concept policy

    π_θ(v|u) = exp(θ·φ(u, v)) / Σ_{v'} exp(θ·φ(u, v')),

over edge features ``φ`` defined for a graph of any size (:data:`~modesim.paths.EDGE_FEATURES`:
the base model's own log-probability, the depth gained by a step, the candidate's degree,
…; never the distance to the goal).  With ``θ0`` = 1 on ``"log_base"`` and 0 elsewhere it
*is* the base policy.  Its gradient is the tabular one pulled back through the features,
``∂/∂θ = Φᵀ ∂/∂x`` with ``x = Φθ`` the per-edge logits (the per-node softmax is the same).

Both parametrisations have the same small interface, used by the sampled path rules
(:mod:`modesim.paths.sampled`): ``init(bank, batch)``, ``pull_back(g, bank)``,
``apply(log_policy, params, direction, lr, bank)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import _checks as chk
from .dp import NORMALISE_LOG, local_policy, shifted_parts

__all__ = ["TabularPolicy", "FeaturePolicy", "DEFAULT_FEATURES", "normalise_nodes_rowwise", "as_policy"]

#: Features of the experiment's feature policy (theory §10).
DEFAULT_FEATURES = ("log_base", "step", "log_degree")


def normalise_nodes_rowwise(graph, x: np.ndarray) -> np.ndarray:
    """Per-node softmax of per-edge logits, deciding the shift **per batch row** (theory §10.6).

    ``x(e) − log Σ_{e' out of src(e)} exp x(e')``, as :func:`~modesim.paths.normalise_nodes`,
    except that whether a row needs the shifted (slow) computation is decided from that row
    alone: each row's result depends on that row only, so a run is bit-identical however its
    seeds are split into chunks (:mod:`modesim.sampled.sampling`, point 2).  A node whose
    logits are all ``−inf`` becomes uniform.  Output ``≤ 0``, shape ``x.shape``.  A kernel:
    ``x`` (..., E) is not validated and nothing is raised.
    """
    x = np.asarray(x, dtype=np.float64)
    if graph.n_edges == 0:
        return x.copy()
    offsets, lengths = graph.out_offsets, graph.out_lengths
    with np.errstate(over="ignore", under="ignore", divide="ignore", invalid="ignore"):
        s = np.add.reduceat(np.exp(x), offsets, axis=-1)
        ls = np.log(s)
        fine = np.abs(ls) <= NORMALISE_LOG
        tiny = (x < -700.0) & (x > -np.inf)
        empty_ok = np.isneginf(ls) & ~np.any(tiny, axis=-1, keepdims=True)
        ok = np.all(fine | empty_ok, axis=-1)
        out = local_policy(x, ls, lengths)
        if not np.all(ok):
            bad = ~ok
            _, ls_b, y_b = shifted_parts(x[bad], offsets, lengths)
            out[bad] = local_policy(y_b, ls_b, lengths)
    return np.minimum(out, 0.0, out=out)


@dataclass(frozen=True)
class TabularPolicy:
    """One free logit per edge of every graph (theory §5): the policy of the exact path rules.

    The state's ``log_policy`` is the parameter: a step ``x ← log π + lr·g`` is followed by
    the per-node softmax.  Each graph's logits move by its own group's update (as
    :class:`~modesim.SampledRL` on a batch of prompts).  Nothing transfers to another graph.
    """

    n_params = None

    def init(self, bank, batch: tuple[int, ...]):
        """``(log_policy, params)`` at round 0: the bank's base, no separate parameters."""
        return np.broadcast_to(bank.log_base, tuple(batch) + (bank.n_edges,)), None

    def pull_back(self, g: np.ndarray, bank) -> np.ndarray:
        """The parameter direction of a logit direction ``g`` (…, E): ``g`` itself."""
        return g

    def apply(self, log_policy, params, direction, lr, bank):
        """One SGD step ``normalise(log π + lr·direction)``; returns ``(log_policy, None)``.

        Raises ``ValueError`` when ``lr·direction`` overflows (the step is too large).
        """
        with np.errstate(over="ignore", invalid="ignore"):
            x = direction * chk.col(lr)
            x += log_policy
        if np.any(np.isnan(x) | np.isposinf(x)):
            raise _too_large(lr)
        return normalise_nodes_rowwise(bank.graph, x), None

    def log_policy(self, params, bank, log_policy=None):
        """The per-edge log-policy of ``params`` (tabular: the log-policy itself)."""
        return log_policy


@dataclass(frozen=True)
class FeaturePolicy:
    """Log-linear next-concept policy ``π_θ(v|u) ∝ exp(θ·φ(u, v))`` shared by every graph (theory §10).

    Parameters
    ----------
    features : tuple of str
        Names of edge features of the bank (:data:`~modesim.paths.EDGE_FEATURES`, or added
        with :meth:`GraphBank.with_features`); default ``("log_base", "step", "log_degree")``.
    theta0 : sequence of float, optional
        Initial weights, one per feature; default 1 on ``"log_base"`` and 0 elsewhere (the
        base policy itself), or 0 everywhere (uniform) when ``"log_base"`` is not used.

    Raises
    ------
    ValueError
        ``features`` not a non-empty tuple (or list) of distinct strings; ``theta0`` not
        finite reals, one per feature.  :meth:`matrix` (so every use on a bank): a feature
        the bank does not have.  :meth:`apply`: a step whose θ or logits overflow.

    Notes
    -----
    The gradient of any per-edge-logit objective ``L(x)`` with ``x = Φθ`` is ``Φᵀ ∂L/∂x``;
    a bank's update is the mean over its G graphs, ``(1/G) Σ_g Φ_gᵀ g_g`` (the loss averaged
    over prompts, as trainers average over a batch).  An EMA of θ is an EMA of the
    per-edge logits renormalised at every node (the logits are linear in θ), which is what
    :class:`~modesim.rule.SDShell` does with a teacher's per-edge log-policy.

    Source: log-linear (softmax over features) policies as in Williams (1992) and Sutton
    et al. (2000); the feature set is ours (theory §10).

    Examples
    --------
    >>> import numpy as np
    >>> from modesim.paths import ConceptGraph, FeaturePolicy, graph_bank
    >>> bank = graph_bank(ConceptGraph(12), 2, seed=0)
    >>> pol = FeaturePolicy()
    >>> theta = pol.theta_init()
    >>> bool(np.allclose(pol.log_policy(theta, bank), bank.log_base))
    True
    """

    features: tuple = DEFAULT_FEATURES
    theta0: tuple | None = None

    def __post_init__(self):
        feats = self.features
        if isinstance(feats, str) or not isinstance(feats, (tuple, list)) or not feats \
                or not all(isinstance(f, str) for f in feats) or len(set(feats)) != len(feats):
            raise ValueError(f"features must be a non-empty tuple of distinct feature names; got {chk.describe(feats)}")
        object.__setattr__(self, "features", tuple(feats))
        if self.theta0 is None:
            theta = np.array([1.0 if f == "log_base" else 0.0 for f in feats])
        else:
            theta = chk.real(self.theta0, "theta0")
            if np.ndim(theta) != 1 or np.size(theta) != len(feats):
                raise ValueError(f"theta0 must have one weight per feature ({len(feats)}); got {chk.describe(self.theta0)}")
        theta = np.array(theta, dtype=np.float64)
        theta.flags.writeable = False
        object.__setattr__(self, "_theta0", theta)

    @property
    def n_params(self) -> int:
        """Number of weights F."""
        return len(self.features)

    def theta_init(self) -> np.ndarray:
        """The initial weights θ0, shape (F,)."""
        return self._theta0

    def matrix(self, bank) -> np.ndarray:
        """The feature matrix Φ of a bank, shape (E, F) (cached per bank).

        Raises
        ------
        ValueError
            Naming a feature the bank does not have.
        """
        cache = bank.__dict__.setdefault("_phi_cache", {})
        phi = cache.get(self.features)
        if phi is None:
            phi = np.stack([bank.feature(f) for f in self.features], axis=1)
            phi.flags.writeable = False
            cache[self.features] = phi
        return phi

    def logits(self, theta: np.ndarray, bank) -> np.ndarray:
        """Per-edge logits ``x = Φθ`` for weights θ (…, F): shape (…, E).

        Summed feature by feature in a fixed order, so each row depends on its own θ only.
        """
        phi = self.matrix(bank)
        theta = np.asarray(theta, dtype=np.float64)
        x = theta[..., 0, None] * phi[:, 0]
        for f in range(1, phi.shape[1]):
            x += theta[..., f, None] * phi[:, f]
        return x

    def log_policy(self, theta, bank, log_policy=None) -> np.ndarray:
        """The per-edge log-policy ``log π_θ(v|u)`` on any bank (…, E): transfer without refitting."""
        return normalise_nodes_rowwise(bank.graph, self.logits(theta, bank))

    def init(self, bank, batch: tuple[int, ...]):
        """``(log_policy, θ)`` at round 0, θ broadcast to ``batch + (F,)``."""
        theta = np.broadcast_to(self._theta0, tuple(batch) + (self.n_params,))
        return self.log_policy(theta, bank), theta

    def pull_back(self, g: np.ndarray, bank) -> np.ndarray:
        """``(1/G)·Φᵀ g``: the θ direction of a per-edge logit direction ``g`` (…, E) → (…, F).

        Each component is one reduction over the edges of a row (pairwise summation along
        the last axis), so rows do not interact.
        """
        phi = self.matrix(bank)
        out = np.empty(g.shape[:-1] + (phi.shape[1],))
        for f in range(phi.shape[1]):
            out[..., f] = np.add.reduce(g * phi[:, f], axis=-1)
        out /= bank.n_graphs
        return out

    def apply(self, log_policy, params, direction, lr, bank):
        """One SGD step on θ, ``θ ← θ + lr·direction``; returns ``(log_policy, θ)``.

        Raises ``ValueError`` when θ or the logits ``Φθ`` overflow (the step is too large).
        """
        with np.errstate(over="ignore", invalid="ignore"):
            theta = direction * chk.col(lr)
            theta += params
            x = self.logits(theta, bank)
        if not (np.all(np.isfinite(theta)) and np.all(np.isfinite(x))):
            raise _too_large(lr)
        return normalise_nodes_rowwise(bank.graph, x), theta


def _too_large(lr) -> ValueError:
    return ValueError(
        f"the step is too large: lr·direction overflows the float range (lr={chk.describe(lr)}); "
        "allowed: learning rates whose steps keep the logits finite"
    )


def as_policy(policy):
    """``"tabular"`` → :class:`TabularPolicy`; a parametrisation unchanged.

    Raises
    ------
    ValueError
        For anything else.
    """
    if isinstance(policy, str) and policy == "tabular":
        return TabularPolicy()
    if isinstance(policy, (TabularPolicy, FeaturePolicy)):
        return policy
    raise ValueError(f"policy must be 'tabular' or a FeaturePolicy(...); got {chk.describe(policy)}")
