"""The repair loop with the real sandbox and checker: a failing answer, then a passing one."""

from pathlib import Path

from opsgraft.adapters.specs import get_adapter
from opsgraft.adapters.workflow import Workflow
from opsgraft.llm.scripted import ScriptedBackend
from tests.adapters.test_adapt_cli import ADAPTED

# Logs the params but no metric: the program runs, the checker must say what is missing.
NO_METRICS = ADAPTED.replace('            mlflow.log_metric("r2", float(r2), step=epoch)\n', "")


def test_repair_turns_a_failing_answer_into_a_pass(sklearn_script: Path, tmp_path: Path):
    backend = ScriptedBackend([f"```python\n{NO_METRICS}```", f"```python\n{ADAPTED}```"])
    flow = Workflow(spec=get_adapter("tracking:mlflow"), script=sklearn_script, source=sklearn_script.read_text(),
                    timeout_s=120)
    result = flow.execute(backend, n=1, run=True, repair=2, out_dir=tmp_path / "out")
    attempts = result.run.attempts
    assert [a.result.status for a in attempts] == ["failed", "passed"]
    assert result.run.status == "passed" and result.run.to_record()["status"] == "passed"
    reasons = attempts[0].result.verdict.reasons
    assert reasons and any("metric" in r for r in reasons)
    repair_prompt = backend.calls[1][0][-1].content
    for reason in reasons:
        assert reason in repair_prompt
    assert "round 0: failed" in repair_prompt
    assert NO_METRICS.strip().splitlines()[-1] in repair_prompt
    # The loop stops at the first pass: two calls, although two repairs were allowed.
    assert len(backend.calls) == 2
    assert result.paths["code"].read_text() == ADAPTED


def test_run_reports_a_pass_for_a_correct_answer(sklearn_script: Path, tmp_path: Path):
    backend = ScriptedBackend([f"```python\n{ADAPTED}```"])
    flow = Workflow(spec=get_adapter("tracking:mlflow"), script=sklearn_script, source=sklearn_script.read_text(),
                    timeout_s=120)
    result = flow.execute(backend, run=True, out_dir=tmp_path / "out")
    best = result.run.best()
    assert best is not None and best.passed
    assert best.result.verdict.evidence


def test_unadapted_script_fails_the_check(sklearn_script: Path, tmp_path: Path):
    backend = ScriptedBackend([f"```python\n{sklearn_script.read_text()}```"])
    flow = Workflow(spec=get_adapter("tracking:mlflow"), script=sklearn_script, source=sklearn_script.read_text(),
                    timeout_s=120)
    result = flow.execute(backend, run=True, out_dir=tmp_path / "out")
    assert result.run.attempts[0].result.status == "failed"
    assert result.run.status == "failed" and result.run.to_record()["status"] == "failed"


def test_repeated_repair_answer_is_resampled_before_it_is_run(sklearn_script: Path, tmp_path: Path):
    backend = ScriptedBackend([f"```python\n{NO_METRICS}```", f"```python\n{NO_METRICS}```", f"```python\n{ADAPTED}```"])
    flow = Workflow(spec=get_adapter("tracking:mlflow"), script=sklearn_script, source=sklearn_script.read_text(),
                    timeout_s=120)
    result = flow.execute(backend, n=1, run=True, repair=1, out_dir=tmp_path / "out")
    attempts = result.run.attempts
    # Three answers, two sandbox runs: the repeat was never run.
    assert len(backend.calls) == 3 and [a.result.status for a in attempts] == ["failed", "passed"]
    assert "resampled at temperature 0.8" in attempts[1].notes
    assert backend.calls[2][0] == backend.calls[1][0]  # the same repair prompt, sampled again
    # The repair prompt points at the fix for the reason the checker gave.
    assert "Likely fix:\n- Log the metrics with `mlflow.log_metric" in backend.calls[1][0][-1].content


def test_a_repair_that_repeats_itself_twice_restarts_from_the_original(sklearn_script: Path, tmp_path: Path):
    """Seen in the bench (rag, hpo:optuna): the repair answer and its hot resample were the failing code again."""
    backend = ScriptedBackend([f"```python\n{NO_METRICS}```"] * 3 + [f"```python\n{ADAPTED}```"])
    source = sklearn_script.read_text()
    flow = Workflow(spec=get_adapter("tracking:mlflow"), script=sklearn_script, source=source, timeout_s=120)
    result = flow.execute(backend, n=1, run=True, repair=1, out_dir=tmp_path / "out")
    attempts = result.run.attempts
    # Four answers, two sandbox runs: neither repeat was run.
    assert len(backend.calls) == 4 and [a.result.status for a in attempts] == ["failed", "passed"]
    assert "restarted from the original script" in attempts[1].notes
    first, restart = backend.calls[0][0][-1].content, backend.calls[3][0][-1].content
    # The restart is the first prompt (with the original script, not the failing code) plus what went wrong.
    assert restart.startswith(first.rstrip("\n"))
    tail = restart[len(first.rstrip("\n")):]
    assert "Start again from the original `" in tail
    assert "round 0: failed:" in tail and "round 1: the answer repeated an earlier round's code" in tail
    assert "- Log the metrics with `mlflow.log_metric" in tail
    assert attempts[1].prompt.template == "restart_user.md"


def test_repair_hints_match_the_recorded_real_failures():
    from opsgraft.adapters.hints import repair_hints

    store = "mlflow.exceptions.MlflowException: The filesystem tracking backend (e.g., './mlruns') is in maintenance mode"
    assert "Delete every `mlflow.set_tracking_uri(...)` call" in repair_hints([f"the program exited with code 1: {store}"], "")[0]
    # Recorded in bench/adapt_modes.py: wandb.log inside the loop's every-10-epochs print block.
    [hint] = repair_hints(["the W&B run logged 7 history row(s), expected at least 10: call wandb.log({...}) "
                           "every epoch"], "")
    assert hint.startswith("The run has 7 history rows, at least 10 are needed") and "not inside an `if`" in hint
    [hint] = repair_hints([], "Traceback ...\nNameError: name 'np' is not defined")
    assert hint.startswith("`np` is used but never defined")
    assert repair_hints(["something nobody anticipated"], "") == []


def test_repair_hints_for_an_object_without_the_attribute():
    from opsgraft.adapters.hints import repair_hints

    stderr = "AttributeError: 'MlflowModelCheckpointCallback' object has no attribute 'run'\n"
    [hint] = repair_hints([], stderr)
    assert hint.startswith("`MlflowModelCheckpointCallback` objects have no `run`: remove that call")


def test_repair_hint_for_the_top_level_log_model_the_model_invents():
    from opsgraft.adapters.hints import repair_hints

    hints = repair_hints(["the program exited with code 1: AttributeError: module 'mlflow' has no attribute 'log_model'"], "")
    assert hints[0].startswith("MLflow has no top-level `mlflow.log_model`: use the flavor's function, "
                               "e.g. `mlflow.sklearn.log_model(...)`")


def test_repair_hints_for_imports_the_model_invents():
    """Seen in the bench (rag, pruning:torch): all 9 rounds failed on these imports, repeated unchanged."""
    from opsgraft.adapters.hints import repair_hints

    [hint] = repair_hints(["the program exited with code 1: ImportError: cannot import name 'prune_l1_unstructured' "
                           "from 'torch.nn.utils.prune' (site-packages/torch/nn/utils/prune.py)"], "")
    assert hint.startswith("`torch.nn.utils.prune` has no `prune_l1_unstructured` in the installed version: "
                           "delete that import")
    [hint] = repair_hints([], "  File \"train.py\", line 7\nModuleNotFoundError: No module named 'mlops'\n")
    assert hint.startswith("There is no module `mlops` here and nothing can be installed: delete that import")


HPO_INPUT = '''import numpy as np
from sklearn.svm import SVC

SEED = 0


def main() -> None:
    X_train, y_train = np.ones((4, 2)), [0, 1, 0, 1]
    for epoch in range(2):
        SVC(random_state=SEED).fit(X_train, y_train)


if __name__ == "__main__":
    main()
'''


def test_a_name_local_to_a_function_of_the_original_gets_a_scope_hint():
    """Seen in the bench (rag, hpo:optuna): a module-level objective used main()'s X_train in 9 of 9 rounds."""
    from opsgraft.adapters.hints import local_to, repair_hints

    assert local_to("X_train", HPO_INPUT) == local_to("epoch", HPO_INPUT) == "main"
    assert local_to("SEED", HPO_INPUT) == ""  # a module-level name is visible everywhere
    assert local_to("main", HPO_INPUT) == ""
    assert local_to("X_train", "def broken(:\n") == ""
    reason = "the program exited with code 1: NameError: name 'X_train' is not defined"
    [hint] = repair_hints([reason], "", original=HPO_INPUT)
    assert hint.startswith("`X_train` is a local variable of `main()` in the original script")
    assert "import" not in hint  # the generic hint ("add its import") would contradict it
    # Without the original, or for a name the original does not keep in a function: the generic hint.
    [hint] = repair_hints([reason], "")
    assert hint.startswith("`X_train` is used but never defined or imported")
    [hint] = repair_hints(["NameError: name 'SEED' is not defined"], "", original=HPO_INPUT)
    assert hint.startswith("`SEED` is used but never defined or imported")


def test_a_name_several_functions_bind_is_placed_in_the_one_the_entry_point_calls():
    """Held-out bench (hpo keras-wine): load() makes X_tr and main() unpacks it; the hint named load()."""
    from opsgraft.adapters.hints import local_to, repair_hints

    original = ("def load():\n    X_tr = [1]\n    return X_tr\n\n\ndef main():\n    X_tr = load()\n    print(X_tr)\n"
                "\n\ndef report():\n    X_tr = 2\n    return X_tr\n\n\nif __name__ == '__main__':\n    main()\n")
    assert local_to("X_tr", original) == "main"
    [hint] = repair_hints(["NameError: name 'X_tr' is not defined"], "", original=original)
    assert hint.startswith("`X_tr` is a local variable of `main()`")
    # Without an entry point that calls one of them: the last one defined.
    assert local_to("X_tr", original.split("if __name__")[0]) == "report"


def test_a_name_only_the_worked_example_has_gets_the_originals_own_names():
    """Held-out bench, round 0: all 3 samples of a Keras task logged the example's `UNITS`; the original says HIDDEN."""
    from opsgraft.adapters.hints import foreign_name_hint, repair_hints

    original = ("SEED = 0\nHIDDEN = 64\nLR = 2e-3\nEPOCHS: int = 8\nNAME = 'mlp'\n\n\n"
                "def main(lr=LR):\n    optimizer = make(lr)\n    print(optimizer, len(range(EPOCHS)))\n")
    [hint] = repair_hints(["line 9: NameError: name 'UNITS' is not defined",
                           "line 12: NameError: name 'opt' is not defined"], "", original=original)
    assert hint.startswith("`UNITS`, `opt` are not names of the original script")
    assert "module-level settings are `SEED`, `HIDDEN`, `LR`, `EPOCHS`, `NAME`;" in hint
    assert "close names in it: `optimizer`." in hint  # `opt` starts the original's `optimizer`
    assert "import" not in hint  # the generic hint ("add its import") would contradict it
    [hint] = repair_hints(["NameError: name 'Lr' is not defined"], "", original=original)
    assert hint.endswith("close names in it: `LR`, `lr`.")
    # A name the original has (here a module-level setting) or a builtin is not foreign: the generic hint.
    assert foreign_name_hint("NameError: name 'HIDDEN' is not defined", original) == ""
    assert foreign_name_hint("NameError: name 'print' is not defined", original) == ""
    assert foreign_name_hint("NameError: name 'UNITS' is not defined", "") == ""
    assert foreign_name_hint("NameError: name 'UNITS' is not defined", "def broken(:\n") == ""
    [hint] = repair_hints(["NameError: name 'HIDDEN' is not defined"], "", original=original)
    assert hint.startswith("`HIDDEN` is used but never defined or imported")


def test_the_repair_prompt_carries_the_scope_hint(tmp_path: Path):
    from opsgraft.adapters.prompting import repair_prompt

    spec = get_adapter("hpo:optuna")
    prompt = repair_prompt(spec, "train.py", "import optuna\n", ["NameError: name 'X_train' is not defined"], "", [],
                           original=HPO_INPUT)
    assert "`X_train` is a local variable of `main()`" in prompt.messages[-1].content


def test_repair_hints_for_the_recorded_pruning_nncf_and_dvc_failures():
    """Each failure below was recorded in bench/adapt_modes.py rows and got no hint or a misleading one."""
    from opsgraft.adapters.hints import module_hint, repair_hints

    # `nncf.prune` is the function the task needs: the generic "delete every use of it" pointed away from it.
    [hint] = repair_hints(["the program exited with code 1: ModuleNotFoundError: No module named 'nncf.prune'"], "")
    assert hint.startswith("`nncf.prune` is not a module. If it is a function or class of `nncf`")
    assert "write `import nncf` and call `nncf.prune(...)`" in hint and "every use" not in hint
    # A package that is not installed keeps the generic hint.
    assert module_hint("ModuleNotFoundError: No module named 'mlopsx.tracking'") == ""
    [hint] = repair_hints([], "ModuleNotFoundError: No module named 'mlopsx.tracking'")
    assert hint.startswith("There is no module `mlopsx.tracking` here")
    # Python's own suggestion, for an attribute (an enum member) and for a name.
    [hint] = repair_hints(["the program exited with code 1: AttributeError: UNSTRUCTURED_MAGNITUDE. "
                           "Did you mean: 'UNSTRUCTURED_MAGNITUDE_LOCAL'?"], "")
    assert hint.startswith("Python itself suggests `UNSTRUCTURED_MAGNITUDE_LOCAL` where the code wrote "
                           "`UNSTRUCTURED_MAGNITUDE`")
    hints = repair_hints([], "NameError: name 'X_trian' is not defined. Did you mean: 'X_train'?")
    assert hints[0].startswith("Python itself suggests `X_train` where the code wrote `X_trian`")
    hints = repair_hints([], "AttributeError: module 'nncf' has no attribute 'prun'. Did you mean: 'prune'?")
    assert hints[0].startswith("Python itself suggests `prune` where the code wrote `prun`")
    # A required argument the error names.
    [hint] = repair_hints(["the program exited with code 1: nncf.errors.InternalError: `sparsity` function "
                           "requires `examples_inputs` argument to be specified for Torch backend"], "")
    assert hint.startswith("The call needs its `examples_inputs` argument: pass `examples_inputs=...`")
    # The DVC checker's reason and the sandbox's git-lfs refusal.
    [hint] = repair_hints(["data/measurements.csv.dvc is not committed to git"], "")
    assert hint.startswith("`data/measurements.csv.dvc` was written but not committed: after `dvc add`")
    [hint] = repair_hints(["the program exited with code 1: stderr: 'git-lfs: not available in the opsgraft "
                           "sandbox (git-lfs is not installed; version data with DVC instead)'"], "")
    assert hint.startswith("Remove every git-lfs step")
    # A timeout (the reason the workflow puts first).
    [hint] = repair_hints(["the program did not finish within 120s"], "")
    assert hint.startswith("The program ran past its time limit")


def test_repair_hint_for_a_model_registered_under_the_docs_example_name():
    """Seen in the bench (rag, registration:mlflow): the model took 'model-with-libs' from a docs example."""
    from opsgraft.adapters.hints import repair_hints

    hints = repair_hints(["no version of a model named 'iris-classifier' is registered (found: model-with-libs)"], "")
    assert hints[0].startswith("A model was registered, but as `model-with-libs`: register it under the name the "
                               "task asks for, `registered_model_name=\"iris-classifier\"`")
