"""Trainer conventions shared by the sampled rules: group statistics and KL estimators (theory §8.2).

Public GRPO and self-distillation trainers differ in conventions that the papers leave
implicit.  Each is an option of :class:`~modesim.sampled.SampledRL` /
:class:`~modesim.sampled.SampledSD`, named for what it is; this module holds the kernels.

**Group statistics** (``SampledRL(estimator="grpo", std=..., eps=..., reward_scale=...)``),
rewards ``r`` of a group of N, ``r̄`` the group mean:

=====================  ==================================================================
``reward_scale``       advantage
=====================  ==================================================================
``"group"``            ``(r − r̄)/(σ_group + ε)``
``"batch"``            ``(r − r̄)/(σ_batch + ε)``, σ over the rewards of every rollout of
                       the entries along ``batch_axes`` (the prompts of one step)
``"none"``             ``r − r̄`` (Dr. GRPO; verl ``norm_adv_by_std_in_grpo=False``)
=====================  ==================================================================

``std="population"`` divides the sum of squares by its count n, ``std="bessel"`` by
``n − 1`` (``torch.std``'s default, used by TRL's ``nanstd`` and verl's
``compute_grpo_outcome_advantage``): ``σ_bessel = σ_pop·√(n/(n − 1))``.  A group whose
rewards are all equal gets ``A = 0`` exactly (no signal) under every convention.

**KL estimators** (``kl_estimator``): the penalty ``β·KL(π‖π_ref)`` of a loss is, in the
trainers, a per-token estimate on the sampled rollouts, averaged over the N rollouts of the
group and *differentiated*.  What matters for training is the gradient on the logits; with
``x = log π_ref(y) − log π(y)`` at a sampled y and ``∇_θ log π(y) = e_y − π``:

=================  ====================================  ===================================
option             per-rollout gradient                   expectation over y ~ π
=================  ====================================  ===================================
``"exact"``        (not sampled) ``π ⊙ (log π − log π_ref − KL)``   ``∇_θ KL(π‖π_ref)``
``"k1"``           ``(e_y − π)``  (k1 = −x)                 0 (no KL force at all)
``"k2"``           ``−x·(e_y − π)``  (k2 = x²/2)            ``∇_θ KL(π‖π_ref)``
``"k3"``           ``(1 − e^x)(e_y − π)``  (k3 = e^x − x − 1)   ``π − π_ref = ∇_θ KL(π_ref‖π)``
``"k3_clamped"``   k3's, set to 0 where ``|x| > 20`` or     ``Σ_{y∈U}(π(y) − π_ref(y))(e_y − π)``
                   ``k3 > 10`` (verl's ``low_var_kl``)
``"k3_is"``        k3 times the importance ratio             ``∇_θ KL(π‖π_ref)``
                   ``π/π_old`` (value 1 on-policy): gradient
                   ``(1 − e^x + k3)(e_y − π) = −x·(e_y − π)``,
                   **the same per sample as k2**
=================  ====================================  ===================================

So the k3 estimator that TRL (``beta > 0``) and verl (``kl_loss_type="low_var_kl"``) use is an
unbiased *value* of ``KL(π‖π_ref)`` whose gradient is that of the **forward** KL
``KL(π_ref‖π)`` (its rest points differ from the reverse KL's); TRL's
``use_bias_correction_kl=True`` and verl's straight-through ``"k1+"``/``"k3+"`` give the
reverse-KL gradient (k2's).  ``U`` is the set of modes with ``−20 ≤ x ≤ 20`` and
``e^x − x − 1 ≤ 10``: verl clamps ``x`` to [−20, 20] and k3 to [−10, 10] before
differentiating, so a sampled rollout that the reference finds more than ~13.6 times likelier
(``x > 2.611``) or ~60,000 times less likely (``x < −11.0``) than the policy gets no KL
gradient.

Sources: TRL ``trl/trainer/grpo_trainer.py`` (``_generate_and_score_completions``,
``_compute_loss``) and ``trl/trainer/utils.py`` (``nanstd``) at commit f2cd577 (v1.10.0.dev0);
verl ``verl/trainer/ppo/core_algos.py`` (``compute_grpo_outcome_advantage``, ``kl_penalty``,
``kl_penalty_forward``) at commit b178a3c (v0.8.0.dev); J. Schulman, "Approximating KL
divergence" (2020) for k1, k2, k3.
"""

from __future__ import annotations

import numpy as np

from .. import _checks as chk
from ..teachers import scatter_add
from .sampling import all_true, kl_logit_grad, row_sum, take

__all__ = [
    "STD_CONVENTIONS",
    "REWARD_SCALES",
    "KL_ESTIMATORS",
    "group_advantages",
    "advantage_gain",
    "kl_penalty_weights",
    "kl_penalty_grad",
    "kl_penalty_mean",
    "k3_unclamped",
]

STD_CONVENTIONS = ("population", "bessel")
REWARD_SCALES = ("group", "batch", "none")
KL_ESTIMATORS = ("exact", "k1", "k2", "k3", "k3_clamped", "k3_is")

#: verl's clamps in ``kl_penalty_forward(..., "low_var_kl")``: x to [−20, 20], k3 to [−10, 10].
K3_X_CLAMP, K3_VALUE_CLAMP = 20.0, 10.0


def _pooled_rows(x: np.ndarray, axes: tuple[int, ...]) -> tuple[np.ndarray, tuple]:
    """``x`` (B..., N) with the batch ``axes`` and the last axis moved to one trailing row.

    Returns the (rest..., P·N) contiguous array and what is needed to broadcast a per-row
    statistic back onto ``x``.
    """
    nb = x.ndim - 1
    rest = [a for a in range(nb) if a not in axes]
    order = rest + list(axes) + [nb]
    moved = np.ascontiguousarray(np.transpose(x, order))
    rest_shape = moved.shape[: len(rest)]
    rows = moved.reshape(rest_shape + (-1,))
    return rows, (rest, order)


def _std(centred: np.ndarray, n: int, std: str) -> np.ndarray:
    """Row standard deviation from centred values (last axis) under the chosen convention."""
    ss = row_sum(centred * centred)
    ss /= n - 1 if std == "bessel" else n
    return np.sqrt(ss, out=ss)


def group_advantages(r: np.ndarray, *, std: str, eps, reward_scale: str, batch_axes: tuple[int, ...] = ()) -> np.ndarray:
    """GRPO advantages of rewards ``r`` (B..., N) under a trainer's conventions (module docstring).

    ``eps`` is a float or an array broadcasting against the batch axes; ``batch_axes``
    (non-negative batch-axis indices) name the entries pooled by ``reward_scale="batch"``.
    Every reduction is row by row: over the group for ``"group"``, over the pooled rows
    (the other batch axes untouched) for ``"batch"``.

    Returns
    -------
    ndarray, shape of ``r``
        ``A``, exactly 0 in groups whose rewards are all equal.
    """
    n = r.shape[-1]
    total = row_sum(r)
    centred = r - total / n
    flat = all_true(r == r[..., :1])
    if reward_scale == "group":
        centred /= _std(centred, n, std) + chk.col(eps)
    elif reward_scale == "batch":
        rows, (rest, order) = _pooled_rows(r, batch_axes)
        size = rows.shape[-1]
        dev = rows - row_sum(rows) / size
        sigma = _std(dev, size, std)  # (rest..., 1)
        # Back onto the batch: the pooled axes (and the group axis) become length 1.
        shape = [1] * r.ndim
        for i, a in enumerate(rest):
            shape[a] = sigma.shape[i]
        centred /= sigma.reshape(shape) + chk.col(eps)
    # Equal rewards can leave round-off in r − mean; such groups have no signal.
    centred[np.broadcast_to(flat[..., None], centred.shape)] = 0.0
    return centred


def advantage_gain(n: int, std: str, eps, reward_scale: str) -> np.ndarray:
    """``(1/N) Σ_n A_n r_n`` for a binary-reward group with c = 1 … N − 1 correct rollouts.

    ``v_c = (c/N)(1 − c/N)``: ``v_c/(σ_c + ε)`` with ``σ_c = √v_c`` (population) or
    ``√(v_c·N/(N − 1))`` (Bessel), and ``v_c`` without scaling (``"none"``).  Shape
    ``eps.shape + (N − 1,)``.  The GRPO clock (theory §2.3) is the binomial average of these
    gains; a batch-scaled advantage has no per-group gain (its σ depends on the other prompts).
    """
    c = np.arange(1, n, dtype=np.float64)
    v = (c / n) * (1.0 - c / n)
    if reward_scale == "none":
        return v
    sigma = np.sqrt(v * (n / (n - 1))) if std == "bessel" else np.sqrt(v)
    return v / (sigma + chk.col(eps))


# ------------------------------------------------------------------ KL estimators


def k3_unclamped(x: np.ndarray) -> np.ndarray:
    """True where verl's clamped k3 passes a gradient: ``|x| ≤ 20`` and ``e^x − x − 1 ≤ 10``."""
    with np.errstate(over="ignore", invalid="ignore"):
        inside = (x >= -K3_X_CLAMP) & (x <= K3_X_CLAMP)
        xc = np.clip(x, -K3_X_CLAMP, K3_X_CLAMP)
        return inside & (np.exp(xc) - xc <= K3_VALUE_CLAMP + 1.0)  # the same test as kl_penalty_weights


def kl_penalty_weights(estimator: str, log_p: np.ndarray, log_ref: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per-rollout coefficients ``w_n`` of a sampled estimator's gradient ``w_n·(e_{y_n} − π)``.

    ``log_p``, ``log_ref``: (..., K); ``y``: (..., N).  ``"k1"``: 1; ``"k2"``, ``"k3_is"``:
    ``log π(y) − log π_ref(y)``; ``"k3"``: ``1 − π_ref(y)/π(y)``; ``"k3_clamped"``: k3's, 0
    where verl's clamps bind.  (A rule adds them to its own score-function weights, so the
    whole group update is one scatter.)
    """
    if estimator == "k1":
        return np.ones(y.shape)
    with np.errstate(invalid="ignore"):
        x = take(log_ref, y) - take(log_p, y)
    if estimator in ("k2", "k3_is"):
        return np.negative(x, out=x)
    # 1 − e^x = d k3/d log π.  As 1 − exp (absolute error ~1e-16; expm1's relative accuracy
    # near x = 0 is not needed for a gradient weight, and numpy's expm1 is 3× slower).
    e = np.exp(x)
    w = np.subtract(1.0, e)
    if estimator == "k3_clamped":
        # verl's clamps, with e^x already at hand: |x| ≤ 20 and e^x − x − 1 ≤ 10.
        with np.errstate(invalid="ignore"):
            e -= x
            keep = (e <= K3_VALUE_CLAMP + 1.0) & (x >= -K3_X_CLAMP) & (x <= K3_X_CLAMP)
        w[~keep] = 0.0
    return w


def kl_penalty_grad(estimator: str, log_p: np.ndarray, log_ref: np.ndarray, pi: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Gradient on the logits of the group's KL penalty (to be *added* to the loss gradient).

    ``log_p``, ``log_ref``, ``pi``: (..., K); ``y``: (..., N) the group's rollouts.  The
    sampled estimators average over the N rollouts (every rollout counts, as in the
    trainers' loss masks): ``(1/N) Σ_n w_n (e_{y_n} − π)`` with :func:`kl_penalty_weights`;
    ``"exact"`` does not use ``y``.  Formulas in the module docstring.
    """
    if estimator == "exact":
        return kl_logit_grad(log_p, log_ref, pi)
    w = kl_penalty_weights(estimator, log_p, log_ref, y)
    out = scatter_add(y, w, pi.shape[-1])
    out -= row_sum(w) * pi
    out /= y.shape[-1]
    return out


def kl_penalty_mean(estimator: str, log_p: np.ndarray, log_ref: np.ndarray) -> np.ndarray:
    """Expected :func:`kl_penalty_grad` over the rollouts ``y ~ π`` (module docstring's last column).

    ``"exact"``, ``"k2"``, ``"k3_is"``: ``∇KL(π‖π_ref)``; ``"k1"``: 0; ``"k3"``, ``"k3_clamped"``:
    ``q − π·Σq`` with ``q = (π − π_ref)`` on the live (and, clamped, unclamped) modes.
    """
    if estimator in ("exact", "k2", "k3_is"):
        return kl_logit_grad(log_p, log_ref)
    pi = np.exp(log_p)
    if estimator == "k1":
        return np.zeros(np.broadcast_shapes(np.shape(log_p), np.shape(log_ref)))
    live = np.isfinite(log_p)
    keep = live
    if estimator == "k3_clamped":
        with np.errstate(invalid="ignore"):
            keep = live & k3_unclamped(np.subtract(log_ref, log_p))
    q = np.where(keep, pi - np.exp(log_ref), 0.0)
    q -= row_sum(q) * pi
    return q
