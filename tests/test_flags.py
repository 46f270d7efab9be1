"""Every boolean switch of the public API is checked: ``'yes'`` is a named error, never read
as True (issue 9, kind "bad input accepted"; a reviewer found ``sd_optimum(log='yes')``,
``verdict_table(markdown='x')`` and ``progress='yes'`` accepted).

A static scan finds every public callable with a parameter whose default is a bool (or a
``progress`` switch) and asserts the parameter reaches ``chk.boolean``/``progress_bar`` or is
forwarded by name to a callee that checks it; a dynamic test calls a sample of them.
"""

import importlib
import inspect
import textwrap

import pytest

import modesim as ms

PACKAGES = ["modesim", "modesim.paths", "modesim.sampled", "modesim.remedies", "modesim.sweeps",
            "modesim.figures", "modesim.scenarios", "modesim.theorems", "modesim.plot"]

#: Kernels that run inside rounds on arrays the library built (their callers check the switch).
KERNELS = {("backward", "policy"), ("bank_log_success", "failure")}


def _public():
    seen = set()
    for name in PACKAGES:
        mod = importlib.import_module(name)
        for attr in getattr(mod, "__all__", []):
            obj = getattr(mod, attr)
            if id(obj) in seen or not callable(obj):
                continue
            seen.add(id(obj))
            if inspect.isclass(obj):
                init = getattr(obj, "__post_init__", None) or getattr(obj, "__init__", None)
                yield attr, obj, [init] if init else []
                for meth_name, meth in vars(obj).items():
                    if not meth_name.startswith("_") and inspect.isfunction(meth):
                        yield f"{attr}.{meth_name}", meth, [meth]
            else:
                yield attr, obj, [obj]


def _switches(obj):
    try:
        params = inspect.signature(obj).parameters.values()
    except (TypeError, ValueError):
        return []
    return [p.name for p in params if isinstance(p.default, bool) or p.name == "progress"]


def _checked(name, sources):
    for src in sources:
        for pattern in (f"boolean({name},", f"boolean(self.{name},", f"progress_bar({name},", f"resolve({name},",
                        f"progress_bar(self.{name},", f"{name}={name}", f"{name}=self.{name}",
                        f"callable({name})"):
            if pattern in src:
                return True
    return False


def _sources(obj, bodies):
    out = []
    for fn in bodies:
        try:
            out.append(textwrap.dedent(inspect.getsource(fn)))
        except (OSError, TypeError):
            pass
    if inspect.isclass(obj):  # dataclass fields are checked in __post_init__ (maybe a base's)
        for base in obj.__mro__:
            for meth in ("__post_init__", "_check_own", "_check_common", "_check_shell"):
                if meth in vars(base):
                    out.append(textwrap.dedent(inspect.getsource(vars(base)[meth])))
    return out


def test_every_boolean_switch_is_checked():
    unchecked = []
    for label, obj, bodies in _public():
        for name in _switches(obj):
            if (label.split(".")[-1], name) in KERNELS:
                continue
            if not _checked(name, _sources(obj, bodies)):
                unchecked.append(f"{label}({name}=...)")
    assert not unchecked, f"switches accepting anything truthy: {unchecked}"


def test_the_scan_catches_an_unchecked_switch():
    """Negative control: a function that reads its switch unchecked is reported."""

    def leaky(x, *, log: bool = False):
        return -x if log else x

    assert _switches(leaky) == ["log"]
    assert not _checked("log", _sources(leaky, [leaky]))


@pytest.mark.parametrize("call, name", [
    (lambda: ms.sd_optimum(ms.make_task([0.6, 0.4]), log="yes"), "log"),
    (lambda: ms.kl_regularised_optimum(ms.make_task([0.6, 0.4]), 1.0, log="yes"), "log"),
    (lambda: ms.iterate(ms.NaturalPG(), ms.make_task([0.6, 0.4]), 2, progress="yes"), "progress"),
    (lambda: ms.flow(ms.NaturalPG(), ms.make_task([0.6, 0.4]), [0.0, 1.0], record_policy=1), "record_policy"),
    (lambda: importlib.import_module("modesim.remedies").verdict_table(markdown="x"), "markdown"),
])
def test_truthy_strings_are_refused(call, name):
    with pytest.raises(ValueError, match=f"{name} must be True"):
        call()
