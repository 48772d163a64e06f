"""Tracking's exact calls: the run's parameters from the script's settings, a log call before each metric print."""

from __future__ import annotations

from pathlib import Path

import pytest

from opsgraft.adapters import tracking_plan
from opsgraft.adapters.outline import render
from opsgraft.adapters.specs import get_adapter
from opsgraft.evaluation.corpus import input_files, load_task
from opsgraft.evaluation.evaluator import judge
from opsgraft.types import Candidate

LOOP = '''import numpy as np

SEED = 0
EPOCHS = 5


def main():
    rng = np.random.default_rng(SEED)
    for epoch in range(EPOCHS):
        loss = float(rng.random())
        acc = 1.0 - loss
        print(f"epoch {epoch:2d} train_loss {loss:.4f} val_acc={acc:.3f}")
    print("final accuracy", acc)
    print(f"saved to {'model.pkl'} after {EPOCHS} epochs")


if __name__ == "__main__":
    main()
'''

KERAS_CALLBACK = '''import keras


class PrintEpoch(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        print(f"epoch {epoch} val_loss {logs['val_loss']:.4f}")
'''


def test_a_print_in_the_epoch_loop_gives_its_labels_and_the_counter_as_step():
    printed = tracking_plan.printed_metrics(LOOP)
    assert [(p.line, p.step, p.values, p.scope) for p in printed] == [
        (12, "epoch", (("train_loss", "loss"), ("val_acc", "acc")), "main"),
        (13, "", (("accuracy", "acc"),), "main"),
    ]
    assert printed[0].call("mlflow") == 'mlflow.log_metrics({"train_loss": float(loss), "val_acc": float(acc)}, step=epoch)'
    assert printed[0].call("wandb") == 'wandb.log({"train_loss": float(loss), "val_acc": float(acc), "epoch": epoch})'
    assert printed[1].call("mlflow") == 'mlflow.log_metrics({"accuracy": float(acc)})'


def test_prints_of_text_and_counts_give_nothing():
    script = 'name = "x"\nn = 3\nprint(f"model {name} with {n:d} layers")\nprint("done")\n'
    assert tracking_plan.printed_metrics(script) == []
    assert tracking_plan.metric_lines(script, "mlflow") == []
    assert tracking_plan.printed_metrics("def broken(:\n") == []


def test_a_callback_print_logs_its_logs_at_the_epoch_argument():
    (p,) = tracking_plan.printed_metrics(KERAS_CALLBACK)
    assert p.scope == "PrintEpoch.on_epoch_end"
    assert "before line 6 in PrintEpoch.on_epoch_end(): `mlflow.log_metrics(" in tracking_plan.metric_lines(
        KERAS_CALLBACK, "mlflow")[1]
    assert p.call("mlflow") == "mlflow.log_metrics({\"val_loss\": float(logs['val_loss'])}, step=epoch)"


def test_the_run_call_names_constants_and_writes_inline_literals():
    script = ('import torch\nLR = 0.01\n\ndef main():\n    model = torch.nn.Linear(3, 1)\n'
              '    opt = torch.optim.SGD(model.parameters(), lr=LR, momentum=0.9)\n')
    assert tracking_plan.run_call(script, "mlflow") == 'mlflow.log_params({"lr": LR, "momentum": 0.9})'
    assert tracking_plan.run_call(script, "wandb") == 'wandb.init(project="opsgraft", config={"lr": LR, "momentum": 0.9})'
    assert tracking_plan.run_call("print(1)\n", "mlflow") == ""


def test_the_outline_gives_the_calls_and_without_them_the_names_to_log():
    spec = get_adapter("tracking:mlflow")
    on = render(LOOP, spec, "train.py")
    assert 'right after the run starts: `mlflow.log_params({"seed": SEED, "epochs": EPOCHS})`' in on
    assert ('  - before line 12 in main(): `mlflow.log_metrics({"train_loss": float(loss), "val_acc": float(acc)}, step=epoch)`'
            in on)
    assert "log as parameters" not in on
    off = render(LOOP, spec, "train.py", exact_calls=False)
    assert "log as parameters: SEED, EPOCHS" in off and "log_metrics" not in off and "log_params" not in off
    wandb = render(LOOP, get_adapter("tracking:wandb"), "train.py")
    assert 'start the run with `wandb.init(project="opsgraft", config={"seed": SEED, "epochs": EPOCHS})`' in wandb
    # DVCLive has no exact calls: its outline is the same either way
    dvclive = get_adapter("tracking:dvclive")
    assert render(LOOP, dvclive, "train.py") == render(LOOP, dvclive, "train.py", exact_calls=False)


def _graft(source: str, component: str) -> str:
    """The script with the outline's calls put where the outline says, by rule, no model: what it asks must run."""
    lines = source.splitlines()
    for p in reversed(tracking_plan.printed_metrics(source)):
        indent = lines[p.line - 1][: len(lines[p.line - 1]) - len(lines[p.line - 1].lstrip())]
        lines.insert(p.line - 1, indent + p.call(component))
    guard = next(i for i, line in enumerate(lines) if line.startswith("if __name__"))
    run = tracking_plan.run_call(source, component)
    start = [run] if component == "wandb" else ["mlflow.start_run()", run]
    end = "wandb.finish()" if component == "wandb" else "mlflow.end_run()"
    head = [f"import {component}"]
    return "\n".join(head + lines[:guard] + start + lines[guard:] + [end]) + "\n"


@pytest.mark.parametrize("task_id", ["tracking-mlflow-sklearn-digits-forest", "tracking-mlflow-sklearn-diabetes"])
def test_the_calls_put_where_the_outline_says_pass_the_tasks_checker(task_id: str, tmp_path: Path):
    task = load_task(task_id)
    source = input_files(task)[task.entry]
    before = judge(task, Candidate(task.id, 0, {task.entry: source}, task.entry))
    assert before.status != "passed"
    grafted = _graft(source, task.component)
    after = judge(task, Candidate(task.id, 0, {task.entry: grafted}, task.entry))
    assert after.status == "passed", (after.verdict, after.execution.stderr_tail[-1500:], grafted)


@pytest.mark.slow
def test_lightning_autolog_put_where_the_outline_says_passes_the_tasks_checker():
    """Lightning with logger=False: autolog before fit records self.log's values at every epoch."""
    task = load_task("tracking-mlflow-lightning-digits-cnn")
    source = input_files(task)[task.entry]
    points = render(source, get_adapter("tracking:mlflow"), task.entry)
    fit = next(line for line in points.splitlines() if "mlflow.pytorch.autolog(log_models=False)" in line)
    number = int(fit.split("before line ")[1].split(" ")[0])
    lines = source.splitlines()
    indent = lines[number - 1][: len(lines[number - 1]) - len(lines[number - 1].lstrip())]
    run = tracking_plan.run_call(source, "mlflow")
    block = [f"{indent}with mlflow.start_run():", f"{indent}    {run}",
             f"{indent}    mlflow.pytorch.autolog(log_models=False)", f"{indent}    {lines[number - 1].strip()}"]
    grafted = "\n".join(["import mlflow", *lines[: number - 1], *block, *lines[number:]]) + "\n"
    before = judge(task, Candidate(task.id, 0, {task.entry: source}, task.entry))
    assert before.status != "passed"
    after = judge(task, Candidate(task.id, 0, {task.entry: grafted}, task.entry))
    assert after.status == "passed", (after.verdict, after.execution.stderr_tail[-1500:], grafted)


def test_the_worked_example_is_left_out_where_the_log_calls_are_written(tmp_path: Path):
    from opsgraft.adapters.workflow import Workflow

    script = tmp_path / "train.py"
    script.write_text(LOOP)
    key = "tracking:mlflow"
    flow = Workflow(spec=get_adapter(key), script=script, source=LOOP)
    assert flow.planned_tracking and not flow.shows_example and flow.example_text() == ""
    assert Workflow(spec=get_adapter(key), script=script, source=LOOP, examples=True).shows_example
    assert not Workflow(spec=get_adapter(key), script=script, source=LOOP, exact_calls=False).planned_tracking
    # W&B keeps its example: measured worse without it (tuning gcn 3 of 3 -> 0 of 3)
    wandb = Workflow(spec=get_adapter("tracking:wandb"), script=script, source=LOOP)
    assert not wandb.planned_tracking and wandb.shows_example
    # a script that prints no numbers has no log calls written: the example stays
    quiet = "import numpy as np\n\ndef main():\n    np.zeros(3).sum()\n\nmain()\n"
    script.write_text(quiet)
    flow = Workflow(spec=get_adapter("tracking:mlflow"), script=script, source=quiet)
    assert not flow.planned_tracking and flow.shows_example
    # DVCLive (a plugin) gets no exact calls, so it keeps its example
    script.write_text(LOOP)
    assert not Workflow(spec=get_adapter("tracking:dvclive"), script=script, source=LOOP).planned_tracking


def test_the_run_starts_before_the_trainer_that_fits_is_built():
    # tuning half, lightning-digits-cnn (0 of 3): told "start the run before line 81" (the fit), every answer
    # wrapped `trainer.fit(...)` alone and dropped the `trainer = pl.Trainer(...)` statement above it
    task = load_task("tracking-mlflow-lightning-digits-cnn")
    source = input_files(task)[task.entry]
    lines = source.splitlines()
    built = next(i for i, line in enumerate(lines, 1) if line.strip().startswith("trainer = pl.Trainer("))
    fit = next(i for i, line in enumerate(lines, 1) if line.strip().startswith("trainer.fit("))
    text = render(source, get_adapter("tracking:mlflow"), "train.py")
    assert f"start the MLflow run in main() before line {built} and end it after line {fit}" in text
