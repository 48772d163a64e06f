"""A tiny in-process checker for repair-loop tests: it passes when the program wrote "ok" to out.txt."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from opsgraft.registry import checkers


def out_ok(name: str) -> Callable[..., Any]:
    """The checker function, reporting under ``name``."""

    def check(ctx, **_kwargs):  # type: ignore[no-untyped-def]
        from opsgraft.evaluation.checkers.base import verdict

        target = Path(ctx.workdir) / "out.txt"
        got = target.read_text() if target.is_file() else None
        return verdict(name, [] if got == "ok" else [f"out.txt holds {got!r}, not 'ok'"])

    return check


@contextmanager
def registered(name: str) -> Iterator[None]:
    """``out_ok(name)`` registered as checker ``name`` while the block runs."""
    import opsgraft.evaluation.checkers  # noqa: F401  (the real ones first, as judge() loads them)

    checkers.register(name)(out_ok(name))
    try:
        yield
    finally:
        checkers._items.pop(name, None)
