"""Scenarios: prompt banks, the SD-vs-RL comparison and worked examples (theory §4, §7).

==================  ===================================================================
``banks``           :func:`prompt_bank` (the one bank builder) and :func:`bank_pass_at_k`
``sd_vs_rl``        :func:`sd_vs_rl`: sampled GRPO against sampled-demonstration SD on a
                    bank, as a :class:`BankComparison`
``token_entropy``   :func:`token_entropy_example`: token entropy stays high while the
                    strategies of a path task collapse
``graph_experiment`` :func:`graph_experiment`: the paper's controlled experiment (GRPO vs
                    SD on concept-graph banks, splits in distribution / larger / harder),
                    :func:`plot_graph_experiment`, :func:`token_entropy_robustness`
``paper_claims``    :func:`paper_claims`: every claim and ablation of the paper at practical
                    settings (trainer presets, β ∈ {0, 0.001, 0.04}, each teacher model)
                    with verdicts; :func:`ingredient_study`: which ingredients decide
                    "GRPO keeps diversity, SD collapses"
==================  ===================================================================
"""

from .bank_comparison import BankComparison, sd_vs_rl
from .banks import BLOCKED, bank_pass_at_k, prompt_bank
from .graph_experiment import (
    GraphExperiment,
    TokenEntropyRobustness,
    graph_experiment,
    plot_graph_experiment,
    token_entropy_robustness,
)
from .paper_claims import (
    CLAIMS,
    Case,
    Claim,
    IngredientStudy,
    PaperClaims,
    StudyRow,
    ingredient_study,
    paper_claims,
)
from .token_entropy import TokenEntropyExample, synonym_task, token_entropy_example

__all__ = [
    "BLOCKED",
    "CLAIMS",
    "Case",
    "Claim",
    "IngredientStudy",
    "PaperClaims",
    "StudyRow",
    "ingredient_study",
    "paper_claims",
    "BankComparison",
    "GraphExperiment",
    "TokenEntropyRobustness",
    "graph_experiment",
    "plot_graph_experiment",
    "token_entropy_robustness",
    "TokenEntropyExample",
    "bank_pass_at_k",
    "prompt_bank",
    "sd_vs_rl",
    "synonym_task",
    "token_entropy_example",
]
