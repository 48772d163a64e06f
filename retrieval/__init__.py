"""Retrieval over the curated stores: four strategies behind one call.

    from opsgraft.retrieval import RetrievalRequest, retrieve
    docs = retrieve("docs-search", RetrievalRequest(code, target="dvc", source="gitpython"))

Each returned RetrievedDoc has ``step``: ``docs-x`` (source-store docs of the code),
``docs-y`` (target docs for a translation) or ``docs-target`` (target-search for inlining).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from opsgraft.registry import retrievers

if TYPE_CHECKING:
    from opsgraft.llm.base import Backend
    from opsgraft.retrieval.strategies import RetrievalRequest, Strategy
    from opsgraft.types import RetrievedDoc

STRATEGIES = ("docs-search", "llm-search", "llm-docs-search", "target-search")
_CLASSES = {"docs-search": "DocsSearch", "llm-search": "LLMSearch", "llm-docs-search": "LLMDocsSearch",
            "target-search": "TargetSearch"}
for _name, _cls in _CLASSES.items():
    retrievers.register(_name, f"opsgraft.retrieval.strategies:{_cls}")


def get_strategy(name: str, backend: Backend | None = None, stores_dir: Path | str | None = None,
                 summarizer: Any = None, trace_path: Path | None = None) -> Strategy:
    """An instance of the strategy registered as ``name``."""
    cls = retrievers.get(name)
    return cls(backend=backend, stores_dir=stores_dir, summarizer=summarizer, trace_path=trace_path)  # type: ignore[no-any-return]


def retrieve(strategy: str, request: RetrievalRequest, backend: Backend | None = None,
             stores_dir: Path | str | None = None, summarizer: Any = None,
             trace_path: Path | None = None) -> list[RetrievedDoc]:
    """Run strategy ``strategy`` for ``request``; every call is appended to the JSONL trace.

    ``backend`` is needed by llm-search and llm-docs-search; ``summarizer`` (an
    opsgraft.curation.summarize.Summarizer) lazily summarizes docs of stores curated with
    ``--summarize lazy`` and keeps the summary in the store.
    """
    return get_strategy(strategy, backend, stores_dir, summarizer, trace_path).retrieve(request)


def stores_needed(strategy: str, target: str, source: str | None = None) -> tuple[str, ...]:
    """The components whose docs stores strategy ``strategy`` searches (llm-search: the source's only)."""
    return retrievers.get(strategy).stores_for(target, source)  # type: ignore[no-any-return]


def __getattr__(name: str) -> Any:
    # RetrievalRequest lives with the strategies; import it lazily so this package stays light.
    if name in ("RetrievalRequest", "Strategy"):
        from opsgraft.retrieval import strategies

        return getattr(strategies, name)
    raise AttributeError(name)


__all__ = ["STRATEGIES", "RetrievalRequest", "Strategy", "get_strategy", "retrieve", "stores_needed"]
