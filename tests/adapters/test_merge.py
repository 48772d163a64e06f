from opsgraft.adapters.merge import is_marker, is_partial, merge_partial

ORIGINAL = """\
import numpy as np
from sklearn.linear_model import Ridge


def load():
    X = np.arange(10).reshape(-1, 1)
    return X, X.ravel() * 2


def main():
    X, y = load()
    model = Ridge().fit(X, y)
    print(model.score(X, y))


if __name__ == "__main__":
    main()
"""


def test_markers_are_recognised_and_code_is_not():
    for line in ["# ... rest of the code unchanged ...", "# ...", "...", "    # (the rest remains the same)",
                 "# ... existing code ...", "# rest of the file unchanged"]:
        assert is_marker(line), line
    for line in ["x = ...", "# load the data", "print('...')", "    return X, y"]:
        assert not is_marker(line), line


def test_leading_and_trailing_markers_take_the_original():
    answer = """\
import mlflow
import numpy as np
# ... rest of the imports unchanged ...
def main():
    X, y = load()
    with mlflow.start_run():
        model = Ridge().fit(X, y)
        mlflow.log_metric("r2", model.score(X, y))
# ... rest of the code unchanged ...
"""
    merged = merge_partial(ORIGINAL, answer)
    assert merged.startswith("import mlflow\nimport numpy as np\nfrom sklearn.linear_model import Ridge\n")
    assert "def load():\n    X = np.arange(10)" in merged
    assert 'mlflow.log_metric("r2", model.score(X, y))' in merged
    assert merged.rstrip().endswith('if __name__ == "__main__":\n    main()')
    assert merged.count("def main():") == 1
    compile(merged, "merged.py", "exec")


def test_whole_file_answers_are_untouched():
    assert not is_partial(ORIGINAL)
    assert merge_partial(ORIGINAL, ORIGINAL) == ORIGINAL


def test_stderr_is_cleaned_for_the_repair_prompt():
    from opsgraft.adapters.prompting import clean_stderr

    raw = (
        "2026/11/23 17:55:01 INFO mlflow.store.db.utils: Creating initial MLflow database tables...\n"
        'Traceback (most recent call last):\n  File "/tmp/opsgraft-user_train.py-0-abc123/work/train.py", line 3\n'
        "ValueError: <object at 0x7f14a9365450>\n"
    )
    out = clean_stderr(raw)
    assert out.splitlines()[0] == "INFO mlflow.store.db.utils: Creating initial MLflow database tables..."
    assert 'File "train.py", line 3' in out
    assert "0x7f14" not in out and "opsgraft-user" not in out


def test_stderr_paths_of_installed_packages_do_not_depend_on_the_checkout():
    from opsgraft.adapters.prompting import clean_stderr

    frame = '  File "{}/.venv/lib/python3.11/site-packages/mlflow/tracking/client.py", line 257, in __init__\n'
    here, there = clean_stderr(frame.format("/work/main")), clean_stderr(frame.format("/tmp/ci2"))
    assert here == there == 'File "site-packages/mlflow/tracking/client.py", line 257, in __init__'
