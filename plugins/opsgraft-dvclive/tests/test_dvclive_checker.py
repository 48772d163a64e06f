"""The dvclive-tracking checker on real programs run in the real sandbox, with the plugin's hook.

None of these programs trains (each runs in a few seconds, mostly dvclive's import); the corpus
tasks, which do train, are checked by ``opsgraft corpus check`` and the slow test below.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from opsgraft.adapters.repair_loop import script_task
from opsgraft.adapters.specs import get_adapter
from opsgraft.evaluation.evaluator import judge
from opsgraft.types import Candidate, SampleResult
from opsgraft_dvclive.checker import read_tsv

LIVE = "from dvclive import Live\n"
PARAMS = 'live.log_params({"lr": 0.1, "epochs": 3})\n'


def run(tmp_path: Path, code: str, **checker_args: int) -> SampleResult:
    script = tmp_path / "train.py"
    script.write_text(code)
    task = script_task(script, get_adapter("tracking:dvclive"))
    if checker_args:
        from dataclasses import replace

        task = replace(task, checker_args={**task.checker_args, **checker_args})
    return judge(task, Candidate(task.id, 0, {"train.py": code}, "train.py"), timeout_s=120)


def reasons(result: SampleResult) -> str:
    assert result.verdict is not None, result.execution.stderr_tail
    return " | ".join(result.verdict.reasons)


def epochs(body: str, n: int = 3, indent: str = "    ") -> str:
    """A loop over ``n`` epochs running ``body``, at ``indent``."""
    lines = "".join(f"{indent}    {ln}\n" for ln in body.strip().splitlines())
    return f"{indent}for epoch in range({n}):\n{lines}"


def test_params_and_changing_metrics_at_several_steps_pass(tmp_path: Path) -> None:
    code = LIVE + "with Live(save_dvc_exp=False) as live:\n    " + PARAMS + epochs(
        'live.log_metric("loss", 1.0 / (epoch + 1))\nlive.log_metric("acc", 0.5 + epoch / 10)\nlive.next_step()')
    result = run(tmp_path, code)
    assert result.status == "passed", reasons(result)
    assert result.verdict is not None
    assert result.verdict.evidence["steps"] == {"acc": 3, "loss": 3}
    assert result.verdict.evidence["params"] == ["epochs", "lr"]


def test_a_live_folder_the_program_chose_is_found_from_the_hook(tmp_path: Path) -> None:
    code = LIVE + 'with Live("logs/run1", save_dvc_exp=False) as live:\n    ' + PARAMS + epochs(
        'live.log_metric("train/loss", 1.0 / (epoch + 1))\nlive.next_step()')
    result = run(tmp_path, code)
    assert result.status == "passed", reasons(result)
    assert result.verdict is not None and result.verdict.evidence["dir"] == "logs/run1"
    assert result.verdict.evidence["metrics"] == ["train/loss"]


def test_without_next_step_every_value_stays_at_one_step(tmp_path: Path) -> None:
    code = LIVE + "live = Live(save_dvc_exp=False)\n" + PARAMS + epochs('live.log_metric("loss", 1.0 / (epoch + 1))', indent="")
    result = run(tmp_path, code)
    assert result.status == "failed"
    assert "every metric was logged at 1 step(s), expected at least 2" in reasons(result)
    assert "metrics.json was not written" in reasons(result)  # neither next_step nor end ran


def test_metrics_that_never_change_fail(tmp_path: Path) -> None:
    code = LIVE + "with Live(save_dvc_exp=False) as live:\n    " + PARAMS + epochs(
        'live.log_metric("lr", 0.1)\nlive.next_step()')
    result = run(tmp_path, code)
    assert result.status == "failed" and "kept one value (lr = 0.1 at all 3 steps)" in reasons(result)


def test_no_params_fail(tmp_path: Path) -> None:
    code = LIVE + "with Live(save_dvc_exp=False) as live:\n" + epochs(
        'live.log_metric("loss", 1.0 / (epoch + 1))\nlive.next_step()')
    result = run(tmp_path, code)
    assert result.status == "failed"
    assert "params.yaml holds 0 parameter(s), expected at least 1" in reasons(result)


def test_files_written_by_hand_are_not_dvclive(tmp_path: Path) -> None:
    code = (
        "import os\nos.makedirs('dvclive/plots/metrics', exist_ok=True)\n"
        "open('dvclive/params.yaml', 'w').write('lr: 0.1\\n')\n"
        "open('dvclive/metrics.json', 'w').write('{\"loss\": 0.3, \"step\": 2}')\n"
        "open('dvclive/plots/metrics/loss.tsv', 'w').write('step\\tloss\\n0\\t1.0\\n1\\t0.5\\n2\\t0.3\\n')\n"
    )
    result = run(tmp_path, code)
    assert result.status == "failed"
    assert "DVCLive-like files were written (dvclive) but no dvclive.Live was created" in reasons(result)


def test_a_forged_metric_beside_real_ones_does_not_count(tmp_path: Path) -> None:
    code = LIVE + "with Live(save_dvc_exp=False) as live:\n    " + PARAMS + epochs(
        'live.log_metric("loss", 0.1)\nlive.next_step()') + ("    "
        "open('dvclive/plots/metrics/acc.tsv', 'w').write('step\\tacc\\n0\\t0.5\\n1\\t0.6\\n2\\t0.7\\n')\n")
    result = run(tmp_path, code)
    assert result.status == "failed" and "kept one value (loss = 0.1" in reasons(result)
    assert result.verdict is not None and result.verdict.evidence["not_logged_through_live"] == ["acc"]


def test_the_unadapted_program_fails_with_the_reason(tmp_path: Path) -> None:
    result = run(tmp_path, "print('training')\n")
    assert result.status == "failed"
    assert "the program never used DVCLive (no dvclive.Live was created)" in reasons(result)


def test_metrics_without_any_training_fail_when_torch_is_imported(tmp_path: Path) -> None:
    code = "import torch\n" + LIVE + "with Live(save_dvc_exp=False) as live:\n    " + PARAMS + epochs(
        'live.log_metric("loss", float(torch.rand(1)))\nlive.next_step()')
    result = run(tmp_path, code)
    assert result.status == "failed" and "torch was imported but no training was observed" in reasons(result)


def test_read_tsv_takes_step_and_value_and_skips_bad_rows(tmp_path: Path) -> None:
    path = tmp_path / "loss.tsv"
    path.write_text("timestamp\tstep\tloss\n1700000000000\t0\t1.5\n1700000000100\t1\tnan\nx\t2\t0.5\n")
    assert read_tsv(path) == [(0, 1.5), (2, 0.5)]
    (tmp_path / "bad.tsv").write_text("loss\n1.0\n")
    assert read_tsv(tmp_path / "bad.tsv") == []


@pytest.mark.slow
def test_the_plugin_tasks_ground_truth() -> None:
    """Each task's reference passes and its input and mutants fail (real training)."""
    from opsgraft.evaluation.corpus import load_task
    from opsgraft.evaluation.ground_truth import as_expected, ground_truth_candidates, outcome, why

    wrong = []
    for task_id in ("tracking-dvclive-pytorch-wine", "tracking-dvclive-lightning-digits"):
        task = load_task(task_id)
        for cand in ground_truth_candidates(task):
            result = judge(task, cand)
            if not as_expected(cand.origin, result):
                wrong.append(f"{task_id} {cand.origin}: {outcome(result)}: {why(result)}")
    assert not wrong, "\n".join(wrong)
