"""The ``preserved`` verdict: does the adapted script still print what the original printed and
write the files it wrote?

The original input runs once per task in the same sandbox as the samples (same environment,
isolation and limits); what it printed and wrote is cached under ``<cache>/preserved/`` keyed by
sha256 of (input files, entry, setup, passed variables, device, opsgraft version). A sample is
then compared with that baseline:

- stdout: every distinct line the original printed must appear in the sample's stdout, in the
  order of first appearance (a subsequence: the sample may print more). Lines are compared with
  numbers, hex addresses, sandbox paths and progress-bar runs masked and whitespace collapsed, so
  a changed accuracy, epoch count or timestamp does not count. Progress bars and the lines of
  tools' own logging (``wandb: ...``, ``INFO ...``, Optuna's ``[I 2025-...]``) are not required.
- files: every file the original wrote in its workdir must exist afterwards (paths compared with
  numbers masked, so ``epoch=3.ckpt`` matches ``epoch=5.ckpt``), except tool stores (mlruns/,
  wandb/, .dvc/, .git/, lightning_logs/, mlflow.db), which the adaptation may change on purpose.

The verdict is reported beside the checker's; it never changes a sample's status.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from opsgraft import __version__
from opsgraft.config import cache_dir
from opsgraft.evaluation import sandbox
from opsgraft.types import Task

log = logging.getLogger(__name__)

FORMAT = 1  # of the cached baseline (it holds normalized lines): bump when normalize() or the filters change
MAX_LINES = 500  # distinct lines kept of the original's stdout
MAX_FILES = 500
MAX_STDOUT = 8 << 20  # bytes of stdout read (the head and the tail beyond this)
SHOWN = 5  # findings listed of each kind
# Tool stores and caches: an adaptation may add, move or replace them (a tracking adapter that
# replaces Lightning's default logger stops lightning_logs/ from being written, on purpose).
IGNORED_DIRS = frozenset({"mlruns", "mlartifacts", "wandb", ".dvc", ".git", "__pycache__", "lightning_logs",
                          ".ipynb_checkpoints", ".optuna", "nncf_logs"})
IGNORED_FILES = frozenset({"mlflow.db", "mlflow.db-journal", ".dvcignore"})
# Lines a tool logs on its own: not something the script printed.
_TOOL_LINE = re.compile(
    r"^(?:(?i:wandb|mlflow|optuna|dvc|nncf|git)\s*:"
    r"|(?:DEBUG|INFO|WARNING|WARN|ERROR|CRITICAL)\b[\s:]"  # logging's level names, upper case only
    r"|\[[DIWEC] \d{4}-\d\d-\d\d"  # optuna's "[I 2025-01-01 10:00:00,000] Trial 0 finished"
    r"|\d{4}[-/]\d\d[-/]\d\d[ T]\d\d:\d\d"  # a logging timestamp
    r"|🏃|🧪)",  # mlflow's "View run/experiment at" lines
)
_PROGRESS = re.compile(r"\d+%\||\|\s*\d+/\d+\s*\[|it/s\]|s/it\]|[█▏▎▍▌▋▊▉━]{2,}")
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_SANDBOX_PATH = re.compile(r"(?:/[^\s'\"]*)?/opsgraft-[^/\s'\"]+/(?:work|home|tmp)\b")
_HEX = re.compile(r"0x[0-9a-fA-F]+|\b(?=[0-9a-f]*\d)(?=[0-9a-f]*[a-f])[0-9a-f]{7,64}\b")  # addresses, git/run ids
_NUMBER = re.compile(r"(?<![A-Za-z_])[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?|\b(?:nan|inf)\b", re.IGNORECASE)
_DIGITS = re.compile(r"\d+")
_BAR = re.compile(r"[=>.#*\-_~]{4,}")


@dataclass(frozen=True)
class Baseline:
    """What the original input printed and wrote (normalized), and how its run ended."""

    status: str
    lines: tuple[str, ...] = ()
    files: tuple[str, ...] = ()
    wall_s: float = 0.0


@dataclass(frozen=True)
class Preservation:
    """The ``preserved`` verdict: True, False (with findings) or None (no baseline to compare with)."""

    preserved: bool | None
    findings: tuple[str, ...] = ()


def normalize(line: str) -> str:
    """A stdout line as compared: the last carriage-return segment, numbers and paths masked, spaces collapsed."""
    segments = [s for s in line.split("\r") if s.strip()]
    text = _ANSI.sub("", segments[-1] if segments else "").replace("\b", "")
    text = _SANDBOX_PATH.sub("<root>", text)
    text = _HEX.sub("<hex>", text)
    text = _NUMBER.sub("<n>", text)
    text = _BAR.sub("<bar>", text)
    return " ".join(text.split())


def counts(line: str) -> bool:
    """False for lines that are not the script's own output: blanks, progress bars, tools' logging."""
    raw = line.split("\r")[-1].strip() if line.strip() else ""
    return bool(raw) and _PROGRESS.search(line) is None and _TOOL_LINE.match(raw) is None


def required_lines(stdout: str) -> tuple[str, ...]:
    """The distinct normalized lines of ``stdout`` that count, in order of first appearance."""
    seen: dict[str, None] = {}
    for line in stdout.split("\n"):  # not splitlines(): a carriage return rewrites its line, as on a terminal
        if not counts(line):
            continue
        norm = normalize(line)
        if norm and norm not in seen:
            seen[norm] = None
            if len(seen) >= MAX_LINES:
                break
    return tuple(seen)


def written_files(workdir: Path, inputs: Iterable[str] = ()) -> tuple[str, ...]:
    """Files under ``workdir`` (relative POSIX paths, sorted), outside tool stores and not among ``inputs``."""
    skip = set(inputs)
    found: list[str] = []
    for dirpath, dirnames, filenames in os.walk(workdir):
        dirnames[:] = sorted(d for d in dirnames if d not in IGNORED_DIRS)
        for name in sorted(filenames):
            if name in IGNORED_FILES:
                continue
            rel = Path(dirpath, name).relative_to(workdir).as_posix()
            if rel not in skip:
                found.append(rel)
    return tuple(found[:MAX_FILES])


def mask_path(path: str) -> str:
    """A file path with its numbers masked: ``ckpt/epoch=3.pt`` and ``ckpt/epoch=9.pt`` compare equal."""
    return _DIGITS.sub("<n>", path)


def compare(base: Baseline, stdout: str, workdir: Path) -> Preservation:
    """The sample's stdout and workdir against the baseline; None when the original did not run cleanly."""
    if base.status != "passed":
        return Preservation(None, (f"the original script did not run cleanly ({base.status}): nothing to compare",))
    got = [normalize(ln) for ln in stdout.split("\n") if ln.strip()]
    dropped: list[str] = []
    pos = 0
    for want in base.lines:
        # Greedy earliest match: a subsequence exists iff this finds it.
        try:
            pos = got.index(want, pos) + 1
        except ValueError:
            dropped.append(want)
    present = {mask_path(p) for p in written_files(workdir)}
    missing = [p for p in base.files if mask_path(p) not in present]
    findings = [f"dropped print: {line!r}" for line in dropped[:SHOWN]]
    if len(dropped) > SHOWN:
        findings.append(f"... and {len(dropped) - SHOWN} more dropped print(s)")
    findings += [f"missing output file: {p}" for p in missing[:SHOWN]]
    if len(missing) > SHOWN:
        findings.append(f"... and {len(missing) - SHOWN} more missing output file(s)")
    return Preservation(not findings, tuple(findings))


def read_stdout(root: Path) -> str:
    """All the stdout a sandbox run wrote (its head and tail when it is huge), not only the tail kept in results."""
    path = Path(root) / ".sandbox" / "stdout.txt"
    try:
        with path.open("rb") as fh:
            data = fh.read(MAX_STDOUT + 1)
            if len(data) > MAX_STDOUT:
                fh.seek(-MAX_STDOUT // 2, os.SEEK_END)
                data = data[: MAX_STDOUT // 2] + b"\n" + fh.read()
    except OSError:
        return ""
    return data.decode("utf-8", errors="replace")


def cache_key(task: Task, files: Mapping[str, str], device: str = "cpu", pass_env: Sequence[str] = ()) -> str:
    """sha256 of what decides the original's run: its files, entry, setup, passed variables, device, opsgraft version."""
    blob = json.dumps({"format": FORMAT, "version": __version__, "files": sorted(files.items()), "entry": task.entry,
                       "setup": task.setup, "pass_env": sorted({*task.pass_env, *pass_env}), "device": device},
                      sort_keys=True)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def baseline_dir() -> Path:
    """Where baselines are cached: ``<opsgraft cache>/preserved``."""
    return cache_dir() / "preserved"


def baseline(
    task: Task,
    files: Mapping[str, str],
    *,
    base_dir: Path,
    timeout_s: float,
    device: str = "cpu",
    cuda_devices: str | None = None,
    threads: int | None = None,
    isolation: str = "none",
    memory_limit: int | None = sandbox.DEFAULT_MEMORY_LIMIT,
    pass_env: Sequence[str] = (),
) -> Baseline:
    """The original's run, from the cache or run now in a fresh sample root under ``base_dir``.

    A file lock per key makes parallel workers wait for one run instead of each running it. A run
    that timed out or could not start is not cached (it says more about the machine's load than
    about the script); one that failed is.
    """
    key = cache_key(task, files, device, pass_env)
    folder = baseline_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{key}.json"
    with (folder / f"{key}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        cached = _load(path)
        if cached is not None:
            return cached
        root = Path(tempfile.mkdtemp(prefix="opsgraft-original-", dir=base_dir))
        try:
            run = sandbox.run_program(files, task.entry, root=root, timeout_s=timeout_s, setup=task.setup,
                                      device=device, cuda_devices=cuda_devices, threads=threads, isolation=isolation,
                                      memory_limit=memory_limit, pass_env=(*task.pass_env, *pass_env))
            result = run.result
            found = Baseline(result.status, required_lines(read_stdout(root)), written_files(run.workdir, files),
                             result.wall_s)
        finally:
            shutil.rmtree(root, ignore_errors=True)
        log.info("ran the original of %s for the preserved check: %s in %.1fs", task.id, found.status, found.wall_s)
        if found.status in ("passed", "failed"):
            _store(path, found)
        return found


def _load(path: Path) -> Baseline | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return Baseline(data["status"], tuple(data["lines"]), tuple(data["files"]), float(data.get("wall_s", 0.0)))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError):
        log.warning("ignoring an unreadable preserved baseline %s", path)
        return None


def _store(path: Path, found: Baseline) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(asdict(found), fh)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def check(task: Task, inputs: Mapping[str, str], root: Path, workdir: Path, *, base_dir: Path, timeout_s: float,
          **run_kwargs: object) -> Preservation:
    """The ``preserved`` verdict of the sample that ran in ``root``: its stdout and workdir against the original's.

    ``inputs`` are the task's input files; ``run_kwargs`` the sandbox settings the sample ran with.
    """
    try:
        base = baseline(task, inputs, base_dir=base_dir, timeout_s=timeout_s, **run_kwargs)  # type: ignore[arg-type]
    except OSError as exc:  # a cache folder we cannot write: no verdict, but the sample is still judged
        log.warning("preserved check of %s skipped: %s", task.id, exc)
        return Preservation(None, (f"preserved check skipped: {exc}",))
    return compare(base, read_stdout(root), workdir)


def summary(results: Iterable[object]) -> dict[str, int]:
    """Counts for report.json: samples checked and preserved, overall and among those that passed."""
    out = {"checked": 0, "preserved": 0, "passed_checked": 0, "passed_preserved": 0}
    for r in results:
        kept = getattr(r, "preserved", None)
        if kept is None:
            continue
        passed = getattr(r, "status", "") == "passed"
        out["checked"] += 1
        out["preserved"] += bool(kept)
        out["passed_checked"] += passed
        out["passed_preserved"] += passed and bool(kept)
    return out
