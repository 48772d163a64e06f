"""The static check before a repair: every certain error at once, nothing that is not an error."""

from __future__ import annotations

from pathlib import Path

from opsgraft.adapters import preflight, repair_loop
from opsgraft.adapters.specs import get_adapter
from opsgraft.adapters.workflow import Workflow
from opsgraft.types import Candidate, ExecutionResult, Generation, Prompt, SampleResult, Verdict

CLEAN = '''\
import json
import os.path
import numpy as np
import torch.nn as nn
from sklearn.ensemble import RandomForestClassifier


def main(units=8):
    model = nn.Linear(4, units)
    x = np.zeros(3)
    print(json.dumps({"n": int(x.sum())}), os.path.join("a", "b"), RandomForestClassifier)
    return model


if __name__ == "__main__":
    main()
'''


def messages(code: str, **kw: object) -> list[str]:
    return [f.message for f in preflight.check(code, **kw)]  # type: ignore[arg-type]


def test_clean_code_has_no_finding() -> None:
    assert preflight.check(CLEAN) == []


def test_syntax_error_is_the_only_finding() -> None:
    found = preflight.check("import os\ndef f(:\n    pass\nprint(UNDEFINED)\n")
    assert len(found) == 1
    assert found[0].line == 2 and found[0].message.startswith("SyntaxError")


def test_undefined_names_all_at_once_without_the_probe() -> None:
    code = "def main():\n    print(UNITS)\n    print(EPOCHS)\n    return len([1])\n"
    found = preflight.check(code, probe=False)
    assert [(f.line, f.message) for f in found] == [
        (2, "NameError: name 'UNITS' is not defined"), (3, "NameError: name 'EPOCHS' is not defined")]


def test_star_import_makes_names_uncertain() -> None:
    assert preflight.check("from math import *\nprint(pi, UNKNOWN)\n", probe=False) == []


def test_invented_imports_and_module_attributes_are_found_with_close_names() -> None:
    code = (
        "import json\n"
        "import os.path as osp\n"
        "from json import dumps, dumpz\n"
        "import no_such_module_here\n"
        "from os.path import joinx\n"
        "json.loadz('1')\n"
        "osp.join('a')\n"
        "json.decoder.JSONDecodeError\n"
    )
    found = messages(code)
    assert "ImportError: cannot import name 'dumpz' from 'json' (installed names close to it: dump, dumps)" in found
    assert "ModuleNotFoundError: No module named 'no_such_module_here'" in found
    assert any(m.startswith("ImportError: cannot import name 'joinx' from 'os.path'") and "join" in m for m in found)
    assert any(m.startswith("AttributeError: module 'json' has no attribute 'loadz'") for m in found)
    assert len(found) == 4  # dumps, os.path.join, json.decoder.JSONDecodeError exist


def test_rebound_aliases_and_local_modules_are_not_probed() -> None:
    code = "import json\njson = {'a': 1}\nprint(json.nothing)\nimport model\nfrom helpers import build\n"
    assert preflight.check(code, local_modules={"model", "helpers"}) == []
    assert messages("import model\n") == ["ModuleNotFoundError: No module named 'model'"]


def test_attributes_of_classes_are_not_followed() -> None:
    # json.JSONDecoder is a class: its attributes are not checked (instances may have more)
    assert preflight.check("import json\nprint(json.JSONDecoder.whatever)\n") == []


def test_local_module_names() -> None:
    assert preflight.local_module_names(["model.py", "pkg/util.py", "data/x.csv"]) == {"model", "pkg", "data"}


def _failed_attempt(code: str, stderr: str) -> repair_loop.Attempt:
    cand = Candidate("user:train.py", 0, {"train.py": code}, "train.py", origin="round0")
    result = SampleResult(
        task_id="user:train.py", sample_index=0, status="failed",
        execution=ExecutionResult(status="failed", returncode=1, wall_s=0.1, stderr_tail=stderr),
        verdict=Verdict(passed=False, checker="mlflow-tracking", reasons=("no MLflow run was logged",)))
    return repair_loop.Attempt(0, 0, Prompt(messages=()), Generation(text=code), cand, result=result)


def test_repair_prompt_lists_every_static_error_once(tmp_path: Path) -> None:
    source = "import json\n\ndef main():\n    for epoch in range(2):\n        print(epoch)\n\nmain()\n"
    script = tmp_path / "train.py"
    script.write_text(source)
    flow = Workflow(spec=get_adapter("tracking:mlflow"), script=script, source=source)
    code = source.replace("print(epoch)", "print(epoch, UNITS, json.dumpz(epoch))")
    attempt = _failed_attempt(code, "Traceback...\nNameError: name 'UNITS' is not defined\n")
    attempt.static = flow.check_statically(attempt)
    assert attempt.static == ["line 5: NameError: name 'UNITS' is not defined",
                              "line 5: AttributeError: module 'json' has no attribute 'dumpz' "
                              "(installed names close to it: dump, dumps)"]
    prompt = flow.build_repair(attempt, [])
    text = prompt.messages[-1].content
    # the error the run already showed is not repeated; the one it never reached is added
    assert text.count("name 'UNITS' is not defined") == 1
    assert "a static check of the code found, line 5: AttributeError: module 'json' has no attribute 'dumpz'" in text
