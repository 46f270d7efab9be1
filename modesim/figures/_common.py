"""Set-up shared by several figures: the running example and the default SD rule."""

from __future__ import annotations

from ..distill import SelfDistillation
from ..plot import mode_labels
from ..task import Task, make_task
from ..teachers import CopyTeacher

#: Copy strength of the default teacher.
ALPHA = 0.5

#: The running example's modes: three correct answers and a wrong one.
MODE_LABELS = tuple(mode_labels(4))

#: The effective number of correct answers, as every figure labels it.
EFFECTIVE_MODES = "effective modes\nexp H(π(·|C))"


def demo_task() -> Task:
    """The running example: valid modes y₁, y₂, y₃ with π0 ∝ (0.6, 0.3, 0.1) on C and
    π0(y₄) = 0.3 on the wrong answer."""
    return make_task([0.42, 0.21, 0.07, 0.30], [1, 1, 1, 0])


def sd(**kw) -> SelfDistillation:
    """Self-distillation with the copy teacher (α = :data:`ALPHA`) unless told otherwise."""
    kw.setdefault("teacher", CopyTeacher(ALPHA))
    return SelfDistillation(**kw)
