"""Deprecated: ``modesim.envs`` was split into :mod:`modesim.paths` and :mod:`modesim.scenarios`.

Every name that ``modesim.envs`` exported still works for one release (until modesim 0.3):
accessing it warns with a :class:`DeprecationWarning` naming its new place, e.g.
``modesim.envs.PathNaturalPG`` → ``modesim.paths.PathNaturalPG`` and
``modesim.envs.sd_vs_rl`` → ``modesim.scenarios.sd_vs_rl``.  Nothing is imported until a
name is used.
"""

from __future__ import annotations

import importlib

from .._compat import deprecated

_SCENARIOS = ("BankComparison", "TokenEntropyExample", "bank_pass_at_k", "prompt_bank", "sd_vs_rl",
              "token_entropy_example")
_PATHS = (
    "ConceptGraph", "FixedPath", "LayeredDAG", "PATH_METRICS", "PathCopyTeacher", "PathEnumeration",
    "PathGraph", "PathKLRegularisedRL", "PathNaturalPG", "PathSelfDistillation", "PathTask",
    "Rollouts", "categorical_task", "count_paths", "edge_marginals", "enumerate_paths",
    "expected_distinct_concepts", "expected_distinct_paths", "harder", "most_probable_path",
    "node_marginals", "normalise_paths", "path_entropy", "path_kl_regularised_optimum",
    "path_pass_at_k", "path_sd_optimum", "path_task", "sample_paths", "success_probability",
    "token_entropy",
)
#: Old name -> the module that now holds it.
MOVED = {**{n: "modesim.paths" for n in _PATHS}, **{n: "modesim.scenarios" for n in _SCENARIOS}}

__all__ = sorted(MOVED)


def __getattr__(name: str):
    if name not in MOVED:
        raise AttributeError(f"module 'modesim.envs' has no attribute {name!r}")
    deprecated(f"modesim.envs.{name}", f"{MOVED[name]}.{name}")
    return getattr(importlib.import_module(MOVED[name]), name)


def __dir__():
    return __all__
