"""Options and helpers the LLM-driven commands share (adapt, translate)."""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable, Sequence
from contextvars import ContextVar
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from opsgraft.config import responses_dir
from opsgraft.llm.base import Backend

console = Console(stderr=True, highlight=False)
# Who else hears a run's events (kind, data) besides the terminal: the UI's Adapt page, which runs these
# very commands in-process. Besides the flow's events: "tokens" (sample, tokens, seconds) and "done" (result).
event_listener: ContextVar[Callable[[str, dict[str, Any]], None] | None] = ContextVar("event_listener", default=None)
# Where make_backend gets its model: None builds one; the UI sets its pool (opsgraft.ui.backends), called as
# pool(spec, build), so that its jobs and reports share one backend per model spec instead of loading the
# embedded model again for every run.
backend_pool: ContextVar[Callable[[Hashable, Callable[[], Any]], Any] | None] = ContextVar("backend_pool", default=None)


class RegistryChoice(click.Choice):
    """A choice among names read from a registry when the option is used or shown, so that what
    installed plugins register is accepted and listed (and an uninstalled one's is not)."""

    def __init__(self, names: Callable[[], Sequence[str]]) -> None:
        self._names = names
        super().__init__([])

    @property  # type: ignore[override]
    def choices(self) -> Sequence[str]:
        return tuple(self._names())

    @choices.setter
    def choices(self, value: Sequence[str]) -> None:  # click.Choice.__init__ assigns it; the registry decides
        pass


def backend_names() -> list[str]:
    """The registered LLM backends a user can pick (``scripted`` is the tests' backend)."""
    import opsgraft.llm  # noqa: F401  (registers the core backends)
    from opsgraft.registry import backends

    return [n for n in backends.names() if n != "scripted"]


def strategy_names(*, rag: bool = False) -> list[str]:
    """The registered retrieval strategies; ``target-search`` (rag mode's) only with ``rag``."""
    import opsgraft.retrieval  # noqa: F401  (registers the core strategies)
    from opsgraft.registry import retrievers

    return [n for n in retrievers.names() if rag or n != "target-search"]


def backend_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """--backend and the options of each backend."""
    opts = [
        click.option("--backend", "backend_name", default="local", show_default=True,
                     type=RegistryChoice(backend_names),
                     help="local: the embedded model; openai: any OpenAI-compatible server; replay: a cassette; "
                          "an installed plugin's backend gets --model, --base-url, --api-key-env and --context-window."),
        click.option("--model", default=None,
                     help="--backend openai: the served model (default gpt-4o-mini); --backend local: a name from "
                          "'opsgraft model list' (0.5b, 1.5b) or a GGUF file (default: the 1.5B)."),
        click.option("--base-url", default=None, help="OpenAI-compatible endpoint, e.g. http://127.0.0.1:8080/v1."),
        click.option("--api-key-env", default="OPENAI_API_KEY", show_default=True,
                     help="Environment variable holding the API key (keys never go on the command line)."),
        click.option("--cassette", type=click.Path(dir_okay=False, path_type=Path), default=None,
                     help="Cassette file for --backend replay."),
        click.option("--record", "record_to", type=click.Path(dir_okay=False, path_type=Path), default=None,
                     help="Record every response of the backend into this cassette."),
        click.option("--no-cache", is_flag=True, help="Do not use the on-disk response cache."),
        click.option("--context-window", type=int, default=None, help="Override the model's context window."),
    ]
    for opt in reversed(opts):
        fn = opt(fn)
    return fn


class GenerationStatus:
    """Live tokens/s while a backend generates (stderr, never in the way of output files)."""

    def __init__(self) -> None:
        self.status: Any = None
        self.label = "generating"

    def __call__(self, sample: int, tokens: int, seconds: float) -> None:
        listener = event_listener.get()
        if listener is not None:
            listener("tokens", {"sample": sample, "tokens": tokens, "seconds": seconds})
        if self.status is not None and seconds > 0:
            self.status.update(f"{self.label}: sample {sample + 1}, {tokens} tokens, {tokens / seconds:.1f} tok/s")


def make_backend(backend_name: str, model: str | None, base_url: str | None, api_key_env: str,
                 cassette: Path | None, record_to: Path | None, no_cache: bool,
                 context_window: int | None, progress: GenerationStatus | None = None) -> Backend:
    """Build the chosen backend, wrapped in the response cache and the recorder as asked.

    While :data:`backend_pool` is set, the model (or the replayed cassette) comes from that pool.
    """
    from opsgraft.llm.cache import CachedBackend
    from opsgraft.llm.replay import ReplayBackend

    backend: Backend
    pool = backend_pool.get()
    if backend_name == "replay":
        if cassette is None:
            raise click.UsageError("--backend replay needs --cassette FILE")
        path = cassette
        if pool is None:
            return ReplayBackend(path, model=model, context_window=context_window)
        try:  # a cassette rewritten since (recorded again) is read again
            stamp: tuple[int, int] | None = (path.stat().st_mtime_ns, path.stat().st_size)
        except OSError:
            stamp = None  # the build says why
        spec = ("replay", str(path.resolve()), stamp, model, context_window)
        shared: Backend = pool(spec, lambda: ReplayBackend(path, model=model, context_window=context_window))
        return shared
    if pool is not None:
        # A shared model outlives this run, so it gets a progress of its own with no terminal status;
        # its token counts still reach the run being served through event_listener.
        backend = pool((backend_name, model, base_url, api_key_env, context_window),
                       lambda: model_backend(backend_name, model, base_url, api_key_env, context_window,
                                             GenerationStatus()))
    else:
        backend = model_backend(backend_name, model, base_url, api_key_env, context_window, progress)
    if not no_cache:
        backend = CachedBackend(backend, responses_dir())
    if record_to is not None:
        backend = ReplayBackend(record_to, strict=False, inner=backend)
    return backend


def model_backend(backend_name: str, model: str | None, base_url: str | None, api_key_env: str,
                  context_window: int | None, progress: GenerationStatus | None) -> Backend:
    """The chosen model's backend (loading the local model), without the cache and recorder wrappers."""
    from opsgraft.llm import get_backend

    backend: Backend
    if backend_name == "local":
        t0 = time.perf_counter()
        with console.status("loading the local model"):
            backend = get_backend("local", model_file=model, progress=progress,
                                  **({"n_ctx": context_window} if context_window else {}))
        console.print(f"[dim]local model loaded in {time.perf_counter() - t0:.1f}s[/dim]")
    elif backend_name == "openai":
        backend = get_backend("openai", model=model or "gpt-4o-mini", base_url=base_url, api_key_env=api_key_env,
                              context_window=context_window, progress=progress)
    else:  # a plugin's backend (opsgraft.plugins.add_backend): the same keywords as openai's
        backend = get_backend(backend_name, model=model, base_url=base_url, api_key_env=api_key_env,
                              context_window=context_window, progress=progress)
    return backend


def run_and_report(flow: Any, backend: Any, progress: GenerationStatus, **kw: Any) -> None:
    """Run ``flow.execute`` with live progress, then print the outputs and the verdict table (adapt, translate)."""
    from rich.table import Table

    listener = event_listener.get()

    def on_event(kind: str, data: dict[str, Any]) -> None:
        _show_event(status, progress, kind, data)
        if listener is not None:
            listener(kind, data)

    with console.status("preparing the prompt") as status:
        progress.status = status
        # The product path stops at the first pass; only the benchmark needs every chain (pass@k).
        result = flow.execute(backend, on_event=on_event, stop_at_first_pass=True, **kw)
    if listener is not None:
        listener("done", {"result": result, "flow": flow})
    run, paths = result.run, result.paths
    table = Table(title=f"{flow.spec.key} on {flow.script.name} ({run.mode}, {run.model})")
    for col in ("round", "sample", "tokens", "tok/s", "status", "why"):
        table.add_column(col)
    for a in run.attempts:
        from opsgraft.adapters.repair_loop import summarize_failure

        g = a.generation
        rate = f"{g.usage.completion_tokens / g.wall_s:.1f}" if g.wall_s > 0 else "cached"
        state: str = a.result.status if a.result else ("no code" if a.candidate is None else "not run")
        why = summarize_failure(a.result) if a.result else a.error
        if a.result is None and a.candidate is not None and a.sample in run.stopped:
            state, why = "stopped", run.stopped[a.sample]
        elif a.result is not None and a.result.preserved is not None:
            state += ", preserved" if a.result.preserved else ", NOT preserved"
        if a.restore:  # one repair on a passing sample that dropped prints or files (adapters/repair_loop.py)
            why = ("restore kept" if a.kept else "restore not kept: the passing attempt stays") + (f"; {why}" if why else "")
        table.add_row(str(a.round), str(a.sample), str(g.usage.completion_tokens), rate, state, why[:80])
    console.print(table)
    click.echo(f"adapted: {paths['code']}")
    click.echo(f"diff:    {paths['diff']}")
    click.echo(f"record:  {paths['record']}")
    best = run.best()
    if best is not None and best.result is not None:
        verdict = "PASSED" if best.passed else f"FAILED ({summarize_failure(best.result)})"
        click.echo(f"check:   {flow.spec.checker}: {verdict}")
        if best.result.preserved is not None:
            kept = "yes" if best.result.preserved else f"NO ({'; '.join(best.result.preserved_findings)})"
            click.echo(f"kept:    prints and files of the original: {kept}")
    if run.stopped:
        stopped = ", ".join(str(s) for s in sorted(run.stopped))
        click.echo(f"stopped: sample(s) {stopped}: another sample passed")
    t = run.timings
    click.echo(f"time:    {t.get('total_s', 0):.1f}s (generate {t.get('generate_s', 0):.1f}s, "
               f"sandbox {t.get('judge_s', 0):.1f}s)")


def _show_event(status: Any, progress: GenerationStatus, kind: str, data: dict[str, Any]) -> None:
    if kind == "generate":
        progress.label = f"round {data['round']}: generating {data['n']} sample(s)"
        status.update(progress.label)
    elif kind == "repair":
        progress.label = f"repair round {data['round']}, sample {data['sample'] + 1}"
        status.update(progress.label)
    elif kind == "resample":
        progress.label = (f"repair round {data['round']}, sample {data['sample'] + 1}: answer repeated tried code, "
                          f"resampling at temperature {data['temperature']}")
        status.update(progress.label)
    elif kind == "restart":
        progress.label = (f"repair round {data['round']}, sample {data['sample'] + 1}: the resample repeated it too, "
                          "restarting from the original script")
        status.update(progress.label)
    elif kind == "restore":
        progress.label = (f"repair round {data['round']}, sample {data['sample'] + 1}: it passed but dropped prints "
                          "or files of the original; asking to restore them")
        status.update(progress.label)
    elif kind == "judge":
        status.update(f"round {data['round']}: running sample {data['sample'] + 1} in the sandbox")
    elif kind == "retrieve":
        status.update(f"retrieving docs ({data.get('strategy', '')})")


# With --run, adapt and translate default to the best configuration measured on the held-out half
# (issue 16): n=3 samples decoded together, stopping at the first that passes, and 2 repair rounds
# whose prompts carry every certain error (adapters/preflight.py). Without --run nothing can tell
# the samples apart, so one is drawn and nothing is repaired.
RUN_N, RUN_REPAIR = 3, 2
N_HELP = f"Samples, decoded together [default: {RUN_N} with --run, else 1]."
REPAIR_HELP = f"Repair rounds after a failed check (implies --run) [default: {RUN_REPAIR} with --run, else 0]."


def run_defaults(run: bool, n: int | None, repair: int | None) -> tuple[bool, int, int]:
    """(run, n, repair) after the defaults: --repair R > 0 implies --run; with --run n=3 and 2 repairs."""
    run = run or bool(repair)
    return run, n if n is not None else (RUN_N if run else 1), repair if repair is not None else (RUN_REPAIR if run else 0)
