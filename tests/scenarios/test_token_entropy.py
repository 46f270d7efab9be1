"""Token entropy is not functional diversity (theory §4, §5.2): the synonym example."""

import numpy as np
import pytest

from modesim import paths
from modesim.scenarios import synonym_task, token_entropy_example


def test_token_entropy_stays_high_while_strategies_collapse():
    ex = token_entropy_example()
    assert ex.distinct_strategies[0] > 2.7
    assert ex.distinct_strategies[-1] < 1.01
    assert ex.token_entropy[-1] > 0.8 * ex.token_entropy[0]
    assert ex.distinct_concepts[-1] < ex.distinct_concepts[0] - 4
    np.testing.assert_allclose(ex.token_entropy[[0, -1]], [0.548, 0.462], atol=2e-3)
    np.testing.assert_allclose(ex.distinct_strategies[[0, -1]], [2.77, 1.00], atol=5e-3)
    np.testing.assert_allclose(ex.distinct_concepts[[0, -1]], [14.3, 9.0], atol=5e-2)


def test_the_base_numbers_follow_from_the_task_by_hand():
    """At round 0: strategies 0.5/0.3/0.2, so Σ 1 − (1 − s)^8 over strategies; the token
    entropy is (log 4 per write-up step · 4 + H(shares)) over the expected 2·4 + 3 + 1 steps."""
    task, heads, concepts = synonym_task((0.5, 0.3, 0.2), 3, 4, 4)
    shares = np.array([0.5, 0.3, 0.2])
    ex = token_entropy_example(rounds=0)
    assert ex.distinct_strategies[0] == pytest.approx(np.sum(1 - (1 - shares) ** 8), rel=1e-12)
    H = -np.sum(shares * np.log(shares)) + 4 * np.log(4)
    steps = 1 + 3 + 2 * 4
    assert ex.token_entropy[0] == pytest.approx(H / steps, rel=1e-12)
    assert paths.token_entropy(task.base, task) == pytest.approx(H / steps, rel=1e-12)


def test_bad_example_arguments_are_named():
    with pytest.raises(ValueError, match="rounds must be an integer >= 0"):
        token_entropy_example(rounds=-1)
    with pytest.raises(ValueError, match="shares must sum to 1"):
        token_entropy_example(shares=(0.5, 0.6))
    with pytest.raises(ValueError, match="k must be an integer >= 1"):
        token_entropy_example(k=0)
