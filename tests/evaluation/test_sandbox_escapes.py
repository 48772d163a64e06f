"""Sandbox escapes that must not work: links out of the workdir, detached children, a dead parent, memory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from opsgraft.evaluation import procs, sandbox
from opsgraft.evaluation.corpus import load_task_dir
from opsgraft.evaluation.evaluator import judge
from opsgraft.evaluation.sandbox import run_program
from opsgraft.types import Candidate


def _gone(pid: int, grace_s: float = 5.0) -> bool:
    """True once ``pid`` is dead or a zombie, waiting up to ``grace_s`` (SIGKILL is asynchronous)."""
    deadline = time.monotonic() + grace_s
    while procs.alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


# --- links -----------------------------------------------------------------------------------------


def test_a_python_write_through_a_link_out_of_the_workdir_is_reported(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    outside = tmp_path_factory.mktemp("outside")
    script = f"""
import os
os.symlink({str(outside)!r}, "out")
open("out/f.txt", "w").write("x")
os.mkdir("sub")
os.symlink("sub", "inner")  # a link that stays inside is fine
open("inner/g.txt", "w").write("y")
"""
    run = run_program({"main.py": script}, "main.py", root=tmp_path, timeout_s=30)
    assert run.result.status == "passed", run.result.stderr_tail
    assert (outside / "f.txt").read_text() == "x"
    writes = run.result.outside_writes
    assert str(outside / "f.txt") in writes  # the audit hook resolves the link
    assert f"link work/out -> {outside}" in writes
    assert len(writes) == 2, writes


def test_a_shell_write_through_a_link_is_caught_by_the_link_scan(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    outside = tmp_path_factory.mktemp("outside")
    script = f"""
import subprocess
subprocess.run(["sh", "-c", "ln -s {outside} $HOME/escape && echo x > $HOME/escape/g.txt"], check=True)
"""
    run = run_program({"main.py": script}, "main.py", root=tmp_path, timeout_s=30)
    assert run.result.status == "passed", run.result.stderr_tail
    assert (outside / "g.txt").is_file()
    assert f"link home/escape -> {outside}" in run.result.outside_writes


def test_judge_fails_a_sample_that_writes_through_a_link(
    make_task: Callable[..., Path], file_checker_registered: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    task = load_task_dir(make_task("links"))
    outside = tmp_path_factory.mktemp("outside")
    script = f"import os\nopen('out.txt', 'w').write('ok')\nos.symlink({str(outside)!r}, 'o')\nopen('o/x', 'w')\n"
    result = judge(task, Candidate("links", 0, {"train.py": script}, "train.py"))
    assert result.execution.status == "passed"
    assert result.status == "failed"
    assert result.verdict is not None and "wrote outside its workdir" in result.verdict.reasons[-1]
    assert f"link work/o -> {outside}" in result.verdict.reasons[-1]


# --- descendants ------------------------------------------------------------------------------------

# Each starts a sleeper that leaves the program's process group; the sleeper writes sleeper.pid.
ESCAPES = {
    "setsid": "subprocess.Popen(SLEEP, start_new_session=True)",
    "process_group": "subprocess.Popen(SLEEP, process_group=0)",
    "preexec_setsid": "subprocess.Popen(SLEEP, preexec_fn=os.setsid)",
    "double_fork": "daemon()",  # fork, setsid, fork again, the middle one exits: an orphan
}
ESCAPE_PRELUDE = """
import os, subprocess, sys, time
SLEEP = [sys.executable, "-c", "import os, time; open('sleeper.pid', 'w').write(str(os.getpid())); time.sleep(300)"]
def daemon():
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            os.execv(SLEEP[0], SLEEP)
        os._exit(0)
    os.wait()
"""


@pytest.mark.parametrize("escape", sorted(ESCAPES))
@pytest.mark.parametrize("end", ["exit", "timeout"])
def test_every_descendant_is_killed_whatever_its_session_or_group(tmp_path: Path, escape: str, end: str) -> None:
    script = ESCAPE_PRELUDE + ESCAPES[escape] + "\nwhile not os.path.exists('sleeper.pid'):\n    time.sleep(0.05)\n"
    if end == "timeout":
        script += "time.sleep(120)\n"
    run = run_program({"main.py": script}, "main.py", root=tmp_path, timeout_s=5 if end == "timeout" else 60)
    assert run.result.status == ("timeout" if end == "timeout" else "passed"), run.result.stderr_tail
    time.sleep(0.2)  # the sleeper may not have written its pid in full when the program saw the file
    sleeper = int((run.workdir / "sleeper.pid").read_text())
    assert _gone(sleeper)


PARENT = """
import json, sys
from pathlib import Path
from opsgraft.evaluation.sandbox import run_program
root = Path(sys.argv[1])
run = run_program({"main.py": sys.argv[2]}, "main.py", root=root, timeout_s=float(sys.argv[3]))
print(json.dumps({"stdout": run.result.stdout_tail, "stderr": run.result.stderr_tail}))
"""

SPINS_WITH_A_SETSID_GRANDCHILD = """
import os, subprocess, sys, time
g = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"], start_new_session=True)
open("grandchild.pid", "w").write(str(g.pid))
open("program.pid", "w").write(str(os.getpid()))
while True:
    pass
"""


def test_a_killed_parent_takes_the_program_and_its_detached_grandchild_along(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    parent = subprocess.Popen([sys.executable, "-c", PARENT, str(root), SPINS_WITH_A_SETSID_GRANDCHILD, "600"])
    try:
        pid_files = [root / "work" / "program.pid", root / "work" / "grandchild.pid"]
        deadline = time.monotonic() + 60
        while not all(f.is_file() and f.read_text() for f in pid_files):
            assert time.monotonic() < deadline and parent.poll() is None, "the program never started"
            time.sleep(0.1)
        program, grandchild = (int(f.read_text()) for f in pid_files)
        assert procs.alive(program) and procs.alive(grandchild)
        parent.kill()
        parent.wait()
        assert _gone(program, 5.0)
        assert _gone(grandchild, 5.0)
    finally:
        parent.kill()
        procs.kill_marked(str(root))


def test_cpu_time_backstop_is_set_and_inherited(tmp_path: Path) -> None:
    script = """
import resource, subprocess, sys
print(resource.getrlimit(resource.RLIMIT_CPU)[0])
subprocess.run([sys.executable, "-c", "import resource; print(resource.getrlimit(resource.RLIMIT_CPU)[0])"],
               start_new_session=True)
"""
    run = run_program({"main.py": script}, "main.py", root=tmp_path, timeout_s=10)
    assert run.result.status == "passed", run.result.stderr_tail
    mine, grandchild = map(int, run.result.stdout_tail.split())
    expected = int(sandbox.CPU_FACTOR * 10 * (os.cpu_count() or 1)) + 60
    assert mine == grandchild == expected


# --- memory -----------------------------------------------------------------------------------------


def test_a_sample_over_its_memory_limit_fails_with_a_clear_reason(tmp_path: Path) -> None:
    script = "import time\ndata = bytearray(b'x') * (1 << 30)\nprint('allocated', flush=True)\ntime.sleep(60)\n"
    run = run_program({"main.py": script}, "main.py", root=tmp_path, timeout_s=60, memory_limit=200 << 20)
    assert run.result.status == "failed"
    assert run.result.wall_s < 30
    assert "[opsgraft] killed: used more than the 200 MiB memory limit" in run.result.stderr_tail


def test_the_memory_limit_counts_the_whole_tree(tmp_path: Path) -> None:
    child = "import time; data = bytearray(b'x') * (150 << 20); time.sleep(60)"
    script = textwrap.dedent(f"""
        import subprocess, sys, time
        kids = [subprocess.Popen([sys.executable, "-c", {child!r}], start_new_session=True) for _ in range(2)]
        time.sleep(60)
    """)
    run = run_program({"main.py": script}, "main.py", root=tmp_path, timeout_s=60, memory_limit=250 << 20)
    assert run.result.status == "failed"
    assert "250 MiB memory limit" in run.result.stderr_tail


def test_pages_shared_by_forked_workers_count_once(tmp_path: Path) -> None:
    # A DataLoader's workers: forked from a parent that holds 150 MiB, sharing it copy-on-write.
    # Their RSS sums to 600 MiB; what they really use is 150 MiB.
    script = textwrap.dedent("""
        import os, time
        data = bytearray(b'x') * (150 << 20)
        kids = []
        for _ in range(3):
            pid = os.fork()
            if pid == 0:
                time.sleep(1.5)
                os._exit(0)
            kids.append(pid)
        for pid in kids:
            os.waitpid(pid, 0)
    """)
    run = run_program({"main.py": script}, "main.py", root=tmp_path, timeout_s=60, memory_limit=400 << 20)
    assert run.result.status == "passed", run.result.stderr_tail


def test_a_sample_under_its_memory_limit_passes(tmp_path: Path) -> None:
    script = "data = bytearray(b'x') * (100 << 20)\n"
    run = run_program({"main.py": script}, "main.py", root=tmp_path, timeout_s=60, memory_limit=1 << 30)
    assert run.result.status == "passed", run.result.stderr_tail


def test_judge_and_the_cli_apply_the_memory_limit(
    make_task: Callable[..., Path], file_checker_registered: str, tasks_dir: Path, tmp_path: Path,
    cli: Callable[[list[str]], tuple[int, str, str]],
) -> None:
    task = load_task_dir(make_task("hungry"))
    hungry = "import time\nopen('out.txt', 'w').write('ok')\ndata = bytearray(b'x') * (1 << 30)\ntime.sleep(30)\n"
    result = judge(task, Candidate("hungry", 0, {"train.py": hungry}, "train.py"), memory_limit=200 << 20)
    assert result.status == "failed"
    assert "memory limit" in result.execution.stderr_tail
    gens = tmp_path / "gens.jsonl"
    gens.write_text(json.dumps({"task_id": "hungry", "sample_index": 0, "files": {"train.py": hungry},
                                "entry": "train.py"}) + "\n")
    code, _out, _err = cli(["evaluate", str(gens), "--corpus", str(tasks_dir), "--memory-limit", "200M",
                            "--device", "cpu", "--out", str(tmp_path / "ev")])
    assert code == 0, _err
    line = json.loads((tmp_path / "ev" / "results.jsonl").read_text().splitlines()[0])
    assert line["status"] == "failed"
    assert "200 MiB memory limit" in line["execution"]["stderr_tail"]


@pytest.mark.parametrize(("text", "expected"), [("8G", 8 << 30), ("512M", 512 << 20), ("2.5GiB", int(2.5 * (1 << 30))),
                                                ("1048576", 1 << 20), ("0", None), ("none", None)])
def test_parse_size(text: str, expected: int | None) -> None:
    assert sandbox.parse_size(text) == expected


def test_parse_size_refuses_nonsense() -> None:
    with pytest.raises(ValueError):
        sandbox.parse_size("lots")
