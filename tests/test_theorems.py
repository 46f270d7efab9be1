"""The theorem registry and ``modesim verify`` (modesim.theorems).

Every registered theorem must (1) survive a counterexample search with its own
implementation, (2) fail that search when a deliberately broken implementation from
``BROKEN`` is injected, and every negative control must find its counterexample.  A new
theorem is tested by registering it (and adding its broken implementation here).
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
from pathlib import Path

import nbformat
import numpy as np
import pytest
from hypothesis import Phase, find, settings
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient
from traitlets import default

import modesim as ms
from modesim import theorems as th
from modesim.cli import main
from modesim.rule import State
from modesim.simplex import log_normalise

NOTEBOOK = Path(__file__).resolve().parent.parent / "notebooks" / "theorems.ipynb"


@dataclasses.dataclass(frozen=True)
class _TemperedNPG:
    """Mirror descent that also sharpens the policy (log π ← 1.05·log π + η r): breaks R3."""

    eta: float
    memoryless = True

    def init(self, task):
        return State(task.log_base)

    def step(self, state, task):
        return state.advance(log_normalise(1.05 * state.log_policy + self.eta * task.reward))


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


#: A deliberately wrong implementation per theorem: each check must catch it.
BROKEN = {
    "R1": _rl_sharpened,
    "R2": _rl_capped,
    "R3": lambda eta: _TemperedNPG(eta),
    "R4": lambda eta: ms.NaturalPG(eta=eta),
    "S1": _sd_forward,
    "S2": _forward_uniform_demos,
    "S3": _sd_forward,
    "S4": _sd_forward,
    "S4b": _sd_forward,
    "S5": _sd_ignores_teacher,
    "S6": _frozen_teacher,
    "S7": lambda teacher, beta: ms.NaturalPG(eta=1.0),
    "S8": _wrong_beta,
}

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


def test_registry_holds_every_statement_of_math_md():
    assert IDS == ["R1", "R2", "R3", "R4", "S1", "S2", "S3", "S4", "S4b", "S5", "S6", "S7", "S8"]
    assert len(set(IDS)) == len(IDS)
    assert [t.id for t in th.REGISTRY] == [th.get(i).id for i in IDS]


@pytest.mark.parametrize("theorem", th.REGISTRY, ids=IDS)
def test_entry_is_complete(theorem):
    assert theorem.statement and theorem.latex and theorem.assumptions
    assert theorem.section.startswith("§")
    assert theorem.clauses and theorem.impl_doc
    example = _simplest(theorem.strategy)
    assert isinstance(example, th.Instance)


def test_unknown_ids_list_the_known_ones():
    with pytest.raises(ValueError, match=r"theorem must be one of \['R1'.*got 'S9'"):
        th.get("S9")
    with pytest.raises(ValueError, match="control must be one of"):
        th.get_control("S4:nope")
    inst = _simplest(th.get("S4").strategy)
    with pytest.raises(ValueError, match="unknown clause"):
        th.get("S4").check(inst, parts=["nope"])
    with pytest.raises(ValueError, match="examples must be a positive integer"):
        th.verify(th.get("S4"), examples=0)


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


# ------------------------------------------------------------------ the S4 correction


def test_s4_bound_needs_all_modes_valid():
    """MATH S4's per-round bound (1 − α)^(−1/(1+β)) fails with invalid modes; S4b's holds."""
    eps, alpha = 1e-4, 0.5
    task = ms.make_task([0.5 - eps, eps, 0.5], [True, True, False])
    pi = ms.sd_optimum(task, teacher=ms.CopyTeacher(alpha))
    multiplier = (pi[0] / pi[1]) / (task.base[0] / task.base[1])
    assert multiplier == pytest.approx(3.0, abs=0.01)
    assert multiplier > 1 / (1 - alpha)
    assert multiplier < 1 + alpha / ((1 - alpha) * 0.5)
    inst = th.Instance(task, {"alpha": alpha, "beta": 0.0})
    assert th.get("S4").check(inst, parts=["bound"]).margin < 0
    assert th.get("S4b").check(inst).holds


# ------------------------------------------------------------------ snippets and the CLI


def test_snippet_rebuilds_the_instance():
    inst = th.Instance(ms.make_task([0.6, 0.3, 0.1]), {"alpha": 0.5, "beta": 0.0})
    code = th.get("S4").snippet(inst)
    assert code.startswith("import numpy as np\nimport modesim as ms\n")
    assert "ms.make_task([0.6" in code
    assert "holds" in _exec_snippet(code)


def test_cli_verify_table_and_exit_status(capsys):
    assert main(["verify", "--theorem", "S4", "S8", "--examples", "10"]) == 0
    out = capsys.readouterr().out
    assert "S4" in out and "S8" in out and "2/2 ok" in out


def test_cli_verify_json_with_controls(capsys):
    assert main(["verify", "--theorem", "S4", "--examples", "30", "--controls", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    kinds = {r["id"]: r["kind"] for r in data["reports"]}
    assert kinds == {"S4": "theorem", "S4:anti-copy": "control", "S4:bound-invalid-modes": "control"}
    assert data["ok"] and all(r["ok"] for r in data["reports"])
    assert data["reports"][1]["snippet"].startswith("import numpy")


def test_cli_verify_fails_and_prints_a_runnable_counterexample(capsys, monkeypatch):
    broken = dataclasses.replace(th.get("S4"), default_impl=_sd_forward)
    monkeypatch.setitem(th._BY_ID, "S4", broken)
    assert main(["verify", "--theorem", "S4", "--examples", "50"]) == 1
    out = capsys.readouterr().out
    assert "FAIL" in out and "FAILED: S4" in out
    snippet = out[out.index("import numpy"):out.index("\n0/1 ok")]
    assert "VIOLATED" in _exec_snippet(snippet)


def test_cli_verify_unknown_id_and_list(capsys):
    assert main(["verify", "--theorem", "S9"]) == 2
    assert "theorem must be one of" in capsys.readouterr().err
    assert main(["verify", "--list"]) == 0
    out = capsys.readouterr().out
    assert all(i in out for i in IDS) and "S4:bound-invalid-modes" in out


# ------------------------------------------------------------------ the notebook


class _ThisInterpreterKernel(AsyncKernelManager):
    """Kernel from this interpreter only (ipykernel's native ``python3`` spec)."""

    @default("kernel_spec_manager")
    def _kernel_spec_manager_default(self):
        return KernelSpecManager(kernel_dirs=[])


def test_theorems_notebook_shows_the_evidence():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    assert all(c.outputs == [] for c in nb.cells if c.cell_type == "code")
    NotebookClient(
        nb, kernel_name="python3", kernel_manager_class=_ThisInterpreterKernel, timeout=120,
        resources={"metadata": {"path": str(NOTEBOOK.parent)}},
    ).execute()
    text = "\n".join(
        out.get("text", "") + str(out.get("data", {}).get("text/plain", ""))
        for c in nb.cells if c.cell_type == "code" for out in c.outputs
    )
    assert "13/13 ok" in text
    assert "VIOLATED" in text  # a control's counterexample, re-run from its snippet
    assert "proved=True" in text and "proved=False" not in text
