"""Prompt banks (modesim.envs.banks) and the SD-vs-RL scenario of MATH §7."""

import numpy as np
import pytest

import modesim as ms
from modesim.envs.banks import BankComparison, bank_pass_at_k, prompt_bank, sd_vs_rl


def test_prompt_bank_structure():
    task = prompt_bank(40, 12, n_valid=3, valid_mass=(0.01, 0.5), decay=0.5, seed=3)
    assert task.batch_shape == (40,) and task.n_modes == 12
    base = task.base
    np.testing.assert_allclose(base.sum(-1), 1.0, atol=1e-12)
    assert np.all(task.valid.sum(-1) == 3)
    mass = np.where(task.valid, base, 0.0).sum(-1)
    assert np.all((mass >= 0.01 - 1e-12) & (mass <= 0.5 + 1e-12))
    # Valid shares decay by the stated ratio: sorted valid probabilities halve.
    shares = np.sort(np.where(task.valid, base, 0.0), axis=-1)[:, ::-1][:, :3]
    np.testing.assert_allclose(shares[:, 1:] / shares[:, :-1], 0.5, rtol=1e-12)
    # OOD: the dominant valid mode is blocked, the others stay valid.
    blocked = task.ood["dominant_blocked"]
    dominant = np.argmax(np.where(task.valid, base, -1.0), axis=-1)
    expected = task.valid.copy()
    expected[np.arange(40), dominant] = False
    assert np.array_equal(blocked, expected)
    again = prompt_bank(40, 12, n_valid=3, valid_mass=(0.01, 0.5), decay=0.5, seed=3)
    assert np.array_equal(again.log_base, task.log_base)
    assert not np.array_equal(prompt_bank(40, 12, n_valid=3, seed=4).valid, task.valid)


def test_bank_pass_at_k_averages_over_prompts_and_seeds():
    task = prompt_bank(10, seed=0)
    policy = np.broadcast_to(task.base, (3, 10, 16))
    ks = [1, 4, 16]
    curve = bank_pass_at_k(policy, task, ks)
    manual = np.mean([ms.pass_at_k(task.base[i], task.valid[i], ks) for i in range(10)], axis=0)
    np.testing.assert_allclose(curve, manual, rtol=1e-12)
    ood = bank_pass_at_k(task.base, task, ks, split="dominant_blocked")
    assert np.all(ood < curve)
    with pytest.raises(ValueError, match=r"split must be 'in_distribution' or one of .* got 'hard'"):
        bank_pass_at_k(task.base, task, 1, split="hard")


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_sd_matches_rl_at_pass1_loses_at_pass16_and_fails_ood(seed):
    # MATH §7: pass@1 SD ≈ or > GRPO, pass@16 SD < GRPO, SD fails when the dominant
    # valid mode is blocked while GRPO keeps solving.
    result = sd_vs_rl(seed=seed)
    assert isinstance(result, BankComparison)
    ind = {m: result.curves[m]["in_distribution"] for m in ("base", "rl", "sd")}
    ood = {m: result.curves[m]["dominant_blocked"] for m in ("base", "rl", "sd")}
    k1, k16 = 0, list(result.ks).index(16)
    assert ind["sd"][k1] >= ind["rl"][k1] - 0.01
    assert ind["sd"][k16] < ind["rl"][k16] - 0.1
    assert ood["sd"][k16] < 0.5 * ood["base"][k16]
    assert ood["rl"][k16] > ood["base"][k16] > ood["sd"][k16]
    # SD's pass@k is flat in k: collapse onto one strategy per prompt.
    assert ind["sd"][k16] - ind["sd"][k1] < 0.5 * (ind["rl"][k16] - ind["rl"][k1])
    assert "pass@16" in result.table()


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"n_prompts": 0}, r"n_prompts must be an integer >= 1; got 0"),
        ({"n_valid": 1}, r"n_valid must be an integer >= 2; got 1"),
        ({"n_modes": 4, "n_valid": 4}, r"n_modes must be an integer >= 5; got 4"),
        ({"valid_mass": (0.5, 0.1)}, r"valid_mass must be a pair .* got \(0.5, 0.1\)"),
        ({"valid_mass": 0.3}, r"valid_mass must be a pair .* got 0.3"),
        ({"decay": 1.0}, r"decay must lie in \(0, 1\); got 1.0"),
    ],
)
def test_prompt_bank_rejects_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        prompt_bank(**kwargs)
