"""Search/replace edit blocks (issue 16, technique 3): parsing, matching, prompts, and the pipeline path."""

import json
from pathlib import Path

import pytest

from opsgraft.adapters import prompting
from opsgraft.adapters.editformat import EditError, after_imports, apply_answer, apply_blocks, parse_blocks
from opsgraft.adapters.specs import get_adapter
from opsgraft.adapters.workflow import Workflow
from opsgraft.errors import ConfigError
from opsgraft.llm.scripted import ScriptedBackend
from tests.adapters.test_adapt_cli import ADAPTED
from tests.adapters.test_repair_loop import NO_METRICS
from tests.conftest import SKLEARN_SCRIPT, cassette_for_flow, run_cli

SOURCE = '''\
"""A toy script."""
import os
import sys

LR = 0.1


def train(model):
    for epoch in range(3):
        loss = model.step(LR)
        print(epoch, loss)


def evaluate(model):
    for epoch in range(3):
        loss = model.step(LR)
        print(epoch, loss)
    return loss


if __name__ == "__main__":
    train(object())
'''


def block(search: str, replace: str) -> str:
    return f"<<<<<<< SEARCH\n{search}=======\n{replace}>>>>>>> REPLACE\n"


def test_parses_several_blocks_inside_a_fence_and_around_prose():
    answer = ("Here are the edits:\n```python\n" + block("import os\n", "import os\nimport mlflow\n")
              + block("LR = 0.1\n", "LR = 0.2\n") + "```\nAnd one more:\n" + block("", "X = 1\n"))
    blocks = parse_blocks(answer)
    assert [(b.number, b.search, b.replace) for b in blocks] == [
        (1, ("import os",), ("import os", "import mlflow")),
        (2, ("LR = 0.1",), ("LR = 0.2",)),
        (3, (), ("X = 1",)),
    ]


def test_a_cut_off_block_is_an_error_naming_it():
    with pytest.raises(EditError, match="block 2 is not finished"):
        parse_blocks(block("LR = 0.1\n", "LR = 0.2\n") + "<<<<<<< SEARCH\nLR = 0.2\n=======\nLR = 0.3\n")


def test_exact_match_replaces_the_lines_and_needs_no_note():
    code, notes = apply_answer(SOURCE, block("LR = 0.1\n", "LR = 0.2\nMOMENTUM = 0.9\n"))
    assert code == SOURCE.replace("LR = 0.1\n", "LR = 0.2\nMOMENTUM = 0.9\n")
    assert notes == ["applied 1 search/replace block(s)"]


def test_trailing_spaces_and_dropped_blank_lines_still_match():
    search = "def train(model):   \n    for epoch in range(3):\n        loss = model.step(LR)\n        print(epoch, loss)\n\n\n\ndef evaluate(model):\n"
    code, notes = apply_answer(SOURCE, block(search.replace("\n\n\n\n", "\n"),
                                             "def train(model):\n    pass\n\n\ndef evaluate(model):\n"))
    assert "def train(model):\n    pass\n\n\ndef evaluate(model):\n    for epoch" in code
    assert "ignoring whitespace" in notes[1]


def test_a_search_copied_without_its_indentation_is_reindented_to_where_it_matched():
    # The model drops all indentation; each line must land at its own depth in the script (the
    # `return` stays outside the loop), and the new lines follow the line above them.
    search = "loss = model.step(LR)\nprint(epoch, loss)\nreturn loss\n"
    replace = "loss = model.step(LR)\nprint(epoch, loss)\nif loss:\n    print('ok')\nreturn loss\n"
    code, notes = apply_answer(SOURCE, block(search, replace))
    assert ("        loss = model.step(LR)\n        print(epoch, loss)\n        if loss:\n            print('ok')\n"
            "    return loss\n") in code
    assert "ignoring whitespace" in notes[1]


def test_reindenting_keeps_a_loop_the_answer_wraps_one_level_deeper():
    search = "for epoch in range(3):\n    loss = model.step(LR)\n    print(epoch, loss)\nreturn loss\n"
    replace = "with timer():\n    for epoch in range(3):\n        loss = model.step(LR)\n        print(epoch, loss)\nreturn loss\n"
    code, _ = apply_answer(SOURCE, block(search, replace))
    assert ("def evaluate(model):\n    with timer():\n        for epoch in range(3):\n            loss = model.step(LR)\n"
            "            print(epoch, loss)\n    return loss\n") in code


def test_a_replacement_indented_deeper_than_the_script_is_shifted_back():
    search = "        LR = 0.1\n"
    code, _ = apply_answer(SOURCE, block(search, "        LR = 0.2\n        WD = 0.0\n"))
    assert "\nLR = 0.2\nWD = 0.0\n" in code


def test_a_slightly_mistyped_search_matches_fuzzily_once():
    search = "def evaluate(model):\n    for epoch in range(3):\n        loss = model.step(lr)\n        print(epoch,loss)\n    return loss\n"
    code, notes = apply_answer(SOURCE, block(search, "def evaluate(model):\n    return 0.0\n"))
    assert "def evaluate(model):\n    return 0.0\n" in code
    assert "def train(model):\n    for epoch in range(3):" in code  # the similar train() stays
    assert "fuzzy match" in notes[1]


def test_an_ambiguous_search_is_an_error_naming_the_block_and_lines():
    answer = block("LR = 0.1\n", "LR = 0.2\n") + block("        loss = model.step(LR)\n        print(epoch, loss)\n", "pass\n")
    with pytest.raises(EditError, match=r"block 2: its SEARCH lines match 2 places \(lines 10, 16\)"):
        apply_answer(SOURCE, answer)


def test_a_search_that_is_nowhere_is_an_error_naming_the_block():
    answer = block("LR = 0.1\n", "LR = 0.2\n") + block("optimizer.zero_grad()\n", "pass\n")
    with pytest.raises(EditError, match=r"block 2: its SEARCH lines are not in the script \(first line: 'optimizer"):
        apply_answer(SOURCE, answer)


def test_an_empty_search_inserts_after_the_imports():
    code, notes = apply_answer(SOURCE, block("", "import mlflow\n"))
    assert code.startswith('"""A toy script."""\nimport os\nimport sys\nimport mlflow\n\nLR = 0.1\n')
    assert "inserted after the imports (line 4)" in notes[1]
    assert after_imports('"""Doc."""\n\nx = 1\n') == 1 and after_imports("x = 1\n") == 0


def test_line_number_prefixes_copied_from_the_repair_context_are_dropped():
    search = "     10 |         loss = model.step(LR)\n>>   11 |         print(epoch, loss)\n     12 | \n     13 | \n     14 | def evaluate(model):\n"
    code, _ = apply_answer(SOURCE, block(search, "        print(epoch)\n\n\ndef evaluate(model):\n"))
    assert "        print(epoch)\n\n\ndef evaluate(model):\n" in code


def test_blocks_apply_in_order_to_the_edited_text():
    blocks = parse_blocks(block("LR = 0.1\n", "LR = 0.5\n") + block("LR = 0.5\n", "LR = 0.7\n"))
    code, _ = apply_blocks(SOURCE, blocks)
    assert "\nLR = 0.7\n" in code and "LR = 0.1" not in code


# The sklearn script of tests/conftest.py turned into ADAPTED by two blocks.
TO_ADAPTED = "```python\n" + block("from sklearn.datasets import load_diabetes\n",
                                   "import mlflow\nfrom sklearn.datasets import load_diabetes\n") + block(
    '''    for epoch, alpha in enumerate([0.01, 0.1, 1.0]):
        model = Ridge(alpha=alpha).fit(X_tr, y_tr)
        print(f"epoch {epoch} alpha {alpha} r2 {r2_score(y_te, model.predict(X_te)):.3f}")
''', '''    with mlflow.start_run():
        mlflow.log_params({"alphas": "0.01,0.1,1.0", "test_size": 0.25})
        for epoch, alpha in enumerate([0.01, 0.1, 1.0]):
            model = Ridge(alpha=alpha).fit(X_tr, y_tr)
            r2 = r2_score(y_te, model.predict(X_te))
            mlflow.log_metric("r2", float(r2), step=epoch)
            print(f"epoch {epoch} alpha {alpha} r2 {r2:.3f}")
''') + "```\n"


def sr_flow(script: Path) -> Workflow:
    return Workflow(spec=get_adapter("tracking:mlflow"), script=script, source=script.read_text(), timeout_s=120,
                    edit_format="search-replace")


def test_the_search_replace_prompt_keeps_every_section_and_asks_for_blocks(sklearn_script: Path):
    whole = Workflow(spec=get_adapter("tracking:mlflow"), script=sklearn_script, source=SKLEARN_SCRIPT)
    first_whole = whole.build_prompt(whole.source)
    first_sr = sr_flow(sklearn_script).build_prompt(SKLEARN_SCRIPT)
    assert first_sr.template == "inline_user_sr.md" and first_whole.template == "inline_user.md"
    body_whole, body_sr = first_whole.messages[-1].content, first_sr.messages[-1].content
    # Everything up to the closing request is the same prompt, outline and example included.
    head = body_whole[: body_whole.rindex("Return the complete modified")]
    assert body_sr.startswith(head) and "Outline of `train.py`" in head
    assert "Do not return the whole file" in body_sr and "<<<<<<< SEARCH" in body_sr
    assert "search/replace blocks" in first_sr.messages[0].content
    assert "complete modified Python file" in first_whole.messages[0].content
    for name in ("inline_user.md", "translate_user.md", "repair_user.md", "restart_user.md"):
        derived = prompting.template(prompting.template_for(name, "search-replace"))
        assert "Return the complete" not in derived and derived.endswith(prompting.template("answer_sr.md"))
    with pytest.raises(ConfigError, match="unknown edit format"):
        prompting.template_for("inline_user.md", "diff")


def test_blocks_answer_becomes_the_expected_candidate(sklearn_script: Path, tmp_path: Path):
    flow = sr_flow(sklearn_script)
    result = flow.execute(ScriptedBackend([TO_ADAPTED]), out_dir=tmp_path / "out")
    attempt = result.run.attempts[0]
    assert attempt.candidate is not None and attempt.candidate.files["train.py"] == ADAPTED
    assert "applied 2 search/replace block(s)" in attempt.notes
    assert result.paths["code"].read_text() == ADAPTED
    record = json.loads(result.paths["record"].read_text())
    assert record["options"]["edit_format"] == "search-replace"


def test_a_whole_file_answer_under_search_replace_still_works(sklearn_script: Path, tmp_path: Path):
    result = sr_flow(sklearn_script).execute(ScriptedBackend([f"```python\n{ADAPTED}```"]), out_dir=tmp_path / "out")
    attempt = result.run.attempts[0]
    assert attempt.candidate.files["train.py"] == ADAPTED
    assert "a whole file instead of search/replace blocks" in attempt.notes


def test_a_failed_block_is_shown_in_repair_and_repairs_edit_the_current_code(sklearn_script: Path, tmp_path: Path):
    """Round 0: a SEARCH that is nowhere. Round 1: blocks that log no metric. Round 2: a block against round 1's code."""
    bad = block("    for epoch in range(10):\n", "    pass\n")
    no_metrics = TO_ADAPTED.replace('            mlflow.log_metric("r2", float(r2), step=epoch)\n', "")
    # This SEARCH exists only in round 1's candidate, not in the original script.
    fix = block("            r2 = r2_score(y_te, model.predict(X_te))\n",
                '            r2 = r2_score(y_te, model.predict(X_te))\n            mlflow.log_metric("r2", float(r2), step=epoch)\n')
    backend = ScriptedBackend([bad, no_metrics, fix])
    result = sr_flow(sklearn_script).execute(backend, run=True, repair=2, out_dir=tmp_path / "out")
    attempts = result.run.attempts
    assert attempts[0].candidate is None and "block 1: its SEARCH lines are not in the script" in attempts[0].error
    assert attempts[1].candidate.files["train.py"] == NO_METRICS
    assert [a.result.status if a.result else None for a in attempts] == [None, "failed", "passed"]
    first_repair, second_repair = (backend.calls[i][0][-1].content for i in (1, 2))
    assert "block 1: its SEARCH lines are not in the script" in first_repair
    assert "search/replace blocks that edit `train.py`" in second_repair
    assert NO_METRICS.rstrip("\n") in second_repair  # the code the blocks are matched against
    assert "search/replace blocks" in backend.calls[2][0][0].content
    assert result.paths["code"].read_text() == ADAPTED


def test_cli_edit_format_sends_the_block_prompt_and_records_it(sklearn_script: Path, tmp_path: Path):
    cassette = cassette_for_flow(tmp_path / "c.jsonl", sr_flow(sklearn_script), [TO_ADAPTED])
    code, out, err = run_cli(["adapt", str(sklearn_script), "--add", "tracking:mlflow", "--backend", "replay",
                              "--cassette", str(cassette), "--edit-format", "search-replace"])
    assert code == 0, err
    assert (sklearn_script.parent / "train_tracking_mlflow.py").read_text() == ADAPTED
    record = json.loads((sklearn_script.parent / "train_tracking_mlflow.opsgraft.json").read_text())
    assert record["options"]["edit_format"] == "search-replace"
    assert record["attempts"][0]["prompt"]["template"] == "inline_user_sr.md"


def test_translate_takes_the_edit_format_too(tmp_path: Path):
    script = tmp_path / "train.py"
    script.write_text(SKLEARN_SCRIPT)
    code, _, err = run_cli(["translate", str(script), "--from", "wandb", "--to", "mlflow", "--edit-format", "diff"])
    assert code != 0 and "'diff' is not one of 'whole', 'search-replace'" in err
