"""The bench runner over real corpus tasks, the real sandbox and checkers, with replay/scripted models.

Answers are the task's reference solution (passes) or a program that fails at once, so each test
judges real samples in seconds.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from opsgraft import config
from opsgraft.errors import ConfigError
from opsgraft.evaluation.benchmark import records as rec
from opsgraft.evaluation.benchmark.config import parse_config
from opsgraft.evaluation.benchmark.runner import RunOptions, make_grid, run_bench
from opsgraft.evaluation.corpus import load_task, reference_files
from opsgraft.llm.scripted import ScriptedBackend
from tests.conftest import cassette_for_flow

TASKS = ["registration-mlflow-sklearn-iris", "tracking-mlflow-sklearn-diabetes"]
PASS_TASK = "tracking-mlflow-sklearn-diabetes"  # its reference passes in ~15 s (registration's takes ~40 s)
FAIL = "```python\nraise SystemExit('not adapted')\n```"
SLOW_FAIL = "```python\nimport time\ntime.sleep(2)\nraise SystemExit('not adapted')\n```"
RECORD_KEYS = {"v", "cell", "model", "mode", "temperature", "task", "functionality", "component",
               "source_component", "framework",
               "kind", "split", "sample", "round", "final", "status", "reason", "reasons", "preserved",
               "preserved_findings", "static", "restore", "judge_reused", "prompt_tokens", "completion_tokens", "wall_s", "seed", "code_file", "diff_file", "time"}


def reference_answer(task_id: str) -> str:
    task = load_task(task_id)
    return f"```python\n{reference_files(task)[task.entry]}```"


def record_cassette(path: Path, answers: dict[str, list[str]], temperature: float = 0.2) -> Path:
    from opsgraft.adapters.workflow import corpus_workflow

    for task_id, texts in answers.items():
        flow = corpus_workflow(task_id)
        if hasattr(flow, "examples"):
            flow.examples = False  # as the configs below ask: the cassette answers the bench's prompt
        cassette_for_flow(path, flow, texts, temperature=temperature)
    return path


def grid_for(cassette: Path, **extra):
    data = {"tasks": {"ids": TASKS}, "models": [{"name": "rec", "backend": "replay", "cassette": str(cassette)}],
            "n": 3, "temperatures": [0.2], "examples": False, **extra}
    return make_grid(parse_config(data))


def test_replay_bench_writes_records_per_the_schema(tmp_path: Path):
    cassette = record_cassette(tmp_path / "c.jsonl", {TASKS[0]: [FAIL] * 3, PASS_TASK: [reference_answer(PASS_TASK), FAIL, FAIL]})
    run_dir = tmp_path / "run"
    summary = run_bench(grid_for(cassette), run_dir, RunOptions(isolation="none", render=False))
    assert summary.judge_calls == 6 and summary.chains_done == 6 and not summary.failed_units
    run = json.loads((run_dir / "run.json").read_text())
    assert run["opsgraft_bench"] == 1 and run["config"]["tasks"] == TASKS and len(run["corpus_version"]) == 16
    assert set(run["machine"]) == {"hostname", "platform", "python", "cpus", "mem_gib", "gpu"}
    assert run["models"]["rec"]["backend"] == "replay"
    records = rec.read_records(run_dir)
    assert len(records) == 6
    for r in records:
        assert set(r) == RECORD_KEYS
        assert r["cell"] == "rec|zero-shot|0.2" and r["round"] == 0 and r["final"] is True
        assert set(r["wall_s"]) == {"retrieve", "generate", "judge"} and r["wall_s"]["judge"] > 0
        assert (run_dir / r["code_file"]).is_file() and (run_dir / r["diff_file"]).read_text().startswith("--- a/")
    by = {(r["task"], r["sample"]): r for r in records}
    assert by[(PASS_TASK, 0)]["status"] == "passed" and by[(PASS_TASK, 0)]["reason"] == ""
    assert by[(PASS_TASK, 0)]["reasons"] == [] and by[(PASS_TASK, 0)]["preserved"] in (True, None)
    for key in [(PASS_TASK, 1), (PASS_TASK, 2), *((TASKS[0], i) for i in range(3))]:
        assert by[key]["status"] == "failed" and "not adapted" in by[key]["reason"]
    for task in TASKS:
        assert by[(task, 0)]["functionality"] == load_task(task).functionality
        # sample i is the backend's index i: its seed is seed + i
        assert [by[(task, i)]["seed"] for i in range(3)] == [0, 1, 2]
    # pass@k per task, averaged: (1/3 + 0) / 2 and (1 + 0) / 2.
    assert summary.cells["rec|zero-shot|0.2"]["pass@1"] == pytest.approx(1 / 6)
    assert summary.cells["rec|zero-shot|0.2"]["pass@3"] == pytest.approx(0.5)
    # A rerun finds everything finished: nothing generated or judged again.
    again = run_bench(grid_for(cassette), run_dir, RunOptions(isolation="none", render=False))
    assert again.judge_calls == 0 and len(rec.read_records(run_dir)) == 6


def test_repair_rounds_are_records_and_only_the_last_is_final(tmp_path: Path):
    task = PASS_TASK
    backend = ScriptedBackend([FAIL, reference_answer(task)], model=config.MODEL_NAME)
    cassette = tmp_path / "unused.jsonl"
    cassette.write_text("")
    data = {"tasks": {"ids": [task]}, "n": 1, "repair": 2, "temperatures": [0.2], "examples": False,
            "models": [{"name": "s", "backend": "replay", "cassette": str(cassette)}]}
    summary = run_bench(make_grid(parse_config(data)), tmp_path / "run",
                        RunOptions(isolation="none", render=False), backend_factory=lambda e: backend)
    records = rec.read_records(tmp_path / "run")
    assert [(r["round"], r["status"], r["final"]) for r in records] == [(0, "failed", False), (1, "passed", True)]
    assert records[1]["seed"] == 1000 and summary.judge_calls == 2 and len(backend.calls) == 2


def test_generation_overlaps_judging(tmp_path: Path):
    """While one task's sample is in the sandbox, the model already answers for the next task."""
    cassette = tmp_path / "unused.jsonl"
    cassette.write_text("")
    backend = ScriptedBackend([SLOW_FAIL, SLOW_FAIL], model=config.MODEL_NAME)
    data = {"tasks": {"ids": TASKS}, "n": 1, "temperatures": [0.2], "examples": False,
            "models": [{"name": "s", "backend": "replay", "cassette": str(cassette)}]}
    events: list[tuple[float, str, str]] = []

    def on_event(kind, data):
        if kind == "phase":
            events.append((time.perf_counter(), data["kind"], data["task"]))

    run_bench(make_grid(parse_config(data)), tmp_path / "run", RunOptions(isolation="none", render=False),
              on_event=on_event, backend_factory=lambda e: backend)
    judging = {task: (next(t for t, k, tk in events if k == "judge" and tk == task),
                      next(t for t, k, tk in events if k == "verdict" and tk == task)) for task in TASKS}
    first = min(TASKS, key=lambda task: judging[task][0])
    other = next(task for task in TASKS if task != first)
    gen_other = next(t for t, k, tk in events if k == "generate" and tk == other)
    assert gen_other < judging[first][1], "the second task's generation waited for the first verdict"


BENCH_TOML = """
n = 3
temperatures = [0.2]
examples = false
[tasks]
ids = {tasks}
[[models]]
name = "rec"
backend = "replay"
cassette = "{cassette}"
"""


def test_sigkill_mid_run_then_resume_redoes_no_finished_sample(tmp_path: Path):
    # Each sample's answer names its index: a redone sample must get its own answer (seed), not sample 0's.
    answers = [SLOW_FAIL.replace("'not adapted'", f"'not adapted {i}'") for i in range(3)]
    cassette = record_cassette(tmp_path / "c.jsonl", {t: answers for t in TASKS})
    cfg = tmp_path / "bench.toml"
    cfg.write_text(BENCH_TOML.format(tasks=json.dumps(TASKS), cassette=cassette))
    run_dir = tmp_path / "run"
    cmd = [sys.executable, "-m", "opsgraft.cli", "bench", str(cfg), "--run-dir", str(run_dir), "--isolation",
           "none", "--no-report"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
                            env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])})
    records = run_dir / "records.jsonl"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if records.is_file() and records.read_bytes().count(b"\n") >= 2:
            break
        time.sleep(0.05)
    assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
    os.killpg(proc.pid, signal.SIGKILL)  # the bench and its sandboxed samples, mid-run
    proc.wait()
    before = rec.finished_keys(rec.read_records(run_dir))
    assert 2 <= len(before) < 6
    summary = run_bench(grid_for(cassette), run_dir, RunOptions(isolation="none", render=False))
    assert summary.judge_calls + summary.judge_reused == 6 - len(before)
    final = rec.read_records(run_dir)
    per_chain: dict[tuple, int] = {}
    for r in final:
        per_chain[rec.chain_key(r)] = per_chain.get(rec.chain_key(r), 0) + 1
    # repair 0: one record per judged sample; a finished sample judged twice would have two.
    assert len(per_chain) == 6 and set(per_chain.values()) == {1}
    assert {r["status"] for r in final} == {"failed"}
    assert all(f"not adapted {r['sample']}" in r["reason"] for r in final)


def test_serial_baseline_does_not_overlap(tmp_path: Path):
    """bench_wall's serial way: the next sample is generated only after the last verdict."""
    cassette = tmp_path / "unused.jsonl"
    cassette.write_text("")
    backend = ScriptedBackend([SLOW_FAIL, SLOW_FAIL], model=config.MODEL_NAME)
    data = {"tasks": {"ids": TASKS}, "n": 1, "temperatures": [0.2], "examples": False,
            "models": [{"name": "s", "backend": "replay", "cassette": str(cassette)}]}
    events: list[tuple[str, str]] = []
    run_bench(make_grid(parse_config(data)), tmp_path / "run",
              RunOptions(isolation="none", render=False, overlap=False),
              on_event=lambda kind, d: events.append((d["kind"], d["task"])) if kind == "phase" else None,
              backend_factory=lambda e: backend)
    kinds = [k for k, _ in events if k in ("generate", "judge", "verdict")]
    assert kinds == ["generate", "judge", "verdict"] * 2


def test_mlflow_logs_one_run_per_cell_and_a_resume_updates_it(tmp_path: Path):
    from mlflow.tracking import MlflowClient

    from tests.conftest import run_cli

    cassette = record_cassette(tmp_path / "c.jsonl", {TASKS[0]: [FAIL] * 3})
    cfg = tmp_path / "bench.toml"
    cfg.write_text(BENCH_TOML.format(tasks=json.dumps(TASKS[:1]), cassette=cassette))
    store = tmp_path / "mlruns"
    args = ["bench", str(cfg), "--run-dir", str(tmp_path / "run"), "--isolation", "none", "--no-report",
            "--mlflow", str(store)]
    for _ in range(2):
        code, out, err = run_cli(args)
        assert code == 0, err
    client = MlflowClient(tracking_uri=f"sqlite:///{store.resolve() / 'mlflow.db'}")
    exp = client.get_experiment_by_name("opsgraft-bench")
    runs = client.search_runs([exp.experiment_id])
    assert len(runs) == 1
    run = runs[0]
    assert run.data.tags["opsgraft_cell"] == "rec|zero-shot|0.2"
    assert run.data.metrics["pass_at_1"] == 0.0 and run.data.metrics["chains"] == 3.0
    assert run.data.params["n"] == "3" and run.data.params["model"] == "rec"
    assert "rec|zero-shot|0.2" in out and "0/3" in out


def test_a_dry_run_on_a_run_directory_says_what_a_resume_would_run_and_writes_nothing(tmp_path: Path):
    from tests.conftest import run_cli

    cassette = record_cassette(tmp_path / "c.jsonl", {TASKS[0]: [FAIL] * 3})
    cfg = tmp_path / "bench.toml"
    cfg.write_text(BENCH_TOML.format(tasks=json.dumps(TASKS[:1]), cassette=cassette))
    run_dir = tmp_path / "run"
    code, out, err = run_cli(["bench", str(cfg), "--run-dir", str(run_dir), "--dry-run"])
    assert code == 0, err
    assert "generations: 3 first answers" in out and "run directory:" not in out
    assert not run_dir.exists()  # a dry run creates nothing
    code, _, err = run_cli(["bench", str(cfg), "--run-dir", str(run_dir), "--isolation", "none", "--no-report"])
    assert code == 0, err
    records = (run_dir / rec.RECORDS_FILE).read_bytes()
    # Cut the last chain short: its final record goes, so a resume would run that sample again.
    lines = records.splitlines(keepends=True)
    (run_dir / rec.RECORDS_FILE).write_bytes(b"".join(lines[:-1]))
    code, out, err = run_cli(["bench", str(cfg), "--run-dir", str(run_dir), "--dry-run"])
    assert code == 0, err
    assert "run directory: 2 of 3 chains finished; a resume runs 1 first answers" in out
    assert (run_dir / rec.RECORDS_FILE).read_bytes() == b"".join(lines[:-1])  # read, not written
    # Another grid on the same directory: the one-line refusal the run itself would give, before a model.
    code, _, err = run_cli(["bench", str(cfg), "--run-dir", str(run_dir), "--n", "4", "--dry-run"])
    assert code == 2 and err.count("\n") == 1 and "refusing run directory" in err and "'n'" in err


def test_pipeline_runs_only_the_asked_samples_with_their_own_indices(tmp_path: Path):
    from opsgraft.adapters.repair_loop import AdaptOptions, run_adaptation
    from opsgraft.adapters.workflow import corpus_workflow

    flow = corpus_workflow(PASS_TASK)
    backend = ScriptedBackend([FAIL, FAIL, FAIL])
    run = run_adaptation(flow.task, flow.spec, backend, flow.source, flow.build_prompt,
                         AdaptOptions(n=4, samples=(0, 2, 3)))
    assert [a.sample for a in run.attempts] == [0, 2, 3]
    assert [a.generation.index for a in run.attempts] == [0, 2, 3]
    assert [n for _, n in backend.calls] == [1, 2]  # runs of consecutive indices share a call


def test_samples_decoded_together_record_their_share_of_the_call() -> None:
    """A batched call reports every sample with the whole call's span; the record keeps each sample's share."""
    from opsgraft.evaluation.benchmark.runner import LockedBackend
    from opsgraft.types import Generation, Message, Usage

    class Together:
        name, model, context_window = "fake", "fake", 4096

        def generate(self, messages, n=1, temperature=0.2, max_tokens=1024, seed=None, first_index=0):  # type: ignore[no-untyped-def]
            time.sleep(0.3)
            return [Generation(text="x", index=first_index + i, model="fake", backend="fake",
                               usage=Usage(prompt_tokens=1, completion_tokens=10), wall_s=0.3)
                    for i in range(n)]

        def count_tokens(self, messages):  # type: ignore[no-untyped-def]
            return 1

    locked = LockedBackend(Together())  # type: ignore[arg-type]
    out = locked.generate([Message(role="user", content="hi")], n=3)
    assert [g.index for g in out] == [0, 1, 2]
    assert all(0.09 <= g.wall_s <= 0.2 for g in out)  # about 0.3 s / 3, not 0.3 s each
    assert abs(sum(g.wall_s for g in out) - locked.busy_s) < 1e-6 and locked.tokens == 30
    [one] = locked.generate([Message(role="user", content="hi")], n=1)
    assert one.wall_s == 0.3  # a single sample keeps the backend's own time


def test_waiting_for_another_workers_generation_is_counted_per_thread() -> None:
    """Token counting waits for the shared model; that wait is the thread's own, so retrieve time can drop it."""
    import threading

    from opsgraft.evaluation.benchmark.runner import LockedBackend
    from opsgraft.types import Generation, Message, Usage

    started = threading.Event()

    class Slow:
        name, model, context_window = "fake", "fake", 4096

        def generate(self, messages, n=1, temperature=0.2, max_tokens=1024, seed=None, first_index=0):  # type: ignore[no-untyped-def]
            started.set()
            time.sleep(0.5)
            return [Generation(text="x", index=first_index, model="fake", backend="fake",
                               usage=Usage(prompt_tokens=1, completion_tokens=1), wall_s=0.5)]

        def count_tokens(self, messages):  # type: ignore[no-untyped-def]
            return 7

    locked = LockedBackend(Slow())  # type: ignore[arg-type]
    msgs = [Message(role="user", content="hi")]
    worker = threading.Thread(target=locked.generate, args=(msgs,))
    worker.start()
    started.wait(5)
    assert locked.count_tokens(msgs) == 7
    waited = locked.waited_s()
    worker.join()
    assert 0.3 <= waited < 1.0  # this thread queued behind the other's 0.5 s generation, counted once (room for a loaded CI)
    assert locked.count_tokens(msgs) == 7 and locked.waited_s() - waited < 0.05  # an idle model: no wait
    seen: list[float] = []
    other = threading.Thread(target=lambda: seen.append(locked.waited_s()))
    other.start()
    other.join()
    assert seen == [0.0]  # another thread's waits are not this one's


def test_each_model_runs_its_own_repair_rounds(tmp_path: Path):
    task = PASS_TASK
    other_fail = FAIL.replace("not adapted", "still not adapted")  # a repeated answer would be asked again
    backends = {"big": ScriptedBackend([FAIL, other_fail], model="big"), "small": ScriptedBackend([FAIL], model="small")}
    cassette = tmp_path / "unused.jsonl"
    cassette.write_text("")
    data = {"tasks": {"ids": [task]}, "n": 1, "repair": 1, "temperatures": [0.2], "examples": False,
            "models": [{"name": "big", "backend": "replay", "cassette": str(cassette)},
                       {"name": "small", "backend": "replay", "cassette": str(cassette), "repair": 0}]}
    summary = run_bench(make_grid(parse_config(data)), tmp_path / "run", RunOptions(isolation="none", render=False),
                        backend_factory=lambda e: backends[e.name])
    records = rec.read_records(tmp_path / "run")
    got = sorted((r["model"], r["round"], r["final"]) for r in records)
    assert got == [("big", 0, False), ("big", 1, True), ("small", 0, True)]
    assert len(backends["big"].calls) == 2 and len(backends["small"].calls) == 1 and summary.judge_calls == 3
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    assert run["models"]["small"]["repair"] == 0 and "repair" not in run["models"]["big"]


def test_only_model_runs_that_models_part_and_a_plain_rerun_does_the_rest(tmp_path: Path):
    task = PASS_TASK
    backends = {"big": ScriptedBackend([FAIL], model="big"), "small": ScriptedBackend([FAIL], model="small")}
    cassette = tmp_path / "unused.jsonl"
    cassette.write_text("")
    data = {"tasks": {"ids": [task]}, "n": 1, "temperatures": [0.2], "examples": False,
            "models": [{"name": "big", "backend": "replay", "cassette": str(cassette)},
                       {"name": "small", "backend": "replay", "cassette": str(cassette)}]}
    grid = make_grid(parse_config(data))
    with pytest.raises(ConfigError, match="unknown model 'tiny'.*big, small"):
        run_bench(grid, tmp_path / "run", RunOptions(isolation="none", render=False, only_models=("tiny",)),
                  backend_factory=lambda e: backends[e.name])
    assert not (tmp_path / "run").exists()  # refused before anything was written
    first = run_bench(grid, tmp_path / "run", RunOptions(isolation="none", render=False, only_models=("small",)),
                      backend_factory=lambda e: backends[e.name])
    assert [r["model"] for r in rec.read_records(tmp_path / "run")] == ["small"]
    assert first.chains_total == 1 and not backends["big"].calls
    rest = run_bench(grid, tmp_path / "run", RunOptions(isolation="none", render=False),
                     backend_factory=lambda e: backends[e.name])
    assert sorted(r["model"] for r in rec.read_records(tmp_path / "run")) == ["big", "small"]
    assert rest.chains_total == 1 and len(backends["small"].calls) == 1 and len(backends["big"].calls) == 1


def test_a_resume_reuses_the_kept_verdicts_of_a_cut_chain_and_only_for_the_same_code(tmp_path: Path):
    """A chain cut after its first judged round: the resume judges only the rounds it had not judged."""
    import shutil

    task = PASS_TASK
    cassette = tmp_path / "unused.jsonl"
    cassette.write_text("")
    data = {"tasks": {"ids": [task]}, "n": 1, "repair": 2, "temperatures": [0.2], "examples": False,
            "models": [{"name": "s", "backend": "replay", "cassette": str(cassette)}]}
    grid = make_grid(parse_config(data))
    opts = RunOptions(isolation="none", render=False)
    run_dir = tmp_path / "run"
    # The model is gone after round 0's verdict (as a kill between rounds leaves it): the chain is unfinished.
    cut = run_bench(grid, run_dir, opts, backend_factory=lambda e: ScriptedBackend([FAIL], model=config.MODEL_NAME))
    assert cut.judge_calls == 1 and cut.chains_done == 0 and cut.failed_units
    kept = list((run_dir / rec.JUDGED_DIR).rglob("*.json"))
    assert [p.name for p in kept] == ["s0r0.json"]
    first_judge_s = json.loads(kept[0].read_text())["judge_s"]
    other = tmp_path / "other"
    shutil.copytree(run_dir, other)

    again = run_bench(grid, run_dir, opts, backend_factory=lambda e: ScriptedBackend(
        [FAIL, reference_answer(task)], model=config.MODEL_NAME))
    assert again.judge_calls == 1 and again.judge_reused == 1 and again.chains_done == 1
    chain = rec.finished_chains(rec.read_records(run_dir))[0]
    assert [(r["round"], r["status"], r["judge_reused"]) for r in chain] == [(0, "failed", True), (1, "passed", False)]
    assert "not adapted" in chain[0]["reason"] and chain[0]["wall_s"]["judge"] == first_judge_s
    assert not list((run_dir / rec.JUDGED_DIR).rglob("*.json")), "a finished chain's kept verdicts stay behind"

    # Another answer at the same round is judged afresh: the kept verdict belongs to other code.
    changed = run_bench(grid, other, opts, backend_factory=lambda e: ScriptedBackend(
        [SLOW_FAIL, reference_answer(task)], model=config.MODEL_NAME))
    assert changed.judge_calls == 2 and changed.judge_reused == 0
    chain = rec.finished_chains(rec.read_records(other))[0]
    assert [(r["round"], r["status"], r["judge_reused"]) for r in chain] == [(0, "failed", False), (1, "passed", False)]


TRANSLATE_TASK = "translate-gitpython-dvc-model"


def empty_cassette(tmp_path: Path) -> Path:
    path = tmp_path / "empty.jsonl"
    path.write_text("")
    return path


def test_a_missing_docs_store_is_a_one_line_error_before_the_model_or_the_run_directory(tmp_path: Path):
    from opsgraft.errors import StoreError

    data = {"tasks": {"ids": [PASS_TASK, TRANSLATE_TASK]}, "modes": ["zero-shot", "rag"],
            "translation_modes": ["docs-search", "llm-search"],
            "models": [{"name": "m", "backend": "replay", "cassette": str(empty_cassette(tmp_path))}],
            "n": 1, "temperatures": [0.2]}
    grid = make_grid(parse_config(data))
    made: list[str] = []
    run_dir = tmp_path / "run"
    with pytest.raises(StoreError) as err:  # the test's store folder is empty
        run_bench(grid, run_dir, RunOptions(isolation="none", render=False),
                  backend_factory=lambda e: made.append(e.name) or ScriptedBackend([]))
    line = str(err.value)
    assert "\n" not in line and "mlflow (for rag)" in line and "gitpython (for docs-search, llm-search)" in line
    assert "dvc (for docs-search)" in line and "opsgraft curate --package dvc" in line
    assert not made and not run_dir.exists()  # no model loaded, nothing written
    from tests.conftest import run_cli

    cfg = tmp_path / "bench.toml"
    cfg.write_text('modes = ["rag"]\n' + BENCH_TOML.format(tasks=json.dumps([PASS_TASK]), cassette=empty_cassette(tmp_path)))
    code, out, err = run_cli(["bench", str(cfg), "--run-dir", str(run_dir), "--dry-run"])
    assert code == 0, err  # a dry run plans: the grid, then what the run would refuse
    assert "rag|0.2" in out and "the run would stop here: no docs store for the units left to run: mlflow (for rag)" in out
    assert not run_dir.exists()


def test_the_store_check_asks_for_what_each_strategy_searches_and_only_for_units_left(tmp_path: Path):
    from opsgraft.curation.embed import get_embedder
    from opsgraft.curation.store import Stores
    from opsgraft.errors import StoreError
    from tests.retrieval.conftest import GIT_DOCS, doc_chunks

    root = tmp_path / "stores"
    Stores(root).write("gitpython", "3.1.0", doc_chunks(GIT_DOCS, "gitpython", "3.1.0"), get_embedder("local"), {})
    data = {"tasks": {"ids": [TRANSLATE_TASK, PASS_TASK]}, "modes": ["zero-shot"],
            "translation_modes": ["llm-search", "docs-search"],
            "models": [{"name": "m", "backend": "replay", "cassette": str(empty_cassette(tmp_path))}],
            "n": 1, "temperatures": [0.2]}
    grid = make_grid(parse_config(data))
    by_mode = {u.mode: u.docs_stores() for u in grid.units()}
    # llm-search writes the target's docs itself; docs-search reads both stores; zero-shot none.
    assert by_mode == {"llm-search": ("gitpython",), "docs-search": ("gitpython", "dvc"), "zero-shot": ()}
    grid.check_stores([u for u in grid.units() if u.mode != "docs-search"], root)  # gitpython is there
    with pytest.raises(StoreError, match=r"^no docs store for the units left to run: dvc \(for docs-search\);"):
        grid.check_stores(grid.units(), root)
    done = {(u.cell, u.task.id, 0) for u in grid.units() if u.mode == "docs-search"}
    grid.check_stores(grid.units(done), root)  # a finished cell needs no store any more
