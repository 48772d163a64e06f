"""Parameter grids over a ``config:json`` script: open it, expand values, save configs, read metrics.

Pure functions with one-line errors (:class:`~opsgraft.errors.ConfigError`); the Parameters page
and any command use the same refusals. A parameter takes one value or a comma-separated list
(commas inside a JSON list such as ``[64, 32]`` do not split); several lists give their cartesian
product. A ``str`` value cannot contain a comma.
"""

from __future__ import annotations

import itertools
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from opsgraft.adapters.config_params import Param, coerce, merged, read_parameters, validate
from opsgraft.errors import ConfigError, InputError
from opsgraft.ui.security import resolve_under, safe_name, unique_path

MAX_POINTS = 64
MAX_SCRIPT_BYTES = 2_000_000
_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_PAIR = re.compile(rf"(?<![\w.])([A-Za-z_][\w./-]*)\s*[:=]\s*({_NUMBER})(?![\w.])")
_WHOLE = re.compile(rf"^\s*([A-Za-z_][\w./-]*)\s+({_NUMBER})\s*$")
# A counter a training loop prints: "epoch 3", "Step: 120", "Epoch [3/10]", "iter 5/100".
_COUNTER = re.compile(r"(?<![\w.])([A-Za-z_]+)\s*[:=]?\s*\[?(\d+)(?:\s*/\s*\d+)?\]?(?![\w.])")
# Step-like counters are where a value was printed, never a result: a final "epoch 10" is no score, and a
# report must not rank, diff or plot it as one. The singular ones are the x-axis of what follows them;
# the plurals ("epochs: 10") are totals, left out of the metrics too.
STEP_NAMES = frozenset({"epoch", "step", "global_step", "iteration", "iter", "batch", "batch_idx"})
_STEP_TOTALS = frozenset({"epochs", "steps", "global_steps", "iterations", "iters", "batches"})


@dataclass(frozen=True)
class Script:
    """A script under the root with its DEFAULT_CONFIG parameters."""

    path: Path
    rel: str
    params: list[Param]


def open_script(root: Path, rel: str) -> Script:
    """The script ``rel`` under ``root`` and its parameters.

    Raises:
        PathOutsideRootError: ``rel`` leads outside ``root``.
        InputError: not an existing .py file, too big or not UTF-8.
        ConfigError: the script has no DEFAULT_CONFIG (it has not been through config:json).
    """
    path = resolve_under(root, rel)
    if not path.is_file():
        raise InputError(f"no such script: {rel}")
    if path.suffix != ".py":
        raise InputError(f"not a Python script: {rel}")
    if path.stat().st_size > MAX_SCRIPT_BYTES:
        raise InputError(f"script too big: {rel} ({path.stat().st_size} bytes)")
    try:
        source = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise InputError(f"script is not UTF-8: {rel}") from None
    params = read_parameters(source)
    return Script(path, path.relative_to(Path(root).resolve()).as_posix(), params)


def split_values(text: str) -> list[str]:
    """``text`` split on the commas that are not inside brackets or quotes."""
    parts: list[str] = []
    current: list[str] = []
    depth, quote = 0, ""
    for ch in text:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "\"'":
            quote = ch
        elif ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
        elif ch == "," and depth <= 0:
            parts.append("".join(current))
            current = []
            continue
        current.append(ch)
    parts.append("".join(current))
    return parts


def parse_values(param: Param, text: str) -> list[Any]:
    """The values typed for ``param``: one, or a comma-separated list (duplicates dropped).

    Raises:
        ConfigError: an empty grid (only commas), or a value of the wrong type.
    """
    raw = [p.strip() for p in split_values(text)] if param.type != "str" else [p.strip() for p in text.split(",")]
    raw = [p for p in raw if p]
    if not raw:
        raise ConfigError(f"{param.name}: empty grid (no value between the commas in {text!r})")
    values: list[Any] = []
    for item in raw:
        value = coerce(param, item)
        if value not in values:
            values.append(value)
    return values


def expand(params: list[Param], texts: Mapping[str, str], max_points: int = MAX_POINTS) -> list[dict[str, Any]]:
    """Every grid point: the full config (defaults for blank fields) of the cartesian product of the values.

    Raises:
        ConfigError: an unknown parameter, a wrong value, an empty grid, or more than ``max_points``.
    """
    known = {p.name: p for p in params}
    unknown = [k for k in texts if k not in known]
    if unknown:
        raise ConfigError(f"unknown parameter {unknown[0]!r} (known: {', '.join(known) or 'none'})")
    axes: list[tuple[str, list[Any]]] = []
    for param in params:
        text = texts.get(param.name, "")
        if not text.strip():  # blank: the default
            continue
        axes.append((param.name, parse_values(param, text)))
    size = math.prod(len(v) for _, v in axes) if axes else 1
    if size > max_points:
        shape = " x ".join(str(len(v)) for _, v in axes if len(v) > 1)
        raise ConfigError(f"grid of {size} points ({shape}) is over the limit of {max_points}; use fewer values")
    points = []
    for combo in itertools.product(*(values for _, values in axes)):
        values = dict(zip((name for name, _ in axes), combo, strict=True))
        reasons = validate(params, values)
        if reasons:
            raise ConfigError(reasons[0])
        points.append(merged(params, values))
    return points


def varied(points: list[dict[str, Any]]) -> list[str]:
    """The keys whose value differs between grid points, in config order."""
    if not points:
        return []
    return [k for k in points[0] if any(p.get(k) != points[0][k] for p in points[1:])]


def save_config(root: Path, target: str, config: Mapping[str, Any], *, overwrite: bool = False) -> Path:
    """Write ``config`` as JSON to ``target`` under ``root``; an existing file gets a new name unless ``overwrite``.

    Raises:
        PathOutsideRootError: ``target`` leads outside ``root``.
        ConfigError: the target is a folder, or not a .json name.
    """
    text = target.strip()
    folder, _, name = text.rpartition("/")
    name = safe_name(name, default="config.json")
    if not name.endswith(".json"):
        raise ConfigError(f"config file must end in .json: {name}")
    path = resolve_under(root, f"{folder}/{name}" if folder else name)
    if path.is_dir():
        raise ConfigError(f"{text} is a folder")
    path.parent.mkdir(parents=True, exist_ok=True)
    if not overwrite:
        path = unique_path(path)
    path.write_text(json.dumps(dict(config), indent=2) + "\n", encoding="utf-8")
    return path


def _base_name(name: str) -> str:
    """``Train/Epoch`` -> ``epoch``: a printed name as the counter sets spell it."""
    return name.lower().rsplit("/", 1)[-1]


def is_step_name(name: str) -> bool:
    """True for a step-like counter (``epoch``, ``step``, ``iteration``, ``batch``, ``train/global_step``...)."""
    base = _base_name(name)
    return base in STEP_NAMES or base in _STEP_TOTALS


@dataclass
class Printed:
    """What a script printed: each metric's values and, for each value, its step."""

    metrics: dict[str, list[float]]
    # Per metric, the step of each value: the counter (step_name) last printed on or before its line.
    steps: dict[str, list[float]]
    step_name: str = ""  # "" when the script printed no counter: the steps are the print order 0, 1, ...


def parse_printed(stdout: str) -> Printed:
    """The numbers a script printed, by name: ``name: v``, ``name=v`` pairs and ``name v`` lines.

    A name printed again adds a step to its history (an epoch loop's ``loss: ...`` lines). The first
    step-like counter printed (``epoch 3``, ``step=120``; :func:`is_step_name`) is the steps' axis and
    no metric; a value printed before it gets step 0. Non-finite values are dropped (MLflow and JSON
    have no NaN).
    """
    found: dict[str, list[float]] = {}
    at: dict[str, list[float | None]] = {}
    axis, current = "", None
    for line in stdout.splitlines():
        pairs = _PAIR.findall(line)
        if not pairs:
            whole = _WHOLE.match(line)
            pairs = [whole.groups()] if whole else []
        for name, number in [*_COUNTER.findall(line), *pairs]:  # the line's counter applies to all of it
            base = _base_name(name)
            if base in STEP_NAMES:
                axis = axis or base
                if base == axis and math.isfinite(float(number)):
                    current = float(number)
        for name, number in pairs:
            value = float(number)
            if math.isfinite(value) and not is_step_name(name):
                found.setdefault(name, []).append(value)
                at.setdefault(name, []).append(current)
    if not axis:
        steps = {name: [float(i) for i in range(len(values))] for name, values in found.items()}
    else:
        steps = {name: [0.0 if x is None else x for x in xs] for name, xs in at.items()}
    return Printed(found, steps, axis)


def parse_metrics(stdout: str) -> dict[str, list[float]]:
    """The metrics a script printed, by name (:func:`parse_printed`, without the steps)."""
    return parse_printed(stdout).metrics


def find_scripts(root: Path, limit: int = 200, max_depth: int = 4) -> list[str]:
    """Scripts under ``root`` (relative POSIX paths) that define DEFAULT_CONFIG; hidden and venv folders skipped."""
    from opsgraft.adapters.config_params import has_config

    base = Path(root).resolve()
    found: list[str] = []
    skip = {"node_modules", "__pycache__", "site-packages", "venv", "build", "dist"}

    def walk(folder: Path, depth: int) -> None:
        try:
            entries = sorted(folder.iterdir())
        except OSError:
            return
        for entry in entries:
            if len(found) >= limit:
                return
            if entry.name.startswith(".") or entry.name in skip or entry.is_symlink():
                continue
            if entry.is_dir() and depth < max_depth:
                walk(entry, depth + 1)
            elif entry.suffix == ".py" and entry.is_file() and entry.stat().st_size <= MAX_SCRIPT_BYTES:
                try:
                    if has_config(entry.read_text(encoding="utf-8")):
                        found.append(entry.relative_to(base).as_posix())
                except (OSError, UnicodeDecodeError):
                    continue

    walk(base, 0)
    return found
