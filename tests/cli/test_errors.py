"""Every bad input of `opsgraft adapt` is one line on stderr and a non-zero exit."""

import json
from pathlib import Path

import pytest

from tests.conftest import make_cassette, run_cli


def one_line_error(stderr: str) -> str:
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in stderr
    return lines[0]


def adapt(script, *extra):
    return run_cli(["adapt", str(script), "--add", "tracking:mlflow", "--backend", "replay", *extra])


def test_missing_file(tmp_path):
    code, _, err = adapt(tmp_path / "nope.py")
    assert code == 2 and "no such file" in one_line_error(err)


def test_directory_is_not_a_script(tmp_path):
    d = tmp_path / "pkg.py"
    d.mkdir()
    code, _, err = adapt(d)
    assert code == 2 and "is a directory" in one_line_error(err)


def test_unreadable_file(tmp_path, monkeypatch):
    p = tmp_path / "train.py"
    p.write_text("x = 1\n")

    def deny(self):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "read_bytes", deny)
    code, _, err = adapt(p)
    assert code == 2 and "cannot read (Permission denied)" in one_line_error(err)


def test_not_python(tmp_path):
    p = tmp_path / "notes.txt"
    p.write_text("hello")
    code, _, err = adapt(p)
    assert code == 2 and "not a Python file" in one_line_error(err)


def test_not_utf8(tmp_path):
    p = tmp_path / "train.py"
    p.write_bytes("# caf\xe9\nx = 1\n".encode("latin-1"))
    code, _, err = adapt(p)
    assert code == 2 and "not UTF-8" in one_line_error(err)


def test_syntax_error_says_where(tmp_path):
    p = tmp_path / "train.py"
    p.write_text("import os\n\ndef main(:\n    pass\n")
    code, _, err = adapt(p)
    line = one_line_error(err)
    assert code == 2 and "train.py:3:" in line and "syntax error" in line


def test_unknown_add_lists_valid_ones(sklearn_script):
    code, _, err = run_cli(["adapt", str(sklearn_script), "--add", "tracking:mlfow", "--backend", "replay"])
    line = one_line_error(err)
    assert code == 2
    assert "Did you mean 'tracking:mlflow'?" in line and "pruning:nncf" in line and "hpo:optuna" in line


def test_unreachable_endpoint(sklearn_script, monkeypatch):
    monkeypatch.setenv("OPSGRAFT_RETRY_ATTEMPTS", "2")
    code, _, err = run_cli(["adapt", str(sklearn_script), "--add", "tracking:mlflow", "--backend", "openai",
                            "--model", "stub", "--base-url", "http://127.0.0.1:9/v1", "--no-cache"])
    assert code == 3 and "cannot reach the endpoint" in one_line_error(err)


def test_answer_without_code(sklearn_script, tmp_path):
    cassette = make_cassette(tmp_path / "c.jsonl", sklearn_script, "tracking:mlflow",
                             ["Sorry, I can only describe the steps: import mlflow and log things."])
    code, _, err = adapt(sklearn_script, "--cassette", str(cassette))
    assert code == 3 and "holds no code" in one_line_error(err)
    assert sorted(p.name for p in sklearn_script.parent.iterdir()) == ["c.jsonl", "train.py"]


def test_context_overflow(sklearn_script, tmp_path):
    cassette = make_cassette(tmp_path / "c.jsonl", sklearn_script, "tracking:mlflow", ["```python\nx=1\n```"])
    code, _, err = adapt(sklearn_script, "--cassette", str(cassette), "--context-window", "300")
    line = one_line_error(err)
    assert code == 3 and "context window of 300" in line


@pytest.mark.parametrize("content", [bytes(range(256)) * 8, b"\x1f\x8b\x08\x00" + bytes(range(200))],
                         ids=["random-bytes", "gzip"])
def test_binary_cassette(sklearn_script, tmp_path, content):
    cassette = tmp_path / "c.jsonl"
    cassette.write_bytes(content)
    code, _, err = adapt(sklearn_script, "--cassette", str(cassette))
    line = one_line_error(err)
    assert code == 2 and "c.jsonl" in line and "not a cassette" in line


def test_replay_without_cassette_is_a_usage_error(sklearn_script):
    code, _, err = adapt(sklearn_script)
    assert code == 2 and "--cassette" in one_line_error(err)


BOM = b"\xef\xbb\xbf"


def test_script_with_a_bom_is_adapted(sklearn_script, tmp_path):
    # Python runs a UTF-8 file that starts with a BOM, so adapt must read it too.
    from tests.conftest import SKLEARN_SCRIPT

    adapted = SKLEARN_SCRIPT.replace("from sklearn.datasets", "import mlflow\nfrom sklearn.datasets", 1)
    cassette = make_cassette(tmp_path / "c.jsonl", sklearn_script, "tracking:mlflow", [f"```python\n{adapted}```"])
    original = BOM + sklearn_script.read_bytes()
    sklearn_script.write_bytes(original)
    code, _, err = adapt(sklearn_script, "--cassette", str(cassette))
    assert code == 0, err
    assert sklearn_script.read_bytes() == original
    out = sklearn_script.with_name("train_tracking_mlflow.py").read_bytes()
    assert not out.startswith(BOM)  # the adapted copy is plain UTF-8
    compile(out, "train_tracking_mlflow.py", "exec")
    diff = sklearn_script.with_name("train_tracking_mlflow.diff").read_text(encoding="utf-8")
    assert "\ufeff" not in diff and "+import mlflow" in diff
    assert [ln for ln in diff.splitlines() if ln.startswith("-")] == ["--- a/train.py"]  # no line 1 change
    record = json.loads(sklearn_script.with_name("train_tracking_mlflow.opsgraft.json").read_text(encoding="utf-8"))
    assert record["input_source"] == SKLEARN_SCRIPT


def test_script_with_a_bom_is_translated(tmp_path):
    script = tmp_path / "release.py"
    script.write_bytes(BOM + b"import git\n\nrepo = git.Repo.init('data-repo')\nrepo.index.commit('data')\n")
    empty = tmp_path / "c.jsonl"
    empty.write_text("")
    code, _, err = run_cli(["translate", str(script), "--from", "gitpython", "--to", "dvc", "--strategy", "none",
                            "--backend", "replay", "--cassette", str(empty)])
    # Past reading and parsing: the only thing missing is the recorded answer.
    assert code == 3 and "no recorded response" in one_line_error(err)


def test_file_with_a_bom_is_retrieved_for_without_it(tmp_path, monkeypatch):
    import opsgraft.retrieval

    seen = []
    monkeypatch.setattr(opsgraft.retrieval, "retrieve", lambda strategy, request, **kw: seen.append(request) or [])
    script = tmp_path / "train.py"
    script.write_bytes(BOM + b"import wandb\n")
    code, _, err = run_cli(["retrieve", str(script), "--to", "mlflow", "--from", "wandb", "--json"])
    assert code == 0, err
    assert seen[0].code == "import wandb\n"


@pytest.mark.parametrize("args", [["--help"], ["adapt", "--help"], ["doctor", "--help"], ["model", "--help"]])
def test_help_works(args):
    code, out, _ = run_cli(args)
    assert code == 0 and "Usage:" in out
