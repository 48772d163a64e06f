"""Loading and validating corpus tasks."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from opsgraft.errors import ConfigError, UnknownComponentError
from opsgraft.evaluation import corpus
from opsgraft.evaluation.corpus import (
    corpus_tasks_dir,
    input_files,
    load_corpus,
    load_task,
    load_task_dir,
    mutant_files,
    reference_files,
)


def plugin_roots() -> tuple[str, ...]:
    """The task roots installed plugins add (their tasks are not the shipped corpus')."""
    from opsgraft.registry import task_roots

    return tuple(str(Path(task_roots.get(n)).resolve()) for n in task_roots.names())


def test_corpus_dir_is_the_package_data_folder() -> None:
    import opsgraft.corpus

    assert corpus_tasks_dir() == Path(opsgraft.corpus.__file__).parent / "tasks"


def test_load_task_and_its_files(make_task: Callable[..., Path], tasks_dir: Path) -> None:
    folder = make_task("demo-task", inputs={"train.py": "print(1)\n", "data/x.csv": "a\n"},
                       reference={"train.py": "print(2)\n"},
                       mutants={"m1": {"train.py": "print(3)\n"}, "m0": {"train.py": "print(4)\n", "extra.py": ""}})
    task = load_task("demo-task", tasks_dir)
    assert task.id == "demo-task" and task.kind == "inline" and task.root == str(folder.resolve())
    assert task.files == ("data/x.csv", "train.py")
    assert task.checker_args == {"path": "out.txt", "content": "ok"}
    assert task.timeout_s == 30.0
    assert input_files(task) == {"data/x.csv": "a\n", "train.py": "print(1)\n"}
    assert reference_files(task) == {"train.py": "print(2)\n"}
    assert list(mutant_files(task)) == ["m0", "m1"]
    assert mutant_files(task)["m0"] == {"extra.py": "", "train.py": "print(4)\n"}
    assert load_task_dir(folder) == task


def test_load_corpus_sorted_and_unknown_id_suggests(make_task: Callable[..., Path], tasks_dir: Path) -> None:
    make_task("tracking-b")
    make_task("tracking-a")
    (tasks_dir / "not-a-task").mkdir()
    assert [t.id for t in load_corpus(tasks_dir)] == ["tracking-a", "tracking-b"]
    with pytest.raises(UnknownComponentError, match="Did you mean 'tracking-a'"):
        load_task("traking-a", tasks_dir)
    with pytest.raises(UnknownComponentError):
        load_task("../tasks", tasks_dir)


def test_the_default_corpus_dir_is_looked_up_at_call_time(
    make_task: Callable[..., Path], tasks_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_task("only-task")
    monkeypatch.setattr(corpus, "corpus_tasks_dir", lambda: tasks_dir)
    assert [t.id for t in load_corpus() if not t.root.startswith(plugin_roots())] == ["only-task"]
    assert load_task("only-task").id == "only-task"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"kind": "rewrite"}, "kind"),
        ({"colour": "red"}, "colour"),
        ({"id": "other-id"}, "id"),
        ({"entry": "main.py"}, "entry"),
        ({"files": ["train.py", "missing.py"]}, "files"),
        ({"files": ["../train.py"]}, "files"),
        ({"kind": "translate"}, "source_component"),
        ({"timeout_s": 0}, "timeout_s"),
        ({"framework": "jax"}, "framework"),
        ({"checker_args": [1, 2]}, "checker_args"),
    ],
)
def test_bad_specs_name_the_file_and_field(
    make_task: Callable[..., Path], tasks_dir: Path, change: dict, field: str
) -> None:
    folder = make_task("bad-task")
    spec = yaml.safe_load((folder / "task.yaml").read_text())
    spec.update(change)
    (folder / "task.yaml").write_text(yaml.safe_dump(spec))
    with pytest.raises(ConfigError) as info:
        load_task_dir(folder)
    message = str(info.value)
    assert str(folder / "task.yaml") in message
    assert any(f"field {f}" in message for f in field.split("|")), message


def test_unreadable_specs(tasks_dir: Path) -> None:
    folder = tasks_dir / "broken"
    folder.mkdir()
    (folder / "task.yaml").write_text("id: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_task_dir(folder)
    (folder / "task.yaml").write_text("- a list\n")
    with pytest.raises(ConfigError, match="expected a mapping"):
        load_task_dir(folder)
    with pytest.raises(ConfigError, match="cannot read"):
        load_task_dir(tasks_dir / "absent")


def test_binary_corpus_file_is_a_config_error(make_task: Callable[..., Path], tasks_dir: Path) -> None:
    folder = make_task("bin-task")
    (folder / "reference" / "blob.bin").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ConfigError, match="not UTF-8"):
        reference_files(load_task_dir(folder))


def test_real_corpus_tasks_all_load() -> None:
    """Whatever tasks the corpus holds today, each spec is valid."""
    for task in load_corpus():
        assert Path(task.root).name == task.id
        assert input_files(task)


# The tasks the 8-task adapt bench tuned prompts and hints on (sessions before the split froze):
# they must sit in the tuning half, or the held-out figures would be tuned-on figures.
TUNED_ON = (
    "tracking-mlflow-sklearn-diabetes", "tracking-wandb-pytorch-gcn", "registration-mlflow-sklearn-iris",
    "hpo-optuna-sklearn-svc", "pruning-nncf-digits-mlp", "pruning-torch-digits-mlp",
    "translate-gitpython-dvc-lfs-dataset", "translate-wandb-mlflow-mlp",
)


def test_every_shipped_task_is_in_a_frozen_split_stratified_by_functionality() -> None:
    tasks = load_corpus()
    assert {t.split for t in tasks} == {"tune", "heldout"}
    assert all(t.split for t in tasks), [t.id for t in tasks if not t.split]
    by_id = {t.id: t for t in tasks}
    assert all(by_id[i].split == "tune" for i in TUNED_ON)
    for functionality in sorted({t.functionality for t in tasks}):
        halves = [t.split for t in tasks if t.functionality == functionality]
        assert abs(halves.count("tune") - halves.count("heldout")) <= 1, (functionality, halves)


def test_an_unknown_split_is_a_config_error(make_task: Callable[..., Path], tasks_dir: Path) -> None:
    folder = make_task("split-task", inputs={"train.py": "print(1)\n"})
    spec = yaml.safe_load((folder / "task.yaml").read_text())
    (folder / "task.yaml").write_text(yaml.safe_dump({**spec, "split": "test"}))
    with pytest.raises(ConfigError, match="split"):
        load_task("split-task", tasks_dir)
