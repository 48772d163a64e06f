"""Search/replace edit blocks: parse them from an answer and apply them to the script.

The search-replace edit format (issue 16, technique 3) asks the model for the changed lines only,
aider-style::

    <<<<<<< SEARCH
    exact lines from the script
    =======
    replacement lines
    >>>>>>> REPLACE

A 1.5B model retyping a 150-line script spends a minute or two on it and drops or mangles lines
on the way; a few blocks are short. Small models copy SEARCH lines imperfectly, so each block is
located in steps: exact lines, then lines compared without their whitespace (the replacement is
re-indented to where the lines really are), then one unique fuzzy match. A block that matches
nowhere, or in several places, is an error naming the block: the repair prompt shows it to the model.
"""

from __future__ import annotations

import ast
import difflib
import re
from dataclasses import dataclass

from opsgraft import pyast
from opsgraft.errors import OpsgraftError

FUZZY_MIN = 0.9  # difflib ratio a fuzzy SEARCH must reach, over the same number of lines

_SEARCH = re.compile(r"^\s*<{5,9}\s*SEARCH\b.*$", re.IGNORECASE)
_DIVIDER = re.compile(r"^\s*={5,9}\s*$")
_REPLACE = re.compile(r"^\s*>{5,9}\s*REPLACE\b.*$", re.IGNORECASE)
_FENCE = re.compile(r"^\s*(`{3,}|~{3,})[\w+.#-]*\s*$")
# A line as the repair prompt's failing-line context shows it (`>>   12 | code`): copied into a SEARCH
# by a model, the prefix is not part of the script.
_NUMBERED = re.compile(r"^(?:>>|  ) +\d+ \| ?")


class EditError(OpsgraftError):
    """The answer's search/replace blocks cannot be applied to the script."""


@dataclass(frozen=True)
class EditBlock:
    """One search/replace block; ``number`` counts from 1 in the answer's order."""

    number: int
    search: tuple[str, ...]
    replace: tuple[str, ...]


def has_blocks(text: str) -> bool:
    """True when the answer holds at least one SEARCH marker line."""
    return any(_SEARCH.match(line) for line in text.splitlines())


def parse_blocks(text: str) -> list[EditBlock]:
    """The answer's blocks in order, wherever they stand (inside or outside ```python fences).

    Raises EditError for a block without its ``=======`` or ``>>>>>>> REPLACE`` line (a cut-off answer).
    """
    blocks: list[EditBlock] = []
    state = "out"
    search: list[str] = []
    replace: list[str] = []
    for line in text.splitlines():
        if state == "out":
            if _SEARCH.match(line):
                state, search, replace = "search", [], []
        elif state == "search":
            if _DIVIDER.match(line):
                state = "replace"
            elif _SEARCH.match(line) or _REPLACE.match(line):
                raise EditError(f"search/replace block {len(blocks) + 1} has no ======= line after its SEARCH lines")
            else:
                search.append(line)
        elif _REPLACE.match(line):
            blocks.append(EditBlock(len(blocks) + 1, _clean(search), _clean(replace)))
            state = "out"
        elif _SEARCH.match(line):
            raise EditError(f"search/replace block {len(blocks) + 1} has no >>>>>>> REPLACE line")
        else:
            replace.append(line)
    if state != "out":
        raise EditError(f"search/replace block {len(blocks) + 1} is not finished (no >>>>>>> REPLACE line; "
                        "was the answer cut off?)")
    return blocks


def _clean(lines: list[str]) -> tuple[str, ...]:
    """Lines without a stray fence at either end and without copied line-number prefixes."""
    out = list(lines)
    while out and _FENCE.match(out[0]):
        out.pop(0)
    while out and _FENCE.match(out[-1]):
        out.pop()
    nonblank = [ln for ln in out if ln.strip()]
    if nonblank and all(_NUMBERED.match(ln) for ln in nonblank):
        out = [_NUMBERED.sub("", ln, count=1) for ln in out]
    # Blank lines around a block carry no meaning and are the part small models copy least faithfully.
    while out and not out[0].strip():
        out.pop(0)
    while out and not out[-1].strip():
        out.pop()
    return tuple(ln.rstrip() for ln in out)


def apply_blocks(source: str, blocks: list[EditBlock]) -> tuple[str, list[str]]:
    """``source`` with each block applied in order, and notes of what matching each needed.

    Raises EditError naming every block whose SEARCH matches nowhere or in several places.
    """
    lines = source.splitlines()
    notes: list[str] = []
    errors: list[str] = []
    for block in blocks:
        if not block.search:
            at = after_imports("\n".join(lines))
            lines[at:at] = list(block.replace)
            notes.append(f"block {block.number}: empty SEARCH, inserted after the imports (line {at + 1})")
            continue
        try:
            start, stop, how, replacement = _locate(lines, block)
        except EditError as exc:
            errors.append(str(exc))
            continue
        lines[start:stop] = replacement
        if how != "exact":
            notes.append(f"block {block.number}: {how} (lines {start + 1}-{stop})")
    if errors:
        raise EditError("; ".join(errors))
    return "\n".join(lines).rstrip("\n") + "\n", notes


def apply_answer(source: str, text: str) -> tuple[str, list[str]]:
    """Parse the blocks in ``text`` and apply them; the notes start with how many were applied."""
    blocks = parse_blocks(text)
    if not blocks:
        raise EditError("the answer holds no search/replace block")
    code, notes = apply_blocks(source, blocks)
    return code, [f"applied {len(blocks)} search/replace block(s)", *notes]


def after_imports(source: str) -> int:
    """The 0-based line index after the last top-level import (else after the docstring, else 0)."""
    try:
        tree = pyast.parse(source)
    except SyntaxError:
        last = [i + 1 for i, ln in enumerate(source.splitlines()) if re.match(r"(import|from)\s+\w", ln)]
        return last[-1] if last else 0
    after = 0
    for node in tree.body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            after = node.end_lineno or node.lineno
        elif (after == 0 and node is tree.body[0] and isinstance(node, ast.Expr)
              and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)):
            after = node.end_lineno or node.lineno
    return after


def _locate(lines: list[str], block: EditBlock) -> tuple[int, int, str, list[str]]:
    """Where ``block.search`` is in ``lines`` (start, stop), how it was found, and its replacement there."""
    search = list(block.search)
    n = len(search)
    exact = [i for i in range(len(lines) - n + 1) if [ln.rstrip() for ln in lines[i:i + n]] == search]
    if len(exact) == 1:
        return exact[0], exact[0] + n, "exact", list(block.replace)
    if len(exact) > 1:
        raise _ambiguous(block, [i + 1 for i in exact])
    # The same non-blank lines, whitespace aside; blank lines between them may differ.
    keys = [ln.strip() for ln in search if ln.strip()]
    nonblank = [i for i, ln in enumerate(lines) if ln.strip()]
    stripped = [lines[i].strip() for i in nonblank]
    k = len(keys)
    spans = [(nonblank[j], nonblank[j + k - 1] + 1) for j in range(len(stripped) - k + 1) if stripped[j:j + k] == keys]
    if len(spans) > 1:
        raise _ambiguous(block, [s + 1 for s, _ in spans])
    if spans:
        start, stop = spans[0]
        replacement = _reindent(search, lines[start:stop], list(block.replace))
        return start, stop, "matched ignoring whitespace", replacement
    return _fuzzy(lines, block)


def _fuzzy(lines: list[str], block: EditBlock) -> tuple[int, int, str, list[str]]:
    search = list(block.search)
    n = len(search)
    want = "\n".join(ln.strip() for ln in search)
    scored: list[tuple[float, int]] = []
    for i in range(len(lines) - n + 1):
        matcher = difflib.SequenceMatcher(None, want, "\n".join(ln.strip() for ln in lines[i:i + n]), autojunk=False)
        if matcher.real_quick_ratio() >= FUZZY_MIN and matcher.quick_ratio() >= FUZZY_MIN:
            ratio = matcher.ratio()
            if ratio >= FUZZY_MIN:
                scored.append((ratio, i))
    if not scored:
        first = next(ln.strip() for ln in search if ln.strip())
        raise EditError(f"block {block.number}: its SEARCH lines are not in the script (first line: {first[:80]!r}); "
                        "copy them exactly from the script")
    best_ratio, best = max(scored)
    # Windows overlapping the best one are the same place seen shifted; another place is ambiguity.
    others = [i for _, i in scored if abs(i - best) >= n]
    if others:
        raise _ambiguous(block, sorted([best + 1, *(i + 1 for i in others)]))
    replacement = _reindent(search, lines[best:best + n], list(block.replace))
    return best, best + n, f"fuzzy match {best_ratio:.2f}", replacement


def _ambiguous(block: EditBlock, starts: list[int]) -> EditError:
    where = ", ".join(str(s) for s in starts[:5])
    return EditError(f"block {block.number}: its SEARCH lines match {len(starts)} places (lines {where}); "
                     "add a nearby line that occurs once so that it matches one place only")


def _reindent(search: list[str], found: list[str], replace: list[str]) -> list[str]:
    """``replace`` shifted to where the SEARCH lines were found.

    Each SEARCH line has a shift: its indentation in the script minus the one it was typed with. A
    replacement line that is one of the SEARCH lines (in order) takes that line's shift; a new line takes
    the shift of the nearest such line above it. A SEARCH typed with no indentation, or shifted
    uniformly, thus lands at the script's real depths, and lines the answer indents deeper (a loop
    wrapped in a ``with``) stay deeper.
    """
    pairs = [(s.strip(), _width(f) - _width(s)) for s, f in
             zip([ln for ln in search if ln.strip()], [ln for ln in found if ln.strip()], strict=False)]
    if all(shift == 0 for _, shift in pairs):
        return replace
    shift, pointer = pairs[0][1], 0
    out = []
    for line in replace:
        if not line.strip():
            out.append("")
            continue
        body = line.strip()
        hit = next((k for k in range(pointer, len(pairs)) if pairs[k][0] == body), None)
        if hit is not None:
            pointer, shift = hit + 1, pairs[hit][1]
        out.append(" " * max(0, _width(line) + shift) + body)
    return out


def _width(line: str) -> int:
    """Indentation in columns (a tab counts 4)."""
    return len(line[: len(line) - len(line.lstrip())].replace("\t", "    "))
