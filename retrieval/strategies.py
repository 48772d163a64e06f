"""Retrieval strategies: a template-method base class and the four registered strategies."""

from __future__ import annotations

import ast
import hashlib
import logging
import re
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar

from opsgraft import pyast
from opsgraft.curation.store import import_names_of
from opsgraft.errors import ConfigError
from opsgraft.frameworks import top_level_imports
from opsgraft.llm.base import Backend
from opsgraft.registry import retrievers
from opsgraft.retrieval import prompts
from opsgraft.retrieval.search import searcher, section_key
from opsgraft.retrieval.trace import write_trace
from opsgraft.types import Chunk, Message, RetrievedDoc, to_dict

log = logging.getLogger(__name__)

MAX_QUERIES = 12
MAX_QUERY_CHARS = 1500
LLM_MAX_TOKENS = 512
MAX_NAMED = 3  # APIs named in an instruction whose docs target-search puts first
REFILL = 3  # a query that hit docs of a framework the code does not use asks for this many times top_k

# Integration modules name the framework they serve (mlflow.pytorch, wandb.integration.keras,
# nncf.openvino): a name in a doc's URL or heading -> the import names that make the doc relevant.
# Not opsgraft.frameworks' table: that one says what a script trains with; this one reads doc names,
# many of them libraries that train nothing (langchain, openai), and one name may stand for several imports.
# For a scikit-learn script, mlflow.pytorch.autolog is a wrong lead the small model follows.
FRAMEWORKS: dict[str, tuple[str, ...]] = {
    "pytorch": ("torch",), "torch": ("torch",), "lightning": ("lightning", "pytorch_lightning"),
    "pytorch_lightning": ("lightning", "pytorch_lightning"), "sklearn": ("sklearn",),
    "keras": ("keras", "tensorflow", "tf_keras"), "tensorflow": ("tensorflow",), "xgboost": ("xgboost",),
    "lightgbm": ("lightgbm",), "catboost": ("catboost",), "transformers": ("transformers",),
    "sentence_transformers": ("sentence_transformers",), "fastai": ("fastai",), "spark": ("pyspark",),
    "pyspark": ("pyspark",), "onnx": ("onnx", "onnxruntime"), "openvino": ("openvino",), "paddle": ("paddle",),
    "statsmodels": ("statsmodels",), "prophet": ("prophet",), "h2o": ("h2o",), "spacy": ("spacy",),
    "mxnet": ("mxnet",), "gluon": ("mxnet",), "jax": ("jax", "flax"), "flax": ("flax",),
    "pmdarima": ("pmdarima",), "diviner": ("diviner",), "johnsnowlabs": ("johnsnowlabs",),
    "openai": ("openai",), "anthropic": ("anthropic",), "langchain": ("langchain", "langchain_core"),
    "llama_index": ("llama_index",), "dspy": ("dspy",), "crewai": ("crewai",), "autogen": ("autogen",),
    "litellm": ("litellm",), "smolagents": ("smolagents",), "pydantic_ai": ("pydantic_ai",),
}


@dataclass(frozen=True)
class RetrievalRequest:
    """What to retrieve for: the code, the target component, for translation the source component."""

    code: str
    target: str
    source: str | None = None
    instruction: str = ""
    top_k: int = 5
    lookups: tuple[str, ...] = ()  # API names whose docs target-search puts first (wandb.init)


@dataclass
class _Run:
    """What one retrieval did, for the trace."""

    queries: list[dict[str, Any]] = field(default_factory=list)
    llm: list[dict[str, Any]] = field(default_factory=list)
    stores: dict[str, str] = field(default_factory=dict)
    dropped: list[dict[str, str]] = field(default_factory=list)
    imported: set[str] | None = None  # top-level imports of the code; None when it does not parse
    own: set[str] = field(default_factory=set)  # import names of the components themselves


class Strategy(ABC):
    """Template method: :meth:`retrieve` does the common work, subclasses implement :meth:`_retrieve`."""

    name: ClassVar[str] = ""
    needs_source: ClassVar[bool] = True
    needs_llm: ClassVar[bool] = False
    searches_target: ClassVar[bool] = True  # False: the target's docs come from the LLM, not its store

    @classmethod
    def stores_for(cls, target: str, source: str | None = None) -> tuple[str, ...]:
        """The components whose docs stores :meth:`retrieve` searches for this target and source."""
        wanted = ([source] if cls.needs_source and source else []) + ([target] if cls.searches_target else [])
        return tuple(dict.fromkeys(wanted))

    def __init__(self, backend: Backend | None = None, stores_dir: Path | str | None = None,
                 summarizer: Any = None, trace_path: Path | None = None) -> None:
        if self.needs_llm and backend is None:
            raise ConfigError(f"retrieval strategy {self.name!r} needs an LLM backend")
        self.backend = backend
        self.stores_dir = stores_dir
        self.summarizer = summarizer
        self.trace_path = trace_path
        self._run = _Run()

    def retrieve(self, request: RetrievalRequest) -> list[RetrievedDoc]:
        """Docs for ``request``: deduplicated and trimmed per step, summarized if asked, logged, traced."""
        if self.needs_source and not request.source:
            raise ConfigError(f"retrieval strategy {self.name!r} needs a source component (--from)")
        if request.top_k < 1:
            raise ConfigError("top_k must be at least 1")
        own = {n.split(".")[0] for c in (request.target, request.source) if c for n in import_names(c)}
        # Code without imports (or none at all: a bare query) says nothing of its frameworks: no filter.
        self._run = _Run(imported=top_level_imports(request.code) or None, own=own)
        started = time.perf_counter()
        raw = self._retrieve(request)
        docs: list[RetrievedDoc] = []
        per_step: dict[str, int] = {}
        seen: set[tuple[str, str]] = set()
        for doc in raw:
            # One doc per section and step: a looked-up API and a search hit may be two chunks of it.
            ident = (doc.step, section_key(doc))
            if ident in seen or per_step.get(doc.step, 0) >= request.top_k:
                continue
            seen.add(ident)
            per_step[doc.step] = per_step.get(doc.step, 0) + 1
            docs.append(doc)
        if self.summarizer is not None:
            docs = [self._summarized(d) for d in docs]
        elapsed = time.perf_counter() - started
        log.info("%s: %d docs (%s) in %.0f ms", self.name, len(docs),
                 ", ".join(f"{k} {v}" for k, v in per_step.items()), elapsed * 1000)
        write_trace({
            "strategy": self.name,
            "request": to_dict(request),
            "code_sha256": hashlib.sha256(request.code.encode()).hexdigest(),
            "stores": self._run.stores,
            "queries": self._run.queries,
            "llm": self._run.llm,
            "dropped": self._run.dropped,
            "docs": [to_dict(d) for d in docs],
            "elapsed_ms": round(elapsed * 1000, 2),
        }, self.trace_path)
        return docs

    @abstractmethod
    def _retrieve(self, request: RetrievalRequest) -> list[RetrievedDoc]:
        """The strategy itself; may return more than top_k per step."""

    # -- helpers for subclasses ----------------------------------------------------------------------
    def search(self, component: str, queries: list[str], top_k: int, step: str) -> list[RetrievedDoc]:
        """Top-k of ``component``'s store over several queries, merged by best score, a section once."""
        s = searcher(component, self.stores_dir)
        self._run.stores[step] = s.info.key
        best: dict[str, RetrievedDoc] = {}
        for q in queries[:MAX_QUERIES]:
            hits = s.search(q[:MAX_QUERY_CHARS], top_k, step)
            if any(self.foreign_framework(h) for h in hits):
                hits = [h for h in s.search(q[:MAX_QUERY_CHARS], top_k * REFILL, step)
                        if not self._dropped(h)][:top_k]
            self._run.queries.append({"step": step, "store": s.info.key, "query": q[:MAX_QUERY_CHARS],
                                      "hits": [[h.chunk_id, round(h.score, 4)] for h in hits]})
            for h in hits:
                key = section_key(h)  # two queries may each find another chunk of one section
                if key not in best or h.score > best[key].score:
                    best[key] = h
        return sorted(best.values(), key=lambda d: -d.score)[:top_k]

    def foreign_framework(self, doc: RetrievedDoc) -> str:
        """The framework ``doc`` is about when the code does not import it (``pytorch``), else ''."""
        imported = self._run.imported
        if imported is None:
            return ""
        named = [t for t in re.split(r"[^a-z0-9_]+", f"{doc.source} {doc.title}".lower())
                 if t in FRAMEWORKS and t not in self._run.own]
        if not named or any(imported.intersection(FRAMEWORKS[t]) for t in named):
            return ""
        return named[0]

    def _dropped(self, doc: RetrievedDoc) -> bool:
        framework = self.foreign_framework(doc)
        if framework and all(d["chunk_id"] != doc.chunk_id for d in self._run.dropped):
            self._run.dropped.append({"chunk_id": doc.chunk_id, "title": doc.title,
                                      "why": f"about {framework}, which the code does not import"})
        return bool(framework)

    def lookup(self, component: str, names: list[str], step: str) -> list[RetrievedDoc]:
        """The docs of APIs by their exact documented names (names the store lacks are skipped)."""
        s = searcher(component, self.stores_dir)
        self._run.stores[step] = s.info.key
        out = []
        for name in names:
            hits = s.lookup(name, step)
            self._run.queries.append({"step": step, "store": s.info.key, "lookup": name,
                                      "hits": [[h.chunk_id, h.score] for h in hits]})
            out += hits
        return out

    def ask(self, template: str, **fields: str) -> str:
        """One LLM answer to a prompt template (deterministic: temperature 0, seed 0)."""
        assert self.backend is not None
        messages = [Message("system", prompts.SYSTEM), Message("user", template.format(**fields))]
        gen = self.backend.generate(messages, n=1, temperature=0.0, max_tokens=LLM_MAX_TOKENS, seed=0)
        text = gen[0].text.strip()
        self._run.llm.append({"model": self.backend.model, "prompt": messages[-1].content, "answer": text})
        return text

    def docs_x(self, request: RetrievalRequest) -> list[RetrievedDoc]:
        """Docs-X: the source store searched with the parts of the code that use the source component."""
        assert request.source
        return self.search(request.source, source_queries(request.code, request.source), request.top_k, "docs-x")

    def _summarized(self, doc: RetrievedDoc) -> RetrievedDoc:
        if not doc.chunk_id or doc.source.startswith("llm:"):
            return doc
        s = searcher(doc.component + "@" + doc.version, self.stores_dir)
        if s.info.summarize != "lazy":
            return doc
        raw = s.raw(doc.chunk_id)
        if raw is None or raw["metadata"].get("summary"):
            return doc
        meta = raw["metadata"]
        chunk = Chunk(id=doc.chunk_id, text=raw["text"], url=str(meta.get("url", "")),
                      title=str(meta.get("title", "")), component=doc.component, version=doc.version,
                      heading_path=tuple(x for x in str(meta.get("heading_path", "")).split(" > ") if x))
        summary = self.summarizer.summarize(chunk)
        s.set_summary(doc.chunk_id, summary)
        return replace(doc, text=summary)


def _docs_text(docs: list[RetrievedDoc]) -> str:
    return "\n\n".join(f"[{i}] {d.title}\n{d.text}" for i, d in enumerate(docs, 1)) or "(none found)"


@retrievers.register("docs-search")
class DocsSearch(Strategy):
    """Docs-X from the source code, then Docs-Y: Y's store searched with the text of Docs-X."""

    name = "docs-search"

    def _retrieve(self, request: RetrievalRequest) -> list[RetrievedDoc]:
        dx = self.docs_x(request)
        queries = [f"{d.title}\n{d.text}" for d in dx]
        return dx + self.search(request.target, queries, request.top_k, "docs-y")


@retrievers.register("llm-search")
class LLMSearch(Strategy):
    """Docs-X from the source code, then the LLM writes Docs-Y from what it knows of Y."""

    name = "llm-search"
    needs_llm = True
    searches_target = False

    def _retrieve(self, request: RetrievalRequest) -> list[RetrievedDoc]:
        dx = self.docs_x(request)
        text = self.ask(prompts.LLM_SEARCH, source=request.source or "", target=request.target,
                        code=request.code, docs_x=_docs_text(dx))
        assert self.backend is not None
        doc = RetrievedDoc(text=text, score=1.0, source=f"llm:{self.backend.model}", component=request.target,
                           title=f"{request.target} API (written by the LLM)", step="docs-y")
        return [*dx, doc]


@retrievers.register("llm-docs-search")
class LLMDocsSearch(Strategy):
    """Docs-X, then the LLM describes the matching Y functionality, then Y's store is searched with it."""

    name = "llm-docs-search"
    needs_llm = True

    def _retrieve(self, request: RetrievalRequest) -> list[RetrievedDoc]:
        dx = self.docs_x(request)
        description = self.ask(prompts.LLM_DESCRIBE, source=request.source or "", target=request.target,
                               code=request.code, docs_x=_docs_text(dx))
        return dx + self.search(request.target, [description], request.top_k, "docs-y")


@retrievers.register("target-search")
class TargetSearch(Strategy):
    """For inlining: the task instruction, alone and with a sketch of the code, searched in the target store."""

    name = "target-search"
    needs_source = False

    def _retrieve(self, request: RetrievalRequest) -> list[RetrievedDoc]:
        queries = [q for q in (request.instruction, f"{request.instruction}\n{code_sketch(request.code)}") if q.strip()]
        # The APIs the adapter needs and those the instruction names ("prune the model with nncf.prune")
        # come first, looked up by name: in a long instruction a name is one phrase among many, and
        # the signature of the installed version is what the model most needs to see.
        names = list(dict.fromkeys([*request.lookups, *api_names(request.instruction, import_names(request.target))]))
        named = self.lookup(request.target, names[:MAX_NAMED], "docs-target")
        return named + self.search(request.target, queries, request.top_k, "docs-target")


# -- turning code into queries ------------------------------------------------------------------------
def import_names(component: str) -> set[str]:
    """Module names a component is imported as (gitpython -> git)."""
    name = component.partition("@")[0]
    return {name.replace("-", "_"), *import_names_of(name)}


def api_names(text: str, modules: set[str], limit: int = 4) -> list[str]:
    """Dotted names in ``text`` under one of ``modules`` (``nncf.prune``, ``mlflow.sklearn.log_model``)."""
    if not modules:
        return []
    pattern = r"\b(?:" + "|".join(re.escape(m) for m in sorted(modules)) + r")(?:\.[A-Za-z_]\w*)+"
    return list(dict.fromkeys(re.findall(pattern, text)))[:limit]


def source_queries(code: str, component: str) -> list[str]:
    """Snippets of ``code`` that use ``component``: its imports and every line naming what they bind."""
    modules = import_names(component)
    try:
        tree = pyast.parse(code)
    except SyntaxError:
        return [code[:MAX_QUERY_CHARS]]
    bound: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name.split(".")[0] in modules:
                    bound.add((a.asname or a.name).split(".")[0])
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in modules:
            bound.update(a.asname or a.name for a in node.names)
    if not bound:
        return [code[:MAX_QUERY_CHARS]]
    # Names assigned from a use of the component (repo = git.Repo(...)) count as uses too.
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign | ast.With):
            src = ast.unparse(node)
            if any(re.search(rf"\b{re.escape(b)}\b", src) for b in bound):
                targets = node.targets if isinstance(node, ast.Assign) else [i.optional_vars for i in node.items]
                for t in targets:
                    if isinstance(t, ast.Name):
                        bound.add(t.id)
    pattern = re.compile(r"\b(" + "|".join(re.escape(b) for b in sorted(bound)) + r")\b")
    lines = code.splitlines()
    imports = [ln.strip() for ln in lines if ln.lstrip().startswith(("import ", "from ")) and pattern.search(ln)]
    hits = [i for i, ln in enumerate(lines)
            if pattern.search(ln) and not ln.lstrip().startswith(("#", "import ", "from "))]
    # One query per statement: a line of code matches the doc of the one API it calls best.
    uses = list(dict.fromkeys(lines[i].strip() for i in hits))
    if not uses:
        return ["\n".join(imports)[:MAX_QUERY_CHARS]]
    return uses[:MAX_QUERIES]


def code_sketch(code: str, limit: int = 1200) -> str:
    """A short outline of the code: definitions, loops and calls, without comments and blank lines."""
    kept = []
    for line in code.splitlines():
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        if s.startswith(("def ", "class ", "for ", "while ", "with ", "import ", "from ")) or "(" in s:
            kept.append(line.rstrip())
    return "\n".join(kept)[:limit]
