"""Isolation under bubblewrap: what a sample can no longer reach, and the modes' plumbing."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from opsgraft.errors import ConfigError, SandboxError
from opsgraft.evaluation import isolation
from opsgraft.evaluation.sandbox import SandboxRun, run_program
from tests.conftest import run_cli

BWRAP_OK, BWRAP_WHY = isolation.available()
needs_bwrap = pytest.mark.skipif(not BWRAP_OK, reason=f"bubblewrap cannot isolate here: {BWRAP_WHY}")


def _run(tmp_path: Path, program: str, timeout_s: float = 60) -> SandboxRun:
    root = tmp_path / "root"
    root.mkdir()
    return run_program({"main.py": textwrap.dedent(program)}, "main.py", root=root, timeout_s=timeout_s,
                       isolation="bwrap")


def _report(run: SandboxRun) -> dict[str, str]:
    """The JSON object the sample printed last."""
    assert run.result.status == "passed", run.result.stderr_tail
    return dict(json.loads(run.result.stdout_tail.strip().splitlines()[-1]))


def _running(marker: str, grace_s: float = 5.0) -> list[int]:
    """Host pids whose command line holds ``marker``, after up to ``grace_s`` for them to go away."""
    deadline = time.monotonic() + grace_s
    while True:
        found = []
        for entry in Path("/proc").iterdir():
            try:
                if entry.name.isdigit() and marker.encode() in (entry / "cmdline").read_bytes():
                    state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
                    if state != "Z":
                        found.append(int(entry.name))
            except (OSError, IndexError):
                continue
        if not found or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


@pytest.fixture
def marker() -> Iterator[str]:
    """A unique word for a sample's leftover processes; whatever still carries it is killed afterwards."""
    word = f"opsgraft-leftover-{uuid.uuid4().hex}"
    yield word
    for pid in _running(word, grace_s=0):
        os.kill(pid, signal.SIGKILL)


# --- what a sample cannot do under bwrap ---------------------------------------------------------


@needs_bwrap
def test_no_network_not_even_the_hosts_loopback(tmp_path: Path) -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass  # the host's loopback does answer
        run = _run(tmp_path, f"""
            import json, socket
            try:
                socket.create_connection(("127.0.0.1", {port}), timeout=5).close()
                print(json.dumps({{"connect": "connected"}}))
            except OSError as exc:
                print(json.dumps({{"connect": type(exc).__name__}}))
        """)
    assert _report(run)["connect"] == "ConnectionRefusedError"


@needs_bwrap
def test_writes_only_land_in_the_sample_roots_own_folders(tmp_path: Path) -> None:
    on_root = Path(tempfile.mkdtemp(prefix="opsgraft-isolation-", dir="/var/tmp"))  # on the read-only root
    in_tmp = tmp_path / "outside"  # under the host's /tmp, which the sample does not see
    in_tmp.mkdir()
    try:
        run = _run(tmp_path, f"""
            import json, os, tempfile
            targets = {{
                "workdir": "in-work.txt", "home": os.path.expanduser("~/in-home.txt"),
                "tmpdir": os.path.join(tempfile.mkdtemp(), "in-tmp.txt"),
                "evidence": os.path.join(os.environ["OPSGRAFT_EVIDENCE_DIR"], "in-evidence.txt"),
                "root": {str(on_root / "x.txt")!r}, "host-tmp": {str(in_tmp / "x.txt")!r}, "parent": "../x.txt",
            }}
            result = {{}}
            for name, path in targets.items():
                try:
                    with open(path, "w") as fh:
                        fh.write("written")
                    result[name] = "ok"
                except OSError as exc:
                    result[name] = exc.strerror
            print(json.dumps(result))
        """)
        report = _report(run)
        root = run.root
        assert {k: report[k] for k in ("workdir", "home", "tmpdir", "evidence")} == dict.fromkeys(
            ("workdir", "home", "tmpdir", "evidence"), "ok")
        assert (run.workdir / "in-work.txt").read_text() == "written"
        assert (root / "home" / "in-home.txt").is_file()
        assert list((root / "tmp").rglob("in-tmp.txt"))
        assert (root / ".sandbox" / "evidence" / "in-evidence.txt").is_file()
        assert report["root"] == report["parent"] == "Read-only file system"
        assert report["host-tmp"] == "No such file or directory"  # its /tmp is its own
        assert not any(on_root.iterdir()) and not any(in_tmp.iterdir()) and not (root / "x.txt").exists()
    finally:
        shutil.rmtree(on_root, ignore_errors=True)


@needs_bwrap
def test_the_parents_environment_and_home_are_out_of_reach(tmp_path: Path) -> None:
    parent = os.getpid()
    assert Path(f"/proc/{parent}/environ").read_bytes()  # readable from outside the namespace
    fd, secret = tempfile.mkstemp(prefix=".opsgraft-isolation-", dir=Path.home())  # a ~/.netrc, say
    os.close(fd)
    try:
        run = _run(tmp_path, f"""
            import json, os

            def read(path):
                try:
                    open(path, "rb").read()
                    return "read"
                except OSError as exc:
                    return type(exc).__name__
            pids = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
            print(json.dumps({{"environ": read("/proc/{parent}/environ"), "home": read({secret!r}), "pids": pids}}))
        """)
    finally:
        os.unlink(secret)
    report = _report(run)
    assert report["environ"] == report["home"] == "FileNotFoundError"
    assert parent not in report["pids"] and len(report["pids"]) <= 3  # bwrap's init and the sample


SPAWNS_ESCAPEE = """
import subprocess, sys, time
# Its own session and group: the end-of-run kill of the sample's group cannot reach it.
subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)", "{marker}"], start_new_session=True,
                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
time.sleep(0.5)
print("spawned", flush=True)
"""


@needs_bwrap
def test_a_grandchild_in_its_own_session_ends_with_the_run(tmp_path: Path, marker: str) -> None:
    run = _run(tmp_path, SPAWNS_ESCAPEE.format(marker=marker))
    assert run.result.status == "passed" and "spawned" in run.result.stdout_tail
    assert _running(marker) == []


@needs_bwrap
def test_a_timed_out_sample_leaves_nothing_running(tmp_path: Path, marker: str) -> None:
    run = _run(tmp_path, SPAWNS_ESCAPEE.format(marker=marker) + "time.sleep(120)\n", timeout_s=3)
    assert run.result.status == "timeout" and "spawned" in run.result.stdout_tail
    assert _running(marker) == []


@needs_bwrap
def test_a_killed_evaluator_takes_its_sample_with_it(tmp_path: Path, marker: str) -> None:
    root = tmp_path / "root"
    root.mkdir()
    # The sample becomes a process whose command line carries the marker, to be found from here;
    # the marker is cut in two so that the evaluator's own command line does not carry it.
    program = (f"import os, sys; os.execv(sys.executable, [sys.executable, '-c', 'import time; time.sleep(120)', "
               f"{marker[:9]!r} + {marker[9:]!r}])")
    parent = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        from opsgraft.evaluation.sandbox import run_program
        run_program({{"main.py": {program!r}}}, "main.py", root={str(root)!r}, timeout_s=300, isolation="bwrap")
    """)])
    try:
        deadline = time.monotonic() + 60
        while not _running(marker, grace_s=0):
            assert time.monotonic() < deadline and parent.poll() is None, "the sample never started"
            time.sleep(0.1)
        parent.kill()  # SIGKILL: no finally, no clean-up in the evaluator
        parent.wait()
        assert _running(marker) == [], "the sample outlived its evaluator"
    finally:
        parent.kill()


@pytest.mark.slow
@needs_bwrap
def test_a_corpus_reference_still_passes_under_bwrap() -> None:
    from opsgraft.evaluation.corpus import load_task, reference_files
    from opsgraft.evaluation.evaluator import judge
    from opsgraft.types import Candidate

    task = load_task("tracking-mlflow-sklearn-diabetes")
    result = judge(task, Candidate(task.id, 0, reference_files(task), task.entry), isolation="bwrap")
    assert result.status == "passed", (result.execution.stderr_tail, result.verdict)
    assert result.execution.outside_writes == ()


# --- the modes and the command line, bwrap or not ------------------------------------------------


def test_an_unknown_mode_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SandboxError, match="unknown isolation 'docker'"):
        isolation.wrap(["python", "x.py"], root=tmp_path, env={}, mode="docker")
    with pytest.raises(ConfigError, match="valid: none, bwrap, auto"):
        isolation.resolve("docker")
    assert isolation.wrap(["python", "x.py"], root=tmp_path, env={}, mode="none") == ["python", "x.py"]


def test_without_bwrap_auto_runs_plainly_and_bwrap_refuses(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(isolation, "available", lambda: (False, "bwrap (bubblewrap) is not installed"))
    assert isolation.resolve("auto") == "none"
    assert isolation.wrap(["python", "x.py"], root=tmp_path, env={}, mode="auto") == ["python", "x.py"]
    with pytest.raises(ConfigError, match="apt-get install bubblewrap"):
        isolation.resolve("bwrap")
    with pytest.raises(SandboxError, match="not installed"):
        isolation.wrap(["python", "x.py"], root=tmp_path, env={}, mode="bwrap")
    code, _, err = run_cli(["corpus", "check", "--task", "tracking-mlflow-sklearn-diabetes", "--isolation", "bwrap"])
    assert code == 2 and "--isolation bwrap: bwrap (bubblewrap) is not installed" in err
    from opsgraft.commands import doctor

    monkeypatch.setattr(doctor, "CHECKS", [])  # only the optional checks
    code, out, _ = run_cli(["doctor"])
    assert "warn isolation" in out and "fix: as root: apt-get install bubblewrap" in out
    assert code == 0  # optional: its warning alone never fails doctor


def test_only_the_roots_own_folders_are_bound_writable(tmp_path: Path) -> None:
    root = tmp_path / "root"
    for name in ("work", "home", "tmp", ".sandbox"):
        (root / name).mkdir(parents=True)
    shared = tmp_path / "shared-module"  # on PYTHONPATH, under the /tmp the sample gets a private copy of
    tool = tmp_path / "tool"  # a script in the command line (the supervisor), there too
    tool.mkdir()
    shared.mkdir()
    (tool / "supervise.py").write_text("")
    flags = isolation.bwrap_flags(root, {"PYTHONPATH": str(shared), "PATH": str(root / ".sandbox")},
                                  ["python", str(tool / "supervise.py"), "main.py"])
    pairs = [(flag, flags[i + 1]) for i, flag in enumerate(flags) if flag in ("--bind", "--ro-bind", "--tmpfs")]
    writable = {src for flag, src in pairs if flag == "--bind"}
    assert writable == {str(root / n) for n in ("work", "home", "tmp", ".sandbox")}  # no remote.git: none here
    order = [src for _, src in pairs]
    assert order.index("/tmp") < order.index(str(shared)) < order.index(str(root)) < order.index(str(root / "work"))
    assert ("--ro-bind", str(tool)) in pairs
    assert ("--ro-bind", str(root)) in pairs and ("--ro-bind", "/") in pairs
    for flag in ("--unshare-net", "--unshare-pid", "--die-with-parent"):
        assert flag in flags
    assert ("--tmpfs", str(Path.home())) in pairs and ("--tmpfs", "/run") in pairs
    assert flags[flags.index("--chdir") + 1] == str(root / "work")
    (root / "remote.git").mkdir()
    assert str(root / "remote.git") in isolation.bwrap_flags(root, {})


def test_evaluate_passes_the_mode_to_every_sample(monkeypatch: pytest.MonkeyPatch) -> None:
    from opsgraft.evaluation.executors import make_runner

    monkeypatch.setattr(isolation, "available", lambda: (True, "bubblewrap"))
    assert make_runner(jobs=2, device="cpu", isolation="auto").isolation == "bwrap"
    assert make_runner(device="cpu").isolation == "none"


def test_adapt_and_translate_take_the_mode_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from opsgraft.adapters.specs import get_adapter
    from opsgraft.adapters.workflow import Workflow
    from opsgraft.evaluation import evaluator

    script = tmp_path / "train.py"
    script.write_text("import wandb\nwandb.init(mode='offline')\nprint('training')\n")
    monkeypatch.setattr(isolation, "available", lambda: (False, "bwrap (bubblewrap) is not installed"))
    for command in (["adapt", str(script), "--add", "tracking:mlflow"],
                    ["translate", str(script), "--from", "wandb", "--to", "mlflow"]):
        code, _, err = run_cli([*command, "--run", "--isolation", "bwrap"])
        assert code == 2 and "--isolation bwrap: bwrap (bubblewrap) is not installed" in err, err
    seen: dict[str, object] = {}
    monkeypatch.setattr(evaluator, "judge", lambda task, cand, **kw: seen.update(kw))
    flow = Workflow(spec=get_adapter("tracking:mlflow"), script=script, source=script.read_text(), isolation="bwrap")
    assert flow.task is not None
    flow.judge(flow.task, None)  # type: ignore[arg-type]
    assert seen["isolation"] == "bwrap"


def test_a_cuda_sample_gets_the_gpu_device_nodes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(isolation.glob, "glob", lambda pattern: ["/dev/nvidia0", "/dev/nvidiactl"])
    cuda = isolation.bwrap_flags(tmp_path, {"OPSGRAFT_DEVICE": "cuda"})
    assert " ".join(cuda).count("--dev-bind /dev/nvidia") == 2 and cuda.index("--dev-bind") > cuda.index("--dev")
    assert "--dev-bind" not in isolation.bwrap_flags(tmp_path, {"OPSGRAFT_DEVICE": "cpu"})


def test_plugin_hook_folders_under_a_private_tmp_are_bound_read_only(tmp_path: Path) -> None:
    # A plugin installed from a checkout under /tmp (as CI's clean clone): its hook folder must stay
    # visible under the sample's private /tmp, or its hooks never run and its checker sees no evidence.
    root = tmp_path / "root"
    (root / "work").mkdir(parents=True)
    hooks = tmp_path / "plugin-hooks"
    hooks.mkdir()
    flags = isolation.bwrap_flags(root, {"OPSGRAFT_HOOK_DIRS": str(hooks)})
    pairs = [(flag, flags[i + 1]) for i, flag in enumerate(flags) if flag in ("--bind", "--ro-bind", "--tmpfs")]
    assert ("--ro-bind", str(hooks)) in pairs
    order = [src for _, src in pairs]
    assert order.index("/tmp") < order.index(str(hooks))
    assert str(hooks) not in isolation.bwrap_flags(root, {})  # bound because the env names it
