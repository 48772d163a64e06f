"""Worked examples (adapters/examples.py): the library, retrieval, and where they show up in prompts."""

from __future__ import annotations

from pathlib import Path

import pytest

from opsgraft.adapters.examples import (
    MAX_SECTION_CHARS,
    NEAR_DUPLICATE,
    Example,
    example_section,
    framework_of,
    library,
    line_ratio,
    nearest_example,
    section_for_task,
)
from opsgraft.adapters.specs import adapter_for_task, get_adapter
from opsgraft.evaluation.corpus import corpus_tasks_dir, input_files, load_task, reference_files, task_dirs
from opsgraft.registry import adapters

SECTION_TITLE = "Example of the same change on another script"
# The shipped corpus: a plugin's tasks need no worked example (its adapter may have none).
TASKS = [p.name for p in task_dirs(corpus_tasks_dir()) if load_task(p.name).kind != "ablation"]
FRAMEWORKS = ("sklearn", "pytorch", "lightning", "keras")

KERAS_SCRIPT = '''import os
os.environ["KERAS_BACKEND"] = "torch"
import keras
import numpy as np

X = np.random.rand(64, 3).astype("float32")
y = X.sum(axis=1)
model = keras.Sequential([keras.Input(shape=(3,)), keras.layers.Dense(1)])
model.compile(optimizer="adam", loss="mse")
model.fit(X, y, epochs=2, verbose=0)
'''


def corpus_texts() -> dict[str, str]:
    """Every corpus task's input and reference .py files, by 'task/kind/name'."""
    out = {}
    for task_id in [p.name for p in task_dirs()]:
        task = load_task(task_id)
        for name, text in input_files(task).items():
            out[f"{task_id}/input/{name}"] = text
        for name, text in reference_files(task).items():
            if name.endswith(".py"):
                out[f"{task_id}/reference/{name}"] = text
    return out


def test_every_adapter_has_examples_and_every_framework_where_the_api_differs():
    by_key: dict[str, set[str]] = {}
    for ex in library():
        by_key.setdefault(ex.adapter, set()).add(ex.framework)
    assert set(by_key) == {k for k in adapters.names() if not adapters.owner(k)}  # the core's adapters
    for key in ("tracking:mlflow", "tracking:wandb", "registration:mlflow", "hpo:optuna"):
        assert by_key[key] >= set(FRAMEWORKS), key
    assert "pytorch" in by_key["pruning:nncf"] and "pytorch" in by_key["pruning:torch"]


@pytest.mark.parametrize("example", library(), ids=lambda e: e.path)
def test_each_example_is_short_consistent_and_fits_a_prompt(example: Example):
    assert framework_of(example.before) == example.framework
    assert len(example.before.splitlines()) <= 45
    assert example.before != example.after
    spec = get_adapter(example.adapter)
    if spec.kind == "inline":
        from opsgraft.adapters.repair_loop import precheck

        assert precheck(spec, example.before, "before.py") is None  # there is something to add
        assert precheck(spec, example.after, "after.py") == "already-present" or not spec.imports
    section = example_section(example)
    assert section and len(section) <= MAX_SECTION_CHARS + 400
    assert SECTION_TITLE in section


def test_no_example_is_a_corpus_task():
    """No before.py or after.py is near-identical to any corpus input or reference (line ratio < 0.6)."""
    corpus = corpus_texts()
    assert len(corpus) > 50
    close = []
    for ex in library():
        for which, text in (("before", ex.before), ("after", ex.after)):
            for where, other in corpus.items():
                ratio = line_ratio(text, other)
                if ratio >= NEAR_DUPLICATE:
                    close.append(f"{ex.path}/{which} ~ {where}: {ratio:.2f}")
    assert not close, close


@pytest.mark.parametrize("task_id", TASKS)
def test_retrieval_on_every_corpus_task_never_returns_its_reference(task_id: str):
    task = load_task(task_id)
    spec = adapter_for_task(task.functionality, task.component, task.source_component)
    source = input_files(task)[task.entry]
    reference = reference_files(task)[task.entry]
    ex = nearest_example(spec, source, framework=task.framework, exclude_texts=[reference])
    assert ex is not None
    assert ex.adapter == spec.key
    frameworks = {e.framework for e in library() if e.adapter == spec.key}
    if task.framework in frameworks:
        assert ex.framework == task.framework
    for text in (ex.before, ex.after):
        assert text != reference and text != source
        assert line_ratio(text, reference) < NEAR_DUPLICATE
    # The workflow's own path excludes the reference by itself, without being told.
    assert f"(`{ex.path.rsplit('/', 1)[1]}`, {ex.framework})" in section_for_task(spec, task, source)


def test_framework_comes_from_the_imports():
    assert framework_of(KERAS_SCRIPT) == "keras"
    assert framework_of("import pytorch_lightning as pl\nimport torch\n") == "lightning"
    assert framework_of("import torch\nfrom sklearn.datasets import make_moons\n") == "pytorch"
    assert framework_of("from sklearn.svm import SVC\n") == "sklearn"
    assert framework_of("import numpy\n") == "none"
    for key in ("tracking:mlflow", "tracking:wandb", "registration:mlflow", "hpo:optuna"):
        ex = nearest_example(get_adapter(key), KERAS_SCRIPT)
        assert ex is not None and ex.adapter == key and ex.framework == "keras"


def test_an_example_equal_to_the_input_or_an_excluded_text_is_never_chosen():
    spec = get_adapter("registration:mlflow")
    chosen = nearest_example(spec, "from sklearn.ensemble import RandomForestClassifier\n")
    assert chosen is not None and chosen.framework == "sklearn"
    # Its own before as the user's script: the same example would be the answer's twin.
    other = nearest_example(spec, chosen.before)
    assert other is not None and other.path != chosen.path
    # Excluding every example of the adapter leaves nothing.
    same = [e for e in library() if e.adapter == spec.key]
    assert nearest_example(spec, chosen.before, exclude_texts=[e.after for e in same]) is None


def test_exclude_paths_reads_the_files(tmp_path: Path):
    spec = get_adapter("pruning:torch")
    [only] = [e for e in library() if e.adapter == spec.key]
    ref = tmp_path / "reference.py"
    ref.write_text(only.after + "\n# a comment\n")
    assert nearest_example(spec, "import torch\n") == only
    assert nearest_example(spec, "import torch\n", exclude_paths=[ref]) is None


def _flow(tmp_path: Path, key: str, name: str, **kw):  # type: ignore[no-untyped-def]
    from opsgraft.adapters.workflow import Workflow

    script = tmp_path / "train.py"
    script.write_text(KERAS_SCRIPT)
    return Workflow(spec=get_adapter(key), script=script, source=KERAS_SCRIPT, **kw)


@pytest.mark.parametrize("key", ["tracking:mlflow", "hpo:optuna", "registration:mlflow"])
def test_the_first_prompt_shows_the_example_only_when_enabled(tmp_path: Path, key: str):
    on = _flow(tmp_path, key, "train.py", examples=True)  # registration's default leaves it out (its plan)
    off = _flow(tmp_path, key, "train.py", examples=False)
    text_on = on.build_prompt(on.source).messages[-1].content
    text_off = off.build_prompt(off.source).messages[-1].content
    ex = nearest_example(get_adapter(key), KERAS_SCRIPT)
    assert ex is not None
    assert SECTION_TITLE in text_on and ex.path.rsplit("/", 1)[1] in text_on
    assert SECTION_TITLE not in text_off
    # The section sits above the user's script, and the script is still all there.
    assert text_on.index(SECTION_TITLE) < text_on.index("```python\nimport os")
    assert KERAS_SCRIPT.rstrip() in text_on
    # Disabled, the prompt is the enabled one less the section, and nothing else changed (cassettes replay).
    assert text_on.replace("\n" + on.example_text(), "", 1) == text_off
    assert on.build_prompt(on.source).messages[0] == off.build_prompt(off.source).messages[0]


def test_the_example_is_dropped_when_the_prompt_would_not_fit(tmp_path: Path, scripted):
    flow = _flow(tmp_path, "tracking:mlflow", "train.py")
    backend = scripted(["```python\npass\n```"])
    with_example = backend.count_tokens(flow.build_prompt(flow.source).messages)
    flow._example = None
    without = _flow(tmp_path, "tracking:mlflow", "train.py", examples=False)
    bare = backend.count_tokens(without.build_prompt(without.source).messages)
    assert with_example > bare
    backend.context_window = bare + 100 + (with_example - bare) // 2  # fits the bare prompt only
    flow.fit_docs(backend, max_tokens=100)
    assert flow.example_text() == ""
    assert SECTION_TITLE not in flow.build_prompt(flow.source).messages[-1].content
    roomy = _flow(tmp_path, "tracking:mlflow", "train.py")
    backend.context_window = with_example + 200
    roomy.fit_docs(backend, max_tokens=100)
    assert SECTION_TITLE in roomy.build_prompt(roomy.source).messages[-1].content


@pytest.mark.parametrize("flag", ["--examples", "--no-examples"])
def test_the_cli_flag_decides_whether_the_model_sees_the_example(tmp_path: Path, flag: str):
    """The record holds the prompt the model got: with the section for --examples (the default), without it for --no-examples."""
    import json

    from tests.conftest import cassette_for_flow, run_cli

    flow = _flow(tmp_path, "tracking:mlflow", "train.py", examples=flag == "--examples")
    cassette = cassette_for_flow(tmp_path / "c.jsonl", flow, [f"```python\n{KERAS_SCRIPT}```"])
    args = ["adapt", str(flow.script), "--add", "tracking:mlflow", "--backend", "replay", "--cassette", str(cassette)]
    code, out, err = run_cli([*args, flag])
    assert code == 0, err
    record = json.loads((tmp_path / "train_tracking_mlflow.opsgraft.json").read_text())
    prompt = record["attempts"][0]["prompt"]["messages"][-1]["content"]
    assert (SECTION_TITLE in prompt) == (flag == "--examples")
    if flag == "--examples":  # the default: without the flag the same prompt is sent (a strict replay hit)
        (tmp_path / "out").mkdir()
        code, _, err = run_cli([*args, "--out-dir", str(tmp_path / "out")])
        assert code == 0, err
