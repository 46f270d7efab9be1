"""Scenarios: prompt banks, the SD-vs-RL comparison and worked examples (theory §4, §7).

==================  ===================================================================
``banks``           :func:`prompt_bank` (the one bank builder) and :func:`bank_pass_at_k`
``bank_comparison`` :func:`sd_vs_rl`: sampled GRPO against sampled-demonstration SD on a
                    bank, as a :class:`BankComparison`
``token_entropy``   :func:`token_entropy_example`: token entropy stays high while the
                    strategies of a path task collapse
``concept_graphs``  :func:`graph_experiment`: the paper's controlled experiment (GRPO vs
                    SD on concept-graph banks, splits in distribution / larger / harder),
                    :func:`plot_graph_experiment`, :func:`token_entropy_robustness`
``remedies``        :func:`remedy_frontier`: every remedy of theory §11 against GRPO
                    (pass@1 gained, pass@16 and out-of-distribution pass@16 kept), and
                    :func:`frontier_table`
``claims``          :func:`paper_claims`: every claim and ablation of the paper at practical
                    settings (trainer presets, β ∈ {0, 0.001, 0.04}, each teacher model)
                    with verdicts; :func:`ingredient_study`: which ingredients decide
                    "GRPO keeps diversity, SD collapses"
==================  ===================================================================
"""

from .bank_comparison import BankComparison, sd_vs_rl
from .banks import BLOCKED, bank_pass_at_k, prompt_bank
from .claims import (
    CLAIMS,
    Case,
    Claim,
    IngredientStudy,
    PaperClaims,
    StudyRow,
    ingredient_study,
    paper_claims,
)
from .concept_graphs import (
    GraphExperiment,
    TokenEntropyRobustness,
    graph_experiment,
    plot_graph_experiment,
    token_entropy_robustness,
)
from .remedies import RemedyFrontier, frontier_table, remedy_frontier
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
    "RemedyFrontier",
    "TokenEntropyRobustness",
    "graph_experiment",
    "plot_graph_experiment",
    "token_entropy_robustness",
    "TokenEntropyExample",
    "bank_pass_at_k",
    "frontier_table",
    "prompt_bank",
    "remedy_frontier",
    "sd_vs_rl",
    "synonym_task",
    "token_entropy_example",
]
