"""Every Python example in README.md runs as written and prints the output shown under it.

A ```python block followed directly by a ```text block must print exactly that text
(trailing spaces aside); other Python blocks must run without error.
"""

import contextlib
import io
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def examples():
    text = README.read_text(encoding="utf-8")
    pattern = r"```python\n(.*?)```\n(?:\n```text\n(.*?)```)?"
    return [(m.group(1), m.group(2)) for m in re.finditer(pattern, text, flags=re.S)]


def _lines(text):
    return [line.rstrip() for line in text.strip("\n").splitlines()]


@pytest.mark.parametrize("index", range(len(examples())))
def test_readme_example_prints_what_the_readme_shows(index):
    code, expected = examples()[index]
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        exec(compile(code, f"README example {index}", "exec"), {"__name__": "__readme__"})
    if expected is not None:
        assert _lines(buf.getvalue()) == _lines(expected)


def test_readme_examples_are_found():
    assert len(examples()) >= 3
    assert all(expected for _, expected in examples())


def test_readme_has_install_and_test_commands_matching_ci():
    text = README.read_text(encoding="utf-8")
    ci = (README.parent / ".ci" / "run").read_text()
    install = re.search(r"Install: `([^`]+)`", text).group(1)
    test = re.search(r"Tests: `([^`]+)`", text).group(1)
    assert install in ci and test in ci
