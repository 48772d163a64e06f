"""The FastAPI app of ``opsgraft ui``: shared state, the job endpoints and the pages' routers.

Each page is a module exposing ``router`` (an ``APIRouter``): :data:`PAGE_MODULES`. A page module
that is not there (not written yet, or left out of a build) is skipped, and the others still work.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import logging
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from opsgraft.ui.jobs import FINISHED, JobQueue
from opsgraft.ui.security import GuardMiddleware
from opsgraft.ui.state import STATIC_DIR, TEMPLATES_DIR, UIState, ui_state

log = logging.getLogger(__name__)

# (module, nav label, path) in nav order; a module missing from the build is left out.
PAGE_MODULES = (
    ("opsgraft.ui.params", "Parameters", "/params"),
    ("opsgraft.ui.adapt_page", "Adapt", "/adapt"),
    ("opsgraft.ui.runs_page", "Runs", "/runs"),
)
SSE_POLL_S = 0.5  # how long one wait for new events blocks a worker thread
SSE_KEEPALIVE_S = 15.0

jobs_router = APIRouter()


def create_app(root: Path, token: str | None = None, backend_factory: Callable[[], Any] | None = None) -> FastAPI:
    """The app serving ``root``; ``token`` (None on loopback) is required on every request when set.

    ``backend_factory`` builds the reports' LLM backend on first use. A model it loads through
    ``make_backend`` is kept in the server's pool (:mod:`opsgraft.ui.backends`) and shared with the
    Adapt page's jobs that ask for the same model spec.
    """
    root = Path(root).resolve()
    templates = Jinja2Templates(directory=str(TEMPLATES_DIR))
    state = UIState(root=root, token=token, jobs=JobQueue(), templates=templates, backend_factory=backend_factory)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        state.jobs.shutdown()

    app = FastAPI(title="opsgraft", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    app.state.ui = state
    nav: list[tuple[str, str]] = []
    for module_name, label, path in PAGE_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            log.info("page %s is not in this build", module_name)
            continue
        app.include_router(module.router)
        nav.append((label, path))
    templates.env.globals["nav"] = nav
    templates.env.globals["root_dir"] = str(root)
    app.include_router(jobs_router)
    app.mount("/static", StaticFiles(directory=str(STATIC_DIR)), name="static")
    app.add_middleware(GuardMiddleware, token=token)

    @app.get("/", include_in_schema=False)
    def home() -> RedirectResponse:
        return RedirectResponse(nav[0][1] if nav else "/jobs", status_code=303)

    return app


@jobs_router.get("/jobs")
def list_jobs(request: Request) -> JSONResponse:
    """Every job, newest first (status and title; events via /jobs/{id})."""
    jobs = ui_state(request).jobs.list()
    return JSONResponse([{k: j[k] for k in ("id", "kind", "title", "status", "error")} for j in jobs])


@jobs_router.get("/jobs/{job_id}")
def get_job(job_id: str, request: Request) -> JSONResponse:
    """One job's snapshot: status, events, error (the result when it is JSON)."""
    job = ui_state(request).jobs.get(job_id)
    if job is None:
        raise HTTPException(404, f"no job {job_id}")
    try:
        json.dumps(job["result"])
    except (TypeError, ValueError):
        job["result"] = repr(job["result"])
    return JSONResponse(job)


@jobs_router.post("/jobs/{job_id}/cancel", response_class=HTMLResponse)
def cancel_job(job_id: str, request: Request) -> HTMLResponse:
    """Cancel a queued or running job (its sandbox processes are killed)."""
    ok = ui_state(request).jobs.cancel(job_id)
    return HTMLResponse("cancelling…" if ok else "already finished")


@jobs_router.get("/jobs/{job_id}/events")
async def job_events(job_id: str, request: Request) -> StreamingResponse:
    """Server-sent events: one ``message`` per job event (JSON), then ``end`` once the job is finished."""
    queue = ui_state(request).jobs
    if queue.get(job_id) is None:
        raise HTTPException(404, f"no job {job_id}")
    start = int(request.query_params.get("from", "0") or 0)

    async def stream() -> AsyncIterator[str]:
        index, idle = start, 0.0
        while True:
            events, status = await asyncio.to_thread(queue.events_since, job_id, index, SSE_POLL_S)
            for event in events:
                yield f"id: {event['seq']}\ndata: {json.dumps(event, default=str)}\n\n"
            index += len(events)
            if status in FINISHED or status == "unknown":
                yield f"event: end\ndata: {json.dumps({'status': status})}\n\n"
                return
            if await request.is_disconnected():
                return
            idle = 0.0 if events else idle + SSE_POLL_S
            if idle >= SSE_KEEPALIVE_S:
                idle = 0.0
                yield ": keep-alive\n\n"

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
