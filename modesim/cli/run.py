"""``modesim run``: iterate one update rule on one task and print each round.

Output: a table (default; long policies summarised by their top modes), ``--json`` (one
object with every number and the rule's parameters as a dict) or ``--csv`` (one row per
round, every mode's probability in its own column).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import textwrap

import numpy as np

from .. import __version__
from .. import _checks as chk
from .. import metrics as M
from .._progress import stderr_is_terminal
from ..demos import ConditionedDemos, FixedDemo, UniformDemos
from ..distill import SelfDistillation
from ..dynamics import iterate
from ..rl import KLRegularisedRL, NaturalPG, SoftmaxPG
from ..rule import EMA
from ..task import make_task
from ..teachers import CopyTeacher, MultiDemoTeacher, TiltTeacher
from . import _inputs, _output

__all__ = ["RULES", "add_parser", "build_rule", "main"]

#: ``--rule`` values: what each is, in one phrase, with its theory section.
RULES = {
    "sd": "self-distillation with sampled demonstrations: each round moves toward the optimum "
          "of a teacher that sees one correct demonstration (theory §3)",
    "rl-kl": "ideal KL-regularised RL: each round returns π ∝ π_ref·exp(reward/β) (theory §2.1)",
    "rl-npg": "natural policy gradient / mirror descent: π ← π·exp(lr·reward), renormalised "
              "(theory §2.2)",
    "rl-pg": "vanilla softmax policy gradient on the logits, exact gradient (theory §2.2)",
}

#: Flags each rule reads (besides the task, rounds and output flags).
USES = {
    "rl-kl": ("beta", "reference"),
    "rl-npg": ("lr",),
    "rl-pg": ("lr",),
    "sd": ("teacher", "alpha", "kappa", "demos_in_context", "demos", "objective", "jsd_weight",
           "beta", "step_size", "teacher_base", "reference"),
}
#: Defaults of the rule flags (argparse defaults are None so that a given flag is known).
DEFAULTS = {
    "beta": 0.0, "reference": "base", "lr": 1.0, "step_size": 1.0, "teacher": "copy",
    "alpha": 0.5, "kappa": 1.0, "demos_in_context": 1, "demos": "self", "objective": "reverse",
    "jsd_weight": None, "teacher_base": "current",
}
#: SD flags that belong to one teacher only.
TEACHER_ONLY = {"alpha": "copy", "demos_in_context": "copy", "kappa": "tilt"}


def _flag(dest: str) -> str:
    return "--" + dest.replace("_", "-")


def _resolve(args) -> dict:
    """The rule options: given flags checked against ``--rule``, the rest defaulted."""
    if args.eta is not None:
        target = {"rl-npg": "lr", "rl-pg": "lr", "sd": "step_size"}.get(args.rule)
        if target is None:
            raise ValueError("--eta (deprecated) has no meaning for --rule rl-kl; it takes --beta")
        if getattr(args, target) is not None:
            raise ValueError(f"--eta is the deprecated name of {_flag(target)}; give only {_flag(target)}")
        print(f"modesim run: warning: --eta is deprecated (removed in modesim 0.3); "
              f"use {_flag(target)} for --rule {args.rule}", file=sys.stderr)
        setattr(args, target, args.eta)
    given = [d for d in DEFAULTS if getattr(args, d) is not None]
    unused = [d for d in given if d not in USES[args.rule]]
    if unused:
        uses = ", ".join(_flag(d) for d in USES[args.rule])
        raise ValueError(
            f"{', '.join(_flag(d) for d in unused)} {'is' if len(unused) == 1 else 'are'} not used by "
            f"--rule {args.rule} ({RULES[args.rule].split(':')[0]}); it takes {uses}"
        )
    opts = {d: (DEFAULTS[d] if getattr(args, d) is None else getattr(args, d)) for d in DEFAULTS}
    if args.rule == "sd":
        wrong = [d for d, t in TEACHER_ONLY.items() if getattr(args, d) is not None and t != opts["teacher"]]
        if wrong:
            raise ValueError(
                f"{', '.join(_flag(d) for d in wrong)} {'is' if len(wrong) == 1 else 'are'} not used by "
                f"--teacher {opts['teacher']} (--alpha and --demos-in-context belong to the copy "
                "teacher, --kappa to the tilt teacher)"
            )
    return opts


def _suffix(text: str, flag: str, kind, form: str):
    try:
        return kind(text.split(":", 1)[1])
    except ValueError:
        raise ValueError(f"{flag} must look like {form}; got {text!r}") from None


#: Library argument names → the flags a user typed (messages name what the user can change).
_FLAG_OF = {"m": "--demos-in-context", "mode": "--demos fixed:N", "tau": "--teacher-base ema:TAU",
            "step_size": "--step-size", "jsd_weight": "--jsd-weight", "alpha": "--alpha",
            "beta": "--beta", "lr": "--lr", "kappa": "--kappa", "base": "--base", "valid": "--valid",
            "rounds": "--rounds", "every": "--every"}

#: The most rows ``modesim run`` keeps and prints (each is a policy over K modes and its metrics).
MAX_ROWS = 100_000
#: The most recorded policy entries (rows × K) it keeps in memory (160 MB of float64).
MAX_ENTRIES = 20_000_000


def _as_flags(message: str) -> str:
    """Rename the library argument a message starts with to the command-line flag."""
    name = message.split(" ", 1)[0]
    return _FLAG_OF[name] + message[len(name):] if name in _FLAG_OF else message


def build_rule(args):
    """The rule named by ``--rule`` with its options (flags it does not use are refused)."""
    o = _resolve(args)
    if args.rule == "rl-kl":
        return KLRegularisedRL(beta=o["beta"], reference=o["reference"])
    if args.rule == "rl-npg":
        return NaturalPG(lr=o["lr"])
    if args.rule == "rl-pg":
        return SoftmaxPG(lr=o["lr"])
    if o["teacher"] == "copy":
        m = o["demos_in_context"]
        teacher = CopyTeacher(o["alpha"]) if m == 1 else MultiDemoTeacher(o["alpha"], m)
    else:
        teacher = TiltTeacher(o["kappa"])
    if o["demos"] == "self":
        demos = ConditionedDemos()
    elif o["demos"] == "uniform":
        demos = UniformDemos()
    elif o["demos"].startswith("fixed:"):
        demos = FixedDemo(_suffix(o["demos"], "--demos", int, "fixed:N"))
    else:
        raise ValueError(f"--demos must be self, uniform or fixed:N; got {o['demos']!r}")
    base = o["teacher_base"]
    if base.startswith("ema:"):
        base = EMA(_suffix(base, "--teacher-base", float, "ema:TAU"))
    elif base not in ("current", "frozen"):
        raise ValueError(f"--teacher-base must be current, frozen or ema:TAU; got {base!r}")
    if o["jsd_weight"] is not None and o["objective"] != "jsd":
        raise ValueError("--jsd-weight is used only with --objective jsd")
    jsd = {"jsd_weight": 0.5 if o["jsd_weight"] is None else o["jsd_weight"]} if o["objective"] == "jsd" else {}
    return SelfDistillation(
        teacher=teacher, demos=demos, objective=o["objective"], beta=o["beta"],
        step_size=o["step_size"], teacher_base=base, reference=o["reference"], **jsd,
    )


def _task(args):
    """The task from ``--base`` (list, @FILE or -), ``--valid`` and ``--ood-valid``, its OOD
    mask (a dict, empty without ``--ood-valid``) and the base as given (for the JSON echo:
    the task holds log π0, whose exp is not always the number typed, 0.39999999999999997
    for 0.4)."""
    got = _inputs.source(args.base, "--base")
    if got is None:
        rows = [_inputs.parse_row(args.base, "--base")]
    else:
        rows = _inputs.read_rows(got[0], "--base", got[1])
    base = np.asarray(rows[0], dtype=np.float64)
    valid_rows = {}
    if len(rows) == 2:
        valid_rows["a valid-mask row in --base's file"] = rows[1]
    if args.valid is not None:
        valid_rows["--valid"] = _inputs.numbers(args.valid, "--valid")
    if len(valid_rows) > 1:
        raise ValueError("the valid mask is given twice (a second row in --base's file and --valid); "
                         "give it once")
    masks = {}
    for name, values in [*valid_rows.items(),
                         *([("--ood-valid", _inputs.numbers(args.ood_valid, "--ood-valid"))]
                           if args.ood_valid is not None else [])]:
        if len(values) != base.size:
            raise ValueError(f"{name} has {len(values)} entries; --base has {base.size} modes")
        masks[name] = np.asarray(_inputs.mask_entries(values, name))
    valid = next((m for n, m in masks.items() if n != "--ood-valid"), np.ones(base.size, bool))
    ood = {"ood": masks["--ood-valid"]} if "--ood-valid" in masks else {}
    try:
        return make_task(base, valid, ood=ood), ood, base
    except ValueError as exc:
        raise ValueError(_as_flags(str(exc))) from None


def _ks(text: str) -> list[int]:
    values = _inputs.parse_row(text, "--k")
    bad = [v for v in values if not (1 <= v < 2**63 and float(v).is_integer())]
    if bad:
        raise ValueError(f"--k must hold positive integers below 2**63 such as 1,4,16; got {bad[0]:g}")
    return list(dict.fromkeys(int(v) for v in values))  # order kept, repeats dropped


def main(args) -> int:
    """Run the command (``args`` from :func:`add_parser`'s parser)."""
    task, ood, base_given = _task(args)
    ks = _ks(args.k)
    try:
        rule = build_rule(args)
        rule.init(task)  # checks that need the task (a fixed demonstration must be valid, …)
    except ValueError as exc:
        raise ValueError(_as_flags(str(exc))) from None
    rounds = chk.integer(args.rounds, "--rounds", low=0)
    every = chk.integer(args.every, "--every", low=1)
    rows = rounds // every + 1 + (rounds % every != 0)          # rounds 0, every, 2·every, …, and the last
    limit = max(min(MAX_ROWS, MAX_ENTRIES // task.n_modes), 3)
    if rows > limit:
        raise ValueError(
            f"--rounds {rounds} with --every {every} prints {rows} rows of K = {task.n_modes} modes; at most "
            f"{limit} are kept (every row is held until the run ends): use --every {-(-rounds // (limit - 2))} "
            "or more"
        )
    traj = iterate(rule, task, rounds, every=every, progress=None if stderr_is_terminal() else False)
    P = traj.policy  # (rounds recorded, K); metrics for every round at once
    passk = M.pass_at_k(P, task.valid, np.asarray(ks))
    ood_passk = M.pass_at_k(P, task.ood["ood"], np.asarray(ks)) if ood else None
    entropy, eff = M.entropy(P, task.valid), M.effective_modes(P, task.valid)
    rows = []
    for t, r in enumerate(traj.times):
        row = {
            "round": int(r),
            "policy": P[t].tolist(),
            "pass_at_k": {str(k): float(v) for k, v in zip(ks, passk[t])},
            "entropy": float(entropy[t]),
            "effective_modes": float(eff[t]),
        }
        if ood:
            row["pass_at_k_ood"] = {str(k): float(v) for k, v in zip(ks, ood_passk[t])}
        rows.append(row)
    if args.json:
        out = {
            "modesim_version": __version__,
            "rule": args.rule,
            "rule_params": _output.params(rule),
            "rule_repr": repr(rule),
            "base": base_given.tolist(),
            "valid": task.valid.astype(int).tolist(),
            "units": {"entropy": "nats", "effective_modes": "exp(entropy)", "pass_at_k": "probability"},
            "rounds": rows,
        }
        if ood:
            out["ood_valid"] = ood["ood"].astype(int).tolist()
        json.dump(out, sys.stdout)
        sys.stdout.write("\n")
    elif args.csv:
        _write_csv(rows, ks, bool(ood), task.n_modes)
    else:
        _write_table(rule, task, ood, rows, ks)
    return 0


def _write_csv(rows, ks, ood: bool, K: int) -> None:
    w = csv.writer(sys.stdout, lineterminator="\n")
    head = ["round", "entropy_nats", "effective_modes"] + [f"pass@{k}" for k in ks]
    head += [f"ood_pass@{k}" for k in ks] if ood else []
    w.writerow(head + [f"p{i}" for i in range(K)])
    for row in rows:
        cells = [row["round"], repr(row["entropy"]), repr(row["effective_modes"])]
        cells += [repr(row["pass_at_k"][str(k)]) for k in ks]
        cells += [repr(row["pass_at_k_ood"][str(k)]) for k in ks] if ood else []
        w.writerow(cells + [repr(x) for x in row["policy"]])


def _write_table(rule, task, ood, rows, ks) -> None:
    valid = task.valid
    print(f"# rule: {rule!r}")
    print(f"# base π0 over K = {task.n_modes} modes: {_output.policy_summary(task.base)}; "
          f"valid modes: {_mask_summary(valid)}"
          + (f"; OOD-valid: {_mask_summary(ood['ood'])}" if ood else ""))
    print("# H(π|C): entropy of π restricted to the valid modes, in nats; eff.modes = exp(H); "
          "pass@k = 1 − (1 − π(C))^k" + ("; ood@k: the same on the OOD-valid modes" if ood else ""))
    head = ["round", "policy π", "H(π|C) nats", "eff.modes"] + [f"pass@{k}" for k in ks]
    if ood:
        head += [f"ood@{k}" for k in ks]
    lines = [head]
    for row in rows:
        cells = [str(row["round"]), _output.policy_summary(row["policy"]),
                 _output.num(max(row["entropy"], 0.0)), _output.num(row["effective_modes"])]
        cells += [_output.num(row["pass_at_k"][str(k)]) for k in ks]
        if ood:
            cells += [_output.num(row["pass_at_k_ood"][str(k)]) for k in ks]
        lines.append(cells)
    print(_output.table(lines))


def _mask_summary(mask) -> str:
    mask = np.asarray(mask, dtype=bool)
    if mask.size <= 16:
        return ",".join(str(int(x)) for x in mask)
    return f"{int(mask.sum())} of {mask.size}"


def add_parser(sub) -> argparse.ArgumentParser:
    """Register ``modesim run`` on the subparsers ``sub``."""
    rules = "\n".join(textwrap.fill(text, 84, initial_indent=f"  {name:7} ", subsequent_indent=" " * 10)
                      for name, text in RULES.items())
    p = sub.add_parser(
        "run",
        help="iterate one post-training rule on one task and print each round (table, JSON or CSV)",
        description=(
            "Iterate a post-training rule on one task (a base policy over K modes, some of them\n"
            "correct) and print, per round: the policy, the entropy of π(·|C) in nats, the\n"
            "effective number of correct modes exp(H), and pass@k in and out of distribution.\n\n"
            f"Rules (--rule):\n{rules}\n\n"
            "Examples:\n"
            "  modesim run --base 0.6,0.3,0.1 --alpha 0.5 --rounds 5 --ood-valid 0,1,1\n"
            "  modesim run --base 0.4,0.2,0.4 --valid 1,1,0 --rule rl-npg --lr 1 --json\n"
            "  modesim run --base @base.csv --rule sd --csv > rounds.csv\n"
            "  python make_base.py | modesim run --base - --rounds 20\n\n"
            "--base @FILE or --base - (stdin): one or two rows of numbers separated by commas\n"
            "or whitespace (# starts a comment): the base policy, then optionally the valid\n"
            "mask as 0/1; a single column (one number per line) also works.  Flags a rule\n"
            "does not use are refused."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    task = p.add_argument_group("task")
    task.add_argument("--base", required=True, metavar="P1,P2,...|@FILE|-",
                      help="base policy π0: probabilities summing to 1, e.g. 0.6,0.3,0.1; "
                           "@FILE or - reads them from a file or stdin (see above)")
    task.add_argument("--valid", default=None, metavar="0/1,...|@FILE",
                      help="which modes are correct, as 0/1, e.g. 1,1,0 (default: all correct)")
    task.add_argument("--ood-valid", default=None, metavar="0/1,...|@FILE",
                      help="a second, out-of-distribution set of correct modes for ood@k, "
                           "e.g. 0,1,1 (the favourite answer blocked)")
    rule = p.add_argument_group("rule")
    rule.add_argument("--rule", choices=tuple(RULES), default="sd",
                      help="update rule (default: sd); see the list above")
    rule.add_argument("--rounds", type=int, default=5, help="number of rounds (default: 5)")
    rule.add_argument("--beta", type=float, default=None,
                      help="KL strength β ≥ 0 toward the reference (rl-kl, sd; default 0; "
                           "for rl-kl, 0 is the filter limit π0(·|C))")
    rule.add_argument("--reference", choices=("base", "current"), default=None,
                      help="what the β-KL pulls toward: the base π0 or the current policy "
                           "(rl-kl, sd; default base)")
    rule.add_argument("--lr", type=float, default=None,
                      help="learning rate > 0 (rl-npg, rl-pg; default 1)")
    rule.add_argument("--step-size", type=float, default=None,
                      help="fraction in (0, 1] of the way to each round's optimum (sd; default 1)")
    rule.add_argument("--eta", type=float, default=None,
                      help="deprecated: use --lr (rl-npg, rl-pg) or --step-size (sd)")
    sd = p.add_argument_group("self-distillation (--rule sd)")
    sd.add_argument("--teacher", choices=("copy", "tilt"), default=None,
                    help="how the teacher uses the demonstration: copy (mixes in the "
                         "demonstrated answer with weight α) or tilt (multiplies its "
                         "probability by e^κ) (default copy)")
    sd.add_argument("--alpha", type=float, default=None,
                    help="copy strength α in [0, 1) of the copy teacher (default 0.5)")
    sd.add_argument("--demos-in-context", type=int, default=None,
                    help="number of demonstrations in the copy teacher's context (default 1)")
    sd.add_argument("--kappa", type=float, default=None,
                    help="tilt strength κ of the tilt teacher; κ < 0 avoids the demonstration "
                         "(default 1)")
    sd.add_argument("--demos", default=None, metavar="{self,uniform,fixed:N}",
                    help="where demonstrations come from: self (the teacher's own correct "
                         "answers), uniform (uniform over correct modes) or fixed:N (always "
                         "mode N) (default self)")
    sd.add_argument("--objective", choices=("reverse", "forward", "jsd"), default=None,
                    help="reverse KL (on-policy distillation, a geometric mean of teachers), "
                         "forward KL (an arithmetic mean) or jsd (the generalised Jensen-Shannon "
                         "divergence public trainers default to) (default reverse)")
    sd.add_argument("--jsd-weight", type=float, default=None, metavar="LAMBDA",
                    help="JSD mixing weight λ in [1e-8, 1 - 1e-8]: at β = 0 the round approaches reverse KL "
                         "as λ → 1 and forward KL as λ → 0 (TRL's convention; default 0.5; with "
                         "--objective jsd only).  With numba installed the first JSD round of a "
                         "process loads its compiled solve (~0.5 s), more than a one-row run "
                         "gains below ~2,000 rounds: MODESIM_NUMBA=0 skips it")
    sd.add_argument("--teacher-base", default=None, metavar="{current,frozen,ema:TAU}",
                    help="the teacher's own model: the current policy, the frozen base, or an "
                         "EMA keeping weight TAU in [0, 1] on its previous value (0: current, "
                         "1: frozen; trainers use 0.95) (default current)")
    out = p.add_argument_group("output")
    out.add_argument("--k", default="1,2,4,8,16,32,64", metavar="K1,K2,...",
                     help="values of k for pass@k (default 1,2,4,8,16,32,64)")
    out.add_argument("--every", type=int, default=1, help="report every n-th round (default: 1)")
    fmt = out.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true",
                     help="print one JSON object: rule parameters and a 'rounds' list")
    fmt.add_argument("--csv", action="store_true",
                     help="print CSV: one row per round, every mode's probability p0..pK-1")
    p.set_defaults(func=main)
    return p
