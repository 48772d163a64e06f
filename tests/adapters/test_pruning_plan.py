"""Pruning's plan: the calls written into the script's own epoch loop, with the instruction's schedule.

The spliced tests put the plan's code into a script outside the corpus, run it with the installed torch and
NNCF, and read the sparsity it reaches: the plan is code that runs, not only text that looks right.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from opsgraft.adapters import pruning_plan
from opsgraft.adapters.outline import build, render, work_scope
from opsgraft.adapters.specs import get_adapter
from opsgraft.evaluation.corpus import input_files, load_task

BLOBS = (Path(__file__).parent / "outside_corpus" / "mlp_blobs.py").read_text()

# one function per stage, the model class its own, the epoch loop calling the batch loop
STAGES = '''import torch
from torch import nn

WARMUP_EPOCHS = 2


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(1, 4, 3, padding=1)
        self.fc = nn.Linear(4 * 16, 2)

    def forward(self, x):
        return self.fc(torch.relu(self.conv(x)).flatten(1))


def load_signals():
    torch.manual_seed(0)
    x = torch.randn(256, 1, 16)
    return x, (x.mean(dim=(1, 2)) > 0).long()


def run_epoch(model, opt, x, y):
    for i in range(0, len(x), 32):
        opt.zero_grad()
        nn.functional.cross_entropy(model(x[i:i + 32]), y[i:i + 32]).backward()
        opt.step()


def main():
    x_train, y_train = load_signals()
    model = Net()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for epoch in range(6):
        run_epoch(model, opt, x_train, y_train)
        print(f"epoch {epoch} acc {(model(x_train).argmax(1) == y_train).float().mean():.3f}")


if __name__ == "__main__":
    main()
'''


def _blocks(lines: list[str]) -> list[list[str]]:
    out, block = [], None
    for line in lines:
        if line == "```python":
            block = []
        elif line == "```" and block is not None:
            out.append(block)
            block = None
        elif block is not None:
            block.append(line)
    return out


def _splice(source: str, lines: list[str]) -> str:
    """``source`` with the plan applied as a person would: the excerpt in place, the imports and classes added."""
    span = re.search(r"written into lines (\d+)-(\d+)", "\n".join(lines))
    assert span, lines
    a, b = int(span.group(1)), int(span.group(2))
    blocks = _blocks(lines)
    imports = re.findall(r"`((?:import|from) [^`]+)`", next(x for x in lines if "written into" in x))
    src = source.splitlines()
    src[a - 1:b] = blocks[-1]
    classes = [line for block in blocks[:-1] for line in block]
    head = next(i for i, line in enumerate(src) if line.startswith(("def ", "class ", "torch.manual_seed")))
    return "\n".join(imports + src[:head] + classes + ["", ""] + src[head:]) + "\n"


def _run(code: str, tmp_path: Path) -> str:
    script = tmp_path / "pruned.py"
    script.write_text(code)
    env = {**os.environ, "NNCF_CI": "1"}
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300, env=env,
                          cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@pytest.mark.parametrize(("instruction", "condition"), [
    ("at the start of epoch 3, prune 40% of all the weights", "if epoch == 3:"),
    ("at the start of epochs 2, 4 and 6, prune 20% of the remaining weights", "if epoch in (2, 4, 6):"),
    ("after the second epoch, prune 50% of the weights", "if epoch == 2:"),
    ("after 3 epochs prune half of the weights (amount 0.5)", "if epoch == 3:"),
    ("after the warm-up epochs, prune with a ratio of 0.5", "if epoch == WARMUP_EPOCHS:"),
])
def test_the_instructions_schedule_becomes_the_condition_on_the_scripts_own_counter(instruction, condition):
    o = build(STAGES)
    code = "\n".join(_blocks(pruning_plan.skeleton(o, STAGES, work_scope(o), "torch-prune", instruction))[-1])
    assert f"        {condition}\n" in code + "\n"
    # the script's own call stays: the batch loop is not inlined into main()
    assert "        run_epoch(model, opt, x_train, y_train)" in code


def test_before_training_prunes_right_after_the_model_is_built():
    o = build(STAGES)
    code = _blocks(pruning_plan.skeleton(o, STAGES, work_scope(o), "torch-prune",
                                         "before training, prune 30% of each Conv1d and Linear layer"))[-1]
    assert code[:4] == [
        "    model = Net()",
        '    params = [(m, "weight") for m in model.modules() if isinstance(m, (nn.Conv1d, nn.Linear))]',
        "    for m, name in params:",
        '        prune.l1_unstructured(m, name=name, amount=0.3)',
    ]


def test_a_global_nncf_schedule_is_stepped_at_the_top_of_every_epoch():
    o = build(STAGES)
    instruction = ("before training prune the net with nncf.prune, global unstructured magnitude, start ratio 0.1, "
                   "and raise it with MultiStepMagnitudePruningScheduler: 0.1 in epoch 0, 0.4 from epoch 2")
    lines = pruning_plan.skeleton(o, STAGES, work_scope(o), "nncf", instruction)
    assert "from nncf.torch.function_hook.pruning.magnitude.schedulers import MultiStepMagnitudePruningScheduler" \
        in lines[0]
    code = _blocks(lines)[-1]
    assert code[1] == ("    model = nncf.prune(model, mode=nncf.PruneMode.UNSTRUCTURED_MAGNITUDE_GLOBAL, ratio=0.1, "
                       "examples_inputs=x_train[:1])")
    assert code[2].endswith("steps={0: 0.1, 2: 0.4})")
    assert code[code.index("    for epoch in range(6):") + 1] == "        scheduler.step()"
    assert code[-1] == "    print(nncf.pruning_statistic(model))"


def test_no_epoch_loop_or_another_component_gives_no_plan():
    script = "from sklearn.svm import SVC\nclf = SVC()\nclf.fit([[0], [1]], [0, 1])\n"
    o = build(script)
    assert pruning_plan.skeleton(o, script, work_scope(o), "torch-prune", "prune 50%") == []
    o = build(STAGES)
    assert pruning_plan.skeleton(o, STAGES, work_scope(o), "mlflow", "prune 50%") == []


def test_spliced_torch_plan_runs_and_keeps_the_masks_through_the_remaining_epochs(tmp_path):
    o = build(BLOBS)
    lines = pruning_plan.skeleton(o, BLOBS, work_scope(o), "torch-prune",
                                  "after the first epoch prune 50% of every nn.Linear (L1 unstructured), "
                                  "then make it permanent with prune.remove")
    out = _run(_splice(BLOBS, lines), tmp_path)
    assert re.search(r"^weight sparsity: 0\.5\d\d$", out, re.MULTILINE), out
    assert len(re.findall(r"^epoch \d loss", out, re.MULTILINE)) == 4  # the script's own prints are kept


def test_spliced_nncf_plan_wraps_a_bare_sequential_and_prunes_it(tmp_path):
    o = build(BLOBS)
    lines = pruning_plan.skeleton(o, BLOBS, work_scope(o), "nncf",
                                  "after the first epoch prune with nncf.prune, unstructured magnitude, local ratio 0.5")
    assert lines[0].startswith("- nncf.prune needs a model class with its own forward")
    out = _run(_splice(BLOBS, lines), tmp_path)
    assert re.search(r"Prunable parameters\W+0\.500", out), out  # nncf.pruning_statistic's table
    assert len(re.findall(r"^epoch \d loss", out, re.MULTILINE)) == 4


def test_spliced_nncf_schedule_on_a_script_with_one_function_per_stage(tmp_path):
    o = build(STAGES)
    instruction = ("before training prune with nncf.prune (global unstructured magnitude, ratio 0.2) and raise it "
                   "with ExponentialMagnitudePruningScheduler to a target ratio of 0.6 reached at epoch 3")
    out = _run(_splice(STAGES, pruning_plan.skeleton(o, STAGES, work_scope(o), "nncf", instruction)), tmp_path)
    assert re.search(r"Prunable parameters\W+0\.600", out), out  # the target ratio, reached at epoch 3
    assert len(re.findall(r"^epoch \d acc", out, re.MULTILINE)) == 6, out


def test_the_plan_reaches_the_pruning_prompt_of_a_held_out_task():
    task = load_task("pruning-torch-diabetes-iterative")
    source = input_files(task)[task.entry]
    spec = get_adapter("pruning:torch")
    text = render(source, spec, instruction=task.instruction)
    assert "        if epoch in (2, 4, 6):" in text
    assert "                prune.l1_unstructured(m, name=name, amount=0.2)" in text
    assert "prune.remove(m, name)" in text
    # the script's final print, right after the loop, is in the excerpt after the report, so that it stays
    assert text.index('print(f"weight sparsity') < text.index('    print(f"test mse (standardized target)')
    # the knob off: the earlier lines, without the plan
    assert "if epoch in" not in render(source, spec, exact_calls=False, instruction=task.instruction)


LIGHTNING = '''import pytorch_lightning as L
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset


class Regressor(L.LightningModule):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(6, 32), nn.ReLU(), nn.Linear(32, 1))

    def forward(self, x):
        return self.body(x)

    def training_step(self, batch, batch_idx):
        x, y = batch
        return nn.functional.mse_loss(self(x), y)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.05)


def loaders():
    torch.manual_seed(0)
    x = torch.randn(256, 6)
    return DataLoader(TensorDataset(x, x.sum(1, keepdim=True)), batch_size=32)


def main():
    train_loader = loaders()
    model = Regressor()
    trainer = L.Trainer(max_epochs=4, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False)
    trainer.fit(model, train_loader)
    print("trained")


if __name__ == "__main__":
    main()
'''


def test_spliced_lightning_plan_prunes_from_a_callback_on_the_scripts_trainer(tmp_path):
    o = build(LIGHTNING)
    lines = pruning_plan.skeleton(o, LIGHTNING, work_scope(o), "torch-prune",
                                  "at the start of epoch 1 prune 60% of each nn.Linear (L1 unstructured) and make "
                                  "it permanent with prune.remove when training ends")
    assert lines[0].startswith("- the pruning runs in a Lightning Callback")
    assert "class Pruning(L.Callback):" in lines and "        if trainer.current_epoch == 1:" in lines
    span = re.search(r"written into lines (\d+)-(\d+)", "\n".join(lines))
    assert span and int(span.group(2)) == LIGHTNING.splitlines().index('    print("trained")') + 1
    src = LIGHTNING.splitlines()
    a, b = int(span.group(1)), int(span.group(2))
    blocks = _blocks(lines)
    src[a - 1:b] = blocks[1]
    head = src.index("def loaders():")
    code = "\n".join(["from torch.nn.utils import prune"] + src[:head] + blocks[0] + ["", ""] + src[head:]) + "\n"
    out = _run(code, tmp_path)
    found = re.search(r"^weight sparsity: (0\.\d+)$", out, re.MULTILINE)
    assert found and 0.58 <= float(found.group(1)) <= 0.61, out  # 60% of each layer, rounded per layer
    assert "trained" in out


def test_the_worked_example_is_left_out_where_the_plan_is_written_and_shown_where_it_is_not(tmp_path):
    from opsgraft.adapters.workflow import Workflow

    script = tmp_path / "train.py"
    script.write_text(STAGES)
    flow = Workflow(spec=get_adapter("pruning:torch"), script=script, source=STAGES)
    assert flow.planned_pruning and not flow.shows_example
    assert "Example of the same change" not in flow.build_prompt(STAGES).messages[-1].content
    assert Workflow(spec=get_adapter("pruning:torch"), script=script, source=STAGES, examples=True).shows_example
    assert Workflow(spec=get_adapter("pruning:torch"), script=script, source=STAGES, exact_calls=False).shows_example
    flat = "import torch\nmodel = torch.nn.Linear(2, 1)\nprint(model(torch.ones(1, 2)))\n"  # no epoch loop
    assert Workflow(spec=get_adapter("pruning:torch"), script=script, source=flat).shows_example
