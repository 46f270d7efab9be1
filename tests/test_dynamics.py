"""iterate, flow and rounds to collapse (theory §3.5, §6)."""

import numpy as np
import pytest

import modesim as ms

P = [0.6, 0.3, 0.1]


def test_iterate_records_initial_state_every_nth_round_and_last():
    task = ms.make_task(P)
    traj = ms.iterate(ms.SelfDistillation(), task, 10, every=4)
    assert traj.times.tolist() == [0, 4, 8, 10]
    np.testing.assert_allclose(traj.policy[0], P)
    full = ms.iterate(ms.SelfDistillation(), task, 10)
    np.testing.assert_allclose(traj.policy, full.policy[[0, 4, 8, 10]])
    assert traj.final.round == 10


def test_iterate_metrics_only_and_continue_from_state():
    task = ms.make_task(P)
    traj = ms.iterate(
        ms.SelfDistillation(), task, 6, metrics=["entropy", "top_valid"], record_policy=False
    )
    assert traj.log_policy is None
    assert traj.metrics["entropy"].shape == (7,)
    with pytest.raises(ValueError, match="record_policy=False"):
        _ = traj.policy
    more = ms.iterate(ms.SelfDistillation(), task, 4, state=traj.final)
    ten = ms.iterate(ms.SelfDistillation(), task, 10)
    assert more.times.tolist() == [6, 7, 8, 9, 10]
    np.testing.assert_allclose(more.policy[-1], ten.policy[-1])
    custom = ms.iterate(ms.NaturalPG(), task, 2, metrics={"p0": lambda p, t: p[..., 0]})
    np.testing.assert_allclose(custom.metrics["p0"], 0.6)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"rounds": -1}, "rounds must be"),
        ({"rounds": 2, "every": 0}, "every must be"),
        ({"rounds": 2, "metrics": ["nope"]}, "unknown metric"),
        ({"rounds": 2, "metrics": {"x": 3}}, "must be a built-in name or a callable"),
    ],
)
def test_iterate_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ms.iterate(ms.NaturalPG(), ms.make_task(P), **kwargs)


@pytest.mark.parametrize("batch", [(), (4,), (2, 3)])
@pytest.mark.parametrize("rule", [ms.NaturalPG(0.5), ms.SoftmaxPG(1.0), ms.KLRegularisedRL(0.5)])
def test_rl_rules_batch_shape_contract(rule, batch):
    task = ms.dirichlet_task(4, 1.0, seed=1, batch_shape=batch, valid=[1, 0, 1, 1])
    traj = ms.iterate(rule, task, 3, metrics=["valid_mass"])
    assert traj.log_policy.shape == (4,) + batch + (4,)
    assert traj.metrics["valid_mass"].shape == (4,) + batch
    for idx in np.ndindex(*batch):
        single = ms.iterate(rule, ms.make_task(task.base[idx], [1, 0, 1, 1]), 3).policy
        np.testing.assert_allclose(traj.policy[(slice(None),) + idx], single, rtol=1e-12)


def test_flow_tracks_iterate_for_small_steps():
    """Time is measured in rounds: η → 0 rounds approach the flow (theory §6)."""
    task = ms.make_task(P)
    eta = 0.01
    it = ms.iterate(ms.SelfDistillation(step_size=eta), task, 300).policy[-1]
    fl = ms.flow(ms.SelfDistillation(step_size=eta), task, [0.0, 300.0]).policy[-1]
    np.testing.assert_allclose(it, fl, atol=5e-3)
    npg_it = ms.iterate(ms.NaturalPG(0.01), ms.make_task([0.5, 0.2, 0.3], [1, 1, 0]), 200).policy[-1]
    npg_fl = ms.flow(ms.NaturalPG(0.01), ms.make_task([0.5, 0.2, 0.3], [1, 1, 0]), [0, 200]).policy[-1]
    np.testing.assert_allclose(npg_it, npg_fl, atol=1e-8)  # NPG's flow is its exact interpolation


def test_flow_of_natural_pg_has_closed_form():
    task = ms.make_task([0.5, 0.2, 0.3], [1, 1, 0])
    t = np.array([0.0, 0.5, 2.0, 7.0])
    traj = ms.flow(ms.NaturalPG(1.0), task, t, metrics=["valid_mass"])
    Z = 0.7
    np.testing.assert_allclose(traj.metrics["valid_mass"], Z / (Z + (1 - Z) * np.exp(-t)), rtol=1e-6)


def test_flow_batched_and_keeps_zero_modes_at_zero():
    base = np.array([[0.5, 0.5, 0.0], [0.2, 0.3, 0.5]])
    task = ms.make_task(base)
    traj = ms.flow(ms.SelfDistillation(step_size=0.5), task, [0.0, 1.0, 4.0])
    assert traj.policy.shape == (3, 2, 3)
    assert np.all(traj.policy[:, 0, 2] == 0)
    np.testing.assert_allclose(traj.policy[:, 0, :2], 0.5, atol=1e-9)


def test_flow_bad_arguments():
    with pytest.raises(ValueError, match="t_eval must be"):
        ms.flow(ms.NaturalPG(), ms.make_task(P), [1.0, 0.5])
    with pytest.raises(ValueError, match="rtol must be"):
        ms.flow(ms.NaturalPG(), ms.make_task(P), [0.0, 1.0], rtol=0)
    with pytest.raises(ValueError, match="needs a rule that is able to give a continuous-time velocity"):
        ms.flow(Plain(), ms.make_task(P), [0.0, 1.0])


class Plain:
    """A rule with only init/step (no capabilities declared)."""

    def init(self, task):
        return ms.State(task.log_base)

    def step(self, state, task):
        return state.advance(state.log_policy)


def test_flow_carries_an_ema_teacher_and_tracks_iterate_for_small_steps():
    """theory §6: with an EMA teacher base the flow integrates the teacher logits as a
    second state, dθ̄/dt = (1 − τ)(θ − θ̄); for small steps it tracks the rounds."""
    task = ms.make_task(P)
    h = 0.01
    rule = ms.SelfDistillation(step_size=h, teacher_base=ms.EMA(1 - h))
    it = ms.iterate(rule, task, 300)
    fl = ms.flow(rule, task, [0.0, 300.0])
    np.testing.assert_allclose(fl.policy[-1], it.policy[-1], atol=3e-3)
    np.testing.assert_allclose(np.exp(fl.final.teacher_log_base), np.exp(it.final.teacher_log_base), atol=3e-3)
    # The EMA teacher lags the current one: less concentrated after the same time.
    current = ms.flow(ms.SelfDistillation(step_size=h), task, [0.0, 300.0]).policy[-1]
    assert fl.policy[-1][0] < current[0]


def test_rounds_to_collapse_batched():
    task = ms.make_task([[0.6, 0.3, 0.1], [0.34, 0.33, 0.33], [1 / 3, 1 / 3, 1 / 3]])
    r = ms.rounds_to_collapse(ms.SelfDistillation(), task, eps=1e-3, max_rounds=500)
    assert r[0] > 0 and r[1] > r[0]
    assert r[2] == -1  # uniform is a fixed point
    traj = ms.iterate(ms.SelfDistillation(), ms.make_task(P), int(r[0]))
    assert traj.policy[-1][0] > 1 - 1e-3 and traj.policy[-2][0] <= 1 - 1e-3
    with pytest.raises(ValueError, match=r"eps must be in \(0, 1\)"):
        ms.rounds_to_collapse(ms.SelfDistillation(), task, eps=2)


def test_a_horizon_beyond_float_range_is_named():
    """t_eval up to 1e300: the solver's trial steps overflow; the error names t_eval instead
    of a misleading "disjoint supports" from a NaN state (a reviewer's find)."""
    task = ms.make_task([0.6, 0.3, 0.1], [1, 1, 0])
    assert ms.flow(ms.SelfDistillation(), task, [0.0, 1e200]).policy[-1][0] == 1.0
    with pytest.raises(ValueError, match=r"t_eval reaches t = 1e\+300.*float range"):
        ms.flow(ms.SelfDistillation(), task, [0.0, 1e300])
