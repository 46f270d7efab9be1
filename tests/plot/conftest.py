"""Plot tests draw on the Agg backend and close every pyplot figure they open."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from modesim import plot as mp  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture
def ax():
    """A fresh single-column axes, drawn in the modesim style."""
    with mp.style():
        fig, axes = mp.new_figure(width="single", height=2.0)
        yield axes[0, 0]
