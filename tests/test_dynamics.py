"""iterate, flow, tangent-space Jacobians, fixed points, rounds to collapse (MATH §3.5, §6)."""

import numpy as np
import pytest
from hypothesis import given, settings

import modesim as ms
from modesim.testing import alphas, policies

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
    """Time is measured in rounds: η → 0 rounds approach the flow (MATH §6)."""
    task = ms.make_task(P)
    eta = 0.01
    it = ms.iterate(ms.SelfDistillation(eta=eta), task, 300).policy[-1]
    fl = ms.flow(ms.SelfDistillation(eta=eta), task, [0.0, 300.0]).policy[-1]
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
    traj = ms.flow(ms.SelfDistillation(eta=0.5), task, [0.0, 1.0, 4.0])
    assert traj.policy.shape == (3, 2, 3)
    assert np.all(traj.policy[:, 0, 2] == 0)
    np.testing.assert_allclose(traj.policy[:, 0, :2], 0.5, atol=1e-9)


def test_flow_bad_arguments():
    with pytest.raises(ValueError, match="t_eval must be"):
        ms.flow(ms.NaturalPG(), ms.make_task(P), [1.0, 0.5])
    with pytest.raises(ValueError, match="EMA"):
        ms.flow(ms.SelfDistillation(teacher_base=ms.EMA(0.5)), ms.make_task(P), [0, 1])


@settings(max_examples=20, deadline=None)
@given(policies(K=4, min_prob=0.05), alphas(0.1, 0.9))
def test_map_jacobian_against_plain_central_differences_in_helmert_coordinates(p, alpha):
    """An independent Jacobian: differentiate z ↦ Vᵀ F(p + V z) with fixed-step central differences."""
    task = ms.make_task(np.full(4, 0.25))
    rule = ms.SelfDistillation(teacher=ms.CopyTeacher(alpha), reference="current")
    V = ms.tangent_basis(4)
    F = lambda q: np.exp(ms.apply_map(rule, np.log(q), task))
    h = 1e-5
    J = np.column_stack([V.T @ (F(p + h * V[:, i]) - F(p - h * V[:, i])) / (2 * h) for i in range(3)])
    np.testing.assert_allclose(ms.map_jacobian(rule, task, p), J, atol=1e-7)


def test_tangent_basis_is_orthonormal_and_sum_zero():
    for K in (2, 3, 7):
        V = ms.tangent_basis(K)
        np.testing.assert_allclose(V.T @ V, np.eye(K - 1), atol=1e-14)
        np.testing.assert_allclose(V.sum(0), 0, atol=1e-14)


def test_vertex_eigenvalue_is_one_minus_alpha():
    """At a valid vertex, off-face perturbations shrink by (1 − α)^{1/(1+β)} (one-sided differences)."""
    task = ms.make_task(P)
    ev = np.linalg.eigvals(ms.map_jacobian(ms.SelfDistillation(reference="current"), task, [1.0, 0, 0]))
    np.testing.assert_allclose(np.sort(ev.real), [0.5, 0.5], atol=1e-5)


def test_flow_jacobian_at_uniform_point_of_the_sd_flow():
    """Flow version of S8: eigenvalue λ − 1 = (1/K) f'(1/K)/(1+β) > 0 at the uniform rest point."""
    K, alpha = 3, 0.5
    task = ms.make_task(np.full(K, 1 / K))
    rule = ms.SelfDistillation(teacher=ms.CopyTeacher(alpha), reference="current")
    ev = np.linalg.eigvals(ms.flow_jacobian(rule, task, np.full(K, 1 / K)))
    u = alpha / ((1 - alpha) / K)
    mu = (np.log1p(u) - u / (1 + u)) / K  # the map's Jacobian is I + this one: λ − 1
    np.testing.assert_allclose(ev.real, [mu, mu], atol=1e-7)


def test_fixed_points_of_natural_pg_sit_on_the_valid_face():
    task = ms.make_task([0.5, 0.3, 0.2], [1, 1, 0])
    fps = ms.fixed_points(ms.NaturalPG(1.0), task)
    supports = {fp.support for fp in fps}
    assert (0, 1, 2) not in supports  # interior points keep moving toward C
    assert (2,) in supports
    on_valid_face = [fp for fp in fps if fp.support == (0, 1)]
    assert on_valid_face and all(fp.stability == "neutral" for fp in on_valid_face)


def test_fixed_points_input_errors():
    with pytest.raises(ValueError, match="unbatched"):
        ms.fixed_points(ms.NaturalPG(), ms.make_task([[0.5, 0.5], [0.2, 0.8]]))
    with pytest.raises(ValueError, match="EMA"):
        ms.fixed_points(ms.SelfDistillation(teacher_base=ms.EMA(0.5)), ms.make_task(P))
    with pytest.raises(ValueError, match="K <= 10"):
        ms.fixed_points(ms.NaturalPG(), ms.zipf_task(11))


def test_rounds_to_collapse_batched():
    task = ms.make_task([[0.6, 0.3, 0.1], [0.34, 0.33, 0.33], [1 / 3, 1 / 3, 1 / 3]])
    r = ms.rounds_to_collapse(ms.SelfDistillation(), task, eps=1e-3, max_rounds=500)
    assert r[0] > 0 and r[1] > r[0]
    assert r[2] == -1  # uniform is a fixed point
    traj = ms.iterate(ms.SelfDistillation(), ms.make_task(P), int(r[0]))
    assert traj.policy[-1][0] > 1 - 1e-3 and traj.policy[-2][0] <= 1 - 1e-3
    with pytest.raises(ValueError, match="eps must lie"):
        ms.rounds_to_collapse(ms.SelfDistillation(), task, eps=2)


@pytest.mark.parametrize("e", [1e-8, 1e-12, 1e-14])
def test_jacobian_next_to_a_face_uses_one_sided_steps(e):
    """Near a vertex the off-face eigenvalues stay (1 − α) = 0.5 (MATH S6)."""
    task = ms.make_task(P)
    p = np.array([1 - 2 * e, e, e])
    ev = np.linalg.eigvals(ms.map_jacobian(ms.SelfDistillation(reference="current"), task, p))
    np.testing.assert_allclose(np.sort(ev.real), [0.5, 0.5], atol=2e-4)


@pytest.mark.parametrize("h", [0, -1e-6, float("nan"), 0.5, "x"])
def test_jacobian_step_is_validated(h):
    with pytest.raises(ValueError, match="h must be"):
        ms.map_jacobian(ms.NaturalPG(), ms.make_task(P), P, h=h)


def test_fixed_points_starts_is_validated():
    with pytest.raises(ValueError, match="starts must be"):
        ms.fixed_points(ms.NaturalPG(), ms.make_task(P), starts=-1)


def test_fixed_points_on_a_continuum_are_all_neutral():
    """Softmax PG rests on the whole valid face; solutions that run onto a smaller face
    are snapped there, so no round-off Jacobian labels them unstable."""
    fps = ms.fixed_points(ms.SoftmaxPG(5.0), ms.make_task([0.25, 0.15, 0.1, 0.5], [1, 1, 1, 0]))
    on_valid = [fp for fp in fps if 3 not in fp.support]
    assert len(on_valid) > 5 and all(fp.stability == "neutral" for fp in on_valid)
    # At the wrong-answer vertex the gradient π_i(r_i − J) is O(ε) in the perturbation, so the
    # linearisation is the identity: neutral (the escape is second order, MATH R4's slowness).
    assert [fp.stability for fp in fps if fp.support == (3,)] == ["neutral"]
