"""modesim.paths.features: tabular and log-linear feature policies (theory §10).

Checks: θ0 is the base policy; the row-wise node softmax equals the library's and makes
each batch row independent of the others; the feature policy's exact mean fields are the
θ-gradients of what they claim (the success probability for REINFORCE, the weighted
per-step divergences for self-distillation), against central finite differences; a policy
trained on one graph size runs, without refitting, on graphs twice as large and keeps its
gain there; bad input is refused by name.
"""

import numpy as np
import pytest

import modesim as ms
from modesim import paths
from modesim.paths import (
    ConceptGraph,
    ExpectedUpdate,
    FeaturePolicy,
    PathCopyTeacher,
    PathSampledRL,
    PathSampledSD,
    bank_success,
    graph_bank,
    normalise_nodes_rowwise,
)

from . import path_reference as ref

BANK = graph_bank(ConceptGraph(12), 3, seed=5)


def test_theta0_is_the_base_policy():
    pol = FeaturePolicy()
    np.testing.assert_allclose(pol.log_policy(pol.theta_init(), BANK), BANK.log_base, atol=1e-14)
    uniform = FeaturePolicy(("step", "log_degree"))
    lp = uniform.log_policy(uniform.theta_init(), BANK)
    np.testing.assert_allclose(np.exp(lp), 1.0 / np.repeat(BANK.graph.out_lengths, BANK.graph.out_lengths))


def test_rowwise_node_softmax_is_the_node_softmax_and_rows_do_not_interact():
    rng = np.random.default_rng(0)
    x = rng.normal(0, 3, (3, BANK.n_edges))
    np.testing.assert_allclose(normalise_nodes_rowwise(BANK.graph, x), paths.normalise_nodes(BANK.graph, x), atol=1e-15)
    np.testing.assert_allclose(normalise_nodes_rowwise(BANK.graph, x[0]), ref.node_softmax(BANK.graph, x[0]), atol=1e-13)
    extreme = x.copy()
    extreme[1] *= 1e3  # needs the shifted computation
    out = normalise_nodes_rowwise(BANK.graph, extreme)
    np.testing.assert_array_equal(out[[0, 2]], normalise_nodes_rowwise(BANK.graph, x[[0, 2]]))
    np.testing.assert_allclose(np.exp(out[1]).sum(), BANK.graph.out_nodes.size, rtol=1e-12)


def _mean_success(theta, pol, bank):
    return bank_success(np.exp(pol.log_policy(theta, bank)), bank).mean()


def test_reinforce_mean_field_is_the_gradient_of_the_success_probability():
    """velocity/lr = ∇_θ (1/G) Σ_g J_g(θ), with J by dynamic programming (theory §10)."""
    pol = FeaturePolicy(theta0=(0.8, 0.3, 0.5))
    theta = pol.theta_init()
    rule = PathSampledRL("reinforce", lr=2.0, policy=pol)
    v = rule.velocity(pol.log_policy(theta, BANK), BANK) / rule.lr
    h = 1e-6
    fd = np.array([(_mean_success(theta + h * e, pol, BANK) - _mean_success(theta - h * e, pol, BANK)) / (2 * h)
                   for e in np.eye(3)])
    np.testing.assert_allclose(v, fd, rtol=1e-6, atol=1e-10)
    # Negative control: the gradient of the product of the J_g is not it.
    prod = np.array([(np.log(bank_success(np.exp(pol.log_policy(theta + h * e, BANK)), BANK)).mean()
                      - np.log(bank_success(np.exp(pol.log_policy(theta - h * e, BANK)), BANK)).mean()) / (2 * h)
                     for e in np.eye(3)])
    assert not np.allclose(v, prod, rtol=1e-3)


@pytest.mark.parametrize("objective, lam", [("reverse", None), ("forward", None), ("jsd", 0.5), ("jsd", 0.2)])
def test_sd_kernel_pulled_back_is_the_gradient_of_the_weighted_step_divergences(objective, lam):
    """pull_back(divergence_grad) = ∇_θ (1/G) Σ w·D(π_θ,u, T) with ρ and the weights fixed."""
    pol = FeaturePolicy(theta0=(1.1, -0.2, 0.4))
    theta = pol.theta_init()
    alpha = 0.6
    rule = PathSampledSD(PathCopyTeacher(alpha), objective=objective, jsd_weight=lam, policy=pol)
    g = BANK.graph
    rng = np.random.default_rng(1)
    w_plain = rng.random(g.n_nodes) * (g.out_degree > 0)
    w_demo = rng.random(g.n_edges) * (rng.random(g.n_edges) < 0.5)
    rho = np.exp(BANK.log_base)

    def loss(th):
        pi = np.exp(pol.log_policy(th, BANK))
        total = 0.0
        for u in g.out_nodes:
            es = ref.node_edges(g, u)
            rows = [(w_plain[u], ref.copy_row(g, rho, u, [], alpha))]
            rows += [(w_demo[e], ref.copy_row(g, rho, u, [e], alpha)) for e in es]
            p = pi[es]
            for w, T in rows:
                t = np.array([T[e] for e in es])
                if objective == "reverse":
                    total += w * np.sum(p * np.log(p / t))
                elif objective == "forward":
                    total += w * np.sum(t * np.log(t / p))
                else:
                    m = lam * t + (1 - lam) * p
                    total += w * (lam * np.sum(t * np.log(t / m)) + (1 - lam) * np.sum(p * np.log(p / m)))
        return total / BANK.n_graphs

    lp = pol.log_policy(theta, BANK)
    got = pol.pull_back(rule.divergence_grad(lp, BANK.log_base, w_plain, w_demo, BANK), BANK)
    h = 1e-6
    fd = np.array([(loss(theta + h * e) - loss(theta - h * e)) / (2 * h) for e in np.eye(3)])
    np.testing.assert_allclose(got, fd, rtol=1e-5, atol=1e-9)


def test_a_policy_trained_on_one_size_runs_on_larger_graphs_without_refitting():
    pol = FeaturePolicy()
    small = graph_bank(ConceptGraph(14), 16, seed=0)
    large = graph_bank(ConceptGraph(14).larger(2.0), 16, seed=0, stream=1)
    state = ms.iterate(ExpectedUpdate(PathSampledRL("grpo", lr=1.0, policy=pol)), small, 200,
                       record_policy=False).final
    theta = state.params
    for bank in (small, large):
        before = _mean_success(pol.theta_init(), pol, bank)
        after = _mean_success(theta, pol, bank)
        assert after > before + 0.05, (bank, before, after)
    assert large.graph.n_nodes == 2 * small.graph.n_nodes
    # The same θ gives a normalised policy on the larger bank (no parameter depends on size).
    np.testing.assert_allclose(np.add.reduceat(np.exp(pol.log_policy(theta, large)), large.graph.out_offsets), 1.0)


@pytest.mark.parametrize("make, word", [
    (lambda: FeaturePolicy(()), "features"),
    (lambda: FeaturePolicy("log_base"), "features"),
    (lambda: FeaturePolicy(("step", "step")), "features"),
    (lambda: FeaturePolicy(theta0=(1.0, 0.0)), "theta0"),
    (lambda: FeaturePolicy(theta0=(1.0, float("nan"), 0.0)), "theta0"),
    (lambda: FeaturePolicy(("nope",)).matrix(BANK), "feature"),
    (lambda: paths.features.as_policy(3), "policy"),
])
def test_bad_input_is_refused_by_name(make, word):
    with pytest.raises(ValueError, match=word):
        make()
