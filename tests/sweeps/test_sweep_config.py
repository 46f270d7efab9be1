"""Sweep configuration files: every documented form parses to the sweep it describes, and
every mistake names the file, the key and the line."""

import textwrap
from pathlib import Path

import numpy as np
import pytest

import modesim as ms
from modesim.sweeps.config import load_config, parse_config

ROOT = Path(__file__).resolve().parents[2]

HEAD = """
rounds = 3
[rule]
type = "SelfDistillation"
[rule.teacher]
type = "CopyTeacher"
alpha = 0.5
[task]
base = [0.6, 0.3, 0.1]
"""


def _parse(text, **kw):
    return parse_config(textwrap.dedent(text), name="cfg.toml", **kw)


def test_the_example_config_is_the_sweep_it_says():
    conf = load_config(ROOT / "examples" / "sweep.toml")
    kw = conf.kwargs
    assert kw["rule"] == ms.SelfDistillation(ms.CopyTeacher(0.5), beta=0.0) or isinstance(kw["rule"], ms.SelfDistillation)
    assert kw["rule"].teacher.alpha == 0.5
    np.testing.assert_allclose(kw["grid"]["teacher.alpha"], np.linspace(0.0, 0.9, 10))
    assert kw["grid"]["objective"] == ["reverse", "forward"]
    assert (kw["rounds"], kw["every"], kw["k"]) == (40, 5, [1, 4, 16])
    ds = ms.sweep(**{**kw, "rounds": 2})
    assert dict(ds.sizes) == {"teacher.alpha": 10, "beta": 5, "objective": 2, "round": 2, "k": 3, "mode": 4}


def test_the_rollouts_example_reads_a_per_sample_log():
    conf = load_config(ROOT / "examples" / "rollouts.toml")
    bank = conf.kwargs["task"]
    assert bank.n_prompts == 6 and int(bank.n_samples.sum()) == 192
    ds = ms.sweep(**{**conf.kwargs, "rounds": 2, "every": 1})
    assert ds.prompt.values.tolist() == ["0", "1", "2", "3", "4", "5"]
    assert (ds.cluster.isel(mode=-1) == "<unseen>").all()
    assert (ds.pass_at_k.sel(k=8).diff("round") >= 0).all()  # SD on a bank raises valid mass here


def test_value_forms_and_nested_names():
    conf = _parse(HEAD + """
    [grid]
    beta = { logspace = [-2, 0, 3] }
    "step_size" = { geomspace = [0.1, 1.0, 2] }
    teacher_base = [{ type = "EMA", tau = 0.5, label = "ema" }, { type = "EMA", tau = 0.9, label = "slow" }]
    demos = { values = [{ type = "ConditionedDemos" }, { type = "UniformDemos" }] }
    [grid.teacher]
    alpha = [0.1, 0.2]
    """)
    grid = conf.kwargs["grid"]
    np.testing.assert_allclose(grid["beta"], [0.01, 0.1, 1.0])
    np.testing.assert_allclose(grid["step_size"], [0.1, 1.0])
    assert list(grid["teacher_base"]) == ["ema", "slow"] and grid["teacher_base"]["slow"] == ms.EMA(0.9)
    assert [type(d).__name__ for d in grid["demos"]] == ["ConditionedDemos", "UniformDemos"]
    assert grid["teacher.alpha"] == [0.1, 0.2]
    ds = ms.sweep(**conf.kwargs)
    assert ds.teacher_base.values.tolist() == ["ema", "slow"]
    assert ds["teacher.alpha"].dtype == np.float64


def test_integers_stay_integers_and_mixed_numbers_are_real():
    conf = _parse(HEAD.replace('type = "CopyTeacher"', 'type = "MultiDemoTeacher"') + """
    [grid]
    "teacher.m" = [1, 2, 4]
    beta = [0, 0.5]
    """)
    assert conf.kwargs["grid"]["teacher.m"] == [1, 2, 4]
    assert conf.kwargs["grid"]["beta"] == [0.0, 0.5]


@pytest.mark.parametrize("task, check", [
    ('[task]\nbase = [[0.5, 0.5], [0.9, 0.1]]\nvalid = [true, false]\nood = { flipped = [false, true] }',
     lambda t: t.batch_shape == (2,) and list(t.ood) == ["flipped"]),
    ('[task]\nzipf = { K = 5, s = 1.5 }', lambda t: t.n_modes == 5),
    ('[task]\ndirichlet = { K = 4, concentration = 0.5, seed = 3, prompts = 6 }', lambda t: t.batch_shape == (6,)),
])
def test_task_sources(task, check):
    conf = _parse("rounds = 1\n[rule]\ntype = \"NaturalPG\"\n" + task)
    assert check(conf.kwargs["task"])


def test_a_rollouts_task_is_read_relative_to_the_config(tmp_path):
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "s.csv").write_text("prompt_id,answer,correct\nq1,4,1\nq1,5,0\nq1,4,1\n")
    (tmp_path / "c.toml").write_text('rounds = 1\n[rule]\ntype = "NaturalPG"\n[task]\nrollouts = { path = "logs/s.csv", unseen = 0.1 }\n')
    bank = load_config(tmp_path / "c.toml").kwargs["task"]
    assert bank.prompt_ids == ("q1",)
    np.testing.assert_allclose(bank.task.base, [[0.9 * 2 / 3, 0.9 / 3, 0.1]])


@pytest.mark.parametrize("text, match", [
    ("rounds = 3\nrounds = 4\n", r"cfg.toml: invalid TOML: .*line 2"),
    ("colour = 1\n" + HEAD, r"cfg.toml, line 1: colour: unknown key"),
    (HEAD + "\ncolour = 1\n", r"cfg.toml, line 11: task.colour: is not used with task.base"),
    (HEAD.replace("rounds = 3", 'rounds = "3"'), r"cfg.toml, line 2: rounds: must be an integer"),
    (HEAD.replace('type = "CopyTeacher"', 'type = "CopyTeach"'), r"cfg.toml, line 6: rule.teacher.type: 'CopyTeach' is not a modesim class"),
    (HEAD.replace("alpha = 0.5", "alpha = 1.5"), r"cfg.toml, line 7: rule.teacher: .*alpha must be in \[0, 1\); got 1.5"),
    (HEAD.replace("alpha = 0.5", "alpah = 0.5"), r"cfg.toml, line \d: rule.teacher: CopyTeacher does not accept these keys"),
    (HEAD + '\n[grid]\nbeta = { linspace = [0, 1] }\n', r"cfg.toml, line 12: grid\['beta'\]: linspace takes \[start, stop, num\]"),
    (HEAD + '\n[grid]\nbeta = { linspace = [0, 1, 2], values = [1.0] }\n', r"line 12: grid\['beta'\]: a table of values needs exactly one of"),
    (HEAD + '\n[grid]\nteacher = [{ alpha = 0.1 }]\n', r"line 12: grid\['teacher'\]: entry 0 is a table without 'type'"),
    (HEAD + '\n[grid]\nbeta = [[0.1], [0.2]]\n', r"line 12: grid\['beta'\]: a list of values must hold"),
    (HEAD.replace("base = [0.6, 0.3, 0.1]", "base = [0.6, 0.3]"), r"cfg.toml, line 9: task.base: base must sum to 1"),
    (HEAD.replace("base = [0.6, 0.3, 0.1]", "zipf = { K = 3 }\nbase = [1.0]"), r"task: needs exactly one of base, zipf, dirichlet, rollouts"),
    (HEAD.replace("base = [0.6, 0.3, 0.1]", "zipf = { K = 3, t = 1 }"), r"line 9: task.zipf: unknown option"),
    (HEAD.replace("base = [0.6, 0.3, 0.1]", "base = [0.6, 0.4]\nzipf_s = 2"), r"line 10: task.zipf_s: is not used with task.base"),
    ("[rule]\ntype = \"NaturalPG\"\n[task]\nbase = [1.0]\n", r"cfg.toml: rounds: missing"),
])
def test_mistakes_name_the_key_and_line(text, match):
    with pytest.raises(ValueError, match=match):
        _parse(text)


def test_a_grid_value_the_rule_refuses_names_its_line():
    conf = _parse(HEAD + '\n[grid]\n"teacher.alpha" = [0.5, 1.2]\n')
    with pytest.raises(ValueError) as info:
        ms.sweep(**conf.kwargs)
    err = conf.explain(info.value)
    assert str(err).startswith("cfg.toml, line 12: grid['teacher.alpha'] value 1.2 (index 1) is refused")
    conf = _parse(HEAD + '\n[grid]\nbeta = { range = [0, 1, 2] }\n')  # an inline table is a field path
    with pytest.raises(ValueError, match=r"grid entry 'beta.range': float is not a dataclass"):
        ms.sweep(**conf.kwargs)


def test_unreadable_files(tmp_path):
    with pytest.raises(ValueError, match="cannot read the configuration"):
        load_config(tmp_path / "missing.toml")
    (tmp_path / "bin.toml").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ValueError, match="is not UTF-8 text"):
        load_config(tmp_path / "bin.toml")


@pytest.mark.parametrize("target, where", [
    ("subprocess:Popen", "rule"),            # would run ``touch`` with the file's keywords
    ("pathlib:Path", "rule"),
    ("collections:OrderedDict", "rule.teacher"),
])
def test_a_config_builds_no_arbitrary_class(tmp_path, target, where):
    """A reviewer's config ``type = "subprocess:Popen"`` with ``args = ["touch", …]`` created the
    file before the "not a rule" error.  The class is now refused before it is called."""
    marker = tmp_path / "pwned"
    if where == "rule":
        text = f'rounds = 1\n[rule]\ntype = "{target}"\nargs = ["touch", "{marker}"]\n[task]\nbase = [0.5, 0.5]\n'
    else:
        text = f'rounds = 1\n[rule]\ntype = "SelfDistillation"\n[rule.teacher]\ntype = "{target}"\n[task]\nbase = [0.5, 0.5]\n'
    with pytest.raises(ValueError, match=f"{where}.type: .*neither a modesim class nor a rule"):
        _parse(text)
    assert not marker.exists()


def test_a_config_builds_a_users_own_rule():
    """``package.module:Class`` for a user's rule outside modesim (the tests' ``NoisyPG``, with
    init and step) and for a modesim class by its module path."""
    cfg = _parse('rounds = 1\n[rule]\ntype = "tests.sweeps.support:NoisyPG"\n[task]\nbase = [0.5, 0.5]\n')
    assert type(cfg.kwargs["rule"]).__name__ == "NoisyPG"
    cfg = _parse('rounds = 1\n[rule]\ntype = "modesim.rl:NaturalPG"\nlr = 0.5\n[task]\nbase = [0.5, 0.5]\n')
    assert cfg.kwargs["rule"] == ms.NaturalPG(0.5)
