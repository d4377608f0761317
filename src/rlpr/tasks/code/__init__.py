"""Code synthesis problems (RLEF): CodeContests-style records, the output checker, HumanEval."""

from rlpr.tasks.code.checker import outputs_match
from rlpr.tasks.code.humaneval import load_humaneval
from rlpr.tasks.code.problems import (
    Problem,
    ProblemFormatError,
    load_builtin_problems,
    load_codecontests,
    load_problems,
    problem_split,
    save_problems,
)

__all__ = [
    "Problem",
    "ProblemFormatError",
    "load_builtin_problems",
    "load_codecontests",
    "load_humaneval",
    "load_problems",
    "outputs_match",
    "problem_split",
    "save_problems",
]
