"""Random streams and sampling kernels of the finite-sample rules (theory §2.3, §3.6).

**Streams: one per batch entry, a pure function of (key, entry, round).**  A sampled rule's
randomness is counter-based.  ``rule.init(task)`` gives every batch entry its own 64-bit
key (``state.rng_key``, shape = the run's batch shape), derived from the rule's ``seed``
and the entry's multi-index in the task (:func:`entry_keys`); round ``t`` of that entry
draws the uniforms ``u_0, u_1, …`` of :func:`round_uniforms`, a function of the entry's key
and ``t`` alone.  Consequences, relied on by :func:`~modesim.sampled.train` and by a
sweep engine built on the rules:

1. ``step`` is pure: the same state gives the same next state.
2. **Slicing commutes with stepping**: every array of the state has the batch shape, and
   each entry's update depends only on that entry's row (policy, key, teacher base,
   parameters; every reduction is taken row by row, never batch-wide); so stepping a slice
   of the state (with the matching slice of the task, and of array-valued parameters)
   gives, bit for bit, the same slice of the stepped whole.
3. **Chunks**: a run over part of a task (prompts ``p0 ≤ p < p1``, seeds ``s0 ≤ s < s1``)
   reproduces the corresponding entries of the full run exactly when it is started with
   ``rule.init(chunk_task, offset=(s0, p0, …))``, the chunk's position in the full task
   (:func:`~modesim.sampled.train` takes ``first_seed`` and ``offset``).  A sweep engine
   derives nothing per chunk or per worker: it passes offsets.
4. **Parameter grids share draws** (common random numbers): keys are indexed by the
   *task's* batch axes and broadcast over axes that only the parameters add, so a batched
   run over an array of learning rates equals, bit for bit, the loop over scalar rules
   with the same seed; chunking a parameter grid needs no offset.

The keys and draws use the SplitMix64 finaliser ``mix`` (Steele, Lea & Flood, "Fast
splittable pseudorandom number generators", OOPSLA 2014; the finaliser is Stafford's
"Mix13"), a bijection on 64-bit words with full avalanche, vectorised over the batch:

- root ``k = splitmix64(w0 ⊕ splitmix64(w1 + γ))`` from two words of ``SeedSequence(seed)`` (or of a
  :class:`numpy.random.Generator`'s output, which advances it);
- entry key: for each task batch axis a in turn, ``k ← splitmix64(k ⊕ splitmix64((i_a + 1)·γ))``;
- round key ``s = splitmix64(k ⊕ splitmix64((t + 1)·γ' ))``; draw j: ``u_j = ⌊splitmix64(s + (j + 1)·γ)/2^11⌋·2^−53``
  (a SplitMix64 stream seeded by ``s``), uniform on ``[0, 1)`` with 53 random bits.

with ``γ = 0x9E3779B97F4A7C15`` (the golden-ratio increment) and ``γ'`` a second odd
constant that keeps round keys apart from axis keys.  The distribution tests are in
``tests/sampled/test_sampling.py``.

**Sampling** is by inverse CDF: ``y = #{k < K − 1 : cdf_k ≤ u}`` with the CDF rescaled to
end at exactly 1, so a mode of zero probability is never drawn.
"""

from __future__ import annotations

import functools

import numpy as np

from .. import _checks as chk
from ..teachers import scatter_add

__all__ = [
    "sample_modes",
    "root_key",
    "entry_keys",
    "round_uniforms",
    "inverse_cdf",
    "count_true",
    "score_mean",
    "kl_logit_grad",
    "centred_grad",
    "normalise_rows",
    "row_sum",
    "take",
    "all_true",
]

_MASK = (1 << 64) - 1
GAMMA = 0x9E3779B97F4A7C15
GAMMA_ROUND = 0xD1B54A32D192ED03
_M1, _M2 = 0xBF58476D1CE4E5B9, 0x94D049BB133111EB
_U = {s: np.uint64(s) for s in (11, 27, 30, 31)}
_M1U, _M2U = np.uint64(_M1), np.uint64(_M2)

#: Largest K for which sampling compares every rollout with every CDF entry (a
#: ``(…, n, K)`` mask counted by popcount); above it a vectorised binary search is used.
MASK_K = 64


def splitmix64_int(z: int) -> int:
    """The SplitMix64 finaliser on a Python int (for per-round constants)."""
    z &= _MASK
    z ^= z >> 30
    z = (z * _M1) & _MASK
    z ^= z >> 27
    z = (z * _M2) & _MASK
    return z ^ (z >> 31)


def splitmix64(z: np.ndarray) -> np.ndarray:
    """The SplitMix64 finaliser on a uint64 array, in place (array arithmetic wraps mod 2^64)."""
    tmp = np.right_shift(z, _U[30])
    z ^= tmp
    z *= _M1U
    np.right_shift(z, _U[27], out=tmp)
    z ^= tmp
    z *= _M2U
    np.right_shift(z, _U[31], out=tmp)
    z ^= tmp
    return z


def root_key(seed) -> int:
    """The 64-bit root key of a run from ``seed`` (None, an int >= 0 or a Generator).

    An int seed always gives the same key; a Generator is drawn from (and advances); None
    draws fresh entropy.
    """
    seed = chk.seed(seed)
    if isinstance(seed, np.random.Generator):
        w = seed.integers(0, 2**64, size=2, dtype=np.uint64)
    else:
        w = np.random.SeedSequence(seed).generate_state(2, dtype=np.uint64)
    return splitmix64_int(int(w[0]) ^ splitmix64_int(int(w[1]) + GAMMA))


def entry_keys(root: int, shape: tuple[int, ...], offset=()) -> np.ndarray:
    """Keys of the entries ``offset + i`` (``i`` a multi-index of ``shape``), uint64 of ``shape``.

    ``offset`` is one non-negative int per axis (empty: all zeros); the key of an entry
    depends only on ``root`` and its full multi-index, so chunks of a task started with
    their offsets get the keys the whole task would give them.
    """
    shape = tuple(shape)
    offset = _offset(offset, len(shape))
    k = np.full((1,) * len(shape), root, dtype=np.uint64)
    for axis, (n, o) in enumerate(zip(shape, offset)):
        idx = np.arange(o + 1, o + n + 1, dtype=np.uint64)
        idx *= np.uint64(GAMMA)
        h = splitmix64(idx).reshape((1,) * axis + (n,) + (1,) * (len(shape) - axis - 1))
        k = splitmix64(k ^ h)
    return np.broadcast_to(k, shape).copy()


def _offset(offset, ndim: int) -> tuple[int, ...]:
    if isinstance(offset, (int, np.integer)) and not isinstance(offset, bool):
        offset = (offset,)
    if not isinstance(offset, (tuple, list)) or len(offset) not in (0, ndim):
        raise ValueError(
            f"offset must be a tuple of {ndim} non-negative integers (the position of this "
            f"task's entries in the full task, one per batch axis), or (); got {chk.describe(offset)}"
        )
    return tuple(chk.integer(o, f"offset[{i}]", low=0) for i, o in enumerate(offset)) or (0,) * ndim


@functools.lru_cache(maxsize=64)
def _draw_steps(n: int) -> np.ndarray:
    steps = np.arange(1, n + 1, dtype=np.uint64)
    steps *= np.uint64(GAMMA)
    steps.flags.writeable = False
    return steps


def round_uniforms(keys: np.ndarray, t: int, n: int) -> np.ndarray:
    """``n`` uniforms on [0, 1) per entry for round ``t``: shape ``keys.shape + (n,)``.

    A pure function of each entry's key, ``t`` and the draw index (module docstring).
    """
    c = np.uint64(splitmix64_int((int(t) + 1) * GAMMA_ROUND))
    flat = np.asarray(keys, dtype=np.uint64).reshape(-1)  # at least 1-d: array arithmetic wraps silently
    s = splitmix64(np.bitwise_xor(flat, c))
    z = s[:, None] + _draw_steps(n)
    splitmix64(z)
    z >>= _U[11]
    u = z.astype(np.float64)
    u *= 2.0**-53
    return u.reshape(np.shape(keys) + (n,))


# ------------------------------------------------------------------ sampling


def inverse_cdf(p: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Modes ``y = #{k < K − 1 : cdf_k ≤ u}`` for probabilities ``p`` (…, K) and uniforms ``u`` (…, n).

    ``p`` needs non-negative rows with a positive sum (not necessarily normalised: the
    CDF is rescaled to end at exactly 1).  Returns int64 of shape ``u.shape``; each row
    uses only its own ``p`` and ``u``.
    """
    K = p.shape[-1]
    if K == 1:
        return np.zeros(u.shape, dtype=np.int64)
    if K <= MASK_K:
        # Thresholds cdf_0..cdf_{K−2} padded with 2.0 (never ≤ u) to a multiple of 8, so the
        # comparison mask is read as whole uint64 words and counted by popcount.
        L = -(-(K - 1) // 8) * 8
        thr = np.full(p.shape[:-1] + (L,), 2.0)
        cdf = thr[..., : K - 1]
        np.cumsum(p[..., :-1], axis=-1, out=cdf)
        total = cdf[..., -1:] + p[..., -1:]
        cdf /= total
        return count_true(u[..., :, None] >= thr[..., None, :])
    cdf = np.cumsum(p, axis=-1)
    return _search(cdf[..., :-1] / cdf[..., -1:], u)


def count_true(mask: np.ndarray) -> np.ndarray:
    """Number of True along the last axis, as int64.

    When that axis is a multiple of 8 long (and the mask C-contiguous), 8 booleans are read
    as one uint64 word and its set bits counted (a boolean is the byte 0 or 1): several
    times faster than ``mask.sum(-1)`` over a short axis, and exact.
    """
    if mask.shape[-1] % 8 or not mask.flags.c_contiguous or not hasattr(np, "bitwise_count"):
        return np.count_nonzero(mask, axis=-1).astype(np.int64)
    words = np.bitwise_count(mask.view(np.uint64))
    out = words[..., 0].astype(np.int64)
    for w in range(1, words.shape[-1]):  # K/8 words (two at K = 16)
        out += words[..., w]
    return out


def _search(thr: np.ndarray, u: np.ndarray) -> np.ndarray:
    """``#{k : thr_k ≤ u}`` for non-decreasing thresholds, by a vectorised binary search."""
    T = thr.shape[-1]
    lo = np.zeros(u.shape, dtype=np.int64)
    hi = np.full(u.shape, T, dtype=np.int64)
    for _ in range(T.bit_length()):  # log2(K) halvings, each over the whole batch
        active = lo < hi
        mid = (lo + hi) >> 1
        val = np.take_along_axis(thr, np.minimum(mid, T - 1), axis=-1)
        go = active & (val <= u)
        lo = np.where(go, mid + 1, lo)
        hi = np.where(active & ~go, mid, hi)
    return lo


def sample_modes(log_policy, n: int, rng) -> np.ndarray:
    """Draw ``n`` modes from each row of ``exp(log_policy)`` by inverse CDF (theory §2.3).

    ``y = #{k < K − 1 : cdf_k ≤ u}`` with ``u ~ U[0, 1)`` from ``rng`` and the CDF rescaled
    to end at exactly 1, so a mode of zero probability is never drawn.  (The rules draw
    their uniforms from their own per-entry streams instead; see the module docstring.)

    Parameters
    ----------
    log_policy : array_like, shape (..., K)
        Normalised log-probabilities (rows normalised within 1e-6; no NaN or +inf).
    n : int >= 1
        Draws per row.
    rng : numpy.random.Generator or int >= 0
        Source of the uniforms (an int seeds a new Generator).

    Returns
    -------
    ndarray of int64, shape ``(..., n)``

    Raises
    ------
    ValueError
        Naming ``log_policy`` (NaN, +inf, a row without mass, not normalised), ``n`` or
        ``rng`` (e.g. None).

    >>> import numpy as np
    >>> import modesim as ms
    >>> ms.sample_modes([-np.inf, 0.0, -np.inf], 3, 0).tolist()
    [1, 1, 1]
    """
    lp = chk.log_probabilities(log_policy, "log_policy")
    n = chk.integer(n, "n", low=1)
    rng = chk.generator(rng, "rng")
    return inverse_cdf(np.exp(lp), rng.random(lp.shape[:-1] + (n,)))


# ------------------------------------------------------------------ gradient kernels


def score_mean(y: np.ndarray, w: np.ndarray, pi: np.ndarray) -> np.ndarray:
    """``(1/N) Σ_n w_n·(e_{y_n} − π)``: the score-function average (``∇_θ log π(y) = e_y − π``).

    ``y``, ``w``: (…, N); ``pi``: (…, K).  One ``bincount`` over the batch, no one-hot.
    """
    n = y.shape[-1]
    out = scatter_add(y, w, pi.shape[-1])
    out -= row_sum(w) * pi
    out /= n
    return out


def kl_logit_grad(log_p: np.ndarray, log_q: np.ndarray, pi: np.ndarray | None = None) -> np.ndarray:
    """Exact ``∇_θ KL(π_θ‖q) = π ⊙ (log π − log q − KL)`` on logits; 0 on modes where π = 0.

    ``log_q`` may be unnormalised (a constant shift cancels); it must be finite wherever
    ``π > 0``.  ``pi = exp(log_p)`` may be passed when already computed.
    """
    with np.errstate(invalid="ignore"):
        d = np.subtract(log_p, log_q)
    return centred_grad(d, log_p, pi)


def centred_grad(d: np.ndarray, log_p: np.ndarray, pi: np.ndarray | None = None) -> np.ndarray:
    """``π ⊙ (d − Σ_y π(y) d(y))``, with ``d`` set to 0 (in place) where ``π = 0``.

    The logit gradient of any objective whose gradient in ``log π`` is ``d``; linear in
    ``d``, so weighted sums of KL terms are one call: ``Σ_i w_i ∇KL(π‖q_i)`` is
    ``centred_grad(Σ_i w_i (log π − log q_i))``.
    """
    dead = ~np.isfinite(log_p)
    if dead.any():
        d[np.broadcast_to(dead, d.shape)] = 0.0
    if pi is None:
        pi = np.exp(log_p)
    d -= row_sum(pi * d)
    d *= pi
    return d


def row_sum(x: np.ndarray) -> np.ndarray:
    """``x.sum(-1, keepdims=True)`` by ``einsum``: each row summed alone, several times faster
    than numpy's reduction over a short last axis."""
    return np.einsum("...k->...", x)[..., None]


def take(x: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """``x[..., idx]`` per row: ``x`` (B..., K) broadcasting against ``idx`` (B..., n) → idx's shape.

    A mask or log-policy shared by every row (stride 0) is indexed once as a vector;
    otherwise rows are read through flat indices (no ``take_along_axis`` overhead).
    """
    K = x.shape[-1]
    if x.ndim == 1 or not any(x.strides[:-1]):
        return x[(0,) * (x.ndim - 1)][idx]
    batch = np.broadcast_shapes(x.shape[:-1], idx.shape[:-1])
    x = np.ascontiguousarray(np.broadcast_to(x, batch + (K,)))
    idx = np.broadcast_to(idx, batch + idx.shape[-1:])
    B = int(np.prod(batch, dtype=np.int64))
    flat = idx.reshape(B, -1) + (np.arange(B, dtype=np.int64) * K)[:, None]
    return x.reshape(-1)[flat].reshape(idx.shape)


def all_true(mask: np.ndarray) -> np.ndarray:
    """``mask.all(-1)`` for a boolean (…, n) array, by popcount (see :func:`count_true`)."""
    n = mask.shape[-1]
    if n % 8:
        pad = np.ones(mask.shape[:-1] + (-(-n // 8) * 8,), dtype=bool)
        pad[..., :n] = mask
        mask = pad
    return count_true(np.ascontiguousarray(mask)) == mask.shape[-1]


def normalise_rows(x: np.ndarray) -> np.ndarray:
    """``x − logsumexp(x)`` over the last axis, clamped at 0, deciding the shift **per row**.

    Rows whose ``Σ exp x`` lies in ``(1e-3, 1e3)`` are normalised directly: then
    ``|log Σ exp x| < 7`` and the subtraction loses at most an ulp of 7 on the entries that
    carry the mass.  The others are shifted by their maximum first, ``(x − m) − log Σ exp(x − m)``
    (two subtractions: ``x − (m + log Σ…)`` would lose an ulp of ``m``, 1e-13 at m ≈ 600).
    Every row's result depends on that row alone, which keeps a run bit-identical however
    its batch is split (module docstring, point 2).  ``x`` (float64, writable) is overwritten
    and returned; an entry more than 1.8e308 below its row's maximum becomes ``−inf``
    (probability 0, exactly).
    """
    with np.errstate(over="ignore"):
        s = row_sum(np.exp(x))
    ok = (s > 1e-3) & (s < 1e3)
    if ok.all():
        x -= np.log(s, out=s)
    else:
        m = np.where(ok, 0.0, x.max(axis=-1, keepdims=True))
        m[~np.isfinite(m)] = 0.0
        with np.errstate(over="ignore", divide="ignore"):
            x -= m
            s = np.where(ok, s, row_sum(np.exp(x)))
            x -= np.log(s)
    return np.minimum(x, 0.0, out=x)
