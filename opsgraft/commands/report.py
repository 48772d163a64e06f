"""``opsgraft report``: render a bench run directory's report.md and report.html, without the LLM."""

from __future__ import annotations

from pathlib import Path

import click


@click.command(help="""Render RUN_DIR/report.md and a self-contained RUN_DIR/report.html (tables,
plots under RUN_DIR/plots/) from the records of an 'opsgraft bench' run. Only finished samples
count; the LLM is not used. Safe to run while a bench is still writing: it reads what is there.""")
@click.argument("run_dir", type=click.Path(path_type=Path))
def report(run_dir: Path) -> None:
    from rich.console import Console

    from opsgraft.evaluation.benchmark.report import render

    written = render(run_dir)
    console = Console(highlight=False)
    for name in ("markdown", "html"):
        console.print(f"{name}: {written[name]}", soft_wrap=True)  # a path is never folded: it is copied
