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
