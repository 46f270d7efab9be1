"""Progress bars of the long scenarios (the one mechanism, modesim/_progress.py).

Every scenario takes ``progress``: True draws tqdm bars on stderr, False draws nothing and
None draws them only when stderr is a terminal.  Each scenario runs here on a configuration
of a second or less.
"""

from __future__ import annotations

import io

import pytest

from modesim._progress import resolve, stderr_is_terminal
from modesim.scenarios import (
    graph_experiment,
    ingredient_study,
    paper_claims,
    remedy_frontier,
    sd_vs_rl,
)

#: name → (a quick call taking ``progress``, the bar's description).
QUICK = {
    "paper_claims": (lambda progress: paper_claims(claims=["tilt"], study=False, progress=progress), "paper_claims"),
    "ingredient_study": (lambda progress: ingredient_study(n_prompts=2, n_seeds=1, steps=2, betas=(0.0,),
                                                           progress=progress), "ingredient_study"),
    "graph_experiment": (lambda progress: graph_experiment(quick=True, steps=2, n_train=2, n_eval=2, betas=(0.0,),
                                                           dense_ablation=False, every=1, progress=progress),
                         "graph_experiment"),
    "remedy_frontier(prompt_bank)": (lambda progress: remedy_frontier(quick=True, steps=2, n_seeds=1, betas=(0.0,),
                                                                      methods=["SD"], progress=progress),
                                     "remedy_frontier (prompt bank)"),
    "remedy_frontier(graph)": (lambda progress: remedy_frontier("graph", quick=True, steps=2, n_seeds=1, betas=(0.0,),
                                                                methods=["SD"], progress=progress),
                               "remedy_frontier (graph)"),
    "sd_vs_rl": (lambda progress: sd_vs_rl(n_prompts=2, n_seeds=1, steps=2, progress=progress), "sd_vs_rl"),
}


@pytest.mark.parametrize("name", list(QUICK))
def test_progress_true_draws_bars_on_stderr_and_false_draws_nothing(name, capsys):
    run, desc = QUICK[name]
    run(True)
    shown = capsys.readouterr()
    assert desc in shown.err and shown.out == ""
    run(False)
    quiet = capsys.readouterr()
    assert quiet.err == "" and quiet.out == ""


@pytest.mark.parametrize("name", ["paper_claims", "graph_experiment", "sd_vs_rl"])
def test_progress_none_draws_bars_only_on_a_terminal(name, capsys, monkeypatch):
    run, desc = QUICK[name]
    run(None)                                   # pytest's captured stderr is not a terminal
    assert capsys.readouterr().err == ""

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    term = Terminal()
    monkeypatch.setattr("sys.stderr", term)
    run(None)
    assert desc in term.getvalue()


def test_resolve_is_the_one_rule():
    class Stream:
        def __init__(self, tty):
            self.tty = tty

        def isatty(self):
            return self.tty

    import sys

    saved = sys.stderr
    try:
        sys.stderr = Stream(True)
        assert resolve(None, auto=stderr_is_terminal()) is True and resolve(False, auto=True) is False
        sys.stderr = Stream(False)
        assert resolve(None, auto=stderr_is_terminal()) is False and resolve(True, auto=False) is True
        sys.stderr = object()                   # no isatty at all
        assert resolve(None, auto=stderr_is_terminal()) is False
    finally:
        sys.stderr = saved


@pytest.mark.parametrize("name", list(QUICK))
@pytest.mark.parametrize("bad", ["yes", 1, 0, "False"])
def test_progress_must_be_a_bool_or_none(name, bad):
    run, _ = QUICK[name]
    with pytest.raises(ValueError, match=rf"progress must be True, False or None \(shown for long runs\); got {bad!r}"):
        run(bad)
