"""Tangent-space Jacobians and fixed points (theory §3.5, §6)."""

import numpy as np
import pytest
from hypothesis import given, settings

import modesim as ms
from modesim.testing import alphas, policies

P = [0.6, 0.3, 0.1]


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


@pytest.mark.parametrize("e", [1e-8, 1e-12, 1e-14])
def test_jacobian_next_to_a_face_uses_one_sided_steps(e):
    """Near a vertex the off-face eigenvalues stay (1 − α) = 0.5 (theorem S6)."""
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
    # linearisation is the identity: neutral (the escape is second order, theorem R4's slowness).
    assert [fp.stability for fp in fps if fp.support == (3,)] == ["neutral"]


def test_fixed_points_are_fixed_in_relative_terms():
    """Issue 9 kind 4: [6.2e-09, 0.999999, 1.2e-06] was accepted though one round
    multiplies its first entry by e.  Every returned point must map to itself."""
    task = ms.make_task([0.5, 0.3, 0.2], [1, 0, 0])
    rule = ms.NaturalPG(1.0)
    points = ms.fixed_points(rule, task)
    assert points
    for fp in points:
        S = fp.policy > 0
        new = ms.apply_map(rule, np.log(np.where(S, fp.policy, 1.0)) + np.where(S, 0.0, -np.inf), task)
        np.testing.assert_allclose(new[S], np.log(fp.policy[S]), atol=1e-8)
        # Under NPG the only rest points are the valid vertex and the all-invalid face.
        assert S[0] != S[1:].any()


def test_fixed_points_refuse_a_sampled_rule():
    class Sampled:
        capabilities = frozenset({"memoryless", "estimate"})

        def init(self, task):
            return ms.State(task.log_base)

        def step(self, state, task):
            return state.advance(state.log_policy)

        def estimate(self, state, task):
            return np.zeros_like(state.log_policy), np.zeros(state.log_policy.shape[:-1], bool)

    with pytest.raises(ValueError, match="needs a rule that is deterministic"):
        ms.fixed_points(Sampled(), ms.make_task(P))


@pytest.mark.parametrize("kwargs, match", [
    ({"tol": float("nan")}, "tol must be"),
    ({"tol": 0.0}, "tol must be"),
    ({"stability_tol": -1.0}, "stability_tol must be"),
    ({"seed": "x"}, "seed must be"),
])
def test_fixed_points_options_are_validated(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ms.fixed_points(ms.NaturalPG(1.0), ms.make_task(P), **kwargs)


def test_tangent_basis_rejects_a_non_positive_size():
    with pytest.raises(ValueError, match="K must be an integer >= 1"):
        ms.tangent_basis(0)
