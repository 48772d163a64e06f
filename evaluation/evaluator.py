"""Judge candidates: run each in the sandbox, then ask the task's checker about the side effects.

``judge()`` is the one entry point for a single sample (``opsgraft adapt --run`` calls it with an
ad-hoc Task); ``evaluate()`` judges a generations file with resume and writes ``results.jsonl``
and ``report.json``. The sandbox is NOT a security sandbox; see :mod:`opsgraft.evaluation.sandbox`.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import re
import shutil
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from opsgraft.errors import InputError, UnknownComponentError
from opsgraft.evaluation import sandbox
from opsgraft.evaluation.checkers.base import CheckContext
from opsgraft.evaluation.corpus import input_files, load_task
from opsgraft.evaluation.passk import check_ks, summarize
from opsgraft.types import Candidate, ExecutionResult, SampleResult, Status, Task, Verdict, from_dict, to_dict

log = logging.getLogger(__name__)

RESULTS_FILE = "results.jsonl"
REPORT_FILE = "report.json"
EVIDENCE_NAME = ".opsgraft"


def sandbox_base() -> Path:
    """Where sample roots are made: ``OPSGRAFT_SANDBOX_DIR`` or the system temp folder."""
    base = Path(os.environ.get("OPSGRAFT_SANDBOX_DIR") or tempfile.gettempdir())
    base.mkdir(parents=True, exist_ok=True)
    return base


def judge(
    task: Task,
    candidate: Candidate,
    *,
    device: str = "cpu",
    keep_workdir: bool = False,
    cuda_devices: str | None = None,
    timeout_s: float | None = None,
    strict_writes: bool = True,
    threads: int | None = None,
) -> SampleResult:
    """Run ``candidate`` (overlaid on the task's inputs) in the sandbox and judge it with the checker.

    Status is ``passed`` only if the program exited 0 and the checker's verdict passed; a timeout
    stays ``timeout``; a checker that raises on a program that exited 0 makes it ``error``. With ``strict_writes`` a write
    outside the workdir (other than known caches) fails the sample. The sample root is removed
    afterwards unless ``keep_workdir``. ``threads`` caps the sample's OpenMP/BLAS threads.
    """
    checker = get_checker(task.checker)
    shipped = sorted(name for name in candidate.files if name.replace("\\", "/").split("/")[0] == EVIDENCE_NAME)
    if shipped:
        # The name of the sandbox's evidence folder in earlier versions: a candidate that ships
        # files there is trying to supply its own evidence, whatever it runs.
        reason = f"the candidate ships files under {EVIDENCE_NAME}/ ({', '.join(shipped[:3])}): refused unrun"
        refused = ExecutionResult("failed", None, 0.0, stderr_tail=reason)
        return SampleResult(candidate.task_id, candidate.sample_index, "failed", refused,
                            Verdict(passed=False, checker=task.checker, reasons=(reason,)))
    files = {**input_files(task), **candidate.files}
    root = Path(tempfile.mkdtemp(prefix=f"opsgraft-{_slug(task.id)}-{candidate.sample_index}-", dir=sandbox_base()))
    try:
        run = sandbox.run_program(
            files,
            candidate.entry or task.entry,
            root=root,
            timeout_s=timeout_s or task.timeout_s,
            setup=task.setup,
            device=device,
            cuda_devices=cuda_devices,
            threads=threads,
        )
        execution = run.result
        verdict: Verdict | None = None
        status: Status = execution.status
        if execution.status != "error":
            ctx = CheckContext(task=task, workdir=run.workdir, execution=execution, env=run.env, files=files)
            verdict, checker_failed = _call_checker(checker, task, ctx)
            if strict_writes and execution.outside_writes:
                shown = ", ".join(execution.outside_writes[:5])
                verdict = replace(verdict, passed=False, reasons=(*verdict.reasons, f"wrote outside its workdir: {shown}"))
            if execution.status == "passed":
                # A checker that broke leaves the outcome unknown; a crash or a timeout is certain.
                status = "error" if checker_failed else "passed" if verdict.passed else "failed"
        if not keep_workdir:
            execution = replace(execution, workdir="")
        return SampleResult(candidate.task_id, candidate.sample_index, status, execution, verdict)
    finally:
        if not keep_workdir:
            shutil.rmtree(root, ignore_errors=True)


def get_checker(name: str) -> Callable[..., Verdict]:
    """A registered checker, or one named by import path ``"package.module:function"``."""
    import opsgraft.evaluation.checkers  # noqa: F401  (each checker module registers itself)
    from opsgraft.registry import checkers

    if ":" in name and name not in checkers:
        module, _, attr = name.partition(":")
        try:
            target: Callable[..., Verdict] = getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError) as exc:
            raise UnknownComponentError(f"cannot import checker {name!r}: {exc}") from None
        return target
    checker: Callable[..., Verdict] = checkers.get(name)
    return checker


def _call_checker(checker: Callable[..., Verdict], task: Task, ctx: CheckContext) -> tuple[Verdict, bool]:
    """The checker's verdict, or a failing one that says how the checker broke (and True)."""
    try:
        result = checker(ctx, **dict(task.checker_args))
        if not isinstance(result, Verdict):
            raise TypeError(f"returned {type(result).__name__}, not a Verdict")
        return result, False
    except Exception as exc:
        log.warning("checker %s raised on %s: %s", task.checker, task.id, exc, exc_info=log.isEnabledFor(logging.DEBUG))
        reason = f"checker {task.checker} raised {type(exc).__name__}: {' '.join(str(exc).split())[:500]}"
        return Verdict(passed=False, checker=task.checker, reasons=(reason,)), True


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text)[:40]


# --- generations files and evaluation runs ------------------------------------------------------


def read_generations(path: Path) -> list[Candidate]:
    """Candidates from a JSONL file (one ``to_dict(Candidate)`` per line); InputError on a bad line."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        raise InputError(f"{path}: not UTF-8") from None
    candidates: list[Candidate] = []
    seen: set[tuple[str, int]] = set()
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
            cand = from_dict(Candidate, data)
            if not isinstance(cand.files, Mapping) or not all(isinstance(v, str) for v in cand.files.values()):
                raise TypeError("files must map names to text")
            if not isinstance(cand.sample_index, int):
                raise TypeError("sample_index must be an integer")
        except (json.JSONDecodeError, TypeError, AttributeError) as exc:
            raise InputError(f"{path}:{number}: not a candidate ({exc})") from None
        key = (cand.task_id, cand.sample_index)
        if key in seen:
            raise InputError(f"{path}:{number}: duplicate sample {cand.sample_index} of task {cand.task_id}")
        seen.add(key)
        candidates.append(cand)
    if not candidates:
        raise InputError(f"{path}: no candidates")
    return candidates


def read_results(path: Path) -> list[SampleResult]:
    """Results already judged; a line cut short by an interrupted run is skipped."""
    if not path.is_file():
        return []
    results = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            results.append(from_dict(SampleResult, json.loads(line)))
        except (json.JSONDecodeError, TypeError):
            log.warning("skipping an unreadable line of %s", path)
    return results


@dataclass(frozen=True)
class Job:
    """One sample to judge."""

    task: Task
    candidate: Candidate


# An executor runs jobs and yields their results in completion order.
Runner = Callable[[Sequence[Job]], Iterable[SampleResult]]


def evaluate(
    candidates: Sequence[Candidate],
    out_dir: Path,
    ks: Sequence[int],
    runner: Runner,
    *,
    tasks_dir: Path | None = None,
    on_result: Callable[[SampleResult], None] | None = None,
    known_tasks: Mapping[str, Task] | None = None,
) -> dict[str, Any]:
    """Judge the candidates not yet in ``out_dir/results.jsonl``, append them, write and return the report.

    Tasks come from ``known_tasks`` (e.g. the ad-hoc task of an adaptation record) or the corpus.
    """
    known = dict(known_tasks or {})
    tasks = {tid: known.get(tid) or load_task(tid, tasks_dir) for tid in sorted({c.task_id for c in candidates})}
    check_ks(Counter(c.task_id for c in candidates), ks)
    out_dir.mkdir(parents=True, exist_ok=True)
    results_path = out_dir / RESULTS_FILE
    wanted = {(c.task_id, c.sample_index) for c in candidates}
    done = {(r.task_id, r.sample_index): r for r in read_results(results_path) if (r.task_id, r.sample_index) in wanted}
    todo = [Job(tasks[c.task_id], c) for c in candidates if (c.task_id, c.sample_index) not in done]
    log.info("%d samples to judge, %d already judged in %s", len(todo), len(done), results_path)
    _terminate_last_line(results_path)
    with results_path.open("a", encoding="utf-8") as fh:
        for result in runner(todo):
            fh.write(json.dumps(to_dict(result)) + "\n")
            fh.flush()  # each line is durable, so an interrupted run resumes where it stopped
            done[(result.task_id, result.sample_index)] = result
            if on_result is not None:
                on_result(result)
    report = summarize(done.values(), tasks, ks)
    (out_dir / REPORT_FILE).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return report


def _terminate_last_line(path: Path) -> None:
    """A run killed mid-write leaves a partial line; start the next one on a fresh line."""
    if path.is_file() and path.stat().st_size:
        with path.open("rb") as fh:
            fh.seek(-1, os.SEEK_END)
            last = fh.read(1)
        if last != b"\n":
            with path.open("ab") as fh:
                fh.write(b"\n")
