"""Seed statistics in modesim.metrics: fixation probabilities, collapse times, fans (theory §4).

Checked on arrays whose answers are known by construction, and against every class of bad
input (issue 9 kind 5: NaN or negative policies, a mask marking no mode, bad axes).
"""

import pickle

import numpy as np
import pytest

import modesim as ms
from modesim.metrics import Fan, collapse_times, fan, fixation_probability


def _traj(policies, times):
    p = np.asarray(policies, dtype=float)
    with np.errstate(divide="ignore"):
        lp = np.log(p)
    return ms.Trajectory(times=np.asarray(times), log_policy=lp, metrics={}, final=ms.State(lp[-1]))


def test_fixation_probability_on_known_arrays():
    p = np.array([[0.9995, 0.0005], [0.5, 0.5], [0.0001, 0.9999], [0.9999, 0.0001]])
    np.testing.assert_allclose(fixation_probability(p, eps=1e-3), [0.5, 0.25])
    bank = np.stack([p, p[::-1]], axis=1)  # (seeds 4, prompts 2, K 2)
    np.testing.assert_allclose(fixation_probability(bank, eps=1e-3, axis=(0, 1)), [0.5, 0.25])
    np.testing.assert_allclose(fixation_probability(bank, eps=1e-3, axis=1), [[1, 0], [0, 0.5], [0, 0.5], [1, 0]])
    # With eps < 1/2 at most one mode of a row can hold more than 1 − eps: the total is ≤ 1.
    rows = np.random.default_rng(0).dirichlet([0.05] * 4, size=200)
    fix = fixation_probability(rows, eps=0.3)
    assert 0.0 < fix.sum() <= 1.0


def test_collapse_times_on_a_known_trajectory():
    traj = _traj([[[0.5, 0.5]], [[0.9999, 0.0001]], [[0.6, 0.4]]], [0, 10, 20])
    np.testing.assert_array_equal(collapse_times(traj, eps=1e-3), [10.0])
    np.testing.assert_array_equal(collapse_times(traj, [False, True], eps=1e-3), [-1.0])
    np.testing.assert_array_equal(collapse_times(traj, [True, False], eps=1e-3), [10.0])
    zero = _traj([[[1.0, 0.0]], [[1.0, 0.0]]], [0, 5])
    np.testing.assert_array_equal(collapse_times(zero), [0.0])


def test_fan_quantiles_on_known_values():
    p0 = np.linspace(0.05, 0.95, 19)
    policies = np.stack([np.stack([p0, 1 - p0], -1), np.stack([p0**2, 1 - p0**2], -1)])
    traj = _traj(policies, [0, 1])
    band = fan(traj, 0, levels=[0.0, 0.5, 1.0])
    assert isinstance(band, Fan)
    np.testing.assert_allclose(band.bands[:, 0], [0.05, 0.5, 0.95])
    np.testing.assert_allclose(band.bands[:, 1], [0.0025, 0.25, 0.9025])
    np.testing.assert_allclose(band.mean, [0.5, np.mean(p0**2)])
    back = pickle.loads(pickle.dumps(band))
    np.testing.assert_array_equal(back.bands, band.bands)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: fixation_probability([[0.5, np.nan]]), r"policy must be finite"),
        (lambda: fixation_probability([[1.5, -0.5]]), r"policy must be non-negative"),
        (lambda: fixation_probability([[0.5, 0.4]]), r"policy must sum to 1"),
        (lambda: fixation_probability([[0.5, 0.5]], eps=2), r"eps must be in \(0, 1\); got 2"),
        (lambda: fixation_probability([[0.5, 0.5]], eps=np.array([0.1, 0.2])), r"eps must be a single real number"),
        (lambda: fixation_probability([0.5, 0.5]), r"policy must have a seed axis"),
        (lambda: fixation_probability([[0.5, 0.5]], axis=1), r"axis must name batch axes of the policy"),
        (lambda: fixation_probability([[0.5, 0.5]], axis=1.5), r"axis must name batch axes"),
        (lambda: collapse_times(_traj([[[0.5, 0.5]]], [0]), [False, False]), r"valid must mark at least one mode"),
        (lambda: collapse_times(_traj([[[0.5, 0.5]]], [0]), [1, 0, 1]), r"valid of shape \(3,\) does not fit the policy shape \(1, 2\): it needs 2 entries"),
        (lambda: collapse_times("traj"), r"trajectory must be a modesim Trajectory"),
        (lambda: collapse_times(_traj([[[0.5, 0.5]]], [0]), eps=0.0), r"eps must be in \(0, 1\); got 0.0"),
        (lambda: fan(_traj([[[0.5, 0.5]]], [0]), 2), r"mode must be an integer in \[0, 1\]; got 2"),
        (lambda: fan(_traj([[[0.5, 0.5]]], [0]), 0.5), r"mode must be an integer; got 0.5"),
        (lambda: fan(_traj([[[0.5, 0.5]]], [0]), 0, levels=[1.5]), r"levels must be in \[0, 1\]; got .*1.5"),
        (lambda: fan(_traj([[[0.5, 0.5]]], [0]), 0, levels=[]), r"levels must be a real number or a non-empty array of them; got an empty array"),
        (lambda: fan(_traj([[[0.5, 0.5]]], [0]), 0, seed_axis=1), r"seed_axis must be an integer in \[0, 0\]; got 1"),
    ],
)
def test_bad_input_raises_value_error_naming_argument(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_names_are_exported_lazily_from_metrics():
    assert ms.fixation_probability is fixation_probability
    assert ms.collapse_times is collapse_times and ms.fan is fan and ms.Fan is Fan
