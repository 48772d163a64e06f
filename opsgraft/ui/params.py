"""The Parameters page: open a ``config:json`` script, set values or grids, save a config, run the grid.

Refusals (a path outside the root, a script without DEFAULT_CONFIG, a wrong type, an empty grid)
come from :mod:`opsgraft.ui.grid` as one-line :class:`~opsgraft.errors.OpsgraftError` messages
and are shown on the page as they are.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse, Response

from opsgraft.errors import OpsgraftError
from opsgraft.ui import grid as grid_mod
from opsgraft.ui.jobs import Emit
from opsgraft.ui.security import PathOutsideRootError, resolve_under
from opsgraft.ui.state import UIState, ui_state

log = logging.getLogger(__name__)
router = APIRouter()
FIELD = "p:"  # form fields of parameter values are named "p:<key>"
SERVED = frozenset({".png", ".md", ".json", ".txt"})


def _error(st: UIState, request: Request, exc: OpsgraftError | str, status: int = 422) -> Response:
    return st.render(request, "_error.html", status_code=status, message=" ".join(str(exc).split()))


async def _form(request: Request) -> tuple[str, dict[str, str], Any]:
    form = await request.form()
    values = {str(k)[len(FIELD):]: str(v) for k, v in form.multi_items() if str(k).startswith(FIELD)}
    return str(form.get("script") or ""), values, form


@router.get("/params")
def params_page(request: Request, script: str = "") -> Response:
    """The page: a script picker and, for ``script``, its parameter form."""
    st = ui_state(request)
    context: dict[str, Any] = {"scripts": grid_mod.find_scripts(st.root), "script_rel": script, "active": "Parameters"}
    if script:
        context.update(_script_context(st, script))
    return st.render(request, "params.html", **context)


def _script_context(st: UIState, rel: str) -> dict[str, Any]:
    try:
        script = grid_mod.open_script(st.root, rel)
    except OpsgraftError as exc:
        return {"error": " ".join(str(exc).split())}
    default_target = Path(script.rel).with_suffix(".config.json").as_posix()
    return {"script": script, "default_target": default_target, "field": FIELD}


@router.get("/params/form")
def params_form(request: Request, script: str = "") -> Response:
    """The parameter form of ``script`` (a fragment), or the reason it cannot be opened."""
    st = ui_state(request)
    context = _script_context(st, script)
    if "error" in context:
        return _error(st, request, context["error"])
    response = st.render(request, "params_form.html", **context)
    if request.headers.get("hx-request"):  # a reload of the page reopens the script
        response.headers["HX-Push-Url"] = f"/params?{urlencode({'script': context['script'].rel})}"
    return response


@router.post("/params/save")
async def params_save(request: Request) -> Response:
    """Write one config (one value per parameter) as JSON; an existing file gets ``_2``... unless confirmed."""
    st = ui_state(request)
    rel, values, form = await _form(request)
    try:
        script = grid_mod.open_script(st.root, rel)
        points = grid_mod.expand(script.params, values)
        if len(points) != 1:
            raise grid_mod.ConfigError(f"a grid of {len(points)} points is not one config: give one value per "
                                       "parameter to save (Run takes grids)")
        target = str(form.get("target") or "") or Path(script.rel).with_suffix(".config.json").as_posix()
        path = grid_mod.save_config(st.root, target, points[0], overwrite=form.get("overwrite") == "on")
    except OpsgraftError as exc:
        return _error(st, request, exc)
    saved = path.relative_to(st.root).as_posix()
    renamed = saved != target.strip().lstrip("/") and not Path(target).is_absolute()
    return st.render(request, "params_saved.html", saved=saved, renamed=renamed, target=target)


@router.post("/params/run")
async def params_run(request: Request) -> Response:
    """Queue one job that trains every grid point (one MLflow run each), then writes the report."""
    st = ui_state(request)
    rel, values, _form_data = await _form(request)
    try:
        script = grid_mod.open_script(st.root, rel)
        points = grid_mod.expand(script.params, values)
    except OpsgraftError as exc:
        return _error(st, request, exc)
    data_dir = st.data_dir()

    def job(emit: Emit, cancel: threading.Event) -> dict[str, Any]:
        return run_and_report(st, script, points, data_dir, emit, cancel)

    title = f"grid of {len(points)} on {script.rel}"
    job_id = st.jobs.submit("params-grid", title, job)
    return st.render(request, "_job.html", job_id=job_id, title=title, done_url=f"/params/result/{job_id}")


def run_and_report(st: UIState, script: grid_mod.Script, points: list[dict[str, Any]], data_dir: Path,
                   emit: Emit, cancel: threading.Event) -> dict[str, Any]:
    """The grid job: train the points, then (unless cancelled or nothing passed) the LLM report."""
    from opsgraft.ui.grid_run import run_grid
    from opsgraft.ui.report import write_report

    grid = run_grid(script, points, data_dir, emit=emit, cancel=cancel)
    result: dict[str, Any] = {"grid": grid, "report": None}
    if grid.cancelled or cancel.is_set():
        emit({"message": "cancelled: no report"})
        return result
    if not any(p.status == "passed" for p in grid.points):
        emit({"message": "no run passed: no report"})
        return result
    emit({"message": "writing the report with the LLM…"})
    try:
        backend = st.backend()
    except OpsgraftError as exc:
        backend = _FailingBackend(str(exc))
    report = write_report(grid, backend)
    result["report"] = report
    marks = len(report.grounded.unverified)
    emit({"message": f"report: {report.path} ({marks} unverified number(s))"})
    return result


class _FailingBackend:
    """Stands in for a backend that could not be built, so the report says why."""

    def __init__(self, why: str) -> None:
        self.why = why

    def generate(self, *args: Any, **kwargs: Any) -> Any:
        raise OpsgraftError(self.why)


@router.get("/params/result/{job_id}")
def params_result(job_id: str, request: Request) -> Response:
    """What a finished grid job gave: the runs table, the grounded report and the plots (a fragment)."""
    from opsgraft.ui.report import markdown_to_html

    st = ui_state(request)
    job = st.jobs.get(job_id)
    if job is None:
        raise HTTPException(404, f"no job {job_id}")
    result = job["result"] or {}
    grid, report = result.get("grid"), result.get("report")
    metric_names: list[str] = []
    for p in grid.points if grid else []:
        metric_names += [k for k in p.final() if k not in metric_names]
    return st.render(
        request, "params_result.html", job=job, grid=grid, report=report, metric_names=metric_names,
        report_html=markdown_to_html(report.markdown) if report else "",
        grid_dir=grid.out_dir.name if grid else "",
        store=Path(grid.tracking_uri.removeprefix("sqlite:///")).relative_to(st.root).as_posix() if grid else "",
    )


@router.get("/params/files/{grid_dir}/{name}")
def params_file(grid_dir: str, name: str, request: Request) -> Response:
    """A file (plot, report, point config, stdout) of a grid folder under ``<root>/.opsgraft/ui-runs``."""
    st = ui_state(request)
    base = st.data_dir() / "ui-runs"
    try:
        path = resolve_under(base, f"{grid_dir}/{name}")
    except PathOutsideRootError:
        raise HTTPException(404, "not found") from None
    if path.suffix not in SERVED or not path.is_file():
        raise HTTPException(404, "not found")
    return FileResponse(path)
