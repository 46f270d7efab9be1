"""Optimisers on the logits of a tabular softmax policy: SGD and Adam(W) (theory §8.2).

A sampled rule (:class:`~modesim.sampled.SampledRL`, :class:`~modesim.sampled.SampledSD`)
computes an ascent direction ``ĝ`` on the logits θ (shape ``(..., K)``, one row per batch
entry) and hands it to its optimiser, which returns the new (unnormalised) logits:

- :class:`SGD`: ``θ ← θ + lr·clip(ĝ)``.  The expected update is ``lr·E ĝ``, so the rule
  has a mean field (``velocity``) when nothing is clipped.
- :class:`Adam`: PyTorch's ``AdamW`` (decoupled weight decay; Loshchilov & Hutter,
  arXiv 1711.05101; ``torch.optim.AdamW``, the optimiser that TRL's ``Trainer``, verl, SDPO
  and OPSD use), with ``g = −clip(ĝ)`` the gradient of the loss and ``t`` the step count::

      θ ← θ·(1 − lr·λ_wd)
      m ← m + (1 − β1)(g − m)              (torch: exp_avg.lerp_(g, 1 − β1))
      v ← β2·v + (1 − β2)·g²
      θ ← θ − (lr/(1 − β1^t))·m / (√v/√(1 − β2^t) + ε)

  Moments live in ``State.optimiser`` as an :class:`AdamState` (a typed, picklable
  NamedTuple), one row per batch entry.  Adam's update is not a function of the policy
  alone, so an Adam rule has no ``velocity``.

``clip`` is ``torch.nn.utils.clip_grad_norm_`` applied **per batch entry**:
``ĝ ← ĝ·min(1, c/(‖ĝ‖₂ + 1e-6))`` with ``c = max_grad_norm`` (None: no clipping).  The
trainers clip the norm of the gradient of *all* parameters of a network; a tabular policy
has one logit row per prompt, and clipping each row keeps the batch entries independent
(the chunking contract of :mod:`modesim.sampled.sampling`).  With one prompt per run the
two agree.

**Logit gauge.**  Rules store normalised log-probabilities, i.e. logits up to a constant per
row.  Every gradient here is a function of the policy only and sums to zero, and decoupled
weight decay scales θ (``(θ + k)(1 − lr·λ) = θ(1 − lr·λ) + const``), so the policy sequence
does not depend on the gauge: Adam on the normalised log-policy is Adam on any logits of
the same policy.  On a tabular policy, weight decay is tempering: ``π ← π^{1 − lr·λ}``
(renormalised), a pull toward uniform at rate ``lr·λ`` per step.

Chunking: every operation is elementwise or a reduction over one row, so stepping a slice of
the state (moments included) gives the same slice of the stepped whole, bit for bit.

Raises ``ValueError`` naming the argument for out-of-range hyperparameters (β1, β2 in
[0, 1), ε > 0, weight decay ≥ 0, max_grad_norm > 0 or None); the rule refuses
``lr·weight_decay ≥ 1`` (a non-positive temperature).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from .. import _checks as chk
from .sampling import normalise_rows

__all__ = ["checked_step", "check_kl_step", "SGD", "Adam", "AdamState", "optimiser", "clip_rows"]


class AdamState(NamedTuple):
    """Adam's moments, one row per batch entry (``State.optimiser``; theory §8.2, TC5).

    A plain record (it checks nothing; :meth:`Adam.apply` refuses anything else).

    Attributes
    ----------
    m : ndarray, shape (..., K)
        First moment of the loss gradient (biased; ``exp_avg`` in PyTorch).
    v : ndarray, shape (..., K)
        Second raw moment (biased; ``exp_avg_sq``).
    count : int
        Steps taken (``t`` of the bias corrections ``1 − β^t``).
    """

    m: np.ndarray
    v: np.ndarray
    count: int


def _norm_param(value, name):
    if value is None:
        return None
    return chk.real(value, name, low=0.0, low_open=True)


def clip_rows(g: np.ndarray, max_norm) -> np.ndarray:
    """``g·min(1, c/(‖g‖₂ + 1e-6))`` per row, in place (``torch.nn.utils.clip_grad_norm_`` per entry).

    ``max_norm`` is ``c`` (a float or an array broadcasting against the batch axes); rows
    of norm at most ``c − 1e-6`` are returned unchanged.
    """
    norm = np.sqrt(np.einsum("...k,...k->...", g, g))[..., None]
    norm += 1e-6
    coef = np.divide(chk.col(max_norm), norm)
    np.minimum(coef, 1.0, out=coef)
    g *= coef
    return g


@dataclass(frozen=True)
class SGD:
    """Plain gradient steps on the logits: ``θ ← θ + lr·clip(ĝ)`` (theory §8.2; module docstring).

    The default optimiser of the sampled rules; without clipping the expected update is
    ``lr·E ĝ``, the mean field of theory §2.3, §3.6 and §6.  ``lr`` is the rule's, in logit
    units per unit of ``ĝ``.

    Parameters
    ----------
    max_grad_norm : float, array or None
        Per-entry gradient clipping (``c`` above); None (default) clips nothing.

    Raises
    ------
    ValueError
        Naming ``max_grad_norm`` unless it is None or a finite number > 0 (or such an array).

    >>> from modesim.sampled import SGD
    >>> SGD().linear, SGD(max_grad_norm=1.0).linear
    (True, False)
    """

    max_grad_norm: float | None = None

    def __post_init__(self):
        object.__setattr__(self, "max_grad_norm", _norm_param(self.max_grad_norm, "max_grad_norm"))

    @property
    def linear(self) -> bool:
        """True when the expected update is ``lr·E ĝ`` (no clipping): the rule has a mean field."""
        return self.max_grad_norm is None

    def params(self) -> tuple:
        """Array-valued hyperparameters (their shapes join the run's batch shape)."""
        return () if self.max_grad_norm is None else (self.max_grad_norm,)

    def init(self, shape: tuple[int, ...]) -> None:
        """SGD has no state (``State.optimiser`` stays None)."""
        return None

    def apply(self, opt_state, direction: np.ndarray, log_policy: np.ndarray, lr):
        """New logits ``log π + lr·clip(ĝ)`` (``direction`` is overwritten) and the optimiser state."""
        if self.max_grad_norm is not None:
            clip_rows(direction, self.max_grad_norm)
        direction *= chk.col(lr)
        direction += log_policy
        return direction, None


@dataclass(frozen=True)
class Adam:
    """Adam with decoupled weight decay on the logits (PyTorch ``AdamW``; theory §8.2, TC5).

    Defaults are PyTorch's and Hugging Face ``TrainingArguments``' (``adam_beta1=0.9``,
    ``adam_beta2=0.999``, ``adam_epsilon=1e-8``, ``weight_decay=0.0``); verl's FSDP optimiser
    config uses ``weight_decay=0.01`` (``verl/trainer/config/optim/fsdp.yaml``).

    Parameters
    ----------
    beta1, beta2 : float or array in [0, 1)
        Decay rates of the first and second moments.
    eps : float or array > 0
        Added to ``√v̂`` (after the bias correction, as PyTorch does).
    weight_decay : float or array >= 0
        Decoupled weight decay λ: ``θ ← θ(1 − lr·λ)`` before each step (tempering on a
        tabular policy).  The rule requires ``lr·λ < 1``.
    max_grad_norm : float, array or None
        Per-entry gradient clipping before the moments (None: none).  Hugging Face
        ``TrainingArguments.max_grad_norm`` and verl's ``clip_grad`` default to 1.0.

    Raises
    ------
    ValueError
        Naming ``beta1``/``beta2`` (outside [0, 1)), ``eps`` (not > 0), ``weight_decay``
        (< 0) or ``max_grad_norm`` (not None or > 0); :meth:`apply` on a state without Adam
        moments (start the run with the rule's ``init``).

    Notes
    -----
    Sources: ``torch.optim.AdamW`` and ``torch.nn.utils.clip_grad_norm_`` documentation;
    Loshchilov & Hutter, arXiv 1711.05101 (theory §8.2, TC5).

    Examples
    --------
    >>> import modesim as ms
    >>> from modesim.sampled import Adam
    >>> rule = ms.SampledRL("grpo", optimiser=Adam(), lr=0.05, seed=0)
    >>> state = ms.iterate(rule, ms.make_task([0.5, 0.3, 0.2], [1, 1, 0]), 3).final
    >>> type(state.optimiser).__name__, state.optimiser.count
    ('AdamState', 3)
    """

    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8
    weight_decay: float = 0.0
    max_grad_norm: float | None = None

    def __post_init__(self):
        object.__setattr__(self, "beta1", chk.real(self.beta1, "beta1", low=0.0, high=1.0, high_open=True))
        object.__setattr__(self, "beta2", chk.real(self.beta2, "beta2", low=0.0, high=1.0, high_open=True))
        object.__setattr__(self, "eps", chk.real(self.eps, "eps", low=0.0, low_open=True))
        object.__setattr__(self, "weight_decay", chk.real(self.weight_decay, "weight_decay", low=0.0))
        object.__setattr__(self, "max_grad_norm", _norm_param(self.max_grad_norm, "max_grad_norm"))

    @property
    def linear(self) -> bool:
        """Always False: Adam's update depends on its moments, not on the policy alone."""
        return False

    def params(self) -> tuple:
        """Array-valued hyperparameters (their shapes join the run's batch shape)."""
        clip = () if self.max_grad_norm is None else (self.max_grad_norm,)
        return (self.beta1, self.beta2, self.eps, self.weight_decay, *clip)

    def init(self, shape: tuple[int, ...]) -> AdamState:
        """Zero moments of the run's shape ``batch + (K,)``, step count 0."""
        return AdamState(np.zeros(shape), np.zeros(shape), 0)

    def apply(self, opt_state: AdamState, direction: np.ndarray, log_policy: np.ndarray, lr):
        """New logits and moments for the ascent direction ``ĝ`` (overwritten).

        The previous moments are not modified (``step`` stays a pure function of the state).
        """
        if not isinstance(opt_state, AdamState):
            raise ValueError(
                f"the state's optimiser must be an AdamState (start the run with this rule's init); "
                f"got {chk.describe(opt_state)}"
            )
        if self.max_grad_norm is not None:
            clip_rows(direction, self.max_grad_norm)
        # g = −ĝ is the loss gradient; its sign is folded into the arithmetic below.
        t = opt_state.count + 1
        b1, b2 = chk.col(self.beta1), chk.col(self.beta2)
        m = direction + opt_state.m  # m ← m + (1 − β1)(g − m) = m − (1 − β1)(ĝ + m)
        m *= b1 - 1.0
        m += opt_state.m
        v = opt_state.v * b2  # v ← β2 v + (1 − β2) g²
        big = max(float(direction.max(initial=0.0)), -float(direction.min(initial=0.0)))   # no |ĝ| temporary
        g2 = np.multiply(direction, direction, out=direction)
        g2 *= 1.0 - b2
        v += g2
        if not np.isfinite(np.max(v, initial=0.0)):   # v ≥ 0: its maximum is finite iff every entry is
            # m/√v would read inf/inf or x/inf = 0: a silent zero step where AdamW's is ±lr.
            raise ValueError(
                f"the step is too large: the gradient (largest |ĝ| = {big:.3g}) squares beyond the float "
                "range in Adam's second moment; allowed: gradients below 1e154 (a smaller beta)"
            )
        bc1 = 1.0 - np.power(b1, t)
        bc2 = 1.0 - np.power(b2, t)
        # m̂/(√v̂ + ε) = (√bc2/bc1)·m/(√v + ε√bc2): one pass fewer than dividing √v by √bc2.
        root = np.sqrt(bc2)
        denom = np.sqrt(v, out=g2)
        denom += chk.col(self.eps) * root
        step = np.divide(m, denom, out=denom)
        step *= -chk.col(lr) * root / bc1
        wd = self.weight_decay
        if isinstance(wd, np.ndarray) or wd != 0.0:
            step += log_policy * (1.0 - chk.col(lr) * chk.col(wd))
        else:
            step += log_policy
        return step, AdamState(m, v, t)


def checked_step(rule, state, task):
    """``rule``'s sampled direction and optimiser step, normalised per row and refused with a
    named error when it leaves the float range (huge ``lr`` or ``beta``): returns
    ``(new log-policy, optimiser state, silent)``.

    The arithmetic runs without warnings.  A logit pushed below ``−1.8e308`` becomes ``−inf``
    (probability 0, which is what it is to the last digit); a step whose logits would be NaN
    or ``+inf`` is a ``ValueError``, never a silent NaN.
    """
    with np.errstate(over="ignore", invalid="ignore"):
        direction, silent = rule.estimate(state, task)
        bad = not np.isfinite(direction).all()        # huge β or weights: the direction itself overflowed
        if not bad:
            new, opt = rule.optimiser.apply(state.optimiser, direction, state.log_policy, rule.lr)
            bad = np.isnan(new).any() or np.isposinf(new).any()
        if not bad:
            new = normalise_rows(new)
    if bad:
        raise ValueError(
            f"the step is too large: lr·direction overflows the float range (lr={chk.describe(rule.lr)}, "
            f"beta={chk.describe(rule.beta)}); allowed: a learning rate and KL strength whose steps "
            "keep the logits finite"
        )
    return new, opt, silent


def check_kl_step(lr, beta, optimiser=None) -> None:
    """Refuse ``lr·beta >= 4`` for a plain gradient step on a KL penalty (theory §8.2).

    The penalty ``β·KL(π‖π_ref)`` has logit gradient ``β·π ⊙ (log π/π_ref − KL)``, whose
    Jacobian at ``π = π_ref`` is ``β·(diag π − π πᵀ)``, the covariance of a one-hot draw, with
    eigenvalues in ``[0, β/2]`` (1/2 is reached by a reference with two modes of 1/2 each).
    An explicit step of size ``lr`` therefore returns to every reference only when
    ``lr·β < 4``; beyond it the step overshoots (at lr·β = 4.1 the map settles on a 2-cycle
    away from π_ref = (1/2, 1/2)) and, as β grows, lands the policy on a vertex (a reviewer's
    ``SampledRL(beta=1e300)`` put all its mass on an invalid mode).  Adam's step is bounded by
    ``lr`` whatever the gradient, so an :class:`Adam` optimiser is exempt.

    Raises
    ------
    ValueError
        ``lr·beta ≥ 4`` anywhere on the grid, with SGD (``optimiser`` None or :class:`SGD`).
    """
    if isinstance(optimiser, Adam):
        return
    with np.errstate(over="ignore"):
        bad = np.asarray(lr) * np.asarray(beta) >= 4.0
    if np.any(bad):
        raise ValueError(
            f"lr={chk.describe(lr)} with beta={chk.describe(beta)}{chk.at_index(bad) if np.ndim(bad) else ''}: "
            "a gradient step on the KL penalty overshoots its reference when lr·beta ≥ 4 (the "
            "penalty's curvature in the logits reaches beta/2) and, for large beta, sends the policy "
            "to a vertex; allowed: lr·beta < 4, or optimiser='adam'"
        )


def optimiser(value, name: str = "optimiser"):
    """An optimiser from ``value``: an :class:`SGD` or :class:`Adam` instance, or ``"sgd"``/``"adam"``
    (their defaults).

    Raises
    ------
    ValueError
        Naming ``name`` and the value for anything else.
    """
    if isinstance(value, (SGD, Adam)):
        return value
    if isinstance(value, str) and value in ("sgd", "adam"):
        return SGD() if value == "sgd" else Adam()
    raise ValueError(f"{name} must be 'sgd', 'adam', SGD(...) or Adam(...); got {chk.describe(value)}")
