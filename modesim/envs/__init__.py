"""Environments: the controlled graph path-finding task (MATH §5).

Build a DAG (:class:`PathGraph`) and a base policy (:func:`path_task`), or draw one
(:class:`LayeredDAG`, :class:`ConceptGraph`, with :func:`harder` and ``.larger()`` for the
out-of-distribution splits); run the core's rules on it (:class:`PathNaturalPG`,
:class:`PathKLRegularisedRL`, :class:`PathSelfDistillation`) with :func:`modesim.iterate`;
measure it exactly by dynamic programming (:func:`path_pass_at_k`,
:func:`expected_distinct_concepts`, :func:`token_entropy`, …) or from samples
(:func:`sample_paths`).
"""

from .banks import BankComparison, bank_pass_at_k, prompt_bank, sd_vs_rl
from .examples import TokenEntropyExample, token_entropy_example
from .generators import ConceptGraph, LayeredDAG, harder
from .graphs import PathGraph, PathTask, path_task
from .paths import (
    PATH_METRICS,
    PathEnumeration,
    Rollouts,
    categorical_task,
    count_paths,
    edge_marginals,
    enumerate_paths,
    expected_distinct_concepts,
    expected_distinct_paths,
    most_probable_path,
    node_marginals,
    path_entropy,
    path_pass_at_k,
    sample_paths,
    success_probability,
    token_entropy,
)
from .rules import (
    FixedPath,
    PathCopyTeacher,
    PathKLRegularisedRL,
    PathNaturalPG,
    PathSelfDistillation,
    demo_marginals,
    normalise_paths,
    path_kl_regularised_optimum,
    path_sd_optimum,
)

__all__ = [
    "BankComparison",
    "bank_pass_at_k",
    "prompt_bank",
    "sd_vs_rl",
    "ConceptGraph",
    "FixedPath",
    "LayeredDAG",
    "PATH_METRICS",
    "PathCopyTeacher",
    "PathEnumeration",
    "PathGraph",
    "PathKLRegularisedRL",
    "PathNaturalPG",
    "PathSelfDistillation",
    "PathTask",
    "Rollouts",
    "TokenEntropyExample",
    "categorical_task",
    "count_paths",
    "demo_marginals",
    "edge_marginals",
    "enumerate_paths",
    "expected_distinct_concepts",
    "expected_distinct_paths",
    "harder",
    "most_probable_path",
    "node_marginals",
    "normalise_paths",
    "path_entropy",
    "path_kl_regularised_optimum",
    "path_pass_at_k",
    "path_sd_optimum",
    "path_task",
    "sample_paths",
    "success_probability",
    "token_entropy",
    "token_entropy_example",
]
