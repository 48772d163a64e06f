"""``opsgraft corpus list|check``: show the benchmark tasks and prove each one's ground truth."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING

import click

from opsgraft.commands.evaluate import SANDBOX_NOTE, sandbox_options, wide_console

if TYPE_CHECKING:
    from opsgraft.types import SampleResult


@click.group(help="List and check the benchmark corpus.")
def corpus() -> None:
    pass


@corpus.command("list", help="One line per task (the shipped corpus and installed plugins' tasks): id, kind, "
                              "functionality, component, framework, split.")
@click.option("--corpus", "corpus_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="A tasks folder to use instead of the shipped corpus.")
def list_tasks(corpus_dir: Path | None) -> None:
    from rich.table import Table

    from opsgraft.evaluation.corpus import load_corpus

    tasks = load_corpus(corpus_dir)
    table = Table(title=f"{len(tasks)} tasks")
    for col in ("id", "kind", "functionality", "component", "framework", "split"):
        table.add_column(col, no_wrap=col == "id", overflow="fold")
    for t in tasks:
        component = f"{t.source_component}->{t.component}" if t.source_component else t.component
        table.add_row(t.id, t.kind, t.functionality, component, t.framework, t.split or "-")
    wide_console().print(table)


@corpus.command("check", help=f"""Run every task's input, reference and mutants in the sandbox.

A task is as expected when its reference passes, its unadapted input fails and every mutant
fails (an error of the sandbox or the checker never counts as a fail). Exits 0 only if all
tasks are as expected.

{SANDBOX_NOTE}""")
@click.option("--task", "task_ids", multiple=True,
              help="Only this task (repeatable; an installed plugin's task ids work too, see 'corpus list').")
@sandbox_options
def check(task_ids: tuple[str, ...], jobs: int, device: str, per_gpu: int, executor: str, timeout_s: float | None,
          corpus_dir: Path | None, keep_workdirs: bool, isolation: str, memory_limit: int | None,
          pass_env: tuple[str, ...]) -> None:
    from rich.console import Console
    from rich.table import Table

    from opsgraft.errors import OpsgraftError
    from opsgraft.evaluation.corpus import load_corpus, load_task
    from opsgraft.evaluation.evaluator import Job, get_checker
    from opsgraft.evaluation.executors import make_runner
    from opsgraft.evaluation.ground_truth import (
        INPUT,
        MUTANT,
        REFERENCE,
        as_expected,
        ground_truth_candidates,
        layout_problems,
        outcome,
        why,
    )

    tasks = [load_task(t, corpus_dir) for t in task_ids] if task_ids else load_corpus(corpus_dir)
    if not tasks:
        raise click.ClickException("no tasks to check")
    problems: dict[str, list[str]] = defaultdict(list)
    todo: list[Job] = []
    for task in tasks:
        try:
            get_checker(task.checker)
        except OpsgraftError as exc:
            problems[task.id].append(str(exc))
            continue
        problems[task.id] += layout_problems(task)
        todo += [Job(task, cand) for cand in ground_truth_candidates(task)]
    labels = {(j.candidate.task_id, j.candidate.sample_index): j.candidate.origin for j in todo}

    err = Console(stderr=True, highlight=False)
    results: dict[str, dict[str, SampleResult]] = defaultdict(dict)
    runner = make_runner(executor, jobs, device, timeout_s, keep_workdirs, per_gpu, isolation, memory_limit, pass_env)
    for result in runner(todo):
        label = labels[(result.task_id, result.sample_index)]
        results[result.task_id][label] = result
        mark = "ok " if as_expected(label, result) else "BAD"
        err.print(f"{mark} {result.task_id} {label}: {outcome(result)} ({result.execution.wall_s:.1f} s)", markup=False)

    table = Table(title="corpus check: reference passes, input and mutants fail")
    for col in ("task", "reference", "input", "mutants", "ok"):
        table.add_column(col, overflow="fold")
    all_ok = True
    for task in tasks:
        runs = results.get(task.id, {})
        bad = list(problems.get(task.id, []))
        bad += [f"{label} {outcome(r)}: {why(r)}" for label, r in sorted(runs.items()) if not as_expected(label, r)]
        mutants = {label[len(MUTANT):]: r for label, r in sorted(runs.items()) if label.startswith(MUTANT)}
        n_failing = sum(as_expected(MUTANT, r) for r in mutants.values())
        all_ok &= not bad
        ref, inp = runs.get(REFERENCE), runs.get(INPUT)
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
