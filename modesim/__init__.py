"""modesim: exact simulation of what post-training does to the diversity of a policy.

Everything is a **policy** (an array ``(..., K)`` over modes), a **task** (base policy
``π0`` and valid mask ``C``) and a **rule** mapping one policy to the next.  The
KL-regularised RL optimum preserves probability ratios among equally correct modes;
on-policy self-distillation with sampled demonstrations amplifies them.  The
mathematics is in ``docs/theory.md`` (cited as "theory §…" throughout).

>>> import modesim as ms
>>> task = ms.make_task([0.6, 0.3, 0.1])
>>> ms.sd_optimum(task, teacher=ms.CopyTeacher(0.5)).round(3).tolist()
[0.646, 0.278, 0.076]

``import modesim`` loads only numpy and the core; the submodules ``plot``, ``figures``,
``paths``, ``sampled``, ``scenarios``, ``sweeps``, ``rollouts``, ``theorems``, ``symbolic``,
``testing``, ``bias_teachers``, ``kl_strength`` and ``remedies`` (and the names they export
here) load on first use.
"""

from __future__ import annotations

import importlib

from .demos import ConditionedDemos, DemoSource, ExplicitDemos, FixedDemo, UniformDemos
from .distill import SelfDistillation, jsd_divergence, jsd_score, sd_optimum, sd_target
from .dynamics import BUILTIN_METRICS, Trajectory, flow, iterate, rounds_to_collapse
from .metrics import (
    amplification_exponent,
    conditional,
    effective_modes,
    entropy,
    expected_distinct,
    kl_divergence,
    kl_to_rl_target,
    pass_at_k,
    pass_at_k_unbiased,
    ratio_table,
    renyi_entropy,
    simpson_index,
)
from .rl import KLRegularisedRL, NaturalPG, SoftmaxPG, filter_limit, kl_regularised_optimum
from .rule import CAPABILITIES, EMA, Rule, State, apply_map, capabilities, require
from .stability import FixedPoint, fixed_points, flow_jacobian, map_jacobian, tangent_basis
from .task import Task, dirichlet_task, make_task, two_strategy_task, zipf_task
from .teachers import CopyTeacher, MatrixTeacher, MultiDemoTeacher, Teacher, TiltTeacher

__version__ = "0.2.0"

#: Names exported here but defined in submodules that load on first use.
_LAZY = {
    "SampledRL": "modesim.sampled",
    "SampledSD": "modesim.sampled",
    "sample_modes": "modesim.sampled",
    "replicate": "modesim.sampled",
    "train": "modesim.sampled",
    "mean_field_distance": "modesim.sampled",
    "fixation_probability": "modesim.metrics",
    "collapse_times": "modesim.metrics",
    "fan": "modesim.metrics",
    "Fan": "modesim.metrics",
    "sweep": "modesim.sweeps",
    "load_sweep": "modesim.sweeps",
    "rollout_bank": "modesim.rollouts",
    "PowerCopyTeacher": "modesim.bias_teachers",
    "critical_kl_strength": "modesim.kl_strength",
    "uniform_instability_threshold": "modesim.kl_strength",
    "collapsed_rest_point": "modesim.kl_strength",
    "collapse_depth": "modesim.kl_strength",
    "two_mode_rest_point": "modesim.kl_strength",
    "collapse_regime": "modesim.kl_strength",
    "show_versions": "modesim._versions",
}
_SUBMODULES = (
    "plot", "figures", "paths", "sampled", "scenarios", "sweeps", "theorems", "symbolic",
    "testing", "cli", "rollouts", "bias_teachers", "kl_strength", "remedies",
)
#: Deprecated names (kept for one release): name -> (module, attribute, replacement).
_DEPRECATED = {
    "two_mode_task": ("modesim.task", "two_strategy_task", "modesim.two_strategy_task"),
    "mean_field": ("modesim.sampled", "mean_field", "modesim.flow(rule, task, t_eval)"),
    "envs": ("modesim.envs", None, "modesim.paths and modesim.scenarios"),
    "stochastic": ("modesim.stochastic", None, "modesim.sampled"),
}


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
    elif name in _SUBMODULES:
        value = importlib.import_module(f"modesim.{name}")
    elif name in _DEPRECATED:
        from ._compat import deprecated

        module, attr, new = _DEPRECATED[name]
        deprecated(f"modesim.{name}", new)
        mod = importlib.import_module(module)
        return mod if attr is None else getattr(mod, attr)
    else:
        raise AttributeError(f"module 'modesim' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY) | set(_SUBMODULES))


__all__ = [
    "BUILTIN_METRICS",
    "CAPABILITIES",
    "ConditionedDemos",
    "CopyTeacher",
    "DemoSource",
    "EMA",
    "ExplicitDemos",
    "Fan",
    "FixedDemo",
    "FixedPoint",
    "KLRegularisedRL",
    "MatrixTeacher",
    "MultiDemoTeacher",
    "NaturalPG",
    "PowerCopyTeacher",
    "Rule",
    "SampledRL",
    "SampledSD",
    "SelfDistillation",
    "SoftmaxPG",
    "State",
    "Task",
    "Teacher",
    "TiltTeacher",
    "Trajectory",
    "UniformDemos",
    "amplification_exponent",
    "apply_map",
    "capabilities",
    "collapse_depth",
    "collapse_regime",
    "collapse_times",
    "collapsed_rest_point",
    "conditional",
    "critical_kl_strength",
    "dirichlet_task",
    "effective_modes",
    "entropy",
    "expected_distinct",
    "fan",
    "filter_limit",
    "fixation_probability",
    "fixed_points",
    "flow",
    "flow_jacobian",
    "iterate",
    "jsd_divergence",
    "jsd_score",
    "kl_divergence",
    "kl_regularised_optimum",
    "kl_to_rl_target",
    "load_sweep",
    "make_task",
    "map_jacobian",
    "mean_field_distance",
    "pass_at_k",
    "pass_at_k_unbiased",
    "ratio_table",
    "renyi_entropy",
    "replicate",
    "require",
    "rollout_bank",
    "rounds_to_collapse",
    "sample_modes",
    "sd_optimum",
    "sd_target",
    "show_versions",
    "simpson_index",
    "sweep",
    "tangent_basis",
    "train",
    "two_mode_rest_point",
    "two_strategy_task",
    "uniform_instability_threshold",
    "zipf_task",
]
