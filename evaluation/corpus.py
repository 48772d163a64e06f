"""Load the benchmark corpus: ``corpus/tasks/<id>/task.yaml`` plus inputs, ``reference/`` and ``mutants/``.

The corpus ships as package data of ``opsgraft.corpus`` and is found through ``importlib.resources``.
A task spec is validated with pydantic (unknown keys are errors) and turned into the frozen
:class:`opsgraft.types.Task`; ``Task.root`` is the task's folder.
"""

from __future__ import annotations

import difflib
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from opsgraft.errors import ConfigError, UnknownComponentError
from opsgraft.evaluation.sandbox import safe_relative
from opsgraft.types import Task

TASK_FILE = "task.yaml"
REFERENCE_DIR = "reference"
MUTANTS_DIR = "mutants"
COMPONENT_PATTERN = r"^[a-z0-9][a-z0-9._-]*$"


class TaskSpec(BaseModel):
    """The schema of ``task.yaml``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1, pattern=r"^[a-z0-9][a-z0-9._-]*$")
    kind: Literal["inline", "translate", "ablation"]
    functionality: Literal["tracking", "registration", "hpo", "pruning", "config", "translation", "ablation"]
    # Any component name: a plugin's tasks bring their own (the adapter and checker they name must exist
    # when the task is used; tests/evaluation/test_corpus.py checks the shipped ones).
    component: str = Field(min_length=1, pattern=COMPONENT_PATTERN)
    source_component: str = Field(default="", pattern=r"^$|" + COMPONENT_PATTERN)
    framework: Literal["sklearn", "lightning", "keras", "pytorch", "none"]
    instruction: str = Field(min_length=1)
    entry: str
    files: list[str] = Field(min_length=1)
    setup: Literal["none", "git-repo"] = "none"
    timeout_s: float = Field(default=60.0, gt=0)
    checker: str = Field(min_length=1)
    checker_args: dict[str, Any] = Field(default_factory=dict)
    # The frozen tuning/held-out split (issue 16): prompt, hint and retrieval changes are judged on
    # the held-out half. Every shipped task declares one (tests/evaluation/test_corpus.py).
    split: Literal["", "tune", "heldout"] = ""
    # Parent environment variables the program needs beyond the sandbox's allowlist (names only).
    pass_env: list[str] = Field(default_factory=list)

    @field_validator("files")
    @classmethod
    def _relative_files(cls, files: list[str]) -> list[str]:
        for name in files:
            safe_relative(name)
        if len(set(files)) != len(files):
            raise ValueError("files are listed twice")
        return files

    def inconsistency(self) -> tuple[str, str] | None:
        """(field, problem) for rules that span fields, else None."""
        if self.entry not in self.files:
            return "entry", f"{self.entry!r} must be one of files {self.files}"
        if (self.kind == "translate") != bool(self.source_component):
            return "source_component", "required for kind translate, and only for it"
        return None


def corpus_tasks_dir() -> Path:
    """The folder of the shipped corpus tasks."""
    return Path(str(resources.files("opsgraft.corpus") / "tasks"))


def task_roots() -> list[Path]:
    """The shipped tasks folder, then each installed plugin's (``opsgraft.plugins.add_task_root``)."""
    from opsgraft.registry import task_roots as plugin_roots

    return [corpus_tasks_dir(), *(Path(str(plugin_roots.get(name))) for name in plugin_roots.names())]


def load_task_dir(path: Path | str) -> Task:
    """Load and validate one task folder; a bad spec is a ConfigError naming the file and field."""
    folder = Path(path)
    spec_file = folder / TASK_FILE
    try:
        data = yaml.safe_load(spec_file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{spec_file}: cannot read task spec ({exc.strerror or exc})") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{spec_file}: not valid YAML ({' '.join(str(exc).split())})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{spec_file}: expected a mapping of fields, got {type(data).__name__}")
    try:
        spec = TaskSpec.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(spec)"
        more = f" (+{exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise ConfigError(f"{spec_file}: field {where}: {first['msg']}{more}") from None
    problem = spec.inconsistency()
    if problem is not None:
        raise ConfigError(f"{spec_file}: field {problem[0]}: {problem[1]}")
    if spec.id != folder.name:
        raise ConfigError(f"{spec_file}: field id: {spec.id!r} must equal the folder name {folder.name!r}")
    for name in spec.files:
        if not (folder / name).is_file():
            raise ConfigError(f"{spec_file}: field files: {name!r} does not exist in {folder}")
    return Task(
        id=spec.id,
        kind=spec.kind,
        functionality=spec.functionality,
        component=spec.component,
        framework=spec.framework,
        instruction=spec.instruction.strip(),
        entry=spec.entry,
        files=tuple(spec.files),
        checker=spec.checker,
        checker_args=dict(spec.checker_args),
        source_component=spec.source_component,
        setup=spec.setup,
        timeout_s=spec.timeout_s,
        root=str(folder.resolve()),
        split=spec.split,
        pass_env=tuple(spec.pass_env),
    )


def task_dirs(tasks_dir: Path | None = None) -> list[Path]:
    """Folders that hold a task.yaml, sorted by name: under ``tasks_dir``, or under the shipped corpus
    and every plugin's task root (a task id is unique across them: the first root wins)."""
    bases = [Path(tasks_dir)] if tasks_dir is not None else task_roots()
    found: dict[str, Path] = {}
    for base in bases:
        if base.is_dir():
            for p in base.iterdir():
                if p.is_dir() and (p / TASK_FILE).is_file():
                    found.setdefault(p.name, p)
    return [found[name] for name in sorted(found)]


def load_corpus(tasks_dir: Path | None = None) -> list[Task]:
    """Every task of the corpus and the installed plugins (or of ``tasks_dir``), sorted by id."""
    return [load_task_dir(p) for p in task_dirs(tasks_dir)]


def load_task(task_id: str, tasks_dir: Path | None = None) -> Task:
    """One task by id; an unknown id raises UnknownComponentError with a did-you-mean hint."""
    bases = [Path(tasks_dir)] if tasks_dir is not None else task_roots()
    for base in bases:
        folder = base / task_id
        if task_id and "/" not in task_id and (folder / TASK_FILE).is_file():
            return load_task_dir(folder)
    known = [p.name for p in task_dirs(tasks_dir)]
    close = difflib.get_close_matches(task_id, known, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    where = bases[0] if len(bases) == 1 else f"{bases[0]} or a plugin's tasks"
    raise UnknownComponentError(f"unknown task {task_id!r} in {where}.{hint} ({len(known)} tasks)")


def input_files(task: Task) -> dict[str, str]:
    """The task's input files, by relative name."""
    root = Path(task.root)
    return {name: _read(root / name) for name in task.files}


def reference_files(task: Task) -> dict[str, str]:
    """The files the reference solution overlays on the inputs."""
    return _read_tree(Path(task.root) / REFERENCE_DIR)


def mutant_files(task: Task) -> dict[str, dict[str, str]]:
    """Each mutant's overlay files, by mutant name (sorted)."""
    base = Path(task.root) / MUTANTS_DIR
    if not base.is_dir():
        return {}
    return {p.name: _read_tree(p) for p in sorted(base.iterdir()) if p.is_dir()}


def _read_tree(folder: Path) -> dict[str, str]:
    if not folder.is_dir():
        return {}
    return {
        p.relative_to(folder).as_posix(): _read(p)
        for p in sorted(folder.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts
    }


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text; corpus files must be text") from None
