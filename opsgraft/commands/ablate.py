"""`opsgraft ablate SCRIPT [FILES...]`: annotated training code in, a finished ablation study out."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import click

from opsgraft.commands._common import backend_options, console, make_backend
from opsgraft.commands.evaluate import isolation_option
from opsgraft.types import Generation, Message


class LazyBackend:
    """Builds the real backend on the first request: a study whose variants all run never loads a model."""

    name = "lazy"

    def __init__(self, factory: Callable[[], Any]) -> None:
        self._factory = factory
        self._inner: Any = None

    @property
    def inner(self) -> Any:
        if self._inner is None:
            self._inner = self._factory()
        return self._inner

    def generate(self, messages: Sequence[Message], n: int = 1, temperature: float = 0.2, max_tokens: int = 1024,
                 seed: int | None = None, first_index: int = 0) -> list[Generation]:
        """Delegate to the real backend."""
        out: list[Generation] = self.inner.generate(messages, n=n, temperature=temperature, max_tokens=max_tokens,
                                                    seed=seed, first_index=first_index)
        return out


@click.command()
@click.argument("script", type=click.Path(path_type=Path), required=False)
@click.argument("more", nargs=-1, type=click.Path(path_type=Path))
@click.option("--task", "task_id", default=None, metavar="ID", help="Ablate the input of a corpus ablation task.")
@click.option("-d", "--docs", "docs", multiple=True, type=click.Path(path_type=Path),
              help="Supporting documents (.md .txt .yaml .rst, or folders) for the model's prompt (repeatable).")
@click.option("--docs-budget", default=1500, show_default=True, type=click.IntRange(0, 20000),
              help="Tokens of documents at most in a prompt.")
@click.option("--features", default=None, metavar="COLS",
              help="Feature ablation: 'a,b' (one trial per column) or 'grp=a+b,c' (groups).")
@click.option("--pairs", is_flag=True, help="Also one trial per pair of features (or feature groups).")
@click.option("--dry-run", is_flag=True, help="Show the components and the planned trials; call no model, run nothing.")
@click.option("--suggest", is_flag=True,
              help="Code without markers: the model picks components among the layer constructions (or the "
                   "data's feature columns) the tool lists; shows the input with the markers added as a diff.")
@click.option("--apply", "apply_", is_flag=True,
              help="With --suggest: write the annotated copy as a new file <stem>_annotated.py (the input is "
                   "never changed).")
@click.option("--repair", default=3, show_default=True, type=click.IntRange(0, 10),
              help="Rounds in which the model repairs a variant that does not run.")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of every trial (random, NumPy, torch).")
@click.option("--metric", "metric_pattern", default=None, metavar="REGEX",
              help="Where the metric is in the output (first group); default: the first number of the last "
                   "printed line that has one.")
@click.option("--timeout", "timeout_s", default=None, type=float, help="Seconds per trial (default 300).")
@click.option("--device", default="cpu", show_default=True, type=click.Choice(["cpu", "cuda"]))
@click.option("--with", "with_files", multiple=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Data files next to the script that it needs to run (repeatable).")
@click.option("--out-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where the study folder goes (default: next to SCRIPT).")
@click.option("--report", "report", is_flag=True,
              help="Also write ablation_report.md: the table, the plots and a model-written paragraph whose "
                   "numbers are checked against the results (a number that matches none is marked unverified).")
@click.option("--width-fix/--no-width-fix", "width_fix", default=True, show_default=True,
              help="Give the layer after a removed Linear/Conv the width it now receives before asking the model "
                   "(off: the model alone repairs, to measure it).")
@click.option("--fresh", is_flag=True, help="Start a new study folder instead of resuming a matching one.")
@click.option("--temperature", default=0.2, show_default=True, type=click.FloatRange(0, 2))
@click.option("--max-tokens", default=2048, show_default=True, type=click.IntRange(16, 32768))
@backend_options
@isolation_option
def ablate(script: Path | None, more: tuple[Path, ...], task_id: str | None, docs: tuple[Path, ...],
           docs_budget: int, features: str | None, pairs: bool, dry_run: bool, suggest: bool, apply_: bool,
           repair: int, seed: int,
           metric_pattern: str | None, timeout_s: float | None, device: str, with_files: tuple[Path, ...],
           out_dir: Path | None, report: bool, width_fix: bool, fresh: bool, temperature: float, max_tokens: int, backend_name: str,
           model: str | None, base_url: str | None, api_key_env: str, cassette: Path | None,
           record_to: Path | None, no_cache: bool, context_window: int | None, isolation: str) -> None:
    """Run an ablation study of SCRIPT's annotated components (#ABLATABLE_COMPONENT, #ABLATION_HINT_START).

    The tool runs the baseline and one trial per component, each in the sandbox (NOT a security
    boundary), with the same seed; the model only repairs a variant whose mechanical removal does not
    run. The study folder <stem>_ablation/ beside SCRIPT holds ablation_results.json, the plots, each
    variant with its .diff, and a .opsgraft.json record; rerunning resumes it.

    \b
    Without markers: 'opsgraft ablate SCRIPT --suggest' shows the model's proposal as a diff;
    add --apply to write it as a new file <stem>_annotated.py beside SCRIPT.
    Manual mode (the published tool's workflow; runs nothing, writes the answer to a timestamped
    <stem>_first_call_<time>.md/.py or <stem>_followup_call_<time>.md/.py beside SCRIPT):
      opsgraft ablate first-call SCRIPT [FILES...] [-d DOCS]
      opsgraft ablate followup-call ERROR_FILE SCRIPT [FILES...]
    """
    if script is not None and script.name in ("first-call", "followup-call") and not script.exists():
        from opsgraft.commands.ablate_assist import manual

        if task_id is not None or suggest or apply_:
            raise click.UsageError(f"{script.name} takes neither --task, --suggest nor --apply")
        manual(script.name, more, docs=docs, docs_budget=docs_budget, features=features, pairs=pairs,
               out_dir=out_dir, seed=seed, temperature=temperature, max_tokens=max_tokens,
               backend_factory=lambda: make_backend(backend_name, model, base_url, api_key_env, cassette, record_to,
                                                    no_cache, context_window))
        return
    if apply_ and not suggest:
        raise click.UsageError("--apply writes the proposal of --suggest; give both")
    from opsgraft.adapters.ablation.annotations import plan_study, read_docs
    from opsgraft.adapters.ablation.study import Study, StudyConfig, fingerprint, study_dir
    from opsgraft.adapters.analysis import read_source

    checker_args: dict[str, Any] = {}
    if task_id is not None:
        from opsgraft.errors import ConfigError
        from opsgraft.evaluation.corpus import input_files, load_task

        if script is not None:
            raise click.UsageError("--task replaces SCRIPT; give either")
        task = load_task(task_id)
        if task.kind != "ablation":
            raise ConfigError(f"task {task_id} is a {task.kind} task, not an ablation task")
        files = input_files(task)
        entry, main_path = task.entry, Path(task.root) / task.entry
        checker_args = dict(task.checker_args)
        timeout_s = timeout_s or task.timeout_s
        base = out_dir or Path("opsgraft-out") / task_id
    else:
        if script is None:
            raise click.UsageError("give SCRIPT (and more annotated files) or --task ID")
        paths = [script, *more]
        files = {p.name: read_source(p) for p in paths}
        files.update({p.name: p.read_text(encoding="utf-8", errors="replace") for p in with_files})
        entry, main_path, base = script.name, script, out_dir or script.parent
    sources = [(main_path.parent / name, files[name]) for name in [entry, *[n for n in files if n != entry]]
               if name.endswith(".py")]
    if suggest:
        from opsgraft.commands.ablate_assist import suggest as run_suggest

        run_suggest(sources, apply=apply_, dry_run=dry_run,
                    docs=read_docs(list(docs), docs_budget)[0] if docs else "", temperature=temperature, seed=seed,
                    out_dir=out_dir, backend_factory=lambda: make_backend(
                        backend_name, model, base_url, api_key_env, cassette, record_to, no_cache, context_window))
        return
    plan = plan_study(sources, features=features, pairs=pairs)
    doc_text, doc_files = read_docs(list(docs), docs_budget) if docs else ("", [])
    _show_plan(plan, main_path)
    if dry_run:
        click.echo(f"dry run: {len(plan.trials)} trials planned, nothing run")
        return
    config = StudyConfig(seed=seed, timeout_s=timeout_s or 300.0, repair=repair, device=device,
                         isolation=_isolation(isolation), metric_pattern=metric_pattern, temperature=temperature,
                         max_tokens=max_tokens, docs=doc_text, checker_args=checker_args, width_fix=width_fix)
    directory, resumed = study_dir(base, Path(entry).stem, fingerprint(files, plan, config), fresh)
    backend = LazyBackend(lambda: make_backend(backend_name, model, base_url, api_key_env, cassette, record_to,
                                               no_cache, context_window)) if repair or report else None
    study = Study(files, entry, plan, directory, config, backend=backend, on_event=_event)
    t0 = time.perf_counter()
    click.echo(f"study:   {directory}{' (resumed)' if resumed else ''}")
    outcomes = study.run()
    verdict = study.judge(outcomes)
    _report(study, outcomes, verdict, doc_files, time.perf_counter() - t0, backend if report else None)


def _isolation(mode: str) -> str:
    from opsgraft.evaluation.isolation import resolve

    return resolve(mode)


def _show_plan(plan: Any, script: Path) -> None:
    from rich.table import Table

    table = Table(title=f"ablation components in {script.name} ({plan.mode})")
    for col in ("component", "kind", "where", "what"):
        table.add_column(col)
    for c in plan.components:
        where = f"{c.file}:{','.join(str(n) for n in c.lines)}" if c.lines else c.file or "--features"
        table.add_row(c.name, c.kind, where, ", ".join(c.features) or c.text)
    console.print(table)
    for note in plan.notes:
        click.echo(f"note:    {note}")
    click.echo("trials:  " + ", ".join(t.name for t in plan.trials))


def _event(kind: str, data: dict[str, Any]) -> None:
    if kind == "skip":
        console.print(f"[dim]{data['trial']}: already done, not rerun[/dim]")
    elif kind == "trial":
        console.print(f"running {data['trial']}")
    elif kind == "repair":
        console.print(f"  {data['trial']}: asking the model to repair the variant (round {data['round']})")
    elif kind == "done":
        if data["status"] == "ok":
            console.print(f"  {data['name']}: metric {data['metric']:.4g}")
        else:
            console.print(f"  {data['name']}: FAILED ({data.get('reason', '')[:100]})")


def _report(study: Any, outcomes: dict[str, Any], verdict: Any, doc_files: list[str], wall: float,
            backend: Any = None) -> None:
    import json
    from dataclasses import asdict

    from rich.table import Table

    from opsgraft.adapters.ablation.plots import write_plots
    from opsgraft.adapters.ablation.study import RESULTS, results_entries
    from opsgraft.adapters.output import free_path, write_new

    table = Table(title="ablation results")
    for col in ("trial", "status", "params/features", "metric", "from"):
        table.add_column(col)
    for t in study.plan.trials:
        o = outcomes.get(t.name, {})
        size = len(o["features"]) if "features" in o else o.get("n_params", "")
        metric = f"{o['metric']:.4f}" if "metric" in o else o.get("reason", "")[:60]
        table.add_row(t.name, o.get("status", "not run"), str(size), metric, o.get("source", ""))
    console.print(table)
    plots = write_plots(results_entries(study.plan, outcomes), study.directory, study.plan.mode)
    record = {"plan": {"mode": study.plan.mode, "components": [asdict(c) for c in study.plan.components],
                       "trials": [asdict(t) for t in study.plan.trials], "notes": study.plan.notes},
              "docs": doc_files, "outcomes": outcomes, "repairs": study.record.get("repairs", []),
              "verdict": asdict(verdict), "wall_s": round(wall, 1)}
    path = write_new(free_path(study.directory, "study", ".opsgraft.json"), json.dumps(record, indent=1, default=str))
    click.echo(f"results: {study.directory / RESULTS}")
    for p in plots:
        click.echo(f"plot:    {p}")
    click.echo(f"record:  {path}")
    if backend is not None:
        _write_report(study, outcomes, verdict, plots, backend)
    state = "PASSED" if verdict.passed else f"FAILED ({'; '.join(verdict.reasons)[:200]})"
    click.echo(f"check:   ablation: {state}")
    click.echo(f"time:    {wall:.1f}s")


def _write_report(study: Any, outcomes: dict[str, Any], verdict: Any, plots: list[Path], backend: Any) -> None:
    from opsgraft.adapters.ablation import report
    from opsgraft.adapters.ablation.study import results_entries
    from opsgraft.adapters.output import free_path, write_new

    entries = results_entries(study.plan, outcomes)
    if not entries:
        click.echo("report:  no trial produced a result; no report written")
        return
    with console.status("asking the model to interpret the results"):
        gen = backend.generate(report.prompt(entries), n=1, temperature=study.config.temperature,
                               max_tokens=512, seed=study.config.seed)[0]
    failed = {n: o.get("reason", "") for n, o in outcomes.items() if o.get("status") != "ok"}
    text, bad = report.render(entries, failed, gen.text, plots, verdict.passed)
    path = write_new(free_path(study.directory, "ablation_report", ".md"), text)
    note = f" ({len(bad)} unverified number(s): {', '.join(bad[:5])})" if bad else " (every number verified)"
    click.echo(f"report:  {path}{note}")
