"""The registered theorems and controls (modesim.theorems.registry, .checks).

Every registered theorem must (1) survive a counterexample search with its own
implementation, (2) fail that search when a deliberately broken implementation from
``BROKEN`` is injected, and every negative control must find its counterexample.  A new
theorem is tested by registering it and adding its broken implementation here.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
from pathlib import Path

import numpy as np
import pytest
from hypothesis import Phase, find, settings

import modesim as ms
from modesim import theorems as th
from modesim.rule import State
from modesim.simplex import log_normalise
from tests.remedies.broken import BROKEN as REMEDY_BROKEN

THEORY = Path(__file__).resolve().parents[2] / "docs" / "theory.md"

#: The section skeleton of docs/theory.md and the statements each section holds.
SKELETON = {
    "§1": (), "§2.1": ("R1", "R2"), "§2.2": ("R3", "R4"), "§2.3": (), "§3.1": (),
    "§3.2": ("S1", "S2", "S3"), "§3.3": (), "§3.4": ("S4", "S4b", "S5"),
    "§3.5": ("S6", "S7", "S8"), "§3.6": (), "§4": (), "§5.1": (), "§5.2": (), "§5.3": (),
    "§6": (), "§7": (), "§8.1": (), "§8.2": (), "§8.3": (), "§8.4": (), "§9": (), "§10": (),
    "§11": (), "§12": (),
}


@dataclasses.dataclass(frozen=True)
class _TemperedNPG:
    """Mirror descent that also sharpens the policy (log π ← 1.05·log π + lr·r): breaks R3."""

    lr: float
    capabilities = frozenset({"deterministic", "memoryless"})

    def init(self, task):
        return State(task.log_base)

    def step(self, state, task):
        return state.advance(log_normalise(1.05 * state.log_policy + self.lr * task.reward))


def _rl_sharpened(task, beta):
    return log_normalise(1.1 * task.log_base + task.reward / beta)


def _rl_capped(task, beta):
    # The invalid penalty saturates at 5 nats, so π*_β never reaches the filter.
    return log_normalise(task.log_base - min(1.0 / beta, 5.0) * (~task.valid))


def _sd_forward(task, teacher, beta):
    return ms.sd_optimum(task, teacher=teacher, beta=beta, objective="forward", log=True)


def _forward_uniform_demos(task, teacher, beta):
    return ms.sd_optimum(task, teacher=teacher, demos=ms.UniformDemos(), objective="forward",
                         beta=beta, log=True)


def _sd_ignores_teacher(task, teacher, beta):
    return ms.sd_optimum(task, teacher=ms.CopyTeacher(0.5), beta=beta, log=True)


def _frozen_teacher(teacher, beta):
    return ms.SelfDistillation(teacher=teacher, beta=beta, teacher_base="frozen", reference="current")


def _wrong_beta(teacher, beta):
    return ms.SelfDistillation(teacher=teacher, beta=2 * beta + 1, teacher_base="current",
                               reference="current")


def _jsd_reverse(task, teacher, beta, lam):
    return ms.sd_optimum(task, teacher=teacher, beta=beta, log=True)


def _jsd_anti_copy(task, teacher, beta, lam):
    return ms.sd_optimum(task, teacher=ms.TiltTeacher(-1.0), beta=beta, objective="jsd", jsd_weight=lam, log=True)


def _power_gamma_zero(task, teacher, beta):
    from modesim.bias_teachers import PowerCopyTeacher

    return ms.sd_optimum(task, teacher=PowerCopyTeacher(teacher.c, 0.0), demos=ms.UniformDemos(), beta=beta, log=True)


def _power_uniform(task, teacher, beta):
    return ms.sd_optimum(task, teacher=teacher, demos=ms.UniformDemos(), beta=beta, log=True)


def _power_self(task, teacher, beta, mode):
    return ms.sd_optimum(task, teacher=teacher, beta=beta, log=True)


def _trust_region(alpha, beta):
    return ms.SelfDistillation(ms.CopyTeacher(alpha), beta=beta, teacher_base="current", reference="current")


#: A deliberately wrong implementation per theorem: each check must catch it.
BROKEN = {
    "R1": _rl_sharpened,
    "R2": _rl_capped,
    "R3": _TemperedNPG,
    "R4": lambda lr: ms.NaturalPG(lr=lr),
    "S1": _sd_forward,
    "S2": _forward_uniform_demos,
    "S3": _sd_forward,
    "S4": _sd_forward,
    "S4b": _sd_forward,
    "S5": _sd_ignores_teacher,
    "S6": _frozen_teacher,
    "S7": lambda teacher, beta: ms.NaturalPG(lr=1.0),
    "S8": _wrong_beta,
    "J1": _jsd_reverse,
    "J2": _jsd_anti_copy,
    "B1": _power_gamma_zero,
    "B2": _power_uniform,
    "B3": _power_self,
    "K1": _trust_region,
    "K2": _trust_region,
    "K3": lambda alpha, beta, lam: _trust_region(alpha, beta),
}
BROKEN.update(REMEDY_BROKEN)  # theory §11 (remedies): tests/remedies/broken.py

IDS = [t.id for t in th.REGISTRY]


def _simplest(strategy) -> th.Instance:
    """The first instance a strategy draws (``.example()`` warns outside a REPL)."""
    return find(strategy, lambda _: True, settings=settings(database=None, phases=[Phase.generate]))


def _exec_snippet(code: str) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "<snippet>", "exec"), {})
    return out.getvalue()


# ------------------------------------------------------------------ the registry


def test_registry_holds_every_statement_of_theory_sections_2_and_3():
    assert IDS[:13] == ["R1", "R2", "R3", "R4", "S1", "S2", "S3", "S4", "S4b", "S5", "S6", "S7", "S8"]
    assert len(set(IDS)) == len(IDS)
    assert [th.get(i) for i in IDS] == list(th.REGISTRY)


def test_every_theorem_has_a_broken_implementation_here():
    missing = [i for i in IDS if i not in BROKEN]
    assert not missing, f"add a deliberately broken implementation to BROKEN for {missing}"


@pytest.mark.parametrize("theorem", th.REGISTRY, ids=IDS)
def test_entry_is_complete(theorem):
    assert theorem.statement and theorem.latex and theorem.assumptions
    assert theorem.clauses and theorem.impl_doc and theorem.code
    assert isinstance(_simplest(theorem.strategy), th.Instance)


@pytest.mark.parametrize("theorem", th.REGISTRY, ids=IDS)
def test_section_is_a_section_of_the_theory_document(theorem):
    assert theorem.section in SKELETON, f"{theorem.id}: {theorem.section!r} is not a theory section"
    if SKELETON[theorem.section]:
        assert theorem.id in SKELETON[theorem.section]
    assert theorem.cite == f"theory {theorem.section} ({theorem.id})"


@pytest.mark.skipif(not THEORY.exists(), reason="docs/theory.md is not in this checkout yet")
def test_theory_document_states_every_registered_theorem():
    text = THEORY.read_text(encoding="utf-8")
    missing = [t.cite for t in th.REGISTRY if t.section not in text or t.id not in text]
    assert not missing, f"not in docs/theory.md: {missing}"


# ------------------------------------------------------------------ theorems hold, checks have teeth


@pytest.mark.parametrize("theorem", th.REGISTRY, ids=IDS)
def test_theorem_survives_counterexample_search(theorem):
    report = th.verify(theorem, examples=40, seed=1)
    assert report.ok, report.snippet
    assert report.examples == 40 and report.worst_margin > 0 and report.counterexample is None


@pytest.mark.parametrize("theorem", th.REGISTRY, ids=IDS)
def test_check_fails_on_a_broken_implementation(theorem):
    report = th.verify(theorem, examples=100, seed=0, impl=BROKEN[theorem.id])
    assert not report.ok
    assert report.counterexample is not None and not report.outcome.holds
    assert report.worst_margin <= 0
    assert f"get({theorem.id!r})" in report.snippet


def test_implementation_that_raises_counts_as_violation():
    def raises(task, teacher, beta):
        raise ValueError("boom")

    out = th.get("S4").check(_simplest(th.get("S4").strategy), impl=raises)
    assert not out.holds and out.margin == -np.inf and "boom" in str(out)


# ------------------------------------------------------------------ negative controls


@pytest.mark.parametrize("control", th.CONTROLS, ids=[c.id for c in th.CONTROLS])
def test_control_finds_a_counterexample(control):
    report = th.verify(control, examples=200, seed=0)
    assert report.ok and report.kind == "control"
    assert report.counterexample is not None
    # The printed snippet is runnable and reproduces the violation.
    assert "VIOLATED" in _exec_snippet(report.snippet)


def test_every_theorem_with_a_droppable_assumption_has_a_control():
    covered = {c.theorem for c in th.CONTROLS}
    assert covered >= {"R1", "R3", "S2", "S3", "S4", "S7"}
    assert all(c.theorem in IDS for c in th.CONTROLS)


# ------------------------------------------------------------------ the S4 correction (theory §3.4, S4b)


def test_s4_bound_needs_all_modes_valid():
    """S4's per-round bound (1 − α)^(−1/(1+β)) fails with invalid modes; S4b's holds."""
    eps, alpha = 1e-4, 0.5
    task = ms.make_task([0.5 - eps, eps, 0.5], [True, True, False])
    pi = ms.sd_optimum(task, teacher=ms.CopyTeacher(alpha))
    multiplier = (pi[0] / pi[1]) / (task.base[0] / task.base[1])
    # Independent value: Ī(0) − Ī(1) = p0·log(1 + c/π0(0)) − p1·log(1 + c/π0(1)), c = α/(1 − α).
    p = np.array([0.5 - eps, eps]) / 0.5
    expected = np.exp(p[0] * np.log1p(1 / (0.5 - eps)) - p[1] * np.log1p(1 / eps))
    assert multiplier == pytest.approx(expected, rel=1e-12)
    assert multiplier > 1 / (1 - alpha)
    assert multiplier < 1 + alpha / ((1 - alpha) * 0.5)
    inst = th.Instance(task, {"alpha": alpha, "beta": 0.0})
    assert th.get("S4").check(inst, parts=["bound"]).margin < 0
    assert th.get("S4b").check(inst).holds


# ------------------------------------------------------------------ snippets


def test_snippet_rebuilds_the_instance():
    inst = th.Instance(ms.make_task([0.6, 0.3, 0.1]), {"alpha": 0.5, "beta": 0.0})
    code = th.get("S4").snippet(inst)
    assert code.startswith("import numpy as np\nimport modesim as ms\n")
    assert "ms.make_task([0.6" in code
    assert "holds" in _exec_snippet(code)


@pytest.mark.parametrize("theorem", th.REGISTRY, ids=IDS)
def test_every_snippet_runs_and_uses_current_names(theorem):
    code = theorem.snippet(_simplest(theorem.strategy))
    assert "eta" not in code.replace("beta", "")  # lr / step_size, never the deprecated name
    assert "holds" in _exec_snippet(code)
