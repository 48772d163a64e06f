"""The sample's environment is an allowlist, withheld values are redacted, dead runs' roots are removed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from opsgraft.evaluation import procs, sandbox
from opsgraft.evaluation.corpus import load_task_dir
from opsgraft.evaluation.evaluator import judge, sandbox_base
from opsgraft.evaluation.sandbox import run_program
from opsgraft.types import Candidate

# Credentials under names no denylist foresaw (issue 14), and proxies with a password.
SECRETS = {
    "DATABASE_URL": "postgresql://app:hunter2-db-pass@db.internal:5432/prod",
    "GITHUB_PAT": "ghp_16C7e42F292c6912E7710c838347Ae178B4a",
    "PGPASS": "pg-secret-pass-991",
    "SENTRY_DSN": "https://0123456789abcdef@o42.ingest.sentry.io/4242",
    "AZURE_STORAGE_CONNECTION_STRING": "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=c2VjcmV0a2V5",
    "http_proxy": "http://proxyuser:proxy-pass-77@proxy.corp:3128",
    "https_proxy": "http://proxyuser:proxy-pass-77@proxy.corp:3129",
    "HTTPS_PROXY": "http://proxyuser:proxy-pass-78@proxy.corp:3130",
}

PRINTS_ENV = "import json, os\nprint(json.dumps(dict(os.environ)))\n"


def test_only_allowlisted_variables_reach_the_program(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    allowed = {"LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "TZ": "UTC", "OMP_NUM_THREADS": "2", "OPENBLAS_CORETYPE": "Haswell",
               "OPENBLAS_L2_SIZE": "1048576", "MKL_DEBUG_CPU_TYPE": "5", "NVIDIA_DRIVER_CAPABILITIES": "compute",
               "CUDA_MODULE_LOADING": "LAZY", "LD_LIBRARY_PATH": "/opt/lib"}
    for name, value in allowed.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3")
    monkeypatch.setenv("SOME_APP_SETTING", "whatever")
    run = run_program({"main.py": PRINTS_ENV}, "main.py", root=tmp_path, timeout_s=30)
    assert run.result.status == "passed", run.result.stderr_tail
    env = json.loads(run.result.stdout_tail)
    assert not set(SECRETS) & set(env)
    assert not [v for v in env.values() if any(s in v for s in SECRETS.values())]
    assert {k: env.get(k) for k in allowed} == allowed
    assert env["CUDA_VISIBLE_DEVICES"] == ""  # the sandbox's, never the parent's
    assert "SOME_APP_SETTING" not in env


def test_pass_env_from_the_task_and_the_caller(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, make_task: Callable[..., Path], file_checker_registered: str
) -> None:
    monkeypatch.setenv("TASK_NEEDS_THIS", "from-task")
    monkeypatch.setenv("USER_NEEDS_THIS", "from-user")
    monkeypatch.setenv("NOBODY_ASKED", "no")
    task = load_task_dir(make_task("needs-env", pass_env=["TASK_NEEDS_THIS"]))
    assert task.pass_env == ("TASK_NEEDS_THIS",)
    script = "import json, os\nopen('out.txt', 'w').write('ok')\njson.dump(dict(os.environ), open('env.json', 'w'))\n"
    result = judge(task, Candidate("needs-env", 0, {"train.py": script}, "train.py"), keep_workdir=True,
                   pass_env=("USER_NEEDS_THIS",))
    assert result.status == "passed", result
    env = json.loads((Path(result.execution.workdir) / "env.json").read_text())
    assert env["TASK_NEEDS_THIS"] == "from-task" and env["USER_NEEDS_THIS"] == "from-user"
    assert "NOBODY_ASKED" not in env


def test_the_pass_env_option_reaches_the_program(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, make_task: Callable[..., Path], file_checker_registered: str,
    tasks_dir: Path, cli: Callable[[list[str]], tuple[int, str, str]],
) -> None:
    monkeypatch.setenv("MY_SETTING", "value-from-cli")
    make_task("cli-env")
    script = "import os\nopen('out.txt', 'w').write('ok' if os.environ.get('MY_SETTING') == 'value-from-cli' else 'no')\n"
    gens = tmp_path / "gens.jsonl"
    gens.write_text(json.dumps({"task_id": "cli-env", "sample_index": 0, "files": {"train.py": script},
                                "entry": "train.py"}) + "\n")
    for flags, expected in (([], "failed"), (["--pass-env", "MY_SETTING"], "passed")):
        out = tmp_path / f"ev{len(flags)}"
        code, _out, err = cli(["evaluate", str(gens), "--corpus", str(tasks_dir), "--device", "cpu", "--out", str(out),
                               *flags])
        assert code == 0, err
        assert json.loads((out / "results.jsonl").read_text())["status"] == expected


READS_PARENTS_ENVIRON = """
import os
NAMES = {names!r}
pid = os.getppid()
while pid > 1:
    try:
        block = open(f"/proc/{{pid}}/environ", "rb").read().decode(errors="replace")
        for entry in block.split("\\0"):
            if entry.partition("=")[0] in NAMES:
                print(pid, entry)
        pid = int(open(f"/proc/{{pid}}/stat").read().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        break
"""

PARENT = """
import json, sys
from pathlib import Path
from opsgraft.evaluation.sandbox import run_program
run = run_program({"main.py": sys.argv[2]}, "main.py", root=Path(sys.argv[1]), timeout_s=60)
print(json.dumps({"stdout": run.result.stdout_tail, "stderr": run.result.stderr_tail, "status": run.result.status}))
"""


def test_secrets_read_from_the_parents_environ_are_redacted_in_the_output(tmp_path: Path) -> None:
    # The parent must be a real process started with the secrets: /proc/PID/environ shows the
    # environment a process was started with, not later os.environ changes.
    root = tmp_path / "root"
    root.mkdir()
    script = READS_PARENTS_ENVIRON.format(names=sorted(SECRETS))
    out = subprocess.run([sys.executable, "-c", PARENT, str(root), script], env={**os.environ, **SECRETS},
                         capture_output=True, text=True, timeout=120, check=True).stdout
    result = json.loads(out)
    assert result["status"] == "passed", result["stderr"]
    # The program did get hold of them (the plain sandbox cannot stop that), but they do not
    # leave it through its output.
    assert "DATABASE_URL=[redacted]" in result["stdout"]
    assert "GITHUB_PAT=[redacted]" in result["stdout"]
    for value in SECRETS.values():
        assert value not in result["stdout"]


def test_redaction_keeps_short_values_numbers_and_paths(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SHORT_ONE", "abc")
    monkeypatch.setenv("A_NUMBER", "1234567")
    monkeypatch.setenv("A_PATH", str(tmp_path))
    monkeypatch.setenv("A_SECRET", "s3cr3t-value")
    secrets = sandbox._withheld_values({"PATH": os.environ["PATH"]})
    text = sandbox.redact(f"abc 1234567 {tmp_path} s3cr3t-value", secrets)
    assert text == f"abc 1234567 {tmp_path} [redacted]"


# --- roots of dead runs -------------------------------------------------------------------------------


def _dead_pid() -> tuple[int, int]:
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    started = procs.start_time(proc.pid)
    assert started is not None
    proc.kill()
    proc.wait()
    return proc.pid, started


def _root(base: Path, name: str, owner: str | None) -> Path:
    root = base / name
    (root / ".sandbox").mkdir(parents=True)
    (root / "work").mkdir()
    if owner is not None:
        (root / ".sandbox" / "owner").write_text(owner)
    return root


def test_roots_of_dead_runs_are_removed_and_their_processes_killed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = tmp_path / "base"
    pid, started = _dead_pid()
    dead = _root(base, "opsgraft-dead-0-x", f"{pid} {started}\n")
    me = os.getpid()
    reused = _root(base, "opsgraft-reused-0-x", f"{me} {procs.start_time(me) + 1}\n")  # our pid, not us
    alive = _root(base, "opsgraft-alive-0-x", f"{me} {procs.start_time(me)}\n")
    kept = _root(base, "opsgraft-kept-0-x", None)  # --keep-workdirs: released, no owner
    other = _root(base, "not-ours", f"{pid} {started}\n")
    old_empty = base / "opsgraft-empty-0-x"
    old_empty.mkdir()
    os.utime(old_empty, (time.time() - 2 * sandbox.STALE_EMPTY_S,) * 2)
    straggler = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True,
                                 env={**os.environ, "OPSGRAFT_SANDBOX_ROOT": str(dead)})
    try:
        monkeypatch.setenv("OPSGRAFT_SANDBOX_DIR", str(base))
        assert sandbox_base() == base
        assert not dead.exists() and not reused.exists() and not old_empty.exists()
        assert alive.exists() and kept.exists() and other.exists()
        assert straggler.wait(timeout=5) == -9
    finally:
        straggler.kill()


def test_a_run_records_its_owner_and_a_kept_root_is_released(
    tmp_path: Path, make_task: Callable[..., Path], file_checker_registered: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "r"
    root.mkdir()
    run_program({"main.py": "pass\n"}, "main.py", root=root, timeout_s=30)
    me = os.getpid()
    assert (root / ".sandbox" / "owner").read_text().split() == [str(me), str(procs.start_time(me))]
    monkeypatch.setenv("OPSGRAFT_SANDBOX_DIR", str(tmp_path / "base"))
    task = load_task_dir(make_task("kept"))
    result = judge(task, Candidate("kept", 0, {"train.py": "open('out.txt', 'w').write('ok')\n"}, "train.py"),
                   keep_workdir=True)
    kept = Path(result.execution.workdir).parent
    assert not (kept / ".sandbox" / "owner").exists()
    assert sandbox.clean_stale(tmp_path / "base") == []
    assert kept.exists()
