"""The server's LLM backends: one per model spec, built on first use and shared by every job and report.

Loading the embedded model takes seconds and a few GB, so the page must not load it per job. The
Adapt page's jobs run ``opsgraft adapt``/``translate`` in-process, and those build their backend
with :func:`opsgraft.commands._common.make_backend`; while the page holds
:data:`opsgraft.commands._common.backend_pool` set to a :class:`BackendPool`, ``make_backend`` asks
the pool for the model instead of loading it (the cheap per-run wrappers, the response cache and
the recorder, are still the run's own). The grid report's backend comes from the same pool.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Hashable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from opsgraft.types import Generation, Message

log = logging.getLogger(__name__)


class SharedBackend:
    """A backend several jobs use in turn; calls are serialized (llama.cpp's model is not thread-safe)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self._lock = threading.Lock()

    def generate(self, messages: Sequence[Message], *args: Any, **kwargs: Any) -> list[Generation]:
        """The wrapped backend's ``generate``, one call at a time."""
        with self._lock:
            out: list[Generation] = self.inner.generate(messages, *args, **kwargs)
            return out

    def count_tokens(self, messages: Sequence[Message]) -> int:
        """The wrapped backend's ``count_tokens``, one call at a time (it may use the same model)."""
        with self._lock:
            return int(self.inner.count_tokens(messages))

    def __getattr__(self, name: str) -> Any:  # name, model, context_window, supports_prefill, ...
        if name == "inner":  # not set yet (copy/unpickle): no recursion
            raise AttributeError(name)
        return getattr(self.inner, name)


class BackendPool:
    """Backends by model spec: ``pool(spec, build)`` builds the spec's backend once and returns it ever after."""

    def __init__(self) -> None:
        self._backends: dict[Hashable, SharedBackend] = {}
        # Held while a backend is built, so that two jobs asking for one spec load it once.
        self._lock = threading.Lock()

    def __call__(self, spec: Hashable, build: Callable[[], Any]) -> SharedBackend:
        with self._lock:
            backend = self._backends.get(spec)
            if backend is None:
                log.info("building the LLM backend for %s", spec)
                backend = self._backends[spec] = SharedBackend(build())
            return backend

    def __len__(self) -> int:
        return len(self._backends)

    @contextmanager
    def active(self) -> Iterator[None]:
        """While inside, ``make_backend`` (in this thread or context) takes its model from this pool."""
        from opsgraft.commands._common import backend_pool

        token = backend_pool.set(self)
        try:
            yield
        finally:
            backend_pool.reset(token)
