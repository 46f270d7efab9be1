"""Path environments: the controlled graph path-finding task (theory §5).

Build a DAG (:class:`PathGraph`) and a base policy (:func:`path_task`), or draw one
(:class:`LayeredDAG`, :class:`ConceptGraph`, with :func:`harder` and ``.larger()`` for the
out-of-distribution splits); run the core's rules on it (:class:`PathNaturalPG`,
:class:`PathKLRegularisedRL`, :class:`PathSelfDistillation`) with :func:`modesim.iterate`;
measure it exactly by dynamic programming (:func:`path_pass_at_k`,
:func:`expected_distinct_concepts`, :func:`token_entropy`, …) or from samples
(:func:`sample_paths`).

One module per job:

==================  ===================================================================
``graphs``          :class:`PathGraph`, :class:`PathTask`, :func:`path_task`
``dp``              the DP kernels (backward/forward passes, soft-Bellman normalisation),
                    batched over leading axes (theory §5.1)
``metrics``         exact sequence-level metrics (pass@k, entropies, distinct concepts)
``sampling``        sampled rollouts and unbiased estimators
``enumeration``     every rollout of a small graph; the bridge to the core's tasks
``teachers``        per-step path teachers (:class:`PathCopyTeacher`)
``demos``           demonstration laws on paths (:class:`ConditionedPaths`, …)
``rules``           RL and self-distillation rules on path policies (theory §5.2)
``generators``      seeded random graphs and the "larger"/"harder" splits
``banks``           :class:`GraphBank`: many graphs as one disjoint union, per-graph
                    metrics by DP, seeded banks and the experiment's splits (theory §10)
``features``        policy parametrisations: tabular logits, :class:`FeaturePolicy`
                    (log-linear over edge features, shared across graphs)
``sampled``         finite-sample training on paths: :class:`PathSampledRL` (GRPO, RLOO,
                    REINFORCE), :class:`PathSampledSD` (per-step teacher, dense feedback)
``testing``         hypothesis strategies for path tasks
==================  ===================================================================

>>> import modesim as ms
>>> from modesim import paths
>>> task = paths.harder(paths.LayeredDAG(n_layers=6, width=8, n_paths=4).build(seed=0))
>>> rl = ms.iterate(paths.PathNaturalPG(lr=1.0), task, 30).final.policy
>>> paths.path_pass_at_k(rl, task, [1, 16], ood="harder").round(3).tolist()
[0.335, 0.999]
"""

from .banks import (
    EDGE_FEATURES,
    SPLITS,
    GraphBank,
    as_bank,
    bank_distinct_concepts,
    bank_distinct_paths,
    bank_forward,
    bank_kl_optimum,
    bank_log_success,
    bank_metrics,
    bank_pass_at_k,
    bank_success,
    bank_token_entropy,
    graph_bank,
    graph_splits,
)
from .demos import ConditionedPaths, FixedPath, PathDemoSource, UniformPaths
from .dp import backward, edge_log_marginals, forward, log_success, normalise_nodes, normalise_paths
from .enumeration import PathEnumeration, categorical_task, enumerate_paths
from .features import DEFAULT_FEATURES, FeaturePolicy, TabularPolicy, normalise_nodes_rowwise
from .generators import ConceptGraph, LayeredDAG, harder
from .graphs import Layer, PathGraph, PathTask, path_task
from .metrics import (
    PATH_METRICS,
    count_paths,
    edge_marginals,
    expected_distinct_concepts,
    expected_distinct_paths,
    hit_probability,
    most_probable_path,
    node_marginals,
    path_entropy,
    path_pass_at_k,
    success_probability,
    token_entropy,
)
from .rules import (
    PathKLRegularisedRL,
    PathNaturalPG,
    PathSelfDistillation,
    path_kl_regularised_optimum,
    path_sd_optimum,
)
from .sampled import ExpectedUpdate, PathRollouts, PathSampledRL, PathSampledSD, sample_rollouts
from .sampling import Rollouts, sample_paths
from .teachers import PathCopyTeacher, PathTeacher

__all__ = [
    "DEFAULT_FEATURES",
    "ExpectedUpdate",
    "EDGE_FEATURES",
    "FeaturePolicy",
    "GraphBank",
    "PathRollouts",
    "PathSampledRL",
    "PathSampledSD",
    "SPLITS",
    "TabularPolicy",
    "as_bank",
    "bank_distinct_concepts",
    "bank_distinct_paths",
    "bank_forward",
    "bank_kl_optimum",
    "bank_log_success",
    "bank_metrics",
    "bank_pass_at_k",
    "bank_success",
    "bank_token_entropy",
    "graph_bank",
    "graph_splits",
    "normalise_nodes_rowwise",
    "sample_rollouts",
    "ConceptGraph",
    "ConditionedPaths",
    "FixedPath",
    "Layer",
    "LayeredDAG",
    "PATH_METRICS",
    "PathCopyTeacher",
    "PathDemoSource",
    "PathEnumeration",
    "PathGraph",
    "PathKLRegularisedRL",
    "PathNaturalPG",
    "PathSelfDistillation",
    "PathTask",
    "PathTeacher",
    "Rollouts",
    "UniformPaths",
    "backward",
    "categorical_task",
    "count_paths",
    "edge_log_marginals",
    "edge_marginals",
    "enumerate_paths",
    "expected_distinct_concepts",
    "expected_distinct_paths",
    "forward",
    "harder",
    "hit_probability",
    "log_success",
    "most_probable_path",
    "node_marginals",
    "normalise_nodes",
    "normalise_paths",
    "path_entropy",
    "path_kl_regularised_optimum",
    "path_pass_at_k",
    "path_sd_optimum",
    "path_task",
    "sample_paths",
    "success_probability",
    "token_entropy",
]
