"""`opsgraft adapt SCRIPT --add FUNCTIONALITY:COMPONENT`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from opsgraft.commands._common import (
    N_HELP,
    REPAIR_HELP,
    GenerationStatus,
    backend_options,
    make_backend,
    run_and_report,
    run_defaults,
)
from opsgraft.commands.config_file import config_option
from opsgraft.commands.evaluate import isolation_option, no_preserved_option, pass_env_option


def _adapter_keys() -> str:
    from opsgraft.adapters.specs import inline_keys

    return ", ".join(inline_keys())


class RegistryHelpOption(click.Option):
    """An option whose help ends with a list read from a registry when --help is shown, so that
    what installed plugins add appears there (and what an uninstalled one added does not)."""

    def __init__(self, *args: Any, help_list: Callable[[], str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._base_help = self.help or ""
        self._help_list = help_list

    def get_help_record(self, ctx: click.Context) -> tuple[str, str] | None:
        self.help = f"{self._base_help} {self._help_list()}."
        return super().get_help_record(ctx)


examples_option = click.option(
    "--examples/--no-examples", "examples", default=None,
    help="Show the model the nearest worked example (the same change on a small script) in the first prompt "
         "(default: on; off for config:json when the tool finds the script's settings and writes the loader, and "
         "for pruning, registration and MLflow tracking when the outline writes their calls into the script's own "
         "lines).")
align_examples_option = click.option(
    "--align-examples/--no-align-examples", "align_examples", default=None,
    help="Rename the worked example's variables to the script's own where their use shows they match "
         "(its UNITS becomes the script's HIDDEN), so the model does not copy names the script lacks. "
         "[default: on for adding a functionality]")
keep_outputs_option = click.option(
    "--keep-outputs/--no-keep-outputs", "keep_outputs", default=False, show_default=True,
    help="End the outline with what the script prints and the files it writes, with their lines, for the "
         "adapted script to keep.")
restore_option = click.option(
    "--restore/--no-restore", "restore", default=True, show_default=True,
    help="When a sample passes its check but no longer prints or writes what the original did, spend one of "
         "the --repair rounds asking to put those back; the passing code is kept unless the answer passes and "
         "preserves them.")
scaffold_option = click.option(
    "--scaffold/--no-scaffold", "scaffold", default=None,
    help="Have the tool write the head of the answer (the original docstring and imports, the target's imports "
         "and helpers such as def dvc(*args); config:json's DEFAULT_CONFIG and loader) for the model to continue "
         "(default: on for config:json when the tool finds the script's settings, and for gitpython->dvc when "
         "the outline writes the translated function out; off otherwise).")
outline_option = click.option(
    "--outline/--no-outline", "outline", default=True, show_default=True,
    help="Show the model the script's outline (data, model, training loop, metrics) and, with line numbers, "
         "where the new code has to go.")
edit_format_option = click.option(
    "--edit-format", "edit_format", default="whole", show_default=True, type=click.Choice(["whole", "search-replace"]),
    help="How the model answers: the whole adapted file, or search/replace blocks against the script (shorter "
         "answers; a whole file is still accepted).")


@click.command()
@config_option("adapt")
@click.argument("script", type=click.Path(path_type=Path), required=False)
@click.option("--task", "task_id", default=None, metavar="ID",
              help="Adapt the input of a corpus task instead of SCRIPT, judged by the task's own checker.")
@click.option("--add", "add", default=None, metavar="FUNCTIONALITY:COMPONENT", cls=RegistryHelpOption,
              help="What to add (installed plugins add more):", help_list=_adapter_keys)
@click.option("--mode", default="zero-shot", show_default=True, type=click.Choice(["zero-shot", "docprompt", "rag"]),
              help="zero-shot: instruction only; docprompt: plus a step-by-step guide; rag: plus curated docs.")
@backend_options
@click.option("--n", "n", default=None, type=click.IntRange(1, 20), help=N_HELP)
@click.option("--temperature", default=0.2, show_default=True, type=click.FloatRange(0, 2))
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--max-tokens", default=2048, show_default=True, type=click.IntRange(16, 32768))
@click.option("--run", "run_", is_flag=True, help="Run the adapted copy in the sandbox and check the tool's side effects.")
@click.option("--repair", default=None, type=click.IntRange(0, 10), help=REPAIR_HELP)
@click.option("--timeout", "timeout_s", default=300.0, show_default=True, type=float, help="Seconds per sandbox run.")
@click.option("--device", default="cpu", show_default=True, type=click.Choice(["cpu", "cuda", "auto"]))
@click.option("--with", "with_files", multiple=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Extra input files next to the script that it needs to run (repeatable).")
@click.option("--out-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where to write the outputs (default: next to SCRIPT). Nothing is ever overwritten.")
@click.option("--top-k", default=5, show_default=True, type=click.IntRange(1, 20), help="Docs retrieved in rag mode.")
@pass_env_option
@isolation_option
@no_preserved_option
@examples_option
@align_examples_option
@keep_outputs_option
@restore_option
@outline_option
@scaffold_option
@edit_format_option
def adapt(script: Path | None, task_id: str | None, add: str | None, mode: str, backend_name: str, model: str | None, base_url: str | None,
          api_key_env: str, cassette: Path | None, record_to: Path | None, no_cache: bool,
          context_window: int | None, n: int | None, temperature: float, seed: int, max_tokens: int, run_: bool,
          repair: int | None, timeout_s: float, device: str, with_files: tuple[Path, ...], out_dir: Path | None,
          top_k: int, pass_env: tuple[str, ...], isolation: str, no_preserved: bool,
          examples: bool | None, align_examples: bool | None, keep_outputs: bool, restore: bool, outline: bool,
          scaffold: bool | None, edit_format: str) -> None:
    """Add an MLOps functionality to SCRIPT with the LLM.

    Writes SCRIPT_<functionality>_<component>.py, a .diff and a .opsgraft.json record next to
    SCRIPT (never overwriting anything). With --run the copy runs in the sandbox, which is a
    subprocess with a timeout and a scrubbed environment, NOT a security boundary.
    """
    from opsgraft.adapters.analysis import read_source
    from opsgraft.adapters.specs import get_adapter
    from opsgraft.adapters.workflow import Workflow, corpus_workflow

    if task_id is not None:
        if script is not None or add is not None:
            raise click.UsageError("--task replaces SCRIPT and --add; give either")
        flow = corpus_workflow(task_id, mode=mode, top_k=top_k, device=device)
        out_dir = out_dir or Path("opsgraft-out") / task_id
        script = flow.script
    else:
        if script is None or add is None:
            raise click.UsageError("give SCRIPT and --add FUNCTIONALITY:COMPONENT (or --task ID)")
        source = read_source(script)
        spec = get_adapter(add)
        if spec.kind != "inline":
            raise click.UsageError(f"{add} is a translation; use 'opsgraft translate --from ... --to ...'")
        flow = Workflow(spec=spec, script=script, source=source, mode=mode, top_k=top_k,
                        with_files=tuple(p.name for p in with_files), device=device, timeout_s=timeout_s)
    if pass_env:
        from dataclasses import replace

        assert flow.task is not None
        flow.task = replace(flow.task, pass_env=(*flow.task.pass_env, *pass_env))
    from opsgraft.evaluation.isolation import resolve

    flow.isolation = resolve(isolation)
    flow.preserved = not no_preserved
    flow.examples = examples
    flow.align_examples = align_examples
    flow.keep_outputs = keep_outputs
    flow.restore = restore
    flow.outline = outline
    flow.scaffold = scaffold
    flow.edit_format = edit_format
    if flow.precheck() == "already-present":
        click.echo(f"{script} already uses {flow.spec.component} for {flow.spec.functionality}; nothing to do")
        return
    progress = GenerationStatus()
    backend = make_backend(backend_name, model, base_url, api_key_env, cassette, record_to, no_cache,
                           context_window, progress)
    run_, n, repair = run_defaults(run_, n, repair)
    run_and_report(flow, backend, progress, n=n, temperature=temperature, seed=seed, max_tokens=max_tokens,
                   run=run_, repair=repair, out_dir=out_dir)
