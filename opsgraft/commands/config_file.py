"""`opsgraft adapt --config FILE` and `opsgraft translate --config FILE`: the command's choices in a TOML file.

Each key is a long flag of the command without its dashes (``-`` becomes ``_``): ``add``, ``mode``,
``backend``, ``n``, ``temperature``, ``repair``, ``run``, ``out_dir``, ``with`` (a list), ... A flag
given on the command line overrides the file. The file's values become the command's defaults (click's
``default_map``), so they go through the very same option types, ranges and registry choices as the
flags do; what a flag would refuse, the file refuses too, as a one-line ConfigError naming the file and
the key. Relative paths in the file are relative to the file's folder, so the file runs the same from
any working directory. TOML, like the benchmark's configs: comments, no indentation rules, and a reader
in the standard library.

The UI's Adapt page saves its form with :func:`to_file`; ``opsgraft adapt --config FILE`` reruns it.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import click
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from opsgraft.errors import ConfigError

Kind = Literal["adapt", "translate"]

# The file's key -> the click parameter it sets, where the two differ.
PARAM_OF = {"task": "task_id", "backend": "backend_name", "record": "record_to", "run": "run_",
            "timeout": "timeout_s", "with": "with_files", "from": "source", "to": "target", "check_arg": "check_args"}
PATH_KEYS = ("script", "cassette", "record", "out_dir")  # plus every entry of ``with``


class _Choices(BaseModel):
    """What adapt and translate share; None (or absent) leaves the command's default."""

    model_config = ConfigDict(extra="forbid", validate_by_name=True, validate_by_alias=True)

    script: str | None = None
    task: str | None = None
    backend: str | None = None
    model: str | None = None
    base_url: str | None = None
    api_key_env: str | None = None  # the variable's name; keys themselves never go in the file
    cassette: str | None = None
    record: str | None = None
    no_cache: bool | None = None
    context_window: int | None = None
    n: int | None = None
    temperature: float | None = None
    seed: int | None = None
    max_tokens: int | None = None
    top_k: int | None = None
    run: bool | None = None
    repair: int | None = None
    timeout: float | None = None
    device: str | None = None
    with_files: list[str] | None = Field(default=None, alias="with")
    out_dir: str | None = None
    pass_env: list[str] | None = None
    isolation: str | None = None
    no_preserved: bool | None = None
    examples: bool | None = None
    restore: bool | None = None
    outline: bool | None = None
    edit_format: str | None = None


class AdaptChoices(_Choices):
    """The choices of `opsgraft adapt`."""

    add: str | None = None
    mode: str | None = None
    align_examples: bool | None = None
    keep_outputs: bool | None = None


class TranslateChoices(_Choices):
    """The choices of `opsgraft translate`."""

    source: str | None = Field(default=None, alias="from")
    target: str | None = Field(default=None, alias="to")
    strategy: str | None = None
    check_arg: list[str] | None = None


Choices = AdaptChoices | TranslateChoices
MODELS: dict[str, type[_Choices]] = {"adapt": AdaptChoices, "translate": TranslateChoices}


def kind_of(choices: Choices) -> Kind:
    """The command a set of choices is for."""
    return "translate" if isinstance(choices, TranslateChoices) else "adapt"


def file_keys(choices: _Choices) -> dict[str, Any]:
    """The keys that are set, as the file spells them (``with``, ``from``), in the model's order."""
    return choices.model_dump(by_alias=True, exclude_none=True)


def parse_choices(data: dict[str, Any], kind: Kind, where: str = "config") -> Choices:
    """Validate a parsed table; an unknown key or a wrong type is a ConfigError naming the key."""
    model = MODELS[kind]
    try:
        return model.model_validate(data)  # type: ignore[return-value]
    except ValidationError as exc:
        from opsgraft.evaluation.benchmark.config import describe_error

        first = exc.errors()[0]
        if first["type"] == "extra_forbidden" and first["loc"]:
            key = str(first["loc"][0])
            other = "translate" if kind == "adapt" else "adapt"
            if _known(MODELS[other], key):
                raise ConfigError(f"{where}: {key}: a key of 'opsgraft {other}', not of 'opsgraft {kind}'") from None
            raise ConfigError(f"{where}: {key}: unknown key{_suggest(key, model)}") from None
        raise ConfigError(f"{where}: {describe_error(exc)}") from None


def _known(model: type[_Choices], key: str) -> bool:
    return key in {f.alias or name for name, f in model.model_fields.items()}


def _suggest(key: str, model: type[_Choices]) -> str:
    import difflib

    names = sorted(f.alias or name for name, f in model.model_fields.items())
    close = difflib.get_close_matches(key, names, n=1)
    return f" (did you mean {close[0]!r}?)" if close else f" (valid: {', '.join(names)})"


def from_file(path: Path, kind: Kind) -> Choices:
    """The choices a TOML file holds, as written (paths not resolved)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the config ({exc.strerror or exc})") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    return parse_choices(data, kind, str(path))


def kind_of_file(path: Path) -> Kind:
    """Which command a saved file is for: translate when it has a translate-only key, else adapt."""
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError):
        return "adapt"  # from_file then names the problem
    only = {"from", "to", "strategy", "check_arg"}
    return "translate" if only & set(data) else "adapt"


def to_file(choices: Choices) -> str:
    """The TOML text of ``choices``: the keys that are set, one a line, readable back by :func:`from_file`."""
    kind = kind_of(choices)
    lines = [f"# opsgraft {kind} --config FILE (flags given on the command line override these)"]
    for key, value in file_keys(choices).items():
        lines.append(f"{_toml_key(key)} = {_toml_value(value)}")
    return "\n".join(lines) + "\n"


def _toml_key(key: str) -> str:
    return key if key.replace("_", "").isalnum() else json.dumps(key)


def _toml_value(value: Any) -> str:
    # JSON's string escapes (\", \\, \n, \uXXXX) are all valid in a TOML basic string.
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return json.dumps(str(value), ensure_ascii=False)


def resolved(choices: Choices, base: Path) -> dict[str, Any]:
    """The set keys with relative paths made relative to ``base`` (the config file's folder)."""
    data = file_keys(choices)
    for key in PATH_KEYS:
        if key in data and not Path(data[key]).expanduser().is_absolute():
            data[key] = str(base / Path(data[key]).expanduser())
    if "with" in data:
        data["with"] = [p if Path(p).expanduser().is_absolute() else str(base / Path(p).expanduser())
                        for p in data["with"]]
    return data


def default_map(path: Path, kind: Kind, command: click.Command, ctx: click.Context) -> dict[str, Any]:
    """The file as a click ``default_map`` for ``command``, each value checked by its option's type."""
    data = resolved(from_file(path, kind), Path(path).resolve().parent)
    params = {p.name: p for p in command.params}
    out: dict[str, Any] = {}
    for key, value in data.items():
        name = PARAM_OF.get(key, key)
        param = params.get(name)
        if param is None:  # a key the model has but this build's command lacks
            raise ConfigError(f"{path}: {key}: 'opsgraft {kind}' has no such option")
        try:
            param.type_cast_value(ctx, value)
        except click.BadParameter as exc:
            raise ConfigError(f"{path}: {key}: {exc.message}") from None
        out[name] = value
    return out


def config_option(kind: Kind) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``--config FILE``: read before the other options; its values become their defaults."""

    def callback(ctx: click.Context, param: click.Parameter, value: Path | None) -> None:
        if value is None:
            return
        assert ctx.command is not None
        ctx.default_map = {**(ctx.default_map or {}), **default_map(value, kind, ctx.command, ctx)}

    return click.option(
        "--config", "config_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
        is_eager=True, expose_value=False, callback=callback,
        help="A TOML file of this command's choices (keys: the long flags, '-' as '_'; paths relative to the "
             "file); flags given here override it.")


def command_line(path: Path, kind: Kind) -> str:
    """The command that reruns a saved file."""
    import shlex

    return f"opsgraft {kind} --config {shlex.quote(str(path))}"
