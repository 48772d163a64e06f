"""Merge a clearly marked partial answer back into the original file.

Small models often answer with the changed parts only, eliding the rest with a marker line
such as ``# ... rest of the code unchanged ...``. Each marker stands for the original lines
between the answer's neighbouring lines, located in the original in order.
"""

from __future__ import annotations

import ast
import re

from opsgraft import pyast

_MARKER = re.compile(
    r"^\s*(#\s*)?(\.\.\.|…)\s*$"
    r"|^\s*#\s*(\.\.\.|…)?\s*\(?\s*(the\s+)?(rest|remaining|other|existing|previous|original|same)\b.*"
    r"(unchanged|same|as before|omitted|here|above|below|remains?)\b.*$"
    r"|^\s*#\s*(\.\.\.|…).*(unchanged|same|as before|omitted|existing|rest|remaining)\b.*$",
    re.IGNORECASE,
)


def is_marker(line: str) -> bool:
    """A line that elides unchanged original code."""
    return bool(_MARKER.match(line))


def is_partial(code: str) -> bool:
    """True when the answer elides parts of the file with marker lines."""
    return any(is_marker(line) for line in code.splitlines())


def _find(lines: list[str], target: str, start: int) -> int | None:
    key = target.strip()
    for i in range(start, len(lines)):
        if lines[i].strip() == key:
            return i
    return None


def _top_level_blocks(source: str) -> dict[str, tuple[int, int]]:
    """name -> (first line, line after the end), 0-based, of each top-level def and class."""
    try:
        tree = pyast.parse(source)
    except SyntaxError:
        return {}
    out = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            first = min([node.lineno, *(d.lineno for d in node.decorator_list)]) - 1
            out[node.name] = (first, node.end_lineno or node.lineno)
    return out


_DEF = re.compile(r"^(?:async\s+def|def|class)\s+(\w+)", re.MULTILINE)


def merge_partial(original: str, answer: str) -> str:
    """Replace each marker in ``answer`` by the original lines it stands for.

    A segment that redefines a top-level function or class replaces the whole original
    definition; other segments are placed by their first and last lines found in the
    original, in order. What cannot be placed is kept from the answer, never guessed.
    """
    if not is_partial(answer):
        return answer
    orig = original.splitlines()
    blocks = _top_level_blocks(original)
    segments: list[list[str]] = [[]]
    for line in answer.splitlines():
        if is_marker(line):
            segments.append([])
        else:
            segments[-1].append(line)
    out: list[str] = []
    cursor = 0  # original lines before this index are accounted for
    for n, seg in enumerate(segments):
        if n > 0:  # a marker came before this segment: it stands for orig[cursor:stop]
            stop = _segment_start(seg, orig, blocks, cursor)
            out.extend(orig[cursor:stop])
            cursor = max(cursor, stop)
        out.extend(seg)
        cursor = _segment_end(seg, orig, blocks, cursor)
    return "\n".join(out).rstrip("\n") + "\n"


def _segment_start(seg: list[str], orig: list[str], blocks: dict[str, tuple[int, int]], cursor: int) -> int:
    first = next((ln for ln in seg if ln.strip()), None)
    if first is None:
        return len(orig)
    m = _DEF.match(first)
    if m and m.group(1) in blocks and blocks[m.group(1)][0] >= cursor:
        return blocks[m.group(1)][0]
    found = _find(orig, first, cursor)
    return found if found is not None else cursor


def _segment_end(seg: list[str], orig: list[str], blocks: dict[str, tuple[int, int]], cursor: int) -> int:
    end = cursor
    for name in _DEF.findall("\n".join(seg)):
        if name in blocks and blocks[name][0] >= cursor:
            end = max(end, blocks[name][1])
    for line in reversed(seg):
        if line.strip():
            found = _find(orig, line, cursor)
            if found is not None:
                end = max(end, found + 1)
                break
    return end
