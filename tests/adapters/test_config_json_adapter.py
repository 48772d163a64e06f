"""The ``config:json`` adapter: registered for --add, recognised once present, and placed by the outline."""

from __future__ import annotations

from pathlib import Path

from opsgraft.adapters.config_params import read_parameters
from opsgraft.adapters.examples import library
from opsgraft.adapters.insertion import insertion_points
from opsgraft.adapters.outline import build, render
from opsgraft.adapters.repair_loop import precheck
from opsgraft.adapters.specs import adapter_for_task, get_adapter, inline_keys
from opsgraft.adapters.workflow import Workflow, guide_text
from opsgraft.evaluation.corpus import load_task, reference_files
from tests.conftest import run_cli

SCRIPT = '''from sklearn.datasets import load_iris
from sklearn.svm import SVC

C = 3.0
GAMMA = 0.01


def main():
    X, y = load_iris(return_X_y=True)
    clf = SVC(C=C, gamma=GAMMA)
    clf.fit(X, y)
    print("accuracy:", clf.score(X, y))


if __name__ == "__main__":
    main()
'''


def test_registered_as_an_inline_adapter_with_its_checker_and_guide() -> None:
    spec = get_adapter("config:json")
    assert "config:json" in inline_keys()
    assert (spec.functionality, spec.component, spec.checker) == ("config", "json", "config-json")
    assert "DEFAULT_CONFIG" in guide_text(spec.guide)
    assert adapter_for_task("config", "json") is spec


def test_add_lists_config_json(tmp_path: Path) -> None:
    code, out, _ = run_cli(["adapt", "--help"])
    assert code == 0 and "config:json" in out


def test_precheck_sees_the_contract_only_when_both_parts_are_there() -> None:
    spec = get_adapter("config:json")
    assert precheck(spec, SCRIPT, "train.py") is None
    example = next(e for e in library() if e.adapter == "config:json")
    assert precheck(spec, example.after, "after.py") == "already-present"
    only_dict = SCRIPT.replace("C = 3.0", 'DEFAULT_CONFIG = {"C": 3.0}\nC = 3.0')
    assert precheck(spec, only_dict, "train.py") is None  # no --config yet: still work to do


def test_outline_names_the_hyperparameters_and_where_the_config_is_read() -> None:
    spec = get_adapter("config:json")
    points = insertion_points(build(SCRIPT, "train.py"), spec, SCRIPT)
    assert points[0] == ("- write DEFAULT_CONFIG with the script's OWN values (not the example's): "
                         '`DEFAULT_CONFIG = {"C": 3.0, "gamma": 0.01}`')
    assert points[1] == ('- read each value from the config where the script had it: line 10 `C` -> config["C"]; '
                         'line 10 `GAMMA` -> config["gamma"]')
    assert points[2].startswith("- delete the constants `C`, `GAMMA`")
    assert points[-1] == "- parse --config and merge it into DEFAULT_CONFIG at the start of main(); keep every print"
    assert "Where the config code goes:" in render(SCRIPT, spec, "train.py")


def test_first_prompt_carries_the_notes_and_the_example(tmp_path: Path) -> None:
    script = tmp_path / "train.py"
    script.write_text(SCRIPT, encoding="utf-8")
    wf = Workflow(spec=get_adapter("config:json"), script=script, source=SCRIPT, mode="docprompt", examples=True)
    text = "\n".join(m.content for m in wf.build_prompt(SCRIPT).messages)
    assert "unknown config key" in text and "DEFAULT_CONFIG" in text
    assert "(`sklearn-diabetes-gbr`, sklearn)" in text  # the nearest worked example, same framework
    # by default the plan replaces the example (adapters/workflow.py, planned_config)
    plain = Workflow(spec=get_adapter("config:json"), script=script, source=SCRIPT, mode="docprompt")
    assert "sklearn-diabetes-gbr" not in "\n".join(m.content for m in plain.build_prompt(SCRIPT).messages)


def test_corpus_references_keep_the_original_values() -> None:
    for task_id in ("config-json-sklearn-wine-forest", "config-json-pytorch-breast-cancer", "config-json-keras-digits"):
        task = load_task(task_id)
        params = read_parameters(reference_files(task)[task.entry])
        original = (Path(task.root) / task.entry).read_text(encoding="utf-8")
        for param in params:  # every default is written in the original somewhere
            assert repr(param.default) in original or str(param.default) in original, (task_id, param)
