"""Read ablation annotations (the AblationMage convention) and plan the trials.

- ``#ABLATABLE_COMPONENT`` at the end of a line marks that line; alone on a line it marks the next.
- ``#ABLATION_HINT_START text`` ... ``#ABLATION_HINT_END`` marks a block; blocks whose text starts
  with the same word are one component (a layer's definition and its call in ``forward``).
- Feature ablation: a hint ``features: a, b`` (one trial per column), a hint block around a dict
  literal of groups, ``--features a,b`` / ``--features grp=a+b``, or a module-level dict literal
  ``FEATURE_GROUPS = {"group": ["col", ...]}`` when the code carries no other marker.
"""

from __future__ import annotations

import ast
import csv
import itertools
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from opsgraft import pyast
from opsgraft.errors import InputError

log = logging.getLogger(__name__)

_COMPONENT = re.compile(r"#\s*ABLATABLE_COMPONENT\b")
_START = re.compile(r"#\s*ABLATION_HINT_START\b(.*)$")
_END = re.compile(r"#\s*ABLATION_HINT_END\b")
_TARGET = re.compile(r"^\s*(?:self\.)?([A-Za-z_]\w*)\s*(?::[^=]*)?=(?!=)")
_GROUP_DICTS = ("FEATURE_GROUPS", "ABLATION_FEATURE_GROUPS")
DOC_SUFFIXES = (".md", ".txt", ".yaml", ".yml", ".rst")
SKLEARN_FRAMES = ("load_diabetes", "load_iris", "load_wine", "load_breast_cancer", "load_linnerud")


class AnnotationError(InputError):
    """The ablation annotations or feature names cannot be used."""


@dataclass(frozen=True)
class Component:
    """One removable thing: marked lines of code, or a set of feature columns."""

    name: str
    kind: str  # "line" | "block" | "features"
    file: str = ""
    lines: tuple[int, ...] = ()  # 1-based lines of code to remove (markers excluded)
    text: str = ""
    features: tuple[str, ...] = ()


@dataclass(frozen=True)
class Trial:
    """One model to train: the baseline, or the code without some components."""

    name: str
    removed: tuple[str, ...] = ()  # component names


@dataclass
class Plan:
    """What the study will do."""

    components: list[Component]
    trials: list[Trial]
    mode: str  # "model" | "features"
    columns: tuple[str, ...] | None = None  # the data's columns when known statically
    columns_source: str = ""
    notes: list[str] = field(default_factory=list)

    def component(self, name: str) -> Component:
        return next(c for c in self.components if c.name == name)


def _is_code(line: str) -> bool:
    stripped = line.strip()
    return bool(stripped) and not stripped.startswith("#")


def _line_name(line: str, number: int) -> str:
    match = _TARGET.match(line)
    return match.group(1) if match else f"line{number}"


def parse_file(path: Path, source: str) -> list[Component]:
    """The marked components of one file; AnnotationError for a broken marker."""
    lines = source.splitlines()
    found: list[Component] = []
    blocks: dict[str, list[int]] = {}
    texts: dict[str, str] = {}
    open_at: int | None = None
    open_name = ""
    for i, line in enumerate(lines, 1):
        start, end = _START.search(line), _END.search(line)
        if start:
            if open_at is not None:
                raise AnnotationError(f"{path.name}:{open_at}: unmatched #ABLATION_HINT_START "
                                      f"(another START at line {i} before its #ABLATION_HINT_END)")
            open_at, text = i, start.group(1).strip()
            word = re.match(r"[A-Za-z_][\w-]*", text)
            open_name = word.group(0).replace("-", "_") if word else f"block{i}"
            texts.setdefault(open_name, text)
            blocks.setdefault(open_name, [])
            continue
        if end:
            if open_at is None:
                raise AnnotationError(f"{path.name}:{i}: #ABLATION_HINT_END without a #ABLATION_HINT_START")
            if not any(_is_code(lines[j - 1]) for j in range(open_at + 1, i)) and not _is_feature_text(open_name):
                raise AnnotationError(f"{path.name}:{open_at}: the #ABLATION_HINT_START block holds no code")
            open_at = None
            continue
        if open_at is not None and _is_code(line):
            blocks[open_name].append(i)
        if _COMPONENT.search(line):
            code = _COMPONENT.split(line)[0]
            target = i if code.strip() else i + 1
            if target > len(lines) or not _is_code(lines[target - 1]):
                raise AnnotationError(f"{path.name}:{i}: #ABLATABLE_COMPONENT marks a blank or comment line")
            found.append(Component(_line_name(lines[target - 1], target), "line", path.name, (target,)))
    if open_at is not None:
        raise AnnotationError(f"{path.name}:{open_at}: unmatched #ABLATION_HINT_START (no #ABLATION_HINT_END)")
    for name, numbers in blocks.items():
        if _is_feature_text(name):
            found.extend(_feature_hint(path, source, texts[name], numbers))
        else:
            found.append(Component(name, "block", path.name, tuple(numbers), texts[name]))
    return _unique(found)


def _is_feature_text(name: str) -> bool:
    return name.lower() in ("features", "feature")


def _feature_hint(path: Path, source: str, text: str, numbers: list[int]) -> list[Component]:
    """``features: a, b`` -> one component per column; a block around a dict literal -> its groups."""
    _, _, listed = text.partition(":")
    names = [n.strip() for n in re.split(r"[,\s]+", listed) if n.strip()]
    if names:
        return [Component(n, "features", path.name, text=text, features=(n,)) for n in names]
    groups = _group_dicts(source, set(numbers))
    if not groups:
        raise AnnotationError(f"{path.name}: a 'features' hint needs column names ('features: a, b') "
                              "or a dict of feature groups inside its block")
    return [Component(g, "features", path.name, text=text, features=cols) for g, cols in groups.items()]


def _group_dicts(source: str, lines: set[int] | None = None) -> dict[str, tuple[str, ...]]:
    """Module-level dict literals of str -> list of str: in ``lines``, or named like FEATURE_GROUPS."""
    try:
        tree = pyast.parse(source)
    except SyntaxError:
        return {}
    for node in tree.body:
        if not isinstance(node, ast.Assign) or not isinstance(node.value, ast.Dict):
            continue
        named = any(isinstance(t, ast.Name) and t.id in _GROUP_DICTS for t in node.targets)
        if lines is not None and node.lineno not in lines or lines is None and not named:
            continue
        try:
            value = ast.literal_eval(node.value)
        except ValueError:
            continue
        if all(isinstance(k, str) and isinstance(v, list | tuple) and all(isinstance(c, str) for c in v)
               for k, v in value.items()):
            return {k: tuple(v) for k, v in value.items()}
    return {}


def _unique(components: list[Component]) -> list[Component]:
    seen: dict[str, int] = {}
    out = []
    for c in components:
        seen[c.name] = seen.get(c.name, 0) + 1
        out.append(c if seen[c.name] == 1 else Component(f"{c.name}_{seen[c.name]}", c.kind, c.file, c.lines,
                                                         c.text, c.features))
    return out


def cli_features(spec: str) -> list[Component]:
    """``--features a,b`` or ``--features grp=a+b,c``."""
    out = []
    for item in (s.strip() for s in spec.split(",")):
        if not item:
            continue
        name, eq, cols = item.partition("=")
        columns = tuple(c.strip() for c in cols.split("+") if c.strip()) if eq else (name,)
        if not columns:
            raise AnnotationError(f"--features: group {name!r} names no column")
        out.append(Component(name.strip(), "features", text="--features", features=columns))
    if not out:
        raise AnnotationError("--features names no column")
    return out


def static_columns(path: Path, source: str) -> tuple[tuple[str, ...] | None, str]:
    """The data's columns where the code shows them without running it: a literal CSV path's header,
    or a bundled scikit-learn dataset loaded as a frame. ``(None, why)`` otherwise."""
    try:
        tree = pyast.parse(source)
    except SyntaxError:
        return None, "the code does not parse"
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
        if name == "read_csv" and node.args and isinstance(node.args[0], ast.Constant):
            csv_path = path.parent / str(node.args[0].value)
            if csv_path.is_file():
                with csv_path.open(newline="", encoding="utf-8-sig") as fh:
                    header = next(csv.reader(fh), [])
                return tuple(h.strip() for h in header), f"the header of {csv_path.name}"
            return None, f"{csv_path.name} (read by read_csv) is not beside the script"
        as_frame = any(k.arg == "as_frame" and isinstance(k.value, ast.Constant) and k.value.value is True
                       for k in node.keywords)
        if name in SKLEARN_FRAMES and as_frame:
            import sklearn.datasets

            bunch = getattr(sklearn.datasets, name)()
            return tuple(bunch.feature_names), f"scikit-learn's {name}"
    return None, "no literal CSV path or bundled scikit-learn frame in the code"


def read_docs(paths: Sequence[Path], budget_tokens: int = 1500) -> tuple[str, list[str]]:
    """Supporting documents (files or folders, read recursively) cut to about ``budget_tokens``.

    Returns the text and the names of the files used (a file that does not fit is cut, later ones dropped).
    """
    files: list[Path] = []
    for p in paths:
        if not p.exists():
            raise AnnotationError(f"{p}: no such document or folder")
        if p.is_dir():
            files.extend(sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in DOC_SUFFIXES))
        elif p.suffix.lower() in DOC_SUFFIXES:
            files.append(p)
        else:
            raise AnnotationError(f"{p}: documents must be {' '.join(DOC_SUFFIXES)} files or folders")
    budget = budget_tokens * 4  # about 4 characters a token for English and code
    parts, used = [], []
    for f in files:
        if budget <= 0:
            break
        try:
            text = f.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise AnnotationError(f"{f}: cannot read ({exc.__class__.__name__})") from None
        piece = f"--- {f.name}\n{text.strip()}"[:budget]
        budget -= len(piece)
        parts.append(piece)
        used.append(str(f))
    return "\n\n".join(parts), used


def plan_study(files: Sequence[tuple[Path, str]], features: str | None = None, pairs: bool = False) -> Plan:
    """Parse every file, add ``--features``, check feature names, and list the trials."""
    components: list[Component] = []
    for path, source in files:
        components.extend(parse_file(path, source))
    notes: list[str] = []
    if features:
        components.extend(cli_features(features))
    if not components:
        main_path, main_source = files[0]
        groups = _group_dicts(main_source)
        if groups:
            notes.append(f"no markers: using the feature groups of {main_path.name}'s FEATURE_GROUPS")
            components = [Component(g, "features", main_path.name, text="FEATURE_GROUPS", features=c)
                          for g, c in groups.items()]
    if not components:
        raise AnnotationError("no ablation annotations found (#ABLATABLE_COMPONENT, #ABLATION_HINT_START, "
                              "--features); add them, or use --suggest")
    kinds = {"features" if c.kind == "features" else "model" for c in components}
    if len(kinds) > 1:
        raise AnnotationError("mixing feature ablation with model components in one study is not supported")
    mode = kinds.pop()
    columns, source_note = (None, "")
    if mode == "features":
        columns, source_note = static_columns(*files[0])
        wanted = [f for c in components for f in c.features]
        if columns is None:
            notes.append(f"the data's columns are not known before it runs ({source_note}); "
                         "feature names are checked when the baseline loads the data")
        else:
            missing = [f for f in wanted if f not in columns]
            if missing:
                raise AnnotationError(f"feature {missing[0]!r} is not a column of {source_note} "
                                      f"({', '.join(columns[:12])})")
    trials = [Trial("baseline")] + [Trial(f"without_{c.name}", (c.name,)) for c in components]
    if pairs:
        if mode != "features":
            raise AnnotationError("--pairs pairs feature columns; this study has model components")
        trials += [Trial(f"without_{a.name}+{b.name}", (a.name, b.name))
                   for a, b in itertools.combinations(components, 2)]
    return Plan(components, trials, mode, columns, source_note, notes)
