"""The remedies frontier (theory §11): its ordering on a fixed seed, pinned with margins on the quick
configuration (prompt bank: 24 prompts × 6 seeds × 120 steps; graphs: 16 + 16 graphs × 150 steps)."""

from __future__ import annotations

import numpy as np
import pytest

from modesim.scenarios.remedies import RemedyFrontier, frontier_table, remedy_frontier


@pytest.fixture(scope="module")
def bank():
    return remedy_frontier("prompt_bank", quick=True)


@pytest.fixture(scope="module")
def graph():
    return remedy_frontier("graph", quick=True)


def _rel(fr, method, col):
    return np.array([fr.relative[method][b][col] for b in fr.betas])


def test_frontier_is_relative_to_grpo_at_the_same_beta(bank, graph):
    for fr in (bank, graph):
        assert fr.methods[:2] == ("GRPO", "SD") and fr.betas == (0.0, 0.04)
        for b in fr.betas:
            assert all(v == 0.0 for v in fr.relative["GRPO"][b].values())
            for m in fr.methods:
                for c, v in fr.values[m][b].items():
                    assert 0.0 <= v <= 1.0
                    assert fr.relative[m][b][c] == pytest.approx(v - fr.values["GRPO"][b][c], abs=1e-15)
    assert set(bank.methods) == {"GRPO", "SD", "forward KL", "teacher mixture", "contrastive teacher",
                                 "balanced demos", "RL-SD blend", "sign-gated SD", "anti-distillation",
                                 "GRPO + diversity bonus"}
    assert set(graph.methods) == {"GRPO", "SD", "forward KL", "RL-SD blend", "sign-gated SD", "anti-distillation"}


def test_prompt_bank_self_distillation_loses_pass_at_1_and_pass_at_16(bank):
    """SD needs two correct rollouts in a group, so hard prompts stay unlearned (theory §7)."""
    assert np.all(_rel(bank, "SD", "pass@1") < -0.2)
    assert np.all(_rel(bank, "SD", "pass@16") < -0.1)


def test_prompt_bank_the_diversity_bonus_and_forward_kl_dominate_grpo_out_of_distribution(bank):
    """GRPO at practical β collapses onto each prompt's dominant answer; the bonus and forward KL do not."""
    assert np.all(_rel(bank, "GRPO + diversity bonus", "ood pass@16") > 0.3)
    assert np.all(_rel(bank, "GRPO + diversity bonus", "pass@1") > -0.03)
    assert np.all(_rel(bank, "forward KL", "ood pass@16") > 0.3)
    assert np.all(_rel(bank, "forward KL", "pass@16") > -0.01)
    assert np.all(_rel(bank, "forward KL", "pass@1") > _rel(bank, "SD", "pass@1") + 0.15)


def test_prompt_bank_remedies_inside_the_distillation_loss_keep_sds_pass_at_1(bank):
    """The mixture of m teachers and balanced demonstrations change what SD moves toward, not which
    groups give it a signal: pass@1 stays within 0.06 of SD's; balanced demonstrations keep more
    out-of-distribution pass@16."""
    sd = _rel(bank, "SD", "pass@1")
    for m in ("teacher mixture", "balanced demos"):
        assert np.all(np.abs(_rel(bank, m, "pass@1") - sd) < 0.06)
    assert np.all(_rel(bank, "balanced demos", "ood pass@16") > _rel(bank, "SD", "ood pass@16") + 0.05)


def test_prompt_bank_contrastive_teacher_does_not_learn(bank):
    """Its round is the identity in expectation (registry entry C1): pass@1 stays at the base's."""
    for b in bank.betas:
        assert abs(bank.values["contrastive teacher"][b]["pass@1"] - bank.base["pass@1"]) < 0.02


def test_prompt_bank_blend_sits_between_sd_and_grpo_and_anti_distillation_near_grpo(bank):
    blend = _rel(bank, "RL-SD blend", "pass@1")
    assert np.all(blend > _rel(bank, "SD", "pass@1") + 0.1) and np.all(blend < 0)
    assert np.all(np.abs(_rel(bank, "anti-distillation", "pass@1")) < 0.05)
    assert np.all(_rel(bank, "sign-gated SD", "ood pass@16") > 0.3)


def test_graph_forward_kl_and_sign_gating_keep_harder_graphs(graph):
    """On concept graphs SD loses pass@16 to GRPO; forward KL and the sign-gated advantage gain
    harder-split pass@16 over GRPO and over SD."""
    assert np.all(_rel(graph, "SD", "pass@16") < -0.05)
    for m in ("forward KL", "sign-gated SD"):
        assert np.all(_rel(graph, m, "ood pass@16") > 0.1)
        assert np.all(_rel(graph, m, "ood pass@16") > _rel(graph, "SD", "ood pass@16") + 0.1)
    assert np.all(_rel(graph, "sign-gated SD", "pass@16") > 0.0)


def test_table_and_refusals(bank, graph):
    text = frontier_table(bank, graph)
    assert "forward KL" in text and "exact (F1)" in text and "asymptotic (M1)" in text
    md = frontier_table(bank, graph, markdown=True)
    assert md.splitlines()[0].startswith("| environment |") and md.count("\n") == 1 + 2 * (10 + 6)
    assert "Δpass@1" in bank.table() and isinstance(bank, RemedyFrontier)
    with pytest.raises(ValueError, match="environment must be one of"):
        remedy_frontier("chess")
    with pytest.raises(ValueError, match="methods: unknown"):
        remedy_frontier("graph", methods=["balanced demos"], quick=True, steps=1)
    with pytest.raises(ValueError, match="betas"):
        remedy_frontier(betas=[-0.1], quick=True, steps=1)
    with pytest.raises(ValueError, match="results must be RemedyFrontier"):
        frontier_table("bank")


def test_seeded_runs_repeat():
    one = remedy_frontier("prompt_bank", quick=True, steps=15, n_seeds=2, methods=["sign-gated SD"])
    two = remedy_frontier("prompt_bank", quick=True, steps=15, n_seeds=2, methods=["sign-gated SD"])
    assert one.values == two.values


def test_prompt_bank_forward_kl_beats_sd_whatever_the_estimator(bank):
    """Forward KL's pass@1 advantage over SD is the objective's: SD with the exact row gradient
    (estimator="full") stays far below it (theory §11, F1)."""
    import modesim as ms
    from modesim.scenarios import prompt_bank
    from modesim.scenarios.remedies import _pass

    task = prompt_bank(24, valid_mass=(0.005, 0.7), seed=0)
    rule = ms.SampledSD(ms.CopyTeacher(0.5), estimator="full", n_rollouts=8, lr=0.5,
                        beta=np.array([0.0, 0.04])[:, None, None], teacher_base=ms.EMA(0.95), seed=1)
    p = ms.train(rule, task, 120, n_seeds=6, record_policy=False).final.policy
    full = _pass(p, task.valid, 1).mean(-1)
    forward = np.array([bank.values["forward KL"][b]["pass@1"] for b in bank.betas])
    assert np.all(forward > full + 0.1)


@pytest.mark.parametrize("environment", ["prompt_bank", "graph"])
@pytest.mark.parametrize("kwargs, message", [
    # λ of the blend: the row "RL-SD blend" is λ·A_GRPO + (1 − λ)·A_SD with both weights ≥ 0.
    (dict(blend=1.5), r"blend must be in \[0, 1\]; got 1.5"),
    (dict(blend=-0.5), r"blend must be in \[0, 1\]; got -0.5"),
    (dict(blend=1e300), r"blend must be in \[0, 1\]; got 1e\+300"),
    (dict(blend=float("nan")), r"blend must be in \[0, 1\]; got nan"),
    # μ of anti-distillation A_GRPO − μ·A_SD: μ < 0 would be distillation.
    (dict(anti=-1), "anti must be a finite number >= 0; got -1"),
    (dict(anti=-1e300), r"anti must be a finite number >= 0; got -1e\+300"),
    (dict(anti=float("inf")), "anti must be a finite number >= 0; got inf"),
    (dict(bonus=float("nan")), "bonus must be a finite number >= 0; got nan"),
    (dict(bonus=-1.0), "bonus must be a finite number >= 0; got -1.0"),
    (dict(m=0), "m must be an integer >= 1; got 0"),
    (dict(tau=1.5), r"tau must be in \[0, 1\]; got 1.5"),
    (dict(alpha=1.0), r"alpha must be in \[0, 1\); got 1.0"),
    (dict(n_rollouts=1), "n_rollouts must be an integer >= 2; got 1"),
    (dict(betas="x"), "betas must be a real number"),
    (dict(progress="yes"), r"progress must be True, False or None \(shown for long runs\); got 'yes'"),
    (dict(methods=5), "methods must be None, a method name or a sequence of names; got 5"),
    (dict(methods=[["SD"]]), r"methods: unknown method\(s\) \[\['SD'\]\]"),
    # The rules' message named beta (a batch index of the grid) and an optimiser the scenario lacks.
    (dict(lr=1e6), r"lr·max\(betas\) must be < 4 .*got lr=1000000.0 with betas up to 0.04"),
])
def test_remedy_settings_are_refused_by_their_own_name_in_every_environment(environment, kwargs, message):
    """Every setting is checked before anything trains, in both environments (the bank's
    settings m and bonus too: the graph environment ignores them but does not accept nonsense)."""
    with pytest.raises(ValueError, match=message):
        remedy_frontier(environment, quick=True, steps=1, n_seeds=1, **kwargs)


def test_blend_and_anti_distillation_rows_are_what_their_labels_say():
    """The blend row's rule weighs GRPO by λ = blend and SD by 1 − λ ≥ 0; the anti-distillation
    row's weighs SD by −μ ≤ 0 (μ = anti), in both environments.  At λ = 1 and μ = 0 both rows
    are GRPO inside the blend rule: they agree to the last digit."""
    from modesim.paths import FeaturePolicy
    from modesim.scenarios.remedies import _bank_rules, _graph_rules

    bank_rules = _bank_rules(0.5, 0.95, 8, 0.5, 0.0, 0, m=4, blend=0.3, anti=0.2, bonus=1.0)
    graph_rules = _graph_rules(0.5, 0.95, 8, 1.0, 0.0, 0, FeaturePolicy(), blend=0.3, anti=0.2)
    for rules in (bank_rules, graph_rules):
        blend, anti = rules["RL-SD blend"], rules["anti-distillation"]
        assert (blend.reward_weight, blend.distill_weight) == (0.3, 0.7)
        assert (anti.reward_weight, anti.distill_weight) == (1.0, -0.2)
    fr = remedy_frontier("prompt_bank", quick=True, steps=10, n_seeds=2, blend=1.0, anti=0.0,
                         methods=["RL-SD blend", "anti-distillation"])
    assert fr.values["RL-SD blend"] == fr.values["anti-distillation"]


def test_tables_have_no_trailing_spaces_and_markdown_is_a_flag(bank, graph):
    for text in (bank.table(), graph.table(), frontier_table(bank, graph), frontier_table(bank, markdown=True)):
        assert all(line == line.rstrip() for line in text.splitlines())
    with pytest.raises(ValueError, match="markdown must be True or False; got 'x'"):
        frontier_table(bank, markdown="x")
