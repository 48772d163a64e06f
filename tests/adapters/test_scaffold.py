"""The answer scaffold: the head of a translated file, written by the tool and continued by the model."""

from __future__ import annotations

import ast
from collections.abc import Sequence
from pathlib import Path

from opsgraft.adapters import scaffold
from opsgraft.adapters.specs import get_adapter
from opsgraft.adapters.workflow import Workflow
from opsgraft.llm.scripted import ScriptedBackend
from opsgraft.types import Generation, Message

SCRIPTS = Path(__file__).parent / "callmap_scripts"
GIT = (SCRIPTS / "git_lfs_weights.py").read_text()
WB = (SCRIPTS / "wb_alias_summary.py").read_text()


def code_of(prefill: str) -> str:
    assert prefill.startswith(scaffold.FENCE)
    return prefill[len(scaffold.FENCE):]


def test_dvc_head_keeps_git_and_the_docstring_and_defines_the_cli_helper():
    head = code_of(scaffold.build(GIT, "gitpython->dvc"))
    tree = ast.parse(head)  # the head alone is valid Python: the model continues after it
    # the docstring stays, saying DVC where it said git-lfs (the checker fails sources that still say lfs)
    assert ast.get_docstring(tree) == ast.get_docstring(ast.parse(GIT)).replace("git-lfs", "DVC")
    imports = {ast.unparse(s) for s in tree.body if isinstance(s, ast.Import | ast.ImportFrom)}
    assert {"import git", "import os", "import subprocess", "import sys"} <= imports
    assert not any("dvc" in i for i in imports)  # no invented `from dvc import ...`
    [helper] = [s for s in tree.body if isinstance(s, ast.FunctionDef)]
    assert helper.name == "dvc" and '"-m", "dvc"' in ast.get_source_segment(head, helper)
    # the module constants follow the helper, so the answer goes on at module level, not inside dvc()
    assert "def main" not in head and head.index("def dvc(") < head.index("WEIGHTS =")
    assert head.endswith("\n\n\n")


def test_wandb_head_swaps_the_import_and_adds_nothing_twice():
    head = code_of(scaffold.build(WB, "wandb->mlflow"))
    imports = [ast.unparse(s) for s in ast.parse(head).body if isinstance(s, ast.Import | ast.ImportFrom)]
    assert "import mlflow" in imports and not any("wandb" in i for i in imports)
    already = WB.replace("import wandb as wb\n", "import wandb as wb\nimport mlflow\n")
    again = code_of(scaffold.build(already, "wandb->mlflow"))
    assert again.count("import mlflow") == 1


def test_no_scaffold_without_a_map_or_for_a_broken_script():
    assert scaffold.build(GIT, "nosuch->tool") == ""
    assert scaffold.build("def broken(:\n", "gitpython->dvc") == ""


class NoPrefill(ScriptedBackend):
    supports_prefill = False  # e.g. an OpenAI-compatible server that answers a trailing assistant turn anew


def _flow(tmp_path: Path, on: bool) -> Workflow:
    script = tmp_path / "git_lfs_weights.py"
    script.write_text(GIT)
    return Workflow(spec=get_adapter("gitpython->dvc"), script=script, source=GIT, mode="none", scaffold=on)


def test_the_prefill_is_sent_and_the_answer_is_prefill_plus_continuation(tmp_path: Path):
    flow = _flow(tmp_path, on=True)
    prompt = flow.build_prompt(GIT)
    rest = "\n\ndef main():\n    dvc('init')\n\n\nif __name__ == '__main__':\n    main()\n```\n"
    backend = ScriptedBackend([rest])
    result = flow.execute(backend, n=1, run=False, out_dir=tmp_path / "out")
    sent: Sequence[Message] = backend.calls[0][0]
    assert sent[-1] == Message("assistant", prompt.prefill)
    [attempt] = result.run.attempts
    assert isinstance(attempt.generation, Generation) and attempt.generation.text == prompt.prefill + rest
    code = result.paths["code"].read_text()
    assert "def dvc(*args):" in code and "dvc('init')" in code and code.lstrip().startswith('"""Save weights')


def test_no_prefill_when_off_or_when_the_backend_cannot_continue(tmp_path: Path):
    answer = f"```python\n{GIT}```\n"
    for flow, backend in ((_flow(tmp_path, on=False), ScriptedBackend([answer])),
                          (_flow(tmp_path, on=True), NoPrefill([answer]))):
        flow.execute(backend, n=1, run=False, out_dir=tmp_path / f"out-{flow.scaffold}")
        assert backend.calls[0][0][-1].role == "user"


def test_the_bench_runners_shared_backend_passes_the_prefill_through(tmp_path: Path):
    # The bench wraps the model in a LockedBackend: a wrapper that hides supports_prefill silently turns
    # the scaffold off (the first scaffold measurement replayed the cached answers without it).
    from opsgraft.evaluation.benchmark.runner import LockedBackend

    assert LockedBackend(NoPrefill([])).supports_prefill is False
    inner = ScriptedBackend(["\n\nif __name__ == '__main__':\n    pass\n```\n"])
    flow = _flow(tmp_path, on=True)
    flow.execute(LockedBackend(inner), n=1, run=False, out_dir=tmp_path / "out")
    assert inner.calls[0][0][-1].role == "assistant"
