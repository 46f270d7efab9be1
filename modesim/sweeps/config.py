"""Sweep configuration files (TOML), as read by ``modesim sweep CONFIG.toml``.

The format (every key but ``rounds``, ``[rule]``, ``[task]`` is optional; an example is
``examples/sweep.toml`` in the repository)::

    rounds = 50                 # rounds (steps, for sampled rules) of every run
    every = 1                   # record rounds 0, every, 2·every, … and the last
    metrics = ["valid_mass", "effective_modes", "pass_at_k"]
    k = [1, 4, 16]              # k of pass_at_k / distinct_at_k
    record_policy = false       # also store log_policy
    seed = 0                    # sweep seed (sampled rules)
    n_seeds = 100               # runs per grid point (sampled rules only)
    scalar = ["beta"]           # real grid entries to run one value at a time
    chunks = 10                 # or { "teacher.alpha" = 10 }
    prompts = "prompt"          # name(s) of the task's batch dimensions

    [rule]                      # a modesim class and its keywords; nested tables with a
    type = "SelfDistillation"   # "type" are built first ("package.module:Class" for your own)
    beta = 0.0
    [rule.teacher]
    type = "CopyTeacher"
    alpha = 0.5

    [task]                      # exactly one of: base (+ valid, ood), zipf, dirichlet, rollouts
    base = [0.5, 0.3, 0.15, 0.05]            # or a list of rows (a prompt bank)
    valid = [true, true, true, false]
    # zipf = { K = 16, s = 1.0 }
    # dirichlet = { K = 16, concentration = 0.5, seed = 0, prompts = 100 }
    # rollouts = { path = "samples.jsonl", unseen = "good-turing" }   # relative to this file

    [grid]                      # name = values; names are dotted field paths of the rule
    "teacher.alpha" = { linspace = [0.0, 0.9, 10] }   # also logspace, geomspace, values
    beta = [0.0, 0.5, 1.0]      # real numbers: batched (one call for the whole block)
    objective = ["reverse", "forward"]                # strings, integers: one group each
    teacher = [{ type = "CopyTeacher", alpha = 0.5, label = "copy" },
               { type = "TiltTeacher", kappa = 2.0, label = "tilt" }]

Dotted keys (``teacher.alpha = [...]``) and sub-tables (``[grid.teacher]``) name the same
paths.  ``linspace``/``geomspace`` take ``[start, stop, num]``, ``logspace`` takes base-10
exponents ``[start, stop, num]``.  Errors name the file, the key and, where it can be found,
the line.

A ``type`` builds only modesim classes or, for ``"package.module:Class"``, a class with
``init`` and ``step`` (a rule), a teacher or a demonstration source; anything else is refused
before it is called.  Naming ``package.module`` still imports that module, which runs its
code: run configuration files you trust, as you would a script.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from . import _rules

__all__ = ["load_config", "parse_config", "Config"]

TOP_KEYS = ("rounds", "every", "metrics", "k", "record_policy", "seed", "n_seeds", "scalar", "chunks",
            "prompts", "rule", "task", "grid")
SPACES = {"linspace": np.linspace, "logspace": np.logspace, "geomspace": np.geomspace}
TASK_SOURCES = ("base", "zipf", "dirichlet", "rollouts")


class Config:
    """A parsed configuration: :attr:`kwargs` for :func:`modesim.sweeps` and :meth:`line`
    to find where a key is written."""

    def __init__(self, kwargs: dict, text: str, name: str):
        self.kwargs = kwargs
        self._lines = text.splitlines()
        self.name = name

    def line(self, table: tuple[str, ...], key: str) -> int | None:
        """The line (1-based) where ``key`` is set in ``[table]``, if it can be found."""
        return _find_line(self._lines, table, key)

    def explain(self, exc: ValueError) -> ValueError:
        """``exc`` with the file and, for an error naming a grid entry, its line."""
        message = str(exc)
        m = re.search(r"grid\[(['\"])(.+?)\1\]", message)
        line = self.line(("grid",), m.group(2)) if m else None
        at = f", line {line}" if line else ""
        return ValueError(f"{self.name}{at}: {message}")


def _unquote(part: str) -> str:
    part = part.strip()
    return part[1:-1] if len(part) >= 2 and part[0] == part[-1] and part[0] in "\"'" else part


def _split_key(text: str) -> tuple[str, ...]:
    parts = re.findall(r'"[^"]*"|\'[^\']*\'|[^.]+', text)
    return tuple(_unquote(p) for p in parts if p.strip())


def _find_line(lines, table: tuple[str, ...], key: str) -> int | None:
    """The line setting ``key`` (a name, possibly dotted) in ``[table]``: written as a quoted
    key, as a dotted key, or inside a sub-table."""
    wants = {tuple(table) + (key,), tuple(table) + tuple(key.split("."))}
    current: tuple[str, ...] = ()
    for n, raw in enumerate(lines, start=1):
        line = raw.strip()
        header = re.match(r"^\[\[?\s*(.+?)\s*\]\]?\s*(#.*)?$", line)
        if header:
            current = _split_key(header.group(1))
            continue
        m = re.match(r"^((?:\"[^\"]*\"|'[^']*'|[A-Za-z0-9_\-]+)(?:\s*\.\s*(?:\"[^\"]*\"|'[^']*'|[A-Za-z0-9_\-]+))*)\s*=", line)
        if m and current + _split_key(m.group(1)) in wants:
            return n
    return None


def _header_line(lines, table: tuple[str, ...]) -> int | None:
    for n, raw in enumerate(lines, start=1):
        header = re.match(r"^\s*\[\[?\s*(.+?)\s*\]\]?\s*(#.*)?$", raw)
        if header and _split_key(header.group(1)) == tuple(table):
            return n
    return None


def _error(name: str, line: int | None, key: str, message: str) -> ValueError:
    at = f", line {line}" if line else ""
    return ValueError(f"{name}{at}: {key}: {message}")


def _values(entry, path: str, fail):
    """One grid entry's values from its TOML form."""
    if isinstance(entry, list):
        if entry and all(isinstance(v, dict) for v in entry):
            objs, labels = [], []
            for i, table in enumerate(entry):
                table = dict(table)
                label = table.pop("label", None)
                if "type" not in table:
                    raise fail(path, f"entry {i} is a table without 'type' (tables in a grid list build objects)")
                try:
                    objs.append(_rules.build_object(table, f"grid.{path}[{i}]"))
                except ValueError as exc:
                    raise fail(path, str(exc)) from None
                labels.append(label)
            if any(lab is not None for lab in labels):
                if not all(isinstance(lab, str) for lab in labels):
                    raise fail(path, "give every table a string 'label', or none")
                return dict(zip(labels, objs))
            return objs
        if any(isinstance(v, (dict, list)) for v in entry):
            raise fail(path, "a list of values must hold numbers, strings or booleans (or tables with 'type')")
        if any(isinstance(v, float) for v in entry) and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in entry):
            return [float(v) for v in entry]
        return entry
    if isinstance(entry, dict):
        kind = [k for k in entry if k in SPACES or k == "values"]
        if len(kind) != 1 or len(entry) != 1:
            raise fail(path, f"a table of values needs exactly one of {', '.join(list(SPACES) + ['values'])}; got keys {sorted(entry)}")
        kind = kind[0]
        arg = entry[kind]
        if kind == "values":
            return _values(arg, path, fail)
        if not (isinstance(arg, list) and len(arg) == 3 and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in arg)
                and isinstance(arg[2], int) and arg[2] >= 1):
            raise fail(path, f"{kind} takes [start, stop, num] with num a positive integer; got {arg!r}")
        with np.errstate(all="raise"):
            try:
                values = SPACES[kind](float(arg[0]), float(arg[1]), int(arg[2]))
            except (FloatingPointError, ValueError) as exc:
                raise fail(path, f"{kind} {arg!r} gives no finite values ({exc})") from None
        if not np.all(np.isfinite(values)):
            raise fail(path, f"{kind} {arg!r} gives non-finite values")
        return [float(v) for v in values]
    raise fail(path, f"values must be a list or a table such as {{ linspace = [0.0, 1.0, 11] }}; got {entry!r}")


def _flatten_grid(table: Mapping, prefix: str = "") -> dict:
    out = {}
    for key, entry in table.items():
        path = f"{prefix}{key}"
        if isinstance(entry, dict) and not (set(entry) & (set(SPACES) | {"values"})):
            out.update(_flatten_grid(entry, path + "."))
        else:
            out[path] = entry
    return out


def _task(table, base_dir: Path, fail):
    from .. import task as T

    if not isinstance(table, dict):
        raise fail("task", "must be a table with one of base, zipf, dirichlet, rollouts")
    sources = [s for s in TASK_SOURCES if s in table]
    if len(sources) != 1:
        raise fail("task", f"needs exactly one of {', '.join(TASK_SOURCES)}; got {sorted(table) or 'none'}")
    source = sources[0]
    allowed = {"base": {"base", "valid", "ood"}, "zipf": {"zipf", "valid"}, "dirichlet": {"dirichlet", "valid"},
               "rollouts": {"rollouts"}}[source]
    for key in table:
        if key not in allowed:
            raise fail(f"task.{key}", f"is not used with task.{source} (allowed here: {', '.join(sorted(allowed))})")
    valid = table.get("valid")
    try:
        if source == "base":
            return T.make_task(table["base"], valid, ood=table.get("ood"))
        opts = table[source]
        if source == "rollouts":
            from ..rollouts import rollout_bank

            if isinstance(opts, str):
                opts = {"path": opts}
            if not isinstance(opts, dict) or "path" not in opts:
                raise fail("task.rollouts", "must be a file name or a table with 'path' (and rollout_bank options)")
            opts = dict(opts)
            path = Path(opts.pop("path"))
            if not path.is_absolute():
                path = base_dir / path
            return rollout_bank(path, **opts)
        if not isinstance(opts, dict):
            raise fail(f"task.{source}", "must be a table, e.g. { K = 16, s = 1.0 }")
        if source == "zipf":
            return T.zipf_task(**opts, valid=valid)
        opts = dict(opts)
        prompts = opts.pop("prompts", None)
        return T.dirichlet_task(**opts, batch_shape=() if prompts is None else (prompts,), valid=valid)
    except TypeError as exc:
        raise fail(f"task.{source}", f"unknown option ({exc})") from None
    except ValueError as exc:
        if str(exc).startswith(tuple(f"task.{s}" for s in TASK_SOURCES)):
            raise
        raise fail(f"task.{source}", str(exc)) from None


def parse_config(text: str, *, name: str = "<config>", base_dir=".") -> Config:
    """Parse a configuration's TOML ``text`` (see the module docstring for the format).

    ``base_dir`` is where relative file names (a rollouts log) are looked up.

    Raises
    ------
    ValueError
        ``"<name>, line N: <key>: <what is wrong>"`` (the line when it can be found; TOML
        syntax errors carry tomllib's line and column).
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{name}: invalid TOML: {exc}") from None
    lines = text.splitlines()

    def fail(key: str, message: str) -> ValueError:
        parts = _split_key(key)
        first = re.match(r"[A-Za-z_]\w*", message)
        line = _find_line(lines, parts, first.group(0)) if first else None  # "alpha must be ..."
        if line is None:
            line = _find_line(lines, parts[:-1], parts[-1]) or _header_line(lines, parts)
        for cut in range(len(parts) - 1, 0, -1):  # else the enclosing table
            if line is not None:
                break
            line = _header_line(lines, parts[:cut]) or _find_line(lines, parts[:cut - 1], parts[cut - 1])
        return _error(name, line, key, message)

    for key in data:
        if key not in TOP_KEYS:
            raise fail(key, f"unknown key (known: {', '.join(TOP_KEYS)})")
    for key in ("rounds", "rule", "task"):
        if key not in data:
            raise ValueError(f"{name}: {key}: missing (a sweep configuration needs rounds, [rule] and [task])")
    kwargs = {}
    for key in ("rounds", "every", "seed", "n_seeds"):
        if key in data:
            if not isinstance(data[key], int) or isinstance(data[key], bool):
                raise fail(key, f"must be an integer; got {data[key]!r}")
            kwargs[key] = data[key]
    if "record_policy" in data:
        if not isinstance(data["record_policy"], bool):
            raise fail("record_policy", f"must be true or false; got {data['record_policy']!r}")
        kwargs["record_policy"] = data["record_policy"]
    for key in ("metrics", "k", "scalar"):
        if key in data:
            if not isinstance(data[key], list):
                raise fail(key, f"must be a list; got {data[key]!r}")
            kwargs[key] = list(data[key])
    if "chunks" in data:
        if not isinstance(data["chunks"], (int, dict)) or isinstance(data["chunks"], bool):
            raise fail("chunks", f"must be an integer or a table of grid names to integers; got {data['chunks']!r}")
        kwargs["chunks"] = data["chunks"]
    if "prompts" in data:
        kwargs["prompts"] = data["prompts"] if isinstance(data["prompts"], str) else list(data["prompts"])
    rule = data["rule"]
    if isinstance(rule, str):
        rule = {"type": rule}
    if not isinstance(rule, dict) or "type" not in rule:
        raise fail("rule", "must be a table with a 'type' (e.g. type = \"SelfDistillation\")")
    try:
        kwargs["rule"] = _rules.build_object(rule, "rule")
    except ValueError as exc:
        where, _, message = str(exc).partition(": ")
        if not message or not where.startswith("rule"):
            where, message = "rule", str(exc)
        raise fail(where.split(" ")[0], message) from None
    kwargs["task"] = _task(data["task"], Path(base_dir), fail)
    grid = data.get("grid", {})
    if not isinstance(grid, dict):
        raise fail("grid", "must be a table of names to values")
    kwargs["grid"] = {path: _values(entry, path, lambda p, m: _grid_fail(lines, name, p, m))
                      for path, entry in _flatten_grid(grid).items()}
    return Config(kwargs, text, name)


def _grid_fail(lines, name: str, path: str, message: str) -> ValueError:
    line = _find_line(lines, ("grid",), path)
    return _error(name, line, f"grid[{path!r}]", message)


def load_config(path) -> Config:
    """Read and parse the configuration file at ``path`` (see :func:`parse_config`).

    Raises
    ------
    ValueError
        If the file cannot be read, or as :func:`parse_config`.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"cannot read the configuration {str(path)!r}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ValueError(f"the configuration {str(path)!r} is not UTF-8 text") from None
    return parse_config(text, name=str(path), base_dir=p.parent)
