"""``modesim figures``: rebuild the paper figures into a directory.

The figures and their builders are in :mod:`modesim.figures` (imported when the command
runs: matplotlib is slow to import).  The output directory and formats are checked
before anything is built, so a bad ``--out`` fails at once with a one-line error.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from pathlib import Path

from .. import _checks as chk
from .._progress import stderr_is_terminal

__all__ = ["FORMATS", "WIDTHS", "add_parser", "main", "output_directory"]

FORMATS = ("png", "pdf", "svg")
#: Printed widths ``--width`` accepts (modesim.plot.WIDTHS: 3.25 in and 6.75 in).
WIDTHS = ("single", "double")


def output_directory(path: str) -> Path:
    """``path`` as a writable directory (created if missing), or a ValueError saying why not."""
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise ValueError(f"--out {path!r} exists and is not a directory; name a directory")
    try:
        p.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ValueError(f"--out: cannot create directory {path!r}: {exc.strerror or exc}") from None
    probe = p / ".modesim-write-test"
    try:
        probe.touch()
        probe.unlink()
    except OSError as exc:
        raise ValueError(f"--out: cannot write into {path!r}: {exc.strerror or exc}") from None
    return p


def _formats(text: str) -> list[str]:
    formats = [f.strip().lower().lstrip(".") for f in text.split(",")]
    bad = [f for f in formats if f not in FORMATS]
    if bad:
        raise ValueError(f"--format must be some of {', '.join(FORMATS)} (comma-separated); got {text!r}")
    return list(dict.fromkeys(formats))


def main(args) -> int:
    """Run the command (``args`` from :func:`add_parser`'s parser).

    ``--format``, ``--width`` and an ``--out`` that is a file are checked before matplotlib
    loads, so they fail at once; the directory is created only after ``--only`` is checked.
    """
    if not args.list:
        formats = _formats(args.format)
        width = None if args.width is None else chk.choice(args.width, "--width", WIDTHS)
        if Path(args.out).exists() and not Path(args.out).is_dir():
            raise ValueError(f"--out {args.out!r} exists and is not a directory; name a directory")
    figures = _figures_module()
    if args.list:
        pad = max(len(n) for n in figures.FIGURES)
        for spec in figures.FIGURES.values():
            print(f"{spec.name.ljust(pad)}  {spec.width:6}  {spec.description}")
        return 0
    unknown = [n for n in (args.only or []) if n not in figures.FIGURES]
    if unknown:
        raise ValueError(f"--only: unknown figure(s) {', '.join(unknown)}; "
                         f"registered figures: {', '.join(figures.FIGURES)} (see --list)")
    out = output_directory(args.out)  # created only once every argument is known good
    start = time.perf_counter()
    paths = figures.save_figures(out, only=args.only, formats=formats, quick=args.quick,
                                 width=width, progress=not args.no_progress and stderr_is_terminal())
    print(f"wrote {len(paths)} file(s) to {out}/ in {time.perf_counter() - start:.1f} s",
          file=sys.stderr)
    return 0


def _figures_module():
    try:
        return importlib.import_module("modesim.figures")
    except ModuleNotFoundError as exc:
        if exc.name and not exc.name.startswith("modesim"):
            raise ValueError(f"modesim figures needs the package {exc.name!r}; "
                             f"install it with: pip install {exc.name.split('.')[0]}") from None
        raise


def add_parser(sub) -> argparse.ArgumentParser:
    """Register ``modesim figures`` on the subparsers ``sub``."""
    p = sub.add_parser(
        "figures",
        help="rebuild the paper figures into figures/ (PNG, PDF or SVG)",
        description=(
            "Rebuild the paper figures from the library, deterministically, into a directory\n"
            "(default: figures/, created if missing).  Each figure is one file per format,\n"
            "named after the figure, at the size it is printed: one column (3.25 in) or the\n"
            "full text width (6.75 in), every text at least 7 pt.  Each figure has a natural\n"
            "width (see --list); --width lays every figure out for one width instead.\n"
            "Examples:\n\n"
            "  modesim figures                      # all figures, PNG (200 dpi), into figures/\n"
            "  modesim figures --list               # names, natural widths, what each shows\n"
            "  modesim figures --only pass_at_k stability --format png,pdf --out /tmp/f\n"
            "  modesim figures --width single --format pdf --out paper/  # all one column wide\n"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--out", default="figures", metavar="DIR",
                   help="output directory (default: figures; created if missing)")
    p.add_argument("--only", nargs="+", action="extend", metavar="NAME", default=None,
                   help="build only these figures (see --list); may be repeated")
    p.add_argument("--format", default="png", metavar="FMT[,FMT]",
                   help="comma-separated file formats: png, pdf, svg (default: png)")
    p.add_argument("--width", default=None, metavar="single|double",
                   help="lay every figure out for one printed width: single (3.25 in) or double "
                        "(6.75 in); default: each figure's natural width (see --list)")
    p.add_argument("--quick", action="store_true",
                   help="small, fast versions (what the tests build)")
    p.add_argument("--list", action="store_true", help="list the figures and exit")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar (shown only when stderr is a terminal)")
    p.set_defaults(func=main)
    return p
