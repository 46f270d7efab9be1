"""Public trainers' defaults as one-line presets of the sampled rules (theory §8.2).

``SampledRL.preset("trl")`` is GRPO as TRL's ``GRPOTrainer`` runs it by default, on a
tabular softmax policy; ``SampledSD.preset("sdpo")`` is self-distillation as the SDPO
authors' trainer runs it.  Any field can be overridden: ``SampledRL.preset("trl", beta=0.04,
lr=0.05, seed=0)``.  Each preset follows one commit of the trainer's public code, named
below with the files read; :func:`describe` prints a preset's settings.

What a preset does **not** carry:

- the learning rate (``lr`` keeps the rule's default): the trainers' rates (1e-6 to 2e-4)
  apply to network weights, not to the logits of a tabular policy; with Adam, ``lr`` is
  about the largest logit change per step;
- the teacher model (``teacher`` keeps :class:`~modesim.CopyTeacher` (0.5)): how a model
  conditioned on a demonstration changes is modesim's modelling choice (theory §3.3, §8.3);
- what is moot on categorical modes or on-policy: PPO clipping and importance ratios (ratio
  1 with one update per batch), token-level versus sequence-level averaging (one token per
  rollout), sampling temperature 1, top-k/top-p, learning-rate schedules, micro-batching;
- the coupling of prompts through a global gradient norm (clipping is per entry,
  :mod:`modesim.sampled.optim`) and through batch-wide token counts (the SDPO loss is
  normalised per group; with one prompt per batch the two agree).

=============  ==========================================================================
preset         follows
=============  ==========================================================================
``"trl"``      huggingface/trl f2cd577 (v1.10.0.dev0), ``GRPOTrainer`` with ``GRPOConfig``
               defaults
``"verl"``     volcengine/verl b178a3c (v0.8.0.dev), GRPO as ``docs/algo/grpo.md`` and
               ``examples/grpo_trainer/run_qwen3-8b.sh`` configure it
``"sdpo"``     lasgroup/SDPO 0e6d510 (the SDPO authors' verl fork), ``verl/trainer/config/
               sdpo.yaml`` over ``actor.yaml``'s ``self_distillation`` defaults
``"trl-sdpo"`` huggingface/trl f2cd577, ``trl.experimental.sdpo.SDPOTrainer`` defaults
``"opsd"``     siyan-zhao/OPSD 590ec26 (the OPSD authors' code), ``scripts/run_opsd.sh``
=============  ==========================================================================

>>> import modesim as ms
>>> rule = ms.SampledRL.preset("trl", seed=0)
>>> rule.std, rule.eps, rule.kl_estimator, type(rule.optimiser).__name__
('bessel', 0.0001, 'k3', 'Adam')
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from types import MappingProxyType

from .. import _checks as chk
from ..demos import ConditionedDemos
from ..rule import EMA
from .optim import Adam

__all__ = ["Preset", "PRESETS", "RL_PRESETS", "SD_PRESETS", "make", "describe"]


@dataclass(frozen=True)
class Preset:
    """A public trainer's defaults: the rule's settings, the source they come from, and why.

    Attributes
    ----------
    name : str
    rule : str
        ``"SampledRL"`` or ``"SampledSD"``.
    trainer : str
        The trainer and its version.
    source : str
        Repository and commit.
    files : tuple of str
        The files whose code and configuration the settings were read from.
    settings : mapping (read-only)
        Keyword arguments of the rule.
    rows : tuple of (str, str)
        ``(trainer setting and its default, modesim setting)``: how each default is reproduced.
    """

    name: str
    rule: str
    trainer: str
    source: str
    files: tuple
    settings: dict
    rows: tuple

    def __post_init__(self):
        object.__setattr__(self, "settings", MappingProxyType(dict(self.settings)))


_TORCH_ADAM = "AdamW β=(0.9, 0.999), ε=1e-8"

PRESETS: dict[str, Preset] = {
    "trl": Preset(
        "trl", "SampledRL", "TRL GRPOTrainer (v1.10.0.dev0)", "huggingface/trl@f2cd57710ae345ea6428ae95363267fcf38a3dc8",
        ("trl/trainer/grpo_config.py", "trl/trainer/grpo_trainer.py", "trl/trainer/utils.py (nanstd)"),
        {"estimator": "grpo", "n_rollouts": 8, "std": "bessel", "eps": 1e-4, "reward_scale": "group",
         "beta": 0.0, "kl_estimator": "k3", "optimiser": Adam(0.9, 0.999, 1e-8, 0.0, max_grad_norm=1.0)},
        (
            ("num_generations = 8", "n_rollouts=8"),
            ("advantages (r − group mean)/(nanstd + 1e-4); nanstd is Bessel-corrected", "std='bessel', eps=1e-4"),
            ("scale_rewards = 'group'", "reward_scale='group'"),
            ("beta = 0.0 (no reference model)", "beta=0.0"),
            ("per-token KL exp(ref − logp) − (ref − logp) − 1 when beta > 0; use_bias_correction_kl = False",
             "kl_estimator='k3' (its gradient is ∇KL(π0‖π))"),
            ("loss_type = 'dapo': sum over tokens / tokens in the batch; num_iterations = 1 (ratio 1)",
             "mean over the N rollouts (one token each)"),
            (f"optimizer {_TORCH_ADAM}, weight_decay = 0.0, max_grad_norm = 1.0 (TrainingArguments)",
             "Adam(0.9, 0.999, 1e-8, weight_decay=0.0, max_grad_norm=1.0)"),
        ),
    ),
    "verl": Preset(
        "verl", "SampledRL", "verl GRPO (v0.8.0.dev)", "volcengine/verl@b178a3cd56f58b2d502255daba591e92833930a7",
        ("verl/trainer/ppo/core_algos.py (compute_grpo_outcome_advantage, kl_penalty, kl_penalty_forward, agg_loss)",
         "verl/trainer/config/actor/actor.yaml", "verl/trainer/config/optim/fsdp.yaml",
         "verl/workers/config/optimizer.py", "docs/algo/grpo.md", "examples/grpo_trainer/run_qwen3-8b.sh"),
        {"estimator": "grpo", "n_rollouts": 5, "std": "bessel", "eps": 1e-6, "reward_scale": "group",
         "beta": 0.001, "kl_estimator": "k3_clamped",
         "optimiser": Adam(0.9, 0.999, 1e-8, weight_decay=0.01, max_grad_norm=1.0)},
        (
            ("actor_rollout_ref.rollout.n = 5 (run_qwen3-8b.sh; GRPO needs n > 1)", "n_rollouts=5"),
            ("(score − mean)/(torch.std + epsilon), epsilon = 1e-6, norm_adv_by_std_in_grpo = True",
             "std='bessel', eps=1e-6, reward_scale='group'"),
            ("use_kl_loss = True, kl_loss_coef = 0.001 (docs/algo/grpo.md: 'Please set it to True for GRPO')",
             "beta=0.001"),
            ("kl_loss_type = 'low_var_kl': k3 with x clamped to [−20, 20] and k3 to [−10, 10]",
             "kl_estimator='k3_clamped'"),
            ("loss_agg_mode = 'token-mean'", "mean over the N rollouts"),
            (f"optim {_TORCH_ADAM}, weight_decay = 0.01, clip_grad = 1.0, lr schedule constant",
             "Adam(0.9, 0.999, 1e-8, weight_decay=0.01, max_grad_norm=1.0)"),
        ),
    ),
    "sdpo": Preset(
        "sdpo", "SampledSD", "SDPO (lasgroup/SDPO, verl fork)", "lasgroup/SDPO@0e6d5106abe69f578c63bf38a9394e22905c8773",
        ("verl/trainer/config/sdpo.yaml", "verl/trainer/config/actor/actor.yaml (self_distillation)",
         "verl/trainer/ppo/core_algos.py (compute_self_distillation_loss, agg_loss)",
         "verl/trainer/ppo/ray_trainer.py (_get_solution, _maybe_build_self_distillation_batch)",
         "verl/workers/actor/dp_actor.py (_update_teacher)"),
        {"demos": "group", "exclude_self": True, "demo_sharing": "per_group", "loss_normalisation": "demonstrated",
         "objective": "jsd", "jsd_weight": 0.5, "estimator": "full", "teacher_base": EMA(0.95), "beta": 0.0,
         "n_rollouts": 8, "optimiser": Adam(0.9, 0.999, 1e-8, weight_decay=0.01, max_grad_norm=1.0)},
        (
            ("rollout.n = 8", "n_rollouts=8"),
            ("demonstration: first successful rollout of the group (solution_idxs[0]), "
             "dont_reprompt_on_self_success = True", "demos='group', exclude_self=True, demo_sharing='per_group'"),
            ("success_reward_threshold = 0.5 on 0/1 rewards", "correct = valid"),
            ("loss token-mean over the self-distillation mask (rollouts with a demonstration)",
             "loss_normalisation='demonstrated'"),
            ("full_logit_distillation = True, alpha = 0.5 (generalised JSD)",
             "objective='jsd', jsd_weight=0.5, estimator='full'"),
            ("distillation_topk = 100 with a tail bucket", "exact for K ≤ 100 modes (the tail bucket is empty)"),
            ("teacher_regularization = 'ema', teacher_update_rate = 0.05", "teacher_base=EMA(0.95)"),
            ("use_kl_loss = False", "beta=0.0"),
            ("is_clip = 2, rollout_is threshold 2 (ratio 1 on-policy)", "no effect"),
            (f"optim {_TORCH_ADAM}, weight_decay = 0.01, clip_grad = 1.0",
             "Adam(0.9, 0.999, 1e-8, weight_decay=0.01, max_grad_norm=1.0)"),
        ),
    ),
    "trl-sdpo": Preset(
        "trl-sdpo", "SampledSD", "TRL SDPOTrainer (experimental, v1.10.0.dev0)",
        "huggingface/trl@f2cd57710ae345ea6428ae95363267fcf38a3dc8",
        ("trl/experimental/sdpo/sdpo_config.py", "trl/experimental/sdpo/sdpo_trainer.py",
         "trl/experimental/sdpo/loss_utils.py", "trl/experimental/sdpo/teacher_sync.py"),
        {"demos": "group", "exclude_self": True, "demo_sharing": "per_group", "loss_normalisation": "all",
         "objective": "reverse", "estimator": "sampled", "teacher_base": EMA(0.95), "beta": 0.0,
         "n_rollouts": 8, "optimiser": Adam(0.9, 0.999, 1e-8, 0.0, max_grad_norm=1.0)},
        (
            ("num_generations = 8", "n_rollouts=8"),
            ("demonstration: first successful rollout other than itself (successful[0]), "
             "dont_reprompt_on_self_success = True", "demos='group', exclude_self=True, demo_sharing='per_group'"),
            ("per-sequence token mean, then mean over all sequences (masked ones count as 0)",
             "loss_normalisation='all'"),
            ("distillation_mode = 'sampled_token', distillation_alpha = 1.0: log_ratio.detach()·logp",
             "objective='reverse', estimator='sampled'"),
            ("distillation_weight = 1.0 (pure self-distillation), beta = 0.0", "beta=0.0"),
            ("teacher_model_kind = 'ema', teacher_update_rate = 0.05, teacher_sync_steps = 1", "teacher_base=EMA(0.95)"),
            (f"optimizer {_TORCH_ADAM}, weight_decay = 0.0, max_grad_norm = 1.0 (TrainingArguments)",
             "Adam(0.9, 0.999, 1e-8, weight_decay=0.0, max_grad_norm=1.0)"),
        ),
    ),
    "opsd": Preset(
        "opsd", "SampledSD", "OPSD (siyan-zhao/OPSD)", "siyan-zhao/OPSD@590ec26c59e689a29840a501f65335578251b68c",
        ("opsd_trainer.py (generalized_jsd_loss, compute_loss)", "opsd_train.py", "scripts/run_opsd.sh"),
        {"demos": ConditionedDemos(), "demo_sharing": "per_group", "n_rollouts": 1, "loss_normalisation": "all",
         "objective": "jsd", "jsd_weight": 0.5, "estimator": "full", "teacher_base": "frozen", "beta": 0.0,
         "optimiser": Adam(0.9, 0.999, 1e-8, 0.0, max_grad_norm=1.0)},
        (
            ("the teacher sees the dataset's reference solution (privileged information), every rollout",
             "an external source, one per prompt: demos=ConditionedDemos() (D = π0(·|C) with the frozen "
             "teacher; pass FixedDemo/ExplicitDemos for a given reference), demo_sharing='per_group'"),
            ("one on-policy completion per prompt (GKD-style, lmbda = 1)", "n_rollouts=1"),
            ("--beta 0.5: generalised JSD on full logits, 'batchmean' over completion tokens",
             "objective='jsd', jsd_weight=0.5, estimator='full', loss_normalisation='all'"),
            ("--fixed_teacher: the initial policy (LoRA adapters disabled)", "teacher_base='frozen'"),
            ("no KL to a reference", "beta=0.0"),
            (f"optimizer {_TORCH_ADAM}, weight_decay = 0.0, max_grad_norm = 1.0 (TrainingArguments)",
             "Adam(0.9, 0.999, 1e-8, weight_decay=0.0, max_grad_norm=1.0)"),
            ("temperature 1.1, top_k 20, top_p 0.95 in sampling and the loss", "not modelled (temperature 1)"),
        ),
    ),
}

RL_PRESETS = tuple(k for k, p in PRESETS.items() if p.rule == "SampledRL")
SD_PRESETS = tuple(k for k, p in PRESETS.items() if p.rule == "SampledSD")


def make(cls, name, overrides: dict):
    """The rule ``cls(**settings, **overrides)`` of preset ``name`` (``SampledRL.preset`` and
    ``SampledSD.preset`` call this).

    Raises
    ------
    ValueError
        Naming ``name`` (unknown, or a preset of the other rule) or an unknown field.
    """
    allowed = tuple(k for k, p in PRESETS.items() if p.rule == cls.__name__)
    if not isinstance(name, str) or name not in allowed:
        raise ValueError(f"name must be one of {', '.join(map(repr, allowed))} for {cls.__name__}.preset; "
                         f"got {chk.describe(name)}")
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ValueError(f"{cls.__name__}.preset({name!r}) got unknown fields {unknown}; allowed: {sorted(known)}")
    return cls(**{**PRESETS[name].settings, **overrides})


def describe(name: str) -> str:
    """A preset's trainer, source, files and settings as text (one line per reproduced default).

    >>> from modesim.sampled.presets import describe
    >>> print(describe("verl").splitlines()[0])
    verl: verl GRPO (v0.8.0.dev), volcengine/verl@b178a3cd56f58b2d502255daba591e92833930a7
    """
    if not isinstance(name, str) or name not in PRESETS:
        raise ValueError(f"name must be one of {', '.join(map(repr, PRESETS))}; got {chk.describe(name)}")
    p = PRESETS[name]
    lines = [f"{p.name}: {p.trainer}, {p.source}", "  files: " + "; ".join(p.files)]
    lines += [f"  {what}  ->  {how}" for what, how in p.rows]
    return "\n".join(lines)
