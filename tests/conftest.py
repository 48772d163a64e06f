"""Shared fixtures: hermetic caches, the offline environment, backends and a tmp training script."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from opsgraft import config

# The real model stays where setup put it; every cache the tests write goes to a tmp dir.
os.environ.setdefault("OPSGRAFT_MODEL", str(config.model_path()))
config.apply_offline_env()

SKLEARN_SCRIPT = '''\
"""Train a ridge regressor on the diabetes data over a few alphas."""
from sklearn.datasets import load_diabetes
from sklearn.linear_model import Ridge
from sklearn.metrics import r2_score
from sklearn.model_selection import train_test_split


def main():
    X, y = load_diabetes(return_X_y=True)
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.25, random_state=0)
    for epoch, alpha in enumerate([0.01, 0.1, 1.0]):
        model = Ridge(alpha=alpha).fit(X_tr, y_tr)
        print(f"epoch {epoch} alpha {alpha} r2 {r2_score(y_te, model.predict(X_te)):.3f}")


if __name__ == "__main__":
    main()
'''


@pytest.fixture(autouse=True)
def _hermetic_caches(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path_factory.mktemp("opsgraft-cache")
    monkeypatch.setenv("OPSGRAFT_CACHE", str(cache))
    monkeypatch.setenv("OPSGRAFT_STORES", str(cache / "stores"))


@pytest.fixture
def sklearn_script(tmp_path: Path) -> Path:
    """A small real training script in its own folder."""
    path = tmp_path / "train.py"
    path.write_text(SKLEARN_SCRIPT)
    return path


@pytest.fixture
def scripted():
    """Factory for a ScriptedBackend with the given answers."""
    from opsgraft.llm.scripted import ScriptedBackend

    return ScriptedBackend


def model_available() -> bool:
    """True when the embedded model was assembled by setup."""
    return config.model_path().is_file()


def run_cli(args: list[str]) -> tuple[int, str, str]:
    """Run the opsgraft entry point in-process; returns (exit code, stdout, stderr)."""
    import contextlib
    import io

    from opsgraft.cli import main

    out, err = io.StringIO(), io.StringIO()
    code = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(args)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
    return code, out.getvalue(), err.getvalue()


def make_cassette(path: Path, script: Path, add: str, answers: list[str], *, n: int | None = None,
                  temperature: float = 0.2, max_tokens: int = 2048, seed: int = 0,
                  model: str = config.MODEL_NAME) -> Path:
    """A cassette answering the first prompt `opsgraft adapt script --add add` sends."""
    from opsgraft.adapters.specs import get_adapter
    from opsgraft.adapters.workflow import Workflow

    spec = get_adapter(add)
    flow = Workflow(spec=spec, script=script, source=script.read_text())
    return cassette_for_flow(path, flow, answers, temperature=temperature, max_tokens=max_tokens, seed=seed,
                             model=model)


def cassette_for_flow(path: Path, flow, answers: list[str], *, temperature: float = 0.2, max_tokens: int = 2048,
                      seed: int = 0, model: str = config.MODEL_NAME) -> Path:
    """A cassette answering the first prompt of ``flow`` (docs must already be retrieved for rag)."""
    from opsgraft.llm.base import sample_params
    from opsgraft.llm.replay import append_entries, cassette_entry
    from opsgraft.types import Generation

    messages = flow.build_prompt(flow.source).messages
    params = sample_params(temperature, max_tokens, seed)
    entries = [cassette_entry(model, messages, params, i, Generation(text=a, index=i, model=model))
               for i, a in enumerate(answers)]
    append_entries(path, entries)
    return path
