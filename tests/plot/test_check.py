"""The figure checker: every rule passes on a good figure and fails on one broken figure.

Each test builds a clean figure, shows that :func:`check_figure` accepts it, breaks one
thing and shows that exactly that rule fires.
"""

from __future__ import annotations

import numpy as np
import pytest

from modesim import plot as mp
from modesim.plot import layout


def _two_panels(width="single"):
    with mp.style():
        fig, ax = mp.panel_figure(2, width=width, panel_height=1.8)
        x = np.linspace(0, 1, 11)
        mp.plot_curves(x, {"RL": x, "SD": x**2}, legend=False, ax=ax[0])
        mp.plot_curves(x, {"base": 1 - x}, legend=False, ax=ax[1])
        mp.panel_letters(ax, ["left", "right"])
    return fig, ax


def _rules(fig, **kw):
    return {p.split(":")[0] for p in mp.figure_problems(fig, **kw)}


def test_a_clean_figure_passes():
    fig, _ = _two_panels()
    assert mp.figure_problems(fig) == []
    mp.check_figure(fig)


def test_small_fonts_fail_and_printed_width_scales_them():
    fig, ax = _two_panels()
    ax[0].set_xlabel("tiny", fontsize=6.5)
    assert _rules(fig) == {"font"}
    fig, _ = _two_panels(width="double")  # 7 pt at 6.75 in is 3.4 pt at 3.25 in
    assert "font" in _rules(fig, width="single")
    assert _rules(fig) == set()
    with pytest.raises(ValueError, match="the figure breaks"):
        mp.check_figure(fig, width="single")


def test_tick_labels_legends_and_annotations_are_measured_too():
    for brk in (lambda ax: ax.tick_params(labelsize=5),
                lambda ax: ax.legend(fontsize=6),
                lambda ax: ax.annotate("note", (0.5, 0.5), fontsize=5)):
        fig, ax = _two_panels()
        brk(ax[1])
        assert "font" in _rules(fig)


def test_a_legend_over_a_line_fails_even_between_its_points():
    fig, ax = _two_panels()
    ax[1].plot([0.0, 1.0], [0.5, 0.5], color="black")  # two points, far from the legend's box
    ax[1].legend(["base"], loc="center")
    assert _rules(fig) == {"legend"}
    mp.place_legends(fig)
    assert _rules(fig) == set()


def test_a_legend_over_a_band_or_markers_fails():
    fig, ax = _two_panels()
    ax[1].fill_between([0, 1], [0.2, 0.2], [0.8, 0.8], alpha=0.2)
    ax[1].legend(["base"], loc="center")
    assert "legend" in _rules(fig)
    fig, ax = _two_panels()
    ax[1].scatter([0.5], [0.5])
    ax[1].legend(["base"], loc="center")
    assert "legend" in _rules(fig)


def test_a_method_in_another_colour_or_line_style_fails():
    fig, ax = _two_panels()
    ax[1].plot([0, 1], [0, 1], color=mp.method_style("SD").color, label="RL, lr = 2")
    assert _rules(fig) == {"colour"}
    problems = mp.figure_problems(fig)
    assert "'RL, lr = 2' is drawn in #D55E00, not RL's #0072B2" in problems[0]
    fig, ax = _two_panels()
    ax[1].plot([0, 1], [0, 1], color=mp.method_style("SD").color, ls="-", label="SD")
    assert "line style '-', not the sd family's '--'" in mp.figure_problems(fig)[0]
    fig, ax = _two_panels()
    ax[1].plot([0, 1], [0, 1], **mp.method_style("SD").variants(3)[2].line("SD, m = 8"))
    assert mp.figure_problems(fig) == []  # a variant's shade is the method's


def test_missing_or_misordered_panel_letters_fail():
    fig, ax = _two_panels()
    ax[1].set_title("right", loc="left")
    assert _rules(fig) == {"letters"}
    fig, ax = _two_panels()
    mp.panel_letters(ax[::-1])
    assert _rules(fig) == {"letters"}


def test_one_panel_needs_no_letter_and_colour_bars_are_not_panels():
    with mp.style():
        fig, axes = mp.new_figure(width="single", height=2.0)
        mesh = axes[0, 0].pcolormesh(np.arange(9).reshape(3, 3))
        fig.colorbar(mesh, ax=axes[0, 0])
    assert mp.figure_problems(fig) == []


def test_modes_named_a_b_c_fail():
    fig, ax = _two_panels()
    ax[0].text(0.5, 0.5, "C")
    assert "names" in _rules(fig)


def test_text_off_the_page_or_on_other_text_fails_and_fit_titles_wraps_it():
    fig, ax = _two_panels()
    with mp.style():
        ax[1].set_title("a title long enough to run into the panel on its left", loc="right")
    assert _rules(fig) == {"overlap"}
    mp.fit_titles(fig)
    assert _rules(fig) == set()
    fig, ax = _two_panels()
    with mp.style():
        ax[1].set_title("a title that runs past the right edge of the page", loc="center")
    assert "page" in _rules(fig)
    assert mp.fit_titles(fig) == ["a title that runs past the right edge of the page"]
    assert _rules(fig) == set()


@pytest.mark.parametrize("kw, match", [
    ({"max_cols": 0}, r"max_cols must be an integer >= 1; got 0"),
    ({"max_cols": 2.5}, r"max_cols must be an integer; got 2\.5"),
    ({"panel_height": -1.0}, r"panel_height must be a finite number > 0; got -1\.0"),
    ({"panel_height": "tall"}, r"panel_height must be a real number"),
    ({"panel_height": 15.0}, r"panel_height × rows must be in \[0\.5, 20\] inches; got 15 × 2 = 30"),
])
def test_panel_figure_refuses_bad_layout_arguments_by_name(kw, match):
    with pytest.raises(ValueError, match=match):
        mp.panel_figure(5, **kw)
    fig, axes = mp.panel_figure(5, max_cols=3, panel_height=1.5)
    assert len(axes) == 5 and fig.get_size_inches()[1] == pytest.approx(3.0)


def test_small_layout_helpers_refuse_bad_numbers_by_name():
    fig, axes = mp.panel_figure(2)
    for call, match in (
        (lambda: layout.panel_letter(26), r"i must be an integer in \[0, 25\]; got 26"),
        (lambda: layout.panel_letter(-1), r"i must be an integer in \[0, 25\]"),
        (lambda: mp.panel_letters(axes * 14), r"axes must have at most 26 panels \(letters a to z\); got 28"),
        (lambda: mp.fit_titles(fig, slack=-0.1), r"slack must be a finite number >= 0; got -0\.1"),
        (lambda: mp.finish_figure(fig, rounds=0), r"rounds must be an integer >= 1; got 0"),
        (lambda: mp.place_legends(fig, passes=1.5), r"passes must be an integer; got 1\.5"),
    ):
        with pytest.raises(ValueError, match=match):
            call()
    assert layout.panel_letter(0) == r"$\mathbf{a}$"
    mp.finish_figure(fig, rounds=1)


def test_layout_helpers_refuse_what_is_not_a_figure_or_axes_by_name():
    """Each used to raise AttributeError (or split a title string into letters)."""
    fig, axes = mp.panel_figure(2)
    for call, match in (
        (lambda: mp.shared_legend(fig), r"ax must be a matplotlib Axes .*or pass handles; got None"),
        (lambda: mp.shared_legend(fig, axes[0]), r"ax has no labelled artist to put in a legend"),
        (lambda: mp.shared_legend("f", axes[0]), r"fig must be a matplotlib Figure; got 'f'"),
        (lambda: mp.shared_legend(fig, handles=["a"]), r"handles\[0\] must be a matplotlib artist"),
        (lambda: mp.shared_legend(fig, handles=[]), r"handles must hold at least one artist"),
        (lambda: mp.panel_letters(["a", "b"]), r"axes\[0\] must be a matplotlib Axes; got 'a'"),
        (lambda: mp.panel_letters(3), r"axes must be a sequence of matplotlib Axes; got 3"),
        (lambda: mp.panel_letters(axes, "ab"), r"titles must be a sequence of strings, one per axes; got 'ab'"),
        (lambda: mp.panel_letters(axes, ["a", None]), r"titles\[1\] must be a string; got None"),
        (lambda: mp.fit_titles("x"), r"fig must be a matplotlib Figure; got 'x'"),
        (lambda: mp.finish_figure(None), r"fig must be a matplotlib Figure; got None"),
        (lambda: mp.place_legends(axes[0]), r"fig must be a matplotlib Figure; got <Axes.*\(pass ax\.figure\)"),
    ):
        with pytest.raises(ValueError, match=match):
            call()
    axes[0].plot([0, 1], [0, 1], label="RL")
    assert mp.shared_legend(fig, axes[0]).get_texts()[0].get_text() == "RL"
    _fig2, grid = mp.new_figure(2, 2)
    mp.panel_letters(grid)                  # a grid of axes is lettered row by row
    assert [ax.get_title("left")[:13] for ax in grid.ravel()] == [mp.layout.panel_letter(i) for i in range(4)]
