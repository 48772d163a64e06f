"""The benchmark's TOML config: which tasks, modes, temperatures and models make up the grid.

Validated with pydantic (``extra="forbid"``): a typo is a one-line ConfigError naming the key and
where it is. Command-line flags override the file (:func:`apply_overrides`). Presets ship in
``presets/*.toml``.
"""

from __future__ import annotations

import fnmatch
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from opsgraft.errors import ConfigError, UnknownComponentError
from opsgraft.types import Task

INLINE_MODES = ("zero-shot", "docprompt", "rag")
STRATEGIES = ("docs-search", "llm-search", "llm-docs-search")
MODES = (*INLINE_MODES, *STRATEGIES)
PRESETS = ("smoke", "paper")


def mode_applies(mode: str, kind: str) -> bool:
    """zero-shot applies to every task; docprompt and rag to inline tasks; strategies to translations."""
    if mode == "zero-shot":
        return True
    return (mode in INLINE_MODES) == (kind == "inline")


def task_modes(cfg: BenchConfig, kind: str, model: ModelEntry | None = None) -> list[str]:
    """The modes run on a task of this kind (by ``model``, when it runs only some of them)."""
    if kind == "translate" and cfg.translation_modes is not None:
        modes = [m for m in cfg.translation_modes if mode_applies(m, kind)]
    else:
        modes = [m for m in cfg.modes if mode_applies(m, kind)]
    return [m for m in modes if model is None or model.modes is None or m in model.modes]


def model_repair(cfg: BenchConfig, model: ModelEntry) -> int:
    """The repair rounds ``model`` runs: its own, else the grid's."""
    return cfg.repair if model.repair is None else model.repair


class TaskSelection(BaseModel):
    """Which corpus tasks: ids or globs, narrowed by the listed values of each field (empty: any)."""

    model_config = ConfigDict(extra="forbid")

    ids: list[str] = Field(default_factory=lambda: ["*"])
    exclude: list[str] = Field(default_factory=list)
    functionality: list[str] = Field(default_factory=list)
    component: list[str] = Field(default_factory=list)
    framework: list[str] = Field(default_factory=list)
    kind: list[Literal["inline", "translate"]] = Field(default_factory=list)
    split: list[Literal["tune", "heldout"]] = Field(default_factory=list)


class ModelEntry(BaseModel):
    """One model of the comparison and the backend that serves it."""

    model_config = ConfigDict(extra="forbid")

    name: str = ""
    backend: Literal["local", "openai", "replay"] = "local"
    path: str | None = None  # local: a GGUF file or a known model name (default: the embedded model)
    model: str | None = None  # openai: the served model's name; replay: the model the cassette recorded
    base_url: str | None = None  # openai
    api_key_env: str = "OPENAI_API_KEY"  # openai: the variable holding the key (never the key itself)
    cassette: str | None = None  # replay
    context_window: int | None = Field(default=None, gt=0)
    n_threads: int | None = Field(default=None, gt=0)  # local
    # This model runs only these of the grid's modes (inline and translation ones alike) and this many repair
    # rounds: a cheap baseline row (a small model, zero-shot, no repair) beside the full grid of another.
    modes: list[str] | None = Field(default=None, min_length=1)
    repair: int | None = Field(default=None, ge=0, le=10)


class BenchConfig(BaseModel):
    """The whole grid: models x modes x temperatures, over the selected tasks, n samples each."""

    model_config = ConfigDict(extra="forbid")

    tasks: TaskSelection = Field(default_factory=TaskSelection)
    modes: list[str] = Field(default_factory=lambda: ["zero-shot"], min_length=1)
    # Modes for translation tasks instead of the ones of `modes` that apply to them (zero-shot, strategies).
    translation_modes: list[str] | None = None
    temperatures: list[float] = Field(default_factory=lambda: [0.2], min_length=1)
    n: int = Field(default=3, ge=1, le=20)
    repair: int = Field(default=0, ge=0, le=10)
    seed: int = 0
    max_tokens: int = Field(default=2048, ge=16, le=32768)
    top_k: int = Field(default=5, ge=1, le=20)
    outline: bool | None = None  # prompt knobs, passed to the Workflow when it has them
    callmap: bool | None = None  # translations: the per-statement call map in the outline
    scaffold: bool | None = None  # translations: the answer starts with the tool's imports and helpers
    examples: bool | None = None
    align_examples: bool | None = None  # rename the worked example's names to the script's own
    keep_outputs: bool | None = None  # the outline lists the script's prints and file writes to keep
    edit_format: Literal["whole", "search-replace"] | None = None
    static_check: bool | None = None  # list every certain error of failed code in its repair prompt
    restore: bool | None = None  # a passing sample that dropped prints or files of the original gets one repair
    exact_calls: bool | None = None  # tracking's log calls, HPO's study skeleton, written out in the outline
    models: list[ModelEntry] = Field(default_factory=lambda: [ModelEntry()], min_length=1)


@dataclass(frozen=True)
class Overrides:
    """Command-line flags; None leaves the file's value."""

    tasks: tuple[str, ...] = ()
    modes: tuple[str, ...] = ()
    temperatures: tuple[float, ...] = ()
    n: int | None = None
    repair: int | None = None
    seed: int | None = None
    max_tokens: int | None = None
    models: tuple[str, ...] = ()


def preset_path(name: str) -> Path:
    """The shipped preset file; an unknown name is a one-line error."""
    if name not in PRESETS:
        raise ConfigError(f"unknown preset {name!r} (valid: {', '.join(PRESETS)})")
    return Path(str(resources.files("opsgraft.evaluation.benchmark") / "presets" / f"{name}.toml"))


def load_config(path: Path | None = None, preset: str | None = None) -> tuple[BenchConfig, Path | None]:
    """The config from a file or a preset (or the defaults); returns it and the folder paths are relative to."""
    if path is not None and preset is not None:
        raise ConfigError("give a CONFIG file or --preset, not both")
    if preset is not None:
        path = preset_path(preset)
    if path is None:
        return BenchConfig(), None
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the config ({exc.strerror or exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    return parse_config(data, str(path)), path.parent


def parse_config(data: dict[str, Any], where: str = "config") -> BenchConfig:
    """Validate a parsed TOML table; the first problem is a ConfigError naming the key and its place."""
    try:
        cfg = BenchConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{where}: {describe_error(exc)}") from None
    check_values(cfg, where)
    return cfg


def describe_error(exc: ValidationError) -> str:
    """``models[1].pathh: unknown key`` for pydantic's first error (+ how many more)."""
    first = exc.errors()[0]
    loc = ""
    for part in first["loc"]:
        loc += f"[{part}]" if isinstance(part, int) else (f".{part}" if loc else str(part))
    msg = "unknown key" if first["type"] == "extra_forbidden" else first["msg"]
    more = f" (+{exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return f"{loc or '(top level)'}: {msg}{more}"


def check_values(cfg: BenchConfig, where: str = "config") -> None:
    """Rules pydantic does not express: known modes, temperatures in 0..2, models that can be built."""
    for mode in [*cfg.modes, *(cfg.translation_modes or [])]:
        if mode not in MODES:
            raise ConfigError(f"{where}: modes: unknown mode {mode!r} (valid: {', '.join(MODES)})")
    for t in cfg.temperatures:
        if not 0 <= t <= 2:
            raise ConfigError(f"{where}: temperatures: {t:g} is out of range (0 to 2)")
    names = set()
    for i, m in enumerate(cfg.models):
        if m.backend == "openai" and not m.model:
            raise ConfigError(f"{where}: models[{i}]: backend openai needs 'model' (and usually 'base_url')")
        if m.backend == "replay" and not m.cassette:
            raise ConfigError(f"{where}: models[{i}]: backend replay needs 'cassette'")
        name = model_name(m)
        grid_modes = [*cfg.modes, *(cfg.translation_modes or [])]
        for mode in m.modes or []:
            if mode not in grid_modes:
                raise ConfigError(f"{where}: models[{i}]: modes: {mode!r} is not one of the grid's modes "
                                  f"({', '.join(grid_modes)})")
        if name in names:
            raise ConfigError(f"{where}: models[{i}]: two models are named {name!r}; give each a distinct 'name'")
        names.add(name)


def parse_model_flag(text: str) -> ModelEntry:
    """``--model``: a GGUF path or known name (local), ``replay:CASSETTE`` or ``openai:MODEL@BASE_URL``."""
    kind, sep, rest = text.partition(":")
    if sep and kind == "replay":
        return ModelEntry(backend="replay", cassette=rest)
    if sep and kind == "openai":
        model, _, url = rest.partition("@")
        return ModelEntry(backend="openai", model=model, base_url=url or None)
    return ModelEntry(backend="local", path=text)


def apply_overrides(cfg: BenchConfig, flags: Overrides) -> BenchConfig:
    """The config with the flags that were given put over it, validated again."""
    data = cfg.model_dump()
    if flags.tasks:
        data["tasks"] = {**data["tasks"], "ids": list(flags.tasks)}
    for key in ("modes", "temperatures"):
        if getattr(flags, key):
            data[key] = list(getattr(flags, key))
    for key in ("n", "repair", "seed", "max_tokens"):
        if getattr(flags, key) is not None:
            data[key] = getattr(flags, key)
    if flags.models:
        data["models"] = [parse_model_flag(m).model_dump() for m in flags.models]
    return parse_config(data, "flags")


def model_name(entry: ModelEntry) -> str:
    """The name a model goes by in cells and reports."""
    if entry.name:
        return entry.name
    if entry.backend == "local":
        from opsgraft.config import MODEL_NAME

        return Path(entry.path).stem if entry.path and entry.path.endswith(".gguf") else (entry.path or MODEL_NAME)
    if entry.backend == "openai":
        return str(entry.model)
    from opsgraft.config import MODEL_NAME

    return entry.model or MODEL_NAME


def local_model_file(entry: ModelEntry, base: Path | None = None) -> Path:
    """The GGUF file of a local entry; an unknown name or a missing file is a one-line error."""
    from opsgraft import config

    known = {config.MODEL_NAME: config.model_path(), config.MODEL_FILENAME: config.model_path()}
    models = getattr(config, "MODELS", {})  # the local models opsgraft can assemble, where this build has them
    for name in [*models, *getattr(config, "MODEL_ALIASES", {})]:
        known[name] = config.model_path(name)  # type: ignore[call-arg]
    if entry.path is None or entry.path in known:
        path = known.get(entry.path or config.MODEL_NAME, config.model_path())
        if not path.is_file():
            raise ConfigError(f"model {model_name(entry)!r}: not installed at {path} "
                              f"(run 'opsgraft model install{'' if entry.path is None else ' --model ' + entry.path}')")
        return path
    path = Path(entry.path).expanduser()
    if not path.is_absolute() and base is not None and not path.exists():
        path = base / path
    if not path.is_file():
        if not entry.path.endswith(".gguf") and "/" not in entry.path:
            names = ", ".join(k for k in known if not k.endswith(".gguf"))
            raise ConfigError(f"unknown model {entry.path!r} (known: {names}; or give a .gguf path)")
        raise ConfigError(f"model file not found: {path}")
    return path


def resolve_path(text: str, base: Path | None) -> Path:
    """A config path: as given when it exists (or is absolute), else relative to the config file."""
    path = Path(text).expanduser()
    if path.is_absolute() or path.exists() or base is None:
        return path
    return base / path


def select_tasks(sel: TaskSelection, tasks_dir: Path | None = None) -> list[Task]:
    """The selected corpus tasks, sorted by id; an id that matches no task is a one-line error.

    Ablation tasks are never selected: opsgraft has no ablation adapter.
    """
    from opsgraft.evaluation.corpus import load_corpus, load_task

    corpus = [t for t in load_corpus(tasks_dir) if t.kind != "ablation"]
    chosen: dict[str, Task] = {}
    for pattern in sel.ids:
        if any(c in pattern for c in "*?["):
            hits = [t for t in corpus if fnmatch.fnmatchcase(t.id, pattern)]
            if not hits:
                raise UnknownComponentError(f"tasks: {pattern!r} matches no corpus task")
        else:
            task = load_task(pattern, tasks_dir)  # unknown id: did-you-mean error
            if task.kind == "ablation":
                raise ConfigError(f"tasks: {pattern} is an ablation task; opsgraft has no ablation adapter")
            hits = [task]
        chosen.update({t.id: t for t in hits})
    fields: dict[str, list[str]] = {"functionality": sel.functionality, "component": sel.component, "framework": sel.framework,
              "kind": list(sel.kind), "split": list(sel.split)}
    out = []
    for task in sorted(chosen.values(), key=lambda t: t.id):
        if any(fnmatch.fnmatchcase(task.id, p) for p in sel.exclude):
            continue
        if all(not wanted or getattr(task, key) in wanted for key, wanted in fields.items()):
            out.append(task)
    if not out:
        raise ConfigError("tasks: the selection matches no task")
    return out
