"""The catalogue's verdicts (theory §11): every entry names a registered statement, and the claims
its detail makes beyond the registry (D1 on logits, H1's peak) are checked here."""

from __future__ import annotations

import numpy as np
import pytest

import modesim as ms
from modesim import theorems as th
from modesim.remedies import CATALOGUE, SampledBlend, diversity_bonus_reward, remedy, verdict_table


def test_every_remedy_names_a_registered_statement_with_a_verdict():
    ids = {t.id for t in th.REGISTRY}
    for r in CATALOGUE:
        assert r.theorem in ids and r.verdict in ("exact", "asymptotic", "no")
        assert th.get(r.theorem).section == "§11"
    assert [r.name for r in CATALOGUE][:2] == ["forward KL", "teacher mixture"]
    assert remedy("balanced demos").verdict == "exact"
    with pytest.raises(ValueError, match="remedy must be one of"):
        remedy("magic")
    assert verdict_table().count("\n") == len(CATALOGUE)
    assert verdict_table(markdown=True).startswith("| remedy |")


@pytest.mark.parametrize("N, lam", [(4, 1.0), (8, 0.5)])
def test_diversity_bonus_on_logits_has_a_pair_and_mass_dependent_sign(N, lam):
    """REINFORCE with the bonus (Euclidean mean field π ⊙ (a − Σπa)): d/dt log(π_y/π_y') =
    (π_y − π_y')·[(1 − J)(1 + λ') + λ'(Σ_C π² − π_y − π_y')], λ' = λ(N − 1)/N: amplifying while
    much mass is invalid, compressing near J = 1."""
    lp_ = lam * (N - 1) / N
    signs = set()
    for base in ([0.3, 0.1, 0.6], [0.6, 0.35, 0.05]):
        p = np.array(base)
        valid = np.array([True, True, False])
        a = diversity_bonus_reward(p, valid, N, lam)
        v = p * (a - np.sum(p * a))
        J = p[valid].sum()
        want = (p[0] - p[1]) * ((1 - J) * (1 + lp_) + lp_ * (np.sum(p[valid] ** 2) - p[0] - p[1]))
        # v = π ⊙ (a − Σπa) is the D1 mean field (checked against enumeration of groups in the registry);
        # the logits' difference moves at v_0 − v_1.
        assert v[0] - v[1] == pytest.approx(want, rel=1e-12)
        signs.add(np.sign(want))
    assert signs == {-1.0, 1.0}


def test_sign_gated_advantage_peaks_at_an_interior_share():
    """H1's valid advantage c·q(L(Jq) + 2 log(1 − α)) rises then falls in q for J ≥ 0.5: the rule
    compresses common modes and amplifies rare ones; from (0.5, 0.3 | 0.2 invalid) the dominant
    valid mode's mean-field log-odds fall."""
    q = np.linspace(0.005, 1, 400)
    for alpha in (0.1, 0.5, 0.9):
        for J in (0.5, 0.9):
            g = q * (np.log1p(alpha / ((1 - alpha) * J * q)) + 2 * np.log(1 - alpha))
            peak = q[np.argmax(g)]
            assert 0.02 < peak < 0.26 and g[-1] < g.max()
    task = ms.make_task([0.5, 0.3, 0.2], [1, 1, 0])
    v = SampledBlend(ms.CopyTeacher(0.5), combine="sign", lr=1.0).velocity(task.log_base, task)
    assert v[0] - v[1] < 0          # d/dt log(π0/π1) on logits: the favourite loses ground
