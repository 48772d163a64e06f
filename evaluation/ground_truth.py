"""A corpus task's ground truth: its reference must pass, its input and every mutant must fail.

Shared by ``opsgraft corpus check`` and the ground-truth test, in the spirit of EvalPlus
``tools/*/check_ground_truth.py``: a checker that cannot fail is a defect, and so is a reference
that does not pass.
"""

from __future__ import annotations

from opsgraft.evaluation.corpus import mutant_files, reference_files
from opsgraft.types import Candidate, SampleResult, Task

INPUT = "input"
REFERENCE = "reference"
MUTANT = "mutant:"


def ground_truth_candidates(task: Task) -> list[Candidate]:
    """The input (no overlay), the reference and each mutant, labelled in ``Candidate.origin``."""
    runs: dict[str, dict[str, str]] = {INPUT: {}}
    reference = reference_files(task)
    if reference:
        runs[REFERENCE] = reference
    runs.update({MUTANT + name: files for name, files in mutant_files(task).items()})
    return [Candidate(task.id, i, files, task.entry, origin=label) for i, (label, files) in enumerate(runs.items())]


def layout_problems(task: Task) -> list[str]:
    """What the task folder lacks to have a ground truth at all."""
    problems = []
    if not reference_files(task):
        problems.append("no reference/ files")
    if not mutant_files(task):
        problems.append("no mutants/")
    return problems


def as_expected(label: str, result: SampleResult) -> bool:
    """The reference passes; the input and mutants fail (an error proves nothing, so it is not a fail)."""
    if label == REFERENCE:
        return result.status == "passed"
    return result.status in ("failed", "timeout")


def outcome(result: SampleResult) -> str:
    """passed | rejected (exit 0, checker said no) | crashed (exit != 0) | timeout | error."""
    if result.status in ("passed", "timeout", "error"):
        return result.status
    return "rejected" if result.execution.returncode == 0 else f"crashed ({result.execution.returncode})"


def why(result: SampleResult) -> str:
    """The first reason the checker gave, else the last line of stderr."""
    if result.verdict and result.verdict.reasons:
        return result.verdict.reasons[0][:300]
    lines = [ln for ln in result.execution.stderr_tail.splitlines() if ln.strip()]
    return lines[-1][:300] if lines else ""
