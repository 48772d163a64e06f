import ast
from pathlib import Path

from opsgraft.adapters.postprocess import complete, undefined_names
from opsgraft.evaluation.corpus import input_files, load_task

ORIGINAL = '''"""Train."""

import torch
from sklearn.model_selection import cross_val_score


def main():
    print(cross_val_score)


if __name__ == "__main__":
    main()
'''


def test_dropped_imports_come_back_from_the_original_or_the_standard_table():
    answer = '''"""Train."""

import torch


def main():
    x = np.zeros(3)
    print(cross_val_score, prune, x, unknown_thing)


if __name__ == "__main__":
    main()
'''
    code, notes = complete(answer, ORIGINAL)
    tree = ast.parse(code)
    assert undefined_names(tree) == ["unknown_thing"]  # nothing invented for names it cannot know
    assert "from sklearn.model_selection import cross_val_score\n" in code
    assert "import numpy as np\n" in code and "from torch.nn.utils import prune\n" in code
    assert code.index("import numpy") > code.index("import torch") and code.index("import numpy") < code.index("def main")
    assert notes and "numpy" in notes[0]


def test_names_bound_in_the_answer_are_left_alone():
    answer = "import mlflow\n\n\ndef main(np):\n    for prune in np:\n        print(prune)\n\n\nif __name__ == '__main__':\n    main([1])\n"
    assert complete(answer, ORIGINAL) == (answer, [])


def test_dropped_main_guard_comes_back_only_when_it_can_run():
    answer = '"""Train."""\n\nimport torch\nfrom sklearn.model_selection import cross_val_score\n\n\ndef main():\n    print(1)\n'
    code, notes = complete(answer, ORIGINAL)
    assert code.rstrip().endswith('if __name__ == "__main__":\n    main()')
    assert notes == ['post-processing: put back the original\'s `if __name__ == "__main__":` block']
    renamed = answer.replace("def main", "def train")
    assert complete(renamed, ORIGINAL) == (renamed, [])


def test_code_that_does_not_parse_is_returned_as_is():
    broken = "def main(:\n    np.zeros(1)\n"
    assert complete(broken, ORIGINAL) == (broken, [])


def test_recorded_real_answer_gets_its_import_and_main_block_back():
    """The embedded model's zero-shot torch-prune answer: no `prune` import and no main call.

    The answer as recorded before the pruning rules changed (session 7 re-recorded the replay case);
    kept as a file so that a re-recording cannot change what this test checks.
    """
    recorded = (Path(__file__).parent / "cassettes" / "pruning_torch_zero_shot_answer.py.txt").read_text()
    task = load_task("pruning-torch-digits-mlp")
    original = input_files(task)[task.entry]
    raw = recorded.replace("from torch.nn.utils import prune\n", "")
    raw = raw.split('\n\nif __name__ == "__main__":')[0] + "\n"
    assert "prune" in undefined_names(ast.parse(raw))
    code, notes = complete(raw, original)
    assert undefined_names(ast.parse(code)) == []
    assert 'if __name__ == "__main__":' in code and len(notes) == 2


DOUBLE_RUN = '''import mlflow


def main():
    mlflow.start_run()
    x = 1
    with mlflow.start_run():
        mlflow.log_param("x", x)
    mlflow.end_run()
    print("done")


main()
'''


def test_a_bare_start_run_beside_a_with_start_run_is_dropped_with_its_end_run(tmp_path: Path):
    fixed, notes = complete(DOUBLE_RUN, "def main():\n    x = 1\n    print('done')\n\n\nmain()\n")
    assert "    mlflow.start_run()\n" not in fixed and "mlflow.end_run()" not in fixed
    assert "    with mlflow.start_run():\n        mlflow.log_param(\"x\", x)\n" in fixed
    assert any("bare mlflow.start_run()" in n for n in notes)
    ast.parse(fixed)


def test_a_single_run_and_an_intended_nested_run_are_left_alone():
    single = DOUBLE_RUN.replace("    mlflow.start_run()\n", "").replace("    mlflow.end_run()\n", "")
    assert complete(single, single)[0] == single
    nested = DOUBLE_RUN.replace("with mlflow.start_run():", "with mlflow.start_run(nested=True):")
    assert complete(nested, nested)[0] == nested


def test_argparse_used_and_never_imported_gets_its_import():
    code = "def main():\n    p = argparse.ArgumentParser()\n    return p\n"
    fixed, notes = complete(code, "def main():\n    return 1\n")
    assert fixed.startswith("import argparse\n") and notes


def test_an_nncf_scheduler_used_and_never_imported_gets_its_import_from_the_installed_module():
    code = ("import nncf\n\n\ndef main(model):\n"
            "    return MultiStepMagnitudePruningScheduler(model, mode=nncf.PruneMode.UNSTRUCTURED_MAGNITUDE_GLOBAL, "
            "steps={0: 0.1})\n")
    fixed, notes = complete(code, "def main(model):\n    return model\n")
    line = "from nncf.torch.function_hook.pruning.magnitude.schedulers import MultiStepMagnitudePruningScheduler"
    assert line in fixed.splitlines() and notes
    namespace: dict[str, object] = {}
    exec(line, namespace)  # the import the table names exists in the installed NNCF
    assert "MultiStepMagnitudePruningScheduler" in namespace
