"""``config-json``: the script's hyperparameters come from DEFAULT_CONFIG, overridden by ``--config PATH``.

The contract (adapters/config_params.py): a module-level dict literal ``DEFAULT_CONFIG`` holding the
original hard-coded values, and ``--config PATH`` whose JSON object overrides them (an unknown key
is an error). Evidence is what the training used, as the sandbox hooks recorded it (fit.jsonl:
sklearn ``get_params``, Keras fit ``epochs``/``batch_size``/optimizer/layer config, Lightning
hparams; torch.jsonl: the optimizer's ``lr``... and the trained model's layer sizes), never what the
script prints. Three more runs besides the sample's own (run 1, no ``--config``):

- the original input, once per input (cached like the ``preserved`` baseline): run 1's settings
  must equal the original's wherever both recorded a setting;
- run 2 with a config file that changes two observable params (a default that run 1's evidence
  shows in a setting, name-matched first; floats halved, ints plus one): those settings must
  now hold the new values. Epochs or batch size of a plain torch loop show in no setting: for
  them the count of optimizer steps must change;
- run 3 with an unknown key: the script must exit non-zero.

``keys`` (checker_args) names the params to change; ``values`` gives their new values.
"""

from __future__ import annotations

import fcntl
import json
import re
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from opsgraft.adapters.config_params import CONFIG_NAME, Param, read_parameters
from opsgraft.errors import ConfigError
from opsgraft.evaluation import sandbox
from opsgraft.evaluation.checkers._evidence import read_jsonl, run_reason
from opsgraft.evaluation.checkers.base import CheckContext, verdict
from opsgraft.evaluation.checkers.optuna_study import _observations, names_match, same_value
from opsgraft.registry import checkers
from opsgraft.types import ExecutionResult, Task, Verdict

NAME = "config-json"
FORMAT = 2  # of the cached original settings (2: with the optimizer step counts)
CONFIG_FILE = "opsgraft_check_config.json"
RUNNER = "opsgraft_check_runner.py"
UNKNOWN_KEY = "opsgraft_unknown_key"
_WEAK = (0, 1, -1)  # values too common to trace without a matching name
# Not a setting: how many steps each torch optimizer took (hook_torch's exit lines). Epochs and batch
# size of a plain torch loop show nowhere else, but changing them changes this count.
STEPS = "torch:optimizer_steps"
_COUNTS = re.compile(r"epoch|batch|step|iter", re.IGNORECASE)
_SHOWN = 3
_RUNNER = """import os, runpy, sys
entry = {entry!r}
sys.argv = [entry, "--config", {config!r}]
sys.path.insert(0, os.path.dirname(os.path.abspath(entry)))
runpy.run_path(entry, run_name="__main__")
"""

Settings = dict[str, list[Any]]


def read_settings(evidence_dir: Path) -> Settings:
    """Every setting the hooks recorded for a training, as ``framework:name -> values`` (in order)."""
    out: Settings = {}
    for obs in _observations(evidence_dir):
        for key, value in obs["settings"]:
            if isinstance(value, bool | int | float | str):
                out.setdefault(key, []).append(value)
    for event in read_jsonl(evidence_dir / "torch.jsonl"):
        if event.get("event") == "exit" and isinstance(event.get("steps"), int):
            out.setdefault(STEPS, []).append(event["steps"])
    return out


def _short(key: str) -> str:
    return key.split(":", 1)[-1]


def _show(value: Any) -> str:
    """A value for a reason: floats to 6 significant digits (Keras keeps float32: 0.004999999888)."""
    if isinstance(value, list):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    return repr(float(f"{value:.6g}")) if isinstance(value, float) else repr(value)


def _holds(values: Sequence[Any], value: Any) -> bool:
    return any(same_value(value, v) for v in values)


def channels(param: Param, settings: Settings) -> list[str]:
    """The settings of run 1 that hold ``param``'s default: name-matched ones, else value-only ones;
    for an int named like epochs or batch size that no setting holds, the optimizer step count."""
    if param.type not in ("int", "float", "str"):
        return []
    holding = [k for k, vs in settings.items() if k != STEPS and _holds(vs, param.default)]
    named = [k for k in holding if names_match(param.name, k)]
    if named:
        return named
    if holding and param.type != "str" and param.default not in _WEAK:
        return holding
    if param.type == "int" and _COUNTS.search(param.name) and STEPS in settings:
        return [STEPS]
    return []


def new_value(param: Param) -> Any:
    """The changed value run 2 uses: a float halved, an int plus one."""
    if param.type == "float":
        return param.default * 0.5 if param.default else 0.5
    if param.type == "int":
        return param.default + 1
    raise ConfigError(f"{param.name}: no automatic new value for a {param.type}; give one in checker_args values")


def pick(params: list[Param], settings: Settings, keys: Sequence[str] = (), count: int = 2) -> list[tuple[Param, list[str]]]:
    """Up to ``count`` observable params with their channels: the named ``keys``, else name-matched first.

    A setting that holds the defaults of two params by value only (``hidden`` and ``batch_size`` both
    32, seen as ``out_features=32``) cannot say which one it carries: it is nobody's channel.
    """
    found = [(p, channels(p, settings)) for p in params]
    claims: dict[str, int] = {}
    for param, chans in found:
        if not any(names_match(param.name, k) for k in chans):
            for key in chans:
                claims[key] = claims.get(key, 0) + 1
    found = [(p, ch if any(names_match(p.name, k) for k in ch) or ch == [STEPS] else [k for k in ch if claims[k] == 1])
             for p, ch in found]
    if keys:
        return [(p, ch) for p, ch in found if p.name in keys]
    usable = [(p, ch) for p, ch in found if ch]
    usable.sort(key=lambda pc: (not any(names_match(pc[0].name, k) for k in pc[1]), pc[1] == [STEPS], len(pc[1])))
    chosen: list[tuple[Param, list[str]]] = []
    for param, chans in usable:
        # Two params seen through the same setting could not be told apart.
        if all(not set(chans) & set(c) for _, c in chosen):
            chosen.append((param, chans))
        if len(chosen) == count:
            break
    return chosen


@dataclass(frozen=True)
class Run:
    """One extra run of the checker: how it ended and the settings its training used."""

    result: ExecutionResult
    settings: Settings


def _run(files: Mapping[str, str], entry: str, ctx: CheckContext, config: dict[str, Any] | None) -> Run:
    """Run ``entry`` in a fresh sandbox root (with ``--config`` when ``config`` is given); the root is removed."""
    from opsgraft.evaluation.evaluator import sandbox_base

    files = dict(files)
    if config is not None:
        files[CONFIG_FILE] = json.dumps(config)
        files[RUNNER] = _RUNNER.format(entry=entry, config=CONFIG_FILE)
        entry = RUNNER
    root = Path(tempfile.mkdtemp(prefix="opsgraft-config-json-", dir=sandbox_base()))
    device = ctx.env.get("OPSGRAFT_DEVICE", "cpu")
    threads = ctx.env.get("OMP_NUM_THREADS")
    run = sandbox.run_program(
        files, entry, root=root, timeout_s=ctx.task.timeout_s, setup=ctx.task.setup, device=device,
        cuda_devices=ctx.env.get("CUDA_VISIBLE_DEVICES") or None, isolation="auto",
        threads=int(threads) if threads and threads.isdigit() else None, pass_env=ctx.task.pass_env,
    )
    try:
        return Run(run.result, read_settings(sandbox.evidence_dir(root)))
    finally:
        shutil.rmtree(root, ignore_errors=True)


def original_settings(task: Task, ctx: CheckContext) -> tuple[str, Settings]:
    """(status, settings) of the original input's run: cached per input, device and opsgraft version."""
    from opsgraft.config import cache_dir
    from opsgraft.evaluation.corpus import input_files
    from opsgraft.evaluation.preserved import cache_key

    inputs = input_files(task)
    key = cache_key(task, inputs, ctx.env.get("OPSGRAFT_DEVICE", "cpu"))
    folder = cache_dir() / "config-json"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{key}.json"
    with (folder / f"{key}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if data.get("format") == FORMAT:
                return str(data["status"]), dict(data["settings"])
        except (OSError, ValueError, KeyError, TypeError):
            pass
        run = _run(inputs, task.entry, ctx, None)
        status, settings = run.result.status, run.settings
        if status in ("passed", "failed"):
            path.write_text(json.dumps({"format": FORMAT, "status": status, "settings": settings}), encoding="utf-8")
        return status, settings


def differences(original: Settings, run1: Settings) -> list[str]:
    """Settings recorded by both runs whose values differ, as ``name=run1 (original: x)``."""
    out = []
    for key in original:
        if key not in run1:
            continue
        a, b = original[key], run1[key]
        if not all(_holds(b, v) for v in a) or not all(_holds(a, v) for v in b):
            shown = b[0] if len(b) == 1 else b[:4]
            was = a[0] if len(a) == 1 else a[:4]
            out.append(f"{_short(key)}={_show(shown)} (original: {_show(was)})")
    return out


@checkers.register(NAME)
def check_config_json(ctx: CheckContext, keys: Sequence[str] = (), values: Mapping[str, Any] | None = None,
                      unknown_key: bool = True) -> Verdict:
    """Pass when the run without a config trains as the original and a config's values reach training."""
    reason = run_reason(ctx)
    if reason:
        return verdict(NAME, [reason])
    source = ctx.files.get(ctx.task.entry, "")
    try:
        params = read_parameters(source)
    except ConfigError as exc:
        return verdict(NAME, [f"no {CONFIG_NAME}: {exc}"])
    evidence: dict[str, Any] = {"params": {p.name: p.default for p in params}}
    run1 = read_settings(ctx.evidence_dir)
    if not run1:
        return verdict(NAME, ["no training setting was recorded (no sklearn fit, Keras Model.fit, Lightning "
                              "Trainer.fit or torch optimizer step was observed)"], evidence)
    unknown = sorted(set(keys) - {p.name for p in params})
    if unknown:
        return verdict(NAME, [f"{CONFIG_NAME} has no key {', '.join(map(repr, unknown))} (checker_args keys)"],
                       evidence)
    chosen = pick(params, run1, keys)
    if not chosen or not all(ch for _, ch in chosen):
        shown = ", ".join(f"{p.name}={p.default!r}" for p in params[:6]) or "no values"
        return verdict(NAME, [f"no {CONFIG_NAME} value reached the training with no --config ({shown}; "
                              f"the training used {', '.join(f'{_short(k)}={v[0]!r}' for k, v in list(run1.items())[:6])})"],
                       evidence)
    status, original = original_settings(ctx.task, ctx)
    evidence["original_status"] = status
    if status == "passed":
        diffs = differences(original, run1)
        if diffs:
            return verdict(NAME, ["the run with no config differs from the original: " + "; ".join(diffs[:_SHOWN])],
                           evidence)
    try:
        change = {p.name: (values or {}).get(p.name, new_value(p)) for p, _ in chosen}
    except ConfigError as exc:
        return verdict(NAME, [str(exc)], evidence)
    evidence["changed"] = change
    run2 = _run(ctx.files, ctx.task.entry, ctx, change)
    if run2.result.status != "passed":
        last = [ln for ln in run2.result.stderr_tail.splitlines() if ln.strip()][-1:] or [run2.result.status]
        return verdict(NAME, [f"the run with --config {json.dumps(change)} failed: {last[0][:200]}"], evidence)
    settings2 = run2.settings
    problems = []
    for param, chans in chosen:
        want = change[param.name]
        if chans == [STEPS]:
            if settings2.get(STEPS) != run1.get(STEPS):
                continue
            problems.append(f"config value {param.name}={want!r} never reached the training (the optimizer took "
                            f"{settings2.get(STEPS, ['no'])[0]} steps, as with {param.name}={param.default!r})")
            continue
        if any(_holds(settings2.get(k, []), want) for k in chans):
            continue
        seen = next((settings2[k] for k in chans if k in settings2), None)
        had = f"it trained with {_short(chans[0])}={_show(seen[0])}" if seen else f"no {_short(chans[0])} was recorded"
        problems.append(f"config value {param.name}={want!r} never reached the training ({had})")
    if problems:
        return verdict(NAME, problems, evidence)
    if unknown_key:
        run3 = _run(ctx.files, ctx.task.entry, ctx, {UNKNOWN_KEY: 1})
        if run3.result.status == "passed":
            return verdict(NAME, [f"a config with the unknown key {UNKNOWN_KEY!r} was accepted (exit 0); an unknown "
                                  "key must be an error"], evidence)
    evidence["channels"] = {p.name: [_short(k) for k in ch] for p, ch in chosen}
    return verdict(NAME, [], evidence)
