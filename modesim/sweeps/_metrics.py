"""Metrics recorded by a sweep: the built-ins of :func:`modesim.iterate`, pass@k and
distinct@k over a ``k`` axis, and the user's callables (theory §4)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from .. import _checks as chk
from ..dynamics import BUILTIN_METRICS
from ..metrics import log_failure, pass_at_k_from_log_failure

__all__ = ["PassAtK", "DistinctAtK", "K_METRICS", "DEFAULT_METRICS", "resolve", "functions"]

#: Metrics recorded when ``metrics`` is not given.
DEFAULT_METRICS = ("valid_mass", "effective_modes", "pass_at_k")


class PassAtK:
    """Exact pass@k ``1 − (1 − π(C))^k`` for each k (theory §4), shape ``batch + (n_k,)``."""

    def __init__(self, ks):
        self.ks = np.asarray(ks, dtype=np.float64)

    def __call__(self, p, task):
        return pass_at_k_from_log_failure(log_failure(p, task.valid), self.ks)


class DistinctAtK:
    """Expected distinct valid modes in k samples ``Σ_{y∈C} 1 − (1 − π(y))^k`` (theory §4)."""

    def __init__(self, ks):
        self.ks = np.asarray(ks, dtype=np.float64)

    def __call__(self, p, task):
        with np.errstate(divide="ignore"):
            lq = np.log1p(-np.clip(p, 0.0, 1.0))
        per_mode = np.clip(0.0 - np.expm1(self.ks * lq[..., None]), 0.0, 1.0)
        return np.where(task.valid[..., None], per_mode, 0.0).sum(axis=-2)


#: Metrics with a trailing ``k`` axis.
K_METRICS = {"pass_at_k": PassAtK, "distinct_at_k": DistinctAtK}


def resolve(metrics, k):
    """``(metrics, with_k, ks)``: name → a built-in's name or a callable(policy, task) (see
    :func:`functions`), the names that carry a ``k`` axis, and the k values (int64; empty
    when no metric needs them).

    Raises
    ------
    ValueError
        For an unknown name, a value that is neither a name nor a callable, or bad ``k``.
    """
    if metrics is None:
        metrics = DEFAULT_METRICS
    if isinstance(metrics, str):
        metrics = [metrics]
    if isinstance(metrics, (list, tuple)):
        if len(set(metrics)) != len(metrics):
            raise ValueError(f"metrics names a metric twice: {list(metrics)}")
        metrics = {name: name for name in metrics}
    if not isinstance(metrics, Mapping):
        raise ValueError(f"metrics must be a list of names or a mapping of names to callables; got {chk.describe(metrics)}")
    known = sorted(BUILTIN_METRICS) + sorted(K_METRICS)
    needs_k = any(isinstance(v, str) and v in K_METRICS for v in metrics.values())
    ks = np.zeros(0, dtype=np.int64)
    if needs_k:
        arr = chk.ks(k, "k")
        if arr.ndim != 1 or len(set(arr.tolist())) != arr.size:
            raise ValueError(f"k must be a list of distinct positive integers; got {chk.describe(k)}")
        ks = arr.astype(np.int64)
    fns, with_k = {}, set()
    for name, fn in metrics.items():
        if not isinstance(name, str) or not name:
            raise ValueError(f"metric names must be non-empty strings; got {name!r}")
        if isinstance(fn, str):
            if fn in K_METRICS:
                fns[name] = K_METRICS[fn](ks)
                with_k.add(name)
            elif fn in BUILTIN_METRICS:
                fns[name] = fn  # by name (resolved where the chunk runs; plans pickle without cloudpickle)
            else:
                raise ValueError(f"metrics names an unknown metric {fn!r}; known: {', '.join(known)} (or pass a callable (policy, task) -> array)")
        elif callable(fn):
            fns[name] = fn
        else:
            raise ValueError(f"metrics[{name!r}] must be a metric name or a callable (policy, task) -> array; got {chk.describe(fn)}")
    return fns, frozenset(with_k), ks


def functions(metrics: dict) -> dict:
    """Name → callable(policy, task), built-in names looked up in :data:`BUILTIN_METRICS`."""
    return {name: BUILTIN_METRICS[fn] if isinstance(fn, str) else fn for name, fn in metrics.items()}
