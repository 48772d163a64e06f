"""Pull code out of an LLM answer: fenced blocks, an unterminated fence, several blocks.

Prose is never returned as code: unfenced text is accepted only when it parses as Python
and contains statements (import, def, class, assignment or call).
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

from opsgraft import pyast
from opsgraft.errors import NoCodeError

_FENCE = re.compile(r"^[ \t]*(`{3,}|~{3,})[ \t]*([\w+.#-]*)[^\n]*$", re.MULTILINE)
_PY_LANGS = {"", "python", "py", "python3", "py3"}
_FILENAME = re.compile(r"^#\s*(?:file(?:name)?|path)\s*:\s*(\S+)\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class CodeBlock:
    """One block of an answer; ``filename`` when its first line names one (``# file: x.py``)."""

    code: str
    lang: str
    terminated: bool = True
    filename: str | None = None

    @property
    def is_python(self) -> bool:
        return self.lang.lower() in _PY_LANGS


def fenced_blocks(text: str) -> list[CodeBlock]:
    """All fenced blocks in order; a last fence without its closing line runs to the end."""
    blocks: list[CodeBlock] = []
    pos = 0
    while True:
        start = _FENCE.search(text, pos)
        if start is None:
            break
        fence, lang = start.group(1), start.group(2)
        body_start = start.end() + 1
        close = re.compile(rf"^[ \t]*{re.escape(fence[0])}{{{len(fence)},}}[ \t]*$", re.MULTILINE)
        end = close.search(text, body_start)
        body = text[body_start:end.start()] if end else text[body_start:]
        blocks.append(_block(body, lang, terminated=end is not None))
        if end is None:
            break
        pos = end.end()
    return blocks


def _block(body: str, lang: str, terminated: bool) -> CodeBlock:
    body = body.rstrip() + "\n" if body.strip() else ""
    first = body.split("\n", 1)[0].strip()
    m = _FILENAME.match(first)
    return CodeBlock(code=body, lang=lang, terminated=terminated, filename=m.group(1) if m else None)


def parses(code: str) -> bool:
    """True when ``code`` is syntactically valid Python."""
    try:
        pyast.parse(code)
    except (SyntaxError, ValueError):
        return False
    return True


def _looks_like_code(code: str) -> bool:
    try:
        tree = pyast.parse(code)
    except (SyntaxError, ValueError):
        return False
    kinds = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.ClassDef, ast.Assign, ast.With, ast.For)
    return any(isinstance(node, kinds) for node in tree.body) or any(
        isinstance(node, ast.Expr) and isinstance(node.value, ast.Call) for node in tree.body
    )


def python_blocks(text: str) -> list[CodeBlock]:
    """The Python blocks of an answer (fenced ones tagged python or untagged)."""
    return [b for b in fenced_blocks(text) if b.is_python and b.code.strip()]


def extract_code(text: str) -> str:
    """The program in an answer: the longest Python block that parses, else the longest block.

    Raises NoCodeError when the answer holds no code.
    """
    blocks = python_blocks(text)
    if blocks:
        valid = [b for b in blocks if parses(b.code)]
        best = max(valid or blocks, key=lambda b: len(b.code))
        return best.code
    if fenced_blocks(text):
        raise NoCodeError("the answer holds code blocks, but none in Python")
    stripped = text.strip()
    if stripped and _looks_like_code(stripped):
        return stripped + "\n"
    raise NoCodeError("the LLM answer holds no code")
