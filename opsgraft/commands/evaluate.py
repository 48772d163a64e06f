"""``opsgraft evaluate``: judge a generations file in the sandbox and report pass@k."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

SANDBOX_NOTE = (
    "Each sample runs as a subprocess with a timeout, resource limits, a fake HOME and an "
    "allowlisted environment without API keys. That is NOT a security sandbox: only evaluate code from "
    "models and people you trust."
)


def _memory_limit(_ctx: Any, _param: Any, value: str) -> int | None:
    from opsgraft.evaluation.sandbox import parse_size

    try:
        return parse_size(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


isolation_option = click.option(
    "--isolation", type=click.Choice(["none", "bwrap", "auto"]), default="auto", show_default=True,
    help="bwrap runs each sample under bubblewrap: no network, read-only root, own PID namespace; "
         "auto (the default) uses it where it works ('opsgraft doctor' says), else the plain sandbox. "
         "Measured cost: about 2-4% per sample.")
pass_env_option = click.option(
    "--pass-env", "pass_env", multiple=True, metavar="NAME",
    help="Pass this variable of yours to the sandboxed program (repeatable); by default it gets only "
         "an allowlist (PATH, locale, threads, CUDA runtime) and the task's pass_env.")

no_preserved_option = click.option(
    "--no-preserved", "no_preserved", is_flag=True,
    help="Skip the preserved check: does each sample that ran still print and write what the original "
         "script did? It costs one run of the original per task, cached.")


def sandbox_options(func: Any) -> Any:
    """The options shared by ``evaluate`` and ``corpus check``."""
    for option in reversed(
        [
            click.option("--jobs", "-j", type=int, default=1, show_default=True, help="Samples judged in parallel."),
            click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True,
                         help="auto uses the GPUs nvidia-smi finds, --per-gpu samples per GPU at a time."),
            click.option("--per-gpu", type=click.IntRange(1, 64), default=1, show_default=True,
                         help="Samples sharing one GPU at once (with --jobs >= GPUs x this); small models "
                              "leave a GPU idle."),
            click.option("--executor", type=click.Choice(["local", "ray"]), default="local", show_default=True,
                         help="ray runs each sample as a Ray task (RAY_ADDRESS joins a cluster)."),
            click.option("--timeout", "timeout_s", type=click.FloatRange(min=0, min_open=True), default=None,
                         help="Seconds per sample, instead of each task's timeout_s."),
            click.option("--corpus", "corpus_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
                         help="A tasks folder to use instead of the shipped corpus."),
            click.option("--keep-workdirs", is_flag=True, help="Keep each sample's sandbox folder (printed in results)."),
            isolation_option,
            click.option("--memory-limit", "memory_limit", default="8G", show_default=True, callback=_memory_limit,
                         help="Memory per sample (e.g. 8G, 512M; 0 for none): a sample that uses more fails."),
            pass_env_option,
        ]
    ):
        func = option(func)
    return func


@click.command(help=f"""Judge GENERATIONS.jsonl (one Candidate per line) or an adaptation record
(X.opsgraft.json, written by adapt/translate) and report pass@k.

Writes OUT/results.jsonl (one judged sample per line) and OUT/report.json (pass@k per task and
averaged by functionality, component and framework). Re-running on the same OUT skips samples
already judged.

{SANDBOX_NOTE}""")
@click.argument("generations", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--k", "ks_text", default="1", show_default=True, help="Comma-separated k values, e.g. 1,3,10.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Output folder [default: GENERATIONS without .jsonl, plus '-eval'].")
@sandbox_options
@no_preserved_option
def evaluate(generations: Path, ks_text: str, out_dir: Path | None, jobs: int, device: str, per_gpu: int,
             executor: str, timeout_s: float | None, corpus_dir: Path | None, keep_workdirs: bool,
             isolation: str, memory_limit: int | None, pass_env: tuple[str, ...], no_preserved: bool) -> None:
    from rich.console import Console

    from opsgraft.evaluation.evaluator import evaluate as run_evaluation
    from opsgraft.evaluation.evaluator import failure_reason, read_generations
    from opsgraft.evaluation.executors import make_runner
    from opsgraft.evaluation.passk import parse_ks
    from opsgraft.types import SampleResult

    ks = parse_ks(ks_text)
    known_tasks = {}
    if generations.name.endswith(".opsgraft.json"):
        # An adaptation record: its own (possibly ad-hoc) task and the final candidates.
        from opsgraft.adapters.records import load_record, record_candidates, record_task

        record = load_record(generations)
        task = record_task(record)
        known_tasks[task.id] = task
        candidates = record_candidates(record)
    else:
        candidates = read_generations(generations)
    out = out_dir or generations.with_name(generations.name.removesuffix(".jsonl").removesuffix(".opsgraft.json")
                                           + "-eval")
    runner = make_runner(executor, jobs, device, timeout_s, keep_workdirs, per_gpu, isolation, memory_limit, pass_env,
                         preserved=not no_preserved)
    err = Console(stderr=True, highlight=False)

    def progress(result: SampleResult) -> None:
        err.print(f"{result.status:8} {result.task_id} #{result.sample_index} "
                  f"({result.execution.wall_s:.1f} s){preserved_note(result)} {failure_reason(result)[:200]}",
                  markup=False,
                  soft_wrap=True)  # one line per sample, whatever the terminal's width

    report = run_evaluation(candidates, out, ks, runner, tasks_dir=corpus_dir, on_result=progress,
                            known_tasks=known_tasks)
    print_report(report)
    click.echo(f"wrote {out / 'results.jsonl'} and {out / 'report.json'}")


def preserved_note(result: Any) -> str:
    """`` preserved`` / `` NOT preserved (finding; ...)`` for a judged sample; empty when not checked."""
    if result.preserved is None:
        return ""
    if result.preserved:
        return " preserved"
    return f" NOT preserved ({'; '.join(result.preserved_findings)[:200]})"


def print_report(report: dict[str, Any]) -> None:
    """pass@k per task, then per functionality, component and framework."""
    from rich.table import Table

    ks = [f"pass@{k}" for k in report["k"]]
    table = Table(title=f"{report['n_samples']} samples, {report['n_tasks']} tasks")
    for col in ["group", "name", "tasks / n", *ks]:
        table.add_column(col, justify="right" if col not in ("group", "name") else "left")
    for task_id, row in report["by_task"].items():
        table.add_row("task", task_id, f"{row['c']}/{row['n']} passed", *[f"{row[k]:.3f}" for k in ks])
    for group in ("functionality", "component", "framework"):
        table.add_section()
        for name, row in report[f"by_{group}"].items():
            table.add_row(group, name, str(row["n_tasks"]), *[f"{row[k]:.3f}" for k in ks])
    table.add_section()
    table.add_row("all", "", str(report["overall"]["n_tasks"]), *[f"{report['overall'][k]:.3f}" for k in ks])
    wide_console().print(table)
    kept = report.get("preserved") or {}
    if kept.get("checked"):
        click.echo(f"preserved: {kept['preserved']}/{kept['checked']} samples that ran still print and write what "
                   f"the original did ({kept['passed_preserved']}/{kept['passed_checked']} of those that passed)")
    errors = report.get("errors", [])
    if errors:
        # An error is no verdict on the sample (a checker broke, the sandbox could not start).
        click.echo(f"{len(errors)} sample(s) ended in error; they are judged again when this run is resumed:", err=True)
        for e in errors:
            click.echo(f"  {e['task_id']} #{e['sample_index']}: {e['reason']}", err=True)


def wide_console() -> Any:
    """A rich console for tables; when output is not a terminal, wide enough not to fold task ids."""
    from rich.console import Console

    console = Console()
    if not console.is_terminal:
        console.width = max(console.width, 160)
    return console
