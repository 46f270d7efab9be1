"""``modesim verify``: search for counterexamples to the registered theorems.

The registry and the search are in :mod:`modesim.theorems` (imported when the command
runs: hypothesis is slow to import).  Progress goes to stderr (a bar per theorem on a
terminal, or with ``--progress``); results go to stdout (a table, or ``--json``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from .. import __version__
from .._progress import progress_bar, stderr_is_terminal
from . import _output

__all__ = ["add_parser", "main"]


def _items(args):
    from .. import theorems as th

    ids = args.theorem or [t.id for t in th.REGISTRY]
    items = []
    for ident in dict.fromkeys(ids):
        if ident in {c.id for c in th.CONTROLS}:
            items.append(th.get_control(ident))
            continue
        items.append(th.get(ident))
        if args.controls:
            items += th.controls_for(ident)
    return list({id(i): i for i in items}.values())


def _list() -> int:
    from .. import theorems as th

    rows = [["id", "theory", "statement"]]
    rows += [[t.id, t.section, t.statement] for t in th.REGISTRY]
    rows += [[c.id, th.get(c.theorem).section, "control: " + c.dropped] for c in th.CONTROLS]
    print(_output.table(rows, align="left"))
    return 0


class _Bar:
    """A tqdm bar per theorem on stderr, fed by :func:`modesim.theorems.verify`'s callback."""

    def __init__(self, enabled: bool, log: bool = True):
        self.enabled = enabled
        self.log = log
        self.bar = None

    def start(self, ident: str, total: int):
        if self.enabled:
            self.bar = progress_bar(True, auto=True, total=total, desc=f"{ident:<24}", unit="inst",
                                    file=sys.stderr, dynamic_ncols=True)

    def __call__(self, checked: int, found: bool):
        if self.bar is None:
            return
        if checked > self.bar.total:
            self.bar.total = checked
        if found and self.bar.postfix is None:
            self.bar.set_postfix_str("counterexample found, shrinking")
        self.bar.update(checked - self.bar.n)

    def done(self, line: str):
        """Close the bar and log the theorem's line on stderr (not with ``--no-progress``)."""
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        if self.log:
            print(line, file=sys.stderr, flush=True)


def main(args) -> int:
    """Run the command (``args`` from :func:`add_parser`'s parser)."""
    if args.list:
        return _list()
    from .. import _checks as chk
    from ..theorems import verify

    examples = chk.integer(args.examples, "--examples", low=1)
    seed = chk.integer(args.seed, "--seed", low=0)
    items = _items(args)
    progress = stderr_is_terminal() if args.progress is None else args.progress
    bar = _Bar(progress, log=args.progress is not False)
    reports = []
    start = time.perf_counter()
    for n, item in enumerate(items, 1):
        bar.start(f"[{n}/{len(items)}] {item.id}", examples)
        rep = verify(item, examples=examples, seed=seed, progress=bar)
        reports.append(rep)
        bar.done(f"  [{n}/{len(items)}] {rep.id:<24} {rep.verdict}  ({rep.examples} instances, "
                 f"{rep.seconds:.1f} s)")
    failed = [r for r in reports if not r.ok]
    total = time.perf_counter() - start
    if args.json:
        json.dump({"modesim_version": __version__, "examples": examples, "seed": seed,
                   "ok": not failed, "seconds": round(total, 3),
                   "reports": [r.as_dict() for r in reports]}, sys.stdout)
        sys.stdout.write("\n")
        return 1 if failed else 0
    rows = [["id", "kind", "checked", "worst margin", "worst clause", "verdict"]]
    for r in reports:
        rows.append([r.id, r.kind, str(r.examples), _signed(r.worst_margin), r.worst_clause, r.verdict])
    print(_output.table(rows, align="left"))
    for r in reports:
        if r.counterexample is None or (r.kind == "control" and not args.show_controls):
            continue
        title = "counterexample" if r.kind == "theorem" else "counterexample found by control"
        print(f"\n# {r.id}: {title}\n# {r.outcome}")
        print(r.snippet, end="")
    n_ok = len(reports) - len(failed)
    print(f"\n{n_ok}/{len(reports)} ok in {total:.1f} s"
          + (f"; FAILED: {', '.join(r.id for r in failed)}" if failed else ""))
    return 1 if failed else 0


def _signed(x: float) -> str:
    s = _output.num(x, 3)
    return s if s.startswith("-") or s in ("0", "nan") else "+" + s


def add_parser(sub) -> argparse.ArgumentParser:
    """Register ``modesim verify`` on the subparsers ``sub``."""
    p = sub.add_parser(
        "verify",
        help="search for counterexamples to the theorems (property-based, with hypothesis)",
        description=(
            "Search for counterexamples to the statements of the theory document (R1-R4, theory\n"
            "§2: RL preserves probability ratios among correct answers; S1-S8 and S4b, theory §3:\n"
            "self-distillation amplifies them; J, B and K, §8: the JSD objective, teachers that\n"
            "channel their own bias, the critical KL strength; F, M, C, W, L, D and H, §11: the\n"
            "remedies; --list shows them all).  Each theorem draws random instances that satisfy\n"
            "its assumptions and measures each clause as a margin (positive = holds).  A violation\n"
            "is shrunk and printed as a runnable Python snippet, and the exit status is 1.\n\n"
            "--controls also runs negative controls: the same checks with one assumption dropped\n"
            "(e.g. an anti-copying teacher for S4).  A control is ok when it DOES find a\n"
            "counterexample: the assumption matters.\n\n"
            "Time: about 30 s for every theorem at the default 200 instances on a 2-core machine;\n"
            "it grows linearly with --examples.  Nothing is written to the working directory.\n\n"
            "Examples:\n"
            "  modesim verify                      # every theorem, 200 instances each\n"
            "  modesim verify --theorem S4 S8 --examples 2000\n"
            "  modesim verify --controls --show-controls\n"
            "  modesim verify --list               # browse theorems and controls"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--theorem", nargs="+", metavar="ID", default=None,
                   help="theorem or control ids to check (default: every theorem); see --list")
    p.add_argument("--examples", type=int, default=200,
                   help="random instances drawn per theorem (default 200; more = stronger search, "
                        "proportionally slower)")
    p.add_argument("--seed", type=int, default=0, help="seed of the search, >= 0 (default 0)")
    p.add_argument("--controls", action="store_true",
                   help="also run each selected theorem's negative controls")
    p.add_argument("--show-controls", action="store_true",
                   help="print the counterexample snippets found by controls too")
    p.add_argument("--list", action="store_true", help="list theorems and controls, then exit")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress bar on stderr (default: when stderr is a terminal); --no-progress also "
                        "drops the line logged on stderr as each theorem ends")
    p.set_defaults(func=main)
    return p
