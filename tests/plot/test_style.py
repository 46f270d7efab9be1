"""modesim.plot's style and files: printed sizes, no global state, byte-identical saves."""

from __future__ import annotations

import subprocess
import sys

import matplotlib
import matplotlib.pyplot as plt
import pytest

from modesim import plot as mp


def test_importing_modesim_changes_no_rcparams_and_loads_no_matplotlib():
    code = (
        "import sys, modesim; assert 'matplotlib' not in sys.modules, 'import modesim loaded matplotlib'; "
        "import matplotlib as mpl; before = dict(mpl.rcParams); "
        "import modesim.plot, modesim.figures; "
        "after = dict(mpl.rcParams); "
        "assert before == after, [k for k in before if before[k] != after[k]]; "
        "import modesim as ms\n"
        "with ms.plot.style(): assert mpl.rcParams['savefig.dpi'] == 200"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_style_applies_inside_the_context_only():
    before = dict(matplotlib.rcParams)
    with mp.style():
        assert matplotlib.rcParams["savefig.dpi"] == 200
        assert matplotlib.rcParams["savefig.bbox"] is None  # saved at exactly the figure's size
        assert min(matplotlib.rcParams[k] for k in ("font.size", "axes.titlesize", "axes.labelsize",
                   "legend.fontsize", "xtick.labelsize", "ytick.labelsize")) >= mp.MIN_FONT_SIZE
    assert dict(matplotlib.rcParams) == before


def test_printed_widths_and_figure_width_errors():
    assert mp.WIDTHS == {"single": 3.25, "double": 6.75}
    assert mp.figure_width("single") == 3.25 and mp.figure_width(5) == 5.0
    with pytest.raises(ValueError, match="width must be one of 'single', 'double'; got 'wide'"):
        mp.figure_width("wide")
    with pytest.raises(ValueError, match="width"):
        mp.figure_width(-1.0)


def test_new_figure_is_built_at_its_printed_size_and_not_registered_with_pyplot():
    fig, axes = mp.new_figure(2, 3, width="single", height=2.5)
    assert axes.shape == (2, 3)
    assert tuple(fig.get_size_inches()) == (3.25, 2.5)
    assert plt.get_fignums() == []
    assert fig.get_layout_engine() is not None


def test_save_figure_writes_png_at_print_size_and_vector_pdf_reproducibly(tmp_path):
    with mp.style():
        fig, axes = mp.new_figure(width="single", height=2.0)
        mp.plot_curves([1, 2, 3], {"RL": [1, 4, 9]}, ax=axes[0, 0])
    first = mp.save_figure(fig, tmp_path / "one" / "fig", ("png", "PDF", ".svg"))
    assert [p.suffix for p in first] == [".png", ".pdf", ".svg"]
    png = first[0].read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    assert (width, height) == (650, 400)  # 3.25 in × 2 in at 200 dpi: no cropping
    pdf = first[1].read_bytes()
    assert pdf.startswith(b"%PDF") and b"/Subtype /Image" not in pdf  # vector, not raster
    assert b"<dc:date>" not in first[2].read_bytes()  # no time stamp in the SVG
    second = mp.save_figure(fig, tmp_path / "two" / "fig", ("png", "pdf", "svg"))
    # PNG and PDF are byte-identical; SVG clip-path ids hash the layout's last float digits.
    assert [p.read_bytes() for p in first[:2]] == [p.read_bytes() for p in second[:2]]
    with pytest.raises(ValueError, match="formats must be one of 'png', 'pdf', 'svg'; got 'jpg'"):
        mp.save_figure(fig, tmp_path / "x", ["jpg"])


def test_new_figure_refuses_bad_grid_sizes_by_name():
    for kw, match in (({"nrows": 0}, r"nrows must be an integer >= 1; got 0"),
                      ({"ncols": 1.5}, r"ncols must be an integer; got 1\.5")):
        with pytest.raises(ValueError, match=match):
            mp.new_figure(**kw)


def test_save_figure_reads_a_single_format_string_as_one_format(tmp_path):
    """formats="png" used to be iterated letter by letter ("got 'p'")."""
    fig, _axes = mp.new_figure(width="single", height=1.0)
    assert mp.save_figure(fig, tmp_path / "a", formats="png") == [tmp_path / "a.png"]
    assert mp.save_figure(fig, tmp_path / "b", formats=".PDF") == [tmp_path / "b.pdf"]
    assert (tmp_path / "a.png").exists() and (tmp_path / "b.pdf").exists()


def test_save_figure_names_a_bad_argument_before_writing(tmp_path):
    fig, axes = mp.new_figure(width="single", height=1.0)
    for kw, match in (
        ({"formats": "jpg"}, r"formats must be one of 'png', 'pdf', 'svg'; got 'jpg'"),
        ({"formats": None}, r"formats must be one of 'png', 'pdf', 'svg' or a sequence of them; got None"),
        ({"formats": []}, r"formats must name at least one of 'png', 'pdf', 'svg'; got none"),
        ({"formats": ["png", 3]}, r"formats must be one of .*; got 3"),
        ({"fig": axes[0, 0]}, r"fig must be a matplotlib Figure; got <Axes.*\(pass ax\.figure\)"),
        ({"stem": None}, r"stem must be a file name without suffix .*; got None"),
    ):
        args = {"fig": fig, "stem": tmp_path / "out" / "x", **kw}
        with pytest.raises(ValueError, match=match):
            mp.save_figure(**args)
    assert not (tmp_path / "out").exists()


def test_get_ax_refuses_what_is_not_an_axes_by_name():
    fig, axes = mp.new_figure()
    assert mp.get_ax(axes[0, 0]) is axes[0, 0]
    for bad, match in (("x", r"ax must be a matplotlib Axes \(or None for the current axes\); got 'x'"),
                       (axes, r"ax must be a matplotlib Axes.*pass one of them, e\.g\. axes\[0, 0\]"),
                       (fig, r"ax must be a matplotlib Axes")):
        with pytest.raises(ValueError, match=match):
            mp.get_ax(bad)
