"""Every Python example in README.md runs as written and prints what its comments say."""

import contextlib
import io
import re
from pathlib import Path

import numpy as np
import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def python_blocks():
    return re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)


@pytest.mark.parametrize("index", range(len(python_blocks())))
def test_readme_example_runs_and_prints_the_commented_output(index):
    code = python_blocks()[index]
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        exec(compile(code, f"README block {index}", "exec"), {})
    printed = [line for line in buf.getvalue().splitlines() if line.strip()]
    expected = [
        m.group(1) for line in code.splitlines() if line.lstrip().startswith("print(")
        for m in [re.search(r"#\s*(\[.*?\])", line)] if m
    ]
    for want in expected:
        numbers = [float(x) for x in re.findall(r"-?\d+\.?\d*(?:e-?\d+)?", want)]
        assert any(
            np.allclose([float(x) for x in re.findall(r"-?\d+\.?\d*(?:e-?\d+)?", got)], numbers, atol=1e-3)
            for got in printed if len(re.findall(r"-?\d+\.?\d*(?:e-?\d+)?", got)) == len(numbers)
        ), f"README comment {want!r} not matched by printed output {printed!r}"


def test_readme_has_install_and_test_commands_matching_ci():
    text = README.read_text(encoding="utf-8")
    ci = (README.parent / ".ci" / "run").read_text()
    install = re.search(r"Install: `([^`]+)`", text).group(1)
    test = re.search(r"Tests: `([^`]+)`", text).group(1)
    assert install in ci and test in ci
