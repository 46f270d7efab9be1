"""Blends of RL and self-distillation on path tasks (theory §10, §11).

:class:`PathBlend` runs GRPO (:class:`~modesim.paths.PathSampledRL`) and per-step
self-distillation (:class:`~modesim.paths.PathSampledSD`) on the **same** rollouts of a
round (both rules draw them from the state's keys, so they coincide) and combines them:

- ``combine="sum"``: direction ``λ_r·ĝ_RL + μ·ĝ_SD`` (a blend for μ > 0, anti-distillation
  for μ < 0): the gradient of ``λ_r·J − μ·L_SD`` (L_SD the per-step divergence loss at every
  visited node of every rollout, dense feedback), with one KL term ``β`` to the base;
- ``combine="sign"``: the per-step advantage ``A_{n,t} = sign(A^RL_n)·|log T(v_t|u_t, d_n) −
  log π(v_t|u_t)|`` on every step of every rollout, "the teacher sets the magnitude, the
  reward sets the direction" (the teacher is the per-step teacher on its base, ρ at nodes
  the demonstration does not visit and for a rollout without a demonstration).

The categorical remedies that need several demonstrations per rollout (the mixture of m
teachers, the contrastive teacher) or importance-weighted demonstration picks are not
available on paths: :class:`~modesim.paths.PathSampledSD` draws one demonstration per
rollout uniformly from the group and its path teachers read one demonstration.  The
forward-KL remedy is ``PathSampledSD(objective="forward")``.

Source: ours (theory §11).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .. import _checks as chk
from ..paths import PathCopyTeacher, PathSampledRL, PathSampledSD, as_bank
from ..paths.sampled import demo_step_records, node_kl_grad, step_records
from ..rule import EMA, State

__all__ = ["PathBlend"]

_COMBINE = ("sum", "sign")


@dataclass(frozen=True, eq=False)
class PathBlend:
    """GRPO and per-step self-distillation on shared rollouts: mixed or sign-gated (theory §11).

    Parameters
    ----------
    teacher : path teacher, default ``PathCopyTeacher(0.5)``
    reward_weight : float or array >= 0
        λ_r (``"sum"``).
    distill_weight : float or array (any sign)
        μ (``"sum"``).
    combine : {"sum", "sign"}
    objective : {"reverse", "forward", "jsd"}
        The SD part's per-step divergence (``"sum"``); ``"sign"`` uses the reverse-KL score.
    estimator : {"grpo", "rloo", "reinforce"}
        The RL advantage.
    beta : float or array >= 0
        KL to the base, once.
    teacher_base : {"current", "frozen"} or EMA, default ``EMA(0.95)``
    n_rollouts : int >= 2
    lr : float or array > 0
    eps : float or array > 0
    policy : "tabular" or FeaturePolicy
    seed : None, int >= 0 or numpy.random.Generator

    Capabilities: ``estimate`` (sampled; not deterministic, not memoryless).

    Raises
    ------
    ValueError
        Named arguments out of range; the inner rules' own errors.

    Examples
    --------
    >>> import modesim as ms
    >>> from modesim.remedies import PathBlend
    >>> from modesim.paths import ConceptGraph, FeaturePolicy, bank_success, graph_bank
    >>> bank = graph_bank(ConceptGraph(20), 8, seed=0)
    >>> rule = PathBlend(combine="sign", lr=0.5, policy=FeaturePolicy(), seed=0)
    >>> state = ms.iterate(rule, bank, 100, record_policy=False).final
    >>> bool(bank_success(state.policy, bank).mean() > bank_success(bank.base, bank).mean())
    True
    """

    teacher: object = field(default_factory=lambda: PathCopyTeacher(0.5))
    reward_weight: float = 0.5
    distill_weight: float = 0.5
    combine: str = "sum"
    objective: str = "reverse"
    estimator: str = "grpo"
    beta: float = 0.0
    teacher_base: object = field(default_factory=lambda: EMA(0.95))
    n_rollouts: int = 8
    lr: float = 0.1
    eps: float = 1e-6
    policy: object = "tabular"
    seed: object = None

    capabilities = frozenset({"estimate"})

    def __post_init__(self):
        chk.choice(self.combine, "combine", _COMBINE)
        object.__setattr__(self, "reward_weight",
                           chk.real(self.reward_weight, "reward_weight", low=0.0))
        object.__setattr__(self, "distill_weight", chk.real(self.distill_weight, "distill_weight"))
        object.__setattr__(self, "beta", chk.real(self.beta, "beta", low=0.0))
        object.__setattr__(self, "lr", chk.real(self.lr, "lr", low=0.0, low_open=True))
        shape = chk.param_shape(self.reward_weight, self.distill_weight, self.beta, self.lr, self.eps)
        # Both parts run without a KL term (it is added once, from the shared rollouts); a zero array
        # of the run's parameter shape makes the state (keys, EMA teacher, silent counters) as wide as
        # the whole parameter grid.
        zero = np.zeros(shape) if shape else 0.0
        rl = PathSampledRL(self.estimator, n_rollouts=self.n_rollouts, lr=1.0, beta=zero, eps=self.eps,
                           policy=self.policy, seed=self.seed)
        sd = PathSampledSD(self.teacher, objective=self.objective if self.combine == "sum" else "reverse",
                           beta=zero, teacher_base=self.teacher_base, n_rollouts=self.n_rollouts, lr=1.0,
                           policy=self.policy, seed=self.seed)
        object.__setattr__(self, "_rl", rl)
        object.__setattr__(self, "_sd", sd)
        object.__setattr__(self, "policy", sd.policy)

    @property
    def param_shape(self) -> tuple[int, ...]:
        return np.broadcast_shapes(self._sd.param_shape, self._rl.param_shape,
                                   chk.param_shape(self.reward_weight, self.distill_weight, self.lr))

    @property
    def ema_tau(self):
        return self._sd.ema_tau

    def init(self, task, *, offset=()) -> State:
        """Round 0 (the SD part's state: base or θ0, teacher base, keys, silent counters per graph)."""
        return self._sd.init(as_bank(task), offset=offset)   # as_bank: errors name the task, not the SD part

    def rollouts(self, state: State, task):
        """This round's rollouts (the same for both parts)."""
        return self._sd.rollouts(state, as_bank(task))

    def estimate(self, state: State, task) -> tuple[np.ndarray, np.ndarray]:
        """One stochastic update direction (``params ← params + lr·direction``) and silent groups (…, G)."""
        bank = as_bank(task)
        ro = self._sd.rollouts(state, bank)
        if self.combine == "sum":
            # The two parts' kernels on the same rollouts (paths.sampled's per-rule directions).
            pick, has = self._sd.demo_picks(state, bank, ro)
            d_rl, s_rl = self._rl._direction(state, bank, ro)
            d_sd, s_sd = self._sd._direction(state, bank, ro, pick, has)
            wr, wd = self._weights()
            with np.errstate(over="ignore", invalid="ignore"):   # huge weights: refused by the step check
                direction = wr * d_rl + wd * d_sd
            silent = s_rl & s_sd
        else:
            direction, silent = self._sign_direction(state, bank, ro)
        return direction - self._kl_direction(state, bank, ro), silent

    def _weights(self):
        def w(x):
            return chk.col(x) if isinstance(x, np.ndarray) else x
        return w(self.reward_weight), w(self.distill_weight)

    def _kl_direction(self, state, bank, ro):
        """``β·(1/N) Σ_n Σ_t ∇KL(π(·|u_t)‖π0(·|u_t))`` at the visited nodes, pulled back (or 0)."""
        beta = self.beta
        if not np.any(np.asarray(beta) != 0.0):
            return 0.0
        lp = state.log_policy
        batch = lp.shape[:-1]
        B = int(np.prod(batch, dtype=np.int64))
        g, E, n = bank.graph, bank.n_edges, bank.graph.n_nodes
        _, b, e = step_records(ro, B)
        u = g.src[e]
        visits = np.bincount(b * n + u, minlength=B * n).reshape(B, n) / self.n_rollouts
        lp2 = lp.reshape(B, E)
        ref = np.broadcast_to(bank.log_base, batch + (E,)).reshape(B, E)
        rows = np.broadcast_to(beta, batch).reshape(-1)[:, None] if isinstance(beta, np.ndarray) else beta
        kl = rows * node_kl_grad(g, lp2, np.exp(lp2), ref, visits)
        return self.policy.pull_back(kl.reshape(batch + (E,)), bank)

    def _sign_direction(self, state, bank, ro):
        lp = state.log_policy
        batch = lp.shape[:-1]
        B = int(np.prod(batch, dtype=np.int64))
        g, E, n = bank.graph, bank.n_edges, bank.graph.n_nodes
        N = self.n_rollouts
        pick, has = self._sd.demo_picks(state, bank, ro)
        A = self._rl.advantages(ro.valid.astype(np.float64), batch)      # (…, G, N)
        sign = np.sign(A).reshape(-1)
        w, b, e, u, de = demo_step_records(ro, g, B, N, pick)
        de = np.where(has.reshape(-1)[w], de, -1)
        lp2 = lp.reshape(B, E)
        pi = np.exp(lp2)
        rho = self._sd._teacher_rho(lp, state.teacher_log_base, bank)
        rho = np.broadcast_to(rho, lp.shape)
        counts = np.bincount(b, minlength=B)
        M = max(int(counts.max(initial=0)), 1)
        pos = np.arange(b.size) - np.repeat(np.cumsum(counts) - counts, counts)
        e_dense = np.zeros((B, M), dtype=np.int64)
        d_dense = np.full((B, M), -1, dtype=np.int64)
        e_dense[b, pos] = e
        d_dense[b, pos] = de
        lT = self._sd.teacher.edge_log_given(g, rho, e_dense.reshape(batch + (M,)),
                                             d_dense.reshape(batch + (M,))).reshape(B, M)[b, pos]
        if np.any(np.isneginf(lT)):
            raise ValueError(
                "the teacher gives zero probability to an edge the student takes: its log-ratio is "
                "infinite (allowed: teachers with T > 0 wherever π > 0)"
            )
        wgt = sign[w] * np.abs(lT - lp2[b, e]) / N
        ce = np.bincount(b * E + e, wgt, minlength=B * E).reshape(B, E)
        cu = np.bincount(b * n + u, wgt, minlength=B * n).reshape(B, n)
        direction = ce - pi * cu[:, g.src]
        out = self.policy.pull_back(direction.reshape(batch + (E,)), bank)
        return out, np.all(A == 0.0, axis=-1)

    def step(self, state: State, task) -> State:
        bank = as_bank(task)
        direction, silent = self.estimate(state, bank)
        lp, params = self.policy.apply(state.log_policy, state.params, direction, self.lr, bank)
        return self._sd._shell_advance(state, lp, bank, silent_groups=state.silent_groups + silent, params=params)
