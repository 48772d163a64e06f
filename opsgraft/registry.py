"""A small generic registry with lazy targets, after lm-evaluation-harness's api/registry."""

from __future__ import annotations

import difflib
import importlib
import logging
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from opsgraft.errors import UnknownComponentError

T = TypeVar("T")
log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "opsgraft"


class Registry(Generic[T]):
    """Maps names to objects, or to ``"module:attr"`` strings that are imported on first use."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T | str] = {}

    def register(self, name: str, target: T | str | None = None) -> Callable[[T], T]:
        """Register ``target`` under ``name``; used bare it is a decorator."""

        def deco(obj: T) -> T:
            if name in self._items and self._items[name] is not obj:
                existing = self._items[name]
                # Re-registering the same lazy target by its real object is fine.
                if not (isinstance(existing, str) and _qualname(obj) == existing):
                    raise ValueError(f"{self.kind} {name!r} is already registered")
            self._items[name] = obj
            return obj

        if target is not None:
            self._items[name] = target
            return lambda obj: obj
        return deco

    def get(self, name: str) -> T:
        """Return the object for ``name``, importing a lazy target if needed."""
        _load_entry_points()
        if name not in self._items:
            raise UnknownComponentError(self._unknown_message(name))
        item = self._items[name]
        if isinstance(item, str):
            module, _, attr = item.partition(":")
            obj: T = getattr(importlib.import_module(module), attr)
            self._items[name] = obj
            return obj
        return item

    def names(self) -> list[str]:
        """All registered names, sorted."""
        _load_entry_points()
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        _load_entry_points()
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def _unknown_message(self, name: str) -> str:
        valid = self.names()
        close = difflib.get_close_matches(name, valid, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        return f"unknown {self.kind} {name!r}.{hint} Valid: {', '.join(valid) or '(none)'}"

    def _clear(self) -> None:
        """Forget everything (tests only)."""
        self._items.clear()


def _qualname(obj: object) -> str:
    return f"{getattr(obj, '__module__', '')}:{getattr(obj, '__qualname__', '')}"


_entry_points_loaded = False


def _load_entry_points() -> None:
    """Import third-party plugins once; each registers itself on import."""
    global _entry_points_loaded
    if _entry_points_loaded:
        return
    _entry_points_loaded = True
    from importlib.metadata import entry_points

    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            ep.load()
        except Exception as exc:  # a broken plugin must not break the core
            log.warning("plugin %s failed to load: %s", ep.name, exc)


backends: Registry = Registry("backend")
retrievers: Registry = Registry("retrieval strategy")
adapters: Registry = Registry("adapter")
checkers: Registry = Registry("checker")
