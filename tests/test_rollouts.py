"""Bring your own rollouts: per-sample logs become a prompt bank whose unseen mass is an
explicit tail mode; malformed logs are refused naming the line and column or key."""

import copy
import json
import pickle
from fractions import Fraction

import numpy as np
import pytest

import modesim as ms
from modesim.rollouts import PAD_LABEL, TAIL_LABEL, Rollout, read_rollouts, rollout_bank

# q1: answers 7 (x4, correct), 9 (x2, wrong), 8 (x1, correct), 5 (x1, wrong): n = 8, N1 = 2
# q2: answers a (x3, correct), b (x3, correct): n = 6, N1 = 0
# q3: every sample wrong (unsolved)
LOG = [("q1", "7", 1), ("q1", "9", 0), ("q2", "a", 1), ("q1", "7", 1), ("q1", "8", 1), ("q2", "b", 1),
       ("q1", "9", 0), ("q3", "x", 0), ("q1", "7", 1), ("q2", "a", 1), ("q1", "5", 0), ("q2", "b", 1),
       ("q1", "7", 1), ("q2", "a", 1), ("q2", "b", 1), ("q3", "y", 0)]


def _records():
    return [{"prompt_id": p, "answer": a, "correct": bool(c)} for p, a, c in LOG]


def _csv(tmp_path, text, name="log.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def _good_turing(counts):
    """The base policy of the module docstring, in exact fractions: seen clusters then the tail."""
    n = sum(counts)
    p0 = Fraction(sum(c == 1 for c in counts), n + 1)
    return [(1 - p0) * Fraction(c, n) for c in counts] + [p0]


def test_good_turing_bank_in_exact_fractions():
    bank = rollout_bank(_records())
    assert bank.prompt_ids == ("q1", "q2") and bank.dropped == ("q3",)
    assert bank.task.n_modes == 5 and bank.tail == 4
    assert bank.mode_labels.tolist() == [["7", "9", "8", "5", TAIL_LABEL], ["a", "b", PAD_LABEL, PAD_LABEL, TAIL_LABEL]]
    assert bank.task.valid.tolist() == [[True, False, True, False, False], [True, True, False, False, False]]
    q1 = _good_turing([4, 2, 1, 1])
    np.testing.assert_allclose(bank.task.base[0], [float(x) for x in q1], rtol=1e-15)
    np.testing.assert_allclose(bank.task.base[1], [0.5, 0.5, 0.0, 0.0, 0.0], rtol=1e-15)  # N1 = 0: no tail
    np.testing.assert_allclose(bank.unseen_mass, [2 / 9, 0.0])
    assert bank.singletons.tolist() == [2, 0] and bank.n_samples.tolist() == [8, 6] and bank.n_correct.tolist() == [5, 6]
    # The model-implied pass@1 is the seen correct mass: (1 − p̂0)·c/n.
    np.testing.assert_allclose(bank.pass_at_k(1)[0], float((1 - Fraction(2, 9)) * Fraction(5, 8)), rtol=1e-15)


def test_the_fraction_check_tells_good_turing_variants_apart():
    # N1/n (without the +1) is a different estimate: the exact check above would catch it.
    wrong = [float(x) for x in [Fraction(6, 8) * Fraction(c, 8) for c in (4, 2, 1, 1)] + [Fraction(2, 8)]]
    assert not np.allclose(rollout_bank(_records()).task.base[0], wrong, rtol=1e-6)


def test_additive_and_fixed_unseen_mass_and_a_valid_tail():
    additive = rollout_bank(_records(), unseen="additive", pseudocount=2.0)
    np.testing.assert_allclose(additive.task.base[0], [4 / 10, 2 / 10, 1 / 10, 1 / 10, 2 / 10], rtol=1e-15)
    np.testing.assert_allclose(additive.unseen_mass, [2 / 10, 2 / 8])
    fixed = rollout_bank(_records(), unseen=0.1)
    np.testing.assert_allclose(fixed.task.base[1], [0.45, 0.45, 0.0, 0.0, 0.1], rtol=1e-15)
    none = rollout_bank(_records(), unseen=0.0)
    assert np.isneginf(none.task.log_base[:, -1]).all()
    valid_tail = rollout_bank(_records(), unseen="additive", tail_valid=True)
    assert valid_tail.prompt_ids == ("q1", "q2", "q3") and valid_tail.dropped == ()  # q3's tail may be correct
    assert valid_tail.task.valid[:, -1].all()


def test_unsolved_prompts_can_be_refused():
    with pytest.raises(ValueError, match=r"prompts 'q3' have no correct sample"):
        rollout_bank(_records(), unsolved="error")
    with pytest.raises(ValueError, match="no prompt has a correct sample"):
        rollout_bank([{"prompt_id": "q", "answer": "x", "correct": False}])


def test_csv_and_jsonl_logs_give_the_same_bank(tmp_path):
    csv_path = _csv(tmp_path, "prompt_id,answer,correct\n" + "".join(f"{p},{a},{c}\n" for p, a, c in LOG))
    jsonl = tmp_path / "log.jsonl"
    jsonl.write_text("\n".join(json.dumps({"doc": {"id": p}, "answer": a, "exact_match": c}) for p, a, c in LOG) + "\n\n")
    a = rollout_bank(csv_path)
    b = rollout_bank(jsonl, prompt="doc.id", correct="exact_match")
    c = rollout_bank(_records())
    for bank in (a, b):
        np.testing.assert_array_equal(bank.task.log_base, c.task.log_base)
        assert bank.mode_labels.tolist() == c.mode_labels.tolist() and bank.prompt_ids == c.prompt_ids


def test_numbers_are_labels_and_records_say_where_they_came_from(tmp_path):
    jsonl = tmp_path / "n.jsonl"
    jsonl.write_text('{"prompt_id": 1, "answer": 42, "correct": 1}\n{"prompt_id": "1", "answer": "42", "correct": "yes"}\n')
    recs = read_rollouts(jsonl)
    assert recs == [Rollout("1", "42", True, f"{jsonl}, line 1"), Rollout("1", "42", True, f"{jsonl}, line 2")]
    assert rollout_bank(recs).counts.tolist() == [[2, 0]]


@pytest.mark.parametrize("text, match", [
    ("prompt_id,answer\nq,1\n", r"log.csv, line 1: the header has no column 'correct' \(columns: 'prompt_id', 'answer'\)"),
    ("prompt_id,answer,correct\nq,1,true\nq,2\n", r"log.csv, line 3: column 'correct' is missing"),
    ("prompt_id,answer,correct\nq,1,true\nq,2,maybe\n", r"log.csv, line 3: 'correct' must be true/false \(or 1/0, yes/no\); got 'maybe'"),
    ("prompt_id,answer,correct\nq,1,true,extra\n", r"log.csv, line 2: 4 fields, the header has 3"),
    ("prompt_id,answer,correct\n,1,true\n", r"log.csv, line 2: 'prompt_id' is empty"),
    ("prompt_id,answer,correct\nq,1,true\nq,1,false\n", r"log.csv, line 3: answer '1' to prompt 'q' is marked wrong, but .*log.csv, line 2 marks it correct"),
    ("", r"log.csv, line 1: empty file"),
])
def test_malformed_csv_names_the_line_and_column(tmp_path, text, match):
    with pytest.raises(ValueError, match=match):
        rollout_bank(_csv(tmp_path, text))


@pytest.mark.parametrize("text, match", [
    ('{"prompt_id": "q", "answer": "1", "correct": true}\n{"prompt_id": "q", "answer": "2", "correct": tru}\n',
     r"log.jsonl, line 2: not valid JSON \(Expecting value at column 46\)"),
    ('[1, 2, 3]\n', r"log.jsonl, line 1: a record must be an object"),
    ('{"prompt_id": "q", "correct": true}\n', r"log.jsonl, line 1: missing key 'answer' \(keys: 'prompt_id', 'correct'\)"),
    ('{"prompt_id": "q", "answer": null, "correct": true}\n', r"log.jsonl, line 1: 'answer' is missing \(null\)"),
    ('{"prompt_id": "q", "answer": "1", "correct": 2}\n', r"log.jsonl, line 1: 'correct' must be true/false"),
])
def test_malformed_jsonl_names_the_line_and_key(tmp_path, text, match):
    with pytest.raises(ValueError, match=match):
        rollout_bank(_csv(tmp_path, text, "log.jsonl"))


@pytest.mark.parametrize("kwargs, match", [
    ({"unseen": "laplace"}, r"unseen must be one of 'good-turing', 'additive'"),
    ({"unseen": 1.0}, r"unseen must be in \[0, 1\)"),
    ({"pseudocount": 0.0}, r"pseudocount must be a finite number > 0"),
    ({"unsolved": "keep"}, r"unsolved must be one of 'drop', 'error'"),
    ({"tail_valid": "no"}, r"tail_valid must be True or False"),
])
def test_bad_options_are_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        rollout_bank(_records(), **kwargs)


def test_bad_sources_are_named(tmp_path):
    with pytest.raises(ValueError, match=r"holds no records \(the list is empty\)"):
        rollout_bank([])
    (tmp_path / "empty.jsonl").write_text("")
    with pytest.raises(ValueError, match=r"holds no records \(the file '.*empty.jsonl' is empty\)"):
        rollout_bank(tmp_path / "empty.jsonl")
    with pytest.raises(ValueError, match="cannot tell the format from the suffix '.txt'"):
        rollout_bank(_csv(tmp_path, "x", "log.txt"))
    with pytest.raises(ValueError, match="is not a file"):
        rollout_bank(tmp_path / "none.csv")
    with pytest.raises(ValueError, match="source must be a file path or an iterable of records"):
        rollout_bank(42)
    with pytest.raises(ValueError, match=r"record 1: a record must be an object"):
        rollout_bank([_records()[0], "q1,7,1"])


def test_the_bank_pickles_and_deep_copies():
    bank = rollout_bank(_records())
    for other in (pickle.loads(pickle.dumps(bank)), copy.deepcopy(bank)):
        np.testing.assert_array_equal(other.task.log_base, bank.task.log_base)
        assert other.prompt_ids == bank.prompt_ids and other.mode_labels.tolist() == bank.mode_labels.tolist()


def test_the_classical_pass_at_k_estimate_from_the_counts():
    bank = rollout_bank(_records())
    np.testing.assert_allclose(bank.pass_at_k_unbiased([1, 3]), [ms.pass_at_k_unbiased(8, 5, [1, 3]), [1.0, 1.0]])


def test_what_rl_and_sd_would_do_to_my_models_pass_at_k():
    bank = rollout_bank(_records())
    rl = ms.sweep(ms.KLRegularisedRL(0.5, reference="current"), bank, {"beta": [0.5, 2.0]}, rounds=6,
                  metrics=["pass_at_k"], k=[1, 4], record_policy=True)
    sd = ms.sweep(ms.SelfDistillation(ms.CopyTeacher(0.5)), bank, {"teacher.alpha": [0.3, 0.8]}, rounds=6,
                  metrics=["pass_at_k"], k=[1, 4], record_policy=True)
    assert rl.prompt.values.tolist() == ["q1", "q2"]
    assert rl.cluster.sel(prompt="q1").values.tolist() == ["7", "9", "8", "5", TAIL_LABEL]
    # RL (theory §2.2, R3): pass@k of the bank rises every round ...
    p1 = rl.pass_at_k.sel(prompt="q1", k=1)
    assert (p1.diff("round") > 0).all()
    # ... and the two correct answers of q1 keep their base ratio 4 : 1 (R1, R3) ...
    ratio = lambda ds: np.exp(ds.log_policy.sel(prompt="q1", mode=0) - ds.log_policy.sel(prompt="q1", mode=2))  # noqa: E731
    np.testing.assert_allclose(ratio(rl), 4.0, rtol=1e-12)
    # ... while self-distillation amplifies it (S4).
    assert (ratio(sd).isel(round=-1) > 4.0 * 1.5).all()
    assert float(ratio(sd).isel(round=-1).sel({"teacher.alpha": 0.8})) > float(ratio(sd).isel(round=-1).sel({"teacher.alpha": 0.3}))
