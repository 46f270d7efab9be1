"""notebooks/theorems.ipynb runs and shows the evidence it promises."""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient
from traitlets import default

from modesim import theorems as th

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "theorems.ipynb"


class _ThisInterpreterKernel(AsyncKernelManager):
    """Kernel from this interpreter only (ipykernel's native ``python3`` spec)."""

    @default("kernel_spec_manager")
    def _kernel_spec_manager_default(self):
        return KernelSpecManager(kernel_dirs=[])


def test_theorems_notebook_shows_the_evidence(monkeypatch):
    # The kernel must import this checkout's modesim, not another installed copy.
    root = str(NOTEBOOK.parents[1])
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])))
    nb = nbformat.read(NOTEBOOK, as_version=4)
    assert all(c.outputs == [] for c in nb.cells if c.cell_type == "code")
    assert "MATH" not in "".join(c.source for c in nb.cells)
    NotebookClient(
        nb, kernel_name="python3", kernel_manager_class=_ThisInterpreterKernel, timeout=120,
        resources={"metadata": {"path": str(NOTEBOOK.parent)}},
    ).execute()
    text = "\n".join(
        out.get("text", "") + str(out.get("data", {}).get("text/plain", ""))
        for c in nb.cells if c.cell_type == "code" for out in c.outputs
    )
    n = len(th.REGISTRY)
    assert f"{n}/{n} ok" in text
    assert "VIOLATED" in text  # a control's counterexample, re-run from its snippet
    assert "proved=True" in text and "proved=False" not in text
    assert "§3.4" in text  # sections of the theory document in the registry listing
