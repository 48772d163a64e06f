"""One table of exceptions -> (retry?, hint), applied in one place with exponential backoff."""

from __future__ import annotations

import importlib
import logging
import random
import time
from collections.abc import Callable
from typing import TypeVar

from opsgraft.errors import BackendError, ContextOverflowError

log = logging.getLogger(__name__)
T = TypeVar("T")

# (exception class as "module:Name", retry?, hint for the user). First match wins, so the
# subclasses come before their bases. Named lazily: openai is imported only when used.
RETRY_TABLE: list[tuple[str, bool, str]] = [
    ("openai:RateLimitError", True, "rate limited by the server; wait or lower --n"),
    ("openai:APITimeoutError", True, "the request timed out"),
    ("openai:APIConnectionError", True, "cannot reach the endpoint; is the server running at --base-url?"),
    ("openai:InternalServerError", True, "the server had an internal error"),
    ("openai:AuthenticationError", False, "authentication failed; set the API key variable named by --api-key-env"),
    ("openai:PermissionDeniedError", False, "the API key may not use this model"),
    ("openai:NotFoundError", False, "model or endpoint not found; check --model and --base-url"),
    ("openai:BadRequestError", False, "the server rejected the request"),
    ("builtins:ConnectionError", True, "connection failed"),
    ("builtins:TimeoutError", True, "the request timed out"),
]


def _resolve(spec: str) -> type[BaseException] | None:
    module, _, name = spec.partition(":")
    try:
        cls = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        return None
    return cls if isinstance(cls, type) and issubclass(cls, BaseException) else None


def classify(exc: BaseException) -> tuple[bool, str] | None:
    """(retry?, hint) for an exception listed in the table, else None."""
    for spec, retry, hint in RETRY_TABLE:
        cls = _resolve(spec)
        if cls is not None and isinstance(exc, cls):
            return retry, hint
    return None


def _retry_after(exc: BaseException) -> float | None:
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None) or {}
    try:
        value = headers.get("retry-after")
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def with_retries(
    fn: Callable[[], T],
    *,
    attempts: int = 5,
    base_delay: float = 0.5,
    max_delay: float = 20.0,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Call ``fn``; retry what the table says is transient, turn the rest into BackendError."""
    for attempt in range(1, attempts + 1):
        try:
            return fn()
        except (BackendError, ContextOverflowError):
            raise
        except Exception as exc:
            kind = classify(exc)
            if kind is None:
                raise
            retry, hint = kind
            detail = " ".join(str(exc).split())[:200]
            if not retry or attempt == attempts:
                suffix = f" (after {attempt} attempts)" if retry else ""
                raise BackendError(f"{hint}{suffix}: {detail}") from exc
            delay = _retry_after(exc) or min(max_delay, base_delay * 2 ** (attempt - 1))
            delay *= 1 + random.random() * 0.1
            log.warning("%s; retrying in %.1fs (%d/%d)", hint, delay, attempt, attempts)
            sleep(delay)
    raise AssertionError("unreachable")
