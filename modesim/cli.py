"""The ``modesim`` command: ``modesim run`` (and further subcommands as they land).

Each subcommand lives in a function ``_add_<name>(subparsers)`` that registers its
parser and sets ``func``; :func:`main` dispatches.
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np

from . import metrics as M
from .distill import EMA, SelfDistillation
from .dynamics import iterate
from .rl import KLRegularisedRL, NaturalPG, SoftmaxPG
from .task import make_task
from .teachers import (
    ConditionedDemos,
    CopyTeacher,
    FixedDemo,
    MultiDemoTeacher,
    TiltTeacher,
    UniformDemos,
)
from .theorems import _add_verify

RULES = ("rl-kl", "rl-npg", "rl-pg", "sd")


def _floats(text: str, name: str) -> list[float]:
    try:
        return [float(x) for x in text.split(",") if x.strip() != ""]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{name} must be comma-separated numbers; got {text!r}") from None


def _ints(text: str) -> list[int]:
    try:
        return [int(x) for x in text.split(",") if x.strip() != ""]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers; got {text!r}") from None


def _parse_suffix(text: str, flag: str, kind, form: str):
    try:
        return kind(text.split(":", 1)[1])
    except ValueError:
        raise ValueError(f"{flag} must look like {form}; got {text!r}") from None


def build_rule(args):
    """The rule named by ``--rule`` and its options (used by ``run``)."""
    if args.rule == "rl-kl":
        return KLRegularisedRL(beta=args.beta, reference=args.reference)
    if args.rule == "rl-npg":
        return NaturalPG(eta=args.eta)
    if args.rule == "rl-pg":
        return SoftmaxPG(eta=args.eta)
    if args.teacher == "copy":
        teacher = CopyTeacher(args.alpha) if args.demos_in_context == 1 else MultiDemoTeacher(args.alpha, args.demos_in_context)
    else:
        teacher = TiltTeacher(args.kappa)
    if args.demos == "self":
        demos = ConditionedDemos()
    elif args.demos == "uniform":
        demos = UniformDemos()
    else:
        demos = FixedDemo(_parse_suffix(args.demos, "--demos", int, "fixed:N"))
    if args.teacher_base.startswith("ema:"):
        base = EMA(_parse_suffix(args.teacher_base, "--teacher-base", float, "ema:TAU"))
    else:
        base = args.teacher_base
    return SelfDistillation(
        teacher=teacher, demos=demos, objective=args.objective, beta=args.beta,
        eta=args.eta, teacher_base=base, reference=args.reference,
    )


def _run(args) -> int:
    base = np.asarray(args.base, dtype=float)
    valid = np.ones(base.shape, bool) if args.valid is None else np.asarray(args.valid) != 0
    ood = {} if args.ood_valid is None else {"ood": np.asarray(args.ood_valid) != 0}
    for name, mask in (("--valid", valid), ("--ood-valid", ood.get("ood"))):
        if mask is not None and mask.shape != base.shape:
            raise ValueError(f"{name} has {mask.size} entries; --base has {base.size} modes")
    task = make_task(base, valid, ood=ood)
    rule = build_rule(args)
    traj = iterate(rule, task, args.rounds, every=args.every)
    ks = np.asarray(args.k)
    rows = []
    for r, p in zip(traj.times, traj.policy):
        row = {
            "round": int(r),
            "policy": [float(x) for x in p],
            "pass_at_k": {str(k): float(v) for k, v in zip(ks, M.pass_at_k(p, task.valid, ks))},
            "entropy": float(M.entropy(p, task.valid)),
            "effective_modes": float(M.effective_modes(p, task.valid)),
        }
        if ood:
            row["pass_at_k_ood"] = {
                str(k): float(v) for k, v in zip(ks, M.pass_at_k(p, task.ood["ood"], ks))
            }
        rows.append(row)
    if args.json:
        out = {"rule": args.rule, "rule_repr": repr(rule), "base": base.tolist(),
               "valid": valid.astype(int).tolist(), "rounds": rows}
        if ood:
            out["ood_valid"] = ood["ood"].astype(int).tolist()
        json.dump(out, sys.stdout, indent=None)
        sys.stdout.write("\n")
        return 0
    print(f"# {rule!r}")
    print(f"# base {base.tolist()}  valid {valid.astype(int).tolist()}"
          + (f"  ood-valid {ood['ood'].astype(int).tolist()}" if ood else ""))
    kshow = [k for k in ks if k in (1, 4, 16)] or list(ks[:3])
    head = ["round", "policy", "H(π|C)", "eff.modes"] + [f"pass@{k}" for k in kshow]
    if ood:
        head += [f"ood@{k}" for k in kshow]
    lines = [head]
    for row in rows:
        cells = [str(row["round"]), "(" + ", ".join(f"{x:.4f}" for x in row["policy"]) + ")",
                 f"{row['entropy']:.4f}", f"{row['effective_modes']:.3f}"]
        cells += [f"{row['pass_at_k'][str(k)]:.4f}" for k in kshow]
        if ood:
            cells += [f"{row['pass_at_k_ood'][str(k)]:.4f}" for k in kshow]
        lines.append(cells)
    widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
    for line in lines:
        print("  ".join(c.rjust(w) for c, w in zip(line, widths)))
    return 0


def _add_run(sub) -> None:
    p = sub.add_parser(
        "run",
        help="iterate one rule on one task and print a table (or JSON) per round",
        description=(
            "Iterate a post-training rule on one categorical task and report, per round, "
            "the policy, pass@k in and out of distribution, and the entropy and effective "
            "number of modes of π(·|C).  Example:\n\n"
            "  modesim run --base 0.6,0.3,0.1 --rule sd --alpha 0.5 --rounds 5 "
            "--ood-valid 0,1,1\n\n"
            "Rules: rl-kl (KL-regularised RL optimum, MATH §2.1), rl-npg (natural policy "
            "gradient / mirror descent, §2.2), rl-pg (vanilla softmax policy gradient, "
            "§2.2), sd (self-distillation with sampled demonstrations, §3)."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--base", type=lambda s: _floats(s, "--base"), required=True,
                   help="base policy π0 as comma-separated probabilities, e.g. 0.6,0.3,0.1")
    p.add_argument("--valid", type=_ints, default=None,
                   help="valid mask as comma-separated 0/1, e.g. 1,1,0 (default: all valid)")
    p.add_argument("--ood-valid", type=_ints, default=None,
                   help="an out-of-distribution valid mask (0/1) for pass@k OOD, e.g. 0,1,1")
    p.add_argument("--rule", choices=RULES, default="sd", help="update rule (default: sd)")
    p.add_argument("--rounds", type=int, default=5, help="number of rounds (default: 5)")
    p.add_argument("--every", type=int, default=1, help="print every n-th round (default: 1)")
    p.add_argument("--alpha", type=float, default=0.5,
                   help="copy strength α ∈ [0, 1) of the copy teacher (sd; default 0.5)")
    p.add_argument("--beta", type=float, default=0.0,
                   help="KL strength β to the reference (rl-kl, sd; default 0; rl-kl needs > 0 "
                        "or gives the filter limit)")
    p.add_argument("--eta", type=float, default=1.0,
                   help="step size η (rl-npg, rl-pg; for sd the step toward each round's "
                        "optimum, in (0, 1]; default 1)")
    p.add_argument("--teacher", choices=("copy", "tilt"), default="copy",
                   help="teacher model for sd: copy (α) or identity tilt (κ) (default copy)")
    p.add_argument("--kappa", type=float, default=1.0,
                   help="tilt strength κ of the tilt teacher; κ < 0 is anti-copying (default 1)")
    p.add_argument("--demos-in-context", type=int, default=1,
                   help="number m of demonstrations in the copy teacher's context (default 1)")
    p.add_argument("--demos", default="self",
                   help="demonstration source: self (teacher base | C), uniform (uniform over "
                        "C) or fixed:N (always mode N) (default self)")
    p.add_argument("--objective", choices=("reverse", "forward"), default="reverse",
                   help="reverse KL (on-policy, geometric mean) or forward KL (default reverse)")
    p.add_argument("--teacher-base", default="current",
                   help="teacher's base: current, frozen or ema:TAU (default current)")
    p.add_argument("--reference", choices=("base", "current"), default="base",
                   help="KL reference for β: the base π0 or the current policy (default base)")
    p.add_argument("--k", type=_ints, default=[1, 2, 4, 8, 16, 32, 64],
                   help="values of k for pass@k (default 1,2,4,...,64)")
    p.add_argument("--json", action="store_true",
                   help="print one JSON object with a 'rounds' list instead of a table")
    p.set_defaults(func=_run)


def _add_figures(sub) -> None:
    """Register ``modesim figures``; matplotlib loads only when the command runs."""
    p = sub.add_parser(
        "figures",
        help="rebuild the paper figures into figures/ (PNG and/or PDF)",
        description=(
            "Rebuild the paper figures from the library, deterministically, into a "
            "directory (default: figures/).  Each figure is one file per format, named "
            "after the figure.  Examples:\n\n"
            "  modesim figures                      # all figures, PNG, into figures/\n"
            "  modesim figures --list               # names and what each shows\n"
            "  modesim figures --only pass_at_k stability --format png,pdf --out /tmp/f\n"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--out", default="figures", metavar="DIR",
                   help="output directory (default: figures)")
    p.add_argument("--only", nargs="+", metavar="NAME", default=None,
                   help="build only these figures (see --list)")
    p.add_argument("--format", default="png", metavar="FMT[,FMT]",
                   help="comma-separated file formats: png, pdf, svg (default: png)")
    p.add_argument("--quick", action="store_true",
                   help="small, fast versions (what the tests build)")
    p.add_argument("--list", action="store_true", help="list the figures and exit")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.set_defaults(func=_run_figures)


def _run_figures(args) -> int:
    from .figures import _figures_command

    return _figures_command(args)


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="modesim",
        description=(
            "modesim: exact simulation of what post-training does to output diversity. "
            "RL (KL-regularised) preserves probability ratios among equally correct "
            "answers; self-distillation with sampled demonstrations amplifies them. "
            "Run 'modesim SUBCOMMAND --help' for details."
        ),
    )
    sub = parser.add_subparsers(dest="command", metavar="SUBCOMMAND")
    for add in _SUBCOMMANDS:
        add(sub)
    return parser


_SUBCOMMANDS = [_add_run, _add_figures, _add_verify]


def main(argv=None) -> int:
    parser = make_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    if getattr(args, "demos", "self") not in ("self", "uniform") and not str(args.demos).startswith("fixed:"):
        parser.error(f"--demos must be self, uniform or fixed:N; got {args.demos!r}")
    try:
        return int(args.func(args) or 0)
    except ValueError as exc:
        print(f"modesim {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
