"""``modesim versions``: what a bug report needs (:func:`modesim.show_versions`)."""

from __future__ import annotations

import argparse

__all__ = ["add_parser", "main"]


def add_parser(sub) -> argparse.ArgumentParser:
    """Register ``modesim versions`` on the subparsers ``sub``."""
    p = sub.add_parser(
        "versions",
        help="print the versions of modesim, Python and every dependency, and the JSD solve in use",
        description=(
            "Print modesim's version, Python's, the platform's, every core and optional\n"
            "dependency's (or 'not installed', with the extra that installs it), and which\n"
            "solve an exact JSD round uses (the compiled kernel, or the numpy solve and why):\n"
            "what a bug report needs.  The same as modesim.show_versions() in Python.\n\n"
            "Example:\n"
            "  modesim versions"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.set_defaults(func=main)
    return p


def main(args) -> int:
    """Print the report on stdout."""
    from .._versions import show_versions

    show_versions()
    return 0
