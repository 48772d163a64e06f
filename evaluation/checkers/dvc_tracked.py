"""``dvc-tracked``: data versioned with DVC (``.dvc`` file committed, object pushed), no git-lfs.

Evidence is what the program left: the ``.dvc`` files, whose md5 must equal the data's content
and whose objects must exist in the DVC remote in the DVC 3 layout
(``<remote>/files/md5/<2>/<30>``); the git repository, where each ``.dvc`` file must be committed
and the data itself not, and optionally pushed to ``origin``; and the sandbox's git-lfs shim log,
which must be empty. On top, a static check: no ``lfs`` left in the sources (translation from
GitPython + git-lfs).

A corpus task names ``data`` (relative to the workdir) and ``remote_dir``. A user's own script
names neither: then every DVC repository the program created is found wherever it put it (the
workdir, or ``$TMPDIR``/``$HOME`` of the sample root, e.g. under ``tempfile.mkdtemp()``), its
remote is read from ``.dvc/config`` and every data file its ``.dvc`` files track is judged.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from opsgraft.evaluation.checkers._evidence import run_reason
from opsgraft.evaluation.checkers.base import CheckContext, verdict
from opsgraft.registry import checkers
from opsgraft.types import Verdict

NAME = "dvc-tracked"
_LFS = re.compile(r"\blfs\b", re.IGNORECASE)
# Folders no program keeps its repository in, and which can be large: never searched.
_SKIP_DIRS = frozenset({"node_modules", "__pycache__", "site-packages", "dvc-site-cache", "torchinductor", "triton"})
_MAX_DEPTH = 6  # below a search root; mkdtemp() puts a repository one level down
_MAX_DIRS = 5000  # per search root: a runaway tree must not stall the verdict
_SECTION = re.compile(r"^\s*\[\s*(.+?)\s*\]\s*$")
_OPTION = re.compile(r"^\s*([A-Za-z_][\w.-]*)\s*=\s*(.*?)\s*$")


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


# --- finding what the program left ------------------------------------------------------------


def search_roots(ctx: CheckContext) -> list[Path]:
    """Where a program keeps its repositories: the workdir, then the sample root's tmp and home.

    TMPDIR and HOME count only inside the sample root: a context built with the caller's own
    environment must not send the search through the machine's /tmp.
    """
    root = sample_root(ctx)
    found = [ctx.workdir, root / "tmp", root / "home"]
    for name in ("TMPDIR", "HOME"):
        value = ctx.env.get(name)
        if value and Path(value).is_relative_to(root):
            found.append(Path(value))
    unique: list[Path] = []
    for path in found:
        if path.is_dir() and path.resolve() not in {p.resolve() for p in unique}:
            unique.append(path)
    return unique


def _walk(top: Path) -> Iterator[tuple[Path, list[str], list[str]]]:
    """``os.walk`` without hidden folders and caches, at most :data:`_MAX_DEPTH` deep."""
    seen = 0
    for current, dirs, files in os.walk(top):
        here = Path(current)
        depth = len(here.relative_to(top).parts)
        seen += 1
        yield here, dirs, files
        dirs[:] = [] if depth >= _MAX_DEPTH or seen >= _MAX_DIRS else [
            d for d in sorted(dirs) if not d.startswith(".") and d not in _SKIP_DIRS
        ]


def find_dvc_repos(roots: list[Path]) -> list[Path]:
    """The DVC repositories (folders with ``.dvc/config``, made by ``dvc init``) under ``roots``."""
    repos: list[Path] = []
    for top in roots:
        for here, dirs, _ in _walk(top):
            if (here / ".dvc" / "config").is_file():
                if here.resolve() not in {r.resolve() for r in repos}:
                    repos.append(here)
                dirs.clear()  # the folders below belong to this repository
    return repos


def read_config(repo: Path) -> dict[tuple[str, ...], dict[str, str]]:
    """``.dvc/config`` then ``.dvc/config.local``: section (``("core",)``, ``("remote", NAME)``) -> options."""
    sections: dict[tuple[str, ...], dict[str, str]] = {}
    for name in ("config", "config.local"):
        path = repo / ".dvc" / name
        if not path.is_file():
            continue
        current: dict[str, str] | None = None
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            if match := _SECTION.match(line):
                key = tuple(part.strip("'\"") for part in match.group(1).strip("'\"").split(None, 1))
                current = sections.setdefault(key, {})
            elif current is not None and (match := _OPTION.match(line)):
                current[match.group(1).lower()] = match.group(2).strip("'\"")
    return sections


def configured_remote(repo: Path) -> tuple[Path | None, str]:
    """The local folder of the repository's default DVC remote, or None and why there is none.

    ``core.remote`` names the default; a single remote counts as the default. A relative url is
    relative to the ``.dvc`` folder (where ``dvc remote add`` writes it).
    """
    config = read_config(repo)
    remotes = {key[1]: opts.get("url", "") for key, opts in config.items() if len(key) == 2 and key[0] == "remote"}
    default = config.get(("core",), {}).get("remote", "")
    if not remotes:
        return None, f"no DVC remote is configured in {repo.name}/.dvc/config (`dvc remote add -d NAME PATH`)"
    if default and default not in remotes:
        return None, f"the default DVC remote {default!r} of {repo.name}/.dvc/config is not defined"
    if not default and len(remotes) > 1:
        return None, f"{repo.name}/.dvc/config has several DVC remotes and no default (core.remote)"
    url = remotes[default or next(iter(remotes))]
    if url.startswith("file://"):
        url = url[len("file://"):]
    if not url or re.match(r"^[a-z][a-z0-9+.-]*://", url):
        return None, f"the DVC remote {url or '(no url)'} is not a local folder: opsgraft can only verify local remotes"
    path = Path(url)
    return (path if path.is_absolute() else (repo / ".dvc" / path)).resolve(), ""


def dvc_files(repo: Path) -> list[Path]:
    """The ``.dvc`` files of a repository (not inside ``.dvc/``, ``.git/`` or a nested repository)."""
    found: list[Path] = []
    for here, dirs, files in _walk(repo):
        if here != repo and (here / ".dvc").is_dir():
            dirs.clear()
            continue
        found += [here / f for f in sorted(files) if f.endswith(".dvc") and (here / f).is_file()]
    return found


def _outs(dvc_file: Path) -> list[dict[str, Any]] | None:
    """The ``outs`` of a .dvc file that each have a path and an md5; None when it is not one."""
    try:
        spec = yaml.safe_load(dvc_file.read_text(encoding="utf-8")) or {}
        outs = [o for o in spec.get("outs") or [] if isinstance(o, dict)]
        checked = [{"path": str(o["path"]), "md5": str(o["md5"])} for o in outs]
    except Exception:
        return None
    return checked or None


def sample_root(ctx: CheckContext) -> Path:
    """The sample root: the sandbox's, or the workdir's parent for a context built by hand."""
    return Path(ctx.env.get("OPSGRAFT_SANDBOX_ROOT") or ctx.workdir.parent)


def _show(path: Path, ctx: CheckContext) -> str:
    """A path as the user knows it: relative to the workdir (``.`` itself) or to ``$TMPDIR``/``~``."""
    root = sample_root(ctx)
    for base, label in ((ctx.workdir, ""), (root / "tmp", "$TMPDIR/"), (root / "home", "~/")):
        try:
            rel = path.resolve().relative_to(base.resolve()).as_posix()
        except ValueError:
            continue
        return label.rstrip("/") or "." if rel == "." else label + rel
    return str(path)


# --- judging ------------------------------------------------------------------------------------


def _find_dvc_file(workdir: Path, data: str) -> tuple[Path, str] | None:
    """The .dvc file covering ``data`` (its own or a parent folder's) and data's path inside it."""
    rel = PurePosixPath(data)
    for depth in range(len(rel.parts), 0, -1):
        owner = PurePosixPath(*rel.parts[:depth])
        candidate = workdir / f"{owner}.dvc"
        if candidate.is_file():
            return candidate, str(rel.relative_to(owner)) if depth < len(rel.parts) else ""
    return None


def _check_objects(workdir: Path, data: str, remote: Path, shown: str, reasons: list[str]) -> dict[str, Any]:
    """Check the .dvc file of a named ``data`` against it and the remote; append failures to ``reasons``."""
    found = _find_dvc_file(workdir, data)
    if found is None:
        reasons.append(f"no {data}.dvc file: {data} is not tracked by DVC (run `dvc add {data}`)")
        return {}
    dvc_file, inner = found
    outs = _outs(dvc_file)
    if outs is None:
        reasons.append(f"{dvc_file.name} is not a valid .dvc file with an md5 out")
        return {}
    md5 = outs[0]["md5"]
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
        entries = _manifest(remote, md5, dvc_file.name, shown, reasons)
        if entries is None:
            return evidence
        wanted = entries.get(inner, "")
        if wanted != actual:
            reasons.append(f"{dvc_file.name} does not record the current content of {data}")
    if not remote.is_dir():
        reasons.append(f"the DVC remote folder {shown}/ does not exist (no `dvc push` to it)")
    elif not object_path(remote, wanted).is_file():
        reasons.append(f"the object of {data} (md5 {wanted}) is not in the DVC remote {shown}/ (missing `dvc push`)")
    return evidence


def _manifest(remote: Path, md5: str, label: str, shown: str, reasons: list[str]) -> dict[str, str] | None:
    """relpath -> md5 of a tracked folder, from its ``.dir`` manifest in the remote."""
    manifest = object_path(remote, md5.removesuffix(".dir") + ".dir")
    if not manifest.is_file():
        reasons.append(f"the folder manifest {md5} of {label} is not in the DVC remote {shown}/ (missing `dvc push`)")
        return None
    try:
        return {str(e["relpath"]): str(e["md5"]) for e in json.loads(manifest.read_text(encoding="utf-8"))}
    except Exception:
        reasons.append(f"the folder manifest {md5} of {label} in the DVC remote is unreadable")
        return None


def _check_out(data: Path, md5: str, label: str, remote: Path, shown: str, reasons: list[str]) -> dict[str, Any]:
    """One tracked file or folder found on its own: its object(s) pushed, its content not stale.

    Data the program removed after pushing is judged on the remote alone: it is safely versioned.
    """
    summary: dict[str, Any] = {"path": label, "md5": md5, "present": data.exists()}
    if md5.endswith(".dir"):
        entries = _manifest(remote, md5, label, shown, reasons)
        if entries is None:
            return summary
        missing = [rel for rel, m in entries.items() if not object_path(remote, m).is_file()]
        if missing:
            reasons.append(f"{len(missing)} of the {len(entries)} files of {label}/ are not in the DVC remote "
                           f"{shown}/ (missing `dvc push`; first: {missing[0]})")
        stale = [rel for rel, m in entries.items() if (data / rel).is_file() and md5_file(data / rel) != m]
        if stale:
            reasons.append(f"{label}.dvc does not record the current content of {label}/{stale[0]} (stale .dvc file)")
        summary["files"] = len(entries)
        return summary
    if data.is_file() and md5_file(data) != md5:
        reasons.append(f"{label}.dvc records md5 {md5} but {label} has {md5_file(data)} (stale .dvc file)")
    if not object_path(remote, md5).is_file():
        reasons.append(f"the object of {label} (md5 {md5}) is not in the DVC remote {shown}/ (missing `dvc push`)")
    return summary


def _check_git(workdir: Path, data: str, dvc_rel: str, push: bool, reasons: list[str],
               where: str = "the workdir") -> None:
    """The .dvc file committed in ``workdir``'s git repository, the data not, and (``push``) on origin."""
    if _git(workdir, "rev-parse", "--verify", "HEAD").returncode != 0:
        reasons.append(f"{where} is not a git repository with commits")
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


def _judge_repo(ctx: CheckContext, repo: Path, remote_dir: str | None, require_commit: bool,
                require_git_push: bool, reasons: list[str]) -> dict[str, Any]:
    """Every data file that one DVC repository tracks: pushed to its remote, committed in its git."""
    shown_repo = _show(repo, ctx) or "."
    summary: dict[str, Any] = {"repo": shown_repo, "tracked": []}
    found = dvc_files(repo)
    if not found:
        return summary
    remote, why = (repo / remote_dir, "") if remote_dir else configured_remote(repo)
    if remote is None:
        reasons.append(f"{why} (DVC repository {shown_repo})")
        return summary
    shown = _show(remote, ctx)
    summary["remote"] = shown
    if not remote.is_dir():
        reasons.append(f"the DVC remote folder {shown}/ does not exist (no `dvc push` to it)")
    top = Path(_git(repo, "rev-parse", "--show-toplevel").stdout.strip() or repo).resolve()
    in_git = (top / ".git").exists() and top.is_relative_to(sample_root(ctx).resolve())
    if not in_git:  # a repository above the sample root (a checkout holding the sandbox) is not the program's
        top = repo.resolve()
    for dvc_file in found:
        rel_file = dvc_file.resolve().relative_to(top).as_posix()
        outs = _outs(dvc_file)
        if outs is None:
            reasons.append(f"{rel_file} is not a valid .dvc file with an md5 out")
            continue
        for out in outs:
            data = (dvc_file.parent / out["path"]).resolve()
            label = data.relative_to(top).as_posix() if data.is_relative_to(top) else str(data)
            before = len(reasons)
            if remote.is_dir():
                summary["tracked"].append(_check_out(data, out["md5"], label, remote, shown, reasons))
            else:
                summary["tracked"].append({"path": label, "md5": out["md5"]})
            if require_commit and not in_git:
                reasons.append(f"the DVC repository {shown_repo} is not in a git repository (`git init` first)")
            elif require_commit:
                _check_git(top, label, rel_file, require_git_push, reasons, where=f"the repository {shown_repo}")
            summary["tracked"][-1]["ok"] = len(reasons) == before
    return summary


@checkers.register(NAME)
def check_dvc_tracked(
    ctx: CheckContext,
    data: str | None = None,
    remote_dir: str | None = None,
    require_commit: bool = True,
    require_git_push: bool = False,
) -> Verdict:
    """Pass when the data is DVC-tracked, its objects are in the DVC remote and git-lfs was not used.

    ``data`` (relative to the workdir) and ``remote_dir`` (relative to the DVC repository) come
    from a corpus task; without ``data`` every file tracked in every DVC repository the program
    left is judged, and without ``remote_dir`` the remote is the one ``.dvc/config`` names.
    """
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
    if data:
        evidence = _judge_named(ctx, data, remote_dir, require_commit, require_git_push, reasons)
    else:
        evidence = _judge_found(ctx, remote_dir, require_commit, require_git_push, reasons)
    lfs_files = sorted(p for p, src in ctx.files.items() if _LFS.search(src))
    if lfs_files:
        reasons.append(f"git lfs is still used in the source ({', '.join(lfs_files)})")
    attributes = workdir / ".gitattributes"
    if attributes.is_file() and "filter=lfs" in attributes.read_text(errors="replace"):
        reasons.append(".gitattributes still routes files through git-lfs (filter=lfs)")
    evidence["git_lfs_calls"] = len(calls)
    return verdict(NAME, reasons, evidence)


def _judge_named(ctx: CheckContext, data: str, remote_dir: str | None, require_commit: bool,
                 require_git_push: bool, reasons: list[str]) -> dict[str, Any]:
    """A corpus task's ``data`` in the workdir's repository."""
    workdir = ctx.workdir
    if remote_dir:
        remote, shown = workdir / remote_dir, remote_dir
    else:
        found, why = configured_remote(workdir)
        if found is None:
            reasons.append(why)
            return {}
        remote, shown = found, _show(found, ctx)
    evidence = _check_objects(workdir, data, remote, shown, reasons)
    if require_commit and evidence.get("dvc_file"):
        _check_git(workdir, data, evidence["dvc_file"], require_git_push, reasons)
    return evidence


def _judge_found(ctx: CheckContext, remote_dir: str | None, require_commit: bool, require_git_push: bool,
                 reasons: list[str]) -> dict[str, Any]:
    """A user's script: every DVC repository it left, wherever it put it."""
    roots = search_roots(ctx)
    where = ", ".join("the workdir" if _show(r, ctx) == "." else _show(r, ctx) for r in roots)
    repos = find_dvc_repos(roots)
    evidence: dict[str, Any] = {"searched": where, "repos": []}
    if not repos:
        reasons.append(f"no DVC repository (a .dvc/ folder from `dvc init`) was found in {where}: nothing is "
                       "tracked with DVC (a repository in a folder the program deletes at exit cannot be checked)")
        return evidence
    for repo in repos:
        evidence["repos"].append(_judge_repo(ctx, repo, remote_dir, require_commit, require_git_push, reasons))
    if not any(summary["tracked"] for summary in evidence["repos"]):
        shown = ", ".join(summary["repo"] for summary in evidence["repos"])
        reasons.append(f"the DVC repository {shown} tracks no data: no .dvc file (run `dvc add FILE`)")
    return evidence
