"""Symbolic derivations (sympy) of the closed forms in theory §2–§3.

Each function returns a :class:`Derivation`: the derived expression, its LaTeX, the
identity sympy proved along the way (``proved``), intermediate steps, and a numeric
evaluator (``numeric``, via :func:`sympy.lambdify`) that the tests compare against the
numeric rules of :mod:`modesim` to 1e-9.

- :func:`rl_stationarity`: π*(y) ∝ π0(y)·exp(r(y)/β) from the Lagrangian (theory §2.1);
- :func:`rl_ratio`: π*(y)/π*(y') = π0(y)/π0(y'), Theorem R1 (§2.1);
- :func:`sd_stationarity`: the Lagrange conditions of the SD objective solve to S1 (§3.2);
- :func:`f_alpha`, :func:`f_alpha_prime`: f_α and f_α' = log(1 + u) − u/(1 + u) > 0 (§3.4–3.5);
- :func:`copy_information`: Ī(y) of the copy teacher, S4 (Z = 1) and S4b (Z < 1) (§3.4);
- :func:`two_mode_map`: one compounding SD round on two valid modes (§3.5);
- :func:`s8_jacobian`: the Jacobian of that map at the uniform point is λ·I, S8 (§3.5);
- :func:`amplification_bound`: the per-round ratio multiplier bound, S4 and S4b (§3.4);
- :func:`jsd_gradient`: ∂JSD_λ(T‖π)/∂π_y = (1 − λ)·log(π_y/M_y), the J1 condition (§8.1);
- :func:`power_copy_slope`: h'(p) for the power-copy teacher and its γ ≥ 0 bound, B2 (§8.3);
- :func:`jsd_rest_point`: the JSD round's rest-point condition is K1's with (λα, β/(1 − λ)), K3 (§8.4).

The proofs are sympy simplifications: ``proved`` is False if sympy could not reduce an
identity to zero, which the tests treat as a failure.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache, cached_property
from types import MappingProxyType

import sympy as sp

from . import _checks as chk

__all__ = [
    "Derivation",
    "rl_stationarity",
    "rl_ratio",
    "sd_stationarity",
    "f_alpha",
    "f_alpha_prime",
    "copy_information",
    "two_mode_map",
    "s8_jacobian",
    "amplification_bound",
    "jsd_gradient",
    "power_copy_slope",
    "jsd_rest_point",
]

# Shared symbols: positive where the quantity is a probability or a strength, so sympy
# may combine logarithms.
alpha = sp.Symbol("alpha", positive=True)
beta = sp.Symbol("beta", positive=True)
p = sp.Symbol("p", positive=True)
Z = sp.Symbol("Z", positive=True)


@dataclass(frozen=True, eq=False)
class Derivation:
    """A derived expression with the identity sympy proved on the way.

    Attributes
    ----------
    name : str
    expr : sympy expression
        The result.
    symbols : tuple of sympy symbols
        Arguments of :attr:`numeric`, in order.
    statement : str
        What was shown, in words.
    proved : bool
        True when sympy reduced the stated identity to zero.
    steps : mapping of str to sympy expression
        Intermediate results (e.g. the Jacobian matrix, the stationarity condition).
    """

    name: str
    expr: sp.Basic
    symbols: tuple[sp.Symbol, ...]
    statement: str
    proved: bool
    steps: Mapping[str, sp.Basic] = field(default_factory=dict)

    def __post_init__(self):
        object.__setattr__(self, "steps", MappingProxyType(dict(self.steps)))

    @property
    def latex(self) -> str:
        """LaTeX of :attr:`expr`."""
        return sp.latex(self.expr)

    @cached_property
    def numeric(self):
        """``expr`` as a numpy function of :attr:`symbols` (broadcasts over arrays)."""
        return sp.lambdify(self.symbols, self.expr, modules="numpy")

    def _repr_latex_(self) -> str:
        return f"$\\displaystyle {self.latex}$"

    def __repr__(self) -> str:
        return f"Derivation({self.name!r}, {self.expr}, proved={self.proved})"


def _is_zero(expr) -> bool:
    """Whether sympy reduces ``expr`` to zero.

    α ∈ (0, 1) is written as ``t/(1 + t)`` with ``t > 0`` so that both α and 1 − α are
    visibly positive; then each logarithm's argument is brought to one factored
    fraction, so that ``log(1 + a/b)`` can expand to ``log(b + a) − log b``.  Every
    factor is then positive, which is what makes forcing the expansion valid.
    """
    t = sp.Symbol("t", positive=True)
    e = sp.sympify(expr).subs(alpha, t / (1 + t)).replace(
        lambda x: isinstance(x, sp.log), lambda x: sp.log(sp.factor(sp.together(x.args[0])))
    )
    return sp.simplify(sp.expand_log(e, force=True)) == 0


# ------------------------------------------------------------------ RL (theory §2.1)


@cache
def rl_stationarity() -> Derivation:
    """Stationary point of ``E_π[r] − β·KL(π‖π0)`` on the simplex (theory §2.1).

    Per mode the Lagrangian is ``π·r − β·π·(log π − log π0) − λ·π``; its derivative
    vanishes at ``π(y) = π0(y)·exp(r(y)/β)·exp(−1 − λ/β)``: the last factor is the same
    for every mode, so ``π*_β ∝ π0·exp(r/β)``.  The second derivative ``−β/π < 0``
    makes it the maximum.  ``numeric(pi0, r, beta)`` gives the unnormalised weights.
    """
    pi, pi0, lam = sp.symbols("pi pi_0 lambda", positive=True)
    r = sp.Symbol("r", real=True)
    lagrangian = pi * r - beta * pi * (sp.log(pi) - sp.log(pi0)) - lam * pi
    (sol,) = sp.solve(sp.diff(lagrangian, pi), pi)
    weight = pi0 * sp.exp(r / beta)
    proved = _is_zero(sp.diff(sp.log(sol / weight), r)) and _is_zero(
        sp.diff(sp.log(sol / weight), pi0)
    ) and bool(sp.simplify(sp.diff(lagrangian, pi, 2)).is_negative)
    return Derivation(
        "rl_stationarity", weight, (pi0, r, beta),
        "π*(y) ∝ π0(y)·exp(r(y)/β): the solution of the stationarity condition, up to a "
        "factor independent of y; concave, so a maximum",
        proved, {"stationary_point": sol, "second_derivative": sp.diff(lagrangian, pi, 2)},
    )


@cache
def rl_ratio() -> Derivation:
    """R1: the ratio of the RL optimum between two valid modes (theory §2.1).

    ``π*(y)/π*(y') = π0(y)·e^{1/β} / (π0(y')·e^{1/β}) = π0(y)/π0(y')``.
    ``numeric(pi0_y, pi0_y2, beta)``.
    """
    a, b = sp.symbols("pi_0y pi_0y'", positive=True)
    w = rl_stationarity().expr
    pi0, r = rl_stationarity().symbols[:2]
    ratio = sp.simplify(w.subs({pi0: a, r: 1}) / w.subs({pi0: b, r: 1}))
    return Derivation(
        "rl_ratio", ratio, (a, b, beta),
        "ratios among valid modes of the KL-regularised optimum equal the base ratios (R1)",
        _is_zero(ratio - a / b),
    )


# ------------------------------------------------------------------ SD (theory §3.2)


def sd_stationarity(K: int = 3) -> Derivation:
    """S1: solve the Lagrangian of the self-distillation objective for ``K`` modes.

    Objective ``Σ_y π(y)(log π(y) − G(y)) + β·Σ_y π(y)(log π(y) − log π0(y))`` with
    ``G(y) = E_d log T(y|d)``; stationarity gives
    ``log π(y) = (G(y) + β·log π0(y))/(1 + β) − (1 + β + λ)/(1 + β)``, and the
    constraint ``Σ π = 1`` fixes λ, so

        π(y) = exp((G(y) + β L(y))/(1 + β)) / Σ_j exp((G(j) + β L(j))/(1 + β)),

    ``L = log π0``.  The second derivative ``(1 + β)/π > 0``: a minimum.
    ``numeric(G_0, …, G_{K−1}, L_0, …, L_{K−1}, beta)`` returns the K probabilities.
    """
    return _sd_stationarity(chk.integer(K, "K", low=1))


@cache
def _sd_stationarity(K) -> Derivation:
    G = sp.symbols(f"G_0:{K}", real=True)
    L = sp.symbols(f"L_0:{K}", real=True)
    pi = sp.symbols(f"pi_0:{K}", positive=True)
    lam = sp.Symbol("lambda", real=True)
    lagrangian = sum(
        pi[y] * (sp.log(pi[y]) - G[y]) + beta * pi[y] * (sp.log(pi[y]) - L[y]) for y in range(K)
    ) + lam * (sum(pi) - 1)
    stationary = [sp.solve(sp.diff(lagrangian, pi[y]), pi[y])[0] for y in range(K)]
    (lam_sol,) = sp.solve(sp.Eq(sum(stationary), 1), lam)
    solved = [s.subs(lam, lam_sol) for s in stationary]
    a = [(G[y] + beta * L[y]) / (1 + beta) for y in range(K)]
    norm = sum(sp.exp(x) for x in a)
    claim = [sp.exp(a[y]) / norm for y in range(K)]
    # Compare exponents: log(exp(x)) = x for real x, so no log identities are needed.
    proved = all(
        sp.simplify(sp.expand(sp.log(s) - (a[y] - sp.log(norm)))) == 0 for y, s in enumerate(solved)
    ) and all(sp.simplify(sp.diff(lagrangian, x, 2)).is_positive for x in pi)
    return Derivation(
        "sd_stationarity", sp.Matrix(claim), (*G, *L, beta),
        "the Lagrange conditions of the SD objective solve to the normalised "
        "exp((E_d log T + β log π0)/(1 + β)) (S1); convex, so the minimiser",
        proved, {"lambda": lam_sol, "solution": sp.Matrix(solved)},
    )


# ------------------------------------------------------------------ copy teacher (theory §3.4–3.5)


@cache
def f_alpha() -> Derivation:
    """``f_α(p) = p·log(1 + α/((1 − α)·p))`` (theory §3.4).  ``numeric(p, alpha)``."""
    f = p * sp.log(1 + alpha / ((1 - alpha) * p))
    return Derivation("f_alpha", f, (p, alpha), "definition of f_α (S4)", True,
                      {"limit_p_to_0": sp.limit(f, p, 0, "+")})


@cache
def f_alpha_prime() -> Derivation:
    """``f_α'(p) = log(1 + u) − u/(1 + u)`` with ``u = α/((1 − α)p)``, and ``f_α' > 0``.

    Positivity: ``h(u) = log(1 + u) − u/(1 + u)`` has ``h(0) = 0`` and
    ``h'(u) = u/(1 + u)² > 0``.  ``numeric(p, alpha)``.
    """
    u = sp.Symbol("u", positive=True)
    d = sp.diff(f_alpha().expr, p)
    h = sp.log(1 + u) - u / (1 + u)
    claim = h.subs(u, alpha / ((1 - alpha) * p))
    dh = sp.simplify(sp.diff(h, u))
    proved = (
        _is_zero(d - claim)
        and h.subs(u, 0) == 0
        and _is_zero(dh - u / (1 + u) ** 2)
        and bool(dh.is_positive)
    )
    return Derivation(
        "f_alpha_prime", claim, (p, alpha),
        "f_α'(p) = log(1 + u) − u/(1 + u), u = α/((1 − α)p), and it is positive "
        "(h(0) = 0, h'(u) = u/(1 + u)² > 0)",
        proved, {"derivative": d, "h": h, "h_prime": dh},
    )


def copy_information(general: bool = False) -> Derivation:
    """Expected pointwise information ``Ī(y)`` of the copy teacher on ``ρ = π0`` (theory §3.4).

    With ``D = π0(·|C)``, ``p = D(y)`` and ``π0(y) = Z·p`` (``Z = π0(C)``)::

        Ī(y) = p·log((1 − α)Zp + α) + (1 − p)·log((1 − α)Zp) − log(Zp)
             = log(1 − α) + p·log(1 + α/((1 − α)·Z·p)).

    ``general=False`` sets ``Z = 1``: ``Ī = log(1 − α) + f_α(p)`` (S4).  With
    ``general=True`` the result keeps Z (S4b, our correction): S4's form is wrong when
    ``Z < 1``.  ``numeric(p, alpha)`` or ``numeric(p, Z, alpha)``.
    """
    return _copy_information(chk.boolean(general, "general"))


@cache
def _copy_information(general) -> Derivation:
    zz = Z if general else sp.Integer(1)
    pi0 = zz * p
    derived = p * sp.log((1 - alpha) * pi0 + alpha) + (1 - p) * sp.log((1 - alpha) * pi0) - sp.log(pi0)
    claim = sp.log(1 - alpha) + p * sp.log(1 + alpha / ((1 - alpha) * zz * p))
    proved = _is_zero(derived - claim)
    if not general:
        proved = proved and _is_zero(claim - sp.log(1 - alpha) - f_alpha().expr)
    return Derivation(
        "copy_information_general" if general else "copy_information", claim,
        (p, Z, alpha) if general else (p, alpha),
        "Ī(y) = log(1 − α) + p·log(1 + α/((1 − α)Zp)); Z = 1 gives log(1 − α) + f_α(p) (S4)",
        proved, {"expectation": derived},
    )


@cache
def two_mode_map() -> Derivation:
    """One compounding SD round on two valid modes (theory §3.5): ``p ↦ p'``.

    ``π'(y) ∝ π(y)·exp(Ī(y)/(1 + β))`` with ``Ī = log(1 − α) + f_α`` (the constant
    cancels)::

        p' = p·e^{f_α(p)/(1+β)} / (p·e^{f_α(p)/(1+β)} + (1 − p)·e^{f_α(1−p)/(1+β)}).

    ``proved`` records that ``p = 1/2`` is a fixed point.  ``numeric(p, alpha, beta)``.
    """
    f = copy_information().expr
    w1 = p * sp.exp(f / (1 + beta))
    w2 = (1 - p) * sp.exp(f.subs(p, 1 - p) / (1 + beta))
    new = w1 / (w1 + w2)
    return Derivation(
        "two_mode_map", new, (p, alpha, beta),
        "p' for two valid modes under the compounding copy-teacher map; p = 1/2 is fixed",
        _is_zero(new.subs(p, sp.Rational(1, 2)) - sp.Rational(1, 2)),
    )


def s8_jacobian(K: int = 3) -> Derivation:
    """S8 from the map: the Jacobian at the uniform point, all K modes valid (theory §3.5).

    The map ``F_i(x) = x_i·g(x_i)/Σ_k x_k g(x_k)``, ``g = exp(f_α/(1 + β))``, is
    differentiated in the coordinates ``x_1..x_{K−1}`` (``x_K = 1 − Σ x``; eigenvalues do
    not depend on the tangent coordinates) and evaluated at ``x = 1/K``.  sympy shows
    the Jacobian equals ``λ·I`` with ``λ = 1 + (1/K)·f_α'(1/K)/(1 + β)``.
    ``numeric(alpha, beta)`` gives λ.
    """
    return _s8_jacobian(chk.integer(K, "K", low=2))


@cache
def _s8_jacobian(K) -> Derivation:
    xs = sp.symbols(f"x_1:{K}", positive=True)
    allx = [*xs, 1 - sum(xs)]
    f = f_alpha().expr
    weights = [x * sp.exp(f.subs(p, x) / (1 + beta)) for x in allx]
    total = sum(weights)
    F = sp.Matrix([weights[i] / total for i in range(K - 1)])
    J = F.jacobian(sp.Matrix(xs)).subs({x: sp.Rational(1, K) for x in xs})
    lam = 1 + f_alpha_prime().expr.subs(p, sp.Rational(1, K)) / (K * (1 + beta))
    proved = all(_is_zero(e) for e in (J - lam * sp.eye(K - 1)))
    return Derivation(
        f"s8_jacobian_K{K}", lam, (alpha, beta),
        f"the K = {K} Jacobian at the uniform point is λ·I, λ = 1 + (1/K) f_α'(1/K)/(1 + β)",
        proved, {"jacobian": J},
    )


def amplification_bound(general: bool = False) -> Derivation:
    """Largest per-round multiplier of a ratio of valid modes (theory §3.4; S4b if general).

    The log-ratio gain is ``(φ(p) − φ(p'))/(1 + β)`` with ``φ(p) = p·log(1 + c/p)``,
    ``c = α/((1 − α)Z)`` increasing in p; its supremum over ``0 < p' < p ≤ 1`` is
    ``φ(1) − lim_{p→0} φ(p) = log(1 + c)``.  Hence the multiplier is below
    ``(1 + α/((1 − α)Z))^{1/(1+β)}``; ``Z = 1`` gives ``(1 − α)^{−1/(1+β)}`` (S4).
    ``numeric(alpha, beta)`` or ``numeric(alpha, Z, beta)``.
    """
    return _amplification_bound(chk.boolean(general, "general"))


@cache
def _amplification_bound(general) -> Derivation:
    zz = Z if general else sp.Integer(1)
    phi = copy_information(True).expr.subs(Z, zz) - sp.log(1 - alpha)
    sup = phi.subs(p, 1) - sp.limit(phi, p, 0, "+")
    increasing = f_alpha_prime().proved  # φ is f_α with α/(1 − α) scaled by 1/Z: same sign
    c = alpha / ((1 - alpha) * zz)
    bound = (1 + c) ** (1 / (1 + beta))
    proved = (
        increasing
        and _is_zero(sup - sp.log(1 + c))
        and _is_zero(sp.log(bound.subs(Z, 1)) + sp.log(1 - alpha) / (1 + beta))
    )
    return Derivation(
        "amplification_bound_general" if general else "amplification_bound",
        bound, (alpha, Z, beta) if general else (alpha, beta),
        "per-round ratio multiplier < (1 + α/((1 − α)Z))^{1/(1+β)}; at Z = 1 this is "
        "(1 − α)^{−1/(1+β)}",
        proved, {"phi": phi, "sup_log_gain": sup},
    )


# ------------------------------------------------------------------ practice (theory §8)


@cache
def jsd_gradient() -> Derivation:
    """``∂/∂π [λ T log(T/M) + (1 − λ) π log(π/M)] = (1 − λ)·log(π/M)``, ``M = λT + (1 − λ)π``
    (theory §8.1, J1): the ``T/M`` terms cancel.  ``numeric(pi, T, lam)``."""
    pi, T, lam = sp.symbols("pi T lambda", positive=True)
    M = lam * T + (1 - lam) * pi
    term = lam * T * (sp.log(T) - sp.log(M)) + (1 - lam) * pi * (sp.log(pi) - sp.log(M))
    d = sp.diff(term, pi)
    claim = (1 - lam) * (sp.log(pi) - sp.log(M))
    proved = sp.simplify(d - claim) == 0
    return Derivation("jsd_gradient", claim, (pi, T, lam),
                      "the per-mode derivative of JSD_λ(T‖π) in π is (1 − λ)·log(π/M)", proved,
                      {"derivative": d})


@cache
def power_copy_slope() -> Derivation:
    """``h(p) = p·log(1 + c·p^(γ−1))``: ``h'(p) = log(1 + v) + (γ − 1)·v/(1 + v)``, ``v = c·p^(γ−1)``,
    and ``h' − (log(1 + v) − v/(1 + v)) = γ·v/(1 + v) ≥ 0`` for γ ≥ 0 (theory §8.3, B2; the
    bracket is f_α's positive ``log(1 + u) − u/(1 + u)``).  ``numeric(p, c, gamma)``."""
    c = sp.Symbol("c", positive=True)
    g = sp.Symbol("gamma", real=True)
    v = c * p ** (g - 1)
    h = p * sp.log(1 + v)
    d = sp.diff(h, p)
    claim = sp.log(1 + v) + (g - 1) * v / (1 + v)
    excess = sp.simplify(claim - (sp.log(1 + v) - v / (1 + v)) - g * v / (1 + v))
    proved = sp.simplify(d - claim) == 0 and excess == 0 and f_alpha_prime().proved
    return Derivation("power_copy_slope", claim, (p, c, g),
                      "h'(p) = log(1 + v) + (γ − 1)v/(1 + v) ≥ log(1 + v) − v/(1 + v) > 0 for γ ≥ 0",
                      proved, {"h": h, "derivative": d})


@cache
def jsd_rest_point() -> Derivation:
    """The copy teacher's JSD term at ``π* = π`` (theory §8.4, K3)::

        (1 − λ)·E_d log(π_y/M_{d,y}) = −(1 − λ)·[log(1 − λα) + D·log(1 + λα/((1 − λα)π_y))]

    with ``M_{d,y} = λ((1 − α)π_y + α·1[y = d]) + (1 − λ)π_y`` and ``D = D(y)``: the reverse
    round's ``g_y`` (K1) with copy strength λα, scaled by (1 − λ), i.e. KL strength
    β/(1 − λ).  ``numeric(pi, D, alpha, lam)`` gives the right-hand side.
    """
    pi, D, lam = sp.symbols("pi D lambda", positive=True)
    hit = lam * ((1 - alpha) * pi + alpha) + (1 - lam) * pi
    miss = lam * (1 - alpha) * pi + (1 - lam) * pi
    lhs = (1 - lam) * (D * (sp.log(pi) - sp.log(hit)) + (1 - D) * (sp.log(pi) - sp.log(miss)))
    a2 = lam * alpha
    rhs = -(1 - lam) * (sp.log(1 - a2) + D * sp.log(1 + a2 / ((1 - a2) * pi)))
    s_ = sp.Symbol("s", positive=True)   # λ = s/(1 + s), so 1 − λ and 1 − λα are visibly positive
    e = (lhs - rhs).subs(lam, s_ / (1 + s_))
    proved = _is_zero(e)
    return Derivation("jsd_rest_point", rhs, (pi, D, alpha, lam),
                      "the JSD round's rest-point term is K1's with α → λα and β → β/(1 − λ)",
                      proved, {"lhs": lhs})
