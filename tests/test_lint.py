"""Lint is part of the test suite, so the README's single test command covers it."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(shutil.which("ruff") is None and shutil.which("ruff", path=str(Path(sys.executable).parent)) is None,
                    reason="ruff is not installed (pip install -e '.[dev]')")
def test_ruff_is_clean():
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    out = subprocess.run([ruff, "check", "modesim", "tests", "benchmarks", "docs/_hooks"], cwd=ROOT,
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
