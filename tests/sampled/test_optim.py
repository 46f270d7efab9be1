"""modesim.sampled.optim: SGD and Adam(W) on the logits (theory §8.2).

Checks: a rule with Adam follows, step by step, PyTorch's AdamW algorithm written out below
from its documentation (torch.optim.AdamW, "Algorithm") on *unnormalised* logits, with the
rule's own gradients: the moments, bias corrections, decoupled weight decay, per-entry
clipping (torch.nn.utils.clip_grad_norm_) and the logit-gauge claim; the same check fails
without the bias correction; the optimiser state is typed, picklable and never mutated;
chunks and parameter grids reproduce the whole run; capabilities and bad input.
"""

import math
import pickle

import numpy as np
import pytest

import modesim as ms
from modesim.sampled import SGD, Adam, AdamState, SampledRL, SampledSD
from modesim.sampled.optim import clip_rows

from .support import R4


def _reference_adamw(theta, grads_fn, steps, lr, beta1, beta2, eps, weight_decay, max_norm, bias_correction=True):
    """PyTorch's AdamW (documentation pseudo-code), one coordinate at a time, on logits θ.

    ``grads_fn(t, θ)`` gives the loss gradient (B, K) at step t for the current logits.
    Returns the list of logits after each step.  θ is never renormalised.
    """
    B, K = theta.shape
    m = [[0.0] * K for _ in range(B)]
    v = [[0.0] * K for _ in range(B)]
    th = [list(map(float, row)) for row in theta]
    out = []
    for t in range(1, steps + 1):
        g = grads_fn(t - 1, np.array(th))
        for b in range(B):
            row = [float(x) for x in g[b]]
            if max_norm is not None:  # torch.nn.utils.clip_grad_norm_ on this entry's gradient
                total = math.sqrt(sum(x * x for x in row))
                coef = min(max_norm / (total + 1e-6), 1.0)
                row = [x * coef for x in row]
            for k in range(K):
                if th[b][k] == -math.inf:
                    continue
                th[b][k] -= lr * weight_decay * th[b][k]
                m[b][k] = beta1 * m[b][k] + (1 - beta1) * row[k]
                v[b][k] = beta2 * v[b][k] + (1 - beta2) * row[k] ** 2
                mh = m[b][k] / (1 - beta1 ** t) if bias_correction else m[b][k]
                vh = v[b][k] / (1 - beta2 ** t) if bias_correction else v[b][k]
                th[b][k] -= lr * mh / (math.sqrt(vh) + eps)
        out.append(np.array(th))
    return out


def _log_softmax(theta):
    with np.errstate(invalid="ignore"):
        m = np.max(theta, axis=-1, keepdims=True)
        z = theta - m
        return z - np.log(np.sum(np.exp(z), axis=-1, keepdims=True))


def _follow(rule, task, steps, **ref):
    """Run ``rule`` and the reference AdamW on the same gradients; return both log-policies."""
    state = rule.init(task)
    states = [state]
    for _ in range(steps):
        states.append(rule.step(states[-1], task))

    def grads(t, theta):
        s = states[t]._replace(log_policy=_log_softmax(theta))
        direction, _ = rule.estimate(s, task)
        return -direction

    theta0 = np.array(np.broadcast_to(task.log_base, states[0].log_policy.shape)) + 3.0  # another gauge
    ref_thetas = _reference_adamw(theta0, grads, steps, **ref)
    return [s.log_policy for s in states[1:]], [_log_softmax(t) for t in ref_thetas]


@pytest.mark.parametrize("opt", [
    Adam(),
    Adam(0.8, 0.99, 1e-3, weight_decay=0.3),
    Adam(max_grad_norm=0.05),
    Adam(0.5, 0.9, 1e-6, weight_decay=0.01, max_grad_norm=0.2),
], ids=["defaults", "decay", "clip", "all"])
@pytest.mark.parametrize("kind", ["rl", "sd", "blend"])
def test_adam_is_pytorch_adamw_on_the_logits(opt, kind):
    task = ms.replicate(R4, 6)
    lr = 0.2
    if kind == "rl":
        rule = SampledRL("grpo", n_rollouts=4, lr=lr, beta=0.1, seed=3, optimiser=opt)
    elif kind == "sd":
        rule = SampledSD(n_rollouts=4, lr=lr, beta=0.1, teacher_base="frozen", seed=3, optimiser=opt)
    else:  # the remedies' blend inherits SampledSD's step (it once stepped plain SGD whatever the optimiser)
        from modesim.remedies import SampledBlend

        rule = SampledBlend(n_rollouts=4, lr=lr, beta=0.1, teacher_base="frozen", seed=3, optimiser=opt,
                            combine="sign")
    ours, ref = _follow(rule, task, 8, lr=lr, beta1=opt.beta1, beta2=opt.beta2, eps=opt.eps,
                        weight_decay=opt.weight_decay, max_norm=opt.max_grad_norm)
    for a, b in zip(ours, ref):
        np.testing.assert_allclose(np.exp(a), np.exp(b), atol=1e-13)


def test_the_adamw_check_fails_without_bias_correction():
    # Negative control: the same reference without 1 − β^t in the moments is far off.
    task = ms.replicate(R4, 6)
    rule = SampledRL("grpo", n_rollouts=4, lr=0.2, seed=3, optimiser=Adam())
    ours, ref = _follow(rule, task, 3, lr=0.2, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0,
                        max_norm=None, bias_correction=False)
    assert np.max(np.abs(np.exp(ours[-1]) - np.exp(ref[-1]))) > 1e-3


def _huge_rule(kind, opt, big):
    """lr = beta = ``big`` with Adam; with SGD (where lr·beta ≥ 2 is refused) beta = 0."""
    from modesim.remedies import SampledBlend

    beta = big if opt == "adam" else 0.0
    if kind == "rl":
        return SampledRL("grpo", lr=big, beta=beta, seed=0, optimiser=opt)
    if kind == "sd":
        return SampledSD(lr=big, beta=beta, seed=0, optimiser=opt)
    return SampledBlend(lr=big, beta=beta, distill_weight=big, seed=0, optimiser=opt)


@pytest.mark.parametrize("kind, opt", [("rl", "adam"), ("sd", "adam"), ("blend", "adam"), ("blend", "sgd")])
def test_a_step_beyond_the_float_range_is_a_named_error(kind, opt):
    """The largest float as lr (and β with Adam; the blend's distillation weight), from a policy
    away from the reference: the step leaves the float range (with SGD and β = 0 the RL and SD
    directions stay below 1 and the step stays finite).  It is refused with a named error, never a NaN, a warning or
    (Adam, whose g² overflows) a silent zero step."""
    import warnings

    task = ms.replicate(R4, 3)
    rule = _huge_rule(kind, opt, float(np.finfo(np.float64).max))
    state = rule.init(task)
    state = state._replace(log_policy=np.log(np.broadcast_to([0.97, 0.01, 0.01, 0.01], state.log_policy.shape)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match="step is too large"):
            for _ in range(5):
                state = rule.step(state, task)


@pytest.mark.parametrize("kind", ["rl", "sd", "blend"])
@pytest.mark.parametrize("opt", ["sgd", "adam"])
@pytest.mark.parametrize("big", [1e300, float(np.finfo(np.float64).max)])
def test_huge_learning_rates_give_a_policy_or_the_named_error(kind, opt, big):
    """From the base, huge lr (and β with Adam) either give a normalised policy (modes pushed
    below −1.8e308 in log space are exactly 0) or the named error; no NaN, no warning."""
    import warnings

    task = ms.replicate(R4, 3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            policy = ms.iterate(_huge_rule(kind, opt, big), task, 6).policy[-1]
        except ValueError as err:
            assert "step is too large" in str(err)
            return
    assert not np.isnan(policy).any()
    np.testing.assert_allclose(policy.sum(-1), 1.0, rtol=1e-12)


@pytest.mark.parametrize("make", [
    lambda lr, b: SampledRL("grpo", lr=lr, beta=b),
    lambda lr, b: SampledSD(lr=lr, beta=b),
    lambda lr, b: SampledSD(lr=lr, beta=b, optimiser=SGD()),
])
def test_sgd_refuses_a_kl_step_that_overshoots(make):
    """lr·β ≥ 4 with SGD is refused (grid entries too); just below is accepted, and so is Adam."""
    with pytest.raises(ValueError, match=r"lr=0.5 with beta=8.0.*lr·beta < 4"):
        make(0.5, 8.0)
    with pytest.raises(ValueError, match=r"at batch index \(1,\)"):
        make(0.5, np.array([1.0, 9.0]))
    make(0.5, 7.99)
    SampledRL("grpo", lr=0.5, beta=400.0, optimiser="adam")
    SampledSD(lr=0.5, beta=400.0, reference="current")  # no KL gradient to overshoot


def test_the_kl_step_bound_is_where_the_penalty_map_turns_unstable():
    """The reason for lr·β < 4 (theory §8.2): the SGD map of the penalty alone,
    ``x ← x − lr·β·π ⊙ (log π/π_ref − KL)``, returns to π_ref = (1/2, 1/2) (the reference with
    the largest curvature, 1/2) for lr·β = 3.9 and settles on a 2-cycle away from it for 4.1;
    references of smaller curvature stand larger steps."""
    from modesim.sampled.sampling import kl_logit_grad
    from modesim.simplex import log_normalise

    def run(ref, step, n=2000):
        ref = np.log(np.asarray(ref))
        x = ref + np.r_[0.05, -0.05, np.zeros(len(ref) - 2)]
        for _ in range(n):
            x = log_normalise(x - step * kl_logit_grad(x, ref))
        return np.abs(x - ref).max()

    assert run([0.5, 0.5], 3.9) < 1e-12
    assert run([0.5, 0.5], 4.1) > 0.1
    assert run([0.4, 0.35, 0.25], 4.5) < 1e-12


def test_weight_decay_alone_is_tempering_toward_uniform():
    # A group without signal (the only valid mode has probability 1e-30) has zero gradient:
    # AdamW then only decays the logits, π ← π^(1 − lr·λ) renormalised (module docstring);
    # a mode at zero stays at zero.
    base = np.array([1e-30, 0.6, 0.3, 0.1 - 1e-30, 0.0])
    task = ms.make_task(base, [True, False, False, False, False])
    rule = SampledRL("grpo", n_rollouts=4, lr=0.5, seed=0, optimiser=Adam(weight_decay=0.2))
    state = rule.step(rule.init(task), task)
    assert state.silent_groups == 1
    p = base[:4] ** (1 - 0.5 * 0.2)
    np.testing.assert_allclose(np.exp(state.log_policy[:4]), p / p.sum(), rtol=1e-14)
    assert np.isneginf(state.log_policy[4])


def test_clip_rows_is_torch_clip_grad_norm_per_row():
    g = np.array([[3.0, -4.0, 0.0], [0.03, 0.04, 0.0], [0.0, 0.0, 0.0]])
    out = clip_rows(g.copy(), 1.0)
    np.testing.assert_allclose(out[0], g[0] / (5.0 + 1e-6), rtol=1e-15)
    np.testing.assert_array_equal(out[1:], g[1:])  # norms below 1: untouched
    grid = clip_rows(g.copy(), np.array([10.0, 0.01, 1.0]))
    np.testing.assert_array_equal(grid[0], g[0])
    np.testing.assert_allclose(grid[1], g[1] * 0.01 / (0.05 + 1e-6), rtol=1e-15)


def test_sgd_default_is_todays_step_and_sgd_clipping_scales_it():
    task = ms.replicate(R4, 50)
    a = ms.iterate(SampledRL(seed=1, beta=0.2), task, 5).log_policy
    b = ms.iterate(SampledRL(seed=1, beta=0.2, optimiser="sgd"), task, 5).log_policy
    np.testing.assert_array_equal(a, b)
    rule = SampledRL(seed=1, lr=0.7, optimiser=SGD(max_grad_norm=0.01))
    s0 = rule.init(task)
    d, _ = rule.estimate(s0, task)
    s1 = rule.step(s0, task)
    moved = np.exp(s1.log_policy) - np.exp(s0.log_policy)
    assert np.max(np.abs(moved)) < 0.7 * 0.01 + 1e-12
    assert np.max(np.abs(d)) > 0.05  # the raw direction was far larger


def test_adam_state_is_typed_picklable_and_never_mutated():
    task = ms.replicate(R4, 4)
    rule = SampledSD(n_rollouts=4, seed=0, optimiser="adam", teacher_base=ms.EMA(0.9))
    s1 = ms.iterate(rule, task, 3).final
    assert isinstance(s1.optimiser, AdamState) and s1.optimiser.count == 3
    assert s1.optimiser.m.shape == s1.optimiser.v.shape == (4, 4)
    back = pickle.loads(pickle.dumps(s1))
    np.testing.assert_array_equal(back.optimiser.v, s1.optimiser.v)
    m_before, v_before = s1.optimiser.m.copy(), s1.optimiser.v.copy()
    a, b = rule.step(s1, task), rule.step(s1, task)
    np.testing.assert_array_equal(a.log_policy, b.log_policy)
    np.testing.assert_array_equal(a.optimiser.m, b.optimiser.m)
    np.testing.assert_array_equal(s1.optimiser.m, m_before)
    np.testing.assert_array_equal(s1.optimiser.v, v_before)


@pytest.mark.parametrize("rule", [
    SampledRL.preset("trl", beta=0.05, seed=2),
    SampledRL.preset("verl", seed=2),
    SampledSD.preset("sdpo", seed=2),
    SampledSD.preset("trl-sdpo", seed=2),
    SampledSD.preset("opsd", n_rollouts=3, seed=2),
], ids=["trl", "verl", "sdpo", "trl-sdpo", "opsd"])
def test_chunks_of_seeds_and_prompts_reproduce_the_whole_run(rule):
    # The chunking contract with Adam moments, clipping, shared demonstrations and the JSD.
    bank = ms.dirichlet_task(5, 1.0, seed=1, batch_shape=(4,), valid=np.array([True, True, False, True, False]))
    whole = ms.train(rule, bank, 12, n_seeds=6).final
    seeds = [ms.train(rule, bank, 12, n_seeds=3, first_seed=f).final for f in (0, 3)]
    np.testing.assert_array_equal(np.concatenate([s.log_policy for s in seeds]), whole.log_policy)
    np.testing.assert_array_equal(np.concatenate([s.optimiser.v for s in seeds]), whole.optimiser.v)
    part = ms.Task(bank.log_base[2:], bank.valid[2:])
    prompts = ms.train(rule, part, 12, n_seeds=6, offset=(2,)).final
    np.testing.assert_array_equal(prompts.log_policy, whole.log_policy[:, 2:])


def test_adam_hyperparameter_grids_equal_the_loop_over_scalars():
    beta1 = np.array([0.0, 0.5, 0.9])
    wd = np.array([[0.0], [0.1]])
    make = lambda b1, w: SampledRL("grpo", n_rollouts=4, lr=0.3, seed=5, optimiser=Adam(b1, 0.99, 1e-8, w))  # noqa: E731
    batched = ms.iterate(make(beta1, wd), R4, 6).log_policy
    assert batched.shape == (7, 2, 3, 4)
    for i in range(2):
        for j in range(3):
            one = ms.iterate(make(float(beta1[j]), float(wd[i, 0])), R4, 6).log_policy
            np.testing.assert_array_equal(batched[:, i, j], one)


def test_adam_rules_have_no_mean_field():
    for rule in (SampledRL(optimiser="adam"), SampledSD(optimiser=Adam()), SampledRL(optimiser=SGD(max_grad_norm=1.0))):
        assert rule.capabilities == {"estimate"}
        with pytest.raises(ValueError, match="no velocity .*allowed: SGD\\(\\) without max_grad_norm"):
            rule.velocity(R4.log_base, R4)


@pytest.mark.parametrize("make, match", [
    (lambda: Adam(beta1=1.0), r"beta1 must be in \[0, 1\); got 1.0"),
    (lambda: Adam(beta2=-0.1), r"beta2 must be in \[0, 1\); got -0.1"),
    (lambda: Adam(eps=0.0), r"eps must be a finite number > 0; got 0.0"),
    (lambda: Adam(weight_decay=-1.0), r"weight_decay must be a finite number >= 0; got -1.0"),
    (lambda: Adam(max_grad_norm=0.0), r"max_grad_norm must be a finite number > 0; got 0.0"),
    (lambda: SGD(max_grad_norm="x"), r"max_grad_norm must be a real number"),
    (lambda: SampledRL(optimiser="adamw"), r"optimiser must be 'sgd', 'adam', SGD\(...\) or Adam\(...\); got 'adamw'"),
    (lambda: SampledSD(optimiser=None), r"optimiser must be 'sgd', 'adam'"),
    (lambda: SampledRL(lr=2.0, optimiser=Adam(weight_decay=0.5)), r"weight_decay=0.5 with lr=2.0: .* lr·weight_decay < 1"),
    (lambda: SampledSD(lr=np.array([0.1, 20.0]), optimiser=Adam(weight_decay=0.1)), r"lr·weight_decay < 1"),
])
def test_bad_optimiser_input_is_a_named_value_error(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_a_state_without_adam_moments_is_refused():
    rule = SampledRL(optimiser="adam", seed=0)
    state = SampledRL(seed=0).init(R4)
    with pytest.raises(ValueError, match="optimiser must be an AdamState .* got None"):
        rule.step(state, R4)
