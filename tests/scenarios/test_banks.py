"""Prompt banks (theory §4, §7): structure, seeding, averaged pass@k, named errors."""

import numpy as np
import pytest

import modesim as ms
from modesim.scenarios import BLOCKED, bank_pass_at_k, prompt_bank


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
    blocked = task.ood[BLOCKED]
    dominant = np.argmax(np.where(task.valid, base, -1.0), axis=-1)
    expected = task.valid.copy()
    expected[np.arange(40), dominant] = False
    assert np.array_equal(blocked, expected)
    again = prompt_bank(40, 12, n_valid=3, valid_mass=(0.01, 0.5), decay=0.5, seed=3)
    assert np.array_equal(again.log_base, task.log_base)
    assert not np.array_equal(prompt_bank(40, 12, n_valid=3, seed=4).valid, task.valid)
    np.testing.assert_array_equal(prompt_bank(5, seed=np.random.default_rng(9)).log_base,
                                  prompt_bank(5, seed=9).log_base)


def test_bank_pass_at_k_averages_over_prompts_and_seeds():
    task = prompt_bank(10, seed=0)
    policy = np.broadcast_to(task.base, (3, 10, 16))
    ks = [1, 4, 16]
    curve = bank_pass_at_k(policy, task, ks)
    manual = np.mean([ms.pass_at_k(task.base[i], task.valid[i], ks) for i in range(10)], axis=0)
    np.testing.assert_allclose(curve, manual, rtol=1e-12)
    ood = bank_pass_at_k(task.base, task, ks, split=BLOCKED)
    assert np.all(ood < curve)
    with pytest.raises(ValueError, match=r"split must be one of 'in_distribution', 'dominant_blocked'; got 'hard'"):
        bank_pass_at_k(task.base, task, 1, split="hard")
    with pytest.raises(ValueError, match=r"k must hold finite positive integers; got inf"):
        bank_pass_at_k(task.base, task, np.inf)
    with pytest.raises(ValueError, match="policy must have K = 16 modes"):
        bank_pass_at_k(task.base[:, :3], task, 1)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"n_prompts": 0}, r"n_prompts must be an integer >= 1; got 0"),
        ({"n_prompts": 2.5}, r"n_prompts must be an integer; got 2.5"),
        ({"n_valid": 1}, r"n_valid must be an integer >= 2; got 1"),
        ({"n_modes": 4, "n_valid": 4}, r"n_modes must be an integer >= 5; got 4"),
        ({"valid_mass": (0.5, 0.1)}, r"valid_mass must be a pair .* got \[0.5, 0.1\]"),
        ({"valid_mass": 0.3}, r"valid_mass must be a pair .* got 0.3"),
        ({"valid_mass": (0.0, 0.3)}, r"valid_mass must be in \(0, 1\); got 0.0"),
        ({"decay": 1.0}, r"decay must be in \(0, 1\); got 1.0"),
        ({"seed": -1}, r"seed must be None, a non-negative integer"),
    ],
)
def test_prompt_bank_rejects_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        prompt_bank(**kwargs)
