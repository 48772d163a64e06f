"""``dvc-tracked``: a data file versioned with DVC (``.dvc`` file committed, object pushed), no git-lfs.

Evidence is the workdir the program left: the ``<data>.dvc`` file (or one for a parent folder),
whose md5 must equal the data file's content and whose object must exist in the local remote in
the DVC 3 layout (``<remote_dir>/files/md5/<2>/<30>``); the git repository, where the ``.dvc``
file must be committed and the data itself not, and optionally pushed to ``origin``; and the
sandbox's git-lfs shim log, which must be empty. On top, a static check: no ``lfs`` left in the
sources (translation from GitPython + git-lfs).
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from opsgraft.evaluation.checkers._evidence import run_reason
from opsgraft.evaluation.checkers.base import CheckContext, verdict
from opsgraft.registry import checkers
from opsgraft.types import Verdict

NAME = "dvc-tracked"
_LFS = re.compile(r"\blfs\b", re.IGNORECASE)


def md5_file(path: Path) -> str:
    """Hex md5 of a file's bytes (what DVC 3 records under ``hash: md5``)."""
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def object_path(remote: Path, md5: str) -> Path:
    """Where DVC 3 stores an object in a local remote."""
    return remote / "files" / "md5" / md5[:2] / md5[2:]


def _git(workdir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", *args], cwd=workdir, capture_output=True, text=True, timeout=30, check=False
    )


def _in_head(workdir: Path, rel: str) -> bool:
    return _git(workdir, "cat-file", "-e", f"HEAD:{rel}").returncode == 0


def _find_dvc_file(workdir: Path, data: str) -> tuple[Path, str] | None:
    """The .dvc file covering ``data`` (its own or a parent folder's) and data's path inside it."""
    rel = PurePosixPath(data)
    for depth in range(len(rel.parts), 0, -1):
        owner = PurePosixPath(*rel.parts[:depth])
        candidate = workdir / f"{owner}.dvc"
        if candidate.is_file():
            return candidate, str(rel.relative_to(owner)) if depth < len(rel.parts) else ""
    return None


def _check_objects(workdir: Path, data: str, remote: Path, reasons: list[str]) -> dict[str, Any]:
    """Check the .dvc file against the data and the remote; append failures to ``reasons``."""
    found = _find_dvc_file(workdir, data)
    if found is None:
        reasons.append(f"no {data}.dvc file: {data} is not tracked by DVC (run `dvc add {data}`)")
        return {}
    dvc_file, inner = found
    try:
        spec = yaml.safe_load(dvc_file.read_text(encoding="utf-8")) or {}
        out = (spec.get("outs") or [])[0]
        md5 = str(out["md5"])
    except Exception:
        reasons.append(f"{dvc_file.name} is not a valid .dvc file with an md5 out")
        return {}
    evidence: dict[str, Any] = {"dvc_file": dvc_file.relative_to(workdir).as_posix(), "md5": md5}
    target = workdir / data
    if not target.is_file():
        reasons.append(f"the data file {data} does not exist in the workdir")
        return evidence
    actual = md5_file(target)
    if not inner:
        if md5 != actual:
            reasons.append(f"{dvc_file.name} records md5 {md5} but {data} has {actual} (stale .dvc file)")
        wanted = md5
    else:
        manifest = object_path(remote, md5.removesuffix(".dir") + ".dir")
        if not manifest.is_file():
            reasons.append(
                f"the folder manifest {md5} of {dvc_file.name} is not in the DVC remote {remote.name}/"
            )
            return evidence
        try:
            entries = {e["relpath"]: e["md5"] for e in json.loads(manifest.read_text(encoding="utf-8"))}
        except Exception:
            reasons.append(f"the folder manifest {md5} in the remote is unreadable")
            return evidence
        wanted = entries.get(inner, "")
        if wanted != actual:
            reasons.append(f"{dvc_file.name} does not record the current content of {data}")
    if not remote.is_dir():
        reasons.append(f"the DVC remote folder {remote.name}/ does not exist (no `dvc push` to it)")
    elif not object_path(remote, wanted).is_file():
        reasons.append(
            f"the object of {data} (md5 {wanted}) is not in the DVC remote {remote.name}/ (missing `dvc push`)"
        )
    return evidence


def _check_git(workdir: Path, data: str, dvc_rel: str, push: bool, reasons: list[str]) -> None:
    if _git(workdir, "rev-parse", "--verify", "HEAD").returncode != 0:
        reasons.append("the workdir is not a git repository with commits")
        return
    if not _in_head(workdir, dvc_rel):
        reasons.append(f"{dvc_rel} is not committed to git")
    if _in_head(workdir, data):
        reasons.append(f"{data} itself is still committed to git (DVC should track it instead)")
    if push:
        head = _git(workdir, "rev-parse", "HEAD").stdout.strip()
        url = _git(workdir, "remote", "get-url", "origin").stdout.strip()
        if not url:
            reasons.append("the git repository has no origin remote to push to")
            return
        remote = Path(url) if Path(url).is_absolute() else workdir / url
        seen = subprocess.run(
            ["git", "--git-dir", str(remote), "cat-file", "-e", f"{head}^{{commit}}"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        if seen.returncode != 0:
            reasons.append("the commit with the .dvc file was not pushed to the git origin")


@checkers.register(NAME)
def check_dvc_tracked(
    ctx: CheckContext,
    data: str,
    remote_dir: str,
    require_commit: bool = True,
    require_git_push: bool = False,
) -> Verdict:
    """Pass when ``data`` is DVC-tracked, its object is in ``remote_dir`` and git-lfs was not used."""
    reason = run_reason(ctx)
    if reason:
        return verdict(NAME, [reason])
    reasons: list[str] = []
    workdir = ctx.workdir
    lfs_log = ctx.evidence_dir / "git-lfs.log"
    calls = (
        [ln for ln in lfs_log.read_text(errors="replace").splitlines() if ln.strip()]
        if lfs_log.is_file()
        else []
    )
    if calls:
        reasons.append(f"git-lfs was called {len(calls)} time(s) (first: {calls[0][:120]})")
    evidence = _check_objects(workdir, data, workdir / remote_dir, reasons)
    if require_commit and evidence.get("dvc_file"):
        _check_git(workdir, data, evidence["dvc_file"], require_git_push, reasons)
    lfs_files = sorted(p for p, src in ctx.files.items() if _LFS.search(src))
    if lfs_files:
        reasons.append(f"git lfs is still used in the source ({', '.join(lfs_files)})")
    attributes = workdir / ".gitattributes"
    if attributes.is_file() and "filter=lfs" in attributes.read_text(errors="replace"):
        reasons.append(".gitattributes still routes files through git-lfs (filter=lfs)")
    evidence["git_lfs_calls"] = len(calls)
    return verdict(NAME, reasons, evidence)
