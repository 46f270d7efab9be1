"""Tasks: a base policy ``π0`` and a valid mask ``C`` (theory §1).

A :class:`Task` is validated once, on construction.  Its base policy is stored as
log-probabilities so that very small entries survive; ``task.base`` exposes
probabilities.  Leading axes are batch axes (one task per prompt, seed or grid cell).
Tasks are immutable (their arrays are read-only), pickle and deep-copy.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from . import _checks as chk
from .simplex import log_mass, log_normalise

__all__ = ["Task", "FrozenDict", "make_task", "zipf_task", "dirichlet_task", "two_strategy_task"]


class FrozenDict(Mapping):
    """A read-only mapping that pickles (``types.MappingProxyType`` does not)."""

    __slots__ = ("_data",)

    def __init__(self, data=()):
        object.__setattr__(self, "_data", dict(data))

    def __getitem__(self, key):
        return self._data[key]

    def __iter__(self):
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        return f"FrozenDict({self._data!r})"

    def __reduce__(self):
        return (FrozenDict, (self._data,))

    def __setattr__(self, name, value):
        raise AttributeError("FrozenDict is read-only")


def _readonly(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a)
    if a.flags.writeable:
        a = a.copy() if a.base is not None else a
        a.flags.writeable = False
    return a


@dataclass(frozen=True, eq=False)
class Task:
    """A batch of prompts: base policy, valid mask, optional out-of-distribution masks (theory §1).

    Use :func:`make_task` to build one from probabilities.  A task of shape ``(..., K)`` is
    many independent prompts; the masks broadcast against the base.  Validated once, here.
    Indexing selects prompts with their masks (``task[3]``, ``task[:8]``; :meth:`__getitem__`).

    Parameters
    ----------
    log_base : ndarray, shape (..., K)
        Log-probabilities of the base (reference) policy ``π0``; each row must
        normalise (``logsumexp = 0`` within 1e-6; rows are renormalised).
    valid : ndarray of bool, broadcastable to (..., K)
        The valid set ``C`` (reward ``r(y) = 1[y ∈ C]``).  Every row needs at least
        one valid mode of positive base probability.
    ood : mapping of str to bool arrays, optional
        Named out-of-distribution valid sets, e.g. ``{"blocked": [0, 1, 1]}``.

    Raises
    ------
    ValueError
        ``log_base`` not an array of shape (..., K) of log-probabilities (NaN, +inf, a
        row with no positive probability, rows not normalising within 1e-6); ``valid`` not
        a boolean (or 0/1) mask broadcasting to ``log_base``'s shape, or a row without a
        valid mode; a row with ``π0(C) = 0`` (named by batch index); ``ood`` not a mapping,
        a key that is not a string, or a mask that is not a valid mask of that shape.

    Examples
    --------
    >>> import numpy as np
    >>> import modesim as ms
    >>> ms.Task(np.log([0.5, 0.5]), [True, False])
    Task(batch_shape=(), n_modes=2)
    """

    log_base: np.ndarray
    valid: np.ndarray
    ood: Mapping[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self):
        lb = chk.log_probabilities(self.log_base, "log_base")
        valid = chk.mask(self.valid, lb.shape, "valid")
        dead = np.isneginf(log_mass(lb, valid))
        if np.any(dead):
            raise ValueError(
                "the base policy gives zero probability to every valid mode"
                f"{chk.at_index(dead)}; allowed: π0(C) > 0"
            )
        if not isinstance(self.ood, Mapping):
            raise ValueError(f"ood must be a mapping of names to masks; got {chk.describe(self.ood)}")
        ood = {}
        for key, m in self.ood.items():
            if not isinstance(key, str):
                raise ValueError(f"ood keys must be strings; got {key!r}")
            ood[key] = _readonly(chk.mask(m, lb.shape, f"the out-of-distribution mask {key!r}"))
        object.__setattr__(self, "log_base", _readonly(lb))
        object.__setattr__(self, "valid", _readonly(valid))
        object.__setattr__(self, "ood", FrozenDict(ood))

    @property
    def base(self) -> np.ndarray:
        """Base policy ``π0`` as probabilities, shape ``(..., K)``."""
        return np.exp(self.log_base)

    @property
    def n_modes(self) -> int:
        """Number of modes ``K``."""
        return self.log_base.shape[-1]

    @property
    def batch_shape(self) -> tuple[int, ...]:
        """Leading (batch) shape ``(...)``."""
        return self.log_base.shape[:-1]

    @cached_property
    def log_valid(self) -> np.ndarray:
        """``log 1[y ∈ C]``: 0 on valid modes, ``-inf`` elsewhere (adding it masks a log-policy)."""
        return _readonly(np.where(self.valid, 0.0, -np.inf))

    @cached_property
    def all_valid(self) -> bool:
        """True when every mode of every prompt is valid."""
        return bool(self.valid.all())

    @cached_property
    def reward(self) -> np.ndarray:
        """Reward ``r(y) = 1[y ∈ C]`` as float64, shape ``(..., K)``."""
        return _readonly(self.valid.astype(np.float64))

    def with_base(self, log_base: np.ndarray) -> Task:
        """The same valid and OOD masks with another (log) base policy, shape (..., K).

        Raises
        ------
        ValueError
            As :class:`Task` (``log_base`` not normalised, or zero mass on ``C``).
        """
        return Task(log_base, self.valid, dict(self.ood))

    def broadcast(self, batch_shape: tuple[int, ...]) -> Task:
        """The task repeated over a larger batch shape (parameter grids, seeds)."""
        shape = tuple(batch_shape) + (self.n_modes,)
        if shape == self.log_base.shape:
            return self
        return Task(
            np.broadcast_to(self.log_base, shape),
            np.broadcast_to(self.valid, shape),
            {k: np.broadcast_to(v, shape) for k, v in self.ood.items()},
        )

    def __getitem__(self, index) -> Task:
        """The prompts at ``index`` of the batch axes, with their masks: ``task[3]``,
        ``task[:8]``, ``task[[0, 5]]``, ``task[i, j]`` or a boolean mask of batch rows.  The
        mode axis is never indexed (``task[3]`` of a (48, K) bank is one prompt of K modes).

        Raises
        ------
        ValueError
            An unbatched task; more entries than batch axes; Ellipsis or None; a float,
            string or boolean scalar; an integer out of range; a boolean mask not of the
            shape of the batch axes it covers; a selection with no prompt.

        Examples
        --------
        >>> import modesim as ms
        >>> bank = ms.scenarios.prompt_bank(48, 16, seed=0)
        >>> bank[3]
        Task(batch_shape=(), n_modes=16, ood=['dominant_blocked'])
        >>> bank[:8].batch_shape
        (8,)
        """
        idx = chk.batch_index(index, self.batch_shape)
        lb = self.log_base[idx]
        if lb.size == 0:
            raise ValueError(f"index {chk.describe(index)} selects no prompt of a task with batch_shape "
                             f"{self.batch_shape}")
        # Rows of a validated task are valid as they are: built without renormalising them
        # again (log_normalise of a normalised row can move it by an ulp, and a prompt taken
        # out of a bank must be that prompt, bit for bit).
        part = object.__new__(Task)
        object.__setattr__(part, "log_base", _readonly(np.array(lb)))
        object.__setattr__(part, "valid", _readonly(np.array(self.valid[idx])))
        object.__setattr__(part, "ood", FrozenDict({k: _readonly(np.array(v[idx])) for k, v in self.ood.items()}))
        return part

    def __len__(self) -> int:
        """The length of the first batch axis (``TypeError`` for an unbatched task, as numpy's
        0-d arrays)."""
        if not self.batch_shape:
            raise TypeError("an unbatched task (batch_shape ()) has no length")
        return self.batch_shape[0]

    def __iter__(self):
        """The prompts along the first batch axis: ``for prompt in bank`` (``task[i]`` each;
        ``TypeError`` for an unbatched task)."""
        if not self.batch_shape:
            raise TypeError("an unbatched task (batch_shape ()) has no prompts to iterate over")
        return (self[i] for i in range(len(self)))

    def __repr__(self) -> str:
        ood = f", ood={list(self.ood)}" if self.ood else ""
        return f"Task(batch_shape={self.batch_shape}, n_modes={self.n_modes}{ood})"


def make_task(base, valid=None, *, ood: Mapping | None = None) -> Task:
    """Build a :class:`Task` from base probabilities (theory §1).

    Stores ``log π0`` (a zero probability becomes ``−inf``); leading axes of ``base`` are
    batch axes (one prompt per row).

    Parameters
    ----------
    base : array_like, shape (..., K)
        Probabilities; finite, non-negative, each row summing to 1 (within 1e-6).
    valid : array_like of bool, broadcastable to (..., K), optional
        Valid set ``C``; default: every mode valid.
    ood : mapping of str to masks, optional
        Named out-of-distribution valid sets.

    Returns
    -------
    Task
        Batch shape ``base.shape[:-1]``, ``K = base.shape[-1]`` modes.

    Raises
    ------
    ValueError
        ``base`` not probabilities of shape (..., K) (non-finite, negative, booleans,
        rows not summing to 1 within 1e-6); ``valid`` not a boolean mask broadcasting to
        ``base`` or with an empty row; every valid mode of a row at probability 0
        (``π0(C) = 0``); ``ood`` not a mapping of string names to such masks.

    Examples
    --------
    >>> import modesim as ms
    >>> t = ms.make_task([0.6, 0.3, 0.1], ood={"blocked": [0, 1, 1]})
    >>> t.base.round(2).tolist()
    [0.6, 0.3, 0.1]
    """
    p = chk.probabilities(base, "base")
    with np.errstate(divide="ignore"):
        lb = np.log(p)
    if valid is None:
        valid = np.ones(lb.shape, dtype=bool)
    if ood is not None and not isinstance(ood, Mapping):
        raise ValueError(f"ood must be a mapping of names to masks, e.g. {{'blocked': [0, 1, 1]}}; got {chk.describe(ood)}")
    return Task(lb, valid, dict(ood or {}))


def zipf_task(K: int, s: float = 1.0, valid=None, *, ood: Mapping | None = None) -> Task:
    """Zipf base policy ``π0(y) ∝ (y + 1)^(−s)`` over ``K`` modes (theory §1).

    ``s = 0`` is uniform; larger ``s`` is more skewed.  Computed in log space (theory §12):
    for huge ``s`` the tail underflows to an exact ``−inf`` rather than NaN.

    Parameters
    ----------
    K : int >= 1
        Number of modes.
    s : float >= 0
        Zipf exponent (a scalar).
    valid, ood : optional
        As :func:`make_task` (default: every mode valid).

    Returns
    -------
    Task
        Unbatched, ``K`` modes.

    Raises
    ------
    ValueError
        ``K`` not an integer >= 1; ``s`` not a finite scalar >= 0; ``valid`` or ``ood``
        as in :class:`Task`.

    >>> import modesim as ms
    >>> ms.zipf_task(3, 1.0).base.round(3).tolist()
    [0.545, 0.273, 0.182]
    """
    K = chk.integer(K, "K", low=1)
    s = chk.real(s, "s", low=0.0, allow_array=False)
    with np.errstate(over="ignore"):   # s·log(y + 1) beyond the float range: π0(y) = 0 exactly
        lb = log_normalise(-s * np.log(np.arange(1, K + 1, dtype=np.float64)))
    if valid is None:
        valid = np.ones(K, dtype=bool)
    return Task(lb, valid, dict(ood or {}))


def dirichlet_task(
    K: int,
    concentration: float = 1.0,
    seed=None,
    *,
    batch_shape: tuple[int, ...] = (),
    valid=None,
    ood: Mapping | None = None,
) -> Task:
    """Base policies drawn from a symmetric Dirichlet(concentration), ``K`` modes (theory §1, §12).

    Sampled in log space (``log G = log Gamma(a+1) + log(U)/a``) so that small
    concentrations give tiny but non-zero probabilities instead of exact zeros (entries
    whose log underflows are set to ``−745``, about the smallest subnormal).

    Parameters
    ----------
    K : int >= 1
        Number of modes.
    concentration : float > 0
        The symmetric Dirichlet parameter ``a`` (a scalar).
    seed : None, int >= 0 or numpy.random.Generator
        Source of randomness (``None`` draws fresh entropy).
    batch_shape : tuple of int
        Leading shape: one independent base policy per batch entry.
    valid, ood : optional
        As :func:`make_task` (default: every mode valid).

    Returns
    -------
    Task
        Batch shape ``batch_shape``, ``K`` modes.

    Raises
    ------
    ValueError
        ``K`` not an integer >= 1; ``concentration`` not a finite scalar > 0; ``seed`` not
        None, a non-negative integer or a Generator; ``batch_shape`` not a tuple of
        non-negative integers; ``valid`` or ``ood`` as in :class:`Task`.

    Examples
    --------
    >>> import modesim as ms
    >>> ms.dirichlet_task(4, 0.5, seed=0, batch_shape=(2,)).base.shape
    (2, 4)
    """
    K = chk.integer(K, "K", low=1)
    a = chk.real(concentration, "concentration", low=0.0, low_open=True, allow_array=False)
    rng = np.random.default_rng(chk.seed(seed))
    if not isinstance(batch_shape, tuple) or not all(
        isinstance(n, (int, np.integer)) and not isinstance(n, bool) and n >= 0 for n in batch_shape
    ):
        raise ValueError(f"batch_shape must be a tuple of non-negative integers; got {chk.describe(batch_shape)}")
    shape = tuple(int(n) for n in batch_shape) + (K,)
    if math.prod(shape) >= 2**63:
        raise ValueError(f"batch_shape {chk.describe(batch_shape)} with K = {K} makes more entries than an array "
                         f"can hold (2**63); allowed: a batch_shape whose product with K is below that")
    with np.errstate(divide="ignore", over="ignore"):  # log(U)/a overflows for subnormal a
        log_g = np.log(rng.standard_gamma(a + 1.0, size=shape)) + np.log(rng.random(shape)) / a
    lb = log_normalise(np.where(np.isfinite(log_g), log_g, -745.0))
    if valid is None:
        valid = np.ones(shape, dtype=bool)
    return Task(lb, valid, dict(ood or {}))


def two_strategy_task(p: float = 0.7, *, valid_mass: float = 1.0) -> Task:
    """Two equally correct strategies with base shares ``p`` and ``1 − p`` (theory §1).

    With ``valid_mass < 1`` a third mode, a wrong answer, carries ``1 − valid_mass``.
    The OOD mask ``"mode0_blocked"`` keeps only strategy 1 valid (the minority), which
    is where a diverse policy is needed.

    Parameters
    ----------
    p : float in (0, 1)
        Share of strategy 0 among the valid modes.
    valid_mass : float in (0, 1]
        ``π0(C)``.

    Returns
    -------
    Task
        Unbatched; 2 modes (``valid_mass = 1``) or 3 (the third invalid).

    Raises
    ------
    ValueError
        ``p`` not a scalar in (0, 1) or ``valid_mass`` not a scalar in (0, 1].

    >>> import modesim as ms
    >>> ms.two_strategy_task(0.7, valid_mass=0.5).base.round(3).tolist()
    [0.35, 0.15, 0.5]
    """
    p = chk.real(p, "p", low=0.0, high=1.0, low_open=True, high_open=True, allow_array=False)
    q = chk.real(valid_mass, "valid_mass", low=0.0, high=1.0, low_open=True, allow_array=False)
    if q == 1.0:
        return make_task([p, 1.0 - p], [True, True], ood={"mode0_blocked": [False, True]})
    return make_task(
        [q * p, q * (1.0 - p), 1.0 - q], [True, True, False],
        ood={"mode0_blocked": [False, True, False]},
    )
