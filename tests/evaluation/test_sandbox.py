"""The sandbox contract: timeouts kill the program's tree, env allowlist, outside writes, git setup."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from opsgraft.config import offline_env
from opsgraft.evaluation import sandbox
from opsgraft.evaluation.sandbox import hooks_dir, run_program


def _alive(pid: int, grace_s: float = 5.0) -> bool:
    """True if ``pid`` still runs after ``grace_s`` (SIGKILL is asynchronous; a zombie counts as dead)."""
    deadline = time.monotonic() + grace_s
    while True:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, IndexError):
            return False
        if state == "Z":
            return False
        if time.monotonic() > deadline:
            return True
        time.sleep(0.05)


SPAWNS_SLEEPER = """
import subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
open("child.pid", "w").write(str(child.pid))
print("spawned", child.pid, flush=True)
"""


def test_timeout_kills_the_program_and_its_children(tmp_path: Path) -> None:
    script = SPAWNS_SLEEPER + "time.sleep(120)\n"
    run = run_program({"main.py": script}, "main.py", root=tmp_path, timeout_s=3)
    assert run.result.status == "timeout"
    assert run.result.returncode is None
    assert 3 <= run.result.wall_s < 20
    assert "spawned" in run.result.stdout_tail
    assert "time limit" in run.result.stderr_tail
    child = int((run.workdir / "child.pid").read_text())
    assert not _alive(child)


def test_children_left_running_after_exit_are_killed(tmp_path: Path) -> None:
    run = run_program({"main.py": SPAWNS_SLEEPER}, "main.py", root=tmp_path, timeout_s=30)
    assert run.result.status == "passed"
    assert run.result.wall_s < 20
    assert not _alive(int((run.workdir / "child.pid").read_text()))


PRINTS_ENV = "import json, os\nprint(json.dumps(dict(os.environ)))\n"


def test_environment_is_scrubbed_and_offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secrets = {
        "FOO_API_KEY": "k1",
        "MY_TOKEN": "t1",
        "db_password": "p1",
        "AWS_SECRET_ACCESS_KEY": "s1",
        "GITHUB_TOKEN": "t2",
        "SOME_CREDENTIALS": "c1",
    }
    for name, value in secrets.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("WANDB_MODE", "online")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://tracking.example:5000")
    monkeypatch.setenv("OPSGRAFT_HARMLESS", "dropped")
    monkeypatch.setenv("KEEP_ME", "kept")
    monkeypatch.setenv("LC_TIME", "C")
    run = run_program({"main.py": PRINTS_ENV}, "main.py", root=tmp_path, timeout_s=30, pass_env=["KEEP_ME"])
    assert run.result.status == "passed", run.result.stderr_tail
    env = json.loads(run.result.stdout_tail)
    assert not set(secrets) & set(env)
    assert env["LC_TIME"] == "C"  # allowlisted
    forced = set(offline_env())  # TOKENIZERS_PARALLELISM, TIKTOKEN_CACHE_DIR: set by the sandbox itself
    assert not [k for k in env if any(m in k.upper() for m in ("KEY", "TOKEN", "SECRET", "PASSWORD")) and k not in forced]
    assert not [v for v in env.values() if v in secrets.values()]
    assert env["KEEP_ME"] == "kept"  # named in pass_env; without it, not passed (test_sandbox_containment)
    assert "OPSGRAFT_HARMLESS" not in env
    assert env["WANDB_MODE"] == "offline"
    assert env["MLFLOW_DISABLE_TELEMETRY"] == "true"
    workdir = tmp_path / "work"
    assert env["MLFLOW_TRACKING_URI"] == f"sqlite:///{workdir}/mlflow.db"
    assert env["WANDB_DIR"] == str(workdir)
    assert env["OPSGRAFT_EVIDENCE_DIR"] == str(tmp_path / ".sandbox" / "evidence")
    assert env["OPSGRAFT_DEVICE"] == "cpu"
    assert env["CUDA_VISIBLE_DEVICES"] == ""
    assert env["PYTHONUNBUFFERED"] == "1"
    assert env["HOME"] == str(tmp_path / "home")
    assert env["PYTHONPATH"].split(os.pathsep)[0] == str(hooks_dir())
    assert env["PATH"].split(os.pathsep)[0] == str(tmp_path / ".sandbox" / "bin")
    # What the program saw is what a checker gets.
    assert run.env["MLFLOW_TRACKING_URI"] == env["MLFLOW_TRACKING_URI"]


def test_cuda_device_routing_sets_visible_devices(tmp_path: Path) -> None:
    run = run_program({"main.py": PRINTS_ENV}, "main.py", root=tmp_path, timeout_s=30, device="cuda",
                      cuda_devices="1")
    env = json.loads(run.result.stdout_tail)
    assert env["CUDA_VISIBLE_DEVICES"] == "1" and env["OPSGRAFT_DEVICE"] == "cuda"
    assert run.result.device == "cuda:1"


def test_site_picks_up_the_hooks_sitecustomize(tmp_path: Path) -> None:
    script = "import sys\nprint(sys.modules['sitecustomize'].__file__)\n"
    run = run_program({"main.py": script}, "main.py", root=tmp_path, timeout_s=30)
    assert run.result.status == "passed", run.result.stderr_tail
    assert Path(run.result.stdout_tail.strip()) == hooks_dir() / "sitecustomize.py"


def test_writes_outside_the_workdir_are_reported(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    elsewhere = tmp_path_factory.mktemp("elsewhere") / "stray.txt"
    script = f"""
import os, pathlib
pathlib.Path(os.path.expanduser("~/notes.txt")).write_text("home")
pathlib.Path(os.path.expanduser("~/.cache/lib")).mkdir(parents=True)
pathlib.Path(os.path.expanduser("~/.cache/lib/blob")).write_text("cache")
open("../escape.txt", "w").write("up")
open({str(elsewhere)!r}, "w").write("abs")
open("inside.txt", "w").write("fine")
import tempfile
tempfile.NamedTemporaryFile(delete=False).write(b"tmp")
"""
    run = run_program({"main.py": script}, "main.py", root=tmp_path, timeout_s=30)
    assert run.result.status == "passed", run.result.stderr_tail
    writes = run.result.outside_writes
    assert "~/notes.txt" in writes
    assert "../escape.txt" in writes
    assert str(elsewhere) in writes
    # The fake HOME's caches, the workdir and TMPDIR are not outside writes.
    assert len(writes) == 3, writes


def test_clean_program_reports_no_outside_writes(tmp_path: Path) -> None:
    run = run_program({"main.py": "open('x.txt', 'w').write('1')\n"}, "main.py", root=tmp_path, timeout_s=30)
    assert run.result.status == "passed"
    assert run.result.outside_writes == ()


def test_failure_is_data_with_stderr_tail(tmp_path: Path) -> None:
    script = "print('x' * 10000)\nraise ValueError('bad hyperparameter')\n"
    run = run_program({"main.py": script}, "main.py", root=tmp_path, timeout_s=30)
    assert run.result.status == "failed"
    assert run.result.returncode == 1
    assert "ValueError: bad hyperparameter" in run.result.stderr_tail
    assert len(run.result.stdout_tail) == sandbox.TAIL_CHARS


@pytest.mark.parametrize(
    ("files", "entry", "message"),
    [
        ({"main.py": "pass"}, "other.py", "entry"),
        ({"../up.py": "pass"}, "../up.py", "relative path"),
        ({"/abs.py": "pass"}, "/abs.py", "relative path"),
    ],
)
def test_sandbox_errors_are_data(tmp_path: Path, files: dict[str, str], entry: str, message: str) -> None:
    run = run_program(files, entry, root=tmp_path, timeout_s=30)
    assert run.result.status == "error"
    assert message in run.result.stderr_tail
    assert not (tmp_path.parent / "up.py").exists()


def test_root_must_be_empty(tmp_path: Path) -> None:
    from opsgraft.errors import SandboxError

    (tmp_path / "x").write_text("")
    with pytest.raises(SandboxError):
        run_program({"main.py": "pass"}, "main.py", root=tmp_path, timeout_s=5)


def test_rlimits_apply_to_the_program(tmp_path: Path) -> None:
    script = "import resource\nprint(resource.getrlimit(resource.RLIMIT_CORE)[0], resource.getrlimit(resource.RLIMIT_FSIZE)[0])\n"
    run = run_program({"main.py": script}, "main.py", root=tmp_path, timeout_s=30)
    core, fsize = map(int, run.result.stdout_tail.split())
    assert core == 0
    assert 0 < fsize <= 4 << 30


def test_git_repo_setup(tmp_path: Path) -> None:
    script = """
import subprocess
def git(*a):
    return subprocess.run(["git", *a], capture_output=True, text=True, check=True).stdout.strip()
print(git("rev-parse", "--abbrev-ref", "HEAD"))
print(git("log", "--format=%s"))
print(git("ls-files"))
open("new.txt", "w").write("x")
git("add", "new.txt")
git("commit", "-q", "-m", "second")
git("push", "-q", "origin", "main")
print(git("status", "--porcelain") or "clean")
"""
    run = run_program({"main.py": script, "data/a.csv": "x,y\n"}, "main.py", root=tmp_path, timeout_s=60,
                      setup="git-repo")
    assert run.result.status == "passed", run.result.stderr_tail
    lines = run.result.stdout_tail.split()
    assert lines[0] == "main"
    assert "data/a.csv" in lines and "main.py" in lines
    assert lines[-1] == "clean"  # the evidence folder is excluded
    remote_log = subprocess.run(["git", "--git-dir", str(tmp_path / "remote.git"), "log", "--format=%s", "main"],
                                capture_output=True, text=True, check=True).stdout.split("\n")
    assert remote_log[0] == "second"
    assert run.result.outside_writes == ()  # remote.git is the sandbox's own


def test_hooks_bin_is_copied_executable_and_first_on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_hooks = tmp_path / "hooks"
    (fake_hooks / "bin").mkdir(parents=True)
    shim = fake_hooks / "bin" / "git-lfs"
    shim.write_text("#!/bin/sh\necho shim-called \"$@\" >> \"$OPSGRAFT_EVIDENCE_DIR/lfs.log\"\n")
    shim.chmod(0o644)  # not executable in the source: the copy must be
    monkeypatch.setattr(sandbox, "hooks_dir", lambda: fake_hooks)
    root = tmp_path / "root"
    root.mkdir()
    script = "import shutil, subprocess\nprint(shutil.which('git-lfs'))\nsubprocess.run(['git-lfs', 'track'], check=True)\n"
    run = run_program({"main.py": script}, "main.py", root=root, timeout_s=30)
    assert run.result.status == "passed", run.result.stderr_tail
    assert run.result.stdout_tail.strip() == str(root / ".sandbox" / "bin" / "git-lfs")
    assert (root / ".sandbox" / "evidence" / "lfs.log").read_text().strip() == "shim-called track"


def test_python_of_the_sandbox_is_this_interpreter(tmp_path: Path) -> None:
    run = run_program({"main.py": "import sys\nprint(sys.executable)\n"}, "main.py", root=tmp_path, timeout_s=30)
    assert run.result.stdout_tail.strip() == sys.executable


def test_threads_cap_blas_threads_unless_the_parent_set_them(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in sandbox.THREAD_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MKL_NUM_THREADS", "3")
    (tmp_path / "a").mkdir()
    env = json.loads(run_program({"m.py": PRINTS_ENV}, "m.py", root=tmp_path / "a", timeout_s=30, threads=1)
                     .result.stdout_tail)
    assert env["OMP_NUM_THREADS"] == "1" and env["OPENBLAS_NUM_THREADS"] == "1"
    assert env["MKL_NUM_THREADS"] == "3"
    (tmp_path / "b").mkdir()
    env = json.loads(run_program({"m.py": PRINTS_ENV}, "m.py", root=tmp_path / "b", timeout_s=30).result.stdout_tail)
    assert "OMP_NUM_THREADS" not in env
