"""The theory document (docs/theory.md) and the documentation site.

(a) Every theory section and every statement id the repository cites exists in
    docs/theory.md, and every test the document cites as evidence exists.
(b) Nothing cites the project's first account of the mathematics any more.
(c) The site builds with ``mkdocs build --strict`` (skipped when mkdocs is not installed).
(d) The worked numbers the document quotes that no other test pins are what the code
    computes.

**What counts as a citation** (the rule the checker applies; keep docstrings within it):

- *Where.* In ``modesim/``: docstrings, comments and every other string literal (error
  messages and registry entries are user-facing text).  In ``tests/`` and
  ``benchmarks/``: docstrings and comments only (test code passes deliberately unknown
  ids such as ``get("S9")``).  In ``README.md``, ``docs/*.md`` and notebook markdown
  cells: the whole text; in notebook code cells: comments and strings.
- *Sections.* ``theory §N`` or ``theory §N.M`` ("theory" in any case, optionally
  ``theory.md``), followed by more items separated by commas or "and"
  (``theory §3.1, §3.5``) and ranges (``theory §2.1–2.2``, ``theory §2–§3``; every
  section in a range must exist).  A section is defined by a heading ``## §N ...`` or
  ``### §N.M ...``.
- *Statement ids.* An id is a capital letter, one or two digits and an optional lowercase
  letter (``S4b``).  The letters R and S are reserved for statements: ``R<n>``/``S<n>``
  anywhere in the prose above is a citation.  An id with any other letter is a citation
  when it follows the word theorem(s)/statement(s) (any case, optionally "id(s)"), alone
  or in a list or range (``theorems A1 and A3``, ``statements C1–C3``).  Ranges of one
  letter are expanded (``R1–R4`` cites R1, R2, R3, R4).  A statement is defined by a
  heading ``#### <id> ...`` in docs/theory.md.
"""

from __future__ import annotations

import ast
import importlib.util
import io
import json
import os
import re
import subprocess
import sys
import time
import tokenize
from pathlib import Path

import numpy as np
import pytest

import modesim as ms

ROOT = Path(__file__).resolve().parents[1]
THEORY = ROOT / "docs" / "theory.md"

ID = r"[A-Z]\d{1,2}[a-z]?"
_SECTION_DEF = re.compile(r"^#{2,3}\s+§(\d+(?:\.\d+)?)\s", re.M)
_ID_DEF = re.compile(rf"^####\s+({ID})\s", re.M)
_SEC = r"§?\d+(?:\.\d+)?"
_SECTION_CITE = re.compile(
    rf"(?i:theory)(?:\.md)?\s*(§\d+(?:\.\d+)?(?:\s*[–-]\s*{_SEC})?(?:\s*(?:,|\band\b)\s*§\d+(?:\.\d+)?(?:\s*[–-]\s*{_SEC})?)*)"
)
_RS_ID = re.compile(r"(?<![\w.])([RS]\d{1,2}[a-z]?)(?:\s*(?:–|-|\.\.)\s*([RS]\d{1,2}[a-z]?))?(?![\w])")
_WORD_IDS = re.compile(
    rf"(?i:\b(?:theorems?|statements?)\b)(?:\s+(?i:ids?))?\s+((?-i:{ID})(?:\s*(?:,|\band\b|\bor\b|/|–|-|\.\.)\s*(?-i:{ID}))*)(?![\w])"
)


# --------------------------------------------------------------- what the repository cites


def _py_prose(text: str, *, strings: bool) -> list[str]:
    """Docstrings and comments of Python source (and every string literal if ``strings``)."""
    out = []
    try:
        tree = ast.parse(text)
    except SyntaxError:
        tree = None
    doc_nodes = set()
    if tree is not None:
        for node in ast.walk(tree):
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                body = node.body
                if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                        and isinstance(body[0].value.value, str):
                    out.append(body[0].value.value)
                    doc_nodes.add(body[0].value.lineno)
            elif strings and isinstance(node, ast.Constant) and isinstance(node.value, str):
                if node.lineno not in doc_nodes:
                    out.append(node.value)
    try:
        for tok in tokenize.generate_tokens(io.StringIO(text).readline):
            if tok.type == tokenize.COMMENT:
                out.append(tok.string)
    except (tokenize.TokenError, IndentationError, SyntaxError):
        out += re.findall(r"#[^\n]*", text)
    return out


def _notebook_prose(path: Path) -> list[str]:
    nb = json.loads(path.read_text(encoding="utf-8"))
    out = []
    for cell in nb.get("cells", []):
        src = "".join(cell.get("source", []))
        if cell.get("cell_type") == "markdown":
            out.append(src)
        elif cell.get("cell_type") == "code":
            out += _py_prose(src, strings=True)
    return out


def repository_prose() -> dict[str, list[str]]:
    """``{relative path: [prose chunks]}`` for every file whose citations are checked."""
    files: dict[str, list[str]] = {}
    for path in sorted((ROOT / "modesim").rglob("*.py")):
        files[str(path.relative_to(ROOT))] = _py_prose(path.read_text(encoding="utf-8"), strings=True)
    for folder in ("tests", "benchmarks"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            if path.resolve() == Path(__file__).resolve():
                continue  # this file's docstrings show the grammar with made-up ids
            files[str(path.relative_to(ROOT))] = _py_prose(path.read_text(encoding="utf-8"), strings=False)
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]:
        if path.exists():
            files[str(path.relative_to(ROOT))] = [path.read_text(encoding="utf-8")]
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        files[str(path.relative_to(ROOT))] = _notebook_prose(path)
    return files


def _section_key(s: str) -> tuple[int, ...]:
    return tuple(int(x) for x in s.lstrip("§").split("."))


def _expand_sections(item: str) -> set[str]:
    """``§2.1–2.2`` → {2.1, 2.2}; ``§2–§3`` → {2, 3}; ``§3.4`` → {3.4}."""
    parts = re.split(r"\s*[–-]\s*", item.strip())
    first = parts[0].lstrip("§")
    if len(parts) == 1:
        return {first}
    last = parts[1].lstrip("§")
    a, b = _section_key(first), _section_key(last)
    if len(a) == 2 and len(b) == 1:  # "§2.1–2" is not a form we write; treat "2" as "2.<same>"
        b = (b[0], a[1])
    if len(a) != len(b) or (len(a) == 2 and a[0] != b[0]):
        return {first, last}
    if len(a) == 1:
        return {str(n) for n in range(a[0], b[0] + 1)}
    return {f"{a[0]}.{n}" for n in range(a[1], b[1] + 1)}


def _expand_ids(first: str, last: str | None) -> set[str]:
    if not last:
        return {first}
    if first[0] != last[0]:
        return {first, last}
    n1, n2 = int(re.sub(r"\D", "", first)), int(re.sub(r"\D", "", last))
    inner = {f"{first[0]}{n}" for n in range(min(n1, n2) + 1, max(n1, n2))}
    return {first, last} | inner


def cited_sections(chunks: list[str]) -> set[str]:
    out: set[str] = set()
    for chunk in chunks:
        for m in _SECTION_CITE.finditer(chunk):
            for item in re.split(r"\s*(?:,|\band\b)\s*", m.group(1)):
                if item:
                    out |= _expand_sections(item)
    return out


def cited_ids(chunks: list[str]) -> set[str]:
    out: set[str] = set()
    for chunk in chunks:
        for m in _RS_ID.finditer(chunk):
            out |= _expand_ids(m.group(1), m.group(2))
        for m in _WORD_IDS.finditer(chunk):
            tokens = re.findall(rf"{ID}|–|-|\.\.", m.group(1))
            i = 0
            while i < len(tokens):
                if i + 2 < len(tokens) and tokens[i + 1] in ("–", "-", ".."):
                    out |= _expand_ids(tokens[i], tokens[i + 2])
                    i += 3
                elif tokens[i] not in ("–", "-", ".."):
                    out.add(tokens[i])
                    i += 1
                else:
                    i += 1
    return out


def defined(theory_text: str) -> tuple[set[str], set[str]]:
    """Sections and statement ids defined by headings of the theory document."""
    return set(_SECTION_DEF.findall(theory_text)), set(_ID_DEF.findall(theory_text))


def missing_citations(files: dict[str, list[str]], theory_text: str) -> list[str]:
    """``"<file>: theory §N"`` / ``"<file>: statement X"`` for every citation not defined."""
    sections, ids = defined(theory_text)
    problems = []
    for name, chunks in files.items():
        for sec in sorted(cited_sections(chunks) - sections, key=_section_key):
            problems.append(f"{name}: theory §{sec}")
        for sid in sorted(cited_ids(chunks) - ids):
            problems.append(f"{name}: statement {sid}")
    return problems


# -------------------------------------------------------------------------------- (a)


def test_every_cited_section_and_statement_exists_in_the_theory_document():
    files = repository_prose()
    theory = THEORY.read_text(encoding="utf-8")
    assert missing_citations(files, theory) == []
    # Not vacuous: the code does cite the document, and the core statements are defined.
    all_sections = set().union(*(cited_sections(c) for c in files.values()))
    all_ids = set().union(*(cited_ids(c) for c in files.values()))
    assert {"1", "2.1", "3.2", "3.4", "3.5", "4", "6"} <= all_sections
    assert {"R1", "R3", "R4", "S1", "S4", "S4b", "S8"} <= all_ids
    sections, ids = defined(theory)
    assert {f"R{i}" for i in range(1, 5)} | {f"S{i}" for i in range(1, 9)} | {"S4b"} <= ids
    assert {str(i) for i in range(1, 13)} <= sections


def test_the_skeleton_keeps_its_numbers():
    """The section numbers code cites are fixed by the project brief (§1 … §12)."""
    sections, _ = defined(THEORY.read_text(encoding="utf-8"))
    skeleton = {"1", "2", "2.1", "2.2", "2.3", "3", "3.1", "3.2", "3.3", "3.4", "3.5", "3.6", "4",
                "5", "5.1", "5.2", "5.3", "6", "7", "8", "8.1", "8.2", "8.3", "8.4", "9", "10", "11",
                "12"}
    assert skeleton <= sections


def test_the_checker_catches_what_is_missing():
    """Negative control: a document without §3.4 or S4b, and citations of both (and of
    an unknown non-R/S id and a range reaching past the last statement) are all reported."""
    theory = "## §3 Self-distillation\n\n### §3.2 Closed form\n\n#### S1 · optimum\n\n#### S2 · x\n"
    files = {
        "modesim/fake.py": _py_prose(
            '"""Amplification (theory §3.4, S4b); see theory §3.2."""\n'
            "x = 1  # registered as theorem Q7; statements S1–S3 hold\n",
            strings=True,
        ),
        "tests/test_fake.py": _py_prose('assert get("S9") is None  # theory §3\n', strings=False),
    }
    problems = missing_citations(files, theory)
    assert problems == [
        "modesim/fake.py: theory §3.4",
        "modesim/fake.py: statement Q7",
        "modesim/fake.py: statement S3",
        "modesim/fake.py: statement S4b",
    ]
    # With the missing pieces defined the same citations pass.
    fixed = theory + "### §3.4 Amplification\n\n#### S3 · y\n\n#### S4b · z\n\n#### Q7 · w\n"
    assert missing_citations(files, fixed) == []


def test_citation_grammar():
    assert cited_sections(["theory §2.1–2.2 and §6"]) == {"2.1", "2.2", "6"}
    assert cited_sections(["(theory §2–§3, in the spirit of optax)"]) == {"2", "3"}
    assert cited_sections(["theory §3.1, §3.5"]) == {"3.1", "3.5"}
    assert cited_sections(["Theory §1: what a valid input is", "theory §…"]) == {"1"}
    assert cited_ids(["theorems R1–R4, S1..S3 and S4b"]) == {"R1", "R2", "R3", "R4", "S1", "S2", "S3", "S4b"}
    assert cited_ids(["theorem A1 and A3", "Statement C2b", "a K3 graph, N8 rollouts"]) == {"A1", "A3", "C2b"}
    assert cited_ids(["np.R1x", "ROUND2", "R10a"]) == {"R10a"}


def test_tests_cited_as_evidence_exist():
    """Every ``tests/...py`` (and ``::test_name``) the document cites exists.  When a test
    moved, the failure names the file that now defines it."""
    theory = THEORY.read_text(encoding="utf-8")
    refs = set(re.findall(r"tests/[\w/]+\.py(?:::\w+)?", theory))
    assert len(refs) > 30
    sources = {p: p.read_text(encoding="utf-8") for p in (ROOT / "tests").rglob("*.py")}
    missing = []
    for ref in sorted(refs):
        path, _, name = ref.partition("::")
        file = ROOT / path
        if file.exists() and (not name or re.search(rf"^\s*def {name}\b", sources[file], re.M)):
            continue
        moved = [str(p.relative_to(ROOT)) for p, text in sources.items()
                 if name and re.search(rf"^\s*def {name}\b", text, re.M)]
        missing.append(f"{ref} (now in {', '.join(moved)})" if moved else ref)
    assert missing == [], "docs/theory.md cites tests that are not there:\n" + "\n".join(missing)


# -------------------------------------------------------------------------------- (b)

_FIRST_ACCOUNT = re.compile(r"\bMATH (§|[RS]\d)|MATH\.md")


def test_nothing_cites_the_first_account():
    stale = []
    paths = [*(ROOT / "modesim").rglob("*.py"), *(ROOT / "tests").rglob("*.py"),
             *(ROOT / "benchmarks").rglob("*.py"), ROOT / "README.md", *(ROOT / "docs").rglob("*.md"),
             *(ROOT / "docs").rglob("*.py"), *(ROOT / "notebooks").glob("*.ipynb"), ROOT / "mkdocs.yml"]
    for path in paths:
        if path.resolve() == Path(__file__).resolve() or not path.exists():
            continue
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if _FIRST_ACCOUNT.search(line):
                stale.append(f"{path.relative_to(ROOT)}:{n}")
    assert stale == [], f"{len(stale)} lines still cite the first account, e.g. {stale[:5]}"


# -------------------------------------------------------------------------------- (c)


def test_site_builds_with_warnings_as_errors(tmp_path):
    for module in ("mkdocs", "mkdocstrings", "mkdocstrings_handlers.python", "material", "pymdownx"):
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"{module} is not installed (pip install -e '.[docs]')")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    start = time.perf_counter()
    run = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file", str(ROOT / "mkdocs.yml"),
         "--site-dir", str(tmp_path / "site")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert time.perf_counter() - start < 60
    site = tmp_path / "site"
    theory = (site / "theory" / "index.html").read_text(encoding="utf-8")
    assert 'id="S4b"' in theory and 'id="sec-3-4"' in theory
    api = (site / "api" / "distill" / "index.html").read_text(encoding="utf-8")
    assert "modesim.distill.SelfDistillation" in api
    assert 'href="../../theory/#sec-3-2"' in api  # "theory §3.2" in a docstring links the section
    assert ":class:`" not in api and ":func:`" not in api
    assert sorted(p.name for p in (site / "figures").glob("*.png")) == sorted(
        p.name for p in (ROOT / "figures").glob("*.png"))


# -------------------------------------------------------------------------------- (d)


def _quoted(*texts: str) -> None:
    """Each text appears in docs/theory.md (whitespace, including line breaks, normalised)."""
    theory = " ".join(THEORY.read_text(encoding="utf-8").split())
    for text in texts:
        assert " ".join(text.split()) in theory, f"docs/theory.md no longer quotes {text!r}"


def test_worked_numbers_uniform_external_demonstrations_compress():
    """theory §7: with D uniform on C the copy teacher compresses ratios."""
    task = ms.make_task([0.6, 0.3, 0.1])
    one = ms.sd_optimum(task, teacher=ms.CopyTeacher(0.5), demos=ms.UniformDemos())
    exponent = float(ms.amplification_exponent(task.base, one, task.valid))
    _quoted(f"({one[0]:.3f}, {one[1]:.3f}, {one[2]:.3f})", f"exponent of {exponent:.3f}")
    assert exponent < 1
    alpha, rho = 0.5, task.base
    closed = np.log1p(-alpha) + np.log1p(alpha / ((1 - alpha) * rho)) / 3
    G = ms.CopyTeacher(alpha).expected_log(task.log_base, np.full(3, 1 / 3))
    np.testing.assert_allclose(G - task.log_base, closed, rtol=1e-12)
    assert np.all(np.diff(closed) > 0)  # Ī decreases in ρ(y): the rarer mode gains
    self_demos = ms.sd_optimum(task, teacher=ms.CopyTeacher(0.5))
    _quoted(f"is {float(ms.amplification_exponent(task.base, self_demos, task.valid)):.3f}.")


def test_worked_numbers_kl_to_the_base_stops_collapse_part_way():
    """theory §7: KL to π0 leaves an interior rest point; KL to the current policy does not."""
    task = ms.make_task([0.6, 0.3, 0.1])
    _quoted(f"(effective number of modes {float(ms.effective_modes(task.base)):.2f})")
    kept = {}
    for beta in (1.0, 0.5, 0.1):
        rule = ms.SelfDistillation(ms.CopyTeacher(0.5), beta=beta, reference="base")
        final = ms.iterate(rule, task, 2000, every=2000).final
        p = final.policy
        kept[beta] = float(ms.effective_modes(p))
        np.testing.assert_allclose(rule.step(final, task).policy, p, atol=1e-9)  # a rest point
        if beta == 0.5:
            _quoted(f"rest point $({p[0]:.3f}, {p[1]:.3f}, {p[2]:.3f})$")
    _quoted(f"β = 1 keeps {kept[1.0]:.2f}", f"β = 0.5 keeps {kept[0.5]:.2f}", f"β = 0.1 only {kept[0.1]:.3f}")
    current = ms.SelfDistillation(ms.CopyTeacher(0.5), beta=0.5, reference="current")
    assert ms.iterate(current, task, 2000, every=2000).policy[-1][0] > 1 - 1e-9


def test_worked_numbers_S4b_counterexample_and_compounding():
    task = ms.make_task([0.5 - 1e-6, 1e-6, 0.5], [1, 1, 0])
    sd = ms.sd_optimum(task, teacher=ms.CopyTeacher(0.5))
    factor = (sd[0] / sd[1]) / (task.base[0] / task.base[1])
    _quoted(f"({factor:.4f} at ε = $10^{{-6}}$)")
    assert 2 < factor < 3
    five = ms.iterate(ms.SelfDistillation(ms.CopyTeacher(0.5)), ms.make_task([0.6, 0.3, 0.1]), 5).policy[-1]
    _quoted("$({:.3f}, {:.3f}, {:.3f})$".format(*five))
    _quoted(f"\\approx {1 + (np.log(4) - 0.75) / 3:.4f}")


def test_worked_example_the_forward_kl_mixture_is_not_a_path_policy():
    """theory §5.3: the sequence-level forward-KL target (the mixture over demonstrations)
    is not a per-node policy, and the per-step target differs from it.  Brute force over
    the five paths, independent of the path module (whose per-step target is tested
    against the same brute force in the path tests)."""
    alpha = 0.5
    rho = {(0, 1): 0.9, (0, 2): 0.1, (1, 3): 0.9, (1, 5): 0.1, (2, 3): 1.0, (3, 4): 0.1, (3, 5): 0.9,
           (4, 5): 1.0}
    paths = [(0, 1, 3, 4, 5), (0, 1, 3, 5), (0, 1, 5), (0, 2, 3, 4, 5), (0, 2, 3, 5)]
    edges = lambda p: list(zip(p[:-1], p[1:]))  # noqa: E731

    def T(e, d):  # per-step copy teacher: copy d's step at nodes d visits, else the base
        return (1 - alpha) * rho[e] + alpha * (e in edges(d)) if e[0] in d[:-1] else rho[e]

    D = np.full(len(paths), 1 / len(paths))  # uniform demonstrations (all paths reach 5)
    mixture = np.array([sum(D[j] * np.prod([T(e, d) for e in edges(p)]) for j, d in enumerate(paths))
                        for p in paths])
    per_edge = {e: sum(D[j] * T(e, d) for j, d in enumerate(paths)) for e in rho}
    per_step = np.array([np.prod([per_edge[e] for e in edges(p)]) for p in paths])
    after_1 = mixture[0] / (mixture[0] + mixture[1])  # P(3 → 4 | 0 → 1 → 3) in the mixture
    after_2 = mixture[3] / (mixture[3] + mixture[4])  # P(3 → 4 | 0 → 2 → 3)
    _quoted(f"probability {after_1:.3f} after $0\\to1\\to3$ but {after_2:.3f} after",
            "({:.5f}, {:.5f}, {:.5f}, {:.5f}, {:.5f})".format(*mixture),
            "({:.5f}, {:.5f}, {:.5f}, {:.5f}, {:.5f})".format(*per_step))
    assert after_2 - after_1 > 0.01  # the continuation at node 3 depends on the prefix
    assert np.abs(mixture - per_step).max() > 0.01
    assert mixture.sum() == pytest.approx(1.0) and per_step.sum() == pytest.approx(1.0)


def test_worked_example_euclidean_and_natural_gradient_sd_orbits_differ():
    """theory §6: from (0.6, 0.3, 0.1), copy teacher α = 0.5 on the current policy,
    demonstrations π(·|C): split of the remaining mass when the top mode reaches 0.9."""
    from scipy.integrate import solve_ivp

    task = ms.make_task([0.6, 0.3, 0.1])
    teacher = ms.CopyTeacher(0.5)

    def sgd(_, theta):  # Euclidean mean field: θ' = −π ⊙ (log π − G − E_π[log π − G])
        lp = theta - np.log(np.exp(theta).sum())
        pi = np.exp(lp)
        d = lp - teacher.expected_log(lp, pi)
        return -pi * (d - pi @ d)

    def split(times, policies):
        i = int(np.argmax(policies[:, 0] >= 0.9))
        return policies[i, 1] / (1 - policies[i, 0])

    t = np.linspace(0, 200, 4001)
    sol = solve_ivp(sgd, (0, 200), task.log_base.copy(), t_eval=t, rtol=1e-10, atol=1e-12)
    euclid = np.exp(sol.y.T - np.log(np.exp(sol.y.T).sum(1, keepdims=True)))
    natural = ms.flow(ms.SelfDistillation(teacher, reference="current"), task, np.linspace(0, 40, 4001)).policy
    a, b = split(t, euclid), split(None, natural)
    _quoted(f"{a:.2f} : {1 - a:.2f}", f"{b:.2f} : {1 - b:.2f}")
    assert b - a > 0.1
