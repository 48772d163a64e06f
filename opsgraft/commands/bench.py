"""``opsgraft bench [CONFIG.toml] [--preset smoke|paper]``: run the Pass@k benchmark grid, resumably."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from opsgraft.commands.evaluate import isolation_option


def _floats(_ctx: Any, _param: Any, value: str | None) -> tuple[float, ...]:
    if not value:
        return ()
    try:
        return tuple(float(v) for v in value.split(","))
    except ValueError:
        raise click.BadParameter(f"{value!r}: give comma-separated numbers, e.g. 0,0.2,1") from None


def _words(_ctx: Any, _param: Any, value: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(w for v in value for w in v.split(",") if w)


@click.command()
@click.argument("config_file", metavar="[CONFIG.toml]", required=False,
                type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--preset", type=click.Choice(["smoke", "paper"]), default=None,
              help="A shipped config: smoke (5 tasks, zero-shot, n=3) or paper (the whole corpus, the paper's grid).")
@click.option("--run-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where run.json, records.jsonl, code/ and the reports go; rerun on it to resume "
                   "[default: bench-runs/<config name>].")
@click.option("--tasks", multiple=True, callback=_words, help="Task ids or globs (comma-separated or repeated).")
@click.option("--modes", multiple=True, callback=_words,
              help="zero-shot, docprompt, rag, docs-search, llm-search, llm-docs-search.")
@click.option("--temperatures", callback=_floats, default=None, help="Comma-separated, each in 0..2.")
@click.option("--n", "n", type=int, default=None, help="Samples (chains) per task and cell [config: 3].")
@click.option("--repair", type=int, default=None, help="Repair rounds after a failed check [config: 0].")
@click.option("--seed", type=int, default=None)
@click.option("--max-tokens", type=int, default=None)
@click.option("--model", "models", multiple=True,
              help="Replaces the config's models (repeatable): a GGUF path or known name, replay:CASSETTE, "
                   "or openai:MODEL@BASE_URL (key from $OPENAI_API_KEY).")
@click.option("--only-model", "only_models", multiple=True, callback=_words,
              help="Run just these models' part of the grid this time, by the names --dry-run shows (the run "
                   "directory keeps the whole grid: rerun without it to go on with the rest).")
@click.option("--dry-run", is_flag=True,
              help="Print the grid and the generations it implies; load no model. On an existing run directory: "
                   "what it holds and what a resume would still run (nothing is written); and the docs stores the "
                   "units left to run need and lack, which the run refuses to start without.")
@click.option("--executor", type=click.Choice(["local", "ray"]), default="local", show_default=True,
              help="ray judges each sample as a Ray task (RAY_ADDRESS joins a cluster).")
@click.option("--jobs", "-j", type=click.IntRange(1, 256), default=1, show_default=True,
              help="Samples judged at once (the model generates for another task meanwhile).")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True)
@isolation_option
@click.option("--mlflow", "mlflow_dir", is_flag=False, flag_value="mlruns-bench", default=None,
              type=click.Path(file_okay=False, path_type=Path),
              help="Log one MLflow run per cell with its pass@k into this store [flag alone: ./mlruns-bench].")
@click.option("--serial", is_flag=True, help="No overlap: one sample generated, then judged, then the next.")
@click.option("--no-cache", is_flag=True, help="Do not use the on-disk response cache.")
@click.option("--no-report", is_flag=True, help="Do not render report.md/report.html at the end.")
@click.option("--no-preserved", is_flag=True,
              help="Skip the check that the adapted script still does what the original did (as adapt's flag).")
def bench(config_file: Path | None, preset: str | None, run_dir: Path | None, tasks: tuple[str, ...],
          modes: tuple[str, ...], temperatures: tuple[float, ...], n: int | None, repair: int | None,
          seed: int | None, max_tokens: int | None, models: tuple[str, ...], only_models: tuple[str, ...], dry_run: bool, executor: str,
          jobs: int, device: str, isolation: str, mlflow_dir: Path | None, serial: bool, no_cache: bool,
          no_report: bool, no_preserved: bool) -> None:
    """Run the Pass@k benchmark: models x modes x temperatures over corpus tasks, n chains each.

    Every sample and repair round is a line of RUN_DIR/records.jsonl, written as its verdict
    arrives; kill the run at any time and rerun the same command to resume (a cut chain's judged
    rounds keep their verdicts when it regenerates the same code). Samples run in the
    sandbox (a subprocess with limits, NOT a security boundary).
    """
    from opsgraft.evaluation.benchmark.config import Overrides, apply_overrides, load_config
    from opsgraft.evaluation.benchmark.runner import RunOptions, make_grid

    cfg, base = load_config(config_file, preset)
    cfg = apply_overrides(cfg, Overrides(tasks, modes, temperatures, n, repair, seed, max_tokens, models))
    grid = make_grid(cfg, base)
    grid.check_models(only_models)
    name = preset or (config_file.stem if config_file else "bench")
    out = run_dir or Path("bench-runs") / name
    if dry_run:
        finished = _finished_in(grid, out)
        _print_grid(grid, only_models, finished)
        from opsgraft.commands._common import console
        from opsgraft.errors import StoreError

        try:
            grid.check_stores(grid.units(finished or frozenset(), only=only_models))
        except StoreError as exc:  # said, not raised: a dry run is how one plans the stores to build
            click.echo(f"the run would stop here: {exc}")
        console.print("[dim]dry run: no model loaded, nothing written[/dim]")
        return
    opts = RunOptions(executor=executor, jobs=jobs, device=device, isolation=isolation, overlap=not serial,
                      cache=not no_cache, render=not no_report, mlflow_dir=mlflow_dir,
                      preserved=not no_preserved, only_models=only_models)
    summary = _run_with_progress(grid, out, opts)
    _print_summary(summary)


def _finished_in(grid: Any, run_dir: Path) -> frozenset[Any] | None:
    """The finished chains of an existing run directory the grid could resume, read without writing;
    None where there is no run yet. A folder the run would refuse is the run's own one-line ConfigError."""
    from opsgraft.evaluation.benchmark import records as rec

    if rec.check_run_dir(run_dir, rec.run_header(grid.config_json(), grid.models_json())) is None:
        return None
    return frozenset(rec.finished_keys(rec.read_records(run_dir)))


def _print_grid(grid: Any, only_models: tuple[str, ...] = (), finished: frozenset[Any] | None = None) -> None:
    from rich.table import Table

    from opsgraft.commands.evaluate import wide_console

    units = grid.units(only=only_models)
    left = grid.units(finished or frozenset(), only=only_models)
    table = Table(title=f"{len(grid.tasks)} task(s), n={grid.cfg.n}, repair={grid.cfg.repair}")
    cols = ["cell (model|mode|temperature)", "tasks", "chains", "repair"]
    for col in cols + (["finished", "left"] if finished is not None else []):
        table.add_column(col)
    per: dict[str, list[int]] = {}
    for u in units:
        per.setdefault(u.cell, [0, 0, u.rounds(grid.cfg), 0])
        per[u.cell][0] += 1
        per[u.cell][1] += len(u.samples)
    for u in left:
        per[u.cell][3] += len(u.samples)
    for cell, (t, c, r, todo) in per.items():
        row = [cell, str(t), str(c), str(r)]
        table.add_row(*(row + ([str(c - todo), str(todo)] if finished is not None else [])))
    wide_console().print(table)
    first, repairs = grid.generations(units)
    click.echo(f"cells: {len(per)}; generations: {first} first answers"
               + (f" + up to {repairs} repair answers" if repairs else ""))
    if finished is not None:
        chains = sum(c for _, c, _, _ in per.values())
        todo = sum(d for *_, d in per.values())
        first, repairs = grid.generations(left)
        click.echo(f"run directory: {chains - todo} of {chains} chains finished; a resume runs {first} first answers"
                   + (f" + up to {repairs} repair answers" if repairs else ""))


def _run_with_progress(grid: Any, out: Path, opts: Any) -> Any:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from opsgraft.commands._common import console
    from opsgraft.evaluation.benchmark.runner import run_bench

    state: dict[str, Any] = {"passed": 0, "task": ""}
    progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                        TextColumn("passed {task.fields[passed]}"), TimeElapsedColumn(), TextColumn("ETA"),
                        TimeRemainingColumn(), console=console, transient=False)
    bar: list[Any] = []

    def on_event(kind: str, data: dict[str, Any]) -> None:
        if kind == "start":
            if data["done"]:
                console.print(f"resuming {out}: {data['done']} sample(s) already finished")
            bar.append(progress.add_task("starting", total=data["total"] or 1, passed=0))
        elif kind == "model":
            console.print(f"model {data['model']}: loading")
        elif kind in ("unit", "phase") and bar:
            what = data.get("kind", "start")
            state["task"] = f"{data['task']} ({data['cell'].split('|', 1)[1]}) {what}"
            progress.update(bar[0], description=state["task"][:70])
        elif kind == "chain" and bar:
            state["passed"] += bool(data["passed"])
            progress.update(bar[0], advance=1, passed=state["passed"])
        elif kind == "unit-failed":
            console.print(f"[red]{data['cell']} {data['task']}: {data['error']}[/red]", markup=True)

    with progress:
        return run_bench(grid, out, opts, on_event=on_event)


def _print_summary(summary: Any) -> None:
    from rich.table import Table

    from opsgraft.commands.evaluate import wide_console

    table = Table(title=f"{summary.run_dir}: {summary.chains_done} finished sample(s)")
    for col in ("cell", "tasks", "passed/chains", "pass@1", "pass@3"):
        table.add_column(col)
    for cell, s in summary.cells.items():
        p3 = f"{s['pass@3']:.3f}" if "pass@3" in s else "-"
        table.add_row(cell, f"{s['tasks']:.0f}", f"{s['passed']:.0f}/{s['chains']:.0f}", f"{s.get('pass@1', 0):.3f}", p3)
    wide_console().print(table)
    rate = summary.completion_tokens / summary.generate_busy_s if summary.generate_busy_s else 0.0
    click.echo(f"time: {summary.wall_s:.1f}s (model busy {summary.generate_busy_s:.1f}s, "
               f"{summary.completion_tokens} new tokens, {rate:.1f} tok/s; {summary.judge_calls} sandbox runs"
               + (f", {summary.judge_reused} verdicts kept from before the resume" if summary.judge_reused else "")
               + ")")
    for path in summary.report.values():
        click.echo(f"report: {path}")
    if summary.mlflow_dir is not None:
        click.echo(f"mlflow: mlflow ui --backend-store-uri sqlite:///{summary.mlflow_dir.resolve() / 'mlflow.db'}")
    if summary.failed_units:
        click.echo(f"{len(summary.failed_units)} task run(s) failed and stay unfinished; rerun to retry:", err=True)
        for line in summary.failed_units:
            click.echo(f"  {' '.join(line.split())[:300]}", err=True)
