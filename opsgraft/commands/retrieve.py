"""``opsgraft retrieve``: print the docs a retrieval strategy finds for a file."""

from __future__ import annotations

import json
from pathlib import Path

import click

from opsgraft.commands._common import RegistryChoice, strategy_names
from opsgraft.errors import ConfigError, InputError


@click.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--from", "source", help="Source component (translation strategies).")
@click.option("--to", "target", required=True, help="Target component, or component@version.")
@click.option("--strategy", type=RegistryChoice(lambda: strategy_names(rag=True)), default=None,
              help="Default: docs-search with --from, target-search without.")
@click.option("--instruction", default="", help="Task instruction (target-search).")
@click.option("--top-k", default=5, show_default=True, type=click.IntRange(1, 50))
@click.option("--backend", "backend_name", default=None, help="LLM backend for llm-* strategies and --summarize.")
@click.option("--summarize", is_flag=True, help="Summarize docs of lazily curated stores now (needs the LLM).")
@click.option("--json", "as_json", is_flag=True, help="Print the docs as JSON lines.")
def retrieve(file: Path, source: str | None, target: str, strategy: str | None, instruction: str, top_k: int,
             backend_name: str | None, summarize: bool, as_json: bool) -> None:
    """Print the docs a retrieval strategy finds for FILE."""
    from opsgraft.retrieval import RetrievalRequest
    from opsgraft.retrieval import retrieve as run
    from opsgraft.types import to_dict

    strategy = strategy or ("docs-search" if source else "target-search")
    if strategy != "target-search" and not source:
        raise ConfigError(f"--strategy {strategy} needs --from SOURCE")
    try:
        code = file.read_text(encoding="utf-8-sig")  # a BOM would make the code unparseable for queries
    except FileNotFoundError:
        raise InputError(f"no such file: {file}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read {file}: {exc}") from None
    backend = None
    if strategy in ("llm-search", "llm-docs-search") or summarize:
        from opsgraft.llm import get_backend

        backend = get_backend(backend_name or "local")
    summarizer = None
    if summarize:
        from opsgraft.curation.summarize import Summarizer

        summarizer = Summarizer(backend)  # type: ignore[arg-type]
    request = RetrievalRequest(code=code, target=target, source=source, instruction=instruction, top_k=top_k)
    docs = run(strategy, request, backend=backend, summarizer=summarizer)
    if as_json:
        for d in docs:
            click.echo(json.dumps(to_dict(d)))
        return
    step = None
    for d in docs:
        if d.step != step:
            step = d.step
            click.secho(f"== {step} ==", bold=True)
        where = f"{d.component}@{d.version}" if d.version else d.component
        click.secho(f"[{d.score:.3f}] {d.title or '(untitled)'}  ({where}) {d.source}", fg="cyan")
        click.echo(d.text.strip())
        click.echo()
