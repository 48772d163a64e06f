"""`opsgraft adapt/translate --run` on scripts outside the corpus: one per checker, through the CLI.

A checker that only a corpus task can feed (issue 14: `dvc-tracked` needed `data` and
`remote_dir`) can never pass a user's own script; each case here is a user's script, a replayed
right answer, and the verdict the real sandbox and checker give it.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.conftest import cassette_for_flow, run_cli

SCRIPTS = Path(__file__).parent / "outside_corpus"

# (adapter, input script, right answer); the adapter key picks `adapt --add` or `translate --from/--to`.
CASES = [
    pytest.param("tracking:mlflow", "ridge_sweep.py", "ridge_sweep_tracking_mlflow.py", id="mlflow-tracking"),
    pytest.param("tracking:wandb", "ridge_sweep.py", "ridge_sweep_tracking_wandb.py", id="wandb-run"),
    pytest.param("registration:mlflow", "ridge_sweep.py", "ridge_sweep_registration_mlflow.py",
                 id="mlflow-registration", marks=pytest.mark.slow),  # loads the model back: ~15 s
    pytest.param("hpo:optuna", "ridge_sweep.py", "ridge_sweep_hpo_optuna.py", id="optuna-study"),
    pytest.param("pruning:torch", "mlp_blobs.py", "mlp_blobs_pruning_torch.py", id="pruning"),
    pytest.param("pruning:nncf", "mlp_blobs.py", "mlp_blobs_pruning_nncf.py", id="pruning-nncf"),
    pytest.param("gitpython->dvc", "gitpython_release.py", "gitpython_release_dvc.py", id="dvc-tracked"),
    pytest.param("wandb->mlflow", "ridge_sweep_tracking_wandb.py", "ridge_sweep_tracking_mlflow.py",
                 id="wandb-to-mlflow"),
]


def answer(name: str) -> str:
    return f"Here it is:\n\n```python\n{(SCRIPTS / name).read_text()}```\n"


def cli_args(key: str, script: Path, cassette: Path) -> list[str]:
    """The command a user types for ``key`` on ``script``, replayed from ``cassette``."""
    replay = ["--backend", "replay", "--cassette", str(cassette), "--run", "--n", "1", "--repair", "0", "--timeout", "240"]
    if "->" in key:
        source, target = key.split("->")
        # the replayed answer is a whole file, not the continuation of the tool's head (--scaffold)
        return ["translate", str(script), "--from", source, "--to", target, "--strategy", "none", "--no-scaffold",
                *replay]
    return ["adapt", str(script), "--add", key, *replay]


def flow_for(key: str, script: Path):  # type: ignore[no-untyped-def]
    """The workflow the CLI builds for ``key`` (same first prompt, so the cassette answers it)."""
    from opsgraft.adapters.specs import get_adapter
    from opsgraft.adapters.workflow import Workflow

    spec = get_adapter(key)
    if spec.kind == "translate":
        return Workflow(spec=spec, script=script, source=script.read_text(), strategy="", mode="none", scaffold=False)
    return Workflow(spec=spec, script=script, source=script.read_text())


def record_of(out: str) -> dict:  # type: ignore[type-arg]
    path = next(line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("record:"))
    return json.loads(Path(path).read_text())


@pytest.mark.parametrize(("key", "script_name", "answer_name"), CASES)
def test_a_right_answer_for_a_users_script_passes(key: str, script_name: str, answer_name: str, tmp_path: Path):
    script = tmp_path / script_name
    shutil.copy(SCRIPTS / script_name, script)
    cassette = cassette_for_flow(tmp_path / "c.jsonl", flow_for(key, script), [answer(answer_name)])
    code, out, err = run_cli(cli_args(key, script, cassette))
    assert code == 0, err
    record = record_of(out)
    [attempt] = record["attempts"]
    result = attempt["result"]
    assert result["status"] == "passed", (result["verdict"], result["execution"]["stderr_tail"][-2000:])
    assert record["task"]["id"] == f"user:{script_name}" and not record["task"]["split"]
    assert "PASSED" in out


@pytest.mark.parametrize(("key", "script_name", "answer_name"), [c for c in CASES if not c.marks])
def test_the_unadapted_script_fails_the_same_check(key: str, script_name: str, answer_name: str, tmp_path: Path):
    """The checks above can fail: the user's script itself, given back as the answer, does not pass."""
    script = tmp_path / script_name
    shutil.copy(SCRIPTS / script_name, script)
    cassette = cassette_for_flow(tmp_path / "c.jsonl", flow_for(key, script), [answer(script_name)])
    code, out, err = run_cli(cli_args(key, script, cassette))
    assert code == 0, err
    [attempt] = record_of(out)["attempts"]
    assert attempt["result"]["status"] == "failed" and attempt["result"]["verdict"]["reasons"]
    assert "FAILED" in out


def test_dvc_checker_on_real_runs_of_a_users_gitpython_release():
    """dvc-tracked with no task arguments, on sandbox runs of a script that keeps its repo under mkdtemp()."""
    from opsgraft.adapters.repair_loop import script_task
    from opsgraft.adapters.specs import get_adapter
    from opsgraft.evaluation.evaluator import judge
    from opsgraft.types import Candidate

    task = script_task(SCRIPTS / "gitpython_release.py", get_adapter("gitpython->dvc"))
    assert dict(task.checker_args) == {}  # what `translate` passes for a user's script

    def run(code: str):  # type: ignore[no-untyped-def]
        return judge(task, Candidate(task.id, 0, {task.entry: code}, task.entry))

    right = (SCRIPTS / "gitpython_release_dvc.py").read_text()
    passed = run(right)
    assert passed.status == "passed", passed.verdict
    [repo] = passed.verdict.evidence["repos"]
    assert repo["repo"].startswith("$TMPDIR/dataset-release-") and repo["tracked"][0]["path"] == "dataset/readings.csv"
    wrong = run((SCRIPTS / "gitpython_release.py").read_text())
    assert wrong.status == "failed" and "git-lfs: not available" in wrong.verdict.reasons[0]
    unpushed = run(right.replace('    dvc(repo_dir, "push", "-q")\n', ""))
    assert unpushed.status == "failed"
    assert any("dvc-storage/ does not exist (no `dvc push`" in r for r in unpushed.verdict.reasons)
