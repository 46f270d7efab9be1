"""modesim: exact simulation of what post-training does to the diversity of a policy.

Everything is a **policy** (an array ``(..., K)`` over modes), a **task** (base policy
``π0`` and valid mask ``C``) and a **rule** mapping one policy to the next.  The
KL-regularised RL optimum preserves probability ratios among equally correct modes;
on-policy self-distillation with sampled demonstrations amplifies them.  See MATH.md.

>>> import modesim as ms
>>> task = ms.make_task([0.6, 0.3, 0.1])
>>> ms.sd_optimum(task, teacher=ms.CopyTeacher(0.5)).round(3).tolist()
[0.646, 0.278, 0.076]
"""

from .distill import EMA, SelfDistillation, sd_optimum, sd_target
from .dynamics import (
    BUILTIN_METRICS,
    FixedPoint,
    Trajectory,
    fixed_points,
    flow,
    flow_jacobian,
    iterate,
    map_jacobian,
    rounds_to_collapse,
    tangent_basis,
)
from .metrics import (
    amplification_exponent,
    conditional,
    effective_modes,
    entropy,
    expected_distinct,
    kl_to_rl_target,
    pass_at_k,
    pass_at_k_unbiased,
    ratio_table,
    renyi_entropy,
    simpson_index,
)
from .rl import KLRegularisedRL, NaturalPG, SoftmaxPG, filter_limit, kl_regularised_optimum
from .rule import Rule, State, apply_map
from .stochastic import (
    Fan,
    SampledRL,
    SampledSD,
    collapse_times,
    fan,
    fixation_probability,
    mean_field,
    mean_field_distance,
    replicate,
    sample_modes,
    train,
)
from .task import Task, dirichlet_task, make_task, two_mode_task, zipf_task
from .teachers import (
    ConditionedDemos,
    CopyTeacher,
    ExplicitDemos,
    FixedDemo,
    MatrixTeacher,
    MultiDemoTeacher,
    TiltTeacher,
    UniformDemos,
)

__version__ = "0.1.0"

__all__ = [
    "train",
    "sample_modes",
    "replicate",
    "mean_field_distance",
    "mean_field",
    "fixation_probability",
    "fan",
    "collapse_times",
    "SampledSD",
    "SampledRL",
    "Fan",
    "BUILTIN_METRICS",
    "ConditionedDemos",
    "CopyTeacher",
    "EMA",
    "ExplicitDemos",
    "FixedDemo",
    "FixedPoint",
    "KLRegularisedRL",
    "MatrixTeacher",
    "MultiDemoTeacher",
    "NaturalPG",
    "Rule",
    "SelfDistillation",
    "SoftmaxPG",
    "State",
    "Task",
    "TiltTeacher",
    "Trajectory",
    "UniformDemos",
    "amplification_exponent",
    "apply_map",
    "conditional",
    "dirichlet_task",
    "effective_modes",
    "entropy",
    "expected_distinct",
    "filter_limit",
    "fixed_points",
    "flow",
    "flow_jacobian",
    "iterate",
    "kl_regularised_optimum",
    "kl_to_rl_target",
    "make_task",
    "map_jacobian",
    "pass_at_k",
    "pass_at_k_unbiased",
    "ratio_table",
    "renyi_entropy",
    "rounds_to_collapse",
    "sd_optimum",
    "sd_target",
    "simpson_index",
    "tangent_basis",
    "two_mode_task",
    "zipf_task",
]
