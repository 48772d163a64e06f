"""The plugin as opsgraft sees it once installed: adapter, prompt, guide, tasks, hints, CLI."""

from __future__ import annotations

from opsgraft import registry
from opsgraft.adapters.hints import repair_hints
from opsgraft.adapters.postprocess import complete
from opsgraft.adapters.prompting import inline_prompt
from opsgraft.adapters.specs import adapter_for_task, get_adapter
from opsgraft.adapters.workflow import guide_text
from opsgraft.evaluation.corpus import input_files, load_corpus, mutant_files, reference_files
from opsgraft.evaluation.evaluator import get_checker
from opsgraft.evaluation.sandbox import sandbox_env

TASKS = ("tracking-dvclive-lightning-digits", "tracking-dvclive-pytorch-wine")


def test_the_entry_point_loads_and_owns_what_it_registers() -> None:
    status = {p.name: p for p in registry.plugins()}
    assert status["dvclive"].ok and status["dvclive"].distribution == "opsgraft-dvclive"
    assert registry.adapters.owner("tracking:dvclive") == "dvclive"
    assert registry.checkers.owner("dvclive-tracking") == "dvclive"
    assert get_checker("dvclive-tracking").__name__ == "check_dvclive"


def test_the_prompt_carries_the_notes_and_the_environment_line() -> None:
    spec = get_adapter("tracking:dvclive")
    user = inline_prompt(spec, "train.py", "import torch\n").messages[-1].content
    assert "live.next_step()" in user and "save_dvc_exp=False" in user
    assert "- DVCLive writes its files into ./dvclive" in user
    assert guide_text(spec.guide).startswith("# Experiment tracking with DVCLive (dvclive 3.49)")


def test_the_tasks_are_in_the_corpus_with_references_and_mutants() -> None:
    tasks = {t.id: t for t in load_corpus() if t.component == "dvclive"}
    assert sorted(tasks) == sorted(TASKS)
    assert {t.split for t in tasks.values()} == {"tune", "heldout"}
    for task in tasks.values():
        assert adapter_for_task(task.functionality, task.component).key == "tracking:dvclive"
        assert "dvclive" not in input_files(task)[task.entry]
        assert "dvclive" in reference_files(task)[task.entry]
        assert len(mutant_files(task)) >= 3


def test_sandbox_env_hints_and_imports() -> None:
    env = sandbox_env(__import__("pathlib").Path("/nonexistent"))
    assert env["DVC_STUDIO_OFFLINE"] == "true" and env["DVCLIVE_OPEN"] == "false"
    assert env["OPSGRAFT_HOOK_DIRS"].endswith("opsgraft_dvclive/hooks")
    hints = repair_hints(["every metric was logged at 1 step(s), expected at least 2: ..."], "")
    assert any("live.next_step()" in h for h in hints)
    code, _ = complete("with Live() as live:\n    live.log_metric('a', 1.0)\n", "print(1)\n")
    assert code.startswith("from dvclive import Live\n")
