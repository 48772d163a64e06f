"""Fixtures of the evaluation tests: tmp tasks, a tiny file checker, an importable checker module."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from opsgraft.registry import checkers
from tests.conftest import run_cli

CHECKER_NAME = "test-file-content"

# A checker module the spawned workers (and Ray workers) can import by path: tmp checkers
# registered in the test process do not exist in other processes.
CHECKER_MODULE = '''
from pathlib import Path
from opsgraft.evaluation.checkers.base import verdict

def check(ctx, path="out.txt", content="ok"):
    target = Path(ctx.workdir) / path
    if not target.is_file():
        return verdict("file-content", [f"{path} was not written"])
    got = target.read_text()
    return verdict("file-content", [] if got == content else [f"{path} holds {got!r}, not {content!r}"],
                   {"content": got})

def explode(ctx, **kwargs):
    raise RuntimeError("checker bug")
'''

# Input: trains nothing, writes the wrong output. Reference: writes "ok". Mutants: wrong content, crash.
INPUT = 'print("training")\nopen("out.txt", "w").write("nope")\n'
REFERENCE = 'print("training")\nopen("out.txt", "w").write("ok")\n'
MUTANTS = {
    "wrong-content": 'open("out.txt", "w").write("okay")\n',
    "crashes": 'raise SystemExit(3)\n',
}


def file_checker(ctx: Any, path: str = "out.txt", content: str = "ok") -> Any:
    """The in-process twin of CHECKER_MODULE.check."""
    from opsgraft.evaluation.checkers.base import verdict

    target = Path(ctx.workdir) / path
    if not target.is_file():
        return verdict(CHECKER_NAME, [f"{path} was not written"])
    got = target.read_text()
    return verdict(CHECKER_NAME, [] if got == content else [f"{path} holds {got!r}, not {content!r}"])


@pytest.fixture
def file_checker_registered() -> Iterator[str]:
    """Registers ``test-file-content`` in this process for the test's duration."""
    import opsgraft.evaluation.checkers  # noqa: F401  (load the real ones first, as judge() does)

    checkers.register(CHECKER_NAME)(file_checker)
    yield CHECKER_NAME
    checkers._items.pop(CHECKER_NAME, None)


@pytest.fixture
def checker_module(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> str:
    """An importable module ``evaltest_checkers`` (on sys.path and PYTHONPATH); returns its name."""
    folder = tmp_path_factory.mktemp("checkermod")
    (folder / "evaltest_checkers.py").write_text(CHECKER_MODULE)
    monkeypatch.syspath_prepend(str(folder))
    monkeypatch.setenv("PYTHONPATH", str(folder))
    yield "evaltest_checkers"
    sys.modules.pop("evaltest_checkers", None)


def write_task(
    tasks_dir: Path,
    task_id: str,
    *,
    inputs: dict[str, str] | None = None,
    reference: dict[str, str] | None = None,
    mutants: dict[str, dict[str, str]] | None = None,
    **spec: Any,
) -> Path:
    """A task folder in the corpus layout; ``spec`` overrides task.yaml fields."""
    folder = tasks_dir / task_id
    inputs = inputs if inputs is not None else {"train.py": INPUT}
    reference = reference if reference is not None else {"train.py": REFERENCE}
    mutants = mutants if mutants is not None else {name: {"train.py": src} for name, src in MUTANTS.items()}
    data: dict[str, Any] = {
        "id": task_id,
        "kind": "inline",
        "functionality": "tracking",
        "component": "mlflow",
        "source_component": "",
        "framework": "sklearn",
        "instruction": "Write ok into out.txt.",
        "entry": "train.py",
        "files": sorted(inputs),
        "setup": "none",
        "timeout_s": 30,
        "checker": CHECKER_NAME,
        "checker_args": {"path": "out.txt", "content": "ok"},
    }
    data.update(spec)
    for base, files in [(folder, inputs), (folder / "reference", reference)] + [
        (folder / "mutants" / name, files) for name, files in mutants.items()
    ]:
        for name, content in files.items():
            (base / name).parent.mkdir(parents=True, exist_ok=True)
            (base / name).write_text(textwrap.dedent(content))
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "task.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    return folder


@pytest.fixture
def tasks_dir(tmp_path: Path) -> Path:
    """An empty tmp corpus ``tasks`` folder."""
    folder = tmp_path / "tasks"
    folder.mkdir()
    return folder


@pytest.fixture
def make_task(tasks_dir: Path) -> Callable[..., Path]:
    """write_task bound to the tmp corpus."""

    def make(task_id: str = "demo-task", **kwargs: Any) -> Path:
        return write_task(tasks_dir, task_id, **kwargs)

    return make


@pytest.fixture
def cli() -> Callable[[list[str]], tuple[int, str, str]]:
    """The in-process CLI runner."""
    return run_cli
