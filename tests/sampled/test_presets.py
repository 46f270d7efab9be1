"""modesim.sampled.presets: the public trainers' defaults (theory §8.2).

For each preset, the trainer's loss is written out again below from its source (file and
commit in each function's docstring), as a function of the logits, and differentiated
numerically; for **every** group of rollouts (all K^N) and every demonstration the trainer
would pick, the preset's update equals minus that gradient; the expected update over all
groups follows.  A trainer formula with modesim's old conventions (population std, all
rollouts in the SD average) is the failing control.  The preset's optimiser is checked
field by field (its algorithm against PyTorch's AdamW in test_optim.py).
"""

import numpy as np
import pytest

import modesim as ms
from modesim.sampled import SampledRL, SampledSD
from modesim.sampled.presets import PRESETS, describe

from .enumeration import groups, sd_cases

TASK = ms.make_task([0.4, 0.25, 0.15, 0.2], [True, True, False, False])
# A policy far from π0 (π0(3)/π(3) = 40: verl's k3 clamp is active there).
POLICY = np.log(np.array([0.6, 0.2, 0.195, 0.005]))
RHO = np.log(np.array([0.45, 0.25, 0.2, 0.1]))  # an EMA teacher base
H = 1e-6


def _log_softmax(theta):
    z = theta - theta.max(-1, keepdims=True)
    return z - np.log(np.exp(z).sum(-1, keepdims=True))


def _numerical_gradient(loss, theta):
    """Central differences of ``loss(θ) -> (E,)`` (one loss per group) on the K logits: (E, K)."""
    return np.stack([(loss(theta + H * e) - loss(theta - H * e)) / (2 * H) for e in np.eye(len(theta))], axis=-1)


# ------------------------------------------------------------------ the trainers' losses


def trl_grpo_loss(theta, y, valid, log_ref, beta, old, eps=1e-4, ddof=1):
    """TRL GRPOTrainer, huggingface/trl@f2cd577, trl/trainer/grpo_trainer.py.

    ``_generate_and_score_completions``: A = (r − mean_group)/(nanstd_group + 1e-4), nanstd
    Bessel-corrected (trl/trainer/utils.py).  ``_compute_loss``: coef_1 = exp(logp − old_logp),
    coef_2 = clamp(coef_1, 1 − 0.2, 1 + 0.2), per_token_loss = −min(coef_1·A, coef_2·A)
    + beta·(exp(ref − logp) − (ref − logp) − 1); loss_type "dapo": summed over tokens and
    divided by the batch's token count (one token per rollout here).
    """
    lp = _log_softmax(theta)
    logp, r = lp[y], valid[y].astype(float)
    A = (r - r.mean(-1, keepdims=True)) / (r.std(-1, ddof=ddof, keepdims=True) + eps)
    coef1 = np.exp(logp - old[y])
    coef2 = np.clip(coef1, 0.8, 1.2)
    per_token = -np.minimum(coef1 * A, coef2 * A)
    x = log_ref[y] - logp
    per_token = per_token + beta * (np.exp(x) - x - 1)
    return per_token.mean(-1)


def verl_grpo_loss(theta, y, valid, log_ref, beta, old):
    """verl GRPO, volcengine/verl@b178a3c, verl/trainer/ppo/core_algos.py.

    ``compute_grpo_outcome_advantage``: (score − mean)/(torch.std + 1e-6), torch.std Bessel.
    ``compute_policy_loss_vanilla``: −A·ratio clipped at 1 ± 0.2 (dual clip 3 for A < 0),
    ratio 1 on-policy.  ``kl_penalty_forward(..., "low_var_kl")``: kl = clamp(ref − logp, −20,
    20), kld = clamp(exp(kl) − kl − 1, −10, 10); actor loss pg + kl_loss_coef·kld,
    ``agg_loss`` "token-mean".
    """
    lp = _log_softmax(theta)
    logp, r = lp[y], valid[y].astype(float)
    A = (r - r.mean(-1, keepdims=True)) / (r.std(-1, ddof=1, keepdims=True) + 1e-6)
    ratio = np.exp(logp - old[y])
    pg1, pg2 = -A * ratio, -A * np.clip(ratio, 0.8, 1.2)
    clip1 = np.maximum(pg1, pg2)
    pg = np.where(A < 0, np.minimum(-A * 3.0, clip1), clip1)
    kl = np.clip(log_ref[y] - logp, -20, 20)
    kld = np.clip(np.exp(kl) - kl - 1, -10, 10)
    return (pg + beta * kld).mean(-1)


def _copy_teacher(rho, d, alpha=0.5):
    """modesim's default teacher: T(·|d) = (1 − α)ρ + α·1[· = d] (theory §3.3), one row per d."""
    return (1 - alpha) * np.exp(rho) + alpha * np.eye(len(rho))[d]


def _gjsd(log_s, log_t, alpha):
    """SDPO / OPSD / TRL GKD generalised JSD per row: lerp(KL(S‖M), KL(T‖M), α), M = (1 − α)S + αT.

    F.kl_div(input=log M, target=log X, log_target=True) = Σ X (log X − log M); α = 1 and 0
    special-cased to KL(S‖T) and KL(T‖S).
    """
    if alpha == 1.0:
        return np.sum(np.exp(log_s) * (log_s - log_t), -1)
    if alpha == 0.0:
        return np.sum(np.exp(log_t) * (log_t - log_s), -1)
    log_m = np.logaddexp(log_s + np.log(1 - alpha), log_t + np.log(alpha))
    kl_t = np.sum(np.exp(log_t) * (log_t - log_m), -1)
    kl_s = np.sum(np.exp(log_s) * (log_s - log_m), -1)
    return kl_s + alpha * (kl_t - kl_s)


def _sdpo_demonstrations(y, valid):
    """lasgroup/SDPO ray_trainer.py ``_get_solution`` (dont_reprompt_on_self_success=True): the
    first successful rollout j ≠ n of the group, or none.  Same rule in TRL's SDPO
    (``successful[0]``).  Returns (demo (E, N), mask (E, N))."""
    E, N = y.shape
    demo = np.zeros((E, N), dtype=int)
    mask = np.zeros((E, N), dtype=bool)
    for e in range(E):
        ok = [j for j in range(N) if valid[y[e, j]]]
        for n in range(N):
            others = [j for j in ok if j != n]
            if others:
                demo[e, n], mask[e, n] = y[e, others[0]], True
    return demo, mask


def sdpo_loss(theta, y, valid, rho, alpha=0.5):
    """SDPO, lasgroup/SDPO@0e6d510, verl/trainer/ppo/core_algos.py ``compute_self_distillation_loss``.

    full_logit_distillation with alpha = 0.5 (actor.yaml): per-token loss = Σ_vocab of the
    generalised JSD between the student and the reprompted teacher; ``agg_loss`` token-mean
    with batch_num_tokens = (response_mask·self_distillation_mask).sum(): the mean over the
    rollouts that received a demonstration.
    """
    lp = _log_softmax(theta)
    demo, mask = _sdpo_demonstrations(y, valid)
    log_t = np.log(_copy_teacher(rho, demo))  # (E, N, K)
    per = _gjsd(lp, log_t, alpha)
    return (per * mask).sum(-1) / np.maximum(mask.sum(-1), 1)


def trl_sdpo_loss(theta, y, valid, rho, old):
    """TRL SDPOTrainer, huggingface/trl@f2cd577, trl/experimental/sdpo.

    loss_utils.py ``compute_sampled_token_self_distillation_loss``: log_ratio.detach()·logp
    on the sampled token (the detached ratio is evaluated at the old logits); sdpo_trainer.py
    ``_compute_self_distillation_loss``: per-sequence masked token mean, then ``.mean()`` over
    all sequences (a sequence without a demonstration contributes 0 and still counts).
    """
    lp = _log_softmax(theta)
    demo, mask = _sdpo_demonstrations(y, valid)
    T = _copy_teacher(rho, demo)
    log_t_y = np.log(np.take_along_axis(T, y[..., None], -1)[..., 0])
    detached = old[y] - log_t_y
    return (mask * detached * lp[y]).mean(-1)


def opsd_loss(theta, d, rho, beta=0.5):
    """OPSD, siyan-zhao/OPSD@590ec26, opsd_trainer.py ``generalized_jsd_loss`` (beta = 0.5 in
    scripts/run_opsd.sh, temperature 1): beta·KL(T‖M) + (1 − beta)·KL(S‖M), M = (1 − beta)S +
    beta·T, reduction "batchmean" over the completion tokens; the teacher is the initial
    policy (--fixed_teacher) conditioned on the reference solution d."""
    lp = _log_softmax(theta)
    return _gjsd(lp, np.log(_copy_teacher(rho, d)), beta)


# ------------------------------------------------------------------ the checks


@pytest.mark.parametrize("beta", [0.0, 0.04])
def test_trl_preset_is_trls_grpo_for_every_group(beta):
    rule = SampledRL.preset("trl", beta=beta, n_rollouts=6)
    y, w = groups(np.exp(POLICY), 6)
    big = ms.replicate(TASK, len(y))
    ours, _ = rule.group_direction(np.broadcast_to(POLICY, (len(y), 4)).copy(), y, big)
    theirs = -_numerical_gradient(lambda t: trl_grpo_loss(t, y, TASK.valid, TASK.log_base, beta, POLICY), POLICY)
    np.testing.assert_allclose(ours, theirs, atol=1e-8)
    np.testing.assert_allclose(w @ ours, w @ theirs, atol=1e-9)
    sgd = SampledRL.preset("trl", beta=beta, n_rollouts=6, optimiser="sgd", lr=1.0)
    np.testing.assert_allclose(w @ ours, sgd.velocity(POLICY, TASK), atol=1e-14)


def test_the_trl_check_fails_with_modesims_old_group_statistics():
    # Negative control: TRL's loss with the population std and ε = 1e-6 (modesim's defaults).
    rule = SampledRL.preset("trl", n_rollouts=4)
    y, w = groups(np.exp(POLICY), 4)
    ours, _ = rule.group_direction(np.broadcast_to(POLICY, (len(y), 4)).copy(), y, ms.replicate(TASK, len(y)))
    old = -_numerical_gradient(lambda t: trl_grpo_loss(t, y, TASK.valid, TASK.log_base, 0.0, POLICY, 1e-6, 0),
                               POLICY)
    assert np.max(np.abs(ours - old)) > 0.05


def test_verl_preset_is_verls_grpo_for_every_group():
    rule = SampledRL.preset("verl")
    assert rule.n_rollouts == 5
    y, w = groups(np.exp(POLICY), 5)
    big = ms.replicate(TASK, len(y))
    ours, _ = rule.group_direction(np.broadcast_to(POLICY, (len(y), 4)).copy(), y, big)
    theirs = -_numerical_gradient(lambda t: verl_grpo_loss(t, y, TASK.valid, TASK.log_base, 0.001, POLICY), POLICY)
    np.testing.assert_allclose(ours, theirs, atol=1e-8)
    # The clamp matters: verl's loss without it (TRL's k3) differs on groups sampling mode 3.
    unclamped = -_numerical_gradient(lambda t: trl_grpo_loss(t, y, TASK.valid, TASK.log_base, 0.001, POLICY, 1e-6),
                                     POLICY)
    assert np.max(np.abs(unclamped - theirs)[np.any(y == 3, axis=1)]) > 1e-3
    sgd = SampledRL.preset("verl", optimiser="sgd", lr=1.0)
    np.testing.assert_allclose(w @ ours, sgd.velocity(POLICY, TASK), atol=1e-14)


def _sd_check(rule, loss, N):
    c = sd_cases(rule, TASK, POLICY, RHO)
    E = len(c["weight"])
    ours, _ = rule.group_direction(np.broadcast_to(POLICY, (E, 4)).copy(), np.broadcast_to(RHO, (E, 4)).copy(),
                                   c["y"], c["demos"], c["has"], ms.replicate(TASK, E), rows=c["rows"])
    theirs = -_numerical_gradient(lambda t: loss(t, c), POLICY)
    np.testing.assert_allclose(ours, theirs, atol=1e-8)
    return c["weight"] @ ours, c["weight"] @ theirs


def test_sdpo_preset_is_sdpos_loss_for_every_group():
    rule = SampledSD.preset("sdpo", n_rollouts=5)
    ours, theirs = _sd_check(rule, lambda t, c: sdpo_loss(t, c["y"], TASK.valid, RHO), 5)
    sgd = SampledSD.preset("sdpo", n_rollouts=5, optimiser="sgd", lr=1.0)
    np.testing.assert_allclose(ours, sgd.velocity(POLICY, TASK, teacher_log_base=RHO), atol=1e-14)


def test_the_sdpo_check_fails_when_every_rollout_counts_in_the_average():
    # Negative control: SDPO's loss divided by N instead of the rollouts with a demonstration.
    rule = SampledSD.preset("sdpo", n_rollouts=4, loss_normalisation="all")
    c = sd_cases(rule, TASK, POLICY, RHO)
    E = len(c["weight"])
    ours, _ = rule.group_direction(np.broadcast_to(POLICY, (E, 4)).copy(), np.broadcast_to(RHO, (E, 4)).copy(),
                                   c["y"], c["demos"], c["has"], ms.replicate(TASK, E), rows=c["rows"])
    theirs = -_numerical_gradient(lambda t: sdpo_loss(t, c["y"], TASK.valid, RHO), POLICY)
    assert np.max(np.abs(ours - theirs)) > 0.01


def test_trl_sdpo_preset_is_trls_sdpo_loss_for_every_group():
    rule = SampledSD.preset("trl-sdpo", n_rollouts=5)
    ours, theirs = _sd_check(rule, lambda t, c: trl_sdpo_loss(t, c["y"], TASK.valid, RHO, POLICY), 5)
    sgd = SampledSD.preset("trl-sdpo", n_rollouts=5, optimiser="sgd", lr=1.0)
    np.testing.assert_allclose(ours, sgd.velocity(POLICY, TASK, teacher_log_base=RHO), atol=1e-14)


def test_opsd_preset_is_opsds_loss_for_every_reference_solution():
    rule = SampledSD.preset("opsd")
    assert rule.n_rollouts == 1 and rule.teacher_base == "frozen"
    c = sd_cases(rule, TASK, POLICY, TASK.log_base)
    E = len(c["weight"])
    ours, _ = rule.group_direction(np.broadcast_to(POLICY, (E, 4)).copy(), np.broadcast_to(TASK.log_base, (E, 4)).copy(),
                                   c["y"], c["demos"], c["has"], ms.replicate(TASK, E), rows=c["rows"])
    theirs = -_numerical_gradient(lambda t: opsd_loss(t, c["demos"][:, 0, 0], TASK.log_base), POLICY)
    np.testing.assert_allclose(ours, theirs, atol=1e-8)
    # The reference solutions are π0(·|C) (ConditionedDemos on the frozen teacher base).
    D = np.bincount(c["demos"][:, 0, 0], weights=c["weight"], minlength=4)
    np.testing.assert_allclose(D, TASK.base * TASK.valid / 0.65, atol=1e-15)
    sgd = SampledSD.preset("opsd", optimiser="sgd", lr=1.0)
    np.testing.assert_allclose(c["weight"] @ ours, sgd.velocity(POLICY, TASK), atol=1e-14)


@pytest.mark.parametrize("name, optimiser", [
    ("trl", (0.9, 0.999, 1e-8, 0.0, 1.0)), ("verl", (0.9, 0.999, 1e-8, 0.01, 1.0)),
    ("sdpo", (0.9, 0.999, 1e-8, 0.01, 1.0)), ("trl-sdpo", (0.9, 0.999, 1e-8, 0.0, 1.0)),
    ("opsd", (0.9, 0.999, 1e-8, 0.0, 1.0)),
])
def test_presets_use_each_trainers_adamw_settings(name, optimiser):
    cls = SampledRL if PRESETS[name].rule == "SampledRL" else SampledSD
    opt = cls.preset(name).optimiser
    assert (opt.beta1, opt.beta2, opt.eps, opt.weight_decay, opt.max_grad_norm) == optimiser


def test_preset_settings_sources_and_overrides():
    sdpo = SampledSD.preset("sdpo", seed=3, lr=0.02)
    assert (sdpo.objective, sdpo.jsd_weight, sdpo.estimator, sdpo.loss_normalisation, sdpo.demo_sharing) == (
        "jsd", 0.5, "full", "demonstrated", "per_group")
    assert sdpo.teacher_base == ms.EMA(0.95) and sdpo.seed == 3 and sdpo.lr == 0.02
    for name, p in PRESETS.items():
        assert "@" in p.source and len(p.source.split("@")[1]) == 40  # a full commit hash
        text = describe(name)
        assert p.source in text and all(how in text for _, how in p.rows)
    with pytest.raises(TypeError):
        PRESETS["trl"].settings["beta"] = 1.0  # read-only


@pytest.mark.parametrize("call, match", [
    (lambda: SampledRL.preset("sdpo"), r"name must be one of 'trl', 'verl' for SampledRL.preset; got 'sdpo'"),
    (lambda: SampledSD.preset("TRL"), r"name must be one of 'sdpo', 'trl-sdpo', 'opsd' for SampledSD.preset; got 'TRL'"),
    (lambda: SampledRL.preset("trl", learning_rate=1e-6), r"SampledRL.preset\('trl'\) got unknown fields \['learning_rate'\]"),
    (lambda: SampledSD.preset("sdpo", beta=-1.0), r"beta must be a finite number >= 0; got -1.0"),
    (lambda: describe(None), r"name must be one of 'trl', 'verl', 'sdpo', 'trl-sdpo', 'opsd'; got None"),
])
def test_bad_preset_input_is_a_named_value_error(call, match):
    with pytest.raises(ValueError, match=match):
        call()
