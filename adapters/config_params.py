"""The parameters of a script adapted with ``config:json``: read its DEFAULT_CONFIG, parse and check values.

The contract of ``config:json``: the adapted script defines a module-level dict literal
``DEFAULT_CONFIG = {...}`` of JSON-compatible literals (the original hard-coded values) and
accepts ``--config PATH``, a JSON object whose keys override the defaults (an unknown key is
an error). This module reads that contract from source, without running the script.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from opsgraft import pyast
from opsgraft.errors import ConfigError

CONFIG_NAME = "DEFAULT_CONFIG"
TYPES = ("int", "float", "str", "bool", "list")
_NO_CONFIG = "script has no config: {why}; run `opsgraft adapt SCRIPT --add config:json` first"


@dataclass(frozen=True)
class Param:
    """One configurable value: its key in DEFAULT_CONFIG, its JSON type and its default."""

    name: str
    type: str  # "int" | "float" | "str" | "bool" | "list"
    default: Any


def type_name(value: Any) -> str:
    """The :data:`TYPES` name of a literal value ('' when it is none of them)."""
    if isinstance(value, bool):  # before int: bool is an int subclass
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "str"
    if isinstance(value, list | tuple):
        return "list"
    return ""


def _config_node(tree: ast.Module) -> ast.expr | None:
    """The value assigned to DEFAULT_CONFIG at module level (the last assignment wins)."""
    found: ast.expr | None = None
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == CONFIG_NAME for t in node.targets
        ):
            found = node.value
        elif (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
              and node.target.id == CONFIG_NAME and node.value is not None):
            found = node.value
    return found


def read_parameters(source: str) -> list[Param]:
    """The parameters of the module-level ``DEFAULT_CONFIG`` dict literal in ``source``, in order.

    Raises:
        ConfigError: the source does not parse, has no DEFAULT_CONFIG, or it is not a dict
            literal of JSON-compatible values with string keys.
    """
    try:
        tree = pyast.parse(source)
    except SyntaxError as exc:
        raise ConfigError(_NO_CONFIG.format(why=f"it does not parse (line {exc.lineno}: {exc.msg})")) from None
    node = _config_node(tree)
    if node is None:
        raise ConfigError(_NO_CONFIG.format(why=f"no module-level {CONFIG_NAME} = {{...}}"))
    try:
        value = ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        raise ConfigError(
            _NO_CONFIG.format(why=f"{CONFIG_NAME} at line {node.lineno} is not a literal")
        ) from None
    if not isinstance(value, dict):
        raise ConfigError(_NO_CONFIG.format(why=f"{CONFIG_NAME} at line {node.lineno} is not a dict"))
    params: list[Param] = []
    for key, default in value.items():
        if not isinstance(key, str):
            raise ConfigError(f"{CONFIG_NAME} key {key!r} is not a string")
        kind = type_name(default)
        if not kind:
            raise ConfigError(f"{CONFIG_NAME}[{key!r}] = {default!r} is not a JSON value (int, float, str, bool, list)")
        params.append(Param(key, kind, list(default) if isinstance(default, tuple) else default))
    return params


def coerce(param: Param, text: str) -> Any:
    """``text`` typed by a user, parsed as ``param``'s type.

    Raises:
        ConfigError: ``text`` is not a value of that type (the message names the key and the reason).
    """
    raw = text.strip()
    bad = ConfigError(f"{param.name}: {text!r} is not {_article(param.type)}")
    if param.type == "str":
        return text
    if param.type == "bool":
        low = raw.lower()
        if low in ("true", "1", "yes", "on"):
            return True
        if low in ("false", "0", "no", "off"):
            return False
        raise bad
    if param.type == "int":
        try:
            return int(raw)
        except ValueError:
            # "1e3" or "2.0" are ints when they are whole numbers
            try:
                number = float(raw)
            except ValueError:
                raise bad from None
            if number.is_integer():
                return int(number)
            raise bad from None
    if param.type == "float":
        try:
            number = float(raw)
        except ValueError:
            raise bad from None
        if number != number or number in (float("inf"), float("-inf")):
            raise ConfigError(f"{param.name}: {text!r} is not a finite float (JSON has no NaN or infinity)")
        return number
    if param.type == "list":
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            raise ConfigError(f"{param.name}: {text!r} is not a JSON list such as [64, 32]") from None
        if not isinstance(value, list):
            raise bad
        return value
    raise ConfigError(f"{param.name}: unknown type {param.type!r}")


def _article(kind: str) -> str:
    return f"an {kind}" if kind == "int" else f"a {kind}"


def _matches(kind: str, value: Any) -> bool:
    if kind == "float":  # JSON writes 1.0 as 1; an int is a fine float
        return isinstance(value, int | float) and not isinstance(value, bool)
    return type_name(value) == kind and not isinstance(value, tuple)


def validate(params: list[Param], values: Mapping[str, Any]) -> list[str]:
    """Why ``values`` is not a valid config for ``params`` (empty when it is): unknown keys, wrong types."""
    known = {p.name: p for p in params}
    reasons: list[str] = []
    for key, value in values.items():
        param = known.get(key)
        if param is None:
            reasons.append(f"unknown key {key!r} (known: {', '.join(known) or 'none'})")
        elif not _matches(param.type, value):
            reasons.append(f"{key}: {value!r} is not {_article(param.type)}")
    return reasons


def merged(params: list[Param], values: Mapping[str, Any]) -> dict[str, Any]:
    """DEFAULT_CONFIG overridden by ``values`` (valid ones; check them with :func:`validate` first)."""
    config = {p.name: p.default for p in params}
    config.update(values)
    return config


def has_config(source: str) -> bool:
    """True when ``source`` already follows the contract: a DEFAULT_CONFIG literal and a ``--config`` option."""
    try:
        read_parameters(source)
        tree = pyast.parse(source)
    except ConfigError:
        return False
    return any(isinstance(n, ast.Constant) and n.value == "--config" for n in ast.walk(tree))
