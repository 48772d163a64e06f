"""``ablate --suggest``: the model picks components from candidates the tool found; the tool adds the markers.

The model's job is kept small for the 1.5B model: the tool lists candidate lines (layer and
processing-step constructions found in the AST, or the data's feature columns) and the model answers
with numbers only. The tool inserts the markers, on their own lines, and validates the result
mechanically (only marker lines added, every code line unchanged, every marker on code, parsable by
``annotations.parse_file``). An answer that is a whole annotated file instead is held to the same rules,
so a proposal that changes code is refused.
"""

from __future__ import annotations

import ast
import difflib
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from opsgraft import pyast
from opsgraft.adapters.ablation import assist_prompts as prompts
from opsgraft.adapters.ablation.annotations import (
    _COMPONENT,
    _END,
    _START,
    AnnotationError,
    Component,
    parse_file,
    static_columns,
)
from opsgraft.adapters.ablation.variants import WIDTH_LAYERS
from opsgraft.types import Message

log = logging.getLogger(__name__)

MARKER = "#ABLATABLE_COMPONENT"
LAYERS = WIDTH_LAYERS | {
    "Dropout", "Dropout1d", "Dropout2d", "AlphaDropout", "BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "LayerNorm",
    "GroupNorm", "InstanceNorm1d", "InstanceNorm2d", "ReLU", "GELU", "SiLU", "Tanh", "Sigmoid", "LeakyReLU", "ELU",
    "MaxPool1d", "MaxPool2d", "AvgPool1d", "AvgPool2d", "AdaptiveAvgPool1d", "AdaptiveAvgPool2d", "Embedding",
    "Sequential", "MultiheadAttention", "TransformerEncoderLayer", "Dense", "Conv1D", "Conv2D", "MaxPooling2D",
    "BatchNormalization", "LayerNormalization", "Attention"}
STEP_SUFFIXES = ("Scaler", "PCA", "Imputer", "Encoder", "Selector", "PolynomialFeatures", "Normalizer", "SelectKBest")
_LAYER_MODULES = ("nn", "layers", "keras")
_LIST_WORDS = frozenset({"line", "lines", "and", "or", "number", "numbers"})


class SuggestError(AnnotationError):
    """A proposal that cannot be used: the code already has markers, no candidates, or it changes code."""


@dataclass(frozen=True)
class Candidate:
    """A line the model may pick: a layer/step construction (``number`` is its line) or a feature column."""

    number: int
    text: str
    kind: str  # "layer" | "step" | "feature"
    insert_at: int = 0  # 1-based line the marker goes before (layers, steps)


@dataclass(frozen=True)
class Proposal:
    """The annotated copy of one file and what it marks."""

    path: Path
    original: str
    annotated: str
    components: list[Component]
    picked: list[Candidate]
    answer: str

    def diff(self, new_name: str | None = None) -> str:
        """The unified diff of the input with the markers added."""
        return "".join(difflib.unified_diff(
            self.original.splitlines(keepends=True), self.annotated.splitlines(keepends=True),
            fromfile=f"a/{self.path.name}", tofile=f"b/{new_name or self.path.name}"))


def has_markers(source: str) -> bool:
    """True when any ablation marker is already in the code."""
    return any(p.search(line) for line in source.splitlines() for p in (_COMPONENT, _START, _END))


def _call_name(call: ast.Call) -> tuple[str, str]:
    """(the called name, the module it is taken from: ``nn`` for ``nn.Linear``, ``''`` for a bare name)."""
    func = call.func
    if isinstance(func, ast.Attribute):
        base = func.value
        owner = base.attr if isinstance(base, ast.Attribute) else base.id if isinstance(base, ast.Name) else ""
        return func.attr, owner
    return (func.id, "") if isinstance(func, ast.Name) else ("", "")


def _kind(call: ast.Call) -> str | None:
    name, owner = _call_name(call)
    if name in LAYERS and (owner in _LAYER_MODULES or owner == ""):
        return "layer"
    if name.endswith(STEP_SUFFIXES):
        return "step"
    return None


def layer_candidates(source: str) -> list[Candidate]:
    """Assignments and ``x.add(...)`` calls that build a layer or step, and one-per-line ``Sequential`` items."""
    tree = pyast.parse(source)
    lines = source.splitlines()
    found: dict[int, Candidate] = {}

    def add(node: ast.AST, call: ast.Call) -> None:
        kind = _kind(call)
        number = getattr(node, "lineno", 0)
        if kind and number and number not in found:
            found[number] = Candidate(number, lines[number - 1].strip(), kind, number)

    for node in ast.walk(tree):
        if isinstance(node, ast.Assign | ast.AnnAssign) and isinstance(node.value, ast.Call):
            add(node, node.value)
        elif (isinstance(node, ast.Expr) and isinstance(node.value, ast.Call) and node.value.args
              and isinstance(node.value.func, ast.Attribute) and node.value.func.attr == "add"
              and isinstance(node.value.args[0], ast.Call)):
            add(node, node.value.args[0])
        if isinstance(node, ast.Call) and _call_name(node)[0] == "Sequential":
            items = [a for a in node.args if isinstance(a, ast.Call)]
            rows = [a.lineno for a in items]
            for item in items:
                # an item alone on its own line(s) can be marked and removed without touching its neighbours
                if item.lineno != node.lineno and rows.count(item.lineno) == 1 and item.end_lineno == item.lineno:
                    add(item, item)
    return sorted(found.values(), key=lambda c: c.number)


def _targets(tree: ast.Module) -> set[str]:
    """String constants on the right of an assignment to ``y``/``target``/``label`` (the column not to drop)."""
    out: set[str] = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Assign):
            continue
        names = [t.id for t in node.targets if isinstance(t, ast.Name)]
        names += [e.id for t in node.targets if isinstance(t, ast.Tuple) for e in t.elts if isinstance(e, ast.Name)]
        if any(n.lower().startswith("y") or "target" in n.lower() or "label" in n.lower() for n in names):
            out.update(c.value for c in ast.walk(node.value) if isinstance(c, ast.Constant) and isinstance(c.value, str))
    return out


def feature_candidates(path: Path, source: str) -> tuple[list[Candidate], str]:
    """The data's columns (known without running the code), less the target; and where they come from."""
    columns, where = static_columns(path, source)
    if columns is None:
        return [], where
    skip = _targets(pyast.parse(source))
    kept = [c for c in columns if c not in skip]
    return [Candidate(i, c, "feature") for i, c in enumerate(kept, 1)], where


def _load_line(source: str) -> int:
    """The first line of the statement that loads the data (read_csv / a bundled dataset), else 1."""
    tree = pyast.parse(source)
    statements = [n for n in ast.walk(tree) if isinstance(n, ast.stmt) and not hasattr(n, "body")]
    for node in sorted(statements, key=lambda n: n.lineno):
        for call in ast.walk(node):
            if isinstance(call, ast.Call) and (_call_name(call)[0] == "read_csv"
                                               or _call_name(call)[0].startswith("load_")):
                return node.lineno
    return 1


def prompt(path: Path, candidates: Sequence[Candidate], docs: str = "") -> list[Message]:
    """The request: the numbered candidates, an answer of numbers only."""
    numbered = "\n".join(f"{c.number}: {c.text}" for c in candidates)
    example = ", ".join(str(c.number) for c in candidates[:2])
    template = prompts.SUGGEST_FEATURES if candidates and candidates[0].kind == "feature" else prompts.SUGGEST_LAYERS
    text = template.format(file=path.name, numbered=numbered, example=example,
                           docs=prompts.DOCS.format(text=docs) if docs else "")
    return [Message("system", prompts.SUGGEST_SYSTEM), Message("user", text)]


def picked_numbers(answer: str) -> list[int]:
    """The numbers an answer names: every number of a line that is only a list, else a line's first number
    (so ``12: self.fc = nn.Linear(64, 128)`` names 12, not 64 or 128)."""
    out: list[int] = []
    for line in answer.splitlines():
        line = line.strip().strip("`").strip()
        if not line:
            continue
        tokens = re.findall(r"[A-Za-z]+|\d+", line)
        if (re.fullmatch(r"[\w\s,;:.\-*]*", line) and any(t.isdigit() for t in tokens)
                and all(t.isdigit() or t.lower() in _LIST_WORDS for t in tokens)):
            numbers = [t for t in tokens if t.isdigit()]
        else:
            first = re.match(r"^(?:[-*]\s*)?(?:lines?\s*)?(\d+)\b", line, re.IGNORECASE)
            numbers = [first.group(1)] if first else []
        out += [int(n) for n in numbers if int(n) not in out]
    return out


def insert_markers(source: str, picked: Sequence[Candidate]) -> str:
    """``source`` with a marker line added before each picked construction, or one feature hint block."""
    lines = source.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    features = [c.text for c in picked if c.kind == "feature"]
    inserts: dict[int, list[str]] = {}
    for c in picked:
        if c.kind != "feature":
            row = lines[c.insert_at - 1]
            inserts.setdefault(c.insert_at, []).append(f"{row[: len(row) - len(row.lstrip())]}{MARKER}\n")
    if features:
        at = _load_line(source)
        row = lines[at - 1] if lines else ""
        indent = row[: len(row) - len(row.lstrip())]
        inserts.setdefault(at, []).extend([f"{indent}#ABLATION_HINT_START features: {', '.join(features)}\n",
                                           f"{indent}#ABLATION_HINT_END\n"])
    out = []
    for i, line in enumerate(lines, 1):
        out.extend(inserts.get(i, []))
        out.append(line)
    return "".join(out)


def _is_marker(line: str) -> bool:
    stripped = line.strip()
    return stripped.startswith("#") and any(p.search(stripped) for p in (_COMPONENT, _START, _END))


def check_proposal(path: Path, original: str, annotated: str) -> list[Component]:
    """The components an annotated copy marks; SuggestError when it does anything but add marker lines."""
    old, new = original.splitlines(), annotated.splitlines()
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=old, b=new, autojunk=False).get_opcodes():
        if tag == "replace" and i2 - i1 == j2 - j1 and all(
                _COMPONENT.split(n)[0].rstrip() == o.rstrip() for o, n in zip(old[i1:i2], new[j1:j2], strict=True)):
            continue  # a marker at the end of a code line, the code itself unchanged
        if tag in ("replace", "delete"):
            raise SuggestError(f"{path.name}:{i1 + 1}: the proposal changes code (`{old[i1].strip()[:60]}`); "
                               "refused: a proposal may only add marker lines")
        if tag == "insert":
            for line in new[j1:j2]:
                if not _is_marker(line):
                    raise SuggestError(f"{path.name}: the proposal adds a line that is not a marker "
                                       f"(`{line.strip()[:60]}`); refused: a proposal may only add marker lines")
    try:
        same = ast.dump(pyast.parse(original)) == ast.dump(pyast.parse(annotated))
    except SyntaxError as exc:
        raise SuggestError(f"{path.name}:{exc.lineno}: the proposal does not parse; refused") from None
    if not same:  # a marker line inside a string literal changes the program
        raise SuggestError(f"{path.name}: the proposal changes the program (a marker inside a string?); refused")
    components = parse_file(path, annotated)
    if not components:
        raise SuggestError(f"{path.name}: the proposal marks no component")
    return components


def _whole_file(answer: str, original: str) -> str | None:
    """The answer's code when it is a whole file (a model that ignored the numbers-only request)."""
    from opsgraft.codeblocks import fenced_blocks

    blocks = [b.code for b in fenced_blocks(answer) if b.is_python]
    if blocks and len(blocks[0].splitlines()) >= max(3, len(original.splitlines()) // 2):
        return blocks[0]
    return None


def propose(path: Path, source: str, answer: str, candidates: Sequence[Candidate]) -> Proposal:
    """Turn the model's answer into a validated proposal (SuggestError when it is unusable)."""
    whole = _whole_file(answer, source)
    if whole is not None:
        annotated = whole if whole.endswith("\n") or not source.endswith("\n") else whole + "\n"
        return Proposal(path, source, annotated, check_proposal(path, source, annotated), [], answer)
    by_number = {c.number: c for c in candidates}
    numbers = picked_numbers(answer)
    picked = [by_number[n] for n in numbers if n in by_number]
    if not picked:
        first = answer.strip().splitlines()[0][:60] if answer.strip() else "(empty)"
        raise SuggestError(f"{path.name}: the model's answer names none of the candidate numbers: {first!r}")
    ignored = [n for n in numbers if n not in by_number]
    if ignored:
        log.info("the answer names %s, which are not candidates; ignored", ignored)
    picked.sort(key=lambda c: c.number)
    annotated = insert_markers(source, picked)
    return Proposal(path, source, annotated, check_proposal(path, source, annotated), picked, answer)


def candidates_for(path: Path, source: str) -> tuple[list[Candidate], str]:
    """Layer/step candidates when the code builds any, else the data's feature columns; and a note."""
    if has_markers(source):
        raise SuggestError(f"{path.name} already has ablation markers; --suggest is for unannotated code "
                           "(run without --suggest)")
    try:
        pyast.parse(source)
    except SyntaxError as exc:
        raise SuggestError(f"{path.name}:{exc.lineno}: syntax error: {exc.msg}") from None
    layers = layer_candidates(source)
    if layers:
        return layers, f"{len(layers)} layer/step constructions in {path.name}"
    features, where = feature_candidates(path, source)
    if features:
        return features, f"{len(features)} feature columns ({where})"
    raise SuggestError(f"{path.name}: no candidates to suggest (no layer or step constructions, and the data's "
                       f"columns are not known before it runs: {where}); mark components by hand or use --features")
