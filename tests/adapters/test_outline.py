"""The script outline (adapters/outline.py, insertion points in adapters/insertion.py): facts found in real
inputs, insertion points, and the prompt wiring.

Expected line numbers are found by searching the script's text, never by the AST code under test.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from opsgraft.adapters import prompting
from opsgraft.adapters.insertion import insertion_points
from opsgraft.adapters.outline import MODULE, build, render, tool_uses, work_scope
from opsgraft.adapters.repair_loop import Attempt
from opsgraft.adapters.specs import adapter_for_task, get_adapter
from opsgraft.adapters.workflow import Workflow, corpus_workflow
from opsgraft.evaluation.corpus import input_files, load_task
from opsgraft.llm.scripted import ScriptedBackend
from opsgraft.types import Generation
from tests.conftest import cassette_for_flow, run_cli

ROOT = Path(__file__).resolve().parents[2]
OUTSIDE = Path(__file__).parent / "outside_corpus"


def line_of(source: str, text: str, nth: int = 0) -> int:
    """1-based line of the ``nth`` occurrence of ``text`` (the test's own oracle)."""
    hits = [i for i, ln in enumerate(source.splitlines(), 1) if text in ln]
    assert len(hits) > nth, f"{text!r} not in the script"
    return hits[nth]


def corpus(task_id: str) -> tuple[str, object]:
    task = load_task(task_id)
    spec = adapter_for_task(task.functionality, task.component, task.source_component)
    return input_files(task)[task.entry], spec


def test_sklearn_tracking_outline_locates_data_model_loop_and_metrics():
    source, spec = corpus("tracking-mlflow-sklearn-diabetes")
    o = build(source, "train.py")
    assert line_of(source, "load_diabetes(return_X_y") in [d.line for d in o.data]
    assert line_of(source, "= train_test_split(") in [d.line for d in o.data]
    assert [m.line for m in o.models] == [line_of(source, "model = SGDRegressor(")]
    assert [t.line for t in o.training] == [line_of(source, "model.partial_fit(")]
    [loop] = o.loops
    assert (loop.line, loop.scope) == (line_of(source, "for epoch in range(EPOCHS)"), "main")
    assert loop.end == line_of(source, 'print(f"epoch')
    assert {"mse", "r2"} <= {n for m in o.metrics for n in m.names}
    assert {h.text.split("=")[0] for h in o.hyperparams} == {"SEED", "EPOCHS", "LEARNING_RATE", "ALPHA"}
    assert "main()" in o.entry and str(line_of(source, 'if __name__ == "__main__"')) in o.entry
    text = "\n".join(insertion_points(o, spec, source, exact_calls=False))
    assert f"before line {line_of(source, 'model = SGDRegressor(')}" in text
    assert f"after line {loop.end}" in text and "pass its counter as step" in text
    exact = "\n".join(insertion_points(o, spec, source))
    assert f"before line {line_of(source, 'model = SGDRegressor(')}" in exact and f"after line {loop.end}" in exact
    assert (f"before line {loop.end} in main(): `mlflow.log_metrics({{\"val_mse\": float(mse), \"val_r2\": float(r2)}}, "
            "step=epoch)`") in exact


def test_hpo_objective_goes_inside_main_after_the_split():
    source, spec = corpus("hpo-optuna-sklearn-svc")
    o = build(source, "train.py")
    assert work_scope(o) == "main"
    points = "\n".join(insertion_points(o, spec, source, exact_calls=False))
    split = line_of(source, "X_train, X_test, y_train, y_test = train_test_split(")
    assert f"objective(trial) INSIDE main(), after line {split} where `X_train`" in points
    assert f"model built at line {line_of(source, 'model = make_pipeline(')}" in points
    assert 'SVC(C=1.0, gamma="scale")' in points
    assert f"train as at line {line_of(source, 'model.fit(X_train')}" in points
    assert "study.best_params" in points


def test_hpo_ready_line_is_the_last_reassignment_of_the_data():
    # X_train is scaled in place after the split: the objective must come after that line.
    source = (ROOT / "examples" / "train_diabetes.py").read_text()
    scaled = source.replace(
        "    model = GradientBoostingRegressor(",
        "    X_train = X_train * 1.0\n    model = GradientBoostingRegressor(")
    points = "\n".join(insertion_points(build(scaled), get_adapter("hpo:optuna"), scaled))
    assert f"after line {line_of(scaled, 'X_train = X_train * 1.0')} where" in points


def test_keras_registration_goes_after_fit_with_the_keras_flavor():
    source, spec = corpus("registration-mlflow-keras-breast-cancer")
    o = build(source, "train.py")
    fit = line_of(source, "model.fit(X_train")
    assert o.framework == "Keras" and [t.line for t in o.training] == [fit]
    assert [m.line for m in o.models] == [line_of(source, "model = keras.Sequential(")]
    points = "\n".join(insertion_points(o, spec, source, exact_calls=False))  # the lines without the plan
    assert f"AFTER line {fit}, in main()" in points
    assert "mlflow.keras.log_model" in points
    assert f"line {line_of(source, 'model.evaluate(')}" in points  # the final metric
    # with the plan (adapters/registration_plan.py): the run is written after main()'s last line, the save
    planned = "\n".join(insertion_points(o, spec, source))
    assert f"written after line {line_of(source, 'model.save(')}" in planned
    assert "    mlflow.keras.log_model(model," in planned and "AFTER line" not in planned


def test_lightning_outline_follows_training_through_a_local_function():
    source, spec = corpus("hpo-optuna-lightning-digits")
    o = build(source, "train.py")
    assert o.framework == "PyTorch Lightning"
    trainer_fit = line_of(source, "trainer.fit(model")
    assert (trainer_fit, "fit") in [(t.line, t.scope) for t in o.training]
    # main() builds the model and calls fit(): that is where the objective goes.
    assert (line_of(source, "print(f\"validation accuracy"), "main") in [(t.line, t.scope) for t in o.training]
    assert work_scope(o) == "main"
    assert line_of(source, "load_digits(") in [d.line for d in o.data if d.scope == "loaders"]
    points = "\n".join(insertion_points(o, spec, source, exact_calls=False))
    assert "INSIDE main()" in points
    assert f"model built at line {line_of(source, 'model = DigitsClassifier(')}" in points
    assert ("self.log", "DigitsClassifier.validation_step") in [
        (m.text[:8], m.scope) for m in o.metrics]


def test_pytorch_pruning_names_the_loop_and_its_optimizer_step():
    source, spec = corpus("pruning-torch-digits-mlp")
    o = build(source, "train.py")
    epoch = line_of(source, "for epoch in range(EPOCHS)")
    points = "\n".join(insertion_points(o, spec, source, exact_calls=False))  # the plan off (test_pruning_plan)
    loop = next(lp for lp in o.loops if lp.line == epoch)
    assert loop.end == line_of(source, 'print(f"epoch {epoch}')
    assert f"the training loop is lines {epoch}-{loop.end} in main()" in points
    assert f"`optimizer.step()` line {line_of(source, 'optimizer.step()')}" in points
    assert f"`loss.backward()` line {line_of(source, 'loss.backward()')}" in points
    assert f"built at line {line_of(source, 'model = nn.Sequential(')}" in points
    # data() is the script's own loader: main()'s call to it is where main gets its data.
    assert (line_of(source, "= data()"), "main") in [(d.line, d.scope) for d in o.data]


@pytest.mark.parametrize("task_id, tool", [("translate-wandb-mlflow-sgd", "wandb"),
                                            ("translate-gitpython-dvc-lfs-dataset", "repo")])
def test_translation_lists_every_statement_of_the_source_tool(task_id, tool):
    source, spec = corpus(task_id)
    uses = [u.line for u in tool_uses(source, spec.source_imports)]
    expected = [i for i, ln in enumerate(source.splitlines(), 1)
                if re.search(rf"\b{tool}\b[.(\[]", ln) and not ln.lstrip().startswith(("import", "from", "#"))]
    assert expected and set(expected) <= set(uses)
    text = render(source, spec, "x.py", exact_calls=False)  # the listing; the written-out function: test_callmap
    assert f"replace the {spec.source_component} code" in text
    # the call map lists what changes; printing git metadata (`repo.head.commit`) stays as it is
    expected = [line for line in expected if "print(" not in source.splitlines()[line - 1]]
    for line in expected[:8]:
        assert f"line {line}" in text


def test_wandb_config_alias_counts_as_wandb_code():
    source, spec = corpus("translate-wandb-mlflow-sgd")
    uses = {u.line for u in tool_uses(source, spec.source_imports)}
    assert line_of(source, "cfg = wandb.config") in uses
    assert line_of(source, "clf = SGDClassifier(") in uses  # reads the config through the alias
    assert line_of(source, "for epoch in range(cfg.epochs)") in uses


def test_outside_corpus_scripts():
    ridge = (OUTSIDE / "ridge_sweep.py").read_text()
    o = build(ridge)
    fit = line_of(ridge, "Ridge(alpha=alpha).fit(")
    assert [t.line for t in o.training] == [fit] and [m.line for m in o.models] == [fit]
    assert [lp.line for lp in o.loops] == [line_of(ridge, "for step, alpha in enumerate(ALPHAS)")]
    hpo = "\n".join(insertion_points(o, get_adapter("hpo:optuna"), ridge))
    assert f"INSIDE main(), after line {line_of(ridge, '= train_test_split(')} where `X_tr`" in hpo

    blobs = (OUTSIDE / "mlp_blobs.py").read_text()
    o = build(blobs)
    assert (line_of(blobs, "X, y = data()"), "main") in [(d.line, d.scope) for d in o.data]
    prune = "\n".join(insertion_points(o, get_adapter("pruning:torch"), blobs, exact_calls=False))
    assert f"the training loop is lines {line_of(blobs, 'for epoch in range(4)')}-" in prune
    assert f"`opt.step()` line {line_of(blobs, 'opt.step()')}" in prune


SPLIT_TRAINING = """\
import torch
from sklearn.datasets import load_wine
from sklearn.model_selection import train_test_split
from torch import nn


def train(net, X, y, epochs):
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    for epoch in range(epochs):
        opt.zero_grad()
        loss = nn.functional.cross_entropy(net(X), y)
        loss.backward()
        opt.step()
    return net


def main():
    X, y = load_wine(return_X_y=True)
    X_tr, X_te, y_tr, y_te = train_test_split(torch.tensor(X).float(), torch.tensor(y), random_state=0)
    model = nn.Sequential(nn.Linear(13, 32), nn.ReLU(), nn.Linear(32, 3))
    train(model, X_tr, y_tr, epochs=20)
    acc = (model(X_te).argmax(1) == y_te).float().mean().item()
    print(f"test accuracy {acc:.3f}")


if __name__ == "__main__":
    main()
"""


def test_training_in_a_helper_function_places_code_where_the_model_lives():
    src = SPLIT_TRAINING
    o = build(src)
    # train() holds the loop, but main() builds the model, has the data and calls train().
    assert work_scope(o) == "main"
    call = line_of(src, "train(model, X_tr")
    reg = "\n".join(insertion_points(o, get_adapter("registration:mlflow"), src, exact_calls=False))
    assert f"AFTER line {call}, in main()" in reg and "mlflow.pytorch.log_model" in reg
    planned = "\n".join(insertion_points(o, get_adapter("registration:mlflow"), src))
    last = line_of(src, 'print(f"test accuracy')
    assert f"in main(), written after line {last}" in planned
    assert "        mlflow.pytorch.log_model(model, " in planned
    hpo = "\n".join(insertion_points(o, get_adapter("hpo:optuna"), src))
    assert f"INSIDE main(), after line {line_of(src, '= train_test_split(')} where `X_tr`" in hpo
    prune = "\n".join(insertion_points(o, get_adapter("pruning:torch"), src))
    loop = line_of(src, "for epoch in range(epochs)")
    assert f"the training loop is lines {loop}-{line_of(src, 'opt.step()')} in train()" in prune
    assert f"built at line {line_of(src, 'model = nn.Sequential(')}) before line {call}" in prune


def test_readme_example_registration_point_is_after_fit():
    source = (ROOT / "examples" / "train_diabetes.py").read_text()
    points = "\n".join(insertion_points(build(source), get_adapter("registration:mlflow"), source,
                                        exact_calls=False))
    assert f"AFTER line {line_of(source, 'model.fit(X_train')}" in points
    assert "mlflow.sklearn.log_model" in points
    planned = "\n".join(insertion_points(build(source), get_adapter("registration:mlflow"), source))
    assert f"lines {line_of(source, 'model.fit(X_train')}-" in planned and "mlflow.sklearn.log_model(model," in planned


def test_module_level_script_has_no_main_and_no_inside_main_advice():
    source = (
        "from sklearn.datasets import load_iris\n"
        "from sklearn.linear_model import LogisticRegression\n"
        "C = 1.0\n"
        "X, y = load_iris(return_X_y=True)\n"
        "clf = LogisticRegression(C=C, max_iter=200)\n"
        "clf.fit(X, y)\n"
        "print('accuracy', clf.score(X, y))\n"
    )
    o = build(source)
    assert work_scope(o) == MODULE and o.entry == ""
    assert [(d.line, d.scope) for d in o.data] == [(4, MODULE)]
    assert [t.line for t in o.training] == [6] and [m.line for m in o.models] == [5]
    text = render(source, get_adapter("hpo:optuna"), exact_calls=False)
    assert "no main guard" in text and "INSIDE" not in text
    assert "model built at line 5" in text


@pytest.mark.parametrize("source", ["def main(:\n    pass\n", "x = (\n", "\x00", ""])
def test_unparsable_or_empty_source_gives_an_empty_outline(source):
    o = build(source)
    assert o.empty and o.functions == () and o.data == ()
    assert render(source, get_adapter("tracking:mlflow")) == ""


def every_input() -> list[tuple[str, str, str]]:
    out = []
    for task_dir in sorted((ROOT / "corpus" / "tasks").iterdir()):
        task = load_task(task_dir.name)
        if task.kind == "ablation":
            continue
        spec = adapter_for_task(task.functionality, task.component, task.source_component)
        out.append((task_dir.name, spec.key, input_files(task)[task.entry]))
    for path in [*sorted(OUTSIDE.glob("*.py")), *sorted((ROOT / "examples").glob("*.py"))]:
        for key in ("tracking:mlflow", "registration:mlflow", "hpo:optuna", "pruning:torch"):
            out.append((path.name, key, path.read_text()))
    return out


def test_every_input_gets_a_short_outline():
    sizes = []
    for name, key, source in every_input():
        text = render(source, get_adapter(key), name)
        assert text, f"{name}: no outline"
        # HPO's study skeleton (adapters/hpo_plan.py) holds up to 16 lines of the script's own code, pruning's
        # plan (adapters/pruning_plan.py) up to 30, shown in place of the worked example
        assert len(text.splitlines()) <= 40, f"{name} ({key}): {len(text.splitlines())} lines"
        prose = re.sub(r"```python\n.*?```", "", text, flags=re.S)
        assert len(prose.splitlines()) <= 30, f"{name} ({key}): {len(prose.splitlines())} lines outside the code"
        sizes.append(len(text))
    assert max(sizes) <= 2200  # about 550 tokens at the worst; most are well under 400


def test_prompt_carries_the_outline_only_when_enabled():
    on = corpus_workflow("hpo-optuna-sklearn-svc")
    off = corpus_workflow("hpo-optuna-sklearn-svc")
    off.outline = False
    on.examples = off.examples = False  # the worked examples are tested in their own file
    with_outline = on.build_prompt(on.source).messages[-1].content
    without = off.build_prompt(off.source).messages[-1].content
    assert on.outline_text() and on.outline_text() in with_outline
    assert "Outline of `train.py`" in with_outline and "INSIDE main()" in with_outline
    assert "Outline of" not in without and off.outline_text() == ""
    # Off, the prompt is the one built before outlines existed (recorded cassettes still replay).
    assert without == prompting.inline_prompt(off.spec, "train.py", off.source,
                                              instruction=off.task.instruction).messages[-1].content
    assert "```\n\nReturn the complete modified `train.py`" in without
    # The outline comes after the code whose lines it numbers.
    assert with_outline.index("def main()") < with_outline.index("Outline of")


def test_translation_prompt_carries_the_outline():
    flow = corpus_workflow("translate-wandb-mlflow-sgd", strategy="", mode="none")
    flow.examples = False
    text = flow.build_prompt(flow.source, []).messages[-1].content
    assert "replace the wandb code" in text
    assert text.index("Outline of") < text.index("Return the complete translated")


def test_restart_prompt_keeps_the_outline(sklearn_script):
    flow = Workflow(spec=get_adapter("hpo:optuna"), script=sklearn_script, source=sklearn_script.read_text())
    flow.examples = False
    first = flow.build_prompt(flow.source)
    attempt = Attempt(1, 0, first, Generation(text="no code", index=0), None)
    restart = flow.build_restart(attempt, ["round 0: failed: no study"]).messages[-1].content
    assert flow.outline_text() and flow.outline_text() in restart


def test_record_says_which_outline_the_prompt_carried(sklearn_script, tmp_path):
    for enabled in (True, False):
        flow = Workflow(spec=get_adapter("tracking:mlflow"), script=sklearn_script, source=sklearn_script.read_text(),
                        outline=enabled)
        flow.examples = False
        backend = ScriptedBackend(["```python\nprint(1)\n```"])
        result = flow.execute(backend, out_dir=tmp_path / str(enabled))
        record = json.loads(result.paths["record"].read_text())
        sent = backend.calls[0][0][-1].content
        if enabled:
            assert record["prompt_parts"]["outline"] == flow.outline_text() != ""
            assert record["prompt_parts"]["outline"] in sent
        else:
            assert record["prompt_parts"]["outline"] == "" and "Outline of" not in sent


def test_cli_no_outline_sends_the_prompt_without_it(sklearn_script, tmp_path):
    answer = "```python\n" + sklearn_script.read_text().replace('"""Train', 'import mlflow\n"""Train') + "```\n"
    off = Workflow(spec=get_adapter("tracking:mlflow"), script=sklearn_script, source=sklearn_script.read_text(),
                   outline=False)
    off.examples = False
    cassette = cassette_for_flow(tmp_path / "off.jsonl", off, [answer])
    args = ["adapt", str(sklearn_script), "--add", "tracking:mlflow", "--backend", "replay", "--cassette",
            str(cassette), "--no-examples", "--out-dir", str(tmp_path / "out")]
    code, _, err = run_cli([*args, "--no-outline"])
    assert code == 0, err
    record = json.loads(next((tmp_path / "out").glob("*.opsgraft.json")).read_text())
    assert record["prompt_parts"]["outline"] == ""
    # The default (outline on) asks a different prompt, which this cassette does not hold.
    code, _, err = run_cli([*args[:-2], "--out-dir", str(tmp_path / "out2")])
    assert code != 0


STAGED = '''import torch
from torch import nn


class AutoEncoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(8, 3), nn.Linear(3, 8))

    def forward(self, x):
        return self.net(x)


def build_model():
    return nn.Sequential(nn.Linear(8, 4), nn.ReLU(), nn.Linear(4, 1))


def run_epoch(model, optimizer, X):
    for idx in torch.randperm(len(X)).split(16):
        optimizer.zero_grad()
        loss = model(X[idx]).pow(2).mean()
        loss.backward()
        optimizer.step()
    return loss.item()


def main():
    X = torch.randn(64, 8)
    model = build_model()
    auto = AutoEncoder()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    for epoch in range(3):
        loss = run_epoch(model, optimizer, X)
        print(epoch, loss)


if __name__ == "__main__":
    main()
'''


def test_a_scripts_own_module_and_a_model_factory_are_models_even_when_named_like_an_encoder():
    o = build(STAGED, "train.py")
    found = {(m.line, m.names) for m in o.models if m.scope == "main"}
    assert (line_of(STAGED, "model = build_model()"), ("model",)) in found
    assert (line_of(STAGED, "auto = AutoEncoder()"), ("auto",)) in found


def test_pruning_keeps_the_call_to_the_scripts_own_epoch_function():
    points = insertion_points(build(STAGED, "train.py"), get_adapter("pruning:torch"), STAGED, exact_calls=False)
    call = line_of(STAGED, "loss = run_epoch(")
    first, last = line_of(STAGED, "def run_epoch("), line_of(STAGED, "    return loss.item()")
    assert (f"- keep the call `run_epoch(model, optimizer, X)` (line {call}) as it is: run_epoch() "
            f"(lines {first}-{last}) runs the batches with its own variables; do not copy its loop into main()"
            ) in points
    inline = STAGED.replace("        loss = run_epoch(model, optimizer, X)\n",
                            "        optimizer.zero_grad()\n        loss = model(X).pow(2).mean()\n"
                            "        loss.backward()\n        optimizer.step()\n")
    points = insertion_points(build(inline, "train.py"), get_adapter("pruning:torch"), inline, exact_calls=False)
    assert not any(p.startswith("- keep the call") for p in points)


LIT = '''import pytorch_lightning as pl
import torch


class Net(pl.LightningModule):
    def training_step(self, batch, i):
        loss = self.layer(batch).mean()
        self.log("train_loss", loss)
        return loss

    def validation_step(self, batch, i):
        self.log("val_loss", self.layer(batch).mean())


def main():
    trainer = pl.Trainer(max_epochs=2, logger=False)
    trainer.fit(Net(), None, None)


if __name__ == "__main__":
    main()
'''


def test_lightning_tracking_autologs_before_fit():
    points = insertion_points(build(LIT, "train.py"), get_adapter("tracking:mlflow"), LIT)
    fit = line_of(LIT, "trainer.fit(")
    assert any(p.startswith(f"- right before line {fit} (`trainer.fit(") and
               "`mlflow.pytorch.autolog(log_models=False)`" in p for p in points), points
    assert not any("callback_metrics" in p for p in points)


def test_lightning_tracking_logs_the_callback_metrics_after_fit():
    points = insertion_points(build(LIT, "train.py"), get_adapter("tracking:mlflow"), LIT, exact_calls=False)
    logs = f"{line_of(LIT, 'self.log(' + chr(34) + 'train')}, {line_of(LIT, 'self.log(' + chr(34) + 'val')}"
    assert (f"- the metrics that self.log records (lines {logs}) are in trainer.callback_metrics: after line "
            f"{line_of(LIT, 'trainer.fit(')}, `mlflow.log_metrics({{k: float(v) for k, v in "
            "trainer.callback_metrics.items()})`") in points
    plain = LIT.replace('self.log("train_loss", loss)', "print(loss)").replace(
        'self.log("val_loss", self.layer(batch).mean())', "pass")
    assert not any("callback_metrics" in p for p in
                   insertion_points(build(plain, "train.py"), get_adapter("tracking:mlflow"), plain, exact_calls=False))
