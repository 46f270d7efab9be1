"""Tasks and validation (MATH §1): constructors and every input error."""

import numpy as np
import pytest

import modesim as ms
from modesim.simplex import as_mask, as_policy, check_unit_interval


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


def test_two_mode_family():
    t = ms.two_mode_task(0.7)
    np.testing.assert_allclose(t.base, [0.7, 0.3])
    t3 = ms.two_mode_task(0.7, valid_mass=0.5)
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
        (lambda: ms.make_task([0.5, 0.5], [1, 1, 0]), "does not broadcast"),
        (lambda: ms.make_task([0.5, 0.5], [2, 0]), "boolean mask"),
        (lambda: ms.make_task([1.0, 0.0], [0, 1]), "zero probability to every valid mode"),
        (lambda: ms.make_task([0.5, 0.5], ood={"x": [0, 0]}), r"ood\['x'\]"),
        (lambda: ms.zipf_task(0), "K must be a positive integer"),
        (lambda: ms.zipf_task(3, s=-1), "s must be"),
        (lambda: ms.dirichlet_task(3, 0.0, seed=0), "concentration must be"),
        (lambda: ms.two_mode_task(1.0), r"p must lie in \(0, 1\)"),
        (lambda: ms.two_mode_task(0.5, valid_mass=0.0), "valid_mass must lie"),
        (lambda: ms.Task(np.array([0.0, 0.0]), [1, 1]), "normalised"),
        (lambda: ms.Task(np.array([np.nan, 0.0]), [1, 1]), "NaN"),
    ],
)
def test_bad_task_input_raises_a_clear_error(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_error_messages_show_the_value():
    with pytest.raises(ValueError, match=r"\[0.6, 0.5, -0.1\]"):
        as_policy([0.6, 0.5, -0.1], name="base")
    with pytest.raises(ValueError, match=r"got 1.5"):
        check_unit_interval(1.5, "alpha")
    with pytest.raises(ValueError, match=r"batch index \(1,\)"):
        as_mask([[1, 0], [0, 0]], (2, 2))


def test_silent_renormalisation_only_within_documented_tolerance():
    p = as_policy([0.5, 0.5 + 1e-9])
    assert p.sum() == pytest.approx(1.0, abs=1e-15)
    with pytest.raises(ValueError):
        as_policy([0.5, 0.5 + 1e-4])
