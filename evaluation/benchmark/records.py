"""The benchmark's run directory: run.json, the append-only records.jsonl and each candidate's code.

Format (a contract with the report, evaluation/benchmark/RECORDS.md): run.json is written once; a rerun
on the same directory with another format, opsgraft version, corpus version, grid or model file is
refused with the reason. records.jsonl holds one JSON object per sample per round, each line
fsynced; a torn last line (a kill mid-write) is dropped by the reader and truncated by the writer.

Reading rules: a chain is the records of one (cell, task, sample); it is finished iff it has a
record with ``final`` true, and a finished chain is the rounds of its last attempt (from the last
round-0 record before its final record). Unfinished chains are ignored by reports and redone.

judged/ keeps each judged round of an unfinished chain (its SampleResult, keyed by the code and the
judge's settings) so that a resume redoing a cut chain reuses the verdicts of the rounds it had judged
instead of running those programs again; a chain's files go when its final record is written.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import difflib
import hashlib
import json
import logging
import os
import platform
import re
import shutil
import socket
import subprocess
import threading
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from opsgraft.errors import ConfigError
from opsgraft.files import write_whole

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
RUN_FILE = "run.json"
RECORDS_FILE = "records.jsonl"
CODE_DIR = "code"
JUDGED_DIR = "judged"
RECORD_VERSION = 1
Key = tuple[str, str, int]  # (cell, task, sample)


def now() -> str:
    """UTC time, ISO-8601, to the second."""
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def cell_name(model: str, mode: str, temperature: float) -> str:
    """``model|mode|temperature``, e.g. ``qwen2.5-coder-1.5b|zero-shot|0.2``."""
    return f"{model}|{mode}|{temperature:g}"


def slug(text: str) -> str:
    """A file-name-safe version of a cell or task name."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text.replace("|", "__")).strip("_") or "_"


def chain_key(record: Mapping[str, Any]) -> Key:
    """The chain a record belongs to."""
    return str(record["cell"]), str(record["task"]), int(record["sample"])


# --- facts for run.json -------------------------------------------------------------------------

def corpus_version(tasks_dir: Path | None = None) -> str:
    """sha256 over the corpus task files (relative names and bytes), first 16 hex digits."""
    from opsgraft.evaluation.corpus import corpus_tasks_dir

    base = Path(tasks_dir) if tasks_dir is not None else corpus_tasks_dir()
    digest = hashlib.sha256()
    for path in sorted(p for p in base.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        digest.update(path.relative_to(base).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def _rev_parse(git: str, where: Path) -> str:
    try:
        out = subprocess.run([git, "rev-parse", "HEAD"], cwd=where, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return ""
    sha = out.stdout.strip()
    return sha if out.returncode == 0 and re.fullmatch(r"[0-9a-f]{40}", sha) else ""


def _installed_from() -> tuple[str, Path | None]:
    """What pip recorded of where opsgraft was installed from: (a VCS commit, a local folder); PEP 610."""
    from importlib import metadata
    from urllib.parse import unquote, urlparse

    try:
        text = metadata.distribution("opsgraft").read_text("direct_url.json")
        data = json.loads(text) if text else {}
    except (metadata.PackageNotFoundError, ValueError, OSError):
        return "", None
    commit = str((data.get("vcs_info") or {}).get("commit_id", ""))
    url = urlparse(str(data.get("url", "")))
    folder = Path(unquote(url.path)) if url.scheme == "file" and url.path else None
    return commit, folder


def opsgraft_commit() -> str:
    """The git commit of the opsgraft source tree, or 'unknown' (an installed wheel, no git).

    A copy installed with ``pip install <checkout>`` (a snapshot the benchmark runs while the tree is
    edited) has no git of its own: the commit is then the one pip recorded, or that checkout's HEAD.
    """
    import opsgraft

    commit, folder = _installed_from()
    if re.fullmatch(r"[0-9a-f]{40}", commit):
        return commit
    git = shutil.which("git")
    if git is None:
        return "unknown"
    package_dir = Path(opsgraft.__file__).resolve().parent
    for where in (package_dir, folder):
        if where is not None and where.is_dir():
            sha = _rev_parse(git, where)
            if sha:
                return sha
    return "unknown"


def machine_facts() -> dict[str, Any]:
    """Hostname, platform, Python, CPUs, memory (GiB) and the first GPU nvidia-smi names (or None)."""
    try:
        mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError, AttributeError):
        mem = 0.0
    gpu = None
    if shutil.which("nvidia-smi"):
        try:
            out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=20).stdout
            gpu = next((ln.strip() for ln in out.splitlines() if ln.startswith("GPU ")), None)
        except (OSError, subprocess.SubprocessError):
            gpu = None
    return {"hostname": socket.gethostname(), "platform": platform.platform(), "python": platform.python_version(),
            "cpus": os.cpu_count() or 1, "mem_gib": round(mem, 1), "gpu": gpu}


def file_sha256(path: Path) -> str:
    """sha256 of a (large) file, hashed once: cached by (path, size, mtime) under the opsgraft cache."""
    from opsgraft.config import cache_dir

    path = Path(path).resolve()
    st = path.stat()
    key = f"{path}|{st.st_size}|{st.st_mtime_ns}"
    cache = cache_dir() / "sha256.json"
    try:
        known = json.loads(cache.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        known = {}
    if isinstance(known, dict) and isinstance(known.get(key), str):
        return str(known[key])
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(8 << 20), b""):
            digest.update(block)
    sha = digest.hexdigest()
    known = known if isinstance(known, dict) else {}
    known[key] = sha
    cache.parent.mkdir(parents=True, exist_ok=True)
    write_whole(cache, json.dumps(known, indent=1))
    return sha


def run_header(config: dict[str, Any], models: dict[str, dict[str, Any]], tasks_dir: Path | None = None
               ) -> dict[str, Any]:
    """The content of run.json for a new run directory."""
    from opsgraft import __version__

    return {"opsgraft_bench": FORMAT_VERSION, "created": now(), "opsgraft_version": __version__,
            "opsgraft_commit": opsgraft_commit(), "corpus_version": corpus_version(tasks_dir),
            "machine": machine_facts(), "config": config, "models": models}


# --- the run directory --------------------------------------------------------------------------

def incompatibility(old: Mapping[str, Any], new: Mapping[str, Any]) -> str | None:
    """Why a run directory written with ``old`` cannot take records of ``new`` (None: it can)."""
    if old.get("opsgraft_bench") != FORMAT_VERSION:
        return f"it has bench format {old.get('opsgraft_bench')!r}, this opsgraft writes format {FORMAT_VERSION}"
    for key, what in (("opsgraft_version", "opsgraft version"), ("corpus_version", "corpus version")):
        if old.get(key) != new.get(key):
            return f"it was written with {what} {old.get(key)}, this is {new.get(key)}"
    old_cfg, new_cfg = old.get("config") or {}, new.get("config") or {}
    for key in sorted(set(old_cfg) | set(new_cfg)):
        if old_cfg.get(key) != new_cfg.get(key):
            return f"its grid differs in '{key}' ({_short(old_cfg.get(key))} there, {_short(new_cfg.get(key))} now)"
    if old.get("models") != new.get("models"):
        return "its models differ (another file, sha256 or endpoint)"
    return None


def _short(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 80 else text[:77] + "..."


def check_run_dir(path: Path, header: dict[str, Any]) -> dict[str, Any] | None:
    """Whether a run with ``header`` may use ``path``, read without writing: the header of the run there
    (a resume), None when there is none yet; a one-line ConfigError for a folder that is another run's,
    or not a bench run at all."""
    run_file = Path(path) / RUN_FILE
    if not run_file.is_file():
        if path.exists() and (not path.is_dir() or any(path.iterdir())):
            raise ConfigError(f"refusing run directory {path}: it exists and holds no {RUN_FILE} "
                              "(not a bench run); use a new or empty folder")
        return None
    try:
        old = json.loads(run_file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{run_file}: not a readable bench run file ({exc})") from None
    why = incompatibility(old if isinstance(old, dict) else {}, header)
    if why:
        raise ConfigError(f"refusing run directory {path}: {why}; use another --run-dir")
    return old  # type: ignore[no-any-return]


class RunDir:
    """One benchmark run directory: opened (created or checked), then appended to from several threads."""

    def __init__(self, path: Path, header: dict[str, Any]):
        self.path = Path(path)
        self._lock = threading.Lock()
        old = check_run_dir(self.path, header)
        if old is not None:
            self.header = old
        else:
            self.path.mkdir(parents=True, exist_ok=True)
            write_whole(self.path / RUN_FILE, json.dumps(header, indent=1) + "\n")
            self.header = header
        self.records_path = self.path / RECORDS_FILE
        dropped = truncate_torn_tail(self.records_path)
        if dropped:
            log.warning("%s: dropped a torn last line (%d bytes) left by an interrupted run", self.records_path,
                        dropped)

    def append(self, record: Mapping[str, Any]) -> None:
        """Append one record as one line, flushed and fsynced before returning."""
        line = (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")
        with self._lock, self.records_path.open("ab") as fh:
            fh.write(line)
            fh.flush()
            os.fsync(fh.fileno())

    def save_code(self, cell: str, task: str, sample: int, round_: int, entry: str, code: str,
                  original: str) -> tuple[str, str]:
        """Write a candidate's code and its diff against the task input; returns their RUN_DIR-relative paths."""
        rel = Path(CODE_DIR) / slug(cell) / slug(task)
        folder = self.path / rel
        folder.mkdir(parents=True, exist_ok=True)
        name = f"s{sample}r{round_}"
        (folder / f"{name}.py").write_text(code, encoding="utf-8")
        diff = "".join(difflib.unified_diff(original.splitlines(keepends=True), code.splitlines(keepends=True),
                                            fromfile=f"a/{entry}", tofile=f"b/{entry}"))
        (folder / f"{name}.diff").write_text(diff, encoding="utf-8")
        return (rel / f"{name}.py").as_posix(), (rel / f"{name}.diff").as_posix()

    def _judged(self, cell: str, task: str, sample: int, round_: int | None = None) -> Path:
        folder = self.path / JUDGED_DIR / slug(cell) / slug(task)
        return folder if round_ is None else folder / f"s{sample}r{round_}.json"

    def load_judged(self, cell: str, task: str, sample: int, round_: int, key: str) -> dict[str, Any] | None:
        """The stored judgement of this round when it was made for the same ``key`` (code and settings)."""
        try:
            data = json.loads(self._judged(cell, task, sample, round_).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(data, dict) or data.get("key") != key or not isinstance(data.get("result"), dict):
            return None
        return data

    def save_judged(self, cell: str, task: str, sample: int, round_: int, key: str, result: Mapping[str, Any],
                    judge_s: float) -> None:
        """Keep one round's judgement until its chain is finished (written whole: a kill leaves none)."""
        path = self._judged(cell, task, sample, round_)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_whole(path, json.dumps({"key": key, "judge_s": round(judge_s, 3), "result": result}, default=str))

    def forget_judged(self, cell: str, task: str, sample: int) -> None:
        """Drop a finished chain's kept judgements (its records hold what the report reads)."""
        folder = self._judged(cell, task, sample)
        for path in folder.glob(f"s{sample}r*.json"):
            path.unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            folder.rmdir()  # only when empty
            folder.parent.rmdir()
            folder.parent.parent.rmdir()


def truncate_torn_tail(path: Path) -> int:
    """Cut a torn last line (no newline, or not JSON) off ``path``; returns the bytes removed."""
    if not path.is_file():
        return 0
    data = path.read_bytes()  # a few MB even for the paper grid
    keep = len(data)
    if not data.endswith(b"\n"):
        keep = data.rfind(b"\n") + 1
    elif len(data) > 1:
        prev = data.rfind(b"\n", 0, len(data) - 1)
        last = data[prev + 1:-1]
        if last.strip():
            try:
                json.loads(last)
            except ValueError:
                keep = prev + 1
    if keep < len(data):
        with path.open("r+b") as fh:
            fh.truncate(keep)
            fh.flush()
            os.fsync(fh.fileno())
    return len(data) - keep


# --- reading ------------------------------------------------------------------------------------

def read_records(run_dir: Path | str) -> list[dict[str, Any]]:
    """Every complete record of RUN_DIR/records.jsonl; a torn last line is dropped.

    A line in the middle that is not JSON is a ConfigError naming it (the file was edited or broken).
    """
    path = Path(run_dir) / RECORDS_FILE
    if not path.is_file():
        return []
    data = path.read_bytes()
    lines = data.split(b"\n")
    torn = lines.pop()  # after the last newline: b"" when the file ends cleanly
    if torn.strip():
        log.warning("%s: ignoring a torn last line", path)
    out = []
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except ValueError:
            if i == len(lines) - 1:
                log.warning("%s: ignoring a torn last line", path)
                continue
            raise ConfigError(f"{path}:{i + 1}: not a JSON record") from None
        out.append(rec)
    return out


def finished_chains(records: Iterable[Mapping[str, Any]]) -> list[list[dict[str, Any]]]:
    """The finished chains, each the rounds of its last attempt in round order (final record last)."""
    by_key: dict[Key, list[dict[str, Any]]] = {}
    for r in records:
        by_key.setdefault(chain_key(r), []).append(dict(r))
    out = []
    for rs in by_key.values():
        finals = [i for i, r in enumerate(rs) if r.get("final")]
        if not finals:
            continue
        end = finals[-1]
        starts = [i for i in range(end + 1) if int(rs[i].get("round", 0)) == 0]
        attempt = rs[starts[-1] if starts else 0: end + 1]
        out.append(sorted(attempt, key=lambda r: int(r.get("round", 0))))
    return out


def finished_keys(records: Iterable[Mapping[str, Any]]) -> set[Key]:
    """(cell, task, sample) of every finished chain: what a resumed run must not redo."""
    return {chain_key(chain[-1]) for chain in finished_chains(records)}


def pass_counts(chains: Sequence[Sequence[Mapping[str, Any]]], round_: int | None = None
                ) -> dict[tuple[str, str], tuple[int, int]]:
    """(cell, task) -> (n finished chains, c passed); with ``round_``, passed at some round <= it."""
    counts: dict[tuple[str, str], list[int]] = {}
    for chain in chains:
        last = chain[-1]
        slot = counts.setdefault((str(last["cell"]), str(last["task"])), [0, 0])
        slot[0] += 1
        if round_ is None:
            slot[1] += last.get("status") == "passed"
        else:
            slot[1] += any(r.get("status") == "passed" and int(r.get("round", 0)) <= round_ for r in chain)
    return {k: (v[0], v[1]) for k, v in counts.items()}
