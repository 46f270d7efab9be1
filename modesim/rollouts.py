"""Bring your own rollouts: a prompt bank from a model's sampled answers (theory §1, §4).

Evaluation harnesses write one record per sample: the prompt, the answer (or the cluster of
equivalent answers it belongs to) and whether it was correct.  :func:`rollout_bank` turns
such records (CSV, JSONL, or an iterable of mappings) into a :class:`RolloutBank`: a
:class:`~modesim.Task` with one row per prompt, whose modes are that prompt's answer
clusters, so that "what would self-distillation and RL do to *my* model's pass@k?" is one
:func:`modesim.sweep` or :func:`modesim.iterate` call::

    bank = ms.rollouts.rollout_bank("samples.jsonl")
    ds = ms.sweep(ms.SelfDistillation(ms.CopyTeacher(0.5)), bank,
                  {"teacher.alpha": [0.2, 0.5, 0.8], "beta": [0.0, 0.5]},
                  rounds=20, metrics=["pass_at_k"], k=[1, 8, 64])
    ds.pass_at_k.mean("prompt")      # bank-average pass@k per setting and round

**The base policy of a prompt** with n samples falling into clusters with counts ``n_c``:

- seen clusters: ``π0(c) = (1 − p̂0)·n_c/n``;
- one extra **tail mode** (the last mode, index ``K − 1``) holds ``p̂0``, the estimated
  probability that a fresh sample is an answer the log never showed.

The unseen mass is explicit, never dropped: with a finite sample the empirical
distribution gives every unseen answer probability 0, and both RL and self-distillation
keep a zero at zero forever (theory §2.2, §3.5), so dropping it would overstate how much
mass the seen answers can gain.  Estimators of ``p̂0`` (``unseen=``):

- ``"good-turing"`` (default): ``p̂0 = N1/(n + 1)``, with ``N1`` the number of clusters seen
  exactly once.  Good–Turing's missing-mass estimate is ``N1/n`` (Good, Biometrika 1953);
  its expectation exceeds the true missing mass by ``Σ_c p_c²(1 − p_c)^(n−1) ≤ 1/n``
  (Robbins, Ann. Math. Stat. 1968).  The ``n + 1`` keeps ``p̂0 < 1`` (a log where every
  sample differs would otherwise leave the seen answers no mass); it changes the estimate
  by ``N1/(n(n+1)) ≤ 1/(n+1)``, within that bias.  ``p̂0 = 0`` when every cluster was seen
  twice or more: the data then show no unseen tail.
- ``"additive"``: the tail is one pseudo-cluster of ``pseudocount`` λ samples,
  ``p̂0 = λ/(n + λ)``, ``π0(c) = n_c/(n + λ)`` (never zero; a prior rather than an estimate).
- a number in ``[0, 1)``: that mass.

**Correctness of the tail.**  The log says nothing about whether unseen answers are correct.
By default (``tail_valid=False``) the tail counts as wrong, so pass@k from the bank is
conservative (no credit for answers never seen); ``tail_valid=True`` counts it as correct.
A prompt with no correct sample has ``π0(C) = 0`` (unless the tail is valid): neither RL nor
self-distillation can move it (no reward signal, no demonstration), so ``unsolved="drop"``
(default) leaves it out and lists it in :attr:`RolloutBank.dropped`, and ``"error"``
refuses the log.  Its pass@k is 0 under every rule: to average over the whole log, weight
the bank average by ``bank.n_prompts / (bank.n_prompts + len(bank.dropped))``.

Modes of a prompt are its clusters in order of decreasing count (ties by first appearance),
then zero-probability padding (invalid) up to the largest prompt's number of clusters,
then the tail; :attr:`RolloutBank.mode_labels` names them.
"""

from __future__ import annotations

import csv
import json
import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np

from . import _checks as chk
from .task import Task

__all__ = ["Rollout", "RolloutBank", "read_rollouts", "rollout_bank", "TAIL_LABEL", "PAD_LABEL"]

#: Label of the tail mode (answers not in the log) in :attr:`RolloutBank.mode_labels`.
TAIL_LABEL = "<unseen>"
#: Label of padding modes (probability 0) in :attr:`RolloutBank.mode_labels`.
PAD_LABEL = ""

_TRUE = {"true", "t", "yes", "y", "1", "1.0"}
_FALSE = {"false", "f", "no", "n", "0", "0.0"}


class Rollout(NamedTuple):
    """One sampled answer: its prompt, its answer (cluster) label, whether it was correct,
    and where it came from (``"samples.jsonl, line 12"``)."""

    prompt: str
    answer: str
    correct: bool
    source: str


def _correct(value, where: str, key: str) -> bool:
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, float, np.integer, np.floating)) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise ValueError(f"{where}: {key!r} must be true/false (or 1/0, yes/no); got {value!r}")


def _lookup(record: Mapping, key: str, where: str):
    if key in record:
        return record[key]
    node = record
    for part in key.split("."):
        if not isinstance(node, Mapping) or part not in node:
            keys = ", ".join(map(repr, list(record)[:12]))
            raise ValueError(f"{where}: missing key {key!r} (keys: {keys}); name your columns with "
                             "prompt=, answer= and correct=, e.g. rollout_bank(path, prompt='doc_id', "
                             "correct='exact_match')")
        node = node[part]
    return node


def _label(value, where: str, key: str, *, allow_empty: bool) -> str:
    if value is None:
        raise ValueError(f"{where}: {key!r} is missing (null)")
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, str):
        text = value
    elif isinstance(value, (int, float)):
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"{where}: {key!r} must be finite; got {value!r}")
        text = json.dumps(value)
    else:
        text = json.dumps(value, sort_keys=True)
    if not allow_empty and text.strip() == "":
        raise ValueError(f"{where}: {key!r} is empty")
    return text


def _record(record, where: str, keys: tuple[str, str, str]) -> Rollout:
    if not isinstance(record, Mapping):
        raise ValueError(f"{where}: a record must be an object with keys {', '.join(map(repr, keys))}; got {chk.describe(record)}")
    pk, ak, ck = keys
    return Rollout(
        _label(_lookup(record, pk, where), where, pk, allow_empty=False),
        _label(_lookup(record, ak, where), where, ak, allow_empty=True),
        _correct(_lookup(record, ck, where), where, ck),
        where,
    )


def _read_csv(path: Path, keys) -> list[Rollout]:
    out = []
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        header = reader.fieldnames
        if not header:
            raise ValueError(f"{path}, line 1: empty file (a CSV of rollouts needs a header with columns {', '.join(map(repr, keys))})")
        for key in keys:
            if key not in header:
                raise ValueError(f"{path}, line 1: the header has no column {key!r} (columns: {', '.join(map(repr, header))})")
        for row in reader:
            where = f"{path}, line {reader.line_num}"
            if None in row:
                raise ValueError(f"{where}: {len(header) + len(row[None])} fields, the header has {len(header)}")
            for key in keys:
                if row[key] is None:
                    raise ValueError(f"{where}: column {key!r} is missing (the row has fewer fields than the header)")
            out.append(_record(row, where, keys))
    return out


def _read_jsonl(path: Path, keys) -> list[Rollout]:
    out = []
    with open(path, encoding="utf-8") as fh:
        for n, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            where = f"{path}, line {n}"
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{where}: not valid JSON ({exc.msg} at column {exc.colno})") from None
            out.append(_record(record, where, keys))
    return out


def read_rollouts(source, *, format: str | None = None, prompt: str = "prompt_id", answer: str = "answer",
                  correct: str = "correct") -> list[Rollout]:
    """Read per-sample records from a CSV or JSONL file, or from an iterable of mappings.

    Parameters
    ----------
    source : path or iterable of mappings
        A ``.csv`` file with a header, a ``.jsonl``/``.ndjson`` file with one JSON object
        per line (blank lines skipped), or records already in memory.
    format : {"csv", "jsonl"}, optional
        Overrides the file suffix.
    prompt, answer, correct : str
        Column (CSV) or key (JSON) names; a dotted key (``"doc.id"``) reaches into nested
        JSON objects.  ``prompt`` and ``answer`` may be strings or numbers (numbers become
        their JSON text, so ``42`` and ``"42"`` are the same cluster; an empty answer is a
        cluster of its own); ``correct`` accepts true/false, 1/0, yes/no.

    Raises
    ------
    ValueError
        Naming the file, the line and the column or key of a malformed record (bad JSON, a
        missing field, an unreadable ``correct``), or a bad ``format``.
    """
    keys = (prompt, answer, correct)
    for name, key in zip(("prompt", "answer", "correct"), keys):
        if not isinstance(key, str) or not key:
            raise ValueError(f"{name} must be a non-empty column or key name; got {key!r}")
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        fmt = format
        if fmt is None:
            suffix = path.suffix.lower()
            fmt = "csv" if suffix == ".csv" else "jsonl" if suffix in (".jsonl", ".ndjson", ".json") else None
            if fmt is None:
                raise ValueError(f"source {str(path)!r}: cannot tell the format from the suffix {suffix!r}; pass format='csv' or 'jsonl'")
        chk.choice(fmt, "format", ("csv", "jsonl"))
        if not path.is_file():
            raise ValueError(f"source {str(path)!r} is not a file")
        return _read_csv(path, keys) if fmt == "csv" else _read_jsonl(path, keys)
    if format is not None:
        raise ValueError("format applies to files only; records in memory need no format")
    if isinstance(source, (bytes, Mapping)) or not isinstance(source, Iterable):
        raise ValueError(f"source must be a file path or an iterable of records (mappings); got {chk.describe(source)}")
    return [_record(r, f"source record {i}", keys) for i, r in enumerate(source)]


@dataclass(frozen=True, eq=False)
class RolloutBank:
    """A prompt bank built from sampled answers (theory §1, §4; the model: module docstring).

    A record returned by :func:`rollout_bank`, which validates everything; built directly
    it checks nothing.

    Attributes
    ----------
    task : Task
        Batch shape ``(n_prompts,)``, K = (most clusters of any prompt) + 1; the last mode is
        the tail.
    prompt_ids : tuple of str
        Prompt of each row (in order of first appearance in the log).
    mode_labels : ndarray of str, shape (n_prompts, K)
        Cluster label of each mode (:data:`PAD_LABEL` for padding, :data:`TAIL_LABEL` for
        the tail).
    counts : ndarray of int, shape (n_prompts, K)
        Samples per mode (0 for padding and the tail).
    n_samples : ndarray of int, shape (n_prompts,)
    n_correct : ndarray of int, shape (n_prompts,)
    singletons : ndarray of int, shape (n_prompts,)
        Clusters seen exactly once (``N1``).
    unseen_mass : ndarray, shape (n_prompts,)
        ``p̂0``, the tail's base probability.
    dropped : tuple of str
        Prompts left out because no valid mode had probability (``unsolved="drop"``).
    unseen : str or float
        The estimator used.
    tail_valid : bool
    """

    task: Task
    prompt_ids: tuple
    mode_labels: np.ndarray
    counts: np.ndarray
    n_samples: np.ndarray
    n_correct: np.ndarray
    singletons: np.ndarray
    unseen_mass: np.ndarray
    dropped: tuple
    unseen: object
    tail_valid: bool

    @property
    def n_prompts(self) -> int:
        return len(self.prompt_ids)

    @property
    def tail(self) -> int:
        """Index of the tail mode (the last)."""
        return self.task.n_modes - 1

    def pass_at_k(self, k) -> np.ndarray:
        """Pass@k of the bank's base policy per prompt, shape ``(n_prompts,) + np.shape(k)``."""
        from .metrics import pass_at_k

        return pass_at_k(self.task.base, self.task.valid, k)

    def pass_at_k_unbiased(self, k) -> np.ndarray:
        """The classical estimate from the counts alone (Chen et al. 2021), for comparison:
        ``1 − C(n − c, k)/C(n, k)`` per prompt; k must not exceed the samples of any prompt."""
        from .metrics import pass_at_k_unbiased

        ks = chk.ks(k, "k").astype(np.int64)
        return pass_at_k_unbiased(self.n_samples.reshape((-1,) + (1,) * ks.ndim), self.n_correct.reshape((-1,) + (1,) * ks.ndim), ks)

    def __repr__(self) -> str:
        return (f"RolloutBank(n_prompts={self.n_prompts}, n_modes={self.task.n_modes}, "
                f"samples={int(self.n_samples.sum())}, unseen={self.unseen!r}, dropped={len(self.dropped)})")


def _readonly(a):
    a = np.array(a)
    a.flags.writeable = False
    return a


def rollout_bank(
    source,
    *,
    format: str | None = None,
    prompt: str = "prompt_id",
    answer: str = "answer",
    correct: str = "correct",
    unseen="good-turing",
    pseudocount: float = 1.0,
    tail_valid: bool = False,
    unsolved: str = "drop",
) -> RolloutBank:
    """A :class:`RolloutBank` from per-sample records (see the module docstring; theory §1, §4).

    Per prompt with n samples in clusters of counts ``n_c``: ``π0(c) = (1 − p̂0)·n_c/n`` on
    the seen clusters and ``p̂0`` on one tail mode, the estimated probability of an answer
    the log never showed (Good–Turing ``N1/(n + 1)`` by default).  The resulting task has
    batch shape ``(n_prompts,)`` (theory §1: one row per prompt) and is evaluated with the
    metrics of theory §4.

    Parameters
    ----------
    source, format, prompt, answer, correct
        As in :func:`read_rollouts` (records may also be :class:`Rollout` tuples).
    unseen : "good-turing", "additive" or float in [0, 1)
        Estimator of the tail's mass ``p̂0``.
    pseudocount : float > 0
        λ of ``unseen="additive"``.
    tail_valid : bool
        Whether the tail (unseen answers) counts as correct.
    unsolved : {"drop", "error"}
        What to do with a prompt whose valid modes have no probability.

    Returns
    -------
    RolloutBank
        ``task`` of shape ``(n_prompts, K)``, K = the most clusters of any prompt + 1.

    Raises
    ------
    ValueError
        Malformed records (naming the file, line and column or key: bad JSON or CSV, a
        missing or empty field, an unreadable ``correct``); an unknown ``format`` or one
        that cannot be told from the suffix, a path that is not a file, a source that is
        neither a path nor an iterable of mappings; the same answer to the same prompt
        marked both correct and wrong (naming both lines); no records; every prompt
        unsolved, or any unsolved prompt with ``unsolved="error"``; ``unseen`` not
        "good-turing", "additive" or a number in [0, 1); ``pseudocount`` not > 0;
        ``tail_valid`` not a boolean; ``unsolved`` not "drop" or "error"; empty column
        names.

    Notes
    -----
    Sources: I. J. Good, Biometrika 1953 (the missing-mass estimate ``N1/n``); H. Robbins,
    Ann. Math. Stat. 1968 (its bias, at most ``1/n``); the ``n + 1`` is this project's.

    Examples
    --------
    >>> import modesim as ms
    >>> recs = [{"prompt_id": "q1", "answer": a, "correct": a == "4"} for a in ["4", "4", "5", "4", "3"]]
    >>> bank = ms.rollout_bank(recs)
    >>> bank.mode_labels.tolist(), bank.unseen_mass.round(3).tolist()
    ([['4', '5', '3', '<unseen>']], [0.333])
    >>> bank.task.base.round(3).tolist()
    [[0.4, 0.133, 0.133, 0.333]]
    """
    if isinstance(unseen, str):
        chk.choice(unseen, "unseen", ("good-turing", "additive"))
    else:
        unseen = chk.real(unseen, "unseen", low=0.0, high=1.0, high_open=True, allow_array=False)
    lam = chk.real(pseudocount, "pseudocount", low=0.0, low_open=True, allow_array=False)
    tail_valid = chk.boolean(tail_valid, "tail_valid")
    chk.choice(unsolved, "unsolved", ("drop", "error"))
    if isinstance(source, list) and source and all(isinstance(r, Rollout) for r in source):
        records = source
    else:
        records = read_rollouts(source, format=format, prompt=prompt, answer=answer, correct=correct)
    if not records:
        where = f"the file {str(source)!r}" if isinstance(source, (str, os.PathLike)) else "the list"
        raise ValueError(f"source holds no records ({where} is empty); allowed: at least one rollout record")

    prompts: dict[str, dict[str, list]] = {}
    for r in records:
        clusters = prompts.setdefault(r.prompt, {})
        if r.answer in clusters:
            entry = clusters[r.answer]
            if entry[1] != r.correct:
                raise ValueError(
                    f"{r.source}: answer {r.answer!r} to prompt {r.prompt!r} is marked "
                    f"{'correct' if r.correct else 'wrong'}, but {entry[2]} marks it "
                    f"{'correct' if entry[1] else 'wrong'}"
                )
            entry[0] += 1
        else:
            clusters[r.answer] = [1, r.correct, r.source]

    rows = []
    dropped = []
    for pid, clusters in prompts.items():
        items = sorted(clusters.items(), key=lambda kv: -kv[1][0])  # stable: ties keep first appearance
        n = sum(v[0] for _, v in items)
        n1 = sum(1 for _, v in items if v[0] == 1)
        if unseen == "good-turing":
            p0 = n1 / (n + 1)
            log_seen = math.log1p(-p0) - math.log(n)
        elif unseen == "additive":
            p0 = lam / (n + lam)
            log_seen = -math.log(n + lam)
        else:
            p0 = unseen
            log_seen = math.log1p(-p0) - math.log(n)
        solved = any(v[1] for _, v in items) or (tail_valid and p0 > 0)
        if not solved:
            dropped.append(pid)
            continue
        rows.append((pid, items, n, n1, p0, log_seen))
    if dropped and unsolved == "error":
        shown = ", ".join(map(repr, dropped[:5])) + (f" and {len(dropped) - 5} more" if len(dropped) > 5 else "")
        raise ValueError(f"prompts {shown} have no correct sample (and the tail is not valid); pass unsolved='drop' to leave them out")
    if not rows:
        raise ValueError("no prompt has a correct sample: the bank would be empty (RL and self-distillation cannot move a prompt without one)")

    P = len(rows)
    K = max(len(items) for _, items, *_ in rows) + 1
    log_base = np.full((P, K), -np.inf)
    valid = np.zeros((P, K), dtype=bool)
    counts = np.zeros((P, K), dtype=np.int64)
    labels = np.full((P, K), PAD_LABEL, dtype=object)
    for i, (_, items, _, _, p0, log_seen) in enumerate(rows):
        c = np.array([v[0] for _, v in items], dtype=np.int64)
        log_base[i, : c.size] = np.log(c) + log_seen
        valid[i, : c.size] = [v[1] for _, v in items]
        counts[i, : c.size] = c
        labels[i, : c.size] = [a for a, _ in items]
        log_base[i, K - 1] = math.log(p0) if p0 > 0 else -np.inf
        valid[i, K - 1] = tail_valid
        labels[i, K - 1] = TAIL_LABEL
    task = Task(log_base, valid)
    return RolloutBank(
        task=task,
        prompt_ids=tuple(r[0] for r in rows),
        mode_labels=_readonly(labels),
        counts=_readonly(counts),
        n_samples=_readonly([r[2] for r in rows]),
        n_correct=_readonly([sum(v[0] for _, v in r[1] if v[1]) for r in rows]),
        singletons=_readonly([r[3] for r in rows]),
        unseen_mass=_readonly([r[4] for r in rows]),
        dropped=tuple(dropped),
        unseen=unseen,
        tail_valid=tail_valid,
    )
