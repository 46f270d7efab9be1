"""Tasks and validation (theory §1): constructors and every input error."""

import numpy as np
import pytest

import modesim as ms
from modesim import _checks as chk


def test_make_task_defaults_all_valid_and_exposes_probabilities():
    t = ms.make_task([0.6, 0.3, 0.1])
    assert t.valid.tolist() == [True, True, True]
    np.testing.assert_allclose(t.base, [0.6, 0.3, 0.1])
    assert t.n_modes == 3 and t.batch_shape == ()


def test_task_with_ood_masks_and_batch():
    base = np.array([[0.5, 0.5, 0.0], [0.2, 0.3, 0.5]])
    t = ms.make_task(base, [True, True, False], ood={"b": [[0, 1, 1], [1, 0, 0]]})
    assert t.batch_shape == (2,)
    assert t.ood["b"].shape == (2, 3)
    assert np.isneginf(t.log_base[0, 2])


def test_zipf_task_is_normalised_power_law():
    t = ms.zipf_task(5, s=1.0)
    expected = 1 / np.arange(1, 6)
    np.testing.assert_allclose(t.base, expected / expected.sum())
    np.testing.assert_allclose(ms.zipf_task(4, s=0.0).base, 0.25)


def test_dirichlet_task_is_seeded_and_never_underflows_to_zero():
    a = ms.dirichlet_task(50, 0.01, seed=3, batch_shape=(4,))
    b = ms.dirichlet_task(50, 0.01, seed=3, batch_shape=(4,))
    c = ms.dirichlet_task(50, 0.01, seed=4, batch_shape=(4,))
    np.testing.assert_array_equal(a.log_base, b.log_base)
    assert not np.array_equal(a.log_base, c.log_base)
    assert np.all(np.isfinite(a.log_base))
    assert a.base.min() < 1e-30  # tiny entries are kept, in log space


def test_two_strategy_family():
    t = ms.two_strategy_task(0.7)
    np.testing.assert_allclose(t.base, [0.7, 0.3])
    t3 = ms.two_strategy_task(0.7, valid_mass=0.5)
    np.testing.assert_allclose(t3.base, [0.35, 0.15, 0.5])
    assert t3.valid.tolist() == [True, True, False]
    assert t3.ood["mode0_blocked"].tolist() == [False, True, False]


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: ms.make_task([0.6, 0.5, -0.1]), "base must be non-negative"),
        (lambda: ms.make_task([0.6, np.nan, 0.4]), "base must be finite"),
        (lambda: ms.make_task([0.6, np.inf, 0.4]), "base must be finite"),
        (lambda: ms.make_task([0.6, 0.3]), "sum to 1"),
        (lambda: ms.make_task([]), "K >= 1"),
        (lambda: ms.make_task(0.5), "shape"),
        (lambda: ms.make_task([0.5, 0.5], [0, 0]), "at least one mode as valid"),
        (lambda: ms.make_task([0.5, 0.5], [1, 1, 0]), r"valid of shape \(3,\) does not fit the policy shape \(2,\): it needs 2 entries on its last axis"),
        # A one-entry mask broadcast over every mode (read as "all valid" or "all OOD-valid").
        (lambda: ms.make_task([0.5, 0.5], ood={"x": [1]}), r"mask .x. of shape \(1,\) does not fit the policy shape \(2,\)"),
        (lambda: ms.make_task([0.5, 0.5], [2, 0]), "boolean mask"),
        (lambda: ms.make_task([1.0, 0.0], [0, 1]), "zero probability to every valid mode"),
        (lambda: ms.make_task([0.5, 0.5], ood={"x": [0, 0]}), r"out-of-distribution mask 'x'"),
        (lambda: ms.make_task([0.5, 0.5], ood=[[0, 1]]), "ood must be a mapping"),
        (lambda: ms.zipf_task(0), "K must be an integer >= 1"),
        (lambda: ms.zipf_task(2.5), "K must be an integer"),
        (lambda: ms.zipf_task(3, s=-1), "s must be"),
        (lambda: ms.dirichlet_task(3, 0.0, seed=0), "concentration must be"),
        (lambda: ms.two_strategy_task(1.0), r"p must be in \(0, 1\)"),
        (lambda: ms.two_strategy_task(0.5, valid_mass=0.0), r"valid_mass must be in \(0, 1\]"),
        (lambda: ms.dirichlet_task(3, 1.0, seed="x"), "seed must be None"),
        (lambda: ms.dirichlet_task(3, 1.0, seed=1.5), "seed must be None"),
        (lambda: ms.dirichlet_task(3, 1.0, batch_shape=5), "batch_shape must be a tuple"),
        (lambda: ms.make_task([[0.5, 0.5], [0.5]]), "rectangular array"),
        (lambda: ms.Task(np.array([0.0, 0.0]), [1, 1]), "normalised"),
        (lambda: ms.Task(np.array([np.nan, 0.0]), [1, 1]), "NaN"),
    ],
)
def test_bad_task_input_raises_a_clear_error(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_error_messages_show_the_value():
    with pytest.raises(ValueError, match=r"\[0.6, 0.5, -0.1\]"):
        chk.probabilities([0.6, 0.5, -0.1], "base")
    with pytest.raises(ValueError, match=r"alpha must be in \[0, 1\); got 1.5"):
        chk.real(1.5, "alpha", low=0.0, high=1.0, high_open=True)
    with pytest.raises(ValueError, match=r"got 1.5 at index \(1,\) of alpha"):
        chk.real([0.5, 1.5], "alpha", low=0.0, high=1.0, high_open=True)
    with pytest.raises(ValueError, match=r"batch index \(1,\)"):
        chk.mask([[1, 0], [0, 0]], (2, 2))


def test_silent_renormalisation_only_within_documented_tolerance():
    p = chk.probabilities([0.5, 0.5 + 1e-9])
    assert p.sum() == pytest.approx(1.0, abs=1e-15)
    with pytest.raises(ValueError):
        chk.probabilities([0.5, 0.5 + 1e-4])


def test_tasks_pickle_deep_copy_and_stay_read_only():
    import copy
    import pickle

    t = ms.make_task([0.6, 0.3, 0.1], [1, 1, 0], ood={"b": [0, 1, 0]})
    for u in (pickle.loads(pickle.dumps(t)), copy.deepcopy(t)):
        np.testing.assert_array_equal(u.log_base, t.log_base)
        assert u.ood["b"].tolist() == [False, True, False]
    with pytest.raises(ValueError):
        t.log_base[0] = 0.0
    with pytest.raises(TypeError):
        t.ood["c"] = [1, 1, 1]


def test_log_base_normalised_only_to_round_off_is_renormalised_and_clamped():
    lb = np.log([0.6, 0.3, 0.1]) + 1e-16
    t = ms.Task(lb, [1, 1, 1])
    assert np.all(t.log_base <= 0.0)
    np.testing.assert_allclose(t.base.sum(), 1.0, rtol=1e-15)


def test_two_mode_task_is_deprecated_but_works():
    with pytest.warns(DeprecationWarning, match="two_strategy_task"):
        t = ms.two_mode_task(0.7)
    np.testing.assert_allclose(t.base, [0.7, 0.3])


def test_indexing_a_task_selects_its_prompts_with_their_masks():
    bank = ms.dirichlet_task(4, 1.0, seed=7, batch_shape=(3, 5), valid=[1, 1, 0, 1], ood={"b": [0, 1, 1, 0]})
    for index in [1, -1, (2, 3), (slice(None), 3), slice(0, 2), [0, 2], (2, [0, 4]),
                  np.arange(15).reshape(3, 5) % 2 == 0, np.array([True, False, True])]:
        part = bank[index]
        np.testing.assert_array_equal(part.log_base, bank.log_base[index])
        np.testing.assert_array_equal(part.valid, bank.valid[index])
        np.testing.assert_array_equal(part.ood["b"], bank.ood["b"][index])
        assert part.n_modes == 4


def test_a_prompt_taken_from_a_bank_trains_as_its_row_of_the_batch():
    """What the selection is for: a prompt of a bank, run alone, is its row of the batched run."""
    bank = ms.scenarios.prompt_bank(12, 8, seed=0)
    rule = ms.SelfDistillation(ms.CopyTeacher(0.5), beta=0.04, objective="jsd")
    whole = ms.iterate(rule, bank, 3).log_policy[-1]
    np.testing.assert_array_equal(ms.iterate(rule, bank[5], 3).log_policy[-1], whole[5])
    np.testing.assert_array_equal(ms.iterate(rule, bank[2:4], 3).log_policy[-1], whole[2:4])
    # the rows as they are, not renormalised again (which moved 5 of 128 entries by an ulp)
    np.testing.assert_array_equal(bank[:8].log_base, bank.log_base[:8])


def test_a_task_iterates_over_its_first_batch_axis():
    """``for prompt in bank`` (it ran off the end with the index's ValueError: Python iterated
    by __getitem__ until an IndexError)."""
    bank = ms.dirichlet_task(3, 1.0, seed=2, batch_shape=(4, 2))
    prompts = list(bank)
    assert len(bank) == 4 and len(prompts) == 4
    for i, part in enumerate(prompts):
        np.testing.assert_array_equal(part.log_base, bank.log_base[i])
        assert part.batch_shape == (2,)
    with pytest.raises(TypeError, match="unbatched task"):
        len(ms.make_task([0.5, 0.5]))
    with pytest.raises(TypeError, match="no prompts to iterate over"):
        list(ms.make_task([0.5, 0.5]))


@pytest.mark.parametrize("index, match", [
    (Ellipsis, "not Ellipsis"), (None, "not None"), (1.5, "got 1.5"), ("0", "got '0'"), (True, "got True"),
    (3, r"index 3 is out of range for batch axis 0 of length 3"), ((0, -6), "out of range for batch axis 1"),
    ((0, 1, 2), r"has more entries than the 2 batch axes"), (np.ones(4, bool), r"shape of the batch axes it covers, \(3,\)"),
    (slice(2, 2), "selects no prompt"), (slice(None, None, 0), "non-zero step"), (slice(0, 2.5), "integer"),
    (slice("a", None), "integer"), ((np.array([0, 1]), np.array([0, 1, 2])), "must broadcast together"),
    ((np.ones(3, bool), [0, 1]), "must broadcast together"),
    (2**70, r"index 1180591620717411303424 is out of range for batch axis 0"),
    ([0, -(2**70)], "out of range for batch axis 0"), ([], "selects no prompt"),
])
def test_bad_task_indices_are_refused_by_name(index, match):
    bank = ms.dirichlet_task(4, 1.0, seed=7, batch_shape=(3, 5))
    with pytest.raises(ValueError, match=match):
        bank[index]
    with pytest.raises(ValueError, match=r"batch_shape \(\) has no rows to index"):
        ms.make_task([0.5, 0.5])[0]
