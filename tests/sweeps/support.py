"""A stand-in sampled rule for the sweep tests (the real ones live in modesim.sampled).

:class:`NoisyPG` follows the sampled-rule contract the sweep engine relies on: a frozen
dataclass that is not ``deterministic``, with a ``seed`` field, whose round t draws from
``SeedSequence(seed, spawn_key=(t,))`` for the whole batch.  One step samples N rollouts
per batch entry and takes a REINFORCE step with a group-mean baseline on the logits.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from modesim import _checks as chk
from modesim.rule import State
from modesim.simplex import log_normalise


@dataclass(frozen=True)
class NoisyPG:
    lr: float = 0.5
    n_rollouts: int = 4
    seed: object = None

    capabilities = frozenset({"memoryless"})

    def __post_init__(self):
        object.__setattr__(self, "lr", chk.real(self.lr, "lr", low=0.0, low_open=True, allow_array=False))
        object.__setattr__(self, "n_rollouts", chk.integer(self.n_rollouts, "n_rollouts", low=2))
        object.__setattr__(self, "seed", chk.seed(self.seed))

    @property
    def param_shape(self):
        return ()

    def init(self, task):
        return State(np.array(task.log_base))

    def step(self, state, task):
        rng = np.random.default_rng(np.random.SeedSequence(self.seed, spawn_key=(state.round,)))
        lp = state.log_policy
        pi = np.exp(lp)
        cdf = np.cumsum(pi, axis=-1)
        cdf /= cdf[..., -1:]
        u = rng.random(lp.shape[:-1] + (self.n_rollouts,))
        y = np.minimum((cdf[..., None, :] <= u[..., None]).sum(-1), lp.shape[-1] - 1)
        r = np.take_along_axis(np.broadcast_to(task.valid, lp.shape), y, axis=-1).astype(np.float64)
        adv = r - r.mean(-1, keepdims=True)
        K = lp.shape[-1]
        onehot = (y[..., None] == np.arange(K)).astype(np.float64)
        grad = (adv[..., None] * (onehot - pi[..., None, :])).mean(-2)
        return state.advance(log_normalise(lp + self.lr * grad))
