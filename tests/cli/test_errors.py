"""Every bad input of `opsgraft adapt` is one line on stderr and a non-zero exit."""

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


def test_replay_without_cassette_is_a_usage_error(sklearn_script):
    code, _, err = adapt(sklearn_script)
    assert code == 2 and "--cassette" in one_line_error(err)


@pytest.mark.parametrize("args", [["--help"], ["adapt", "--help"], ["doctor", "--help"], ["model", "--help"]])
def test_help_works(args):
    code, out, _ = run_cli(args)
    assert code == 0 and "Usage:" in out
