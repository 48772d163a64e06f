"""The Adapt page: pick a script under the root and a change, run ``opsgraft adapt``/``translate`` as a job.

The form becomes a config file (:mod:`opsgraft.commands.config_file`), checked by the command's own
options before it is queued; the job runs ``opsgraft KIND --config FILE`` in-process
(:mod:`opsgraft.ui.adapt_job`) and the page streams its stages and verdicts. "Save as config file"
writes the form under the root (never over a file) and shows the command that reruns it.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from opsgraft.commands.config_file import Choices, Kind, command_line, parse_choices, to_file
from opsgraft.errors import ConfigError, OpsgraftError
from opsgraft.ui.security import relative, resolve_under, safe_name, unique_path
from opsgraft.ui.state import UIState, ui_state

router = APIRouter()
MODES = ("zero-shot", "docprompt", "rag")
SKIP_DIRS = frozenset({"__pycache__", "node_modules", "site-packages", "venv", "env", "build", "dist"})
MAX_SCRIPTS = 400
RECORD_SHOWN_CHARS = 200_000
JOBS_DIR = "ui-adapt"  # <root>/.opsgraft/ui-adapt/<stamp>/<kind>.toml: the config each page run ran


def list_scripts(root: Path, limit: int = MAX_SCRIPTS) -> list[str]:
    """The ``*.py`` files under ``root`` (relative, sorted), skipping hidden folders and environments."""
    found: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d not in SKIP_DIRS)
        for name in sorted(filenames):
            if name.endswith(".py"):
                found.append(relative(root, Path(dirpath) / name))
                if len(found) >= limit:
                    return sorted(found)
    return sorted(found)


def changes() -> tuple[list[str], list[str]]:
    """The registered inline adapters and translations (installed plugins' included)."""
    from opsgraft.adapters.specs import inline_keys
    from opsgraft.registry import adapters

    return inline_keys(), sorted(k for k in adapters.names() if "->" in k)


def _text(form: Any, key: str) -> str | None:
    value = str(form.get(key) or "").strip()
    return value or None


def _under(root: Path, text: str | None, as_written: bool, *, must_exist: bool = False) -> str | None:
    """A path field: confined to the root; absolute for the job's file, root-relative for a saved one."""
    if text is None:
        return None
    path = resolve_under(root, text)
    if must_exist and not path.is_file():
        raise ConfigError(f"no such file under the root: {text}")
    return relative(root, path) if as_written else str(path)


def choices_from_form(form: Any, root: Path, *, relative_paths: bool) -> tuple[Kind, Choices]:
    """The form as the choices of ``opsgraft adapt`` or ``translate``; a bad field is a ConfigError."""
    change = _text(form, "change")
    if change is None:
        raise ConfigError("choose what to add or translate")
    script = _under(root, _text(form, "script_path") or _text(form, "script"), relative_paths, must_exist=True)
    if script is None:
        raise ConfigError("choose a script")
    data: dict[str, Any] = {"script": script}
    kind: Kind = "translate" if "->" in change else "adapt"
    if kind == "translate":
        data["from"], _, data["to"] = change.partition("->")
        data["strategy"] = _text(form, "strategy")
    else:
        data["add"], data["mode"] = change, _text(form, "mode")
    for key in ("backend", "model", "base_url", "n", "temperature", "repair", "seed", "timeout"):
        data[key] = _text(form, key)
    data["cassette"] = _under(root, _text(form, "cassette"), relative_paths, must_exist=True)
    data["out_dir"] = _under(root, _text(form, "out_dir"), relative_paths)
    data["run"] = form.get("run") in ("on", "true", "1")
    return kind, parse_choices({k: v for k, v in data.items() if v is not None}, kind, "form")


def check_with_command(path: Path, kind: Kind) -> None:
    """Parse ``--config PATH`` with the command's own options, as the CLI will (a bad value: ConfigError)."""
    import click

    if kind == "adapt":
        from opsgraft.commands.adapt import adapt as command
    else:
        from opsgraft.commands.translate import translate as command
    try:
        command.make_context(f"opsgraft {kind}", ["--config", str(path)])
    except click.ClickException as exc:
        raise ConfigError(exc.format_message()) from None


def _error(st: UIState, request: Request, exc: Exception, status: int = 400) -> Response:
    return st.render(request, "_error.html", status_code=status, message=" ".join(str(exc).split()))


@router.get("/adapt")
def adapt_form(request: Request) -> Response:
    """The form (prefilled from ``?config=FILE.toml`` under the root, when given)."""
    from opsgraft.commands._common import backend_names, strategy_names
    from opsgraft.commands.config_file import file_keys, from_file, kind_of_file

    st = ui_state(request)
    inline, translations = changes()
    values: dict[str, Any] = {"backend": "local", "n": 3, "temperature": 0.2, "repair": 2, "run": True}
    error = ""
    if request.query_params.get("config"):
        try:
            path = resolve_under(st.root, request.query_params["config"])
            loaded = file_keys(from_file(path, kind_of_file(path)))
            base = path.parent
            for key in ("script", "cassette", "out_dir"):
                if key in loaded:
                    loaded[key] = relative(st.root, resolve_under(st.root, base / loaded[key]))
            if "from" in loaded:
                loaded["change"] = f"{loaded['from']}->{loaded.get('to', '')}"
            elif "add" in loaded:
                loaded["change"] = loaded["add"]
            values.update(loaded)
        except OpsgraftError as exc:
            error = str(exc)
    return st.render(request, "adapt.html", active="Adapt", scripts=list_scripts(st.root), inline=inline,
                     translations=translations, modes=MODES, strategies=[*strategy_names(), "none"],
                     backends=backend_names(), values=values, error=error)


@router.post("/adapt/run")
async def adapt_run(request: Request) -> Response:
    """Queue the run; the answer is the live job panel and the command line that does the same."""
    from opsgraft.ui.adapt_job import run_config

    st = ui_state(request)
    form = await request.form()
    try:
        kind, choices = choices_from_form(form, st.root, relative_paths=False)
        folder = unique_path(st.data_dir() / JOBS_DIR / time.strftime("%Y%m%d-%H%M%S"))
        folder.mkdir(parents=True)
        config = folder / f"{kind}.toml"
        config.write_text(to_file(choices), encoding="utf-8")
        try:
            check_with_command(config, kind)
        except ConfigError as exc:  # the file is the page's own: name the form, and keep no refused file
            config.unlink()
            folder.rmdir()
            raise ConfigError(str(exc).replace(str(config), "form")) from None
    except OpsgraftError as exc:
        return _error(st, request, exc)
    script = Path(choices.script or "").name
    change = choices.add if kind == "adapt" else f"{choices.source}->{choices.target}"  # type: ignore[union-attr]
    title = f"{kind} {script}: {change}"
    job_id = st.jobs.submit(kind, title, lambda emit, cancel: run_config(config, kind, emit, cancel, st.models))
    return st.render(request, "adapt_started.html", job_id=job_id, title=title,
                     done_url=f"/adapt/result/{job_id}", command=command_line(config, kind),
                     config_rel=relative(st.root, config))


@router.post("/adapt/save")
async def adapt_save(request: Request) -> Response:
    """Write the form as ``<root>/<name>.toml`` (``_2`` when taken) and show the command that runs it."""
    st = ui_state(request)
    form = await request.form()
    try:
        kind, choices = choices_from_form(form, st.root, relative_paths=True)
        stem = safe_name(_text(form, "save_name") or f"{kind}-{Path(choices.script or 'script').stem}", kind)
        path = unique_path(st.root / f"{stem.removesuffix('.toml')}.toml")
        text = to_file(choices)
        with path.open("x", encoding="utf-8") as fh:  # "x": a file that appeared meanwhile is not overwritten
            fh.write(text)
        try:
            check_with_command(path, kind)
        except ConfigError as exc:
            path.unlink()
            raise ConfigError(str(exc).replace(str(path), "form")) from None
    except FileExistsError:
        return _error(st, request, ConfigError("the file appeared meanwhile; save again"), 409)
    except OpsgraftError as exc:
        return _error(st, request, exc)
    rel = relative(st.root, path)
    return st.render(request, "adapt_saved.html", path=rel, text=text,
                     command=f"cd {st.root} && {command_line(Path(rel), kind)}")


def attempt_rows(record: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per attempt of a record: round, sample, tokens, status and why."""
    from opsgraft.adapters.repair_loop import summarize_failure
    from opsgraft.types import SampleResult, from_dict

    rows = []
    stopped = record.get("stopped", {})
    for a in record.get("attempts", []):
        status: str
        tokens = (a.get("generation") or {}).get("usage", {}).get("completion_tokens", 0)
        if a.get("result"):
            result = from_dict(SampleResult, a["result"])
            status, why = result.status, ("" if result.status == "passed" else summarize_failure(result))
        elif a.get("candidate") is None:
            status, why = "no code", a.get("error", "")
        elif str(a["sample"]) in stopped:
            status, why = "stopped", stopped[str(a["sample"])]
        else:
            status, why = "not run", ""
        rows.append({"round": a["round"], "sample": a["sample"] + 1, "tokens": tokens, "status": status, "why": why})
    return rows


@router.get("/adapt/result/{job_id}")
def adapt_result(job_id: str, request: Request) -> Response:
    """The finished job: verdict, every attempt's verdict and reason, the diff and the record."""
    from opsgraft.adapters.records import load_record
    from opsgraft.ui import diff_html

    st = ui_state(request)
    job = st.jobs.get(job_id)
    if job is None or job["kind"] not in ("adapt", "translate"):
        return _error(st, request, ConfigError(f"no adapt job {job_id}"), 404)
    if job["status"] != "done":
        return _error(st, request, OpsgraftError(f"the run {job['status']}: {job['error'] or 'no result'}"), 200)
    result = job["result"] or {}
    paths = result.get("paths") or {}
    if not paths:
        return st.render(request, "adapt_result.html", nothing=result.get("summary", "").strip() or "nothing to do")
    try:
        record_path = resolve_under(st.root, paths["record"])
        record = load_record(record_path)
        diff_path = resolve_under(st.root, paths["diff"])
        diff = diff_path.read_text(encoding="utf-8", errors="replace")
    except OpsgraftError as exc:
        return _error(st, request, exc)
    except OSError as exc:
        return _error(st, request, OpsgraftError(f"cannot read the outputs: {exc}"))
    record_text = json.dumps(record, indent=2)
    links = {k: relative(st.root, resolve_under(st.root, v)) for k, v in paths.items()}
    return st.render(request, "adapt_result.html", nothing="", record=record, rows=attempt_rows(record),
                     status=record.get("status", ""), checker=record.get("task", {}).get("checker", ""),
                     diff_html=diff_html.render(diff), diff_css=diff_html.css(), links=links,
                     record_text=record_text[:RECORD_SHOWN_CHARS], record_cut=len(record_text) > RECORD_SHOWN_CHARS,
                     fault=result.get("fault", ""), summary=result.get("summary", ""))
