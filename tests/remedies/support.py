"""Shared helpers of the remedies tests."""

from __future__ import annotations

import numpy as np

import modesim as ms


def random_task(rng, K=4, n_valid=3, floor=0.02):
    """A task with K modes, the first ``n_valid`` of a random permutation valid, entries ≥ ``floor``."""
    p = rng.dirichlet(np.ones(K))
    p = floor + (1 - K * floor) * p
    valid = np.zeros(K, dtype=bool)
    valid[rng.permutation(K)[:n_valid]] = True
    return ms.make_task(p / p.sum(), valid)
