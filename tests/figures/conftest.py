"""Figures are built once per test session, in quick mode, and shared by the figure tests."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402

from modesim.figures import FIGURES, build_figure  # noqa: E402


class _Built(dict):
    """``built[name]`` or ``built[name, width]``: a quick build, made on first use."""

    def __missing__(self, key):
        name, width = key if isinstance(key, tuple) else (key, None)
        self[key] = build_figure(name, quick=True, width=width)
        return self[key]


@pytest.fixture(scope="session")
def built():
    return _Built()


def other_width(name: str) -> str:
    return "single" if FIGURES[name].width == "double" else "double"
