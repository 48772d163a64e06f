"""Step-like counters a training script prints (epoch, step, ...) are the x-axis of its metrics, never metrics:
not in the grid's final metrics, the report's tables and grounded gaps, nor MLflow's metrics."""

from __future__ import annotations

from pathlib import Path

from opsgraft.ui.grid import parse_printed
from opsgraft.ui.grid_run import GridResult, PointResult, Tracker
from opsgraft.ui.report import build_prompt, ground, primary_metric, recorded_values

# What tests/ui/fixtures/train_grid.py prints: a counter line, then the epoch's metrics.
TRAIN_GRID_STDOUT = ("epoch 1\ntrain_accuracy: 0.8500\nval_accuracy: 0.8000\n"
                     "epoch 2\ntrain_accuracy: 0.9000\nval_accuracy: 0.8500\n"
                     "epoch 3\ntrain_accuracy: 0.9500\nval_accuracy: 0.9000\n")


def _point(index: int, alpha: float, stdout: str) -> PointResult:
    printed = parse_printed(stdout)
    return PointResult(index, {"alpha": alpha}, "passed", 1.5, printed.metrics, steps=printed.steps,
                       step_name=printed.step_name)


def test_a_printed_epoch_is_the_step_of_what_follows_not_a_metric() -> None:
    printed = parse_printed(TRAIN_GRID_STDOUT)
    assert printed.metrics == {"train_accuracy": [0.85, 0.9, 0.95], "val_accuracy": [0.8, 0.85, 0.9]}
    assert printed.step_name == "epoch" and printed.steps["val_accuracy"] == [1.0, 2.0, 3.0]


def test_counter_forms_totals_and_no_counter() -> None:
    out = ("epochs: 10\nbatch_size: 32\nval_loss 2.5\n"  # a total and a setting echoed, a value before any counter
           "Epoch [1/10] step=100 loss: 0.5\nEpoch [2/10] step=200 loss: 0.4 iteration: 7\n"
           "train/global_step 300\nEPOCH: 3 loss=0.3\n")
    printed = parse_printed(out)
    assert printed.metrics == {"batch_size": [32.0], "val_loss": [2.5], "loss": [0.5, 0.4, 0.3]}
    assert printed.step_name == "epoch"  # the first counter printed is the axis; step, iteration are not metrics
    assert printed.steps["loss"] == [1.0, 2.0, 3.0] and printed.steps["val_loss"] == [0.0]
    plain = parse_printed("loss: 0.5\nloss: 0.4\nTraining done in 3 steps\n")
    assert plain.metrics == {"loss": [0.5, 0.4]} and plain.step_name == "" and plain.steps["loss"] == [0.0, 1.0]
    stepped = parse_printed("step: 10 loss: 0.5\nstep: 20 loss: 0.4\n")
    assert stepped.metrics == {"loss": [0.5, 0.4]} and stepped.steps["loss"] == [10.0, 20.0]


def test_the_report_neither_ranks_nor_diffs_the_counter(tmp_path: Path) -> None:
    later = TRAIN_GRID_STDOUT.replace("0.9000\n", "0.9100\n").replace("0.9500", "0.9700")
    grid = GridResult("train.py", tmp_path, "sqlite:///x.db", "opsgraft-ui/train.py",
                      [_point(0, 0.01, TRAIN_GRID_STDOUT), _point(1, 0.1, later)], ["alpha"])
    assert all("epoch" not in p.final() for p in grid.points)
    _system, user, primary = build_prompt(grid)
    assert primary == primary_metric(grid.points) == "val_accuracy"
    assert "| run | alpha | status | train_accuracy | val_accuracy |" in user  # no epoch column
    assert "run 1 val_accuracy: first 0.8, best 0.9 at epoch 3, last 0.9 (3 steps)" in user
    values = recorded_values(grid)
    # 2.1 = final epoch 3 - final val_accuracy 0.9: a "gap" that means nothing must not ground the text.
    grounded = ground("The gap is 2.1, 2.05 or 2.09; the best val_accuracy 0.91 came at epoch 3.", values)
    assert grounded.unverified == ["2.1", "2.05", "2.09"]


def test_mlflow_gets_the_printed_epochs_as_steps(tmp_path: Path) -> None:
    point = _point(0, 0.01, TRAIN_GRID_STDOUT)
    tracker = Tracker(tmp_path / ".opsgraft")
    (tmp_path / ".opsgraft").mkdir()
    run_id = tracker.log_point(tracker.experiment_id("opsgraft-ui/train.py"), "train.py", "g", point, 1, ["alpha"],
                               TRAIN_GRID_STDOUT)
    client = tracker.client()
    assert sorted(client.get_run(run_id).data.metrics) == ["train_accuracy", "val_accuracy"]
    history = client.get_metric_history(run_id, "val_accuracy")
    assert [(m.step, m.value) for m in sorted(history, key=lambda m: m.step)] == [(1, 0.8), (2, 0.85), (3, 0.9)]
