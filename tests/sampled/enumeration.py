"""Exact expected updates of the sampled rules by brute-force enumeration (small K, N).

Every possible group of rollouts (all K^N of them) and every possible demonstration
assignment is listed with its probability; the rule's own deterministic kernel
(``group_direction``) is evaluated on all of them at once and averaged.  Independent
re-derivations of the trainers' formulas (``tests/sampled/test_presets.py``) are averaged
over the same lists.
"""

from itertools import product

import numpy as np

import modesim as ms


def groups(p, N):
    """All K^N groups (rows of an (E, N) int array) and their probabilities under ``p``."""
    K = len(p)
    y = np.array(list(product(range(K), repeat=N)), dtype=np.int64).reshape(-1, N)
    return y, np.prod(np.asarray(p)[y], axis=1)


def expected_rl(rule, task, log_policy=None):
    """``E[direction]`` of a SampledRL over every group (unbatched task)."""
    lp = task.log_base if log_policy is None else log_policy
    y, w = groups(np.exp(lp), rule.n_rollouts)
    big = ms.replicate(task, len(y))
    d, _ = rule.group_direction(np.broadcast_to(lp, (len(y), len(lp))).copy(), y, big)
    return w @ d


def sd_cases(rule, task, log_policy, teacher_log_base):
    """Every (rollouts, demonstrations) case of one SD step with its probability.

    Returns a dict with ``y`` (E, N), ``demos`` (E, N, 1), ``has`` (E, N), ``weight`` (E,)
    and ``rows`` (the kernel's optional distinct-demonstration rows, or None).  Only one
    demonstration per rollout (``teacher.n_demos == 1``).
    """
    p = np.exp(log_policy)
    N = rule.n_rollouts
    Y, W = groups(p, N)
    valid = np.asarray(task.valid)
    out = {"y": [], "demos": [], "has": [], "weight": [], "row_demos": [], "row_of": []}
    shared = rule.demo_sharing == "per_group"
    if isinstance(rule.demos, str):
        for y, w in zip(Y, W):
            if w == 0.0:
                continue
            correct = valid[y]
            if shared:
                demos, has, (rd, ro) = rule.shared_group_demos(y[None], correct[None])
                _add(out, y, demos[0], has[0], w, rd[0], ro[0])
                continue
            choices = []
            for n in range(N):
                elig = [j for j in range(N) if correct[j] and (j != n or not rule.exclude_self)]
                choices.append(elig or [None])
            for pick in product(*choices):
                prob = np.prod([1.0 / len(c) for c in choices])
                demos = np.array([[y[j] if j is not None else 0] for j in pick])
                has = np.array([j is not None for j in pick])
                _add(out, y, demos, has, w * prob, None, None)
    else:
        D = np.broadcast_to(rule.demos.distribution(teacher_log_base, task), p.shape)
        K = len(p)
        for y, w in zip(Y, W):
            if w == 0.0:
                continue
            if shared:
                for d in range(K):
                    if D[d] > 0:
                        _add(out, y, np.full((N, 1), d), np.ones(N, bool), w * D[d], np.array([[d]]), np.zeros(N, int))
            else:
                for ds in product(range(K), repeat=N):
                    prob = np.prod(D[list(ds)])
                    if prob > 0:
                        _add(out, y, np.array(ds)[:, None], np.ones(N, bool), w * prob, None, None)
    res = {k: np.array(v) for k, v in out.items() if k not in ("row_demos", "row_of")}
    res["rows"] = (np.array(out["row_demos"]), np.array(out["row_of"])) if out["row_demos"] and out["row_demos"][0] is not None else None
    return res


def _add(out, y, demos, has, w, rd, ro):
    out["y"].append(y)
    out["demos"].append(demos)
    out["has"].append(has)
    out["weight"].append(w)
    out["row_demos"].append(rd)
    out["row_of"].append(ro)


def expected_sd(rule, task, log_policy=None, teacher_log_base=None):
    """``E[direction]`` of a SampledSD over every group and demonstration (unbatched task)."""
    lp = task.log_base if log_policy is None else log_policy
    rho = lp if teacher_log_base is None else teacher_log_base
    c = sd_cases(rule, task, lp, rho)
    E = len(c["weight"])
    big = ms.replicate(task, E)
    K = len(lp)
    d, _ = rule.group_direction(np.broadcast_to(lp, (E, K)).copy(), np.broadcast_to(rho, (E, K)).copy(),
                                c["y"], c["demos"], c["has"], big, rows=c["rows"])
    return c["weight"] @ d, c
