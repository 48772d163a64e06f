"""What every page of the UI shares: the root folder, the job queue, templates and the LLM backend."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.templating import Jinja2Templates

from opsgraft.ui.backends import BackendPool
from opsgraft.ui.jobs import JobQueue

TEMPLATES_DIR = Path(__file__).parent / "templates"
STATIC_DIR = Path(__file__).parent / "static"


@dataclass
class UIState:
    """The server's state (``request.app.state.ui``); routers reach it through :func:`ui_state`."""

    root: Path
    token: str | None
    jobs: JobQueue
    templates: Jinja2Templates
    backend_factory: Callable[[], Any] | None = None
    # One backend per model spec, shared by the Adapt page's jobs and the reports (opsgraft.ui.backends).
    models: BackendPool = field(default_factory=BackendPool)
    _backend: Any = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def backend(self) -> Any:
        """The reports' LLM backend, built on first use; its model is the pool's, shared with the jobs."""
        with self._lock:
            if self._backend is None:
                if self.backend_factory is None:
                    from opsgraft.errors import BackendError

                    raise BackendError("the page was started without an LLM backend")
                with self.models.active():
                    self._backend = self.backend_factory()
            return self._backend

    def data_dir(self) -> Path:
        """``<root>/.opsgraft``: the UI's MLflow store and run folders (created on demand)."""
        path = self.root / ".opsgraft"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def render(self, request: Request, name: str, status_code: int = 200, **context: Any) -> Response:
        """Render template ``name`` with ``context`` (plus ``active``: the nav entry, default none)."""
        context.setdefault("active", "")
        return self.templates.TemplateResponse(request, name, context, status_code=status_code)


def ui_state(request: Request) -> UIState:
    """The :class:`UIState` of the app serving ``request`` (use as a FastAPI dependency)."""
    state: UIState = request.app.state.ui
    return state
