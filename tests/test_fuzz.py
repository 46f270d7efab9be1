"""A seeded fuzz test of every public entry point (issue 9, "Done when").

Each entry point is registered with a spec of its arguments.  Hypothesis then makes a few
thousand calls, seeded and reproducible:

- **valid calls** with extreme but legal values (probabilities down to 1e-300 and exact
  zeros, log-policies normalised only to round-off, K = 1, β up to 1e300, α near 1, huge k):
  the output must be finite where the quantity is finite and inside its documented range,
  and no warning may be raised (warnings are errors in this suite);
- **invalid calls** where exactly one argument is replaced by a member of an invalid class
  (NaN, ±inf, negative, out of range, wrong type, wrong shape, bool for int, ragged lists):
  the call must raise ``ValueError`` whose message names that argument.

Adding an entry point: one ``register(...)`` line with the arguments' kinds (see ``KINDS``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import modesim as ms

# ----------------------------------------------------------------- value generators


def _extreme_policy(draw, K, batch=()):
    kind = draw(st.sampled_from(["dirichlet", "tiny", "onehot", "zeros", "roundoff"]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    shape = batch + (K,)
    if kind == "dirichlet":
        p = rng.dirichlet(np.full(K, 0.5), size=batch or None)
    elif kind == "tiny":
        p = rng.dirichlet(np.ones(K), size=batch or None)
        p = np.where(rng.random(shape) < 0.5, 1e-300, p)
    elif kind == "onehot":
        p = np.zeros(shape)
        p[..., 0] = 1.0
    elif kind == "zeros":
        p = rng.dirichlet(np.ones(K), size=batch or None) * (rng.random(shape) < 0.6)
        p[..., 0] += 1e-3
    else:
        p = rng.dirichlet(np.ones(K), size=batch or None) * (1 + 1e-15)
    return p / p.sum(-1, keepdims=True) if kind != "roundoff" else p


@st.composite
def policies(draw, K=None, batch=()):
    K = K or draw(st.integers(1, 6))
    return _extreme_policy(draw, K, batch)


@st.composite
def tasks(draw):
    K = draw(st.integers(1, 5))
    p = _extreme_policy(draw, K)
    valid = np.array(draw(st.lists(st.booleans(), min_size=K, max_size=K)))
    valid[int(np.argmax(p))] = True
    return ms.make_task(p, valid, ood={"b": valid})


def _rules():
    return st.sampled_from([
        ms.NaturalPG(1.0), ms.SoftmaxPG(0.5), ms.KLRegularisedRL(1e-3), ms.KLRegularisedRL(0.0),
        ms.SelfDistillation(), ms.SelfDistillation(ms.TiltTeacher(30.0), beta=1e300),
        ms.SelfDistillation(ms.TiltTeacher(-20.0), objective="forward", step_size=0.3),
        ms.SelfDistillation(ms.MultiDemoTeacher(0.999999, 3), teacher_base=ms.EMA(0.95), reference="current"),
        ms.SelfDistillation(ms.CopyTeacher(0.0), demos=ms.UniformDemos(), teacher_base="frozen"),
        ms.SelfDistillation(objective="jsd", beta=0.04, teacher_base=ms.EMA(0.95)),
        ms.SelfDistillation(ms.PowerCopyTeacher(2.0, 3.0), demos=ms.UniformDemos(), objective="jsd", jsd_weight=1e-8),
    ])


#: Invalid values by class; each class is tried on every argument of a matching kind.
INVALID_REAL = [float("nan"), float("inf"), -float("inf"), "x", None, True, [1.0, "a"], object(), 10**400]
INVALID_INT = [1.5, "3", None, True, -1, float("nan"), object(), 2**64, -(10**400)]
INVALID_ARRAY = [None, "abc", [[0.5, 0.5], [1.0]], [0.5, float("nan")], object(), True]


@dataclass
class Kind:
    """How to draw valid values of an argument and which invalid values to try."""

    valid: st.SearchStrategy
    invalid: list = field(default_factory=list)


def real(lo=None, hi=None, lo_open=False, hi_open=False, extremes=()):
    """Reals allowed in [lo, hi] (None: unbounded, fuzzed up to ±1e300, the extremes and the largest float)."""
    lo_v = lo if lo is not None else -1e300
    hi_v = hi if hi is not None else 1e300
    top = (float(np.finfo(np.float64).max),) if hi is None else ()   # the largest float is valid too
    pts = [x for x in (lo, hi, *extremes, *top) if x is not None]
    pts = [x for x in pts if not ((x == lo and lo_open) or (x == hi and hi_open))]
    inner = st.floats(lo_v, hi_v, exclude_min=lo_open, exclude_max=hi_open, allow_nan=False, allow_infinity=False)
    out_of_range = ([lo - max(1.0, abs(lo))] if lo is not None else [])
    out_of_range += [hi + max(1.0, abs(hi))] if hi is not None else []
    out_of_range += [lo] if lo is not None and lo_open else []
    out_of_range += [hi] if hi is not None and hi_open else []
    return Kind(st.one_of(st.sampled_from(pts), inner) if pts else inner, INVALID_REAL + out_of_range)


def integer(lo, hi):
    return Kind(st.integers(lo, hi), INVALID_INT + [lo - 1])


KINDS = {
    "policy": Kind(policies(), INVALID_ARRAY + [[0.5, -0.5, 1.0], [0.2, 0.2], [[0.1, 0.2]], 0.5, []]),
    "task": Kind(tasks(), [None, [0.5, 0.5], "task", object()]),
    "rule": Kind(_rules(), [None, "rule", object(), ms.make_task([0.5, 0.5])]),
    "k": Kind(st.one_of(st.integers(1, 10**6), st.just([1, 2, 1000])),
              [0, -1, 1.5, float("inf"), float("nan"), None, "x", True, [1, 0], []]),
    "seed": Kind(st.one_of(st.none(), st.integers(0, 2**31), st.just(np.random.default_rng(0))),
                 ["x", 1.5, -1, True, object()]),
}


@dataclass
class Entry:
    fn: object
    args: dict  # name -> Kind (or a key of KINDS)
    check: object = None  # check(out, kwargs) for valid calls
    names: dict = field(default_factory=dict)  # argument -> word its error message must contain
    prepare: object = None  # prepare(kwargs) -> kwargs: make drawn arguments consistent


ENTRIES: dict[str, Entry] = {}


def register(name, fn, *, check=None, names=None, prepare=None, **args):
    ENTRIES[name] = Entry(fn, {k: KINDS[v] if isinstance(v, str) else v for k, v in args.items()},
                          check, names or {}, prepare)


def in_unit(out, _):
    a = np.asarray(out, dtype=float)
    assert np.all(np.isfinite(a)) and np.all((a >= 0) & (a <= 1))


def finite(out, _):
    assert np.all(np.isfinite(np.asarray(out, dtype=float)))


def nonneg(out, _):
    a = np.asarray(out, dtype=float)
    assert np.all(a >= 0) and not np.any(np.isnan(a))


def is_policy(out, _):
    p = np.asarray(out, dtype=float)
    assert np.all(np.isfinite(p)) and np.all(p >= 0)
    np.testing.assert_allclose(p.sum(-1), 1.0, rtol=1e-12)


def is_log_policy(out, _):
    lp = np.asarray(out, dtype=float)
    assert not np.any(np.isnan(lp)) and np.all(lp <= 0.0)
    np.testing.assert_allclose(np.exp(lp).sum(-1), 1.0, rtol=1e-12)


def _with_mask(kw):
    """Give a drawn policy a matching valid mask (the argument under test stays as drawn)."""
    p = np.asarray(kw.get("policy"), dtype=object)
    if "valid" in kw and isinstance(kw["valid"], str) and kw["valid"] == "auto":
        try:
            K = np.asarray(kw["policy"], dtype=float).shape[-1]
            kw["valid"] = np.arange(K) % 2 == 0
        except (TypeError, ValueError, IndexError):
            kw["valid"] = [True]
    del p
    return kw


MASK = Kind(st.just("auto"), [None, "abc", [2, 0], [[1, 0, 1]] * 7, 0.5, object()])

# ----------------------------------------------------------------- the core's entry points

register("pass_at_k", ms.pass_at_k, policy="policy", valid=MASK, k="k", check=in_unit, prepare=_with_mask)
register("expected_distinct", ms.expected_distinct, policy="policy", valid=MASK, k="k", check=nonneg,
         prepare=_with_mask)
register("pass_at_k_unbiased", ms.pass_at_k_unbiased,
         n=integer(1, 10**6), c=integer(0, 10**6), k=integer(1, 10**6),
         prepare=lambda kw: {**kw, **({"c": min(kw["c"], kw["n"]), "k": min(kw["k"], kw["n"])}
                                      if all(type(kw[a]) is int and kw[a] >= 1 for a in "nk") and type(kw["c"]) is int
                                      and kw["c"] >= 0 else {})},
         check=in_unit)
register("entropy", ms.entropy, policy="policy", check=nonneg)
register("effective_modes", ms.effective_modes, policy="policy", check=lambda o, _: np.all(np.asarray(o) >= 1))
register("renyi_entropy", ms.renyi_entropy, policy="policy",
         order=Kind(st.sampled_from([0.0, 0.5, 1.0, 2.0, 50.0, float("inf")]), ["x", None, -1.0, float("nan"), True]),
         check=nonneg)
register("simpson_index", ms.simpson_index, policy="policy", check=in_unit)
register("kl_divergence", ms.kl_divergence, p="policy", q="policy", check=nonneg)
register("kl_to_rl_target", ms.kl_to_rl_target, task="task", policy=Kind(st.just("base"), INVALID_ARRAY),
         prepare=lambda kw: {**kw, "policy": kw["task"].base if isinstance(kw["policy"], str) and kw["policy"] == "base"
                             and isinstance(kw["task"], ms.Task) else kw["policy"]},
         check=nonneg)
register("make_task", ms.make_task, base="policy", check=lambda o, _: isinstance(o, ms.Task))
register("zipf_task", ms.zipf_task, K=integer(1, 10**5), s=real(0.0, None, extremes=(50.0,)), check=lambda o, _: is_policy(o.base, 0))
register("dirichlet_task", ms.dirichlet_task, K=integer(1, 50), concentration=real(0.0, None, lo_open=True, extremes=(1e-3, 1e3)),
         seed="seed", batch_shape=Kind(st.sampled_from([(), (2,), (2, 3)]),
                                       [None, 3, [2], (2.0,), (-1,), (True,), (2**64,), (2**40, 2**40)]),
         check=lambda o, _: is_policy(o.base, 0))
register("two_strategy_task", ms.two_strategy_task, p=real(0.0, 1.0, lo_open=True, hi_open=True),
         valid_mass=real(0.0, 1.0, lo_open=True), check=lambda o, _: is_policy(o.base, 0))
register("kl_regularised_optimum", ms.kl_regularised_optimum, task="task", beta=real(0.0, None, extremes=(1e-300, 1e300)),
         check=is_policy)
register("sd_optimum", ms.sd_optimum, task="task", beta=real(0.0, None, extremes=(1e300,)),
         teacher=Kind(st.sampled_from([ms.CopyTeacher(0.0), ms.CopyTeacher(0.999), ms.TiltTeacher(-50.0),
                                       ms.TiltTeacher(50.0), ms.MultiDemoTeacher(0.5, 4)]),
                      ["copy", object(), 0.5]),
         check=is_policy)
register("CopyTeacher", ms.CopyTeacher, alpha=real(0.0, 1.0, hi_open=True))
register("TiltTeacher", ms.TiltTeacher, kappa=real(-1e300, 1e300, extremes=(-700.0, 700.0, 1e20)))
register("MultiDemoTeacher", ms.MultiDemoTeacher, alpha=real(0.0, 1.0, hi_open=True), m=integer(1, 8))
register("EMA", ms.EMA, tau=real(0.0, 1.0))
register("FixedDemo", ms.FixedDemo, mode=integer(0, 10))
register("NaturalPG", ms.NaturalPG, lr=real(0.0, None, lo_open=True, extremes=(1e300,)))
register("SoftmaxPG", ms.SoftmaxPG, lr=real(0.0, None, lo_open=True, extremes=(1e300,)))
register("KLRegularisedRL", ms.KLRegularisedRL, beta=real(0.0, None, extremes=(1e300,)))
register("SelfDistillation", ms.SelfDistillation, beta=real(0.0, None, extremes=(1e300,)), step_size=real(0.0, 1.0, lo_open=True),
         objective=Kind(st.sampled_from(["reverse", "forward"]), ["sideways", None, 1, ["reverse"]]))
register("iterate", ms.iterate, rule="rule", task="task", rounds=integer(0, 30), every=integer(1, 5),
         check=lambda o, _: is_log_policy(o.final.log_policy, 0))
register("flow", ms.flow, rule=Kind(st.sampled_from([ms.NaturalPG(1.0), ms.SoftmaxPG(1.0), ms.SelfDistillation(step_size=0.2)]),
                                    [None, object(), "rule"]),
         task="task", t_eval=Kind(st.sampled_from([[0.0, 1.0], [0.0, 0.5, 2.0]]),
                                  [None, "x", [1.0, 0.0], [0.0, float("nan")], [], [[0.0, 1.0]], [0, 10**400]]),
         rtol=real(1e-13, None, extremes=(1e-10, 1e-3)), check=lambda o, _: is_log_policy(o.final.log_policy, 0))
register("rounds_to_collapse", ms.rounds_to_collapse, rule="rule", task="task",
         eps=real(0.0, 1.0, lo_open=True, hi_open=True), max_rounds=integer(0, 50),
         check=lambda o, _: np.all(np.asarray(o) >= -1))
register("tangent_basis", ms.tangent_basis, K=integer(1, 50), check=finite)
register("fixed_points", ms.fixed_points,
         rule=Kind(st.sampled_from([ms.NaturalPG(1.0), ms.SelfDistillation()]), [None, object(), "x"]),
         task=Kind(st.sampled_from([ms.make_task([0.5, 0.3, 0.2], [1, 1, 0]), ms.make_task([0.6, 0.4])]),
                   [None, [0.5, 0.5], "task"]),
         starts=integer(0, 2), tol=real(0.0, None, lo_open=True, extremes=(1e-12, 1e-6)), check=lambda o, _: all(np.isfinite(fp.policy).all() for fp in o))


# ----------------------------------------------------------------- sampled training

from modesim import paths as P  # noqa: E402
from modesim import sampled as S  # noqa: E402
from modesim import scenarios as SC  # noqa: E402


def _log_of(kw):
    if isinstance(kw.get("log_policy"), np.ndarray):
        with np.errstate(divide="ignore"):
            kw["log_policy"] = np.log(kw["log_policy"])
    return kw


register("sample_modes", S.sample_modes, log_policy="policy", n=integer(1, 50), rng="seed",
         prepare=lambda kw: _log_of({**kw, "rng": 0 if kw["rng"] is None else kw["rng"]}),
         check=lambda o, kw: np.all(np.asarray(o) >= 0))
_NOT_A_CHOICE = ("sideways", None, 1, ["x"], object())


def choice_kind(values, invalid=_NOT_A_CHOICE):
    return Kind(st.sampled_from(list(values)), list(invalid))


def _grad_norm():
    return Kind(st.one_of(st.none(), st.floats(1e-6, 1e3), st.just(1.0)),
                [0.0, -1.0, float("nan"), float("inf"), "x", True])


def _jsd_weight_only_for_jsd(kw):
    """A valid λ with another objective is refused by design; keep it only for objective='jsd'."""
    lam = kw.get("jsd_weight")
    if kw.get("objective") != "jsd" and isinstance(lam, float) and 0.0 <= lam <= 1.0:
        kw["jsd_weight"] = None
    return kw


OPTIMISERS = choice_kind(["sgd", "adam", S.SGD(max_grad_norm=1.0), S.Adam(weight_decay=0.01, max_grad_norm=1.0)],
                         ["adamw", None, 3, object()])
KL_ESTIMATORS = choice_kind(["exact", "k1", "k2", "k3", "k3_clamped", "k3_is"])

register("SampledRL", S.SampledRL, lr=real(0.0, None, lo_open=True, extremes=(1e3,)), beta=real(0.0, None, extremes=(1e3,)),
         n_rollouts=integer(2, 64), diversity_bonus=real(0.0, None, extremes=(10.0,)), seed="seed",
         std=choice_kind(["population", "bessel"]), reward_scale=choice_kind(["group", "none"]),
         kl_estimator=KL_ESTIMATORS, optimiser=OPTIMISERS)
register("SampledSD", S.SampledSD, lr=real(0.0, None, lo_open=True, extremes=(1e3,)), beta=real(0.0, None, extremes=(1e3,)),
         n_rollouts=integer(2, 64), seed="seed",
         objective=choice_kind(["reverse", "forward", "jsd"]),
         jsd_weight=Kind(st.one_of(st.none(), st.floats(0.0, 1.0)), [-0.1, 1.5, float("nan"), "x", True]),
         loss_normalisation=choice_kind(["all", "demonstrated"]), demo_sharing=choice_kind(["per_rollout", "per_group"]),
         kl_estimator=KL_ESTIMATORS, optimiser=OPTIMISERS, prepare=_jsd_weight_only_for_jsd)
register("SGD", S.SGD, max_grad_norm=_grad_norm())
register("Adam", S.Adam, beta1=real(0.0, 1.0, hi_open=True), beta2=real(0.0, 1.0, hi_open=True),
         eps=real(0.0, None, lo_open=True, extremes=(1e-300,)), weight_decay=real(0.0, None, extremes=(1e3,)),
         max_grad_norm=_grad_norm())
register("SampledRL.preset", lambda preset: S.SampledRL.preset(preset),
         preset=choice_kind(["trl", "verl"], ["sdpo", "TRL", None, 3]),
         names={"preset": "name"}, check=lambda o, _: isinstance(o, S.SampledRL))
register("SampledSD.preset", lambda preset: S.SampledSD.preset(preset),
         preset=choice_kind(["sdpo", "trl-sdpo", "opsd"], ["trl", "SDPO", None, 3]),
         names={"preset": "name"}, check=lambda o, _: isinstance(o, S.SampledSD))
register("presets.describe", lambda preset: S.presets.describe(preset),
         preset=choice_kind(list(S.presets.PRESETS), ["x", None, 3]),
         names={"preset": "name"}, check=lambda o, _: isinstance(o, str))

TRAINED_RULES = [
    S.SampledRL("grpo", lr=1.0, seed=0), S.SampledRL("rloo", lr=0.3, beta=12.0, seed=1),
    S.SampledSD(lr=0.5, seed=2), S.SampledSD(ms.TiltTeacher(30.0), lr=2.0, seed=3),
    S.SampledRL.preset("trl", beta=0.04, seed=4), S.SampledRL.preset("verl", seed=5),
    S.SampledRL.preset("trl", std="population", reward_scale="none", kl_estimator="k3_is", beta=1.0, seed=6),
    S.SampledSD.preset("sdpo", seed=7), S.SampledSD.preset("trl-sdpo", seed=8), S.SampledSD.preset("opsd", seed=9),
    S.SampledSD(objective="jsd", jsd_weight=0.9, baseline="loo", beta=0.5, kl_estimator="k3", seed=10),
    S.SampledSD(objective="jsd", jsd_weight=np.array([0.0, 0.3, 1.0])[:, None, None], estimator="full", seed=11),
    S.SampledSD(objective="forward", estimator="full", demo_sharing="per_group", loss_normalisation="demonstrated", seed=12),
]
register("train", S.train,
         rule=Kind(st.sampled_from(TRAINED_RULES), [None, "rule", object()]),
         task="task", steps=integer(0, 5), n_seeds=integer(1, 4),
         check=lambda o, _: is_log_policy(o.final.log_policy, 0))
FUZZ_BATCH_TASK = ms.dirichlet_task(4, 1.0, seed=7, batch_shape=(3, 5), valid=[1, 1, 0, 1], ood={"b": [0, 1, 1, 0]})
register("Task.__getitem__", lambda task, index: task[index],
         task=Kind(st.just(FUZZ_BATCH_TASK), []),
         index=Kind(st.sampled_from([0, -1, 2, (1, 4), (slice(None), 3), slice(1, 3), [0, 2], (slice(None), np.array([4, 0])),
                                     (2, [0, 1, 4]), np.arange(15).reshape(3, 5) % 2 == 0, np.array([True, False, True])]),
                    [None, Ellipsis, 1.5, "0", True, 3, -4, (0, 5), (0, 1, 2), np.array([1.0]), np.ones(4, bool),
                     slice(2, 2), object()]),
         names={"index": "index"}, check=lambda o, _: isinstance(o, ms.Task) and o.n_modes == 4)
register("replicate", S.replicate, task="task", n_seeds=integer(1, 5), check=lambda o, _: isinstance(o, ms.Task))
register("fixation_probability", ms.fixation_probability,
         policy=Kind(st.builds(lambda p: np.stack([p, p[::-1]]), policies(K=3)), INVALID_ARRAY + [[[0.5, -0.5, 1.0]] * 2]),
         eps=real(0.0, 1.0, lo_open=True, hi_open=True), check=in_unit)

# ----------------------------------------------------------------- paths and scenarios


@st.composite
def _path_tasks(draw):
    g = P.PathGraph.from_edges([(0, 1), (0, 2), (2, 3), (2, 4), (1, 3)], 0, 3)
    w = np.array(draw(st.lists(st.sampled_from([1e-300, 1e-20, 0.3, 1.0]), min_size=g.n_edges, max_size=g.n_edges)))
    w[[0, 2]] = np.maximum(w[[0, 2]], 1e-3)
    return P.path_task(g, w, ood={"b": [False, False, False, False, True]})


PATH_TASK = Kind(_path_tasks(), [None, "task", ms.make_task([0.5, 0.5]), object()])


def _path_policy(kw):
    if isinstance(kw.get("policy"), str) and kw["policy"] == "base" and isinstance(kw.get("task"), P.PathTask):
        kw["policy"] = kw["task"].base
    return kw


PATH_POLICY = Kind(st.just("base"), INVALID_ARRAY + [[0.5, 0.5], [[0.2, 0.8, 0.3, 0.7, 1.0]]])

register("path_pass_at_k", P.path_pass_at_k, policy=PATH_POLICY, task=PATH_TASK, k="k",
         ood=Kind(st.sampled_from([None, "b"]), ["nope", 3, object()]), prepare=_path_policy, check=in_unit)
register("success_probability", P.success_probability, policy=PATH_POLICY, task=PATH_TASK, prepare=_path_policy, check=in_unit)
register("expected_distinct_concepts", P.expected_distinct_concepts, policy=PATH_POLICY, task=PATH_TASK, k="k",
         prepare=_path_policy, check=nonneg)
register("expected_distinct_paths", P.expected_distinct_paths, policy=PATH_POLICY, task=PATH_TASK, k="k",
         ood=Kind(st.sampled_from([None, "b"]), ["nope", 3]), prepare=_path_policy, check=nonneg)
register("path_entropy", P.path_entropy, policy=PATH_POLICY, task=PATH_TASK, prepare=_path_policy, check=nonneg)
register("token_entropy", P.token_entropy, policy=PATH_POLICY, task=PATH_TASK, prepare=_path_policy, check=nonneg)
register("node_marginals", P.node_marginals, policy=PATH_POLICY, task=PATH_TASK, prepare=_path_policy, check=in_unit)
register("edge_marginals", P.edge_marginals, policy=PATH_POLICY, task=PATH_TASK, prepare=_path_policy, check=in_unit)
register("path_kl_regularised_optimum", P.path_kl_regularised_optimum, task=PATH_TASK,
         beta=real(0.0, None, extremes=(1e-300, 1e300)), check=in_unit)
register("path_sd_optimum", P.path_sd_optimum, task=PATH_TASK, beta=real(0.0, None, extremes=(1e300,)), check=in_unit)
register("PathNaturalPG", P.PathNaturalPG, lr=real(0.0, None, lo_open=True, extremes=(1e300,)))
register("PathSelfDistillation", P.PathSelfDistillation, beta=real(0.0, None, extremes=(1e300,)),
         step_size=real(0.0, 1.0, lo_open=True))
register("PathCopyTeacher", P.PathCopyTeacher, alpha=real(0.0, 1.0, hi_open=True))
register("LayeredDAG", P.LayeredDAG, n_layers=integer(1, 5), width=integer(2, 6), n_paths=integer(1, 1),
         bias=real(0.0, None, extremes=(50.0,)), leak=real(0.0, 1.0, hi_open=True),
         check=lambda o, _: o.build(seed=0).graph.n_edges > 0)
# popularity ≤ 700/ln(n_concepts): 189 is allowed for every n_concepts ≤ 40, 700 for none ≥ 3.
register("ConceptGraph", P.ConceptGraph, n_concepts=integer(3, 40), out_degree=integer(1, 3),
         popularity=Kind(st.one_of(st.sampled_from([0.0, 20.0, 189.0]), st.floats(0.0, 189.0)),
                         INVALID_REAL + [-1.0, 700.0, 1e300, float(np.finfo(np.float64).max)]),
         check=lambda o, _: isinstance(o, P.ConceptGraph))
register("count_paths", P.count_paths, graph=Kind(st.just(P.PathGraph.from_edges([(0, 1), (0, 2), (2, 1)], 0, 1)),
                                                    [None, "g", object()]),
         blocked=Kind(st.sampled_from([None, [False, True, False]]), ["x", [1, 2, 3], [True, False]]), check=nonneg)
register("sample_paths", P.sample_paths, policy=PATH_POLICY, task=PATH_TASK, n=integer(1, 40), seed="seed",
         prepare=_path_policy, check=lambda o, _: o.nodes.shape[0] >= 1)
register("prompt_bank", SC.prompt_bank, n_prompts=integer(1, 20), n_modes=integer(3, 30), n_valid=integer(2, 4),
         decay=real(0.0, 1.0, lo_open=True, hi_open=True), seed="seed", check=lambda o, _: is_policy(o.base, 0),
         prepare=lambda kw: {**kw, **({"n_valid": min(kw["n_valid"], kw["n_modes"] - 1)}
                                      if type(kw["n_valid"]) is int and type(kw["n_modes"]) is int and kw["n_modes"] >= 3
                                      and kw["n_valid"] >= 2 else {})})



def _claims_check(out, _):
    assert isinstance(out, SC.PaperClaims) and [c.key for c in out.claims] == ["tilt"]
    c = out.claims[0]
    assert c.status in ("holds", "holds only when", "fails") and c.verdict.startswith(c.status)
    assert all(np.isfinite(case.margin) for case in c.cases) and out.table()


def _study_check(out):
    assert isinstance(out, SC.IngredientStudy) and len(out.rows) >= 12 and out.table()
    for r in out.rows:
        for d in (r.grpo, r.sd):
            assert all(np.all((v >= 0) & (v <= 1)) for k, v in d.items() if "pass" in k)


_STUDY_BETAS = Kind(st.sampled_from([(0.0,), (0.0, 0.04), (0.001, 0.3, 1.0)]),
                    [[], [0.04, 0.0], [-1.0], "x", [float("nan")], [[0.1], [0.2]], None, [0.0, 8.0]])
PROGRESS = Kind(st.sampled_from([False, None]), ["yes", 1, 0, "False", object()])
register("paper_claims", SC.paper_claims,
         claims=Kind(st.just(["tilt"]), ["nope", "tilt", 3, [], [["tilt"]], object()]),
         study=Kind(st.just(False), ["yes", 1, None]), n_prompts=integer(1, 6),
         betas=Kind(st.sampled_from([(0.0,), (0.0, 0.001, 0.04), (1e-300, 7.9)]), _STUDY_BETAS.invalid),
         alpha=real(0.0, 1.0, lo_open=True, hi_open=True), gamma=real(1.0, 1e300, lo_open=True),
         strong_alpha=real(0.0, 1.0, lo_open=True, hi_open=True), seed="seed", progress=PROGRESS, check=_claims_check)
register("ingredient_study", SC.ingredient_study, n_prompts=integer(1, 3), n_seeds=integer(1, 2), steps=integer(1, 3),
         betas=_STUDY_BETAS, alpha=real(0.0, 1.0, lo_open=True, hi_open=True),
         gamma=real(1.0, 1e300, lo_open=True), seed="seed", progress=PROGRESS,
         check=lambda o, _: _study_check(o))

# ----------------------------------------------------------------- sweeps and rollouts

RECORDS = [{"prompt_id": p, "answer": a, "correct": c}
           for p, a, c in [("q1", "x", True), ("q1", "y", True), ("q1", "x", True), ("q1", "z", False),
                           ("q2", "u", True), ("q2", "v", False)]]

register("sweep", ms.sweep,
         rule=Kind(st.sampled_from([ms.NaturalPG(1.0), ms.SelfDistillation()]), [None, "rule", object()]),
         task="task",
         grid=Kind(st.sampled_from([{"beta": [0.0, 1e300]}, {"beta": [0.5]}]),
                   [{"beta": [float("nan")]}, {"beta": "x"}, {"beta": []}, "beta", [0.5]]),
         rounds=integer(0, 3),
         prepare=lambda kw: {**kw, "grid": ({"lr": [0.1, 1e300]} if isinstance(kw["rule"], ms.NaturalPG)
                                            and isinstance(kw["grid"], dict) and kw["grid"].get("beta") in ([0.0, 1e300], [0.5])
                                            else kw["grid"])},
         names={"grid": "grid"}, check=lambda o, _: all(np.isfinite(o[v]).all() for v in o.data_vars))
register("rollout_bank", ms.rollout_bank, source=Kind(st.just(RECORDS), [None, 3, [{"prompt_id": "q"}], [[1, 2]]]),
         pseudocount=real(0.0, None, lo_open=True, extremes=(1e6,)),
         unseen=Kind(st.sampled_from(["good-turing", "additive", 0.0, 0.5]), ["nope", -1.0, 2.0, None]),
         check=lambda o, _: is_policy(o.task.base, 0))

# ----------------------------------------------------------------- theory §8 (practice)


def _logs(p):
    p = np.asarray(p, dtype=float)
    return np.where(p > 0, np.log(np.where(p > 0, p, 1.0)), -np.inf)


LOG_POLICY = Kind(policies(K=4).map(_logs), INVALID_ARRAY + [[0.1, -0.5], [[0.0, 0.0]], 0.5])
_JSD = real(1e-8, 1 - 1e-8)
JSD_WEIGHT = Kind(_JSD.valid, [x for x in _JSD.invalid if x is not None] + [0.0, 1.0, 1e-9])  # None = 0.5
SD_TEACHERS = Kind(st.sampled_from([ms.CopyTeacher(0.0), ms.CopyTeacher(0.999), ms.TiltTeacher(-50.0),
                                    ms.TiltTeacher(50.0), ms.MultiDemoTeacher(0.5, 4), ms.PowerCopyTeacher(1.0, 2.0),
                                    ms.PowerCopyTeacher(0.0, 1.0), ms.PowerCopyTeacher(5.0, -3.0)]),
                   ["copy", object(), 0.5])

register("jsd_divergence", ms.jsd_divergence, log_t=LOG_POLICY, log_s=LOG_POLICY, jsd_weight=JSD_WEIGHT, check=nonneg)
register("jsd_score", ms.jsd_score, log_policy=LOG_POLICY, log_teacher=LOG_POLICY, jsd_weight=JSD_WEIGHT,
         check=lambda o, _: not np.any(np.isnan(o)))
register("sd_optimum(jsd)", lambda **kw: ms.sd_optimum(objective="jsd", **kw), task="task",
         beta=real(0.0, None, extremes=(1e-300, 1e300)), jsd_weight=JSD_WEIGHT, teacher=SD_TEACHERS, check=is_policy)
register("SelfDistillation(jsd)", lambda **kw: ms.SelfDistillation(objective="jsd", **kw),
         beta=real(0.0, None, extremes=(1e300,)), jsd_weight=JSD_WEIGHT, step_size=real(0.0, 1.0, lo_open=True))
register("PowerCopyTeacher", ms.PowerCopyTeacher, c=real(0.0, None, extremes=(1e300,)),
         gamma=real(-1e300, 1e300, extremes=(-50.0, 50.0)))
register("critical_kl_strength", ms.critical_kl_strength, alpha=real(0.0, 1.0, lo_open=True, hi_open=True),
         tol=real(0.0, 1.0, lo_open=True, hi_open=True), check=lambda o, _: np.all(np.asarray(o) > 0))
register("uniform_instability_threshold", ms.uniform_instability_threshold, K=integer(2, 50),
         alpha=real(0.0, 1.0, hi_open=True), check=nonneg)
register("collapse_depth", ms.collapse_depth, task="task", alpha=Kind(st.floats(0.3, 0.95), INVALID_REAL + [0.0, 1.0]),
         beta=Kind(st.floats(1e-3, 0.02), INVALID_REAL + [0.0, -1.0, 1e-9]), check=lambda o, _: np.all(np.isfinite(o.log_depth)) and in_unit(o.ood_pass_at_k, 0) is None)
register("two_mode_rest_point", ms.two_mode_rest_point, alpha=real(0.0, 1.0, lo_open=True, hi_open=True),
         beta=real(1e-6, None, extremes=(1e300,)), p0=real(0.0, 1.0, lo_open=True, hi_open=True),
         check=lambda o, _: np.all(np.isfinite(o.logit)))

# ----------------------------------------------------------------- graph banks and sampled path rules (issue 13)

from modesim import paths  # noqa: E402

FUZZ_BANK = paths.graph_bank(paths.ConceptGraph(8), 2, seed=0)


def _bank_policies():
    rng = np.random.default_rng(0)
    g = FUZZ_BANK.graph
    tiny = np.exp(paths.normalise_nodes(g, rng.normal(0, 30.0, g.n_edges)))  # entries down to ~1e-40
    greedy = np.where(np.arange(g.n_edges) == np.repeat(g.out_offsets, g.out_lengths), 1.0, 0.0)
    return [FUZZ_BANK.base, tiny, greedy, np.stack([FUZZ_BANK.base, tiny])]


BANK_POLICY = Kind(st.sampled_from(_bank_policies()),
                   INVALID_ARRAY + [np.ones(3), -FUZZ_BANK.base, 2 * FUZZ_BANK.base])
BANK = Kind(st.just(FUZZ_BANK), [None, "bank", object(), FUZZ_BANK.tasks[0], ms.make_task([0.5, 0.5])])
SMALL_K = Kind(st.one_of(st.integers(1, 24), st.just([1, 2, 16])), [0, 25, 1.5, None, "x", True, []])


def _bank_policy_check(out, kw):
    p = np.asarray(out, dtype=float)
    assert np.all(np.isfinite(p)) and np.all(p >= 0)
    np.testing.assert_allclose(np.add.reduceat(p, FUZZ_BANK.graph.out_offsets, axis=-1), 1.0, rtol=1e-12)


def _one_step(rule, _):
    """A valid rule runs a step on a bank: finite, normalised per node, no warning (or a
    step too large for the float range is refused with a named error)."""
    try:
        state = rule.step(rule.init(FUZZ_BANK), FUZZ_BANK)
    except ValueError as exc:
        assert _documented_refusal(str(exc)), exc
        return
    assert not np.any(np.isnan(state.log_policy)) and np.all(state.log_policy <= 0.0)
    np.testing.assert_allclose(np.add.reduceat(state.policy, FUZZ_BANK.graph.out_offsets, axis=-1), 1.0, rtol=1e-12)


register("bank_success", paths.bank_success, policy=BANK_POLICY, bank=BANK, check=in_unit)
register("bank_pass_at_k", paths.bank_pass_at_k, policy=BANK_POLICY, bank=BANK, k="k", check=in_unit)
register("bank_distinct_concepts", paths.bank_distinct_concepts, policy=BANK_POLICY, bank=BANK, k="k", check=nonneg)
register("bank_distinct_paths", paths.bank_distinct_paths, policy=BANK_POLICY, bank=BANK, k=SMALL_K, check=nonneg)
register("bank_token_entropy", paths.bank_token_entropy, policy=BANK_POLICY, bank=BANK, check=nonneg)
register("bank_kl_optimum", paths.bank_kl_optimum, bank=BANK, beta=real(0.0, None, extremes=(1e-300, 1e300)),
         check=_bank_policy_check)
register("graph_bank", paths.graph_bank,
         spec=Kind(st.sampled_from([paths.ConceptGraph(6), paths.LayeredDAG(n_layers=2, width=4, n_paths=2)]),
                   [None, "spec", object(), 3]),
         n_graphs=integer(1, 3), seed="seed", harder=Kind(st.sampled_from([None, 1]), [0, -1, 1.5, "x", True]),
         check=lambda o, _: isinstance(o, paths.GraphBank))
register("bank_metrics", paths.bank_metrics, policy=BANK_POLICY, bank=BANK, ks=SMALL_K,
         ood=Kind(st.sampled_from([None, "harder"]), ["nope", 3, object()]),
         check=lambda o, _: all(np.all(np.isfinite(v)) and np.all(np.asarray(v) >= 0) for v in o.values()))
register("as_bank", paths.as_bank, task=Kind(st.sampled_from([FUZZ_BANK, FUZZ_BANK.tasks[0]]), [None, "x", ms.make_task([0.5, 0.5])]),
         check=lambda o, _: isinstance(o, paths.GraphBank))
register("FeaturePolicy", paths.FeaturePolicy,
         theta0=Kind(st.sampled_from([None, (1.0, 0.0, 0.0), (0.5, 1e3, -1e3)]),
                     [(1.0,), "x", (float("nan"), 0.0, 0.0), (1.0, float("inf"), 0.0), [[1.0, 0.0, 0.0]]]))
register("PathSampledRL", paths.PathSampledRL,
         estimator=Kind(st.sampled_from(["grpo", "rloo", "reinforce"]), ["ppo", None, 1]),
         n_rollouts=Kind(st.integers(2, 16), INVALID_INT + [0]),     # (1 is valid for REINFORCE)
         lr=real(0.0, None, lo_open=True, extremes=(1e-300, 1e6)),
         beta=real(0.0, None, extremes=(1e6,)), eps=real(0.0, None, lo_open=True, extremes=(1e-300, 1e6)),
         policy=Kind(st.sampled_from(["tabular", paths.FeaturePolicy()]), ["linear", None, 3]),
         seed=Kind(st.integers(0, 2**31), ["x", 1.5, -1, True, object()]), check=_one_step)
register("PathSampledSD", paths.PathSampledSD,
         objective=Kind(st.sampled_from(["reverse", "forward"]), ["tvd", None, 1]),
         n_rollouts=integer(2, 16), lr=real(0.0, None, lo_open=True, extremes=(1e-300, 1e6)),
         beta=real(0.0, None, extremes=(1e6,)),
         teacher_base=Kind(st.sampled_from(["current", "frozen", ms.EMA(0.95)]), ["ema", 0.9, None]),
         policy=Kind(st.sampled_from(["tabular", paths.FeaturePolicy()]), ["linear", 3]),
         seed=Kind(st.integers(0, 2**31), ["x", 1.5, -1, True, object()]), check=_one_step)
register("ExpectedUpdate", paths.ExpectedUpdate,
         rule=Kind(st.sampled_from([paths.PathSampledRL(lr=0.5), paths.PathSampledSD(teacher_base=ms.EMA(0.9))]),
                   [None, "rule", ms.SampledRL(), object()]),
         check=_one_step)


# ----------------------------------------------------------------- remedies (issue 14, theory §11)

from modesim import remedies as RM  # noqa: E402

ONE_DEMO_TEACHERS = Kind(st.sampled_from([ms.CopyTeacher(0.0), ms.CopyTeacher(0.999), ms.TiltTeacher(-50.0),
                                          ms.TiltTeacher(50.0), ms.PowerCopyTeacher(1.0, 2.0),
                                          ms.PowerCopyTeacher(5.0, -3.0)]),
                         ["copy", object(), 0.5, ms.MultiDemoTeacher(0.5, 2)])
NONNEG = real(0.0, None, extremes=(1e300,))
# distill_weight: any real is allowed when distill_weight + beta > 0; positive draws keep valid calls valid.
DISTILL = Kind(real(0.0, None, lo_open=True, extremes=(1e300,)).valid, INVALID_REAL)
SIGNED = Kind(real(-1e3, 1e3).valid, INVALID_REAL)       # a weight of either sign (sampled and path blends)


def _categorical_steps(rule, _):
    """A valid sampled rule trains three steps on a small bank: normalised, no NaN, no warning
    (learning rates and KL strengths up to 10: SGD steps of lr·β ~ 1e16 leave the float range)."""
    task = ms.make_task([[0.5, 0.3, 0.2], [0.1, 0.1, 0.8]], [[1, 1, 0], [0, 1, 1]])
    try:
        final = S.train(rule, task, 3, n_seeds=2, record_policy=False).final
    except ValueError as exc:
        assert _documented_refusal(str(exc)), exc
        return
    is_log_policy(final.log_policy, 0)


register("MixtureTeacher", RM.MixtureTeacher, teacher=ONE_DEMO_TEACHERS, m=integer(1, 8))
register("sd_optimum(MixtureTeacher)", lambda task, m, beta: ms.sd_optimum(task, teacher=RM.MixtureTeacher(
    ms.CopyTeacher(0.7), m), beta=beta), task="task", m=integer(1, 12), beta=NONNEG, check=is_policy)
register("ContrastiveTeacher", RM.ContrastiveTeacher, teacher=ONE_DEMO_TEACHERS,
         baseline=Kind(st.sampled_from(["independent", "none"]), ["mismatched", None, 1]))
register("sd_optimum(ContrastiveTeacher)", lambda task, teacher, beta: ms.sd_optimum(
    task, teacher=RM.ContrastiveTeacher(teacher), beta=beta), task="task", teacher=ONE_DEMO_TEACHERS, beta=NONNEG,
    check=is_policy)
register("BalancedDemos", RM.BalancedDemos, teacher=ONE_DEMO_TEACHERS)
register("sd_optimum(BalancedDemos)", lambda task, teacher, beta: ms.sd_optimum(
    task, teacher=teacher, demos=RM.BalancedDemos(teacher), beta=beta), task="task", teacher=ONE_DEMO_TEACHERS,
    beta=NONNEG, check=is_policy)
register("PowerDemos", RM.PowerDemos, exponent=real(None, None, extremes=(-50.0, 0.0, 1.0, 50.0)))
register("sd_optimum(PowerDemos)", lambda task, exponent: ms.sd_optimum(task, demos=RM.PowerDemos(exponent)),
         task="task", exponent=real(None, None, extremes=(-50.0, 0.0, 1.0, 50.0)), check=is_policy)
register("DistillationBlend", RM.DistillationBlend, reward_weight=NONNEG,
         distill_weight=DISTILL, beta=NONNEG,
         step_size=real(0.0, 1.0, lo_open=True))
register("blend_optimum", RM.blend_optimum, task="task", reward_weight=NONNEG,
         distill_weight=DISTILL, beta=NONNEG, check=is_policy)
register("RemedySampledSD", RM.RemedySampledSD, objective=Kind(st.sampled_from(["reverse", "forward"]),
                                                               ["jsd", None, 1]),
         lr=real(0.0, None, lo_open=True, extremes=(1e3,)),
         beta=Kind(real(0.0, 10.0).valid, INVALID_REAL + [-1.0]),     # (no upper bound but lr·beta < 4)
         n_rollouts=integer(2, 16), seed=Kind(st.integers(0, 2**31), ["x", 1.5, -1, True, object()]),
         check=_categorical_steps)
register("SampledBlend", RM.SampledBlend, combine=Kind(st.sampled_from(["sum", "sign"]), ["max", None, 2]),
         reward_weight=real(0.0, None, extremes=(1e3,)), distill_weight=SIGNED,
         rl_estimator=Kind(st.sampled_from(["grpo", "rloo", "reinforce"]), ["ppo", None]),
         lr=real(0.0, None, lo_open=True, extremes=(1e3,)),
         beta=Kind(real(0.0, 10.0).valid, INVALID_REAL + [-1.0]),     # (no upper bound but lr·beta < 4)
         n_rollouts=integer(2, 16), seed=Kind(st.integers(0, 2**31), ["x", 1.5, -1, True, object()]),
         check=_categorical_steps)
register("PathBlend", RM.PathBlend, combine=Kind(st.sampled_from(["sum", "sign"]), ["max", None, 2]),
         reward_weight=real(0.0, None, extremes=(1e3,)), distill_weight=SIGNED,
         n_rollouts=integer(2, 16), lr=real(0.0, None, lo_open=True, extremes=(1e-300, 1e6)),
         beta=real(0.0, None, extremes=(1e6,)),
         policy=Kind(st.sampled_from(["tabular", paths.FeaturePolicy()]), ["linear", 3]),
         seed=Kind(st.integers(0, 2**31), ["x", 1.5, -1, True, object()]), check=_one_step)
_UNIT_OPEN = real(0.0, 1.0, lo_open=True, hi_open=True)
register("copy_gain", RM.copy_gain, rho=real(0.0, 1.0, lo_open=True, extremes=(1e-300,)), alpha=real(0.0, 1.0, hi_open=True),
         check=nonneg)
register("mixture_jensen_gap", RM.mixture_jensen_gap, alpha=real(0.0, 1.0, hi_open=True), m=integer(1, 500),
         rho=real(0.0, 1.0, lo_open=True, extremes=(1e-300,)), p=real(0.0, 1.0),
         check=lambda o, _: np.all(np.isfinite(o)) and np.all(np.asarray(o) <= 0))
register("mixture_gap_leading", RM.mixture_gap_leading, alpha=real(0.0, 1.0, hi_open=True), m=integer(1, 10**6),
         rho=real(0.0, 1.0, lo_open=True, extremes=(1e-300,)), p=real(0.0, 1.0),
         check=lambda o, _: not np.any(np.isnan(o)) and np.all(np.asarray(o) <= 0))
register("mixture_gap_bound", RM.mixture_gap_bound, alpha=real(0.0, 1.0, hi_open=True), m=integer(1, 10**6),
         rho=real(0.0, 1.0, lo_open=True, extremes=(1e-300,)), p=real(0.0, 1.0), check=nonneg)
register("power_ipw_threshold", RM.power_ipw_threshold, alpha=_UNIT_OPEN,
         exponent=real(None, None, extremes=(-50.0, 0.0, 0.5, 0.999, 1.0, 50.0)), check=nonneg)
register("blend_exponent", RM.blend_exponent, distill_weight=DISTILL, beta=NONNEG, check=finite)
register("diversity_bonus_reward", RM.diversity_bonus_reward, policy="policy", valid=MASK, n_rollouts=integer(1, 64),
         bonus=NONNEG, check=lambda o, _: not np.any(np.isnan(o)) and np.all(np.asarray(o) >= 0),
         prepare=_with_mask)


# ----------------------------------------------------------------- the fuzz loop


def _draw_call(data, name):
    entry = ENTRIES[name]
    kwargs = {arg: data.draw(kind.valid, label=arg) for arg, kind in entry.args.items()}
    bad = data.draw(st.sampled_from([None] + [a for a, k in entry.args.items() if k.invalid]), label="corrupt")
    if bad is not None:
        kwargs[bad] = data.draw(st.sampled_from(entry.args[bad].invalid), label=f"invalid {bad}")
    if entry.prepare is not None:
        corrupted = kwargs[bad] if bad is not None else None
        kwargs = entry.prepare(dict(kwargs))
        if bad is not None:     # prepare makes the valid draws consistent; it may not repair the bad one
            kwargs[bad] = corrupted
    return entry, kwargs, bad


def run_one(name, entry, kwargs, bad):
    """One fuzz call; raises AssertionError if the entry point breaks its promise."""
    if bad is None:
        try:
            out = entry.fn(**kwargs)
        except ValueError as exc:
            # A valid-looking draw may still be refused for a documented mathematical reason
            # (e.g. no demonstration can be sampled): the message must say so.
            assert _documented_refusal(str(exc)), f"{name}{kwargs}: unexpected refusal {exc}"
            return
        if entry.check is not None:
            entry.check(out, kwargs)
        return
    word = entry.names.get(bad, bad)
    try:
        entry.fn(**kwargs)
    except ValueError as exc:
        message = str(exc)
    except Exception as exc:  # noqa: BLE001 - any other exception type breaks the promise
        raise AssertionError(f"{name}: corrupting {bad!r} with {kwargs[bad]!r} raised {type(exc).__name__}: {exc}") from exc
    else:
        raise AssertionError(f"{name}: corrupting {bad!r} with {kwargs[bad]!r} was accepted")
    assert word in message, f"{name}: corrupting {bad!r} with {kwargs[bad]!r} gave a message without {word!r}: {message}"


@settings(max_examples=2500, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
@given(st.data())
def test_fuzz_every_public_entry_point(data):
    name = data.draw(st.sampled_from(sorted(ENTRIES)), label="entry point")
    entry, kwargs, bad = _draw_call(data, name)
    run_one(name, entry, kwargs, bad)


REFUSALS = ("must broadcast (same K modes)", "zero probability", "disjoint supports", "undefined", "no correct rollout", "must be valid in every prompt",
            "K = ", "too large", "lr·weight_decay < 1", "needs T(y|d) > 0", "lr·beta < 4")


def _documented_refusal(message: str) -> bool:
    return any(r in message for r in REFUSALS)


def test_fuzz_registry_covers_the_public_api():
    """Every public callable of the core and of modesim.sampled is registered (or listed here
    with the reason it is not); paths and scenarios are checked by the next test."""
    exempt = {
        "Task", "State", "Rule", "Trajectory", "FixedPoint", "Teacher", "DemoSource",  # types
        "capabilities", "require", "apply_map",  # protocol helpers, tested in test_rule.py
        "ConditionedDemos", "UniformDemos", "ExplicitDemos", "MatrixTeacher",  # tested in test_teachers.py
        "conditional", "amplification_exponent", "ratio_table", "sd_target", "filter_limit",
        "map_jacobian", "flow_jacobian",
    }
    core = {n for n in ms.__all__ if n not in ms._LAZY and callable(getattr(ms, n)) and not n.isupper()}
    exempt |= {
        "mean_field_distance", "mean_field",  # compare two trajectories; tested in tests/sampled
        "AdamState",  # a type (the optimiser state), tested in tests/sampled/test_optim.py
        "collapse_times", "fan",  # take a Trajectory; validated in tests/test_metrics_seeds.py
    }
    core |= {n for n in S.__all__} | {n for n in ("fixation_probability", "collapse_times", "fan")}
    missing = sorted(core - set(ENTRIES) - exempt)
    assert not missing, f"register these entry points in tests/test_fuzz.py: {missing}"


@pytest.mark.parametrize("kwargs, bad", [
    ({"policy": [0.5, float("nan")], "valid": [1, 1], "k": 2}, "policy"),  # lets NaN through
    ({"policy": [0.5, 0.5], "valid": [1, 1], "k": 1.5}, "k"),  # accepts a non-integer k
    ({"policy": [0.5, 0.5], "valid": [1, 1], "k": 2}, None),  # out of range
])
def test_fuzz_checks_catch_a_bad_entry_point(kwargs, bad):
    """Negative control: an entry point that validates nothing fails every fuzz check."""

    def leaky(policy, valid, k):
        return np.asarray(policy, dtype=float).sum() * np.asarray(k, dtype=float)

    entry = Entry(leaky, {"policy": KINDS["policy"], "valid": MASK, "k": KINDS["k"]}, in_unit, {}, None)
    with pytest.raises(AssertionError):
        run_one("leaky", entry, kwargs, bad)


def test_fuzz_registry_covers_paths_and_scenarios():
    exempt = {
        # types, strategies and low-level DP kernels (checked against enumeration in tests/paths)
        "Layer", "PathEnumeration", "PathGraph", "PathTask", "PathTeacher", "PathDemoSource", "Rollouts",
        "ConditionedPaths", "UniformPaths", "FixedPath", "PathKLRegularisedRL", "PATH_METRICS",
        "backward", "forward", "normalise_nodes", "normalise_paths", "edge_log_marginals", "log_success",
        "hit_probability", "most_probable_path", "harder", "categorical_task", "enumerate_paths", "path_task",
        # scenarios: long runs, validated by their own tests
        "BLOCKED", "BankComparison", "TokenEntropyExample", "sd_vs_rl", "synonym_task", "token_entropy_example",
        "bank_pass_at_k",
        # issue 13: types and helpers (checked in tests/paths/test_banks.py, test_features.py,
        # test_sampled.py) and the long-running experiment (tests/scenarios/test_graph_experiment.py)
        "GraphBank", "TabularPolicy", "bank_forward", "bank_stack", "normalise_nodes_rowwise",
        "graph_splits", "graph_experiment", "GraphExperiment", "plot_graph_experiment",
        "token_entropy_robustness", "TokenEntropyRobustness",
        # issue 12: the paper's claims; result types and the claim keys (tests/scenarios/test_paper_claims.py)
        "CLAIMS", "Case", "Claim", "PaperClaims", "StudyRow", "IngredientStudy",
        "DEFAULT_FEATURES", "EDGE_FEATURES", "SPLITS", "PathRollouts",  # constants and a result type
        "sample_rollouts", "bank_log_success",  # kernels behind the rules: they take validated inputs
        # issue 14: the frontier scenario (long runs; tests/scenarios/test_remedies.py) and its result type
        "remedy_frontier", "frontier_table", "RemedyFrontier",
    }
    names = set(P.__all__) | set(SC.__all__)
    missing = sorted(names - set(ENTRIES) - exempt)
    assert not missing, f"register these entry points in tests/test_fuzz.py: {missing}"


def test_fuzz_registry_covers_the_remedies():
    """Every public callable of modesim.remedies is registered (or listed with the reason it is not)."""
    exempt = {
        "CATALOGUE", "Remedy", "remedy", "verdict_table",  # the verdict table (tests/remedies/test_catalogue.py)
        "compositions",  # a kernel (tests/remedies/test_teachers.py)
    }
    missing = sorted(set(RM.__all__) - set(ENTRIES) - exempt)
    assert not missing, f"register these entry points in tests/test_fuzz.py: {missing}"
