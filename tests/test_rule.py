"""The declared rule protocol, typed state and the shared self-distillation pieces (theory §3.5)."""

import copy
import pickle

import numpy as np
import pytest

import modesim as ms
from modesim.rule import combine_forward, combine_reverse, geometric_mix

P = [0.6, 0.3, 0.1]


def LOG(p):
    with np.errstate(divide="ignore"):
        return np.log(np.asarray(p, dtype=float))
RULES = [
    ms.NaturalPG(0.5),
    ms.SoftmaxPG(1.0),
    ms.KLRegularisedRL(0.5),
    ms.SelfDistillation(),
    ms.SelfDistillation(teacher_base=ms.EMA(0.9)),
    ms.SelfDistillation(ms.TiltTeacher(2.0), objective="forward", step_size=0.5),
]


@pytest.mark.parametrize("rule", RULES, ids=lambda r: type(r).__name__)
def test_every_core_rule_declares_capabilities_it_has(rule):
    caps = ms.capabilities(rule)
    assert caps <= set(ms.CAPABILITIES)
    for cap, method in (("velocity", "velocity"), ("target", "target"), ("estimate", "estimate")):
        assert (cap in caps) <= callable(getattr(rule, method, None))
    assert "deterministic" in caps


def test_a_rule_claiming_a_capability_it_lacks_is_refused():
    class Liar:
        capabilities = frozenset({"deterministic", "memoryless", "velocity"})

        def init(self, task):
            return ms.State(task.log_base)

        def step(self, state, task):
            return state.advance(state.log_policy)

    with pytest.raises(ValueError, match="declares the capability 'velocity' but has no velocity"):
        ms.flow(Liar(), ms.make_task(P), [0.0, 1.0])
    with pytest.raises(ValueError, match="unknown capabilities"):
        ms.capabilities(type("X", (Liar,), {"capabilities": frozenset({"flies"})})())


def test_ema_teacher_is_not_a_map_on_the_simplex():
    rule = ms.SelfDistillation(teacher_base=ms.EMA(0.5))
    assert "memoryless" not in ms.capabilities(rule)
    with pytest.raises(ValueError, match="memoryless"):
        ms.map_jacobian(rule, ms.make_task(P), P)


def test_swapped_arguments_get_a_clear_error():
    with pytest.raises(ValueError, match="the rule comes first"):
        ms.iterate(ms.make_task(P), ms.NaturalPG(), 3)


@pytest.mark.parametrize("rule", RULES, ids=lambda r: type(r).__name__)
def test_states_and_trajectories_pickle_and_deep_copy(rule):
    traj = ms.iterate(rule, ms.make_task(P), 3)
    for obj in (traj, traj.final, rule):
        again = pickle.loads(pickle.dumps(obj))
        copy.deepcopy(obj)
        if obj is traj:
            np.testing.assert_array_equal(again.log_policy, traj.log_policy)
    assert isinstance(traj.final, ms.State) and traj.final.round == 3


def test_geometric_mix_has_one_treatment_of_zero_modes():
    a = LOG([0.5, 0.5, 0.0])
    b = LOG([0.0, 0.5, 0.5])
    np.testing.assert_array_equal(geometric_mix(a, b, 0.0), a)
    np.testing.assert_array_equal(geometric_mix(a, b, 1.0), b)
    mid = geometric_mix(a, b, 0.5)
    assert np.isneginf(mid[0]) and np.isneginf(mid[2]) and np.isfinite(mid[1])
    grid = geometric_mix(a, b, np.array([0.0, 0.5, 1.0]))
    np.testing.assert_array_equal(grid[0], a)
    np.testing.assert_array_equal(grid[2], b)


def test_combine_reverse_and_forward_survive_huge_beta_and_zero_reference():
    g = np.log([0.7, 0.2, 0.1])
    ref = np.log([0.2, 0.3, 0.5])
    out = combine_reverse(g, ref, 1e308)
    np.testing.assert_allclose(out, ref, atol=1e-300)
    beta = np.array([0.0, 1.0])
    grid = combine_reverse(g, LOG([0.0, 0.5, 0.5]), beta)
    np.testing.assert_array_equal(grid[0], g)  # β = 0 ignores a zero of the reference
    assert np.isneginf(grid[1, 0])
    np.testing.assert_allclose(np.exp(combine_forward(g, ref, 1.0)), (np.exp(g) + np.exp(ref)) / 2)


def test_apply_map_validates_its_log_policy():
    with pytest.raises(ValueError, match="log_policy must not contain NaN"):
        ms.apply_map(ms.NaturalPG(), [np.nan, 0.0, -1.0], ms.make_task(P))
    with pytest.raises(ValueError, match="needs a rule that is deterministic"):
        ms.apply_map(_Random(), np.log(P), ms.make_task(P))


class _Random:
    capabilities = frozenset({"memoryless"})

    def init(self, task):
        return ms.State(task.log_base)

    def step(self, state, task):
        return state.advance(state.log_policy)


def test_iterate_rejects_a_state_with_nan():
    task = ms.make_task(P)
    bad = ms.State(np.array([np.nan, 0.0, -1.0]))
    with pytest.raises(ValueError, match="state.log_policy must not contain NaN"):
        ms.iterate(ms.NaturalPG(), task, 2, state=bad)
    with pytest.raises(ValueError, match="state must be a modesim State"):
        ms.iterate(ms.NaturalPG(), task, 2, state={"log_policy": 1})


def test_deprecated_eta_keywords_still_work_and_warn():
    task = ms.make_task(P, [1, 1, 0])
    with pytest.warns(DeprecationWarning, match=r"use lr="):
        old = ms.NaturalPG(eta=2.0)
    assert old.lr == 2.0
    with pytest.warns(DeprecationWarning, match=r"use step_size="):
        sd = ms.SelfDistillation(eta=0.5)
    assert sd.step_size == 0.5
    with pytest.raises(ValueError, match="both eta="):
        ms.SoftmaxPG(lr=0.3, eta=0.2)
    np.testing.assert_allclose(ms.iterate(old, task, 2).policy, ms.iterate(ms.NaturalPG(2.0), task, 2).policy)
