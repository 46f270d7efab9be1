"""Shared pieces of the finite-sample tests: the R4 task and the Monte Carlo agreement check.

A Monte Carlo mean agrees with an exact expectation when every component is within
``Z_BOUND`` standard errors, the standard error estimated from the same samples
(``MC_ROWS`` independent groups).  Every use is paired with a deliberately biased
estimator on which the same check fails.
"""

import numpy as np

import modesim as ms

MC_ROWS = 100_000
Z_BOUND = 5.0

# theory §2.2 R4's example: three valid modes (0.3, 0.15, 0.05) and one invalid (0.5).
R4 = ms.make_task([0.3, 0.15, 0.05, 0.5], [True, True, True, False])


def mc_agrees(rule, task, exact, *, rows=MC_ROWS):
    """Monte Carlo mean of ``rule.estimate`` over ``rows`` independent groups vs ``exact``.

    Returns (agrees, largest |z|).
    """
    big = ms.replicate(task, rows)
    direction, _ = rule.estimate(rule.init(big), big)
    mean = direction.mean(axis=0)
    se = direction.std(axis=0, ddof=1) / np.sqrt(rows)
    z = np.abs(mean - exact) / np.maximum(se, 1e-15)
    return bool(np.all(z <= Z_BOUND)), float(z.max())


def exact_direction(rule, task):
    """The exact expected update direction: the mean field divided by the learning rate."""
    return rule.velocity(task.log_base, task) / rule.lr
