"""Every docstring example in modesim/ runs when pasted into a fresh Python session.

pytest's ``--doctest-modules`` runs an example inside its module's namespace, so an
example could use ``iterate`` or ``np`` without importing them and still pass.  The root
``conftest.py`` therefore gives each collected doctest empty globals.  This file checks

(a) that the hook is active: doctests collected by pytest with this project's
    configuration start from globals holding ``__name__`` only;
(b) the rule itself, without pytest's collector: :class:`doctest.DocTestFinder` over every
    module of ``modesim`` that pytest collects (``conftest.collect_ignore`` and the
    ``__main__`` modules left out, as pytest leaves them out), each example run with
    ``globs={}`` under pytest's default doctest flags (``ELLIPSIS``: pyproject.toml sets no
    ``doctest_optionflags``); ``+SKIP`` examples are honoured by the runner;
(c) a negative control: an example using a name it never imports fails under that runner.
"""

from __future__ import annotations

import doctest
import importlib
import importlib.util
import pkgutil
from pathlib import Path

import pytest

import modesim

ROOT = Path(__file__).resolve().parents[1]

#: pytest's default ``doctest_optionflags`` (pyproject.toml sets none).
OPTIONFLAGS = doctest.ELLIPSIS


def _collect_ignore() -> list[str]:
    spec = importlib.util.spec_from_file_location("_modesim_root_conftest", ROOT / "conftest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return list(module.collect_ignore)


def _ignored_modules() -> tuple[str, ...]:
    """``collect_ignore`` paths ("modesim/envs", "modesim/stochastic.py") as module names."""
    names = []
    for path in _collect_ignore():
        name = path.removesuffix(".py").replace("/", ".")
        names.append(name)
    return tuple(names)


def _modules() -> list[str]:
    ignored = _ignored_modules()
    assert "modesim.envs" in ignored and "modesim.stochastic" in ignored
    names = ["modesim"]
    for info in pkgutil.walk_packages(modesim.__path__, "modesim."):
        name = info.name
        if name.rsplit(".", 1)[-1] == "__main__":  # pytest never collects __main__.py
            continue
        if any(name == i or name.startswith(i + ".") for i in ignored):
            continue
        names.append(name)
    return names


def _run(test: doctest.DocTest) -> tuple[doctest.TestResults, str]:
    runner = doctest.DocTestRunner(optionflags=OPTIONFLAGS)
    out: list[str] = []
    result = runner.run(test, out=out.append)
    return result, "".join(out)


def test_examples_run_with_empty_globals():
    finder = doctest.DocTestFinder()
    n_tests = n_examples = 0
    failures = []
    for name in _modules():
        module = importlib.import_module(name)
        for test in finder.find(module, name, globs={}):
            if not test.examples:
                continue
            n_tests += 1
            n_examples += len(test.examples)
            result, report = _run(test)
            if result.failed:
                failures.append(report)
    assert n_tests > 100 and n_examples > 300, (n_tests, n_examples)  # the walk found them
    assert not failures, "\n".join(failures)


def test_an_example_with_an_unimported_name_fails():
    # ``make_task`` lives in modesim's namespace but is never imported by the example.
    source = '''
    >>> import modesim as ms
    >>> ms.make_task([0.5, 0.5]).n_modes
    2
    >>> make_task([0.5, 0.5]).n_modes
    2
    '''
    parser = doctest.DocTestParser()
    test = parser.get_doctest(source, {}, "control", None, 0)
    result, report = _run(test)
    assert result == (1, 3)
    assert "NameError: name 'make_task' is not defined" in report
    # ... and the same example passes in modesim's namespace, as it did under pytest before.
    test = parser.get_doctest(source, dict(vars(modesim)), "control", None, 0)
    assert _run(test)[0] == (0, 3)


class _Collected:
    """A pytest plugin recording each doctest's globals right after collection."""

    def __init__(self):
        self.globs: dict[str, set[str]] = {}

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, items):
        for item in items:
            if isinstance(item, pytest.DoctestItem):
                self.globs[item.name] = set(item.dtest.globs)


def test_pytest_collects_doctests_with_empty_globals():
    plugin = _Collected()
    code = pytest.main(
        ["--collect-only", "-q", "-p", "no:cacheprovider", "--rootdir", str(ROOT),
         str(ROOT / "modesim" / "task.py")],
        plugins=[plugin],
    )
    assert code == pytest.ExitCode.OK
    assert "modesim.task.make_task" in plugin.globs  # module globals would hold make_task, np, ...
    assert all(g == {"__name__"} for g in plugin.globs.values()), plugin.globs
