"""``modesim sweep CONFIG.toml --out results.zarr [--scheduler ADDRESS | --workers N]``.

:func:`add_parser` registers the subcommand on an :mod:`argparse` subparsers object and
sets ``func=run``; :func:`run` runs it and returns the exit status, raising
:class:`ValueError` for a user's mistake (a bad configuration names the file, key and
line) so that the caller prints one line.  :func:`main` is the stand-alone entry point
(``python -m modesim.sweeps ...``) with that error handling.
"""

from __future__ import annotations

import argparse
import sys

__all__ = ["add_parser", "run", "main"]

DESCRIPTION = """\
Run a rule over a grid of settings described by a TOML file and store the results
(an xarray dataset) in a Zarr store, chunk by chunk.  An interrupted sweep resumes: run
the same command again and the finished chunks are skipped.  An .nc path writes netCDF at
the end instead (not resumable).  Read the results with modesim.load_sweep(PATH).

Chunks run in this process unless --scheduler (an existing Dask scheduler) or --workers
(a local cluster of N single-threaded processes) is given; results are identical either
way.  The TOML format is documented in modesim/sweeps/config.py; examples/sweep.toml in the
repository is a complete example."""


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register ``sweep`` on ``subparsers`` (from ``parser.add_subparsers()``); sets ``func=run``."""
    p = subparsers.add_parser(
        "sweep",
        help="run a parameter grid from a TOML file into a Zarr store (resumable, optionally on Dask)",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("config", metavar="CONFIG.toml", help="the sweep's configuration (rule, task, grid, rounds, metrics, seed)")
    p.add_argument("--out", required=True, metavar="PATH", help="Zarr store to write (a directory; .nc for netCDF)")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--scheduler", metavar="ADDRESS", help="address of a running Dask scheduler (e.g. tcp://host:8786)")
    where.add_argument("--workers", type=int, metavar="N", help="start a local Dask cluster of N worker processes")
    p.add_argument("--overwrite", action="store_true", help="replace a store at --out that holds a different sweep")
    p.add_argument("--no-progress", dest="progress", action="store_false",
                   help="no progress bar (there is none when stderr is not a terminal)")
    p.set_defaults(func=run, progress=True)
    return p


def _summary(ds, out: str) -> str:
    grid = [d for d in ds.dims if d not in ("seed", "round", "k", "mode") and d in ds.coords and d not in ds.log_base.dims]
    shape = " × ".join(f"{d} {ds.sizes[d]}" for d in grid) or "no grid"
    metrics = [v for v in ds.data_vars if v not in ("log_base", "valid")]
    return f"wrote {out}: {shape}; {ds.sizes['round']} recorded rounds; variables {', '.join(metrics)}"


def run(args) -> int:
    """Run ``modesim sweep`` for parsed ``args``; returns 0.

    Raises
    ------
    ValueError
        For a bad configuration (file, key, line), bad ``--workers`` or an output path that
        holds something else; OSError if the store cannot be written.
    """
    from . import config as cfg
    from . import executor
    from .engine import sweep

    if args.workers is not None and args.workers < 1:
        raise ValueError(f"--workers must be at least 1; got {args.workers}")
    conf = cfg.load_config(args.config)
    with executor.cluster(args.scheduler, args.workers) as client:
        try:
            ds = sweep(**conf.kwargs, out=args.out, overwrite=args.overwrite, client=client,
                       progress=bool(args.progress) and sys.stderr.isatty())
        except ValueError as exc:
            raise conf.explain(exc) from None
    print(_summary(ds, args.out))
    return 0


def main(argv=None) -> int:
    """``python -m modesim.sweeps``: parse ``argv``, run, print one line on an error (status 2)."""
    parser = argparse.ArgumentParser(prog="modesim")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    add_parser(sub)
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] != ["sweep"]:
        argv = ["sweep", *argv]
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (ValueError, OSError) as exc:
        print(f"modesim sweep: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("modesim sweep: interrupted (run the same command again to resume)", file=sys.stderr)
        return 130
