"""Every notebook in notebooks/ runs top to bottom without error (and without warnings).

Notebooks are stored without outputs.  They run in a kernel started from *this*
interpreter (ipykernel's built-in ``python3`` spec), so a fresh virtualenv needs no
registered kernelspec and a user-level one pointing elsewhere cannot interfere.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient
from traitlets import default

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("*.ipynb"))


class _ThisInterpreterKernel(AsyncKernelManager):
    """Kernel manager that sees no kernel directories, only ipykernel's native spec."""

    @default("kernel_spec_manager")
    def _kernel_spec_manager_default(self):
        return KernelSpecManager(kernel_dirs=[])


def _run(path: Path):
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb, kernel_name="python3", kernel_manager_class=_ThisInterpreterKernel, timeout=120,
        resources={"metadata": {"path": str(path.parent)}},
    )
    client.execute()
    return nb


def test_notebooks_exist():
    assert {p.name for p in NOTEBOOKS} >= {"quickstart.ipynb", "dynamics_explorer.ipynb"}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_is_stored_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, (
                f"{path.name}: clear outputs before committing (cell {cell.get('id')})"
            )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_executes(path):
    nb = _run(path)
    stderr = [
        out.get("text", "")
        for cell in nb.cells if cell.cell_type == "code"
        for out in cell.outputs if out.get("name") == "stderr"
    ]
    assert not any("Warning" in text for text in stderr), stderr
    shown = [
        out for cell in nb.cells if cell.cell_type == "code"
        for out in cell.outputs if "image/png" in out.get("data", {})
    ]
    assert shown, f"{path.name} displayed no figure"
