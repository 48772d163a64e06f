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
import traceback
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
from opsgraft.types import (
    CHECKER_TRACEBACK,
    Candidate,
    ExecutionResult,
    SampleResult,
    Status,
    Task,
    Verdict,
    from_dict,
    to_dict,
)

log = logging.getLogger(__name__)

RESULTS_FILE = "results.jsonl"
REPORT_FILE = "report.json"
EVIDENCE_NAME = ".opsgraft"


_CLEANED: set[Path] = set()


def sandbox_base() -> Path:
    """Where sample roots are made: ``OPSGRAFT_SANDBOX_DIR`` or the system temp folder.

    The first call per folder in a process removes the roots that dead runs left there.
    """
    base = Path(os.environ.get("OPSGRAFT_SANDBOX_DIR") or tempfile.gettempdir())
    base.mkdir(parents=True, exist_ok=True)
    if base not in _CLEANED:
        _CLEANED.add(base)
        sandbox.clean_stale(base)
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
    isolation: str = "none",
    memory_limit: int | None = sandbox.DEFAULT_MEMORY_LIMIT,
    pass_env: Sequence[str] = (),
    preserved: bool = False,
) -> SampleResult:
    """Run ``candidate`` (overlaid on the task's inputs) in the sandbox and judge it with the checker.

    Status is ``passed`` only if the program exited 0 and the checker's verdict passed; a timeout
    stays ``timeout``; a checker that raises makes it ``error`` whatever the program's exit (an opsgraft
    fault, its traceback in ``verdict.evidence["checker_traceback"]``). With ``strict_writes`` a write
    outside the workdir (other than known caches) fails the sample. The sample root is removed
    afterwards unless ``keep_workdir``. ``threads`` caps the sample's OpenMP/BLAS threads.
    ``isolation`` is ``none``, ``bwrap`` or ``auto`` (see :mod:`opsgraft.evaluation.isolation`).
    ``memory_limit`` (bytes, None: none) caps the sample's memory; ``pass_env`` adds parent
    variables to the sample's environment, after the task's own ``pass_env``. With ``preserved``
    (not for ablation tasks), a sample that exited 0 is also compared with the original's run
    (:mod:`opsgraft.evaluation.preserved`); that verdict is reported beside the status, never in it.
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
            isolation=isolation,
            memory_limit=memory_limit,
            pass_env=(*task.pass_env, *pass_env),
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
            if checker_failed:
                # A checker that broke is opsgraft's fault, whatever the program did: the outcome is
                # unknown, and the repair loop must not blame the code for it.
                status = "error"
            elif execution.status == "passed":
                status = "passed" if verdict.passed else "failed"
        kept: tuple[bool | None, tuple[str, ...]] = (None, ())
        if preserved and task.kind != "ablation" and execution.status == "passed":
            from opsgraft.evaluation import preserved as preservation

            found = preservation.check(
                task, input_files(task), root, run.workdir, base_dir=sandbox_base(),
                timeout_s=timeout_s or task.timeout_s, device=device, cuda_devices=cuda_devices, threads=threads,
                isolation=isolation, memory_limit=memory_limit, pass_env=pass_env)
            kept = (found.preserved, found.findings)
        if not keep_workdir:
            execution = replace(execution, workdir="")
        return SampleResult(candidate.task_id, candidate.sample_index, status, execution, verdict, *kept)
    finally:
        if not keep_workdir:
            shutil.rmtree(root, ignore_errors=True)
        elif root.is_dir():
            sandbox.release(root)  # kept on purpose: not a dead run's leftover


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
    """The checker's verdict, or a failing one that says how the checker broke (and True).

    The broken one carries the formatted traceback as ``evidence["checker_traceback"]``.
    """
    try:
        result = checker(ctx, **dict(task.checker_args))
        if not isinstance(result, Verdict):
            raise TypeError(f"returned {type(result).__name__}, not a Verdict")
        return result, False
    except Exception as exc:
        log.warning("checker %s raised on %s: %s", task.checker, task.id, exc, exc_info=log.isEnabledFor(logging.DEBUG))
        reason = f"checker {task.checker} raised {type(exc).__name__}: {' '.join(str(exc).split())[:500]}"
        evidence = {CHECKER_TRACEBACK: traceback.format_exc()}
        return Verdict(passed=False, checker=task.checker, reasons=(reason,), evidence=evidence), True


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text)[:40]


# --- generations files and evaluation runs ------------------------------------------------------


def read_generations(path: Path) -> list[Candidate]:
    """Candidates from a JSONL file (one ``to_dict(Candidate)`` per line); InputError on a bad line."""
    try:
        lines = Path(path).read_text(encoding="utf-8-sig").splitlines()  # a BOM is not a bad line
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
    """Results already judged; an unreadable line (one cut short by an interrupted run) is skipped."""
    if not path.is_file():
        return []
    results = []
    for line in path.read_bytes().splitlines():
        result = _parse_result(line)
        if result is None:
            log.warning("skipping an unreadable line of %s", path)
        else:
            results.append(result)
    return results


def failure_reason(result: SampleResult) -> str:
    """One line on why a sample did not pass: its verdict's first reason, else the last line of its stderr."""
    if result.status == "passed":
        return ""
    if result.verdict is not None and result.verdict.reasons:
        return " ".join(result.verdict.reasons[0].split())
    lines = [ln.strip() for ln in result.execution.stderr_tail.splitlines() if ln.strip()]
    return lines[-1] if lines else result.status


def _parse_result(line: bytes) -> SampleResult | None:
    """One results line as a SampleResult; None when it is not one (torn, not UTF-8, not JSON)."""
    try:
        return from_dict(SampleResult, json.loads(line))
    except (ValueError, TypeError, KeyError, AttributeError):  # ValueError covers JSON and UTF-8 errors
        return None


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
    # An error is opsgraft's fault (a checker that broke, a sandbox that could not start), not a
    # judgement of the sample: judge it again rather than keep it for good.
    settled = _settle_results(results_path, retry=lambda r: r.status == "error" and (r.task_id, r.sample_index) in wanted)
    done = {key: r for key, r in settled.items() if key in wanted}
    todo = [Job(tasks[c.task_id], c) for c in candidates if (c.task_id, c.sample_index) not in done]
    log.info("%d samples to judge, %d already judged in %s", len(todo), len(done), results_path)
    with results_path.open("a", encoding="utf-8") as fh:
        for result in runner(todo):
            fh.write(json.dumps(to_dict(result)) + "\n")
            fh.flush()  # each line is durable, so an interrupted run resumes where it stopped
            done[(result.task_id, result.sample_index)] = result
            if on_result is not None:
                on_result(result)
    report = summarize(done.values(), tasks, ks)
    report["errors"] = [
        {"task_id": r.task_id, "sample_index": r.sample_index, "reason": failure_reason(r)}
        for _, r in sorted(done.items()) if r.status == "error"
    ]
    from opsgraft.evaluation.preserved import summary as preserved_summary

    report["preserved"] = preserved_summary(done.values())
    (out_dir / REPORT_FILE).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return report


def _settle_results(path: Path, retry: Callable[[SampleResult], bool]) -> dict[tuple[str, int], SampleResult]:
    """Leave ``path`` with one complete, readable line per judged sample; return those results by sample.

    A run killed mid-write leaves a torn last line, which jq and pandas refuse: it is cut off, and
    every complete line stays byte-identical. Unreadable lines, the earlier line of a sample judged
    twice and the results ``retry`` picks are dropped by writing the file anew (a temp file, then
    os.replace, so a crash now leaves the old file or the new one, never half of one).
    """
    if not path.is_file():
        return {}
    data = path.read_bytes()
    end = data.rfind(b"\n") + 1  # just past the last complete line; 0 when there is none
    kept: dict[tuple[str, int], tuple[bytes, SampleResult]] = {}
    dropped = 0
    for number, line in enumerate(data[:end].splitlines(keepends=True), 1):
        result = _parse_result(line)
        if result is None:
            if line.strip():
                log.warning("%s:%d: dropping an unreadable line", path, number)
            dropped += 1
            continue
        key = (result.task_id, result.sample_index)
        dropped += kept.pop(key, None) is not None  # the later judgement supersedes the earlier one
        kept[key] = (line, result)
    for key, (_, result) in list(kept.items()):
        if retry(result):
            del kept[key]
            dropped += 1
    if end < len(data):
        log.warning("%s: cutting off a torn last line (%d bytes) left by an interrupted run", path, len(data) - end)
    if dropped:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                os.fchmod(fh.fileno(), path.stat().st_mode & 0o7777)  # mkstemp's 0600 would hide the results
                fh.writelines(line for line, _ in kept.values())
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    elif end < len(data):
        os.truncate(path, end)
    return {key: result for key, (_, result) in kept.items()}
