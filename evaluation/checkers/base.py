"""What a checker gets to look at, and helpers to build its verdict."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from opsgraft.types import ExecutionResult, Task, Verdict


@dataclass(frozen=True)
class CheckContext:
    """Everything a checker may read: the run's evidence, never a promise in the source.

    ``workdir`` is where the program ran (its MLflow sqlite store, W&B dir, git/DVC repo);
    ``evidence_dir`` holds what the sandbox's import hooks observed (``$OPSGRAFT_EVIDENCE_DIR``
    of the run, ``<root>/.sandbox/evidence``: outside the workdir, where no candidate file lands);
    ``env`` is the environment the program ran with; ``files`` the candidate's sources, for
    static checks that come on top of the evidence, never instead of it.
    """

    task: Task
    workdir: Path
    execution: ExecutionResult
    env: Mapping[str, str] = field(default_factory=dict)
    files: Mapping[str, str] = field(default_factory=dict)

    @property
    def evidence_dir(self) -> Path:
        folder = self.env.get("OPSGRAFT_EVIDENCE_DIR")
        return Path(folder) if folder else self.workdir.parent / ".sandbox" / "evidence"


# A checker is called as checker(ctx, **task.checker_args) and returns a Verdict.
Checker = Callable[..., Verdict]


def verdict(name: str, reasons: list[str], evidence: dict[str, Any] | None = None) -> Verdict:
    """Passed when no reason to fail was found."""
    return Verdict(passed=not reasons, checker=name, reasons=tuple(reasons), evidence=evidence or {})
