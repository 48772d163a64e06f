"""``wandb-run``: an offline W&B run on disk with a config and a history logged from training.

The sandbox runs programs with ``WANDB_MODE=offline`` and ``WANDB_DIR=<workdir>``, so a run
leaves ``<workdir>/wandb/offline-run-*/run-*.wandb``: a LevelDB-style log of protobuf
``Record`` messages. wandb >= 0.2x reads these files in its Go core only, so the log framing
is parsed here and each record is decoded with wandb's own ``wandb_internal_pb2.Record``.
The history rows' ``_timestamp`` is checked against what the sandbox hooks saw train
(``_training``): the rows must be logged no earlier than training began.
"""

from __future__ import annotations

import json
import logging
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from opsgraft.errors import OpsgraftError
from opsgraft.evaluation.checkers._evidence import run_reason
from opsgraft.evaluation.checkers._training import Training, distinct_values, read_training, training_reason
from opsgraft.evaluation.checkers.base import CheckContext, verdict
from opsgraft.evaluation.checkers.mlflow_tracking import files_imports
from opsgraft.registry import checkers
from opsgraft.types import Verdict

log = logging.getLogger(__name__)

NAME = "wandb-run"

# LevelDB log framing (leveldb doc/log_format.md), with W&B's 7-byte file header in front.
_BLOCK = 32768
_HEADER = 7
_IDENT = b":W&B"
_MAGIC = 0xBEE1
_FULL, _FIRST, _MIDDLE, _LAST = 1, 2, 3, 4


class WandbFileError(OpsgraftError):
    """A .wandb file that is not a W&B transaction log."""


def _frames(data: bytes) -> Iterator[bytes]:
    """Yield the payloads of the log's records; a truncated tail (crashed writer) ends the scan."""
    if len(data) < _HEADER:
        raise WandbFileError("file too short for a W&B header")
    ident, magic, _version = struct.unpack("<4sHB", data[:_HEADER])
    if ident != _IDENT or magic != _MAGIC:
        raise WandbFileError("missing the :W&B header")
    pos, parts = _HEADER, bytearray()
    while pos + _HEADER <= len(data):
        left_in_block = _BLOCK - pos % _BLOCK
        if left_in_block < _HEADER:  # the zero trailer of a block
            pos += left_in_block
            continue
        checksum, length, kind = struct.unpack("<IHB", data[pos : pos + _HEADER])
        if kind == 0 and length == 0:  # zero padding written ahead of a flush
            pos += left_in_block
            continue
        payload = data[pos + _HEADER : pos + _HEADER + length]
        if len(payload) < length:
            log.debug("truncated record at offset %d", pos)
            return
        expected = zlib.crc32(payload, zlib.crc32(bytes([kind]))) & 0xFFFFFFFF
        if expected != checksum:
            log.debug("bad checksum at offset %d", pos)
            return
        pos += _HEADER + length
        if kind == _FULL:
            yield bytes(payload)
        elif kind == _FIRST:
            parts = bytearray(payload)
        elif kind == _MIDDLE:
            parts += payload
        elif kind == _LAST:
            parts += payload
            yield bytes(parts)
            parts = bytearray()


@dataclass
class WandbRun:
    """What one offline run file says: config keys, history rows, exit code."""

    path: str
    run_id: str = ""
    config: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    summary_keys: set[str] = field(default_factory=set)
    exit_code: int | None = None

    @property
    def steps(self) -> list[int]:
        """The distinct ``_step`` values of the history rows, in order."""
        return sorted({int(row["_step"]) for row in self.history if "_step" in row})


def _key(item: Any) -> str:
    return "/".join(item.nested_key) if item.nested_key else item.key


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def read_run(path: Path) -> WandbRun:
    """Decode a ``run-*.wandb`` file with wandb's protobuf messages."""
    from wandb.proto import wandb_internal_pb2 as pb

    run = WandbRun(path=str(path))
    for payload in _frames(path.read_bytes()):
        rec = pb.Record()  # type: ignore[attr-defined]
        try:
            rec.ParseFromString(payload)
        except Exception:  # a record from a newer schema; the rest of the log is still useful
            continue
        kind = rec.WhichOneof("record_type")
        if kind == "run":
            run.run_id = rec.run.run_id
            for item in rec.run.config.update:
                run.config[_key(item)] = _json(item.value_json)
        elif kind == "config":
            for item in rec.config.update:
                run.config[_key(item)] = _json(item.value_json)
            for item in rec.config.remove:
                run.config.pop(_key(item), None)
        elif kind == "history":
            row = {_key(item): _json(item.value_json) for item in rec.history.item}
            if rec.history.HasField("step") and "_step" not in row:
                row["_step"] = rec.history.step.num
            run.history.append(row)
        elif kind == "summary":
            run.summary_keys |= {_key(item) for item in rec.summary.update}
        elif kind == "exit":
            run.exit_code = rec.exit.exit_code
    return run


def find_run_files(workdir: Path) -> list[Path]:
    """The offline run logs under ``workdir``, newest first."""
    files = [p for p in workdir.glob("**/offline-run-*/run-*.wandb") if p.is_file()]
    return sorted(files, key=lambda p: p.stat().st_mtime, reverse=True)


def _user_keys(mapping: dict[str, Any]) -> list[str]:
    # wandb adds its own bookkeeping under "_wandb" and "_step"/"_runtime"/"_timestamp".
    return sorted(k for k in mapping if not k.startswith("_"))


@checkers.register(NAME)
def check_wandb_run(
    ctx: CheckContext, min_config: int = 1, min_history: int = 1, history_steps: int = 1
) -> Verdict:
    """Pass when an offline run has ``min_config`` config keys and ``min_history`` history rows.

    ``history_steps`` is the number of distinct steps the rows must span, so that per-epoch
    logging is told apart from one final ``log`` call; when it is 2 or more some logged value must
    also change over the steps. The rows must be logged no earlier than training began.
    """
    evidence: dict[str, Any] = {}
    exec_reason = run_reason(ctx)
    if exec_reason:
        return verdict(NAME, [exec_reason], evidence)
    files = find_run_files(ctx.workdir)
    evidence["run_files"] = len(files)
    if not files:
        if (ctx.workdir / "wandb").is_dir():
            return verdict(
                NAME, ["a ./wandb folder exists but holds no offline run (offline-run-*)"], evidence
            )
        return verdict(NAME, ["no W&B run was recorded: call wandb.init() and wandb.log()"], evidence)

    training, imports = read_training(ctx.evidence_dir), files_imports(ctx.files)
    best: tuple[list[str], WandbRun, dict[str, Any]] | None = None
    for path in files:
        try:
            run = read_run(path)
        except WandbFileError as exc:
            log.debug("unreadable %s: %s", path, exc)
            continue
        origin: dict[str, Any] = {}
        reasons = _judge(run, min_config, min_history, history_steps)
        reasons += _origin_reasons(run, history_steps, training, imports, origin)
        if best is None or len(reasons) < len(best[0]):
            best = (reasons, run, origin)
        if not reasons:
            break
    if best is None:
        return verdict(NAME, ["the W&B run file could not be read"], evidence)
    reasons, run, origin = best
    evidence.update(origin)
    evidence.update(
        run_id=run.run_id,
        config_keys=_user_keys(run.config)[:20],
        history_rows=len(run.history),
        history_steps=len(run.steps),
        metrics=sorted({k for row in run.history for k in _user_keys(row)})[:20],
        exit_code=run.exit_code,
    )
    return verdict(NAME, reasons, evidence)


def _judge(run: WandbRun, min_config: int, min_history: int, history_steps: int) -> list[str]:
    reasons: list[str] = []
    n_config = len(_user_keys(run.config))
    if n_config < min_config:
        reasons.append(
            f"the W&B run config has {n_config} key(s), expected at least {min_config}: "
            "pass config={...} to wandb.init() or update wandb.config"
        )
    rows = [row for row in run.history if _user_keys(row)]
    if len(rows) < min_history:
        user_summary = [k for k in run.summary_keys if not k.startswith("_")]
        hint = " (run.summary is not history)" if user_summary and not rows else ""
        reasons.append(
            f"the W&B run logged {len(rows)} history row(s), expected at least {min_history}: "
            f"call wandb.log({{...}}) every epoch{hint}"
        )
    n_steps = len(run.steps)
    if rows and n_steps < history_steps:
        reasons.append(
            f"the W&B history spans {n_steps} step(s), expected at least {history_steps}: "
            "log once per epoch/step, not only at the end"
        )
    if run.exit_code not in (None, 0):
        reasons.append(f"the W&B run exited with code {run.exit_code}")
    return reasons


def _origin_reasons(
    run: WandbRun, history_steps: int, training: Training, imports: set[str], evidence: dict[str, Any]
) -> list[str]:
    """Why the history did not come from training: logged before any, or constant over steps."""
    rows = [row for row in run.history if _user_keys(row)]
    if not rows:
        return []
    reasons: list[str] = []
    stamps = [float(row["_timestamp"]) for row in rows if isinstance(row.get("_timestamp"), int | float)]
    first, last = (min(stamps), max(stamps)) if stamps else (None, None)
    why = training_reason(training, first, last, imports, evidence)
    if why:
        reasons.append(why)
    if history_steps >= 2 and len(run.steps) >= 2:
        keys = sorted({k for row in rows for k in _user_keys(row)})
        values = {k: [row[k] for row in rows if k in row] for k in keys}
        numeric = {k: v for k, v in values.items() if len(v) >= 2 and distinct_values(v) >= 1}
        if numeric and all(distinct_values(v) < 2 for v in numeric.values()):
            key, series = sorted(numeric.items())[0]
            reasons.append(
                f"every value logged at several steps stayed the same ({key} = {series[0]} in all "
                f"{len(series)} rows): log what each epoch/step produces, not a fixed number"
            )
    return reasons
