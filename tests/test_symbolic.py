"""Symbolic derivations (modesim.symbolic) against the numeric rules, to 1e-9.

Each derivation must be proved by sympy, and its lambdified result must agree with the
numeric implementation in modesim on random instances drawn by modesim.testing.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import modesim as ms
from modesim import symbolic as sym
from modesim.symbolic import _is_zero
from modesim.testing import alphas, betas, kappas, policies, tasks
from modesim.theorems import f_alpha, f_alpha_prime, s8_eigenvalue

DERIVATIONS = {
    "rl_stationarity": sym.rl_stationarity,
    "rl_ratio": sym.rl_ratio,
    "sd_stationarity": sym.sd_stationarity,
    "f_alpha": sym.f_alpha,
    "f_alpha_prime": sym.f_alpha_prime,
    "copy_information": sym.copy_information,
    "copy_information_general": lambda: sym.copy_information(True),
    "two_mode_map": sym.two_mode_map,
    "s8_jacobian_K2": lambda: sym.s8_jacobian(2),
    "s8_jacobian_K3": lambda: sym.s8_jacobian(3),
    "amplification_bound": sym.amplification_bound,
    "amplification_bound_general": lambda: sym.amplification_bound(True),
}

FAST = settings(max_examples=25, deadline=None)


@pytest.mark.parametrize("name", DERIVATIONS)
def test_derivation_is_proved_and_renders(name):
    d = DERIVATIONS[name]()
    assert d.name == name and d.proved
    assert isinstance(d.latex, str) and d.latex
    assert d._repr_latex_().startswith("$")


def test_identity_checker_rejects_a_false_identity():
    """S4's Ī differs from the general (S4b) one unless Z = 1: _is_zero must not say 0."""
    general, s4 = sym.copy_information(True), sym.copy_information()
    assert not _is_zero(general.expr - s4.expr)
    assert _is_zero(general.expr.subs(sym.Z, 1) - s4.expr)


@FAST
@given(tasks(), st.floats(0.01, 100.0))
def test_rl_optimum_matches_kl_regularised_optimum(task, beta):
    w = sym.rl_stationarity().numeric(task.base, task.reward, beta)
    np.testing.assert_allclose(w / w.sum(), ms.kl_regularised_optimum(task, beta), rtol=1e-9, atol=0)


@FAST
@given(tasks(min_valid=2), st.floats(0.01, 100.0))
def test_rl_ratio_matches(task, beta):
    pi = ms.kl_regularised_optimum(task, beta)
    i, j = np.flatnonzero(task.valid)[:2]
    ratio = sym.rl_ratio().numeric(task.base[i], task.base[j], beta)
    assert ratio == pytest.approx(pi[i] / pi[j], rel=1e-9)


@FAST
@given(
    tasks(min_K=3, max_K=3),
    st.one_of(alphas().map(ms.CopyTeacher), kappas().map(ms.TiltTeacher)),
    betas(),
)
def test_sd_stationarity_solves_to_sd_optimum(task, teacher, beta):
    demo = ms.ConditionedDemos().distribution(task.log_base, task)
    G = teacher.expected_log(task.log_base, demo)
    closed = np.array(sym.sd_stationarity(3).numeric(*G, *task.log_base, beta), dtype=float).ravel()
    np.testing.assert_allclose(closed, ms.sd_optimum(task, teacher=teacher, beta=beta), rtol=1e-9)


@FAST
@given(st.floats(1e-3, 1.0), alphas())
def test_f_alpha_and_its_derivative(p, alpha):
    assert sym.f_alpha().numeric(p, alpha) == pytest.approx(float(f_alpha(p, alpha)), rel=1e-9)
    prime = sym.f_alpha_prime()
    assert prime.numeric(p, alpha) == pytest.approx(float(f_alpha_prime(p, alpha)), rel=1e-9)
    raw = prime.steps["derivative"]
    assert float(raw.subs({sym.p: p, sym.alpha: alpha})) == pytest.approx(
        float(f_alpha_prime(p, alpha)), rel=1e-9
    )
    assert prime.numeric(p, alpha) > 0


@FAST
@given(tasks(all_valid=True), alphas())
def test_copy_information_matches_copy_teacher(task, alpha):
    lb = task.log_base
    ibar = ms.CopyTeacher(alpha).expected_log(lb, task.base) - lb
    np.testing.assert_allclose(sym.copy_information().numeric(task.base, alpha), ibar,
                               rtol=1e-9, atol=1e-12)  # Ī ≈ 0 for the top mode when α is small


@FAST
@given(tasks(min_invalid=1), alphas())
def test_general_copy_information_matches_copy_teacher_with_invalid_modes(task, alpha):
    lb, v = task.log_base, task.valid
    Z = task.base[v].sum()
    demo = ms.ConditionedDemos().distribution(lb, task)
    ibar = (ms.CopyTeacher(alpha).expected_log(lb, demo) - lb)[v]
    np.testing.assert_allclose(sym.copy_information(True).numeric(demo[v], Z, alpha), ibar,
                               rtol=1e-9, atol=1e-12)


@FAST
@given(policies(K=2), alphas(), betas())
def test_two_mode_map_is_one_compounding_round(p, alpha, beta):
    task = ms.make_task(p)
    rule = ms.SelfDistillation(teacher=ms.CopyTeacher(alpha), beta=beta, teacher_base="current",
                               reference="current")
    after = ms.iterate(rule, task, 1).policy[-1]
    assert sym.two_mode_map().numeric(task.base[0], alpha, beta) == pytest.approx(after[0], rel=1e-9)


@pytest.mark.parametrize("K", [2, 3])
@FAST
@given(alpha=alphas(), beta=betas())
def test_s8_eigenvalue_from_the_map(K, alpha, beta):
    lam = sym.s8_jacobian(K).numeric(alpha, beta)
    assert lam == pytest.approx(s8_eigenvalue(K, alpha, beta), rel=1e-9)
    rule = ms.SelfDistillation(teacher=ms.CopyTeacher(alpha), beta=beta, teacher_base="current",
                               reference="current")
    task = ms.make_task(np.full(K, 1.0 / K))
    ev = np.linalg.eigvals(ms.map_jacobian(rule, task, task.base))
    np.testing.assert_allclose(ev, lam, rtol=1e-6)  # central differences, not exact


def test_s8_worked_number_and_bad_K():
    assert sym.s8_jacobian(3).numeric(0.5, 0.0) == pytest.approx(1 + (np.log(4) - 0.75) / 3, rel=1e-12)
    with pytest.raises(ValueError, match="K must be an integer >= 2; got 1"):
        sym.s8_jacobian(1)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: sym.s8_jacobian([3]), r"K must be an integer; got \[3\]"),
        (lambda: sym.s8_jacobian(3.0), "K must be an integer; got 3.0"),
        (lambda: sym.sd_stationarity(0), "K must be an integer >= 1; got 0"),
        (lambda: sym.copy_information("yes"), "general must be True or False; got 'yes'"),
        (lambda: sym.amplification_bound(None), "general must be True or False; got None"),
    ],
)
def test_bad_arguments_are_named_errors_not_cache_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_module_cites_the_theory_document():
    assert "MATH" not in (sym.__doc__ or "") and "theory §" in sym.__doc__


@FAST
@given(alphas(), betas(), st.floats(0.05, 1.0))
def test_amplification_bound_is_sharp(alpha, beta, Z):
    """The multiplier of the extreme pair (p → 1, p' → 0) reaches the derived bound."""
    eps = 1e-13
    if Z == 1.0:
        task = ms.make_task([1 - eps, eps])
    else:
        task = ms.make_task([Z * (1 - eps), Z * eps, 1 - Z], [True, True, False])
    pi = ms.sd_optimum(task, teacher=ms.CopyTeacher(alpha), beta=beta)
    mult = (pi[0] / pi[1]) / (task.base[0] / task.base[1])
    bound = sym.amplification_bound(True).numeric(alpha, Z, beta)
    assert mult <= bound * (1 + 1e-12)
    assert mult == pytest.approx(bound, rel=1e-9)
    assert sym.amplification_bound().numeric(alpha, beta) == pytest.approx(
        (1 - alpha) ** (-1 / (1 + beta)), rel=1e-12
    )
