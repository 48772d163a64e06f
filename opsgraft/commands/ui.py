"""``opsgraft ui``: serve the local web page (Parameters, Adapt, Runs) over a folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from opsgraft.commands._common import backend_options


@click.command(help="""Serve a local web page over DIR (default: the current folder): set a script's
parameters and run a grid of them (tracked in MLflow, with an LLM report), adapt scripts, browse
runs. Binds 127.0.0.1; with --host anything else, every request needs the token printed at start.
Every path the page reads or writes stays under DIR.""")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", default=8765, show_default=True, type=click.IntRange(1, 65535), help="Port to bind.")
@click.option("--dir", "root", default=".", show_default=True,
              type=click.Path(exists=True, file_okay=False, path_type=Path), help="The folder the page serves.")
@backend_options
def ui(host: str, port: int, root: Path, backend_name: str, model: str | None, base_url: str | None,
       api_key_env: str, cassette: Path | None, record_to: Path | None, no_cache: bool,
       context_window: int | None) -> None:
    import uvicorn

    from opsgraft.commands._common import make_backend
    from opsgraft.ui.app import create_app
    from opsgraft.ui.security import check_port, is_loopback, new_token

    check_port(host, port)
    token = None if is_loopback(host) else new_token()

    def backend() -> Any:
        return make_backend(backend_name, model, base_url, api_key_env, cassette, record_to, no_cache, context_window)

    app = create_app(root.resolve(), token, backend)
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    url = f"http://{shown}:{port}/" + (f"?token={token}" if token else "")
    click.echo(f"opsgraft ui serving {root.resolve()} at {url}  (Ctrl-C to stop)")
    if token:
        click.echo("bound beyond loopback: every request needs that token (it is kept in a cookie after the first visit)")
    uvicorn.run(app, host=host, port=port, log_level="warning")
