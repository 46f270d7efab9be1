"""Reading numbers from the command line, a file or stdin (shared by the subcommands).

A list flag takes comma-separated numbers (``0.6,0.3,0.1``; spaces allowed), or
``@PATH`` to read them from a file, or ``-`` for stdin.  Every problem is a
:class:`ValueError` naming the flag and what is allowed (the CLI prints it as a one-line
error).

File format (``--base @FILE`` / ``--base -``)
    One or two rows of numbers separated by commas and/or whitespace; lines starting with
    ``#`` and blank lines are ignored.  Row 1 is the base policy; the optional row 2 is
    the valid mask (0/1).  A single column (one number per line, three or more lines, as
    ``numpy.savetxt`` writes a vector) is read as the base policy.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

__all__ = ["parse_row", "numbers", "mask_entries", "read_rows", "source"]

_SEP = re.compile(r"[,\s]+")


def parse_row(text: str, flag: str, where: str = "") -> list[float]:
    parts = [s.strip() for s in text.strip().split(",")] if "," in text else _SEP.split(text.strip())
    if parts == [""]:
        raise ValueError(f"{flag} is empty{where}; expected numbers such as 0.6,0.3,0.1")
    out = []
    for i, s in enumerate(parts, 1):
        if s == "":
            raise ValueError(f"{flag} has an empty entry at position {i}{where} "
                             f"(two commas in a row?); got {text.strip()!r}")
        sub = _SEP.split(s)
        for piece in sub:
            try:
                out.append(float(piece))
            except ValueError:
                raise ValueError(f"{flag} entry {i}{where} is not a number: {piece!r}") from None
    return out


def source(spec: str, flag: str, *, stdin_ok: bool = True) -> tuple[str, str] | None:
    """``(text, label)`` when ``spec`` names a file (``@PATH``) or stdin (``-``), else None."""
    if spec == "-":
        if not stdin_ok:
            raise ValueError(f"{flag} cannot read stdin ('-'); only --base can")
        if sys.stdin is None or sys.stdin.isatty():
            raise ValueError(f"{flag} - reads numbers from stdin, but stdin is a terminal; "
                             f"pipe a file in (… | modesim run {flag} -) or use {flag} @FILE")
        return sys.stdin.read(), "stdin"
    if spec.startswith("@"):
        path = Path(spec[1:])
        if not spec[1:]:
            raise ValueError(f"{flag} @FILE needs a file name after '@'")
        try:
            return path.read_text(encoding="utf-8"), str(path)
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise ValueError(f"{flag}: cannot read {str(path)!r}: {reason}") from None
    return None


def read_rows(text: str, flag: str, label: str) -> list[list[float]]:
    """Rows of numbers from a file's text (comments and blank lines skipped)."""
    rows = []
    for n, line in enumerate(text.splitlines(), 1):
        body = line.split("#", 1)[0].strip()
        if body:
            rows.append(parse_row(body, flag, f" (line {n} of {label})"))
    if not rows:
        raise ValueError(f"{flag}: {label} holds no numbers")
    if len(rows) > 2 and all(len(r) == 1 for r in rows):
        return [[r[0] for r in rows]]
    if len(rows) > 2:
        raise ValueError(
            f"{flag}: {label} must hold one row (the base policy) or two rows (base policy, "
            f"then the valid mask as 0/1), or one number per line; got {len(rows)} rows"
        )
    return rows


def numbers(spec: str, flag: str) -> list[float]:
    """Comma-separated numbers, or one row read from ``@FILE``."""
    got = source(spec, flag, stdin_ok=False)
    if got is None:
        return parse_row(spec, flag)
    rows = read_rows(got[0], flag, got[1])
    if len(rows) != 1:
        raise ValueError(f"{flag}: {got[1]} must hold one row of numbers; got {len(rows)}")
    return rows[0]


def mask_entries(values: list[float], flag: str) -> list[bool]:
    """0/1 entries as booleans; anything else is an error naming the position."""
    for i, v in enumerate(values, 1):
        if v not in (0.0, 1.0):
            raise ValueError(f"{flag} entries must be 0 or 1; got {v:g} at position {i}")
    if not any(values):
        raise ValueError(f"{flag} must mark at least one mode with 1; got only 0s")
    return [v == 1.0 for v in values]
