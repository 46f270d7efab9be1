"""Public docstrings cite the theory document and list the errors they raise.

The project brief asks every public docstring for the formula, shapes, units, errors
raised, the theory section and the source.  Two of those are mechanical enough to check:

(a) every public callable of ``modesim``, ``modesim.paths``, ``modesim.sampled``,
    ``modesim.remedies``, ``modesim.scenarios``, ``modesim.sweeps`` and ``modesim.figures``
    (the names in their ``__all__``, lazily exported ones included) cites a section of
    ``docs/theory.md`` ("§N" or "§N.M"), and every section it cites is a heading there
    (``## §N …`` or ``### §N.M …``);
(b) every such callable that takes arguments has a numpydoc ``Raises`` section, except
    the short list of exemptions below (records that check nothing, and DP kernels that
    take already-validated arrays).

The checks run per *home* package, the subpackage of ``modesim`` that defines the object
(``modesim`` for the top-level modules), so a failure names whose docstrings need work.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
THEORY = ROOT / "docs" / "theory.md"

#: The packages whose ``__all__`` is checked.
PACKAGES = (
    "modesim",
    "modesim.paths",
    "modesim.sampled",
    "modesim.remedies",
    "modesim.scenarios",
    "modesim.sweeps",
    "modesim.figures",
)

#: Where those names are defined (``modesim.figures`` re-exports ``modesim.plot``'s checks).
HOMES = (*PACKAGES, "modesim.plot")

# Callables that take arguments and have no ``Raises`` section, each with its reason.
# Keep this short: an entry must still be a public callable without a Raises section
# (test_the_exemptions_are_real_and_still_needed).

#: Plain records (NamedTuples and frozen dataclasses without ``__post_init__``): their
#: constructors store what the library's functions put in them and check nothing.
RECORDS = {
    "modesim.State",  # the rules' state; rules validate once, in __post_init__ or init
    "modesim.Trajectory",  # built by iterate / flow
    "modesim.FixedPoint",  # returned by fixed_points
    "modesim.Fan",  # returned by fan
    "modesim.Rule",  # a typing Protocol, never instantiated (capabilities() checks rules)
    "modesim.sampled.AdamState",  # Adam's moments; Adam.apply refuses anything else
    "modesim.paths.Layer",  # a PathGraph's layer table, built by its builders
    "modesim.paths.PathEnumeration",  # returned by enumerate_paths
    "modesim.paths.PathRollouts",  # returned by sample_rollouts
}

#: Dynamic-programming and sampling kernels: public for users who compose their own
#: quantities, they take arrays validated by their callers and raise nothing themselves
#: (theory §5.1, §10.6; see the module docstring of modesim.paths.dp).
KERNELS = {
    "modesim.paths.backward",
    "modesim.paths.forward",
    "modesim.paths.log_success",
    "modesim.paths.normalise_nodes",
    "modesim.paths.edge_log_marginals",
    "modesim.paths.hit_probability",
    "modesim.paths.normalise_nodes_rowwise",
    "modesim.paths.bank_forward",
    "modesim.paths.bank_log_success",
    "modesim.paths.sample_rollouts",
}

NO_RAISES = RECORDS | KERNELS

_HEADING = re.compile(r"^#{2,3}\s+§(\d+(?:\.\d+)?)\s", re.M)
_CITED = re.compile(r"§(\d+(?:\.\d+)?)")
_RAISES = re.compile(r"^Raises\n-{6,}$", re.M)


@functools.cache
def theory_sections() -> frozenset[str]:
    """Section numbers defined by headings ``## §N …`` and ``### §N.M …`` of the theory."""
    return frozenset(_HEADING.findall(THEORY.read_text(encoding="utf-8")))


def home_of(obj) -> str:
    """The subpackage of modesim that defines ``obj`` (``modesim`` for a top-level module)."""
    parts = getattr(obj, "__module__", "").split(".")
    if parts[0] != "modesim":
        return getattr(obj, "__module__", "?")
    if len(parts) > 1 and hasattr(importlib.import_module(f"modesim.{parts[1]}"), "__path__"):
        return f"modesim.{parts[1]}"
    return "modesim"


@functools.cache
def public_callables() -> dict[str, tuple[tuple[str, object], ...]]:
    """``{home package: ((public name, object), …)}`` over the ``__all__`` of every package.

    An object exported by several packages is listed once, under the first package (in
    ``PACKAGES`` order) that exports it; lazy names are read through the package attribute.
    """
    seen: set[int] = set()
    out: dict[str, list[tuple[str, object]]] = {}
    for pkg in PACKAGES:
        module = importlib.import_module(pkg)
        for name in module.__all__:
            obj = getattr(module, name)
            if not callable(obj) or id(obj) in seen:
                continue
            seen.add(id(obj))
            out.setdefault(home_of(obj), []).append((f"{pkg}.{name}", obj))
    return {home: tuple(items) for home, items in out.items()}


def takes_arguments(obj) -> bool:
    """Whether calling ``obj`` (a function, or a class: its constructor) takes any argument."""
    try:
        return len(inspect.signature(obj).parameters) > 0
    except (TypeError, ValueError):  # no signature: assume it does
        return True


def docstring_problems(name: str, obj, sections=None, exempt=frozenset()) -> list[str]:
    """What is missing from ``obj``'s docstring: a theory section, an existing section, Raises."""
    sections = theory_sections() if sections is None else sections
    doc = inspect.getdoc(obj) or ""
    cited = _CITED.findall(doc)
    problems = []
    if not cited:
        problems.append(f"{name}: no theory section (§N) cited")
    problems += [f"{name}: cites §{s}, which is not a heading of docs/theory.md"
                 for s in dict.fromkeys(cited) if s not in sections]
    if takes_arguments(obj) and name not in exempt and not _RAISES.search(doc):
        problems.append(f"{name}: takes arguments but has no Raises section")
    return problems


# ----------------------------------------------------------------------------- the checks


@pytest.mark.parametrize("home", HOMES)
def test_public_docstrings_cite_the_theory_and_list_their_errors(home):
    items = public_callables().get(home, ())
    assert items, f"no public callable is defined in {home}"
    problems = [p for name, obj in items for p in docstring_problems(name, obj, exempt=NO_RAISES)]
    assert problems == [], f"{len(problems)} docstring problem(s) in {home}:\n" + "\n".join(problems)


def test_every_public_callable_has_a_home_that_is_checked():
    homes = set(public_callables())
    assert homes <= set(HOMES), f"public callables defined outside the checked packages: {homes - set(HOMES)}"
    # Not vacuous: the collection reaches the lazily exported names and every package.
    names = {name for items in public_callables().values() for name, _ in items}
    assert {"modesim.iterate", "modesim.sweep", "modesim.train", "modesim.PowerCopyTeacher",
            "modesim.paths.LayeredDAG", "modesim.sampled.Adam"} <= names
    assert len(names) > 150


def test_the_exemptions_are_real_and_still_needed():
    """Each exempt name is a public callable taking arguments and without a Raises section."""
    found = {name: obj for items in public_callables().values() for name, obj in items}
    for name in sorted(NO_RAISES):
        assert name in found, f"{name} is exempt but not a public callable"
        obj = found[name]
        assert takes_arguments(obj), f"{name} takes no arguments: no exemption needed"
        assert not _RAISES.search(inspect.getdoc(obj) or ""), f"{name} has a Raises section now: drop it from the exemptions"


def test_the_theory_document_defines_the_skeleton():
    sections = theory_sections()
    assert {str(n) for n in range(1, 13)} <= sections
    assert {"2.1", "3.2", "5.1", "8.2", "10.3"} <= sections


def test_the_checker_catches_what_is_missing():
    """Negative controls: a docstring without a section, one citing a section the document
    lacks, and one without Raises are each reported; a complete one passes."""

    def bare(x):
        """Does something."""

    def unknown(x):
        """Does something (§99.1; no such section, and not a "theory" citation for test_docs).

        Raises
        ------
        ValueError
            Never.
        """

    def no_raises(x):
        """Does something (theory §3.2)."""

    def good(x):
        """Does something (theory §3.2, §12).

        Raises
        ------
        ValueError
            If ``x`` is bad.
        """

    def no_args():
        """Takes nothing (theory §1)."""

    sections = frozenset({"1", "3.2", "12"})
    assert docstring_problems("bare", bare, sections) == [
        "bare: no theory section (§N) cited",
        "bare: takes arguments but has no Raises section",
    ]
    assert docstring_problems("unknown", unknown, sections) == [
        "unknown: cites §99.1, which is not a heading of docs/theory.md"
    ]
    assert docstring_problems("no_raises", no_raises, sections) == [
        "no_raises: takes arguments but has no Raises section"
    ]
    assert docstring_problems("no_raises", no_raises, sections, exempt={"no_raises"}) == []
    assert docstring_problems("good", good, sections) == []
    assert docstring_problems("no_args", no_args, sections) == []
    # The heading parser reads "## §N Title" and "### §N.M Title", not deeper levels or prose.
    text = "## §3 Self\n### §3.2 Closed\n#### §3.2.1 Deep\nSee §4 here.\n"
    assert set(_HEADING.findall(text)) == {"3", "3.2"}
