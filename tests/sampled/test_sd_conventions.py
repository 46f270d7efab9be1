"""Self-distillation conventions of the public trainers in SampledSD (theory §8.1, §8.2).

Checks: the expected update of every combination of objective (reverse, forward, JSD),
estimator, loss normalisation, demonstration sharing, demonstration source, teacher base and
KL estimator equals the closed-form mean field (``velocity``), by exact enumeration of all
groups and demonstration assignments; the mean field without the "one correct rollout"
correction is the failing control; the sampling path (``estimate``) against the same mean
field by Monte Carlo; the shared demonstration is SDPO's (first correct rollout, the second
for itself); a λ grid with its endpoints equals the loop over scalars; capabilities and bad input.
"""

from itertools import product

import numpy as np
import pytest

import modesim as ms
from modesim.sampled import SampledSD
from modesim.sampled.objectives import centred

from .enumeration import expected_sd
from .support import R4, Z_BOUND, exact_direction, mc_agrees

TASK = ms.make_task([0.4, 0.25, 0.15, 0.2], [True, True, False, False])
POLICY = np.log(np.array([0.5, 0.1, 0.3, 0.1]))
RHO = np.log(np.array([0.3, 0.3, 0.3, 0.1]))

OBJECTIVES = [("reverse", None), ("forward", None), ("jsd", 0.5), ("jsd", 0.15), ("jsd", 1.0), ("jsd", 0.0)]


def _combos():
    for (obj, lam), est, norm, share, demos in product(
        OBJECTIVES, ("sampled", "full"), ("all", "demonstrated"), ("per_rollout", "per_group"),
        ("group", "uniform", "fixed"),
    ):
        yield obj, lam, est, norm, share, demos


def _rule(obj, lam, est, norm, share, demos, **kw):
    source = {"group": "group", "uniform": ms.UniformDemos(), "fixed": ms.FixedDemo(1)}[demos]
    return SampledSD(objective=obj, jsd_weight=lam, estimator=est, loss_normalisation=norm, demo_sharing=share,
                     demos=source, lr=1.0, **kw)


@pytest.mark.parametrize("obj, lam, est, norm, share, demos", list(_combos()))
def test_expected_update_equals_the_mean_field_by_enumeration(obj, lam, est, norm, share, demos):
    loo = est == "sampled" and obj != "reverse" and not (demos == "group" and norm == "demonstrated")
    rule = _rule(obj, lam, est, norm, share, demos, n_rollouts=3, beta=0.2, teacher_base=ms.EMA(0.5),
                 baseline="loo" if loo else "none")
    expected, cases = expected_sd(rule, TASK, POLICY, RHO)
    assert abs(cases["weight"].sum() - 1.0) < 1e-12
    np.testing.assert_allclose(expected, rule.velocity(POLICY, TASK, teacher_log_base=RHO), atol=2e-15)


@pytest.mark.parametrize("kl", ["k1", "k2", "k3", "k3_clamped", "k3_is"])
@pytest.mark.parametrize("reference", ["base", "current"])
def test_sampled_kl_estimators_in_sd_match_their_mean_field(kl, reference):
    rule = SampledSD(objective="jsd", estimator="full", n_rollouts=4, beta=0.7, kl_estimator=kl,
                     reference=reference, lr=1.0, teacher_base="frozen")
    expected, _ = expected_sd(rule, TASK, POLICY, TASK.log_base)
    np.testing.assert_allclose(expected, rule.velocity(POLICY, TASK), atol=2e-15)


def test_self_including_full_estimator_with_each_normalisation():
    for norm in ("all", "demonstrated"):
        rule = SampledSD(objective="jsd", jsd_weight=0.3, estimator="full", exclude_self=False,
                         loss_normalisation=norm, n_rollouts=4, lr=1.0)
        expected, _ = expected_sd(rule, TASK, POLICY, POLICY)
        np.testing.assert_allclose(expected, rule.velocity(POLICY, TASK), atol=2e-15)


def test_mean_field_without_the_one_correct_rollout_term_is_wrong():
    # Negative control: with the sampled estimator and loss_normalisation="demonstrated", a
    # group with exactly one correct rollout averages its N − 1 (incorrect) rollouts over
    # N − 1; dropping that term P' = J(1 − J)^{N−2} from the mean field fails enumeration.
    rule = SampledSD(n_rollouts=3, loss_normalisation="demonstrated", lr=1.0)
    expected, _ = expected_sd(rule, TASK, POLICY, POLICY)
    v = rule.velocity(POLICY, TASK)
    np.testing.assert_allclose(expected, v, atol=2e-15)
    J = 0.6
    G = rule.teacher.expected_log(POLICY, np.exp(POLICY) * TASK.valid / J)
    p = np.exp(POLICY)
    q = p * (POLICY - G)
    without = -(1 - (1 - J) ** 2) * centred(q.copy(), p)
    assert np.max(np.abs(without - expected)) > 1e-3
    with_term = without - J * (1 - J) * centred(np.where(TASK.valid, 0.0, q), p)
    np.testing.assert_allclose(with_term, expected, atol=2e-15)


def test_loo_baseline_with_demonstrated_normalisation_is_biased_and_has_no_mean_field():
    # The weight 1/H depends on the scored rollout's correctness: the LOO baseline then moves
    # the expectation (enumeration), so the rule declares no velocity.
    plain = SampledSD(objective="jsd", n_rollouts=3, loss_normalisation="demonstrated", lr=1.0)
    loo = SampledSD(objective="jsd", n_rollouts=3, loss_normalisation="demonstrated", baseline="loo", lr=1.0)
    a, _ = expected_sd(plain, TASK, POLICY, POLICY)
    b, _ = expected_sd(loo, TASK, POLICY, POLICY)
    assert np.max(np.abs(a - b)) > 1e-3
    assert loo.capabilities == {"estimate"}
    with pytest.raises(ValueError, match="baseline='loo' with loss_normalisation='demonstrated'"):
        loo.velocity(POLICY, TASK)
    external = SampledSD(objective="jsd", n_rollouts=3, loss_normalisation="demonstrated", baseline="loo",
                         demos=ms.UniformDemos(), lr=1.0)
    np.testing.assert_allclose(expected_sd(external, TASK, POLICY, POLICY)[0], external.velocity(POLICY, TASK),
                               atol=2e-15)


MC_RULES = [
    SampledSD.preset("sdpo", optimiser="sgd", teacher_base="current", n_rollouts=4, seed=21),
    SampledSD.preset("trl-sdpo", optimiser="sgd", teacher_base="current", n_rollouts=4, seed=22),
    SampledSD(objective="jsd", jsd_weight=0.3, loss_normalisation="demonstrated", n_rollouts=4, seed=23),
    SampledSD(objective="forward", estimator="full", demo_sharing="per_group", demos=ms.UniformDemos(), n_rollouts=3,
              seed=24),
]


@pytest.mark.parametrize("rule", MC_RULES, ids=["sdpo", "trl-sdpo", "jsd-sampled-demonstrated", "forward-shared-uniform"])
def test_sampling_path_is_unbiased_for_the_mean_field(rule):
    # estimate() draws rollouts and demonstrations through the per-entry streams; its mean
    # over 10^5 groups agrees with the closed form within 5 standard errors.
    ok, z = mc_agrees(rule, R4, exact_direction(rule, R4))
    assert ok, f"max |z| = {z:.2f} > {Z_BOUND}"


def test_shared_demonstration_is_the_first_correct_rollout_and_its_own_is_the_second():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 5, (4000, 6))
    correct = rng.random((4000, 6)) < 0.4
    for exclude in (True, False):
        rule = SampledSD(n_rollouts=6, demo_sharing="per_group", exclude_self=exclude)
        demos, has, (rows, row_of) = rule.shared_group_demos(y, correct)
        for b in range(4000):
            idx = [j for j in range(6) if correct[b, j]]
            for n in range(6):
                eligible = [j for j in idx if j != n or not exclude]  # SDPO's _get_solution
                assert has[b, n] == bool(eligible)
                if eligible:
                    assert demos[b, n, 0] == y[b, eligible[0]]
                    assert rows[b, row_of[b, n], 0] == y[b, eligible[0]]


def test_per_group_and_per_rollout_demonstrations_share_the_mean_but_not_the_variance():
    big = ms.replicate(R4, 20_000)
    out = {}
    for share in ("per_rollout", "per_group"):
        rule = SampledSD(estimator="full", demo_sharing=share, seed=5)
        d, _ = rule.estimate(rule.init(big), big)
        out[share] = d
    se = np.sqrt((out["per_rollout"].var(0) + out["per_group"].var(0)) / 20_000)
    assert np.all(np.abs(out["per_rollout"].mean(0) - out["per_group"].mean(0)) < 5 * se)
    assert np.all(out["per_group"].var(0) > 1.5 * out["per_rollout"].var(0))


def test_demonstrated_normalisation_divides_by_the_rollouts_that_have_one():
    rule_all = SampledSD(estimator="full", n_rollouts=5, seed=1)
    rule_dem = SampledSD(estimator="full", n_rollouts=5, seed=1, loss_normalisation="demonstrated")
    big = ms.replicate(R4, 500)
    s = rule_all.init(big)
    d_all, _ = rule_all.estimate(s, big)
    d_dem, _ = rule_dem.estimate(s, big)
    # Same draws: the two differ by the factor N/H per group (H rollouts with a demonstration).
    u = rule_all.draws(s, 10)
    y = ms.sampled.sampling.inverse_cdf(np.exp(s.log_policy), u[..., :5])
    _, has = rule_all.group_demos(y, big.valid[np.arange(500)[:, None], y], u[..., 5:, None])
    H = has.sum(-1, keepdims=True)
    np.testing.assert_allclose(d_dem, np.where(H > 0, d_all * 5 / np.maximum(H, 1), 0.0), atol=1e-15)


def test_jsd_weight_grid_with_its_endpoints_equals_the_loop():
    lam = np.array([0.0, 0.2, 1.0])
    for est in ("sampled", "full"):
        batched = ms.iterate(SampledSD(objective="jsd", jsd_weight=lam, estimator=est, seed=3, beta=0.1), R4, 5).log_policy
        for i, x in enumerate(lam):
            one = ms.iterate(SampledSD(objective="jsd", jsd_weight=float(x), estimator=est, seed=3, beta=0.1), R4, 5)
            np.testing.assert_array_equal(batched[:, i], one.log_policy)


def test_jsd_endpoints_are_the_kl_rules():
    for est in ("sampled", "full"):
        for lam, obj in ((1.0, "reverse"), (0.0, "forward")):
            a = ms.iterate(SampledSD(objective="jsd", jsd_weight=lam, estimator=est, seed=3), R4, 4).log_policy
            b = ms.iterate(SampledSD(objective=obj, estimator=est, seed=3), R4, 4).log_policy
            np.testing.assert_allclose(a, b, atol=1e-15)


@pytest.mark.parametrize("make, match", [
    (lambda: SampledSD(jsd_weight=0.5), r"jsd_weight is the mixing weight of objective='jsd'; with objective='reverse' it is unused"),
    (lambda: SampledSD(objective="jsd", jsd_weight=1.5), r"jsd_weight must be in \[0, 1\]; got 1.5"),
    (lambda: SampledSD(objective="jsd", jsd_weight=[0.5, -0.1]), r"jsd_weight must be .* at index \(1,\)"),
    (lambda: SampledSD(loss_normalisation="tokens"), r"loss_normalisation must be one of 'all', 'demonstrated'; got 'tokens'"),
    (lambda: SampledSD(demo_sharing="shared"), r"demo_sharing must be one of 'per_rollout', 'per_group'; got 'shared'"),
    (lambda: SampledSD(ms.MultiDemoTeacher(0.5, 2), demo_sharing="per_group"), r"teacher.n_demos=2"),
    (lambda: SampledSD(kl_estimator="k5"), r"kl_estimator must be one of"),
])
def test_bad_sd_convention_input_is_a_named_value_error(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_jsd_with_several_demonstrations_has_no_mean_field_but_the_kls_do():
    # E over a tuple of m demonstrations of log M is not a sum over the teacher's K × K matrix.
    teacher = ms.MultiDemoTeacher(0.5, 3)
    jsd = SampledSD(teacher, demos=ms.UniformDemos(), objective="jsd")
    assert jsd.capabilities == {"estimate"}
    with pytest.raises(ValueError, match="objective='jsd' with m=3 demonstrations"):
        jsd.velocity(R4.log_base, R4)
    for obj in ("reverse", "forward"):
        rule = SampledSD(teacher, demos=ms.UniformDemos(), objective=obj, estimator="full", seed=31)
        ok, z = mc_agrees(rule, R4, exact_direction(rule, R4), rows=20_000)
        assert ok, (obj, z)


def test_default_jsd_weight_is_one_half_and_shared_external_demonstrations_take_m_draws():
    assert SampledSD(objective="jsd").jsd_weight == 0.5
    rule = SampledSD(ms.MultiDemoTeacher(0.5, 3), demos=ms.UniformDemos(), demo_sharing="per_group", n_rollouts=4, seed=0)
    big = ms.replicate(R4, 50)
    s = rule.init(big)
    demos, has, (rows, row_of) = rule.demonstrations(
        np.zeros((50, 4), dtype=np.int64), big, s.log_policy, rule.draws(s, 7)[..., 4:])
    assert demos.shape == (50, 4, 3) and rows.shape == (50, 1, 3) and has.all()
    assert np.all(demos == demos[:, :1])  # one context for the whole group
