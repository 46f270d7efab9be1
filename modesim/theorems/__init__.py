"""The theorem registry behind ``modesim verify``: statements R1–R4 (theory §2), S1–S8 and S4b (theory §3),
J1 J2, B1–B3, K1–K3 (theory §8, practice) and the remedies F1 M1 C1 W1 W2 L1 D1 H1 (theory §11).

Each :class:`Theorem` bundles a statement (one line and LaTeX), its assumptions, its
section of the theory document, a hypothesis strategy drawing :class:`Instance` objects
that satisfy the assumptions (built from :mod:`modesim.testing`) and a check.  A check
measures one or more **clauses**; each is reported as a *margin*, positive exactly when
the clause holds (an equality ``x = y`` as ``tolerance − |x − y|``, relative where
stated; a strict inequality ``a > b`` as a normalised ``a − b``).  A check takes an
injectable implementation (``impl=``), the rule or closed form under test: passing a
deliberately wrong one makes the check fail, which is how the tests show it has teeth.
A :class:`Control` drops one assumption (or swaps in the rule the theorem is *not*
about) and passes when :func:`verify` **finds** a counterexample.

>>> from modesim.theorems import REGISTRY, get, verify
>>> " ".join(t.id for t in REGISTRY[:4])
'R1 R2 R3 R4'
>>> verify(get("S4"), examples=20).ok
True

Layout
------
:mod:`~modesim.theorems.engine`
    :class:`Instance`, :class:`Outcome`, :class:`Theorem`, :class:`Control`,
    :class:`Report`, lookup (:func:`get`, :func:`get_control`, :func:`controls_for`) and
    the search :func:`verify`.  Knows no particular statement.
:mod:`~modesim.theorems.registry`
    The entries, as data: ``THEOREMS`` and ``CONTROLS``.
:mod:`~modesim.theorems.practice`, :mod:`~modesim.theorems.practice_checks`
    The theory §8 entries (JSD objective, bias-channelling teachers, critical KL
    strength) and their checks.
:mod:`~modesim.theorems.remedies`, :mod:`~modesim.theorems.remedies_checks`
    The theory §11 entries (remedies: forward KL, mixtures of teachers, contrastive
    teachers, balanced demonstrations, blends, diversity bonus) and their checks.
:mod:`~modesim.theorems.checks`
    One ``check_<id>(instance, impl, parts) -> {clause: margin}`` per statement, the
    measuring helpers and the default implementations.
:mod:`~modesim.theorems.formulas`
    Closed forms the statements use (:func:`f_alpha`, :func:`f_alpha_prime`,
    :func:`s8_eigenvalue`).

The command line (``modesim verify``) is in :mod:`modesim.cli`; nothing here parses
arguments.

How to add a theorem
--------------------
1. **Statement.**  Write it in ``docs/theory.md`` under its section, with the id the lead
   assigns (e.g. ``J1`` in §8.1).
2. **Closed form** (if it has one): a function in ``formulas.py``, validated with
   :mod:`modesim._checks`, with its sympy derivation in :mod:`modesim.symbolic` when one
   exists.
3. **Check**: ``check_<id>(inst, impl, parts)`` in ``checks.py``.  Read the instance
   (``inst.task``, ``inst["alpha"]``…), run ``impl`` (never the library directly for the
   quantity under test, so a broken ``impl`` is caught), compare with an *independent*
   computation, and return ``{clause: margin}`` for each clause in ``parts``.  Add the
   default ``impl`` next to the others and describe its signature in an ``*_IMPL`` string.
4. **Entry**: append a :class:`Theorem` to ``THEOREMS`` in ``registry.py`` (order =
   ``modesim verify`` order): ``id``, ``statement``, ``latex``, ``assumptions`` (what the
   strategy guarantees), ``section`` (``"§8.1"``), ``clauses`` (name → what is measured
   and its tolerance), ``strategy`` (``instances(tasks(...), alpha=alphas(), ...)``),
   ``default_impl``, ``impl_doc``, ``code`` (a few lines of public API shown in a
   counterexample's snippet) and ``_check``.  A topic with many statements may get its
   own data module with ``THEOREMS``/``CONTROLS`` tuples, listed in ``_DATA_MODULES`` below.
5. **Controls**: for each assumption that matters, a :class:`Control` in ``CONTROLS``
   whose strategy drops it and whose ``parts`` are the clauses that then fail.
6. **Tests** (``tests/theorems/``): add a deliberately broken implementation to
   ``BROKEN`` in ``test_theorems_registry.py``; the parametrised tests then check that the
   theorem survives the search, that its check fails on the broken implementation, and
   that every control finds its counterexample.  Run
   ``modesim verify --theorem <id> --controls`` to see it from the command line.
"""

from __future__ import annotations

import importlib

from . import engine as _engine
from .engine import (
    Control,
    Instance,
    Outcome,
    Report,
    Theorem,
    controls_for,
    get,
    get_control,
    instances,
    verify,
)
from .formulas import f_alpha, f_alpha_prime, s8_eigenvalue

__all__ = [
    "Instance",
    "Outcome",
    "Theorem",
    "Control",
    "Report",
    "REGISTRY",
    "CONTROLS",
    "get",
    "get_control",
    "controls_for",
    "verify",
    "instances",
    "f_alpha",
    "f_alpha_prime",
    "s8_eigenvalue",
]

#: Data modules holding ``THEOREMS`` and ``CONTROLS`` tuples, registered in this order
#: (``practice``: theory §8, checks in :mod:`modesim.theorems.practice_checks`; ``remedies``:
#: theory §11, checks in :mod:`modesim.theorems.remedies_checks`).
_DATA_MODULES = ("registry", "practice", "remedies")


def _load() -> tuple[tuple[Theorem, ...], tuple[Control, ...]]:
    theorems: list[Theorem] = []
    controls: list[Control] = []
    for name in _DATA_MODULES:
        module = importlib.import_module(f"{__name__}.{name}")
        theorems += module.THEOREMS
        controls += module.CONTROLS
    _engine._THEOREMS.clear()
    _engine._CONTROLS.clear()
    _engine._register(theorems, controls)
    return tuple(theorems), tuple(controls)


#: ``REGISTRY``: every registered theorem, in ``modesim verify`` order;
#: ``CONTROLS``: every registered negative control.
REGISTRY, CONTROLS = _load()
