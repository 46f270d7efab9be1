"""Deprecated: finite-sample training moved to :mod:`modesim.sampled` (removed in modesim 0.3).

``from modesim import stochastic`` keeps working for one release with a
:class:`DeprecationWarning`.  New homes: the rules, :func:`train`, :func:`replicate`,
:func:`sample_modes` and :func:`mean_field_distance` in :mod:`modesim.sampled`; the mean
field is :func:`modesim.flow`; the seed statistics :func:`fixation_probability`,
:func:`collapse_times`, :func:`fan` and :class:`Fan` are in :mod:`modesim.metrics`.
"""

from __future__ import annotations

from ._compat import deprecated
from .metrics import Fan, collapse_times, fan, fixation_probability
from .sampled import (
    SampledRL,
    SampledSD,
    mean_field,
    mean_field_distance,
    replicate,
    sample_modes,
    train,
)

__all__ = [
    "SampledRL",
    "SampledSD",
    "sample_modes",
    "replicate",
    "train",
    "mean_field",
    "mean_field_distance",
    "fixation_probability",
    "collapse_times",
    "Fan",
    "fan",
]

deprecated(
    "modesim.stochastic",
    "modesim.sampled (rules, train), modesim.flow (mean field) and modesim.metrics "
    "(fixation_probability, collapse_times, fan)",
    stacklevel=2,
)
