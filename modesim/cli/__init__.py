"""The ``modesim`` command: ``modesim run``, ``verify``, ``figures``, ``sweep`` and ``versions``.

Every subcommand is a module of this package with

- ``add_parser(subparsers) -> ArgumentParser``: registers its parser (help texts,
  defaults, units) and sets ``func`` with ``parser.set_defaults(func=main)``;
- ``main(args) -> int``: runs it and returns the exit status.  Heavy imports (hypothesis,
  matplotlib, scipy, dask, xarray) happen inside ``main``, so ``modesim --help`` and
  ``modesim run`` stay fast.

:func:`main` builds the parser from :data:`SUBCOMMANDS` and owns the error path: a user
mistake (a ``ValueError`` from validation, an ``OSError`` on a file) prints one line
``modesim <command>: error: <message>`` on stderr and exits with status 2; a closed
output pipe (``modesim run … | head``) ends the command quietly.

**Adding a subcommand** (as ``modesim sweep`` was added): write ``modesim/cli/<name>.py``
with ``add_parser`` and ``main`` as above, add its name to :data:`SUBCOMMANDS`, and test it
in ``tests/cli/``.  Shared input helpers (numbers from a flag, ``@FILE`` or stdin) are in
``_inputs``; number and table formatting in ``_output``.
"""

from __future__ import annotations

import argparse
import importlib
import os
import re
import sys

__all__ = ["SUBCOMMANDS", "make_parser", "main"]

#: Optional dependencies → the extra of ``pyproject.toml`` that installs them.
_EXTRA_OF = {"xarray": "sweep", "zarr": "sweep", "dask": "sweep", "distributed": "sweep", "numba": "fast"}

#: Subcommand modules of this package, in ``modesim --help`` order.
SUBCOMMANDS: tuple[str, ...] = ("run", "verify", "figures", "sweep", "versions")


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser that reads ``-0.2,0.7,0.5`` or ``-1e-3`` as a value, not an option.

    argparse takes a token starting with ``-`` for an option unless it looks like a plain
    negative number (``-1``, ``-.5``); a list or an exponent then fails as "expected one
    argument".  No modesim option starts with ``-`` and a digit, so every such token is a
    value.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._negative_number_matcher = re.compile(r"^-\.?\d")


def make_parser() -> argparse.ArgumentParser:
    """The ``modesim`` parser with every subcommand in :data:`SUBCOMMANDS`."""
    from .. import __version__

    parser = _Parser(
        prog="modesim",
        description=(
            "modesim: exact simulation of what post-training does to the diversity of a\n"
            "model's answers.  KL-regularised RL preserves the probability ratios among\n"
            "equally correct answers; self-distillation with sampled demonstrations\n"
            "amplifies them.  Run 'modesim COMMAND --help' for a command's options."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"modesim {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")
    for name in SUBCOMMANDS:
        importlib.import_module(f"{__name__}.{name}").add_parser(sub)
    return parser


def _silence_stdout() -> None:
    """After a broken pipe: point stdout at /dev/null so the final flush cannot fail."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # stdout is not a file (tests, notebooks)
        pass


def _tolerant_streams() -> None:
    """On a terminal that cannot show π or β, print a replacement character, not a traceback."""
    for stream in (sys.stdout, sys.stderr):
        encoding = (getattr(stream, "encoding", None) or "").lower().replace("-", "")
        if encoding and encoding != "utf8" and hasattr(stream, "reconfigure"):
            try:
                stream.reconfigure(errors="replace")
            except (ValueError, OSError):  # pragma: no cover - a stream that refuses
                pass


def main(argv=None) -> int:
    """Run ``modesim`` with ``argv`` (default: ``sys.argv[1:]``); returns the exit status.

    Exit status: 0 success; 1 ``verify`` found a failure; 2 a usage error (bad flag or
    value, unreadable or unwritable file, an extra the command needs not installed); 141
    the output pipe was closed early.
    """
    _tolerant_streams()
    parser = make_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return 2
    try:
        status = int(args.func(args) or 0)
        sys.stdout.flush()
        return status
    except BrokenPipeError:
        _silence_stdout()
        return 141
    except ImportError as exc:      # an optional dependency (an extra) not installed
        message = str(exc)
        if isinstance(exc, ModuleNotFoundError) and exc.name:
            extra = _EXTRA_OF.get(exc.name.split(".")[0])
            hint = f" (pip install 'modesim[{extra}]'; in a checkout: pip install -e '.[{extra}]')" if extra else ""
            message = f"this command needs {exc.name}, which is not installed{hint}"
        print(f"modesim {args.command}: error: {message}", file=sys.stderr)
        return 2
    except (ValueError, OSError) as exc:
        message = str(exc)
        if isinstance(exc, OSError) and exc.filename is not None:
            message = f"{exc.strerror or exc}: {exc.filename!r}"
        print(f"modesim {args.command}: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"modesim {args.command}: interrupted", file=sys.stderr)
        return 130
