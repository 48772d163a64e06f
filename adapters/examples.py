"""Worked examples: short before -> after adaptations on scripts that are not corpus tasks.

Each example lives in ``adapters/worked_examples/<adapter>/<framework>-<name>/`` as ``before.py``,
``after.py`` (which passes the adapter's checker in the sandbox) and ``meta.yaml`` (adapter key and
framework). The first prompt shows the nearest one (issue 16, technique 2): the 1.5B model invents
APIs (``dvc.add()``, NNCF's removed ``create_compressed_model``, a module-level Optuna objective)
that a working script for the installed versions shows it not to.
"""

from __future__ import annotations

import difflib
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

import yaml

from opsgraft.adapters.specs import AdapterSpec
from opsgraft.frameworks import training_framework
from opsgraft.types import Task

log = logging.getLogger(__name__)

FOLDER = "worked_examples"
# An example this close (line_ratio) to the task's own input or reference is never shown: it would
# hand a corpus task its answer.
NEAR_DUPLICATE = 0.6
# About 700 tokens of the model's tokenizer (code runs at ~3.5 characters a token).
MAX_SECTION_CHARS = 2500

# The frameworks worked examples are written for (opsgraft.frameworks holds the detection). An XGBoost
# script that splits its data with sklearn is nearest an sklearn example, so detection is limited to these.
EXAMPLE_FRAMEWORKS = ("lightning", "keras", "pytorch", "sklearn")
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]+")


@dataclass(frozen=True)
class Example:
    """One worked example: the same change the adapter asks for, on a small script of its own."""

    adapter: str
    framework: str
    path: str  # "<adapter folder>/<framework>-<name>", relative to worked_examples/
    before: str
    after: str

    def diff(self, context: int = 2) -> str:
        """The change as a unified diff."""
        return "".join(difflib.unified_diff(self.before.splitlines(keepends=True),
                                            self.after.splitlines(keepends=True),
                                            "before.py", "after.py", n=context))


@lru_cache(maxsize=1)
def library() -> tuple[Example, ...]:
    """Every shipped example, sorted by path."""
    root = resources.files("opsgraft.adapters") / FOLDER
    out = []
    for adapter_dir in sorted(root.iterdir(), key=lambda p: p.name):
        if not adapter_dir.is_dir():
            continue
        for ex_dir in sorted(adapter_dir.iterdir(), key=lambda p: p.name):
            meta_file = ex_dir / "meta.yaml"
            if not meta_file.is_file():
                continue
            meta = yaml.safe_load(meta_file.read_text(encoding="utf-8"))
            out.append(Example(adapter=str(meta["adapter"]), framework=str(meta["framework"]),
                               path=f"{adapter_dir.name}/{ex_dir.name}",
                               before=(ex_dir / "before.py").read_text(encoding="utf-8"),
                               after=(ex_dir / "after.py").read_text(encoding="utf-8")))
    return tuple(out)


def framework_of(source: str) -> str:
    """The training framework ``source`` imports: lightning, keras, pytorch, sklearn or 'none'."""
    return training_framework(source, among=EXAMPLE_FRAMEWORKS) or "none"


def _words(text: str) -> set[str]:
    return set(_WORD.findall(text))


def similarity(a: str, b: str) -> float:
    """Token Jaccard of two sources (identifiers and keywords)."""
    wa, wb = _words(a), _words(b)
    return len(wa & wb) / len(wa | wb) if wa or wb else 0.0


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def line_ratio(a: str, b: str) -> float:
    """difflib's ratio over the non-blank lines (indentation ignored): how much of one script the other copies.

    Lines, not characters: any two Python files share most characters, and a character match of
    two 40-line scripts is slow.
    """
    return difflib.SequenceMatcher(None, _lines(a), _lines(b), autojunk=False).ratio()


def near_duplicate(a: str, b: str) -> bool:
    """True when ``a`` and ``b`` are nearly the same script (line ratio >= NEAR_DUPLICATE)."""
    return line_ratio(a, b) >= NEAR_DUPLICATE


def nearest_example(spec: AdapterSpec, source: str, framework: str | None = None,
                    exclude_paths: Iterable[Path] = (), exclude_texts: Iterable[str] = ()) -> Example | None:
    """The example for ``spec`` nearest to ``source``: same adapter, then same framework, then most similar.

    ``framework`` defaults to the one ``source`` imports. An example whose before or after is a near
    duplicate of ``source`` or of any excluded text (a corpus task's reference) is never returned.
    Ties go to the first path, so the choice is deterministic.
    """
    framework = framework if framework and framework != "unknown" else framework_of(source)
    banned = [source, *exclude_texts, *(Path(p).read_text(encoding="utf-8") for p in exclude_paths)]
    best: tuple[tuple[bool, float], Example] | None = None
    for ex in library():
        if ex.adapter != spec.key:
            continue
        if any(near_duplicate(ex.before, t) or near_duplicate(ex.after, t) for t in banned):
            continue
        score = (ex.framework == framework, similarity(ex.before, source))
        if best is None or score > best[0]:
            best = (score, ex)
    return best[1] if best else None


def example_section(example: Example, max_chars: int = MAX_SECTION_CHARS, *, align_to: str | None = None) -> str:
    """The prompt section showing ``example``: before and after, or the diff when shorter; '' if neither fits.

    With ``align_to`` (the user's script), the example's names are first renamed to the script's own
    (adapters/example_align.py).
    """
    from opsgraft.adapters.prompting import fill

    if align_to is not None:
        from opsgraft.adapters.example_align import align

        example = align(example, align_to)
    full = f"Before:\n```python\n{example.before.rstrip()}\n```\nAfter:\n```python\n{example.after.rstrip()}\n```"
    diff = f"The change, as a unified diff:\n```diff\n{example.diff().rstrip()}\n```"
    body = min((full, diff), key=len)
    if len(body) > max_chars:
        return ""
    name = example.path.rsplit("/", 1)[-1]
    return fill("example.md", example_name=name, framework=example.framework, body=body).strip() + "\n"


def task_exclusions(task: Task) -> list[str]:
    """Texts no example may nearly equal: a corpus task's reference files (a user's script has none)."""
    if task.id.startswith("user:") or not task.root:
        return []
    from opsgraft.evaluation.corpus import reference_files

    return [text for name, text in reference_files(task).items() if name.endswith(".py")]


def section_for_task(spec: AdapterSpec, task: Task, source: str, align: bool = False) -> str:
    """The prompt section with the example nearest to ``source`` for ``task`` ('' when there is none).

    With ``align``, the example shows the script's names for its own (adapters/example_align.py); renamed,
    it could come nearer the task's reference, so it is shown unrenamed when it would then be a near duplicate.
    """
    exclusions = task_exclusions(task)
    example = nearest_example(spec, source, framework=task.framework, exclude_texts=exclusions)
    if example is None:
        return ""
    log.info("worked example: %s", example.path)
    if align:
        from opsgraft.adapters.example_align import align as align_names

        aligned = align_names(example, source)
        if any(near_duplicate(aligned.before, t) or near_duplicate(aligned.after, t) for t in [source, *exclusions]):
            log.info("renamed, %s nearly equals the script or its reference; shown with its own names", example.path)
        else:
            example = aligned
    return example_section(example)
