"""A small generic registry with lazy targets, after lm-evaluation-harness's api/registry."""

from __future__ import annotations

import difflib
import importlib
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
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
        self._owners: dict[str, str] = {}  # name -> the plugin (entry point) that registered it
        _ALL.append(self)

    def register(self, name: str, target: T | str | None = None) -> Callable[[T], T]:
        """Register ``target`` under ``name``; used bare it is a decorator."""

        def deco(obj: T) -> T:
            if name in self._items and self._items[name] is not obj:
                existing = self._items[name]
                # Re-registering the same lazy target by its real object is fine.
                if not (isinstance(existing, str) and _qualname(obj) == existing):
                    raise ValueError(f"{self.kind} {name!r} is already registered")
            self._items[name] = obj
            self._own(name)
            return obj

        if target is not None:
            if _loading is not None and name in self._items and self._items[name] is not target:
                # A plugin must not silently replace what the core or another plugin registered.
                raise ValueError(f"{self.kind} {name!r} is already registered")
            self._items[name] = target
            self._own(name)
            return lambda obj: obj
        return deco

    def _own(self, name: str) -> None:
        if _loading is not None:
            self._owners[name] = _loading

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

    def owner(self, name: str) -> str:
        """The plugin that registered ``name`` ('' for the core)."""
        return self._owners.get(name, "")

    def _clear(self) -> None:
        """Forget everything (tests only)."""
        self._items.clear()
        self._owners.clear()

    def _drop_plugins(self) -> None:
        for name in list(self._owners):
            self._items.pop(name, None)
        self._owners.clear()


def _qualname(obj: object) -> str:
    return f"{getattr(obj, '__module__', '')}:{getattr(obj, '__qualname__', '')}"


_ALL: list[Registry] = []  # every registry, so that plugin registrations can be dropped together
_entry_points_loaded = False
_loading: str | None = None  # the entry point being loaded: registrations made now belong to it


@dataclass(frozen=True)
class PluginStatus:
    """One entry point of the ``opsgraft`` group and what loading it did."""

    name: str
    value: str  # "module" or "module:function"
    distribution: str
    error: str = ""  # why it failed to load; '' when it loaded

    @property
    def ok(self) -> bool:
        return not self.error


_plugins: list[PluginStatus] = []


def _load_entry_points() -> None:
    """Load the installed plugins once: each entry point is imported and, if it names a callable,
    that callable is called with no arguments to register what the plugin contributes.

    A plugin that fails (its import or its registration raises) is logged, remembered with its
    error for ``opsgraft doctor`` (:func:`plugins`), and what it registered before failing is
    dropped: opsgraft keeps working without it.
    """
    global _entry_points_loaded, _loading
    if _entry_points_loaded:
        return
    _entry_points_loaded = True
    from importlib.metadata import entry_points

    for ep in entry_points(group=ENTRY_POINT_GROUP):
        dist = getattr(getattr(ep, "dist", None), "name", "") or ""
        _loading = ep.name
        try:
            obj = ep.load()
            if callable(obj):
                obj()
        except Exception as exc:  # a broken plugin must not break the core
            log.warning("plugin %s (%s) failed to load: %s: %s", ep.name, ep.value, type(exc).__name__, exc)
            _drop_owned(ep.name)
            _plugins.append(PluginStatus(ep.name, ep.value, dist, f"{type(exc).__name__}: {exc}"))
        else:
            _plugins.append(PluginStatus(ep.name, ep.value, dist))
        finally:
            _loading = None


def _drop_owned(plugin: str) -> None:
    for reg in _ALL:
        for name in [n for n, owner in reg._owners.items() if owner == plugin]:
            reg._items.pop(name, None)
            del reg._owners[name]


def plugins() -> list[PluginStatus]:
    """The entry points of the ``opsgraft`` group found at load time, broken ones included."""
    _load_entry_points()
    return list(_plugins)


def reset_plugins() -> None:
    """Drop everything plugins registered and load the entry points again on next use (tests)."""
    global _entry_points_loaded
    for reg in _ALL:
        reg._drop_plugins()
    _plugins.clear()
    _entry_points_loaded = False


backends: Registry = Registry("backend")
retrievers: Registry = Registry("retrieval strategy")
adapters: Registry = Registry("adapter")
checkers: Registry = Registry("checker")
# What plugins contribute beyond the four above (the core registers nothing in these):
hook_dirs: Registry = Registry("sandbox hook folder")  # name -> folder of hook_*.py files (hooks/sitecustomize.py)
task_roots: Registry = Registry("corpus task root")  # name -> folder of task folders (evaluation/corpus.py)
sandbox_env: Registry = Registry("sandbox environment")  # name -> {VAR: value} every sandbox run gets
standard_imports: Registry = Registry("standard imports")  # name -> {bare name: its one import line} (postprocess)
repair_hints: Registry = Registry("repair hint")  # name -> (pattern, hint), after adapters/hints.HINTS
