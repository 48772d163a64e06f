"""The plain frozen dataclasses that the stages exchange; each round-trips through JSON.

RawPage -> Chunk -> Chroma store            (curation)
Task + store -> RetrievedDoc[] -> Prompt    (retrieval, adapters)
Prompt -> Generation[] -> Candidate         (llm, adapters)
Candidate -> ExecutionResult -> Verdict     (evaluation)
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

Status = Literal["passed", "failed", "timeout", "error"]
# Verdict.evidence key of a checker that raised: its formatted traceback (an opsgraft fault, not the code's).
CHECKER_TRACEBACK = "checker_traceback"
Kind = Literal["inline", "translate", "ablation"]
# Called as progress(stage, done, total) by the curation stages (crawl, summarize, embed, store);
# total is None when unknown.
StageProgress = Callable[[str, int, int | None], None]


@dataclass(frozen=True)
class RawPage:
    """One crawled page: main text with code blocks inline, and the links found on it."""

    url: str
    title: str
    text: str
    headings: tuple[str, ...] = ()
    code_blocks: tuple[str, ...] = ()
    links: tuple[str, ...] = ()
    depth: int = 0


@dataclass(frozen=True)
class Chunk:
    """A token-bounded piece of a page, with where it came from."""

    id: str
    text: str
    url: str
    title: str
    component: str
    version: str
    heading_path: tuple[str, ...] = ()
    summary: str | None = None
    n_tokens: int = 0
    # A synopsis chunk (the first paragraph under an API's signature) is only a search key: a hit on
    # it returns the chunk named here, the section's first chunk with the signature.
    parent: str = ""


@dataclass(frozen=True)
class RetrievedDoc:
    """A chunk as a retriever returned it, with its score and the strategy step that found it."""

    text: str
    score: float
    source: str
    component: str
    version: str = ""
    chunk_id: str = ""
    title: str = ""
    step: str = ""


@dataclass(frozen=True)
class Message:
    """One chat message."""

    role: Literal["system", "user", "assistant"]
    content: str


@dataclass(frozen=True)
class Prompt:
    """The messages sent to the LLM, and what went into them."""

    messages: tuple[Message, ...]
    template: str = ""
    docs: tuple[RetrievedDoc, ...] = ()
    # The answer's first lines, written by the tool (adapters/scaffold.py): sent as an assistant message
    # that backends with ``supports_prefill`` continue; the answer is prefill + continuation.
    prefill: str = ""


@dataclass(frozen=True)
class Usage:
    """Token counts of one call (the prompt is counted once even for n samples)."""

    prompt_tokens: int = 0
    completion_tokens: int = 0


@dataclass(frozen=True)
class Generation:
    """One sampled answer, with its cost."""

    text: str
    index: int = 0
    model: str = ""
    backend: str = ""
    usage: Usage = field(default_factory=Usage)
    wall_s: float = 0.0
    prompt_eval_s: float = 0.0
    finish_reason: str = ""
    cached: bool = False


@dataclass(frozen=True)
class Task:
    """A corpus task: an input program and what its adaptation must achieve."""

    id: str
    kind: Kind
    functionality: str
    component: str
    framework: str
    instruction: str
    entry: str
    files: tuple[str, ...]
    checker: str
    checker_args: Mapping[str, Any] = field(default_factory=dict)
    source_component: str = ""
    setup: str = "none"
    timeout_s: float = 60.0
    root: str = ""
    split: str = ""  # "tune" | "heldout" for corpus tasks; "" for a user's own script
    pass_env: tuple[str, ...] = ()  # parent variables the sandbox passes to the program (not allowlisted ones)


@dataclass(frozen=True)
class Candidate:
    """The files of one adapted program; ``entry`` is the script the sandbox runs."""

    task_id: str
    sample_index: int
    files: Mapping[str, str]
    entry: str
    origin: str = ""


@dataclass(frozen=True)
class ExecutionResult:
    """What the sandbox saw. A failing program is data here, never an exception."""

    status: Status
    returncode: int | None
    wall_s: float
    stdout_tail: str = ""
    stderr_tail: str = ""
    workdir: str = ""
    outside_writes: tuple[str, ...] = ()
    device: str = "cpu"


@dataclass(frozen=True)
class Verdict:
    """A checker's judgement of the side effects a run left behind."""

    passed: bool
    checker: str
    reasons: tuple[str, ...] = ()
    evidence: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SampleResult:
    """One judged sample: one JSONL line of an evaluation."""

    task_id: str
    sample_index: int
    status: Status
    execution: ExecutionResult
    verdict: Verdict | None = None
    # Beside the verdict, never part of it: does the program still print and write what the original
    # did (opsgraft.evaluation.preserved)? None when not checked; findings say what was dropped.
    preserved: bool | None = None
    preserved_findings: tuple[str, ...] = ()

    @property
    def checker_fault(self) -> str:
        """How the checker broke on this sample ('' when it did not): opsgraft's fault, not the program's."""
        if self.status != "error" or self.verdict is None or CHECKER_TRACEBACK not in self.verdict.evidence:
            return ""
        return self.verdict.reasons[0] if self.verdict.reasons else f"checker {self.verdict.checker} raised"


T = TypeVar("T")


def to_dict(obj: Any) -> Any:
    """Turn a (nested) dataclass into JSON-ready data."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, Mapping):
        return {str(k): to_dict(v) for k, v in obj.items()}
    if isinstance(obj, tuple | list):
        return [to_dict(v) for v in obj]
    return obj


def from_dict(cls: type[T], data: Mapping[str, Any]) -> T:
    """Rebuild a dataclass written by :func:`to_dict`; unknown keys are ignored."""
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        if f.name in data:
            kwargs[f.name] = _coerce(hints[f.name], data[f.name])
    return cls(**kwargs)


def _coerce(tp: Any, value: Any) -> Any:
    if value is None:
        return None
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(tp):
            if arg is type(None):
                continue
            return _coerce(arg, value)
    if isinstance(tp, type) and dataclasses.is_dataclass(tp) and isinstance(value, Mapping):
        return from_dict(tp, value)
    if origin is tuple:
        args = typing.get_args(tp)
        inner = args[0] if args else Any
        return tuple(_coerce(inner, v) for v in value)
    return value
