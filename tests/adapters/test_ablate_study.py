"""The ablation harness with a scripted model: a variant that does not run is repaired, then judged."""

import json
from pathlib import Path

import pytest

from opsgraft.adapters.ablation.annotations import plan_study
from opsgraft.adapters.ablation.study import (
    Study,
    StudyConfig,
    apply_answer,
    error_text,
    focus_line,
    results_entries,
    study_dir,
)
from opsgraft.llm.scripted import ScriptedBackend

NET = '''\
import torch
from torch import nn

torch.manual_seed(0)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(4, 8)
        self.b = nn.Linear(8, 8)  #ABLATABLE_COMPONENT
        self.c = nn.Linear(8, 3)  #ABLATABLE_COMPONENT
        self.head = nn.Linear(3, 2)

    def forward(self, x):
        return self.head(self.c(self.b(self.a(x))))


def main():
    X = torch.randn(32, 4)
    y = (X[:, 0] > 0).long()
    model = Net()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    for _ in range(5):
        opt.zero_grad()
        nn.functional.cross_entropy(model(X), y).backward()
        opt.step()
    print(f"accuracy: {(model(X).argmax(1) == y).float().mean().item():.3f}")


if __name__ == "__main__":
    main()
'''
# The head reads its width from the removed layer: no mechanical rule fixes that, the model must.
NET2 = NET.replace("self.head = nn.Linear(3, 2)", "self.head = nn.Linear(self.c.out_features, 2)")
ONE_LINE = "```python\n        self.head = nn.Linear(8, 2)\n```"


def make_study(tmp_path: Path, backend: ScriptedBackend | None, repair: int = 2, source: str = NET) -> Study:
    files = {"train.py": source}
    plan = plan_study([(tmp_path / "train.py", source)])
    directory, _ = study_dir(tmp_path, "train", "k")
    return Study(files, "train.py", plan, directory, StudyConfig(repair=repair, timeout_s=120), backend=backend)


def test_a_removed_layer_that_changed_the_width_is_fixed_without_the_model(tmp_path: Path) -> None:
    backend = ScriptedBackend([])  # would raise if asked
    study = make_study(tmp_path, backend)
    outcomes = study.run()
    assert outcomes["without_b"]["source"] == "mechanical" and outcomes["without_b"]["status"] == "ok"
    assert outcomes["without_c"]["source"] == "mechanical, widths adjusted", outcomes["without_c"]
    assert backend.calls == []
    entries = results_entries(study.plan, outcomes)
    assert [e["n_params"] for e in entries] == [147, 75, 130]  # sum of numel of what each optimizer trained
    verdict = study.judge(outcomes)
    assert verdict.passed, verdict.reasons
    assert json.loads((study.directory / "ablation_results.json").read_text()) == entries
    assert "self.head = nn.Linear(8, 2)" in (study.directory / "variants" / "without_c" / "without_c.diff").read_text()


def test_a_variant_no_rule_fixes_is_repaired_by_the_models_one_line_answer(tmp_path: Path) -> None:
    backend = ScriptedBackend([f"Change this line:\n{ONE_LINE}\n"])
    study = make_study(tmp_path, backend, source=NET2)
    outcomes = study.run()
    assert outcomes["without_c"]["status"] == "ok" and outcomes["without_c"]["source"] == "model, repair round 1"
    assert len(backend.calls) == 1
    # the model saw the error of its own file, with no sandbox paths or harness frames
    prompt = backend.calls[0][0][1].content
    assert "has no attribute 'out_features'" in prompt and 'File "train.py"' in prompt
    assert "_opsgraft_trial" not in prompt and "/work/" not in prompt
    assert [e["n_params"] for e in results_entries(study.plan, outcomes)] == [147, 75, 130]
    assert study.judge(outcomes).passed
    variant = (study.directory / "variants" / "without_c" / "train.py").read_text()
    assert "        self.head = nn.Linear(8, 2)\n" in variant and "self.c = nn.Identity()" in variant


def test_without_a_model_the_broken_variant_fails_the_checker(tmp_path: Path) -> None:
    study = make_study(tmp_path, None, source=NET2)
    outcomes = study.run()
    assert outcomes["without_c"]["status"] == "failed" and "out_features" in outcomes["without_c"]["reason"]
    verdict = study.judge(outcomes)
    assert not verdict.passed
    assert any("1 ablation trial(s)" in r for r in verdict.reasons)
    assert any(r.startswith("trial without_c:") for r in verdict.reasons)


def test_apply_answer_replaces_lines_by_what_they_assign() -> None:
    variant = "class A:\n    def f(self):\n        self.x = 1\n        y = 2\n        y = 3\n"
    assert apply_answer(variant, "self.x = 5") == variant.replace("self.x = 1", "self.x = 5")
    with pytest.raises(ValueError, match="assigns y, which matches 2 lines"):
        apply_answer(variant, "y = 4")
    with pytest.raises(ValueError, match="matches 0 lines"):
        apply_answer(variant, "self.z = 4")
    whole = "import os\n" + variant
    assert apply_answer(variant, whole) == whole


def test_an_answer_that_repeats_failed_code_is_resampled_then_dropped(tmp_path: Path) -> None:
    study = make_study(tmp_path, None)
    broken = study.files["train.py"].replace("        self.c = nn.Linear(8, 3)  #ABLATABLE_COMPONENT\n",
                                             "        self.c = nn.Identity()  # removed by opsgraft ablate\n")
    backend = ScriptedBackend([f"```python\n{broken}```", f"```python\n{broken}```"])
    study.backend = backend
    trial = next(t for t in study.plan.trials if t.name == "without_c")
    assert study._ask(trial, {"train.py": broken}, "boom", "boom", {broken}) is None
    assert [c[0][1].content == backend.calls[0][0][1].content for c in backend.calls] == [True, True]
    assert study.record["repairs"][-1]["error"] == "the answer repeats code that already failed"


@pytest.mark.parametrize("pid_clash", [True])
def test_judge_keeps_trials_apart_when_runs_reuse_a_process_id(tmp_path: Path, pid_clash: bool) -> None:
    study = make_study(tmp_path, None)
    outcomes = {}
    for trial, n in zip(study.plan.trials, (147, 75, 130), strict=True):
        folder = study.directory / "evidence" / trial.name
        folder.mkdir(parents=True)
        lines = [{"event": "optimizer", "pid": 7, "opt": 0, "n_params": n}, {"event": "exit", "pid": 7, "opt": 0,
                                                                            "steps": 5}]
        (folder / "torch.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
        outcomes[trial.name] = {"name": trial.name, "status": "ok", "n_params": n, "metric": 0.5 + n / 1000}
    assert study.judge(outcomes).passed


def test_error_text_keeps_only_the_users_frames() -> None:
    tb = ('Traceback (most recent call last):\n  File "/r/work/_opsgraft_trial.py", line 9, in <module>\n'
          '    main()\n  File "/r/work/train.py", line 3, in f\n    g()\n'
          '  File "/lib/torch/x.py", line 1, in g\n    h()\nNameError: boom\n')
    assert error_text(tb, "/r/work", {"train.py": ""}) == (
        'Traceback (most recent call last):\n  File "train.py", line 3, in f\n    g()\nNameError: boom')


def test_an_answer_that_puts_the_removed_layer_back_is_refused(tmp_path: Path) -> None:
    study = make_study(tmp_path, None)
    trial = next(t for t in study.plan.trials if t.name == "without_c")
    variant = NET.replace("        self.c = nn.Linear(8, 3)  #ABLATABLE_COMPONENT\n", "        self.c = nn.Identity()\n")
    study.backend = ScriptedBackend([f"```python\n{NET}```"])
    assert study._ask(trial, {"train.py": variant}, "boom", "boom", {variant}) is None
    assert "puts the removed code back: self.c = nn.Linear(8, 3)" in study.record["repairs"][-1]["error"]


def test_focus_line_is_the_definition_of_the_layer_the_failing_line_calls() -> None:
    error = 'Traceback (most recent call last):\n  File "train.py", line 26, in forward\n    return self.head(self.c(x))\nE'
    code = "        self.c = nn.Identity()\n        self.head = nn.Linear(32, 10)\n"
    assert focus_line(error, "train.py", code) == "self.head = nn.Linear(32, 10)"
    assert focus_line(error, "other.py", code) == ""
