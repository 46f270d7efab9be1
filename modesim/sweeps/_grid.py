"""Parameter grids: named axes, which of them are batched, and how the grid is cut into chunks.

theory §1 (parameter grids): a real-valued parameter given as an array joins the batch, so
the real-valued axes of a grid are leading batch axes of one call; integer and categorical
settings stay scalars and are run as separate groups.  A *chunk* is a block of the grid
run by one call; chunks are what the engine schedules, stores and resumes.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from .. import _checks as chk

__all__ = ["Axis", "Layout", "make_axes", "make_layout"]

#: Elements of a chunk's state (points × seeds × prompts × K) aimed at by automatic chunking.
STATE_TARGET = 1 << 21
#: Recorded values per chunk (points × seeds × prompts × rounds × values per round) aimed at.
RECORD_TARGET = 1 << 24


@dataclass(frozen=True, eq=False)
class Axis:
    """One named axis of a grid.

    Attributes
    ----------
    name : str
        The grid entry: a keyword of the rule factory, or a dotted field path of the rule.
    values : tuple
        What the rule receives at each index (floats for a batched axis).
    coord : ndarray, shape (n,)
        The coordinate labels stored with the results (the values themselves, or labels
        for objects such as teachers).
    batched : bool
        True for a real-valued axis passed to the rule as an array (one batched call);
        False for an axis whose values are run one at a time (separate groups).
    """

    name: str
    values: tuple
    coord: np.ndarray
    batched: bool

    def __len__(self) -> int:
        return len(self.values)

    def __reduce__(self):
        return (Axis, (self.name, self.values, self.coord, self.batched))


def _is_real(v) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, (bool, np.bool_))


def _is_int(v) -> bool:
    return isinstance(v, (numbers.Integral, np.integer)) and not isinstance(v, (bool, np.bool_))


def _label(v) -> str:
    text = repr(v)
    return text if " at 0x" not in text else type(v).__name__


def _axis(name: str, entry, scalar: bool) -> Axis:
    where = f"grid[{name!r}]"
    if isinstance(entry, Mapping):
        if not entry:
            raise ValueError(f"{where} must hold at least one value; got an empty mapping")
        labels = list(entry.keys())
        if not all(isinstance(k, str) for k in labels):
            raise ValueError(f"{where}: the keys of a mapping of values are its labels and must be strings; got {chk.describe(labels)}")
        values = list(entry.values())
    else:
        if isinstance(entry, (str, bytes)) or not isinstance(entry, (Sequence, np.ndarray, range)):
            raise ValueError(
                f"{where} must be a sequence (list, tuple, 1-D array) or a mapping of labels to values; "
                f"got {chk.describe(entry)} (wrap a single value in a list)"
            )
        if isinstance(entry, np.ndarray) and entry.ndim != 1:
            raise ValueError(f"{where} must be one-dimensional; got an array of shape {entry.shape}")
        values = [v.item() if isinstance(v, np.generic) else v for v in entry]
        if not values:
            raise ValueError(f"{where} must hold at least one value; got an empty sequence")
        labels = None
    values = [v.item() if isinstance(v, np.generic) else v for v in values]
    if all(_is_real(v) for v in values) and not all(_is_int(v) for v in values):
        arr = np.asarray(values, dtype=np.float64)
        if np.any(np.isnan(arr)):
            i = int(np.argmax(np.isnan(arr)))
            raise ValueError(f"{where} must not contain NaN; got nan at index {i}")
        values = tuple(float(v) for v in arr)
        coord = arr if labels is None else np.asarray(labels, dtype=object)
        batched = not scalar
    else:
        values = tuple(values)
        batched = False
        if labels is not None:
            coord = np.asarray(labels, dtype=object)
        elif all(isinstance(v, (bool, np.bool_)) for v in values):
            coord = np.asarray(values, dtype=bool)
        elif all(_is_int(v) for v in values):
            coord = np.asarray(values, dtype=np.int64)
        elif all(isinstance(v, str) for v in values):
            coord = np.asarray(values, dtype=object)
        else:
            coord = np.asarray([_label(v) for v in values], dtype=object)
    seen: dict = {}
    for i, c in enumerate(coord.tolist()):
        if c in seen:
            hint = " (give a mapping of distinct labels to values)" if coord.dtype == object else ""
            raise ValueError(f"{where} holds {c!r} twice (indices {seen[c]} and {i}); coordinates must be distinct{hint}")
        seen[c] = i
    coord = np.array(coord)
    coord.flags.writeable = False
    return Axis(name, values, coord, batched)


def make_axes(grid, *, scalar=(), reserved=(), sampled: bool = False) -> tuple[Axis, ...]:
    """The axes of ``grid`` (a mapping of names to values), in the grid's order.

    Real numbers (not all integers) make a batched axis unless the name is in ``scalar``
    or the rule is sampled (a sampled rule runs one grid point per call, theory §1);
    integers, booleans, strings and objects make an axis run one value at a time.

    Raises
    ------
    ValueError
        Naming the grid entry: not a sequence, empty, NaN, duplicated values, a name that
        clashes with a dimension of the results (``reserved``), or a ``scalar`` name that is
        not in the grid.
    """
    if grid is None:
        grid = {}
    if not isinstance(grid, Mapping):
        raise ValueError(f"grid must be a mapping of names to sequences of values, e.g. {{'beta': [0.0, 0.5]}}; got {chk.describe(grid)}")
    if isinstance(scalar, str):
        scalar = (scalar,)
    scalar = tuple(scalar)
    for name in scalar:
        if name not in grid:
            raise ValueError(f"scalar names {name!r}, which is not a grid entry; grid entries: {sorted(map(str, grid))}")
    axes = []
    for name, entry in grid.items():
        if not isinstance(name, str) or not name:
            raise ValueError(f"grid names must be non-empty strings (keywords of the rule factory or field paths such as 'teacher.alpha'); got {name!r}")
        if name in reserved:
            raise ValueError(f"grid entry {name!r} clashes with a dimension of the results ({', '.join(reserved)}); rename it")
        axes.append(_axis(name, entry, scalar=name in scalar or sampled))
    return tuple(axes)


@dataclass(frozen=True)
class Layout:
    """How a grid of ``shape`` is cut into chunks of ``chunks`` (row-major chunk order).

    Chunk ``i`` covers, along each axis ``a``, indices ``[c_a·chunks[a], (c_a + 1)·chunks[a])``
    (clipped to the axis), where ``(c_0, c_1, …)`` is ``i`` unravelled over
    :attr:`counts`.  A grid without axes is one chunk.
    """

    shape: tuple[int, ...]
    chunks: tuple[int, ...]

    @property
    def counts(self) -> tuple[int, ...]:
        """Number of chunks along each axis."""
        return tuple(-(-n // c) for n, c in zip(self.shape, self.chunks))

    @property
    def n_chunks(self) -> int:
        return math.prod(self.counts)

    def region(self, i: int) -> tuple[slice, ...]:
        """Index slices of chunk ``i`` along each axis."""
        idx = np.unravel_index(i, self.counts) if self.shape else ()
        return tuple(
            slice(int(j) * c, min((int(j) + 1) * c, n)) for j, c, n in zip(idx, self.chunks, self.shape)
        )

    def point_index(self, region: tuple[slice, ...]) -> int:
        """Flat (row-major) index in the whole grid of the first point of ``region``."""
        if not self.shape:
            return 0
        return int(np.ravel_multi_index(tuple(s.start for s in region), self.shape))


def make_layout(axes, chunks, *, point_state: int, point_record: int, sampled: bool) -> Layout:
    """The chunk layout of ``axes``.

    ``chunks`` is None (automatic: whole groups, halved along the first batched axes until
    a chunk's state is at most :data:`STATE_TARGET` elements and its records at most
    :data:`RECORD_TARGET` values), an int (the chunk size of every batched axis) or a
    mapping of batched grid names to chunk sizes.  Axes run one value at a time always
    have chunk size 1; a sampled rule runs one grid point per chunk (its random key is the
    point's, see :mod:`modesim.sweeps`).  The layout depends only on the grid and these
    sizes, never on the executor.
    """
    shape = tuple(len(a) for a in axes)
    if sampled:
        if chunks is not None and not (chunks == 1 or (isinstance(chunks, Mapping) and all(v == 1 for v in chunks.values()))):
            raise ValueError(
                f"chunks must be None for a sampled rule: it runs one grid point per chunk, whose "
                f"random key comes from the sweep seed and the point's grid index; got {chk.describe(chunks)}"
            )
        return Layout(shape, (1,) * len(shape))
    if chunks is None:
        sizes = [len(a) if a.batched else 1 for a in axes]
        order = [i for i, a in enumerate(axes) if a.batched]
        for i in order:
            while sizes[i] > 1:
                points = math.prod(sizes)
                if points * point_state <= STATE_TARGET and points * point_record <= RECORD_TARGET:
                    break
                sizes[i] = -(-sizes[i] // 2)
        return Layout(shape, tuple(sizes))
    if isinstance(chunks, Mapping):
        names = {a.name: a for a in axes}
        sizes = [len(a) if a.batched else 1 for a in axes]
        for name, size in chunks.items():
            if name not in names:
                raise ValueError(f"chunks names {name!r}, which is not a grid entry; grid entries: {sorted(names)}")
            size = chk.integer(size, f"chunks[{name!r}]", low=1)
            if not names[name].batched and size != 1:
                raise ValueError(
                    f"chunks[{name!r}] must be 1: grid entry {name!r} is not batched (its values run one "
                    f"at a time); got {size}"
                )
            i = [a.name for a in axes].index(name)
            sizes[i] = min(size, shape[i])
        return Layout(shape, tuple(sizes))
    size = chk.integer(chunks, "chunks", low=1)
    return Layout(shape, tuple(min(size, len(a)) if a.batched else 1 for a in axes))
