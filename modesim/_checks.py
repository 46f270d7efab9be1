"""Every input check of modesim, in one place (theory §1: what a valid input is).

Public functions of modesim validate their arguments here, once, when a task, rule or
teacher is built or when a function is called by a user; rules do not re-validate inside
their rounds.  Every failure is a :class:`ValueError` whose message names the argument,
shows the value (or the offending entry of an array) and says what is allowed.

Real-valued parameters may be arrays (parameter grids, theory §1 batch convention):
:func:`real` returns a Python ``float`` for a scalar, which keeps a small round cheap,
and a read-only float64 array otherwise; an error names the first offending grid entry.
"""

from __future__ import annotations

import numbers
import operator
import sys

import numpy as np

__all__ = [
    "describe",
    "bad_index",
    "at_index",
    "real",
    "numeric_array",
    "integer",
    "choice",
    "boolean",
    "seed",
    "generator",
    "probabilities",
    "log_probabilities",
    "mask",
    "ks",
    "batch_axes",
    "batch_index",
    "param_shape",
    "broadcast_batch",
    "col",
    "task",
    "one_of_types",
    "text_stream",
]

#: Tolerance on ``|sum(p) − 1|`` accepted before renormalising (probabilities and logs).
SUM_TOLERANCE = 1e-6


def describe(value) -> str:
    """A short description of ``value`` for an error message (the value, or its shape)."""
    try:
        return _describe(value)
    except ValueError:      # an integer beyond Python's limit for str() (10**5000)
        return f"an integer of more than {sys.get_int_max_str_digits()} digits" if isinstance(value, int) \
            else f"a {type(value).__name__} holding an integer of more than {sys.get_int_max_str_digits()} digits"


def _describe(value) -> str:
    if isinstance(value, (str, bytes)) or value is None or isinstance(value, bool):
        return repr(value)
    if isinstance(value, int) and abs(value) >= 10**30:     # not 401 digits in a message
        digits = str(value)
        return f"{digits[:12]}… (an integer of {len(digits.lstrip('-'))} digits)"
    try:
        arr = np.asarray(value)
    except (ValueError, TypeError):
        return f"{type(value).__name__} {value!r}"[:120]
    if arr.dtype == object:
        return repr(arr.tolist())[:120] if arr.size <= 8 else f"an array of shape {arr.shape}"
    if arr.size <= 8:
        return repr(arr.tolist()) if arr.ndim else repr(arr.item())
    return f"an array of shape {arr.shape}"


def batch_index(index, batch_shape: tuple[int, ...], name: str = "index") -> tuple:
    """An index of a task's batch axes (integers, slices, integer arrays or a boolean mask of
    leading batch axes) as a tuple for numpy; the mode axis is never indexed.

    Refused, naming the index and the batch shape: an unbatched task, more entries than
    batch axes, Ellipsis or None (they would move the mode axis), floats, strings, an
    integer out of range, a boolean mask of the wrong shape, or a result with no row.
    """
    entries = index if isinstance(index, tuple) else (index,)
    where = f"a task with batch_shape {batch_shape}"
    shown = describe(index) if not isinstance(index, tuple) else f"({', '.join(map(describe, index))})"
    if not batch_shape:
        raise ValueError(f"{where} has no rows to index; got {name} {shown}")
    out, axis = [], 0
    for e in entries:
        if axis >= len(batch_shape):
            raise ValueError(f"{name} {shown} has more entries than the {len(batch_shape)} batch "
                             f"axes of {where} (the mode axis is not indexed)")
        if e is Ellipsis or e is None:
            raise ValueError(f"{name} of {where} may hold integers, slices, integer arrays or a "
                             f"boolean mask of batch axes, not {e!r}")
        if isinstance(e, slice):
            try:        # bounds and step: integers (or None), a step not zero
                e.indices(batch_shape[axis])
            except (TypeError, ValueError):
                raise ValueError(f"a slice in {name} of {where} needs integer (or None) bounds and a "
                                 f"non-zero step; got {e!r}") from None
            out.append(e)
            axis += 1
            continue
        if isinstance(e, (str, bytes)) or isinstance(e, (bool, np.bool_)):
            raise ValueError(f"{name} of {where} must select batch rows by integers, slices, integer "
                             f"arrays or a boolean mask; got {describe(e)}")
        try:
            arr = np.asarray(e)
        except (TypeError, ValueError):
            arr = np.asarray(None, dtype=object)
        if arr.dtype == object and arr.size and all(type(v) is int for v in arr.flat):
            # Python integers beyond int64 (numpy keeps them as objects): out of range
            raise ValueError(f"{name} {describe(e)} is out of range for batch axis {axis} of length "
                             f"{batch_shape[axis]} of {where}")
        if arr.size == 0 and arr.dtype.kind == "f" and not isinstance(e, np.ndarray):
            arr = arr.astype(np.intp)       # [] (a list, read as float64): no index at all
        if arr.dtype == bool:
            span = batch_shape[axis:axis + arr.ndim]
            if arr.ndim == 0 or arr.shape != span:
                raise ValueError(f"a boolean mask in {name} must have the shape of the batch axes it "
                                 f"covers, {span}, of {where}; got shape {arr.shape}")
            out.append(arr)
            axis += arr.ndim
            continue
        if arr.dtype.kind not in "iu":
            raise ValueError(f"{name} of {where} must select batch rows by integers, slices, integer "
                             f"arrays or a boolean mask; got {describe(e)}")
        n = batch_shape[axis]
        if arr.size and (arr.min() < -n or arr.max() >= n):
            raise ValueError(f"{name} {describe(e)} is out of range for batch axis {axis} of length {n} "
                             f"of {where}")
        out.append(arr if arr.ndim else int(arr))
        axis += 1
    arrays = [np.shape(e) if e.dtype != bool else (int(np.count_nonzero(e)),)
              for e in out if isinstance(e, np.ndarray)]
    try:        # integer arrays (and masks) of several axes select their entries together
        np.broadcast_shapes(*arrays)
    except ValueError:
        raise ValueError(f"the arrays in {name} {shown} of {where} must broadcast together (they pick "
                         f"entries together); got shapes {', '.join(map(str, arrays))}") from None
    return tuple(out)


def at_index(flags: np.ndarray) -> str:
    """``" at batch index (0, 2), (3, 1) and 4 more"``, or ``""`` for an unbatched input."""
    flags = np.asarray(flags)
    return "" if flags.ndim == 0 else f" at batch index {bad_index(flags)}"


def bad_index(flags: np.ndarray) -> str:
    """``"(0, 2), (3, 1) and 4 more"``: the batch indices where ``flags`` is True."""
    flags = np.asarray(flags)
    if flags.ndim == 0:
        return "()"
    idx = np.argwhere(flags)
    shown = ", ".join(str(tuple(int(i) for i in row)) for row in idx[:5])
    more = "" if len(idx) <= 5 else f" and {len(idx) - 5} more"
    return shown + more


def _numeric(value, name: str, what: str) -> np.ndarray:
    """``value`` as a float64 array, refusing strings, None, ragged input and complex numbers
    (numpy would drop the imaginary part with only a ComplexWarning)."""
    if isinstance(value, (str, bytes)) or value is None:
        raise ValueError(f"{name} must be {what}; got {value!r}")
    try:
        raw = np.asarray(value)
        if raw.dtype.kind == "c":
            raise ValueError(f"{name} must be real, not complex; got {describe(value)}")
        return np.asarray(raw, dtype=np.float64)
    except OverflowError:       # a Python integer beyond float64 (10**400)
        raise ValueError(f"{name} must be {what} within float64's range (magnitude below "
                         f"1.8e308); got {describe(value)}") from None
    except (TypeError, ValueError) as exc:
        if "not complex" in str(exc):
            raise
        raise ValueError(f"{name} must be {what}; got {describe(value)}") from None


def _as_float_array(value, name: str) -> np.ndarray:
    arr = _numeric(value, name, "a real number (or an array of them)")
    if np.asarray(value).dtype == bool:
        raise ValueError(f"{name} must be a real number, not a boolean; got {describe(value)}")
    if arr.ndim and arr.size == 0:
        raise ValueError(f"{name} must be a real number or a non-empty array of them; got an empty array of shape {arr.shape}")
    return arr


def _interval(low, high, low_open, high_open) -> str:
    if low is None and high is None:
        return "a finite real number"
    if high is None:
        return f"a finite number {'>' if low_open else '>='} {low:g}"
    if low is None:
        return f"a finite number {'<' if high_open else '<='} {high:g}"
    return f"in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"


def real(
    value,
    name: str,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
    allow_array: bool = True,
    allow_inf: bool = False,
):
    """A real parameter in an interval: ``float`` for a scalar, read-only float64 array otherwise.

    Raises
    ------
    ValueError
        Naming ``name``, the offending value (and grid index) and the allowed interval.
    """
    arr = _as_float_array(value, name)
    if arr.ndim and not allow_array:
        raise ValueError(f"{name} must be a single real number; got {describe(value)}")
    ok = ~np.isnan(arr) if allow_inf else np.isfinite(arr)
    if low is not None:
        ok &= (arr > low) if low_open else (arr >= low)
    if high is not None:
        ok &= (arr < high) if high_open else (arr <= high)
    if not np.all(ok):
        allowed = _interval(low, high, low_open, high_open)
        if allow_inf:
            allowed = allowed.replace("a finite", "a")
        if arr.ndim:
            i = tuple(int(j) for j in np.argwhere(~ok)[0])
            raise ValueError(f"{name} must be {allowed}; got {float(arr[i])!r} at index {i} of {name}")
        raise ValueError(f"{name} must be {allowed}; got {describe(value)}")
    if arr.ndim == 0:
        return float(arr)
    arr = np.array(arr, dtype=np.float64, copy=True)
    arr.flags.writeable = False
    return arr


def integer(value, name: str, *, low: int | None = None, high: int | None = None) -> int:
    """A Python ``int`` (not a bool, not a float such as 1.5) in ``[low, high]``, and within
    int64 (a count, a size or an index; numpy cannot hold a larger one)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Integral, np.integer)):
        raise ValueError(f"{name} must be an integer; got {describe(value)}")
    v = operator.index(value)
    if not -(2**63) <= v < 2**63:
        raise ValueError(f"{name} must be an integer of magnitude below 2**63; got {describe(v)}")
    if (low is not None and v < low) or (high is not None and v > high):
        if high is None:
            raise ValueError(f"{name} must be an integer >= {low}; got {v}")
        if low is None:
            raise ValueError(f"{name} must be an integer <= {high}; got {v}")
        raise ValueError(f"{name} must be an integer in [{low}, {high}]; got {v}")
    return int(v)


def choice(value, name: str, allowed: tuple):
    """``value`` if it is one of ``allowed`` (compared with ``==`` on hashable values)."""
    try:
        ok = value in allowed
    except TypeError:
        ok = False
    if isinstance(value, np.ndarray) or not ok:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, allowed))}; got {describe(value)}")
    return value


def boolean(value, name: str) -> bool:
    """``True`` or ``False`` (numpy booleans accepted)."""
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be True or False; got {describe(value)}")
    return bool(value)


def seed(value, name: str = "seed"):
    """``None``, a non-negative ``int`` or a :class:`numpy.random.Generator`."""
    if value is None or isinstance(value, np.random.Generator):
        return value
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Integral, np.integer)) or value < 0:
        raise ValueError(
            f"{name} must be None, a non-negative integer or a numpy.random.Generator; "
            f"got {describe(value)}"
        )
    return int(value)


def generator(value, name: str = "rng") -> np.random.Generator:
    """A :class:`numpy.random.Generator` (an int seed is turned into one)."""
    if isinstance(value, np.random.Generator):
        return value
    if value is None:
        raise ValueError(f"{name} must be a numpy.random.Generator or a non-negative integer seed; got None")
    return np.random.default_rng(seed(value, name))


def numeric_array(value, name: str, what: str) -> np.ndarray:
    """``value`` as a float64 array (any shape), or a ValueError naming ``name`` and saying it
    must be ``what``: strings, None, ragged and complex input are refused."""
    return _numeric(value, name, f"{what} (a rectangular array of numbers)")


def probabilities(p, name: str = "policy", *, n_modes: int | None = None) -> np.ndarray:
    """Probabilities of shape ``(..., K)``: finite, ≥ 0, rows summing to 1 within 1e-6.

    Rows within the tolerance are renormalised exactly.  ``n_modes`` fixes K.
    """
    arr = numeric_array(p, name, "an array of probabilities of shape (..., K)")
    if np.asarray(p).dtype == bool:  # converts: _array succeeded
        raise ValueError(f"{name} must hold probabilities, not booleans (a mask?); got {describe(p)}")
    if arr.ndim == 0 or arr.shape[-1] == 0:
        raise ValueError(f"{name} must be an array of shape (..., K) with K >= 1 modes; got {describe(p)}")
    if n_modes is not None and arr.shape[-1] != n_modes:
        raise ValueError(f"{name} must have K = {n_modes} modes on its last axis; got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite; got {describe(p)}")
    if np.any(arr < 0):
        raise ValueError(f"{name} must be non-negative; got {describe(p)}")
    with np.errstate(over="ignore"):       # huge entries: a sum of inf, refused below
        total = arr.sum(axis=-1, keepdims=True)
    off = np.abs(total - 1.0) > SUM_TOLERANCE
    if np.any(off):
        where = at_index(off[..., 0])
        raise ValueError(
            f"{name} must sum to 1 along the last axis (within {SUM_TOLERANCE:g}); "
            f"sums are {describe(total[..., 0])}{where}"
        )
    return arr / total


def log_probabilities(lp, name: str = "log_policy", *, n_modes: int | None = None) -> np.ndarray:
    """Log-probabilities of shape ``(..., K)``: no NaN or +inf, rows normalising within 1e-6.

    Rows are renormalised in log space (and clamped at 0), so a row normalised only to
    round-off comes back exactly normalised.
    """
    from .simplex import log_normalise, logsumexp_last

    arr = numeric_array(lp, name, "an array of log-probabilities of shape (..., K)")
    if arr.ndim == 0 or arr.shape[-1] == 0:
        raise ValueError(f"{name} must be an array of shape (..., K) with K >= 1 modes; got {describe(lp)}")
    if n_modes is not None and arr.shape[-1] != n_modes:
        raise ValueError(f"{name} must have K = {n_modes} modes on its last axis; got shape {arr.shape}")
    if np.any(np.isnan(arr)) or np.any(np.isposinf(arr)):
        raise ValueError(f"{name} must not contain NaN or +inf; got {describe(lp)}")
    lse = logsumexp_last(arr)
    dead = np.isneginf(lse)
    if np.any(dead):
        raise ValueError(f"{name} has a row with no positive probability{at_index(dead)}")
    off = np.abs(np.expm1(lse)) > SUM_TOLERANCE
    if np.any(off):
        raise ValueError(
            f"{name} must be normalised (probabilities summing to 1 within {SUM_TOLERANCE:g}); "
            f"they sum to {describe(np.exp(lse))}{at_index(off)}"
        )
    return log_normalise(arr)


def mask(value, shape: tuple[int, ...], name: str = "valid", *, nonempty: bool = True) -> np.ndarray:
    """A boolean mode mask (booleans or 0/1) broadcast to ``shape``.

    With ``nonempty`` each row (last axis) must mark at least one mode.
    """
    if isinstance(value, (str, bytes)) or value is None:
        raise ValueError(f"{name} must be a boolean mask (or 0/1); got {value!r}")
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a rectangular boolean mask (or 0/1); got {describe(value)}") from None
    if arr.dtype != bool:
        if not np.issubdtype(arr.dtype, np.number) or not np.all(np.isin(arr, (0, 1))):
            raise ValueError(f"{name} must be a boolean mask (or 0/1); got {describe(value)}")
        arr = arr.astype(bool)
    if arr.ndim and shape and arr.shape[-1] != shape[-1]:
        # A mask of one entry would broadcast over every mode: refused, not read as "all".
        raise ValueError(f"{name} of shape {arr.shape} does not fit the policy shape {shape}: it needs "
                         f"{shape[-1]} entries on its last axis")
    try:
        arr = np.broadcast_to(arr, shape)
    except ValueError:
        raise ValueError(f"{name} of shape {arr.shape} does not broadcast to the policy shape {shape}") from None
    if nonempty:
        empty = ~arr.any(axis=-1)
        if np.any(empty):
            raise ValueError(
                f"{name} must mark at least one mode as valid in every row; "
                f"empty rows{at_index(empty)}"
            )
    return arr


def ks(value, name: str = "k") -> np.ndarray:
    """Positive finite integers (any shape), as float64 (pass@k and distinct@k)."""
    if isinstance(value, (str, bytes, bool)) or value is None:
        raise ValueError(f"{name} must hold positive integers; got {value!r}")
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must hold positive integers; got {describe(value)}") from None
    if arr.dtype == object and all(isinstance(x, int) and not isinstance(x, bool) and x >= 1 for x in arr.ravel()):
        raise ValueError(f"{name} must hold positive integers below 2**63; got {describe(value)}")
    if (
        arr.size == 0
        or arr.dtype == bool
        or not np.issubdtype(arr.dtype, np.number)
        or np.iscomplexobj(arr)
        or not np.all(np.isfinite(arr))
        or np.any(arr < 1)
        or np.any(arr != np.floor(arr))
    ):
        raise ValueError(f"{name} must hold finite positive integers; got {describe(value)}")
    return arr.astype(np.float64)


def batch_axes(axis, n_batch: int, name: str = "axis") -> tuple[int, ...]:
    """Normalise ``axis`` (an int or tuple of ints) to non-negative batch-axis indices."""
    axes = (axis,) if not isinstance(axis, (tuple, list)) else tuple(axis)
    good = all(
        isinstance(a, (int, np.integer)) and not isinstance(a, (bool, np.bool_)) and -n_batch <= a < n_batch
        for a in axes
    )
    if not axes or not good:
        raise ValueError(
            f"{name} must name batch axes of the policy (integers between {-n_batch} and "
            f"{n_batch - 1}; the policy has {n_batch} batch axes); got {describe(axis)}"
        )
    return tuple(int(a) % n_batch for a in axes)


def param_shape(*values, **named) -> tuple[int, ...]:
    """Broadcast shape of array-valued parameters (``()`` when all are scalars).

    Pass parameters by name (``param_shape(alpha=a, beta=b)``) for an error that names them.

    Raises
    ------
    ValueError
        If the arrays do not broadcast together (theory §1: give each grid axis its own
        position, e.g. ``alpha[:, None]`` and ``beta[None, :]``).
    """
    items = [(None, v) for v in values] + list(named.items())
    arrays = [(n, np.shape(v)) for n, v in items if isinstance(v, np.ndarray)]
    try:
        return np.broadcast_shapes(*(s for _, s in arrays)) if arrays else ()
    except ValueError:
        listed = ", ".join(f"{n} {s}" if n else str(s) for n, s in arrays)
        raise ValueError(
            f"array-valued parameters of shapes {listed} do not broadcast together; give each grid "
            "axis its own position, e.g. alpha[:, None] and beta[None, :] (theory §1)"
        ) from None


def broadcast_batch(task_shape: tuple[int, ...], params: tuple[int, ...], owner: str) -> tuple[int, ...]:
    """The batch shape of a run: the task's batch shape broadcast with the parameters'."""
    try:
        return np.broadcast_shapes(task_shape, params)
    except ValueError:
        raise ValueError(
            f"the parameters of {owner} have batch shape {params}, which does not broadcast "
            f"against the task's batch shape {task_shape} (theory §1: parameter arrays broadcast "
            "against the task's leading axes)"
        ) from None


def col(value):
    """A parameter ready to broadcast against a ``(..., K)`` array: ``p`` or ``p[..., None]``."""
    return value[..., None] if isinstance(value, np.ndarray) else value


def task(value, name: str = "task"):
    """A :class:`modesim.Task` (categorical policies over modes)."""
    from .task import Task

    if not isinstance(value, Task):
        hint = " (the rule comes first)" if callable(getattr(value, "step", None)) else ""
        if isinstance(getattr(value, "task", None), Task):
            hint = " (it holds one: pass its .task)"
        if hasattr(value, "graph"):
            hint = (" (a path task: use the rules of modesim.paths, e.g. PathNaturalPG, "
                    "PathSelfDistillation, PathSampledRL)")
        raise ValueError(f"{name} must be a modesim.Task (see make_task); got {describe(value)}{hint}")
    return value


def implements(value, name: str, methods, what: str):
    """``value`` if it is an object (not a class) with every method in ``methods``.

    The protocols (teachers, demonstration sources, rules, generators) are duck-typed; a class
    passed where an instance is meant has the methods too, and used to fail deep inside with a
    TypeError or AttributeError.

    Raises
    ------
    ValueError
        Naming ``name``: ``value`` is a class (write ``Class(...)``), or lacks a method.
    """
    if isinstance(value, type):
        raise ValueError(f"{name} must be {what}; got the class {value.__name__} itself, not an instance "
                         f"(write {value.__name__}(...) with its parameters)")
    for method in methods:
        if not callable(getattr(value, method, None)):
            raise ValueError(f"{name} must be {what}; got {describe(value)}, which has no {method}()")
    return value


def one_of_types(value, name: str, types: tuple, what: str):
    """``value`` if it is an instance of ``types``; ``what`` says what is allowed."""
    if not isinstance(value, types):
        raise ValueError(f"{name} must be {what}; got {describe(value)}")
    return value


def text_stream(value, name: str = "file"):
    """An object to print to (with a callable ``write``), or None for standard output."""
    import io

    if value is not None and (not callable(getattr(value, "write", None)) or isinstance(value, type)
                              or isinstance(value, (io.RawIOBase, io.BufferedIOBase))):   # a class; bytes
        raise ValueError(f"{name} must be a text stream with a write method (or None for standard output); "
                         f"got {describe(value)}")
    return value
