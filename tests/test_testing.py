"""modesim.testing: the shared hypothesis strategies keep their promises and check their arguments."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings

from modesim import testing as T

FAST = settings(max_examples=60, deadline=None)


@FAST
@given(T.policies(min_K=3, max_K=5, min_prob=0.01))
def test_policies_are_probability_vectors_with_a_floor(p):
    assert 3 <= p.size <= 5 and abs(p.sum() - 1) < 1e-12 and p.min() >= 0.01 * (1 - 1e-12)


@FAST
@given(T.tasks(min_valid=2, min_invalid=1, distinct=0.05, max_K=5))
def test_tasks_meet_their_contract(task):
    v = task.valid
    assert v.sum() >= 2 and (~v).sum() >= 1 and task.n_modes <= 5
    pv = np.sort(task.base[v])
    assert np.all(pv[1:] >= pv[:-1] * 1.05)


@FAST
@given(T.tasks(all_valid=True), T.alphas(0.2, 0.3), T.betas(1.0, 2.0), T.lrs(0.5, 0.6),
       T.step_sizes(0.1, 0.2), T.kappas(-1.0, -0.5))
def test_parameter_strategies_stay_in_their_intervals(task, a, b, lr, step, kappa):
    assert task.valid.all()
    assert 0.2 <= a <= 0.3 and 1 <= b <= 2 and 0.5 <= lr <= 0.6 and 0.1 <= step <= 0.2
    assert -1 <= kappa <= -0.5


@pytest.mark.parametrize(
    "build, match",
    [
        (lambda: T.policies(K=0), "K must be an integer >= 1; got 0"),
        (lambda: T.policies(min_K=4, max_K=2), "min_K must be <= max_K; got min_K=4, max_K=2"),
        (lambda: T.policies(max_K=2.5), "max_K must be an integer; got 2.5"),
        (lambda: T.policies(max_K=4, min_prob=0.3), r"min_prob must be in \[0, 0.25\); got 0.3"),
        (lambda: T.tasks(min_valid=0), "min_valid must be an integer >= 1; got 0"),
        (lambda: T.tasks(min_invalid=-1), "min_invalid must be an integer >= 0; got -1"),
        (lambda: T.tasks(all_valid=True, min_invalid=1), "min_invalid=1 contradicts all_valid=True"),
        (lambda: T.tasks(all_valid="yes"), "all_valid must be True or False; got 'yes'"),
        (lambda: T.tasks(min_valid=4, min_invalid=3, max_K=6), r"min_valid \+ min_invalid must be <= max_K"),
        (lambda: T.tasks(distinct=-0.1), "distinct must be a finite number >= 0; got -0.1"),
        (lambda: T.alphas(0.5, 1.0), r"alphas max_value must be in \[0, 1\); got 1.0"),
        (lambda: T.alphas(0.6, 0.5), "alphas: min_value must be <= max_value; got 0.6 > 0.5"),
        (lambda: T.betas(-1.0), "betas min_value must be a finite number >= 0; got -1.0"),
        (lambda: T.lrs(0.0), "lrs min_value must be a finite number > 0; got 0.0"),
        (lambda: T.step_sizes(0.5, 1.5), r"step_sizes max_value must be in \(0, 1\]; got 1.5"),
        (lambda: T.kappas(None), "kappas min_value must be a real number"),
    ],
)
def test_bad_arguments_are_named_errors_when_the_strategy_is_built(build, match):
    with pytest.raises(ValueError, match=match):
        build()


def test_import_modesim_does_not_import_hypothesis_or_the_theorems():
    code = ("import sys, modesim; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'hypothesis' "
            "or m in ('modesim.testing', 'modesim.theorems', 'modesim.cli')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
