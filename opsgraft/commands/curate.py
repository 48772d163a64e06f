"""``opsgraft curate`` and ``opsgraft stores``: build, list and remove the doc stores."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click

from opsgraft.errors import ConfigError

SUMMARIZE_CHOICES = ("full", "lazy", "none")
STAGE_LABELS = {"render": "rendering API pages", "pages": "pages crawled", "chunks": "chunks",
                "summaries": "summaries", "embed": "embedding new chunks"}


@contextmanager
def _progress() -> Iterator[Any]:
    """A rich progress display fed by the library's progress(stage, done, total) callback."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    console = Console(stderr=True)
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=console, transient=False,
                  disable=not console.is_terminal) as bar:
        tasks: dict[str, Any] = {}

        def update(stage: str, done: int, total: int | None) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(STAGE_LABELS.get(stage, stage), total=total)
            bar.update(tasks[stage], completed=done, total=total)

        yield update


def _backend(name: str | None, summarize: str) -> Any:
    if summarize != "full":
        return None
    from opsgraft.llm import get_backend

    return get_backend(name or "local")


@click.command()
@click.option("--url", help="Start URL of a docs site to crawl.")
@click.option("--component", help="Component name the crawled docs belong to (with --url).")
@click.option("--package", "package", help="Render and curate the API docs of an installed package (or of one module: torch.nn.utils.prune).")
@click.option("--version", "version", help="Version label for --url (default: installed version, else 'latest').")
@click.option("--depth", default=2, show_default=True, type=click.IntRange(0, 20), help="Link depth from the start URL.")
@click.option("--max-pages", default=200, show_default=True, type=click.IntRange(1), help="Page cap.")
@click.option("--delay", default=0.05, show_default=True, type=click.FloatRange(0),
              help="Minimum seconds between request starts (robots.txt's Crawl-delay wins if longer); "
                   "re-checks of pages already crawled (answered 304) start at a tenth of it.")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 8),
              help="Browsers rendering pages at once (with --url); more help only with spare cores.")
@click.option("--render", type=click.Choice(["auto", "always"]), default="auto", show_default=True,
              help="auto: parse pages in Chromium without loading them when the site's first page reads "
                   "the same both ways (much faster); always: load every page and run its scripts (with --url).")
@click.option("--summarize", type=click.Choice(SUMMARIZE_CHOICES), default="lazy", show_default=True,
              help="full: summarize every chunk now (slow on CPU); lazy: on first retrieval; none: never.")
@click.option("--backend", "backend_name", default=None, help="LLM backend for --summarize full (default: local).")
@click.option("--embed", type=click.Choice(["local", "openai"]), default="local", show_default=True,
              help="Embedding model: local MiniLM or OpenAI (OPENAI_API_KEY).")
@click.option("--max-modules", default=150, show_default=True, type=click.IntRange(1),
              help="Module cap for --package (public top-level API first).")
@click.option("--force", is_flag=True, help="Rebuild a package store even if it is up to date.")
def curate(url: str | None, component: str | None, package: str | None, version: str | None, depth: int,
           max_pages: int, delay: float, workers: int, render: str, summarize: str, backend_name: str | None, embed: str,
           max_modules: int, force: bool) -> None:
    """Crawl docs (a site, or an installed package's API) into a Chroma store."""
    from opsgraft.curation.pipeline import curate_package, curate_url

    if bool(url) == bool(package):
        raise ConfigError("give either --url URL --component NAME or --package NAME")
    if url and not component:
        raise ConfigError("--url needs --component NAME")
    backend = _backend(backend_name, summarize)
    with _progress() as progress:
        if package:
            report = curate_package(package, summarize=summarize, embed=embed, backend=backend,
                                    progress=progress, force=force, max_modules=max_modules)
        else:
            assert url and component
            report = curate_url(url, component, version, depth=depth, max_pages=max_pages, delay=delay, workers=workers,
                                render=render, summarize=summarize, embed=embed, backend=backend, progress=progress)
    if report.up_to_date:
        click.echo(f"{report.key}: up to date ({report.chunks} chunks); --force rebuilds it")
        return
    w = report.write
    timing = ", ".join(f"{k[:-2]} {v:.1f}s" for k, v in report.timings.items())
    extra = (f", {report.modules} modules" if package else f" ({report.unchanged} unchanged)") + (
        f", {report.parsed} of {report.rendered} read without a page load" if report.rendered else "")
    click.echo(f"{report.key}: {report.pages} pages{extra}, {report.chunks} chunks "
               f"({w.embedded if w else 0} embedded, {w.reused if w else 0} reused, "
               f"{w.removed if w else 0} removed); {timing}")
    if report.failed:
        click.echo(f"{len(report.failed)} pages failed and were skipped (see -v)", err=True)


def _size(n: int | None) -> str:
    if n is None:
        return "?"
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


@click.group(invoke_without_command=True)
@click.pass_context
def stores(ctx: click.Context) -> None:
    """List the curated doc stores (``stores rm NAME`` removes one)."""
    if ctx.invoked_subcommand is not None:
        return
    from rich.console import Console
    from rich.table import Table

    from opsgraft.curation.store import Stores

    infos = Stores().list_stores()
    if not infos:
        click.echo("no stores yet; build one with `opsgraft curate --package NAME`")
        return
    table = Table("store", "component", "version", "chunks", "size on disk", "summaries", "source")
    for s in infos:
        table.add_row(s.key, s.component, s.version, str(s.count), _size(s.size_bytes), s.summarize, s.source)
    Console(width=200).print(table)


@stores.command("rm")
@click.argument("name")
def stores_rm(name: str) -> None:
    """Remove the store NAME (component@version, or a component's default store)."""
    from opsgraft.curation.store import Stores

    info = Stores().remove(name)
    click.echo(f"removed {info.key} ({info.count} chunks)")
