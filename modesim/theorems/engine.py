"""The counterexample search behind ``modesim verify``: data types, lookup and :func:`verify`.

A :class:`Theorem` bundles a statement, its assumptions, a hypothesis strategy of
:class:`Instance` objects satisfying them, and a check that measures each **clause** as a
*margin*, positive exactly when the clause holds (an equality ``x = y`` as
``tolerance − |x − y|``, a strict inequality ``a > b`` as a normalised ``a − b``).  A
:class:`Control` is a theorem with one assumption dropped; it passes when the search
**finds** a counterexample.  :func:`verify` runs the search and returns a :class:`Report`.

This module knows nothing about particular statements: the entries live in
:mod:`modesim.theorems.registry` (data), their checks in :mod:`modesim.theorems.checks`,
and :mod:`modesim.theorems` fills the lookup tables here when it is imported.
"""

from __future__ import annotations

import contextlib
import math
import random
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np
from hypothesis import HealthCheck, Phase, find, settings
from hypothesis import strategies as st
from hypothesis.errors import NoSuchExample

from .. import _checks as chk
from ..task import Task

__all__ = [
    "Instance",
    "Outcome",
    "Theorem",
    "Control",
    "Report",
    "instances",
    "get",
    "get_control",
    "controls_for",
    "verify",
]


# ------------------------------------------------------------------ data types


@dataclass(frozen=True, eq=False)
class Instance:
    """One drawn instance: a task and named scalar parameters (α, β, lr, κ, rounds…).

    What a statement's strategy draws and its check reads (``inst.task``, ``inst["alpha"]``);
    the statements are those of theory §2–§3, §8 and §11 (ids R1–R4, S1–S8 and the later
    ones).

    Parameters
    ----------
    task : Task
        A categorical task, batch shape ``()`` for the registry's strategies.
    params : mapping of str to number
        The instance's parameters (stored read-only).

    Raises
    ------
    ValueError
        ``task`` not a :class:`~modesim.Task`, or ``params`` not a mapping.  Reading a
        parameter that is not there (``inst["beta"]``) raises ``KeyError``.
    """

    task: Task
    params: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self):
        chk.one_of_types(self.task, "task", (Task,), "a modesim Task (from ms.make_task)")
        if not isinstance(self.params, Mapping):
            raise ValueError(f"params must be a mapping of names to numbers; got {chk.describe(self.params)}")
        object.__setattr__(self, "params", MappingProxyType(dict(self.params)))

    def __getitem__(self, name: str):
        try:
            return self.params[name]
        except KeyError:
            raise _MissingParameter(name) from None

    def __reduce__(self):
        return (Instance, (self.task, dict(self.params)))

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"Instance(base={_floats(self.task.base)}, valid={self.task.valid.tolist()}, {args})"


class _MissingParameter(KeyError):
    """A check read a parameter the instance does not have (:meth:`Theorem.check` turns it
    into a ValueError naming it)."""


@dataclass(frozen=True)
class Outcome:
    """Result of a check: the margin of each clause (positive = holds).

    Attributes
    ----------
    parts : mapping of clause name to margin
    error : str
        Non-empty when the implementation raised instead of returning (counts as a
        violation with margin −inf).

    A margin is in the units of its clause (a tolerance minus an absolute or relative
    error, or a normalised difference); see each theorem's ``clauses`` and the statement
    in theory §2–§3, §8 and §11.

    Raises
    ------
    ValueError
        Never: a plain record built by :meth:`Theorem.check` (not validated).
    """

    parts: Mapping[str, float]
    error: str = ""

    @property
    def margin(self) -> float:
        """Worst clause margin (−inf on an error)."""
        if self.error:
            return -math.inf
        return min(self.parts.values()) if self.parts else math.inf

    @property
    def holds(self) -> bool:
        """True when every clause holds (margin > 0)."""
        return self.margin > 0

    @property
    def worst(self) -> str:
        """Name of the clause with the smallest margin."""
        if self.error:
            return "error"
        return min(self.parts, key=self.parts.get) if self.parts else ""

    def __reduce__(self):
        return (Outcome, (dict(self.parts), self.error))

    def __str__(self) -> str:
        if self.error:
            return f"error: {self.error}"
        body = ", ".join(f"{k}={v:+.3g}" for k, v in self.parts.items())
        return f"{'holds' if self.holds else 'VIOLATED'} (margins: {body})"


@dataclass(frozen=True, eq=False)
class Theorem:
    """One statement of the theory document with a strategy and a check.

    Attributes
    ----------
    id : str
        Statement id as in the theory document (``"S4"``).
    statement : str
        One line, in words.
    latex : str
        The statement in LaTeX.
    assumptions : tuple of str
        What the strategy guarantees for every drawn instance.
    section : str
        Section of the theory document, e.g. ``"§3.4"`` (cite as ``theory §3.4``).
    clauses : mapping of clause name to its description (measured quantity and tolerance)
    strategy : SearchStrategy of Instance
    default_impl : object
        The implementation the statement is about (closed form or rule factory); the
        signature is stated in ``impl_doc``.
    impl_doc : str
    code : str
        Lines of Python using the public API that show the statement on an instance,
        run after ``task`` and the instance parameters are defined.  Filled in with
        :meth:`str.format` (``{teacher}`` becomes the instance's teacher), so literal
        braces must be doubled.

    Raises
    ------
    ValueError
        Not on construction (the entries are data written in
        :mod:`modesim.theorems.registry`; a duplicate id is refused when the registry
        loads).  :meth:`check` raises for a bad ``instance`` or ``parts``.

    Notes
    -----
    Source: each entry's statement is written, with its own source, in the theory
    document under ``section`` (theory §2–§3, §8 and §11).
    """

    id: str
    statement: str
    latex: str
    assumptions: tuple[str, ...]
    section: str
    clauses: Mapping[str, str]
    strategy: st.SearchStrategy
    default_impl: object
    impl_doc: str
    code: str
    _check: Callable[..., dict] = field(repr=False)

    @property
    def cite(self) -> str:
        """``"theory §3.4 (S4)"``: where the statement is written down."""
        return f"theory {self.section} ({self.id})"

    def check(self, instance: Instance, impl=None, *, parts=None) -> Outcome:
        """Measure every clause (or only ``parts``) on ``instance`` with ``impl``.

        Parameters
        ----------
        instance : Instance
        impl : object, optional
            Replaces :attr:`default_impl` (see :attr:`impl_doc` for its signature).
        parts : iterable of str, optional
            Clause names to measure (default: all).

        Returns
        -------
        Outcome
            The margin of each measured clause; an implementation that raises
            ``ValueError``, ``ArithmeticError`` (``FloatingPointError`` included) or
            ``LinAlgError`` gives an outcome with ``error`` set instead of raising.

        Raises
        ------
        ValueError
            ``instance`` is not an :class:`Instance` or ``parts`` names an unknown clause
            (or is not clause names), or ``instance`` lacks a parameter the check reads
            (the message names the missing parameter and the ones this theorem's instances
            carry).
        """
        chk.one_of_types(instance, "instance", (Instance,), "a modesim.theorems.Instance")
        wanted = tuple(self.clauses) if parts is None else _names(parts, "parts")
        unknown = [p for p in wanted if p not in self.clauses]
        if unknown:
            raise ValueError(
                f"parts has unknown clause(s) {unknown} for {self.id}; allowed: {list(self.clauses)}"
            )
        impl = self.default_impl if impl is None else impl
        try:
            with np.errstate(all="ignore"):
                measured = self._check(instance, impl, wanted)
        except _MissingParameter as exc:
            missing = exc.args[0]
            expected = " or ".join(f"({', '.join(names)})" for names in _parameter_sets(self.strategy))
            raise ValueError(
                f"instance has no parameter {missing!r}, which the check of {self.id} reads; "
                f"it has {'parameters (' + ', '.join(instance.params) + ')' if instance.params else 'no parameters'}; {self.id}'s instances carry "
                f"{expected or 'the parameters its strategy draws'}"
            ) from None
        except (ValueError, FloatingPointError, ArithmeticError, np.linalg.LinAlgError) as exc:
            return Outcome({}, error=f"{type(exc).__name__}: {exc}")
        return Outcome(
            MappingProxyType({k: float(np.nan_to_num(v, nan=-np.inf)) for k, v in measured.items()})
        )

    def snippet(self, instance: Instance) -> str:
        """A runnable Python snippet that rebuilds ``instance`` and shows the statement."""
        return _snippet(self.id, "get", self.code, instance, self.clauses)


@dataclass(frozen=True, eq=False)
class Control:
    """A negative control: a theorem with one assumption dropped, expected to fail.

    ``verify`` passes a control when it **finds** a counterexample: the assumption is
    needed for the statement of theory §2–§3, §8 and §11 that the control belongs to.

    Attributes
    ----------
    id : str
        ``"<theorem>:<what changed>"``.
    theorem : str
        Id of the theorem whose check is used.
    dropped : str
        The assumption dropped (or the rule swapped in), in words.
    strategy : SearchStrategy of Instance
        Draws instances *without* the assumption.
    parts : tuple of str
        The clauses judged (the ones the dropped assumption is needed for).
    impl : object or None
        Implementation passed to the theorem's check (None: its default).
    code : str
        Snippet lines replacing the theorem's ``code`` (when its names do not apply).

    Raises
    ------
    ValueError
        Not on construction (registry data; a control whose theorem or clauses are unknown
        is refused when the registry loads).  :meth:`check` raises when ``theorem`` is not a
        registered id, or as :meth:`Theorem.check`.
    """

    id: str
    theorem: str
    dropped: str
    strategy: st.SearchStrategy
    parts: tuple[str, ...]
    impl: object = None
    code: str = ""

    @property
    def statement(self) -> str:
        return f"{self.theorem} fails when: {self.dropped}"

    def check(self, instance: Instance, impl=None) -> Outcome:
        """The theorem's check on the judged clauses (``impl`` overrides the control's)."""
        return get(self.theorem).check(
            instance, impl if impl is not None else self.impl, parts=self.parts
        )

    def snippet(self, instance: Instance) -> str:
        """A runnable snippet reproducing the counterexample."""
        th = get(self.theorem)
        code = self.code or th.code
        return _snippet(self.id, "get_control", code, instance, {p: th.clauses[p] for p in self.parts})


@dataclass(frozen=True, eq=False)
class Report:
    """Result of :func:`verify` for one theorem or control (a statement of theory §2–§3, §8 and §11).

    Attributes
    ----------
    id, kind : str
        ``kind`` is ``"theorem"`` or ``"control"``.
    examples : int
        Instances checked (including those hypothesis tried while shrinking).
    worst_margin : float
        Smallest clause margin seen (negative = a violation was seen).
    worst_clause : str
        Clause that gave ``worst_margin``.
    counterexample : Instance or None
        The shrunk violating instance, if one was found.
    outcome : Outcome or None
        The check's outcome on ``counterexample``.
    snippet : str
        Runnable Python reproducing ``counterexample`` ("" when there is none).
    seconds : float
        Wall-clock time of the search.

    Raises
    ------
    ValueError
        Never: a plain record built by :func:`verify` (not validated).
    """

    id: str
    kind: str
    examples: int
    worst_margin: float
    worst_clause: str
    counterexample: Instance | None
    outcome: Outcome | None
    snippet: str
    seconds: float

    @property
    def ok(self) -> bool:
        """Theorem: no counterexample found.  Control: a counterexample was found."""
        found = self.counterexample is not None
        return found if self.kind == "control" else not found

    @property
    def verdict(self) -> str:
        if self.kind == "control":
            return "ok (counterexample found)" if self.ok else "FAIL (no counterexample)"
        return "ok" if self.ok else "FAIL (counterexample)"

    def as_dict(self) -> dict:
        """A JSON-ready dict (non-finite margins as the strings ``"inf"``/``"-inf"``)."""
        cx = self.counterexample
        return {
            "id": self.id,
            "kind": self.kind,
            "ok": self.ok,
            "verdict": self.verdict,
            "examples": self.examples,
            "worst_margin": _json_float(self.worst_margin),
            "worst_clause": self.worst_clause,
            "counterexample": None if cx is None else {
                "base": _floats(cx.task.base),
                "valid": cx.task.valid.astype(int).tolist(),
                "params": {k: _json_value(v) for k, v in cx.params.items()},
            },
            "outcome": None if self.outcome is None else {
                "parts": {k: _json_float(v) for k, v in self.outcome.parts.items()},
                "error": self.outcome.error,
            },
            "snippet": self.snippet,
            "seconds": round(self.seconds, 3),
        }


# ------------------------------------------------------------------ lookup

#: Filled by :mod:`modesim.theorems` from its data modules (id -> entry, registration order).
_THEOREMS: dict[str, Theorem] = {}
_CONTROLS: dict[str, Control] = {}


def _register(theorems: Iterable[Theorem], controls: Iterable[Control]) -> None:
    """Add entries to the lookup tables; a duplicate id or a dangling control is an error."""
    for t in theorems:
        chk.one_of_types(t, "theorem", (Theorem,), "a modesim.theorems.Theorem")
        if t.id in _THEOREMS:
            raise ValueError(f"theorem id {t.id!r} is registered twice")
        _THEOREMS[t.id] = t
    for c in controls:
        chk.one_of_types(c, "control", (Control,), "a modesim.theorems.Control")
        if c.id in _CONTROLS or c.id in _THEOREMS:
            raise ValueError(f"control id {c.id!r} is registered twice")
        if c.theorem not in _THEOREMS:
            raise ValueError(f"control {c.id!r} refers to unknown theorem {c.theorem!r}")
        bad = [p for p in c.parts if p not in _THEOREMS[c.theorem].clauses]
        if bad or not c.parts:
            raise ValueError(f"control {c.id!r} judges unknown clause(s) {bad or '(none given)'}")
        _CONTROLS[c.id] = c


def get(theorem_id: str) -> Theorem:
    """The registered theorem ``theorem_id`` (e.g. ``"S4"``), as stated in theory §2–§3, §8 and §11.

    Returns
    -------
    Theorem

    Raises
    ------
    ValueError
        Unknown id; the message lists the known ones.
    """
    if isinstance(theorem_id, str) and theorem_id in _THEOREMS:
        return _THEOREMS[theorem_id]
    raise ValueError(f"theorem must be one of {list(_THEOREMS)}; got {chk.describe(theorem_id)}")


def get_control(control_id: str) -> Control:
    """The registered negative control ``control_id`` (e.g. ``"S4:anti-copy"``; theory §2–§3, §8 and §11).

    Returns
    -------
    Control

    Raises
    ------
    ValueError
        Unknown id; the message lists the known ones.
    """
    if isinstance(control_id, str) and control_id in _CONTROLS:
        return _CONTROLS[control_id]
    raise ValueError(f"control must be one of {list(_CONTROLS)}; got {chk.describe(control_id)}")


def controls_for(theorem_id: str) -> list[Control]:
    """The negative controls of one theorem, in registration order (theory §2–§3, §8 and §11).

    Returns
    -------
    list of Control
        Empty for a theorem without controls.

    Raises
    ------
    ValueError
        ``theorem_id`` is not a registered theorem id (a control id is refused too); the
        message lists the known ones.
    """
    get(theorem_id)
    return [c for c in _CONTROLS.values() if c.theorem == theorem_id]


def _lookup(ident: str) -> Theorem | Control:
    """A theorem or a control by id."""
    if isinstance(ident, str) and ident in _CONTROLS:
        return _CONTROLS[ident]
    if isinstance(ident, str) and ident in _THEOREMS:
        return _THEOREMS[ident]
    raise ValueError(
        f"theorem must be a theorem id {list(_THEOREMS)} or a control id {list(_CONTROLS)}; "
        f"got {chk.describe(ident)}"
    )


# ------------------------------------------------------------------ helpers for entries


def instances(task_strategy, **params) -> st.SearchStrategy:
    """Strategy of :class:`Instance` from a task strategy and one strategy per parameter.

    Builds the ``strategy`` of a registry entry (the statements of theory §2–§3, §8 and §11).

    Parameters
    ----------
    task_strategy : SearchStrategy of Task
        E.g. :func:`modesim.testing.tasks`.
    **params : SearchStrategy
        One strategy per parameter name.

    Returns
    -------
    SearchStrategy of Instance

    Raises
    ------
    ValueError
        Naming ``task_strategy`` or the parameter whose value is not a hypothesis
        ``SearchStrategy``.

    >>> from modesim.theorems import instances
    >>> from hypothesis import strategies as st
    >>> from modesim.testing import tasks
    >>> strategy = instances(tasks(), beta=st.floats(0.01, 100.0))
    """
    chk.one_of_types(task_strategy, "task_strategy", (st.SearchStrategy,),
                     "a hypothesis SearchStrategy of Task (e.g. modesim.testing.tasks())")
    for name, value in params.items():
        chk.one_of_types(value, name, (st.SearchStrategy,),
                         f"a hypothesis SearchStrategy (one per parameter; e.g. {name}=st.floats(0.0, 1.0))")
    strategy = st.builds(lambda t, p: Instance(t, p), task_strategy, st.fixed_dictionaries(params))
    strategy.modesim_parameters = tuple(params)
    return strategy


def _parameter_sets(strategy) -> list[tuple[str, ...]]:
    """The parameter names of the instances ``strategy`` draws, one tuple per alternative:
    known for strategies built by :func:`instances` and :func:`hypothesis.strategies.one_of`
    of them; otherwise read off one drawn instance (empty if none can be drawn)."""
    names = getattr(strategy, "modesim_parameters", None)
    if names is not None:
        return [names]
    branches = getattr(strategy, "original_strategies", None)
    if branches is not None:
        out: list[tuple[str, ...]] = []
        for b in branches:
            out += [n for n in _parameter_sets(b) if n not in out]
        return out
    cfg = settings(max_examples=1, database=None, deadline=None,
                   suppress_health_check=list(HealthCheck), phases=(Phase.generate,))
    try:
        with _private_hypothesis_storage():
            drawn = find(strategy, lambda _: True, settings=cfg, random=random.Random(0))
    except Exception:  # noqa: BLE001 - only for an error message
        return []
    return [tuple(drawn.params)] if isinstance(drawn, Instance) else []


def _names(values, name: str) -> tuple[str, ...]:
    if isinstance(values, str):
        return (values,)
    try:
        out = tuple(values)
    except TypeError:
        raise ValueError(f"{name} must be clause names (strings); got {chk.describe(values)}") from None
    if not all(isinstance(v, str) for v in out):
        raise ValueError(f"{name} must be clause names (strings); got {chk.describe(values)}")
    return out


def _floats(a) -> list[float]:
    return [float(x) for x in np.asarray(a).ravel()]


def _json_float(x: float):
    return x if math.isfinite(x) else str(x)


def _json_value(v):
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        return _json_float(float(v))
    return repr(v)


def _snippet(ident: str, getter: str, code: str, inst: Instance, clauses: Mapping[str, str]) -> str:
    params = dict(inst.params)
    lines = [
        "import numpy as np",
        "import modesim as ms",
        f"from modesim.theorems import Instance, {getter}",
        "",
        f"task = ms.make_task({_floats(inst.task.base)!r}, {inst.task.valid.tolist()!r})",
    ]
    lines += [f"{k} = {v!r}" for k, v in params.items()]
    teacher = "ms.TiltTeacher(kappa)" if "kappa" in params else "ms.CopyTeacher(alpha)"
    lines.append(code.rstrip("\n").format(teacher=teacher, **params))
    keys = ", ".join(f"{k!r}: {k}" for k in params)
    lines.append("# clauses: " + "; ".join(f"{k}: {v}" for k, v in clauses.items()))
    lines.append(f"print({getter}({ident!r}).check(Instance(task, {{{keys}}})))")
    return "\n".join(lines) + "\n"


@contextlib.contextmanager
def _private_hypothesis_storage():
    """Keep hypothesis from writing ``.hypothesis/`` into the working directory.

    :func:`verify` uses no example database, but hypothesis caches the numeric constants
    it finds in the caller's *local* source files (modesim itself when run from a
    checkout) under its storage directory, ``./.hypothesis`` by default.  During a search
    the storage directory is a temporary one, deleted afterwards; the previous setting
    (the default, ``HYPOTHESIS_STORAGE_DIRECTORY`` or the user's own) is restored.
    """
    from hypothesis import configuration

    setter = getattr(configuration, "set_hypothesis_home_dir", None)
    if setter is None:  # pragma: no cover - an older or newer hypothesis without the hook
        yield
        return
    previous = getattr(configuration, "__hypothesis_home_directory", None)
    with tempfile.TemporaryDirectory(prefix="modesim-verify-") as tmp:
        setter(tmp)
        try:
            yield
        finally:
            setter(previous)


# ------------------------------------------------------------------ the search


def verify(
    item: Theorem | Control | str,
    *,
    examples: int = 100,
    seed: int = 0,
    impl=None,
    progress: Callable[[int, bool], None] | None = None,
) -> Report:
    """Search for a counterexample to a theorem (or find one for a control) with hypothesis.

    Uses :func:`hypothesis.find` with ``max_examples=examples``, no example database and
    a ``random.Random(seed)`` source, so a run is reproducible; the counterexample is
    shrunk.  An implementation that raises counts as a violation.  Nothing is written to
    the working directory.  The statements and controls searched are those of theory §2–§3,
    §8 and §11.

    Parameters
    ----------
    item : Theorem, Control or str
        The entry, or its id (``"S4"``, ``"S4:anti-copy"``).
    examples : int >= 1
        Number of instances to draw (shrinking may check more).
    seed : int >= 0
    impl : object, optional
        Implementation passed to the check (default: the theorem's or control's own).
    progress : callable, optional
        Called as ``progress(checked, found)`` after every checked instance, with the
        number checked so far and whether a violation has been seen (then hypothesis is
        shrinking it).  ``modesim verify`` draws its progress bar with it.

    Returns
    -------
    Report

    Raises
    ------
    ValueError
        Unknown id, ``item`` of the wrong type, ``examples`` not a positive integer, a
        bad ``seed`` or a ``progress`` that is not callable.

    Examples
    --------
    >>> from modesim.theorems import verify
    >>> verify("S4", examples=20).ok
    True
    """
    if isinstance(item, str):
        item = _lookup(item)
    chk.one_of_types(item, "item", (Theorem, Control),
                     "a Theorem, a Control or an id (see modesim.theorems.REGISTRY and CONTROLS)")
    examples = chk.integer(examples, "examples", low=1)
    seed = chk.integer(seed, "seed", low=0)
    if progress is not None and not callable(progress):
        raise ValueError(f"progress must be a callable progress(checked, found) or None; got {chk.describe(progress)}")
    stats = {"n": 0, "margin": math.inf, "clause": "", "found": False}

    def violated(inst: Instance) -> bool:
        out = item.check(inst, impl)
        stats["n"] += 1
        if out.margin < stats["margin"]:
            stats["margin"], stats["clause"] = out.margin, out.worst
        bad = not out.holds
        stats["found"] |= bad
        if progress is not None:
            progress(stats["n"], stats["found"])
        return bad

    cfg = settings(
        max_examples=examples,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        phases=(Phase.generate, Phase.shrink),
    )
    start = time.perf_counter()
    with _private_hypothesis_storage():
        try:
            cx = find(item.strategy, violated, settings=cfg, random=random.Random(seed))
        except NoSuchExample:
            cx = None
    seconds = time.perf_counter() - start
    outcome = None if cx is None else item.check(cx, impl)
    return Report(
        id=item.id,
        kind="control" if isinstance(item, Control) else "theorem",
        examples=stats["n"],
        worst_margin=stats["margin"],
        worst_clause=stats["clause"],
        counterexample=cx,
        outcome=outcome,
        snippet="" if cx is None else item.snippet(cx),
        seconds=seconds,
    )
