"""The theorem registry behind ``modesim verify`` (MATH.md, statements R1–R4 and S1–S8).

Each :class:`Theorem` bundles a statement (one line and LaTeX), its assumptions, the
MATH section, a hypothesis strategy drawing :class:`Instance` objects that satisfy the
assumptions (built from :mod:`modesim.testing`) and a check.  A check measures one or
more **clauses**; each clause is reported as a *margin* that is positive exactly when
the clause holds:

- an equality ``x = y`` is measured as ``tolerance − |x − y|`` (relative where stated);
- a strict inequality ``a > b`` is measured as (a normalised) ``a − b``.

The check takes an injectable implementation (``impl=``): the rule or closed form
under test.  Passing a deliberately wrong one makes the check fail, which is how the
tests show that a check has teeth.

A :class:`Control` drops one assumption of a theorem (or swaps in the rule the theorem
is *not* about) and expects a counterexample: a control passes when :func:`verify`
finds one.

>>> from modesim.theorems import REGISTRY, get, verify
>>> [t.id for t in REGISTRY][:4]
['R1', 'R2', 'R3', 'R4']
>>> verify(get("S4"), examples=20).ok
True
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np
from hypothesis import HealthCheck, Phase, find, settings
from hypothesis import strategies as st
from hypothesis.errors import NoSuchExample

from .distill import SelfDistillation, sd_optimum
from .dynamics import iterate, map_jacobian
from .metrics import entropy
from .rl import NaturalPG, SoftmaxPG, kl_regularised_optimum
from .rule import apply_map
from .simplex import log_conditional, log_mass, log_normalise
from .task import Task, make_task
from .teachers import ConditionedDemos, CopyTeacher, TiltTeacher
from .testing import alphas, betas, etas, kappas, tasks

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
    "f_alpha",
    "f_alpha_prime",
    "s8_eigenvalue",
]


# ------------------------------------------------------------------ formulas (MATH §3.4–3.5)


def f_alpha(p, alpha):
    """``f_α(p) = p·log(1 + α/((1 − α)·p))`` (MATH §3.4 S4); ``f_α(0) = 0``."""
    p = np.asarray(p, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(p > 0, p * np.log1p(alpha / ((1.0 - alpha) * p)), 0.0)


def f_alpha_prime(p, alpha):
    """``f_α'(p) = log(1 + u) − u/(1 + u)``, ``u = α/((1 − α)·p)`` (MATH §3.5 S8); > 0."""
    u = alpha / ((1.0 - alpha) * np.asarray(p, dtype=np.float64))
    return np.log1p(u) - u / (1.0 + u)


def s8_eigenvalue(K: int, alpha: float, beta: float = 0.0) -> float:
    """``λ = 1 + (1/K)·f_α'(1/K)/(1 + β)``: the S8 eigenvalue at the uniform point (MATH §3.5)."""
    return float(1.0 + f_alpha_prime(1.0 / K, alpha) / (K * (1.0 + beta)))


# ------------------------------------------------------------------ data types


@dataclass(frozen=True, eq=False)
class Instance:
    """One drawn instance: a task and named scalar parameters (α, β, η, κ, rounds…)."""

    task: Task
    params: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self):
        object.__setattr__(self, "params", MappingProxyType(dict(self.params)))

    def __getitem__(self, name: str):
        return self.params[name]

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"Instance(base={_floats(self.task.base)}, valid={self.task.valid.tolist()}, {args})"


@dataclass(frozen=True)
class Outcome:
    """Result of a check: the margin of each clause (positive = holds).

    Attributes
    ----------
    parts : mapping of clause name to margin
    error : str
        Non-empty when the implementation raised instead of returning (counts as a
        violation with margin −inf).
    """

    parts: Mapping[str, float]
    error: str = ""

    @property
    def margin(self) -> float:
        """Worst clause margin (−inf on an error)."""
        if self.error:
            return -math.inf
        return min(self.parts.values()) if self.parts else math.inf

    @property
    def holds(self) -> bool:
        """True when every clause holds (margin > 0)."""
        return self.margin > 0

    @property
    def worst(self) -> str:
        """Name of the clause with the smallest margin."""
        if self.error:
            return "error"
        return min(self.parts, key=self.parts.get) if self.parts else ""

    def __str__(self) -> str:
        if self.error:
            return f"error: {self.error}"
        body = ", ".join(f"{k}={v:+.3g}" for k, v in self.parts.items())
        return f"{'holds' if self.holds else 'VIOLATED'} (margins: {body})"


@dataclass(frozen=True, eq=False)
class Theorem:
    """One statement of MATH.md with a strategy and a check.

    Attributes
    ----------
    id : str
        Identifier as in MATH.md (``"S4"``); statements we added carry a letter suffix.
    statement : str
        One line, in words.
    latex : str
        The statement in LaTeX.
    assumptions : tuple of str
        What the strategy guarantees for every drawn instance.
    section : str
        MATH.md section, e.g. ``"§3.4"``.
    clauses : mapping of clause name to its description (measured quantity and tolerance)
    strategy : SearchStrategy of Instance
    default_impl : object
        The implementation the statement is about (closed form or rule factory); the
        signature is stated in ``impl_doc``.
    impl_doc : str
    code : str
        Lines of Python using the public API that show the statement on an instance,
        run after ``task`` and the instance parameters are defined.  Filled in with
        :meth:`str.format` (``{teacher}`` becomes the instance's teacher), so literal
        braces must be doubled.
    """

    id: str
    statement: str
    latex: str
    assumptions: tuple[str, ...]
    section: str
    clauses: Mapping[str, str]
    strategy: st.SearchStrategy
    default_impl: object
    impl_doc: str
    code: str
    _check: Callable[..., dict] = field(repr=False)

    def check(self, instance: Instance, impl=None, *, parts=None) -> Outcome:
        """Measure every clause (or only ``parts``) on ``instance`` with ``impl``.

        Parameters
        ----------
        instance : Instance
        impl : object, optional
            Replaces :attr:`default_impl` (see :attr:`impl_doc` for its signature).
        parts : iterable of str, optional
            Clause names to measure (default: all).
        """
        wanted = tuple(self.clauses) if parts is None else tuple(parts)
        unknown = [p for p in wanted if p not in self.clauses]
        if unknown:
            raise ValueError(
                f"parts has unknown clause(s) {unknown} for {self.id}; allowed: {list(self.clauses)}"
            )
        impl = self.default_impl if impl is None else impl
        try:
            with np.errstate(all="ignore"):
                measured = self._check(instance, impl, wanted)
        except (ValueError, FloatingPointError, ArithmeticError, np.linalg.LinAlgError) as exc:
            return Outcome({}, error=f"{type(exc).__name__}: {exc}")
        return Outcome(
            MappingProxyType({k: float(np.nan_to_num(v, nan=-np.inf)) for k, v in measured.items()})
        )

    def snippet(self, instance: Instance) -> str:
        """A runnable Python snippet that rebuilds ``instance`` and shows the statement."""
        return _snippet(self.id, "get", self.code, instance, self.clauses)


@dataclass(frozen=True, eq=False)
class Control:
    """A negative control: a theorem with one assumption dropped, expected to fail.

    ``verify`` passes a control when it **finds** a counterexample.

    Attributes
    ----------
    id : str
        ``"<theorem>:<what changed>"``.
    theorem : str
        Id of the theorem whose check is used.
    dropped : str
        The assumption dropped (or the rule swapped in), in words.
    strategy : SearchStrategy of Instance
        Draws instances *without* the assumption.
    parts : tuple of str
        The clauses judged (the ones the dropped assumption is needed for).
    impl : object or None
        Implementation passed to the theorem's check (None: its default).
    code : str
        Snippet lines replacing the theorem's ``code`` (when its names do not apply).
    """

    id: str
    theorem: str
    dropped: str
    strategy: st.SearchStrategy
    parts: tuple[str, ...]
    impl: object = None
    code: str = ""

    @property
    def statement(self) -> str:
        return f"{self.theorem} fails when: {self.dropped}"

    def check(self, instance: Instance, impl=None) -> Outcome:
        """The theorem's check on the judged clauses (``impl`` overrides the control's)."""
        return get(self.theorem).check(
            instance, impl if impl is not None else self.impl, parts=self.parts
        )

    def snippet(self, instance: Instance) -> str:
        """A runnable snippet reproducing the counterexample."""
        th = get(self.theorem)
        code = self.code or th.code
        return _snippet(self.id, "get_control", code, instance, {p: th.clauses[p] for p in self.parts})


@dataclass(frozen=True, eq=False)
class Report:
    """Result of :func:`verify` for one theorem or control.

    Attributes
    ----------
    id, kind : str
        ``kind`` is ``"theorem"`` or ``"control"``.
    examples : int
        Instances checked (including those hypothesis tried while shrinking).
    worst_margin : float
        Smallest clause margin seen (negative = a violation was seen).
    worst_clause : str
        Clause that gave ``worst_margin``.
    counterexample : Instance or None
        The shrunk violating instance, if one was found.
    outcome : Outcome or None
        The check's outcome on ``counterexample``.
    snippet : str
        Runnable Python reproducing ``counterexample`` ("" when there is none).
    seconds : float
    """

    id: str
    kind: str
    examples: int
    worst_margin: float
    worst_clause: str
    counterexample: Instance | None
    outcome: Outcome | None
    snippet: str
    seconds: float

    @property
    def ok(self) -> bool:
        """Theorem: no counterexample found.  Control: a counterexample was found."""
        found = self.counterexample is not None
        return found if self.kind == "control" else not found

    @property
    def verdict(self) -> str:
        if self.kind == "control":
            return "ok (counterexample found)" if self.ok else "FAIL (no counterexample)"
        return "ok" if self.ok else "FAIL (counterexample)"

    def as_dict(self) -> dict:
        return {
            "id": self.id,
            "kind": self.kind,
            "ok": self.ok,
            "verdict": self.verdict,
            "examples": self.examples,
            "worst_margin": _json_float(self.worst_margin),
            "worst_clause": self.worst_clause,
            "counterexample": None if self.counterexample is None else repr(self.counterexample),
            "outcome": None if self.outcome is None else {
                "parts": {k: _json_float(v) for k, v in self.outcome.parts.items()},
                "error": self.outcome.error,
            },
            "snippet": self.snippet,
            "seconds": round(self.seconds, 3),
        }


# ------------------------------------------------------------------ helpers


def _floats(a) -> list[float]:
    return [float(x) for x in np.asarray(a).ravel()]


def _json_float(x: float):
    return x if math.isfinite(x) else str(x)


def _snippet(ident: str, getter: str, code: str, inst: Instance, clauses: Mapping[str, str]) -> str:
    params = dict(inst.params)
    lines = [
        "import numpy as np",
        "import modesim as ms",
        f"from modesim.theorems import Instance, {getter}",
        "",
        f"task = ms.make_task({_floats(inst.task.base)!r}, {inst.task.valid.tolist()!r})",
    ]
    lines += [f"{k} = {v!r}" for k, v in params.items()]
    teacher = "ms.TiltTeacher(kappa)" if "kappa" in params else "ms.CopyTeacher(alpha)"
    lines.append(code.rstrip("\n").format(teacher=teacher, **params))
    keys = ", ".join(f"{k!r}: {k}" for k in params)
    lines.append("# clauses: " + "; ".join(f"{k}: {v}" for k, v in clauses.items()))
    lines.append(f"print({getter}({ident!r}).check(Instance(task, {{{keys}}})))")
    return "\n".join(lines) + "\n"


def _instances(task_strategy, **params) -> st.SearchStrategy:
    """Strategy of :class:`Instance` from a task strategy and parameter strategies."""
    return st.builds(lambda t, p: Instance(t, p), task_strategy, st.fixed_dictionaries(params))


def _teacher(inst: Instance):
    """Copy teacher for instances with ``alpha``; identity tilt for those with ``kappa``."""
    return TiltTeacher(inst["kappa"]) if "kappa" in inst.params else CopyTeacher(inst["alpha"])


def _valid_pairs(p: np.ndarray, valid: np.ndarray):
    """Index pairs (y, y') of valid modes with ``p[y] > p[y']``."""
    idx = np.flatnonzero(valid)
    return [(i, j) for i in idx for j in idx if p[i] > p[j]]


def _log_ratio_gains(log_before: np.ndarray, log_after: np.ndarray, valid: np.ndarray):
    """For valid pairs with π(y) > π(y'): (log-ratio before, its change)."""
    pairs = _valid_pairs(log_before, valid)
    before = np.array([log_before[i] - log_before[j] for i, j in pairs])
    change = np.array([log_after[i] - log_after[j] for i, j in pairs]) - before
    return before, change


def _relative_amplification(log_before, log_after, valid) -> float:
    """``min (Δ log ratio)/(log ratio)`` over valid pairs: > 0 iff every gap grew."""
    before, change = _log_ratio_gains(log_before, log_after, valid)
    return float(np.min(change / before)) if before.size else math.inf


def _compounding(teacher, beta: float) -> SelfDistillation:
    """The compounding map of MATH §3.5 (current policy as teacher base, demo source and reference)."""
    return SelfDistillation(teacher=teacher, beta=beta, teacher_base="current", reference="current")


def _rl_optimum(task: Task, beta: float) -> np.ndarray:
    return kl_regularised_optimum(task, beta, log=True)


def _sd_reverse(task: Task, teacher, beta: float) -> np.ndarray:
    return sd_optimum(task, teacher=teacher, beta=beta, log=True)


def _sd_forward(task: Task, teacher, beta: float) -> np.ndarray:
    return sd_optimum(task, teacher=teacher, beta=beta, objective="forward", log=True)


def _demo(task: Task) -> np.ndarray:
    """``D = π0(·|C)`` (self-generated demonstrations from the base)."""
    return ConditionedDemos().distribution(task.log_base, task)


# ------------------------------------------------------------------ checks


def _check_r1(inst, impl, parts):
    task, lp0 = inst.task, inst.task.log_base
    lp = np.asarray(impl(task, inst["beta"]))
    out = {}
    for name, mask in (("valid_ratios", task.valid), ("invalid_ratios", ~task.valid)):
        if name in parts:
            idx = np.flatnonzero(mask)
            d = (lp[idx] - lp0[idx]) if idx.size else np.zeros(1)
            out[name] = 1e-9 - float(np.max(d) - np.min(d))
    return out


def _check_r2(inst, impl, parts):
    task = inst.task
    grid = inst["beta"] * np.logspace(0, -3, 8)
    log_invalid = [log_mass(np.asarray(impl(task, b)), ~task.valid) for b in grid]
    out = {}
    if "mass_increases" in parts:
        # π*(C) rising as β falls, measured on log π*(¬C), which does not round to 0.
        out["mass_increases"] = float(np.min(-np.diff(log_invalid)))
    if "filter_limit" in parts:
        target = np.exp(log_conditional(task.log_base, task.valid))
        tiny = np.exp(np.asarray(impl(task, 1e-3 * grid[-1])))
        out["filter_limit"] = 1e-12 - float(np.abs(tiny - target).sum())
    return out


def _check_r3(inst, impl, parts):
    task = inst.task
    traj = iterate(impl(inst["eta"]), task, inst["rounds"])
    lp = traj.log_policy
    out = {}
    if "conditional_fixed" in parts:
        cond = np.stack([log_conditional(x, task.valid) for x in lp])
        v = task.valid
        out["conditional_fixed"] = 1e-9 - float(np.max(np.abs(cond[:, v] - cond[0, v])))
    if "mass_rises" in parts:
        out["mass_rises"] = 1e-12 + float(np.min(np.diff([log_mass(x, task.valid) for x in lp])))
    return out


def _check_r4(inst, impl, parts):
    task, eta = inst.task, inst["eta"]
    lp0 = task.log_base
    lp1 = impl(eta).step(impl(eta).init(task), task).log_policy
    p = task.base
    J = float(p[task.valid].sum())
    pairs = _valid_pairs(lp0, task.valid)
    _, change = _log_ratio_gains(lp0, lp1, task.valid)
    expected = np.array([eta * (p[i] - p[j]) * (1.0 - J) for i, j in pairs])
    out = {}
    if "formula" in parts:
        out["formula"] = 1e-6 - float(np.max(np.abs(change / expected - 1.0)))
    if "amplifies" in parts:
        out["amplifies"] = _relative_amplification(lp0, lp1, task.valid)
    return out


def _sd_objective(pi, G, log_ref, beta):
    """``F(π) = Σ_y π(y)(log π(y) − G(y)) + β·KL(π‖π_ref)`` with ``G = E_d log T(·|d)``."""
    with np.errstate(divide="ignore", invalid="ignore"):
        lp = np.where(pi > 0, np.log(np.where(pi > 0, pi, 1.0)), 0.0)
    return float(np.sum(pi * (lp - G)) + beta * np.sum(pi * (lp - log_ref)))


def _check_s1(inst, impl, parts):
    from scipy.optimize import minimize

    task, beta = inst.task, inst["beta"]
    teacher = _teacher(inst)
    T = teacher.matrix(task.log_base)
    G = _demo(task) @ np.log(T)  # E_{d~D} log T(y|d), by brute force over d
    lp = np.asarray(impl(task, teacher, beta))
    out = {}
    if "stationary" in parts:
        # Lagrange condition of min F on the simplex: (1+β)·log π − G − β·log π0 is constant.
        s = (1.0 + beta) * lp - G - beta * task.log_base
        out["stationary"] = 1e-9 - float(np.max(s) - np.min(s))
    if "beats_optimiser" in parts:

        def F(z):
            q = np.exp(log_normalise(z))
            lq = log_normalise(z)
            g = (1.0 + beta) * (lq + 1.0) - G - beta * task.log_base
            return float(np.sum(q * ((1 + beta) * lq - G - beta * task.log_base))), q * (g - q @ g)

        res = minimize(F, task.log_base.copy(), jac=True, method="L-BFGS-B",
                       options={"gtol": 1e-12, "ftol": 1e-15, "maxiter": 2000})
        closed = _sd_objective(np.exp(lp), G, task.log_base, beta)
        out["beats_optimiser"] = 1e-10 - (closed - float(res.fun))
    return out


def _check_s2(inst, impl, parts):
    task = inst.task
    teacher = CopyTeacher(inst["alpha"])
    out = {}
    if "forward_preserves" in parts:
        lp = np.asarray(impl(task, teacher, inst["beta"]))
        out["forward_preserves"] = 1e-9 - float(np.max(np.abs(lp - task.log_base)))
    if "jensen" in parts:
        demo = _demo(task)
        log_demo = ConditionedDemos().log_distribution(task.log_base, task)
        gap = teacher.expected_log(task.log_base, demo) - teacher.log_mixture(task.log_base, log_demo)
        out["jensen"] = 1e-12 - float(np.max(gap))
    return out


def _check_s3(inst, impl, parts):
    task = inst.task
    teacher = _teacher(inst)
    T = teacher.matrix(task.log_base)
    demo = _demo(task)
    delta = np.log(demo @ T) - demo @ np.log(T)  # Δ(y) = log E_d T − E_d log T
    out = {}
    if "penalty_form" in parts:
        closed = log_normalise(log_conditional(task.log_base, task.valid) - delta)
        lp = np.asarray(impl(task, teacher, 0.0))
        out["penalty_form"] = 1e-9 - float(np.max(np.abs(lp - closed)))
    if "penalty_nonnegative" in parts:
        out["penalty_nonnegative"] = 1e-12 + float(np.min(delta))
    return out


def _check_s4(inst, impl, parts, *, general=False):
    task, beta = inst.task, inst["beta"]
    teacher = _teacher(inst)
    lp0 = task.log_base
    out = {}
    formula = "formula_general" if general else "formula"
    if formula in parts:
        a = inst["alpha"]
        demo = _demo(task)
        Ibar = CopyTeacher(a).expected_log(lp0, demo) - lp0
        v = task.valid
        if general:
            closed = np.log1p(-a) + demo * np.log1p(a / ((1 - a) * task.base))
        else:
            closed = np.log1p(-a) + f_alpha(demo, a)
        out[formula] = 1e-9 - float(np.max(np.abs(Ibar[v] - closed[v])))
    lp = None
    if {"amplification", "bound", "bound_general"} & set(parts):
        lp = np.asarray(impl(task, teacher, beta))
    if "amplification" in parts:
        out["amplification"] = _relative_amplification(lp0, lp, task.valid)
    for name in ("bound", "bound_general"):
        if name in parts:
            a = inst["alpha"]
            Z = 1.0 if name == "bound" else float(np.exp(log_mass(lp0, task.valid)))
            log_bound = math.log1p(a / ((1 - a) * Z)) / (1 + beta)
            _, change = _log_ratio_gains(lp0, lp, task.valid)
            out[name] = log_bound - float(np.max(change)) if change.size else math.inf
    return out


def _check_s5(inst, impl, parts):
    task, beta, kappa = inst.task, inst["beta"], inst["kappa"]
    lp0 = task.log_base
    lp = np.asarray(impl(task, TiltTeacher(kappa), beta))
    q = _demo(task)
    pairs = _valid_pairs(lp0, task.valid)
    _, change = _log_ratio_gains(lp0, lp, task.valid)
    expected = np.array([kappa * (q[i] - q[j]) / (1 + beta) for i, j in pairs])
    out = {}
    if "formula" in parts:
        out["formula"] = 1e-7 - float(np.max(np.abs(change / expected - 1.0)))
    if "direction" in parts:
        out["direction"] = float(np.min(np.sign(kappa) * change / np.abs(expected)))
    return out


def _check_s6(inst, impl, parts):
    task = inst.task
    rule = impl(_teacher(inst), inst["beta"])
    v = task.valid
    top = int(np.flatnonzero(v)[np.argmax(task.base[v])])
    out = {}
    if "top_gains" in parts:
        lp = iterate(rule, task, inst["rounds"]).log_policy
        gaps = lp[:, [top]] - lp[:, v & (np.arange(task.n_modes) != top)]
        # Log-odds of the top valid mode against every other valid mode, growing each round.
        out["top_gains"] = float(np.min(np.diff(gaps, axis=0)))
    if "uniform_unstable" in parts:
        uniform = v / v.sum()
        rad = np.max(np.abs(np.linalg.eigvals(map_jacobian(rule, task, uniform))))
        out["uniform_unstable"] = float(rad - 1.0)
    if "vertex_stable" in parts:
        vertex = np.eye(task.n_modes)[top]
        rad = np.max(np.abs(np.linalg.eigvals(map_jacobian(rule, task, vertex))))
        out["vertex_stable"] = float(1.0 - rad)
    if "no_demo_is_error" in parts:
        if v.all():
            out["no_demo_is_error"] = math.inf
        else:
            dead = log_normalise(np.where(v, -np.inf, 0.0))
            try:
                apply_map(rule, dead, task)
                out["no_demo_is_error"] = -1.0
            except ValueError:
                out["no_demo_is_error"] = 1.0
    return out


def _check_s7(inst, impl, parts):
    task, rounds = inst.task, inst["rounds"]
    out = {}
    if "sd_entropy_falls" in parts:
        pol = iterate(impl(_teacher(inst), inst["beta"]), task, rounds).policy
        H = np.array([entropy(x, task.valid) for x in pol])
        out["sd_entropy_falls"] = float(np.min(-np.diff(H) / H[:-1]))
    if "rl_entropy_constant" in parts:
        pol = iterate(NaturalPG(eta=1.0), task, rounds).policy
        H = np.array([entropy(x, task.valid) for x in pol])
        out["rl_entropy_constant"] = 1e-9 - float(np.max(np.abs(H - H[0])))
    return out


def _check_s8(inst, impl, parts):
    task, alpha, beta = inst.task, inst["alpha"], inst["beta"]
    K = task.n_modes
    ev = np.linalg.eigvals(map_jacobian(impl(CopyTeacher(alpha), beta), task, np.full(K, 1.0 / K)))
    lam = s8_eigenvalue(K, alpha, beta)
    out = {}
    if "eigenvalue" in parts:
        out["eigenvalue"] = 1e-6 - float(np.max(np.abs(ev - lam)) / lam)
    if "unstable" in parts:
        out["unstable"] = float(np.min(np.abs(ev)) - 1.0)
    return out


# ------------------------------------------------------------------ the registry

_RL_IMPL = "impl(task, beta) -> log π*_β (default: kl_regularised_optimum(task, beta, log=True))"
_SD_IMPL = ("impl(task, teacher, beta) -> log-policy after one round from π0 "
            "(default: sd_optimum(task, teacher=teacher, beta=beta, log=True))")
_MAP_IMPL = ("impl(teacher, beta) -> rule for the compounding map (default: SelfDistillation("
             "teacher, beta=beta, teacher_base='current', reference='current'))")

_PROBS = "entries of π0 ≥ 1e-3, K ≤ 6"

REGISTRY: tuple[Theorem, ...] = (
    Theorem(
        id="R1",
        statement="The KL-regularised RL optimum preserves every probability ratio among valid "
                  "modes (and among invalid modes), for every β > 0.",
        latex=r"\forall \beta>0,\ y,y'\in C:\ \frac{\pi^*_\beta(y)}{\pi^*_\beta(y')}"
              r"=\frac{\pi_0(y)}{\pi_0(y')},\quad \pi^*_\beta\propto\pi_0\,e^{r/\beta}",
        assumptions=("β ∈ [0.01, 100]", _PROBS),
        section="§2.1",
        clauses={
            "valid_ratios": "1e-9 − spread over valid y of log π*(y) − log π0(y)",
            "invalid_ratios": "1e-9 − the same spread over invalid modes",
        },
        strategy=_instances(tasks(), beta=st.floats(0.01, 100.0)),
        default_impl=_rl_optimum,
        impl_doc=_RL_IMPL,
        code="pi = ms.kl_regularised_optimum(task, beta)\n"
             "print('pi*/pi0 on valid modes:', (pi / task.base)[task.valid])  # R1: all equal\n",
        _check=_check_r1,
    ),
    Theorem(
        id="R2",
        statement="As β → 0 the RL optimum tends to the filter π0(·|C), and π*_β(C) increases "
                  "monotonically as β falls.",
        latex=r"\lim_{\beta\to0}\pi^*_\beta=\pi_0(\cdot\mid C),\qquad "
              r"\beta'<\beta\Rightarrow \pi^*_{\beta'}(C)>\pi^*_\beta(C)",
        assumptions=("at least one invalid mode (π0(C) < 1)", "β ∈ [0.05, 10]", _PROBS),
        section="§2.1",
        clauses={
            "mass_increases": "min decrease of log π*_β(¬C) along β, β/10^{3/7}, …, β/1000 (> 0)",
            "filter_limit": "1e-12 − ‖π*_β − π0(·|C)‖₁ at β = 1e-6·β",
        },
        strategy=_instances(tasks(min_invalid=1), beta=st.floats(0.05, 10.0)),
        default_impl=_rl_optimum,
        impl_doc=_RL_IMPL,
        code="for b in (beta, beta / 10, beta / 100):\n"
             "    print(b, ms.kl_regularised_optimum(task, b)[task.valid].sum())  # R2: rises\n"
             "print(ms.filter_limit(task))\n",
        _check=_check_r2,
    ),
    Theorem(
        id="R3",
        statement="Natural policy gradient / mirror descent π_{t+1} ∝ π_t·exp(η r) keeps "
                  "π_t(·|C) = π0(·|C) for every t while π_t(C) rises.",
        latex=r"\pi_{t+1}\propto\pi_t e^{\eta r}\ \Rightarrow\ \pi_t(\cdot\mid C)=\pi_0(\cdot\mid C)"
              r"\ \forall t,\quad \pi_{t+1}(C)\ge\pi_t(C)",
        assumptions=("η ∈ [0.05, 1]", "1–10 rounds", _PROBS),
        section="§2.2",
        clauses={
            "conditional_fixed": "1e-9 − max_t,y∈C |log π_t(y|C) − log π0(y|C)|",
            "mass_rises": "1e-12 + min_t (log π_{t+1}(C) − log π_t(C))",
        },
        strategy=_instances(tasks(), eta=etas(), rounds=st.integers(1, 10)),
        default_impl=lambda eta: NaturalPG(eta=eta),
        impl_doc="impl(eta) -> rule (default: NaturalPG(eta=eta))",
        code="traj = ms.iterate(ms.NaturalPG(eta=eta), task, rounds)\n"
             "print(ms.conditional(traj.policy, task.valid))  # R3: every row equals row 0\n",
        _check=_check_r3,
    ),
    Theorem(
        id="R4",
        statement="Vanilla softmax policy gradient is not ratio preserving: one exact step raises "
                  "log(π_y/π_y') by η(π_y − π_y')(1 − J) > 0 for the richer valid mode y.",
        latex=r"\theta_{t+1}=\theta_t+\eta\,\pi\odot(r-J):\ "
              r"\Delta\log\frac{\pi_y}{\pi_{y'}}=\eta(\pi_y-\pi_{y'})(1-J)>0",
        assumptions=("≥ 2 valid modes with distinct probabilities (5% apart)",
                     "≥ 1 invalid mode (J < 1)", "η ∈ [0.05, 1]", _PROBS),
        section="§2.2",
        clauses={
            "formula": "1e-6 − max relative error of Δ log(π_y/π_y') against η(π_y − π_y')(1 − J)",
            "amplifies": "min over valid pairs of Δ log ratio / log ratio (> 0)",
        },
        strategy=_instances(tasks(min_valid=2, min_invalid=1, distinct=0.05), eta=etas()),
        default_impl=lambda eta: SoftmaxPG(eta=eta),
        impl_doc="impl(eta) -> rule (default: SoftmaxPG(eta=eta))",
        code="traj = ms.iterate(ms.SoftmaxPG(eta=eta), task, 1)\n"
             "print(ms.ratio_table(traj.policy[1], task.valid)[1] / "
             "ms.ratio_table(task.base, task.valid)[1])  # R4: > 1 above the diagonal\n",
        _check=_check_r4,
    ),
    Theorem(
        id="S1",
        statement="The SD optimum π ∝ exp((E_d log T(·|d) + β log π0)/(1 + β)) is the exact "
                  "minimiser of E_d KL(π‖T(·|d)) + β KL(π‖π0) over the simplex.",
        latex=r"\arg\min_\pi\ \mathbb E_{d\sim D}\mathrm{KL}(\pi\|T(\cdot|d))+\beta\,\mathrm{KL}(\pi\|\pi_0)"
              r"\propto\exp\frac{\mathbb E_d\log T(y|d)+\beta\log\pi_0(y)}{1+\beta}",
        assumptions=("copy teacher α ∈ [0.01, 0.95] or identity tilt κ ∈ [−5, 5]",
                     "D = π0(·|C)", "β ∈ [0, 10]", _PROBS),
        section="§3.2",
        clauses={
            "stationary": "1e-9 − spread of (1+β) log π − E_d log T − β log π0 (Lagrange condition)",
            "beats_optimiser": "1e-10 − (F(closed form) − F(L-BFGS optimum))",
        },
        strategy=st.one_of(
            _instances(tasks(), alpha=alphas(), beta=betas()),
            _instances(tasks(), kappa=kappas(), beta=betas()),
        ),
        default_impl=_sd_reverse,
        impl_doc=_SD_IMPL,
        code="print(ms.sd_optimum(task, teacher={teacher}, beta=beta))\n",
        _check=_check_s1,
    ),
    Theorem(
        id="S2",
        statement="For a marginally consistent teacher the forward-KL target (arithmetic mean) "
                  "preserves ratios exactly; pointwise exp E log T ≤ E T (Jensen).",
        latex=r"\mathbb E_{d\sim\pi_0}T(y|d)=\pi_0(y)\ \Rightarrow\ \pi_{\mathrm{fwd}}=\pi_0,"
              r"\qquad e^{\mathbb E_d\log T(y|d)}\le\mathbb E_dT(y|d)",
        assumptions=("every mode valid", "copy teacher on ρ = π0, α ∈ [0.01, 0.95], D = π0",
                     "β ∈ [0, 10]", _PROBS),
        section="§3.2",
        clauses={
            "forward_preserves": "1e-9 − max |log π_fwd − log π0|",
            "jensen": "1e-12 − max_y (E_d log T(y|d) − log E_d T(y|d))",
        },
        strategy=_instances(tasks(all_valid=True), alpha=alphas(), beta=betas()),
        default_impl=_sd_forward,
        impl_doc="impl(task, teacher, beta) -> log forward-KL target (default: sd_optimum(..., "
                 "objective='forward', log=True))",
        code="teacher = ms.CopyTeacher(alpha)\n"
             "print(ms.sd_optimum(task, teacher=teacher, beta=beta, objective='forward'), "
             "task.base)  # S2: equal\n",
        _check=_check_s2,
    ),
    Theorem(
        id="S3",
        statement="For a marginally consistent teacher the β = 0 SD optimum is "
                  "π0(y|C)·exp(−Δ(y)) renormalised, with the Jensen penalty Δ ≥ 0.",
        latex=r"\pi_{SD}(y)\propto\pi_0(y|C)\,e^{-\Delta(y)},\quad "
              r"\Delta(y)=\log\mathbb E_dT(y|d)-\mathbb E_d\log T(y|d)\ge0",
        assumptions=("every mode valid", "copy teacher on ρ = π0, α ∈ [0.01, 0.95], D = π0",
                     _PROBS),
        section="§3.2",
        clauses={
            "penalty_form": "1e-9 − max |log π_SD − log(π0(·|C) e^{−Δ})/Z|",
            "penalty_nonnegative": "1e-12 + min_y Δ(y)",
        },
        strategy=_instances(tasks(all_valid=True), alpha=alphas()),
        default_impl=_sd_reverse,
        impl_doc=_SD_IMPL,
        code="teacher = {teacher}\n"
             "T = teacher.matrix(task.log_base)\n"
             "delta = np.log(task.base @ T) - task.base @ np.log(T)\n"
             "closed = task.base * np.exp(-delta); print(closed / closed.sum())\n"
             "print(ms.sd_optimum(task, teacher=teacher))  # S3: equal\n",
        _check=_check_s3,
    ),
    Theorem(
        id="S4",
        statement="Copy teacher, all modes valid: Ī(y) = log(1 − α) + f_α(p); SD strictly "
                  "amplifies every ratio of valid modes, by at most (1 − α)^{−1/(1+β)} per round.",
        latex=r"\bar I(y)=\log(1-\alpha)+f_\alpha(p),\ f_\alpha(p)=p\log\!\Big(1+\frac{\alpha}{(1-\alpha)p}\Big);"
              r"\ 1<\frac{\pi_{SD}(y)/\pi_{SD}(y')}{\pi_0(y)/\pi_0(y')}<(1-\alpha)^{-1/(1+\beta)}",
        assumptions=("every mode valid (π0(C) = 1)", "copy teacher on ρ = π0, α ∈ [0.01, 0.95]",
                     "D = π0(·|C)", "valid probabilities 5% apart", "β ∈ [0, 10]", _PROBS),
        section="§3.4",
        clauses={
            "formula": "1e-9 − max |Ī(y) − log(1 − α) − f_α(π0(y|C))|",
            "amplification": "min over valid pairs of Δ log ratio / log ratio (> 0)",
            "bound": "−log(1 − α)/(1 + β) − max Δ log ratio (> 0)",
        },
        strategy=_instances(tasks(min_valid=2, all_valid=True, distinct=0.05),
                            alpha=alphas(), beta=betas()),
        default_impl=_sd_reverse,
        impl_doc=_SD_IMPL,
        code="pi = ms.sd_optimum(task, teacher={teacher}, beta=beta)\n"
             "mult = ms.ratio_table(pi, task.valid)[1] / ms.ratio_table(task.base, task.valid)[1]\n"
             "print('ratio multipliers (S4: > 1 above the diagonal)', mult)\n"
             "print('S4 bound', (1 - alpha) ** (-1 / (1 + beta)))\n",
        _check=_check_s4,
    ),
    Theorem(
        id="S4b",
        statement="Copy teacher with invalid modes (π0(C) = Z ≤ 1): Ī(y) = log(1 − α) + "
                  "p·log(1 + α/((1 − α)π0(y))); strict amplification; bound (1 + α/((1 − α)Z))^{1/(1+β)}.",
        latex=r"\bar I(y)=\log(1-\alpha)+p\log\!\Big(1+\frac{\alpha}{(1-\alpha)\pi_0(y)}\Big);\ "
              r"1<\frac{\pi_{SD}(y)/\pi_{SD}(y')}{\pi_0(y)/\pi_0(y')}<"
              r"\Big(1+\frac{\alpha}{(1-\alpha)Z}\Big)^{1/(1+\beta)}",
        assumptions=("any valid set (Z = π0(C) ≤ 1)", "copy teacher on ρ = π0, α ∈ [0.01, 0.95]",
                     "D = π0(·|C)", "valid probabilities 5% apart", "β ∈ [0, 10]", _PROBS),
        section="§3.4 (corrected: MATH's S4 formula and bound need π0(C) = 1)",
        clauses={
            "formula_general": "1e-9 − max |Ī(y) − log(1 − α) − p·log(1 + α/((1 − α)π0(y)))|",
            "amplification": "min over valid pairs of Δ log ratio / log ratio (> 0)",
            "bound_general": "log(1 + α/((1 − α)Z))/(1 + β) − max Δ log ratio (> 0)",
        },
        strategy=_instances(tasks(min_valid=2, distinct=0.05), alpha=alphas(), beta=betas()),
        default_impl=_sd_reverse,
        impl_doc=_SD_IMPL,
        code="pi = ms.sd_optimum(task, teacher=ms.CopyTeacher(alpha), beta=beta)\n"
             "mult = ms.ratio_table(pi, task.valid)[1] / ms.ratio_table(task.base, task.valid)[1]\n"
             "Z = task.base[task.valid].sum()\n"
             "print('largest ratio multiplier', mult.max(),\n"
             "      'S4 bound', (1 - alpha) ** (-1 / (1 + beta)),\n"
             "      'S4b bound', (1 + alpha / ((1 - alpha) * Z)) ** (1 / (1 + beta)))\n",
        _check=lambda inst, impl, parts: _check_s4(inst, impl, parts, general=True),
    ),
    Theorem(
        id="S5",
        statement="Amplification needs a copying bias: with the identity tilt teacher one SD round "
                  "multiplies π(y)/π(y') by exp(κ(q_y − q_y')/(1+β)), q = π0(·|C): κ < 0 compresses.",
        latex=r"T(y|d)\propto\rho(y)e^{\kappa 1[y=d]}:\ "
              r"\log\frac{\pi_{SD}(y)/\pi_{SD}(y')}{\pi_0(y)/\pi_0(y')}=\frac{\kappa\,(q_y-q_{y'})}{1+\beta}",
        assumptions=("identity tilt teacher on ρ = π0, |κ| ∈ [0.05, 5]", "D = π0(·|C)",
                     "≥ 2 valid modes 5% apart", "β ∈ [0, 10]", _PROBS),
        section="§3.4",
        clauses={
            "formula": "1e-7 − max relative error of Δ log ratio against κ(q_y − q_y')/(1 + β)",
            "direction": "min over valid pairs of sign(κ)·Δ log ratio / |predicted| (> 0)",
        },
        strategy=_instances(
            tasks(min_valid=2, distinct=0.05),
            kappa=st.one_of(kappas(-5.0, -0.05), kappas(0.05, 5.0)), beta=betas(),
        ),
        default_impl=_sd_reverse,
        impl_doc=_SD_IMPL,
        code="pi = ms.sd_optimum(task, teacher=ms.TiltTeacher(kappa), beta=beta)\n"
             "print(ms.ratio_table(pi, task.valid)[1] / ms.ratio_table(task.base, task.valid)[1])"
             "  # S5: < 1 above the diagonal when kappa < 0\n",
        _check=_check_s5,
    ),
    Theorem(
        id="S6",
        statement="Compounding SD (copy teacher) drives every other valid mode down relative to the "
                  "top valid mode; uniform over C is an unstable fixed point, each valid vertex stable; "
                  "π(C) = 0 is an input error.",
        latex=r"\pi_{t+1}\propto\pi_t e^{\bar I_{\pi_t}/(1+\beta)}:\ "
              r"\varrho(J(\mathrm{unif}_C))>1,\ \varrho(J(e_{y^*}))<1",
        assumptions=("≥ 2 valid modes 5% apart (unique top valid mode)",
                     "copy teacher α ∈ [0.05, 0.95] on the current policy", "β ∈ [0, 5]",
                     "1–15 rounds", _PROBS),
        section="§3.5",
        clauses={
            "top_gains": "min over rounds and valid y ≠ y* of the rise in log(π(y*)/π(y)) (> 0)",
            "uniform_unstable": "spectral radius of the tangent Jacobian at unif(C) − 1 (> 0)",
            "vertex_stable": "1 − spectral radius at the top valid vertex (> 0)",
            "no_demo_is_error": "+1 if a policy with π(C) = 0 raises ValueError, −1 if not",
        },
        strategy=_instances(tasks(min_valid=2, distinct=0.05), alpha=alphas(0.05, 0.95),
                            beta=betas(0.0, 5.0), rounds=st.integers(1, 15)),
        default_impl=_compounding,
        impl_doc=_MAP_IMPL,
        code="rule = ms.SelfDistillation(teacher=ms.CopyTeacher(alpha), beta=beta, "
             "teacher_base='current', reference='current')\n"
             "print(ms.iterate(rule, task, rounds).policy[-1])\n"
             "for fp in ms.fixed_points(rule, task):\n"
             "    print(fp.policy.round(3), fp.stability)\n",
        _check=_check_s6,
    ),
    Theorem(
        id="S7",
        statement="The entropy of π_t(·|C) strictly decreases every compounding SD round (unless "
                  "π_t(·|C) is uniform) and is constant under natural policy gradient (R3).",
        latex=r"H(\pi_{t+1}(\cdot|C))<H(\pi_t(\cdot|C))\ \text{(SD)},\qquad "
              r"H(\pi_t(\cdot|C))=H(\pi_0(\cdot|C))\ \text{(NPG)}",
        assumptions=("≥ 2 valid modes 5% apart (not uniform on C)",
                     "copy teacher α ∈ [0.01, 0.9] on the current policy", "β ∈ [0, 5]",
                     "1–8 rounds", _PROBS),
        section="§3.5",
        clauses={
            "sd_entropy_falls": "min over rounds of the relative entropy decrease (> 0)",
            "rl_entropy_constant": "1e-9 − max_t |H_t − H_0| under NaturalPG(η = 1)",
        },
        strategy=_instances(tasks(min_valid=2, distinct=0.05), alpha=alphas(0.01, 0.9),
                            beta=betas(0.0, 5.0), rounds=st.integers(1, 8)),
        default_impl=_compounding,
        impl_doc=_MAP_IMPL,
        code="rule = ms.SelfDistillation(teacher={teacher}, beta=beta, "
             "teacher_base='current', reference='current')\n"
             "print(ms.iterate(rule, task, rounds, metrics=['entropy']).metrics['entropy'])\n",
        _check=_check_s7,
    ),
    Theorem(
        id="S8",
        statement="All modes valid, copy teacher: the compounding map's tangent Jacobian at the "
                  "uniform point is λ·I with λ = 1 + (1/K) f_α'(1/K)/(1 + β) > 1.",
        latex=r"J(\tfrac1K\mathbf 1)=\lambda I,\ \lambda=1+\frac{f_\alpha'(1/K)}{K(1+\beta)},\ "
              r"f_\alpha'(p)=\log(1+u)-\frac{u}{1+u},\ u=\frac{\alpha}{(1-\alpha)p}",
        assumptions=("every mode valid, K ∈ [2, 8]", "copy teacher α ∈ [0.01, 0.95] on the "
                     "current policy", "β ∈ [0, 10]"),
        section="§3.5",
        clauses={
            "eigenvalue": "1e-6 − max |eigenvalue − λ| / λ (central differences)",
            "unstable": "smallest |eigenvalue| − 1 (> 0)",
        },
        strategy=st.builds(
            lambda K, a, b: Instance(make_task(np.full(K, 1.0 / K)), {"alpha": a, "beta": b}),
            st.integers(2, 8), alphas(), betas(),
        ),
        default_impl=_compounding,
        impl_doc=_MAP_IMPL,
        code="rule = ms.SelfDistillation(teacher=ms.CopyTeacher(alpha), beta=beta, "
             "teacher_base='current', reference='current')\n"
             "print(np.linalg.eigvals(ms.map_jacobian(rule, task, task.base)))\n"
             "from modesim.theorems import s8_eigenvalue\n"
             "print(s8_eigenvalue(task.n_modes, alpha, beta))\n",
        _check=_check_s8,
    ),
)

CONTROLS: tuple[Control, ...] = (
    Control(
        id="R1:sd-optimum",
        theorem="R1",
        dropped="the RL optimum is replaced by the self-distillation optimum (copy teacher, α = 0.5)",
        strategy=_instances(tasks(min_valid=2, distinct=0.05), beta=st.floats(0.01, 100.0)),
        parts=("valid_ratios",),
        impl=lambda task, beta: sd_optimum(task, teacher=CopyTeacher(0.5), beta=beta, log=True),
        code="pi = ms.sd_optimum(task, teacher=ms.CopyTeacher(0.5), beta=beta)\n"
             "print('pi_SD/pi0 on valid modes:', (pi / task.base)[task.valid])  # not all equal\n",
    ),
    Control(
        id="R3:softmax-pg",
        theorem="R3",
        dropped="natural policy gradient is replaced by vanilla softmax policy gradient (R4)",
        strategy=_instances(tasks(min_valid=2, min_invalid=1, distinct=0.05), eta=etas(),
                            rounds=st.integers(1, 10)),
        parts=("conditional_fixed",),
        impl=lambda eta: SoftmaxPG(eta=eta),
        code="traj = ms.iterate(ms.SoftmaxPG(eta=eta), task, rounds)\n"
             "print(ms.conditional(traj.policy, task.valid))  # rows drift from row 0\n",
    ),
    Control(
        id="S2:reverse-kl",
        theorem="S2",
        dropped="the forward-KL (arithmetic-mean) target is replaced by the reverse-KL one",
        strategy=_instances(tasks(min_valid=2, all_valid=True, distinct=0.05),
                            alpha=alphas(0.05, 0.95), beta=betas()),
        parts=("forward_preserves",),
        impl=_sd_reverse,
        code="pi = ms.sd_optimum(task, teacher=ms.CopyTeacher(alpha), beta=beta)  # reverse KL\n"
             "print(pi, task.base)  # not equal\n",
    ),
    Control(
        id="S3:tilt-teacher",
        theorem="S3",
        dropped="the teacher is not marginally consistent (identity tilt, |κ| ≥ 0.5)",
        strategy=_instances(tasks(min_valid=2, all_valid=True, distinct=0.05),
                            kappa=st.one_of(kappas(-5.0, -0.5), kappas(0.5, 5.0))),
        parts=("penalty_form",),
    ),
    Control(
        id="S4:anti-copy",
        theorem="S4",
        dropped="the copy teacher is replaced by an anti-copying tilt teacher (κ < 0)",
        strategy=_instances(tasks(min_valid=2, all_valid=True, distinct=0.05),
                            kappa=kappas(-5.0, -0.05), beta=betas()),
        parts=("amplification",),
        code="pi = ms.sd_optimum(task, teacher=ms.TiltTeacher(kappa), beta=beta)\n"
             "print(ms.ratio_table(pi, task.valid)[1] / ms.ratio_table(task.base, task.valid)[1])"
             "  # < 1 above the diagonal: compressed\n",
    ),
    Control(
        id="S4:bound-invalid-modes",
        theorem="S4",
        dropped="π0(C) = 1: with invalid modes the ratio multiplier can exceed (1 − α)^{−1/(1+β)}",
        strategy=_instances(tasks(min_valid=2, min_invalid=1, distinct=0.05),
                            alpha=alphas(), beta=betas()),
        parts=("bound",),
    ),
    Control(
        id="S7:anti-copy",
        theorem="S7",
        dropped="the copy teacher is replaced by an anti-copying tilt teacher (κ < 0)",
        strategy=_instances(tasks(min_valid=2, distinct=0.05), kappa=kappas(-5.0, -0.05),
                            beta=betas(0.0, 5.0), rounds=st.integers(1, 8)),
        parts=("sd_entropy_falls",),
    ),
)

_BY_ID = {t.id: t for t in REGISTRY}
_CONTROLS_BY_ID = {c.id: c for c in CONTROLS}


def get(theorem_id: str) -> Theorem:
    """The registered theorem ``theorem_id`` (e.g. ``"S4"``); ``ValueError`` lists the known ids."""
    try:
        return _BY_ID[theorem_id]
    except (KeyError, TypeError):
        raise ValueError(f"theorem must be one of {list(_BY_ID)}; got {theorem_id!r}") from None


def get_control(control_id: str) -> Control:
    """The registered negative control ``control_id`` (e.g. ``"S4:anti-copy"``)."""
    try:
        return _CONTROLS_BY_ID[control_id]
    except (KeyError, TypeError):
        raise ValueError(f"control must be one of {list(_CONTROLS_BY_ID)}; got {control_id!r}") from None


def controls_for(theorem_id: str) -> list[Control]:
    """The negative controls of one theorem."""
    get(theorem_id)
    return [c for c in CONTROLS if c.theorem == theorem_id]


# ------------------------------------------------------------------ verification


def verify(item: Theorem | Control, *, examples: int = 100, seed: int = 0, impl=None) -> Report:
    """Search for a counterexample to a theorem (or find one for a control) with hypothesis.

    Uses :func:`hypothesis.find` with ``max_examples=examples``, no example database and
    a ``random.Random(seed)`` source, so a run is reproducible; the counterexample is
    shrunk.  An implementation that raises counts as a violation.

    Parameters
    ----------
    item : Theorem or Control
    examples : int >= 1
        Number of instances to draw (shrinking may check more).
    seed : int
    impl : object, optional
        Implementation passed to the check (default: the theorem's or control's own).

    Returns
    -------
    Report
    """
    if not isinstance(item, (Theorem, Control)):
        raise ValueError(f"item must be a Theorem or Control; got {item!r}")
    if isinstance(examples, bool) or not isinstance(examples, (int, np.integer)) or examples < 1:
        raise ValueError(f"examples must be a positive integer; got {examples!r}")
    stats = {"n": 0, "margin": math.inf, "clause": ""}

    def violated(inst: Instance) -> bool:
        out = item.check(inst, impl)
        stats["n"] += 1
        if out.margin < stats["margin"]:
            stats["margin"], stats["clause"] = out.margin, out.worst
        return not out.holds

    cfg = settings(
        max_examples=int(examples),
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        phases=(Phase.generate, Phase.shrink),
    )
    start = time.perf_counter()
    try:
        cx = find(item.strategy, violated, settings=cfg, random=random.Random(seed))
    except NoSuchExample:
        cx = None
    seconds = time.perf_counter() - start
    outcome = None if cx is None else item.check(cx, impl)
    return Report(
        id=item.id,
        kind="control" if isinstance(item, Control) else "theorem",
        examples=stats["n"],
        worst_margin=stats["margin"],
        worst_clause=stats["clause"],
        counterexample=cx,
        outcome=outcome,
        snippet="" if cx is None else item.snippet(cx),
        seconds=seconds,
    )


# ------------------------------------------------------------------ `modesim verify`


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)


def _run_verify(args) -> int:
    if args.list:
        rows = [["id", "MATH", "statement"]]
        rows += [[t.id, t.section.split(" ")[0], t.statement] for t in REGISTRY]
        rows += [[c.id, get(c.theorem).section.split(" ")[0], "control: " + c.dropped] for c in CONTROLS]
        print(_table(rows))
        return 0
    ids = args.theorem or [t.id for t in REGISTRY]
    items: list[Theorem | Control] = []
    for ident in ids:
        if ident in _CONTROLS_BY_ID:
            items.append(get_control(ident))
            continue
        items.append(get(ident))
        if args.controls:
            items += controls_for(ident)
    reports = []
    for item in items:
        rep = verify(item, examples=args.examples, seed=args.seed)
        reports.append(rep)
        if not args.json:
            print(f"  {rep.id:<24} {rep.verdict}  ({rep.seconds:.1f}s)", file=sys.stderr)
    failed = [r for r in reports if not r.ok]
    if args.json:
        json.dump({"examples": args.examples, "seed": args.seed, "ok": not failed,
                   "reports": [r.as_dict() for r in reports]}, sys.stdout)
        sys.stdout.write("\n")
        return 1 if failed else 0
    rows = [["id", "kind", "checked", "worst margin", "worst clause", "verdict"]]
    for r in reports:
        rows.append([r.id, r.kind, str(r.examples), f"{r.worst_margin:+.3g}", r.worst_clause,
                     r.verdict])
    print(_table(rows))
    for r in reports:
        if r.counterexample is None or (r.kind == "control" and not args.show_controls):
            continue
        title = "counterexample" if r.kind == "theorem" else "counterexample found by control"
        print(f"\n# {r.id}: {title}\n# {r.outcome}")
        print(r.snippet, end="")
    n_ok = len(reports) - len(failed)
    print(f"\n{n_ok}/{len(reports)} ok" + (f"; FAILED: {', '.join(r.id for r in failed)}" if failed else ""))
    return 1 if failed else 0


def _add_verify(sub) -> None:
    """Register ``modesim verify`` on the CLI's subparsers."""
    p = sub.add_parser(
        "verify",
        help="search for counterexamples to the theorems of MATH.md (property-based)",
        description=(
            "Search for counterexamples to the statements of MATH.md (R1-R4: RL preserves\n"
            "ratios; S1-S8: self-distillation amplifies them; S4b: our correction of S4 for\n"
            "invalid modes) with hypothesis.  Each theorem draws random instances that\n"
            "satisfy its assumptions and measures each clause as a margin (positive =\n"
            "holds).  A violation is shrunk and printed as a runnable Python snippet, and\n"
            "the exit status is 1.\n\n"
            "--controls also runs negative controls: the same checks with one assumption\n"
            "dropped (e.g. an anti-copying teacher for S4).  A control is ok when it DOES\n"
            "find a counterexample: the assumption matters.\n\n"
            "Examples:\n"
            "  modesim verify                      # every theorem, 200 instances each\n"
            "  modesim verify --theorem S4 S8 --examples 2000\n"
            "  modesim verify --controls --show-controls\n"
            "  modesim verify --list               # browse theorems and controls"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--theorem", nargs="+", metavar="ID", default=None,
                   help="theorem or control ids to check (default: every theorem); see --list")
    p.add_argument("--examples", type=int, default=200,
                   help="random instances drawn per theorem (default 200; more = stronger search)")
    p.add_argument("--seed", type=int, default=0, help="seed of the search (default 0)")
    p.add_argument("--controls", action="store_true",
                   help="also run each selected theorem's negative controls")
    p.add_argument("--show-controls", action="store_true",
                   help="print the counterexample snippets found by controls too")
    p.add_argument("--list", action="store_true", help="list theorems and controls, then exit")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    p.set_defaults(func=_run_verify)
