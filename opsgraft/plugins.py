"""The plugin interface: what an installed distribution can add to opsgraft without a core edit.

A plugin is a distribution that declares an entry point in the ``opsgraft`` group::

    [project.entry-points.opsgraft]
    dvclive = "opsgraft_dvclive.plugin:register"

opsgraft loads the group on first use of any registry (:func:`opsgraft.registry._load_entry_points`)
and calls ``register()``, which calls the functions below. Everything they register is remembered
as the plugin's, so a plugin that raises while registering leaves nothing behind, is logged, and
is reported by name in ``opsgraft doctor``. Register lazy ``"module:attr"`` targets where you can,
so that loading the plugin stays cheap (the CLI's ``--help`` loads it).

What a plugin can contribute:

- an adapter (:func:`add_adapter`): its :class:`AdapterSpec` with prompt notes and a docprompt guide
  read from the plugin's own package (``notes="my_pkg:notes.md"``), rag ``lookups``, the
  ``imports`` that mean "already uses it", ``environment`` lines for the prompt's environment
  section, and ``run_start`` for the outline; names the model forgets to import
  (:func:`add_standard_imports`) and repair hints (:func:`add_hint`);
- checkers (:func:`add_checker`, called as ``checker(ctx: CheckContext, **task.checker_args)``; the
  helpers the core checkers share are importable from here: ``run_reason``, ``read_training``...) and
  sandbox hooks (:func:`add_hook_dir`: a folder of ``hook_*.py`` files, see
  ``evaluation/hooks/sitecustomize.py``), and the environment variables its sandbox runs need
  (:func:`add_sandbox_env`);
- corpus tasks and their mutants (:func:`add_task_root`: a folder laid out like ``corpus/tasks``);
- LLM backends (:func:`add_backend`) and retrieval strategies (:func:`add_retriever`).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from opsgraft import registry
from opsgraft.adapters.specs import AdapterSpec
from opsgraft.registry import PluginStatus, plugins

if TYPE_CHECKING:
    from opsgraft.evaluation.checkers.base import Checker

# What a plugin's checker builds on, imported on first access: loading the plugins (which --help
# does) must not import every checker module.
_LAZY = {
    "CheckContext": "opsgraft.evaluation.checkers.base",
    "verdict": "opsgraft.evaluation.checkers.base",
    "run_reason": "opsgraft.evaluation.checkers._evidence",
    "read_jsonl": "opsgraft.evaluation.checkers._evidence",
    "read_training": "opsgraft.evaluation.checkers._training",
    "training_reason": "opsgraft.evaluation.checkers._training",
    "distinct_values": "opsgraft.evaluation.checkers._training",
}

__all__ = [
    "AdapterSpec", "PluginStatus", "add_adapter", "add_backend", "add_checker", "add_hint", "add_hook_dir",
    "add_retriever", "add_sandbox_env", "add_standard_imports", "add_task_root", "plugins", *_LAZY,
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def add_adapter(spec: AdapterSpec) -> AdapterSpec:
    """Register an adapter under ``spec.key`` (``functionality:component``); ``--add`` then offers it."""
    registry.adapters.register(spec.key, spec)
    return spec


def add_checker(name: str, target: Checker | str) -> None:
    """Register a checker (a callable or a lazy ``"module:function"``) under ``name``."""
    registry.checkers.register(name, target)


def add_hook_dir(name: str, folder: Path | str) -> None:
    """Register a folder of sandbox post-import hooks (``hook_*.py`` with ``TARGET`` and ``install``)."""
    registry.hook_dirs.register(name, Path(folder).resolve())  # a Path: a str would be a lazy import target


def add_task_root(name: str, folder: Path | str) -> None:
    """Register a folder of corpus tasks (``<id>/task.yaml``, inputs, ``reference/``, ``mutants/``)."""
    registry.task_roots.register(name, Path(folder).resolve())


def add_sandbox_env(name: str, variables: Mapping[str, str]) -> None:
    """Register environment variables that every sandbox run gets (offline switches, log levels)."""
    registry.sandbox_env.register(name, dict(variables))


def add_standard_imports(name: str, imports: Mapping[str, str]) -> None:
    """Names an answer may use without importing them -> the one import line post-processing puts back
    (``{"Live": "from dvclive import Live"}``); registered under the plugin's ``name``."""
    registry.standard_imports.register(name, dict(imports))


def add_hint(name: str, pattern: str, hint: str) -> None:
    """A repair hint: when ``pattern`` matches the checker's reasons or stderr, the repair prompt says ``hint``."""
    registry.repair_hints.register(name, (pattern, hint))


def add_backend(name: str, target: Callable[..., Any] | str) -> None:
    """Register an LLM backend factory (``--backend NAME``)."""
    registry.backends.register(name, target)


def add_retriever(name: str, target: type | str) -> None:
    """Register a retrieval strategy class (``--strategy NAME``)."""
    registry.retrievers.register(name, target)
