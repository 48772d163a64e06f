"""`opsgraft translate SCRIPT --from X --to Y`."""

from __future__ import annotations

from pathlib import Path

import click

from opsgraft.commands._common import (
    N_HELP,
    REPAIR_HELP,
    GenerationStatus,
    RegistryChoice,
    backend_options,
    make_backend,
    run_and_report,
    run_defaults,
    strategy_names,
)
from opsgraft.commands.adapt import (
    edit_format_option,
    examples_option,
    outline_option,
    restore_option,
    scaffold_option,
)
from opsgraft.commands.config_file import config_option
from opsgraft.commands.evaluate import isolation_option, no_preserved_option, pass_env_option


@click.command()
@config_option("translate")
@click.argument("script", type=click.Path(path_type=Path), required=False)
@click.option("--task", "task_id", default=None, metavar="ID",
              help="Translate the input of a corpus task instead of SCRIPT, judged by the task's checker.")
@click.option("--from", "source", default=None, help="Component the script uses now: gitpython, wandb.")
@click.option("--to", "target", default=None, help="Component to translate to: dvc, mlflow.")
@click.option("--strategy", default="docs-search", show_default=True,
              type=RegistryChoice(lambda: [*strategy_names(), "none"]),
              help="How Docs-X and Docs-Y are found for the prompt (none: zero-shot).")
@backend_options
@click.option("--n", "n", default=None, type=click.IntRange(1, 20), help=N_HELP)
@click.option("--temperature", default=0.2, show_default=True, type=click.FloatRange(0, 2))
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--max-tokens", default=2048, show_default=True, type=click.IntRange(16, 32768))
@click.option("--top-k", default=5, show_default=True, type=click.IntRange(1, 20))
@click.option("--run", "run_", is_flag=True, help="Run the translated copy in the sandbox and check it.")
@click.option("--repair", default=None, type=click.IntRange(0, 10), help=REPAIR_HELP)
@click.option("--check-arg", "check_args", multiple=True, metavar="KEY=VALUE",
              help="Argument for the checker with --run, e.g. data=data/train.csv remote_dir=dvc-storage.")
@click.option("--timeout", "timeout_s", default=300.0, show_default=True, type=float)
@click.option("--device", default="cpu", show_default=True, type=click.Choice(["cpu", "cuda", "auto"]))
@click.option("--with", "with_files", multiple=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--out-dir", type=click.Path(file_okay=False, path_type=Path), default=None)
@pass_env_option
@isolation_option
@no_preserved_option
@examples_option
@restore_option
@outline_option
@scaffold_option
@edit_format_option
def translate(script: Path | None, task_id: str | None, source: str | None, target: str | None, strategy: str, backend_name: str, model: str | None,
              base_url: str | None, api_key_env: str, cassette: Path | None, record_to: Path | None,
              no_cache: bool, context_window: int | None, n: int | None, temperature: float, seed: int,
              max_tokens: int, top_k: int, run_: bool, repair: int | None, check_args: tuple[str, ...],
              timeout_s: float, device: str, with_files: tuple[Path, ...], out_dir: Path | None,
              pass_env: tuple[str, ...], isolation: str, no_preserved: bool,
              examples: bool | None, restore: bool, outline: bool, scaffold: bool | None, edit_format: str) -> None:
    """Translate SCRIPT from one MLOps tool to another (gitpython->dvc, wandb->mlflow).

    Outputs go next to SCRIPT as SCRIPT_<target>.py with a .diff and a .opsgraft.json record;
    nothing is overwritten. The sandbox used by --run is NOT a security boundary.
    """
    from dataclasses import replace

    from opsgraft.adapters.analysis import read_source
    from opsgraft.adapters.specs import get_adapter, translation_key
    from opsgraft.adapters.workflow import Workflow, corpus_workflow

    chosen = "" if strategy == "none" else strategy
    if task_id is not None:
        if script is not None or source is not None or target is not None:
            raise click.UsageError("--task replaces SCRIPT, --from and --to; give either")
        flow = corpus_workflow(task_id, mode=strategy, strategy=chosen, top_k=top_k, device=device)
        if flow.spec.kind != "translate":
            raise click.UsageError(f"{task_id} is not a translation task; use 'opsgraft adapt --task'")
        out_dir = out_dir or Path("opsgraft-out") / task_id
    else:
        if script is None or source is None or target is None:
            raise click.UsageError("give SCRIPT --from X --to Y (or --task ID)")
        text = read_source(script)
        spec = get_adapter(translation_key(source, target))
        flow = Workflow(spec=spec, script=script, source=text, strategy=chosen, mode=strategy, top_k=top_k,
                        with_files=tuple(p.name for p in with_files), device=device, timeout_s=timeout_s)
    flow.precheck()
    from opsgraft.evaluation.isolation import resolve

    flow.isolation = resolve(isolation)
    flow.preserved = not no_preserved
    flow.examples = examples
    flow.restore = restore
    flow.outline = outline
    flow.scaffold = scaffold
    flow.edit_format = edit_format
    if check_args:
        assert flow.task is not None
        extra = {}
        for item in check_args:
            key, sep, value = item.partition("=")
            if not sep or not key:
                raise click.UsageError(f"--check-arg wants KEY=VALUE, got {item!r}")
            extra[key] = value
        flow.task = replace(flow.task, checker_args={**flow.task.checker_args, **extra})
    if pass_env:
        assert flow.task is not None
        flow.task = replace(flow.task, pass_env=(*flow.task.pass_env, *pass_env))
    progress = GenerationStatus()
    backend = make_backend(backend_name, model, base_url, api_key_env, cassette, record_to, no_cache,
                           context_window, progress)
    run_, n, repair = run_defaults(run_, n, repair)
    run_and_report(flow, backend, progress, n=n, temperature=temperature, seed=seed, max_tokens=max_tokens,
                   run=run_, repair=repair, out_dir=out_dir)
