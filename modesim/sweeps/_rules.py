"""Building the rule of each grid point, and describing rules as JSON-able values.

A sweep is given either a **rule factory** (``lambda **params: rule``; grid names are its
keywords) or a **rule** whose fields the grid replaces by dotted path (``"beta"``,
``"teacher.alpha"``, ``"teacher_base.tau"``), with :func:`dataclasses.replace` at every
level, so each replaced object is validated again by its own ``__post_init__`` (once per
chunk, never inside a round).

:func:`describe` turns a rule (a tree of frozen dataclasses) into JSON-able values, the same
``{"type": ..., field: value}`` tables that a sweep configuration file uses (:mod:`.config`),
and :func:`build_object` turns such a table back into an object.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import math
import numbers
import types
from collections.abc import Mapping

import numpy as np

from .. import _checks as chk
from ..rule import capabilities

__all__ = ["RuleSpec", "describe", "build_object", "type_name", "code_digest"]


def _is_rule(obj) -> bool:
    return callable(getattr(obj, "init", None)) and callable(getattr(obj, "step", None))


def type_name(cls: type) -> str:
    """``"SelfDistillation"`` for a class modesim exports, ``"module:QualName"`` otherwise."""
    import modesim

    name = cls.__name__
    if cls.__module__.startswith("modesim") and name in modesim.__all__:
        try:
            if getattr(modesim, name) is cls:
                return name
        except (ImportError, AttributeError):  # a lazy export whose module is not available
            pass
    return f"{cls.__module__}:{cls.__qualname__}"


def code_digest(fn) -> str:
    """A digest of a function's code (bytecode, constants, names; not its file or line numbers),
    so a rule factory or metric written again in a new session or notebook cell is recognised."""
    h = hashlib.sha256()

    def feed(code):
        h.update(code.co_code)
        h.update(repr(code.co_names).encode())
        h.update(repr(code.co_varnames).encode())
        for c in code.co_consts:
            if isinstance(c, types.CodeType):
                feed(c)
            else:
                h.update(_safe_repr(c).encode())

    code = getattr(fn, "__code__", None)
    if code is None:
        call = next((k.__dict__["__call__"] for k in type(fn).__mro__ if "__call__" in k.__dict__), None)
        code = getattr(call, "__code__", None)
        h.update(type_name(type(fn)).encode())
        if dataclasses.is_dataclass(fn):
            h.update(repr(describe(fn)).encode())
    if code is not None:
        feed(code)
    for cell in getattr(fn, "__closure__", None) or ():
        try:
            h.update(repr(describe(cell.cell_contents)).encode())
        except ValueError:  # an empty cell
            pass
    return h.hexdigest()[:16]


def _safe_repr(obj) -> str:
    text = repr(obj)
    return text if " at 0x" not in text else type(obj).__name__


def _number(x):
    x = float(x)
    return x if math.isfinite(x) else repr(x)


def describe(obj):
    """``obj`` as JSON-able values: dataclasses as ``{"type": name, field: value, ...}``
    (init fields only), arrays as ``{"array": nested lists}``, functions by name and a code
    digest, other objects by their repr.  Deterministic (no memory addresses)."""
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, (numbers.Integral, np.integer)):
        return int(obj)
    if isinstance(obj, (numbers.Real, np.floating)):
        return _number(obj)
    if isinstance(obj, np.ndarray):
        flat = [describe(v) for v in obj.ravel().tolist()]
        return {"array": flat, "shape": list(obj.shape)}
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        out = {"type": type_name(type(obj))}
        for f in dataclasses.fields(obj):
            if f.init:
                out[f.name] = describe(getattr(obj, f.name))
        return out
    if isinstance(obj, Mapping):
        return {str(k): describe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [describe(v) for v in obj]
    if callable(obj):
        name = getattr(obj, "__qualname__", type(obj).__qualname__)
        return {"callable": f"{getattr(obj, '__module__', '?')}:{name}", "code": code_digest(obj)}
    return {"repr": _safe_repr(obj)}


def _known_types() -> list[str]:
    """The modesim classes a configuration can name: rules, teachers, demonstration sources, EMA."""
    import modesim

    from ..demos import DemoSource
    from ..rule import EMA, Rule
    from ..teachers import Teacher

    out = []
    for name in modesim.__all__:
        if not name[:1].isupper():
            continue
        try:
            obj = getattr(modesim, name)
        except (ImportError, AttributeError):  # a lazy export whose module is not available
            continue
        if isinstance(obj, type) and (_is_rule(obj) or issubclass(obj, (Teacher, DemoSource, EMA))) \
                and obj not in (Teacher, DemoSource, Rule):
            out.append(name)
    return sorted(out)


def _resolve_type(name, where: str) -> type:
    import modesim

    if not isinstance(name, str) or not name:
        raise ValueError(f"{where}.type: must name a class (e.g. 'SelfDistillation', 'CopyTeacher' or 'package.module:Class'); got {chk.describe(name)}")
    if ":" in name:
        module, _, qual = name.partition(":")
        try:
            obj = importlib.import_module(module)
            for part in qual.split("."):
                obj = getattr(obj, part)
        except (ImportError, AttributeError) as exc:
            raise ValueError(f"{where}.type: {name!r} cannot be imported ({exc})") from None
    else:
        obj = None
        if name in modesim.__all__:
            try:
                obj = getattr(modesim, name)
            except (ImportError, AttributeError) as exc:
                raise ValueError(f"{where}.type: {name!r} needs a module that is not available ({exc})") from None
        if not isinstance(obj, type):
            raise ValueError(f"{where}.type: {name!r} is not a modesim class; modesim classes: "
                             f"{', '.join(_known_types())} (or 'package.module:Class')")
    if not isinstance(obj, type):
        raise ValueError(f"{where}.type: {name!r} is not a class")
    if not _buildable(obj):
        # Checked before the class is called: a configuration may not construct arbitrary
        # objects (``subprocess:Popen`` with the file's keywords would run a program).
        raise ValueError(
            f"{where}.type: {name!r} is neither a modesim class nor a rule (with init and step), "
            "teacher or demonstration source; a configuration builds only those"
        )
    return obj


def _buildable(cls: type) -> bool:
    """A class a configuration may call: modesim's own, or a user's rule, teacher or demo source."""
    module = getattr(cls, "__module__", "") or ""
    if module == "modesim" or module.startswith("modesim."):
        return True
    from ..demos import DemoSource
    from ..paths.demos import PathDemoSource
    from ..paths.teachers import PathTeacher
    from ..teachers import Teacher

    return _is_rule(cls) or issubclass(cls, (Teacher, DemoSource, PathTeacher, PathDemoSource))


def build_object(spec, where: str = "rule"):
    """Build an object from a table ``{"type": name, keyword: value, ...}`` (nested tables with
    a ``type`` are built first; ``{"array": [...], "shape": [...]}`` becomes an array).

    Raises
    ------
    ValueError
        Naming the table (``where``) and the key: an unknown type, or the class refusing a
        keyword or a value.
    """
    if isinstance(spec, Mapping):
        if "array" in spec and set(spec) <= {"array", "shape"}:
            arr = np.asarray(spec["array"], dtype=np.float64)
            return arr.reshape(spec["shape"]) if "shape" in spec else arr
        if "type" not in spec:
            return {k: build_object(v, f"{where}.{k}") for k, v in spec.items()}
        cls = _resolve_type(spec["type"], where)
        kwargs = {k: build_object(v, f"{where}.{k}") for k, v in spec.items() if k != "type"}
        try:
            return cls(**kwargs)
        except TypeError as exc:
            raise ValueError(f"{where}: {cls.__name__} does not accept these keys ({exc})") from None
        except ValueError as exc:
            raise ValueError(f"{where}: {exc}") from None
    if isinstance(spec, list):
        return [build_object(v, f"{where}[{i}]") for i, v in enumerate(spec)]
    return spec


def _replace_path(obj, parts: list[str], value, full: str):
    if not dataclasses.is_dataclass(obj) or isinstance(obj, type):
        raise ValueError(
            f"grid entry {full!r}: {type(obj).__name__} is not a dataclass, so its field "
            f"{parts[0]!r} cannot be replaced (use a rule factory: lambda **params: rule)"
        )
    names = [f.name for f in dataclasses.fields(obj) if f.init]
    head = parts[0]
    if head not in names:
        raise ValueError(f"grid entry {full!r}: {type(obj).__name__} has no field {head!r} (fields: {', '.join(names)})")
    new = value if len(parts) == 1 else _replace_path(getattr(obj, head), parts[1:], value, full)
    return dataclasses.replace(obj, **{head: new})


class RuleSpec:
    """How to build the rule of a grid point: a factory called with the grid's keywords, or
    a base rule whose fields are replaced by dotted path.  Picklable when the factory is
    (by reference, or by value through cloudpickle on a Dask cluster)."""

    def __init__(self, rule):
        if _is_rule(rule):
            self.base, self.factory = rule, None
            capabilities(rule)
        elif callable(rule):
            self.base, self.factory = None, rule
        else:
            raise ValueError(
                f"rule must be a rule (with init and step) or a rule factory (a callable taking the "
                f"grid's names as keywords); got {chk.describe(rule)}"
            )

    def build(self, params: Mapping):
        """The rule with ``params`` (name → value or array) applied."""
        if self.factory is not None:
            try:
                rule = self.factory(**params)
            except TypeError as exc:
                raise ValueError(
                    f"the rule factory refused the grid's keywords {sorted(params)} ({exc}); every grid "
                    "name must be a keyword of the factory"
                ) from None
            if not _is_rule(rule):
                raise ValueError(f"the rule factory must return a rule (with init and step); it returned {chk.describe(rule)}")
            return rule
        rule = self.base
        for name, value in params.items():
            rule = _replace_path(rule, name.split("."), value, name)
        return rule

    def describe(self, first_point: Mapping) -> dict:
        """JSON-able description: the base rule, or the factory and its rule at ``first_point``."""
        if self.factory is None:
            return {"rule": describe(self.base)}
        return {"factory": describe(self.factory), "rule_at_first_point": describe(self.build(first_point))}
