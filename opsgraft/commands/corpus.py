"""``opsgraft corpus list|check``: show the benchmark tasks and prove each one's ground truth."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING

import click

from opsgraft.commands.evaluate import SANDBOX_NOTE, sandbox_options, wide_console

if TYPE_CHECKING:
    from opsgraft.types import SampleResult

INPUT, REFERENCE, MUTANT = "input", "reference", "mutant:"


@click.group(help="List and check the benchmark corpus.")
def corpus() -> None:
    pass


@corpus.command("list", help="One line per task: id, kind, functionality, component, framework.")
@click.option("--corpus", "corpus_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="A tasks folder to use instead of the shipped corpus.")
def list_tasks(corpus_dir: Path | None) -> None:
    from rich.table import Table

    from opsgraft.evaluation.corpus import load_corpus

    tasks = load_corpus(corpus_dir)
    table = Table(title=f"{len(tasks)} tasks")
    for col in ("id", "kind", "functionality", "component", "framework"):
        table.add_column(col, no_wrap=col == "id", overflow="fold")
    for t in tasks:
        component = f"{t.source_component}->{t.component}" if t.source_component else t.component
        table.add_row(t.id, t.kind, t.functionality, component, t.framework)
    wide_console().print(table)


@corpus.command("check", help=f"""Run every task's input, reference and mutants in the sandbox.

A task is as expected when its reference passes, its unadapted input fails and every mutant
fails. Exits 0 only if all tasks are as expected.

{SANDBOX_NOTE}""")
@click.option("--task", "task_ids", multiple=True, help="Only this task (repeatable).")
@sandbox_options
def check(task_ids: tuple[str, ...], jobs: int, device: str, executor: str, timeout_s: float | None,
          corpus_dir: Path | None, keep_workdirs: bool) -> None:
    from rich.console import Console
    from rich.table import Table

    from opsgraft.errors import OpsgraftError
    from opsgraft.evaluation.corpus import load_corpus, load_task, mutant_files, reference_files
    from opsgraft.evaluation.evaluator import Job, get_checker
    from opsgraft.evaluation.executors import make_runner
    from opsgraft.types import Candidate

    tasks = [load_task(t, corpus_dir) for t in task_ids] if task_ids else load_corpus(corpus_dir)
    if not tasks:
        raise click.ClickException("no tasks to check")
    problems: dict[str, list[str]] = defaultdict(list)
    jobs_list: list[Job] = []
    labels: dict[tuple[str, int], str] = {}
    for task in tasks:
        try:
            get_checker(task.checker)
        except OpsgraftError as exc:
            problems[task.id].append(str(exc))
            continue
        reference, mutants = reference_files(task), mutant_files(task)
        if not reference:
            problems[task.id].append("no reference/ files")
        if not mutants:
            problems[task.id].append("no mutants/")
        runs = {INPUT: {}, REFERENCE: reference, **{MUTANT + name: files for name, files in mutants.items()}}
        for index, (label, files) in enumerate(runs.items()):
            if label == REFERENCE and not files:
                continue
            labels[(task.id, index)] = label
            jobs_list.append(Job(task, Candidate(task.id, index, files, task.entry, origin=label)))

    err = Console(stderr=True, highlight=False)
    results: dict[str, dict[str, SampleResult]] = defaultdict(dict)
    for result in make_runner(executor, jobs, device, timeout_s, keep_workdirs)(jobs_list):
        label = labels[(result.task_id, result.sample_index)]
        results[result.task_id][label] = result
        ok = (result.status == "passed") == (label == REFERENCE)
        err.print(f"{'ok ' if ok else 'BAD'} {result.task_id} {label}: {outcome(result)}", markup=False)

    table = Table(title="corpus check: reference passes, input and mutants fail")
    for col in ("task", "reference", "input", "mutants", "ok"):
        table.add_column(col, overflow="fold")
    all_ok = True
    for task in tasks:
        runs_of = results.get(task.id, {})
        bad = list(problems.get(task.id, []))
        ref = runs_of.get(REFERENCE)
        if ref is not None and ref.status != "passed":
            bad.append(f"reference {outcome(ref)}: {why(ref)}")
        inp = runs_of.get(INPUT)
        if inp is not None and not _fails(inp):
            bad.append(f"input {outcome(inp)}: {why(inp)}")
        mutants = {k[len(MUTANT):]: r for k, r in sorted(runs_of.items()) if k.startswith(MUTANT)}
        bad += [f"mutant {name} {outcome(r)}: {why(r)}" for name, r in mutants.items() if not _fails(r)]
        n_failing = sum(_fails(r) for r in mutants.values())
        all_ok &= not bad
        table.add_row(
            task.id,
            outcome(ref) if ref else "-",
            outcome(inp) if inp else "-",
            f"{n_failing}/{len(mutants)} fail" + "".join(f"\n  {n}: {outcome(r)}" for n, r in mutants.items()),
            "yes" if not bad else "NO\n" + "\n".join(bad),
        )
    wide_console().print(table)
    if not all_ok:
        raise click.ClickException("some tasks are not as expected (see the table)")
    click.echo(f"all {len(tasks)} tasks as expected")


def outcome(result: SampleResult) -> str:
    """passed | rejected (exit 0, checker said no) | crashed (exit != 0) | timeout | error."""
    if result.status in ("passed", "timeout", "error"):
        return result.status
    return "rejected" if result.execution.returncode == 0 else f"crashed ({result.execution.returncode})"


def why(result: SampleResult) -> str:
    """The first reason the checker gave, else the last stderr line."""
    if result.verdict and result.verdict.reasons:
        return result.verdict.reasons[0][:200]
    lines = [ln for ln in result.execution.stderr_tail.splitlines() if ln.strip()]
    return lines[-1][:200] if lines else ""


def _fails(result: SampleResult) -> bool:
    # An error means the sandbox or checker broke: that proves nothing about the program.
    return result.status in ("failed", "timeout")
