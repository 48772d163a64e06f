import pytest

from opsgraft.codeblocks import extract_code, fenced_blocks
from opsgraft.errors import NoCodeError


def test_single_fenced_block():
    text = "Here you go:\n```python\nimport mlflow\nprint(1)\n```\nDone."
    assert extract_code(text) == "import mlflow\nprint(1)\n"


def test_unterminated_fence_runs_to_the_end():
    text = "```python\nimport os\nx = 1\n"
    blocks = fenced_blocks(text)
    assert len(blocks) == 1 and not blocks[0].terminated
    assert extract_code(text) == "import os\nx = 1\n"


def test_several_blocks_pick_the_longest_valid_python():
    text = (
        "Install it:\n```bash\npip install mlflow\n```\n"
        "Snippet:\n```python\nimport mlflow\n```\n"
        "Full file:\n```python\nimport mlflow\n\n\ndef main():\n    mlflow.log_metric('a', 1)\n```\n"
        "Broken:\n```python\ndef (:\n```\n"
    )
    assert "def main()" in extract_code(text)


def test_prose_is_never_code():
    with pytest.raises(NoCodeError):
        extract_code("I cannot help with that. Please add MLflow tracking yourself, it is easy.")


def test_unfenced_code_is_accepted_only_if_it_parses_as_statements():
    assert extract_code("import os\nprint(os.getcwd())") == "import os\nprint(os.getcwd())\n"
    with pytest.raises(NoCodeError):
        extract_code("Sure")


def test_only_non_python_blocks_is_no_code():
    with pytest.raises(NoCodeError, match="none in Python"):
        extract_code("```bash\nls\n```")


def test_tilde_fences_and_longer_fences():
    assert extract_code("~~~python\nx = 1\n~~~") == "x = 1\n"
    assert extract_code("````python\ns = '```'\n````") == "s = '```'\n"
