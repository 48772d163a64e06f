"""Run one ablation trial: ``python _opsgraft_trial.py`` beside ``_opsgraft_trial.json``.

Written by ``opsgraft ablate`` into each trial's sandbox; it imports nothing of opsgraft, so a
trial can be rerun by hand. It seeds ``random``, NumPy and torch, counts the parameters of the
first optimizer the program creates, removes feature columns where the data enters the program
(``pandas.read_csv``, scikit-learn's ``load_*``/``fetch_*`` frames), runs the script as
``__main__`` and reads the metric from what it printed. It writes ``trial_result.json``.
"""

from __future__ import annotations

import io
import json
import random
import re
import runpy
import sys
from typing import Any

CONFIG = "_opsgraft_trial.json"
RESULT = "trial_result.json"
NUMBER = r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?"


class Tee(io.TextIOBase):
    """Write to the real stdout and keep a copy."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.copy = inner, io.StringIO()

    def write(self, text: str) -> int:
        self.copy.write(text)
        return int(self.inner.write(text))

    def flush(self) -> None:
        self.inner.flush()


def seed_all(seed: int, torch_too: bool) -> None:
    random.seed(seed)
    try:
        import numpy

        numpy.random.seed(seed)
    except ImportError:
        pass
    if torch_too:
        import torch

        torch.manual_seed(seed)


def count_optimizer_params(state: dict[str, Any]) -> None:
    """Record the parameter count of the first optimizer created (what the trial trains)."""
    import torch

    original = torch.optim.Optimizer.__init__

    def init(self: Any, params: Any, *args: Any, **kwargs: Any) -> None:
        original(self, params, *args, **kwargs)
        if "n_params" not in state:
            seen = {id(p): p for group in self.param_groups for p in group["params"]}
            state["n_params"] = int(sum(p.numel() for p in seen.values()))

    torch.optim.Optimizer.__init__ = init  # type: ignore[method-assign]


def _drop(frame: Any, state: dict[str, Any]) -> Any:
    """``frame`` without the trial's columns; remembers the columns of the frame the study is about."""
    columns = [str(c) for c in getattr(frame, "columns", [])]
    if not columns:
        return frame
    drop, watch = state["drop"], state["watch"]
    state.setdefault("frames", []).append(columns[:30])
    if watch and not set(watch) <= set(columns):
        return frame
    kept = [c for c in columns if c not in drop]
    state.setdefault("features", kept)
    if drop:
        state["dropped"] = True
        return frame.drop(columns=[c for c in columns if c in drop])
    return frame


def drop_columns(state: dict[str, Any]) -> None:
    """Wrap the places data frames come from so that the trial's columns never reach the program."""
    import pandas

    read_csv = pandas.read_csv
    pandas.read_csv = lambda *a, **k: _drop(read_csv(*a, **k), state)  # type: ignore[assignment]
    try:
        import sklearn.datasets as datasets
    except ImportError:
        return
    for name in dir(datasets):
        if name.startswith(("load_", "fetch_")):
            setattr(datasets, name, _wrap_loader(getattr(datasets, name), state))


def _wrap_loader(loader: Any, state: dict[str, Any]) -> Any:
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        out = loader(*args, **kwargs)
        if isinstance(out, tuple) and out:
            return (_drop(out[0], state), *out[1:])
        data = getattr(out, "data", None)
        if hasattr(data, "columns"):
            out.data = _drop(data, state)
            out.feature_names = list(out.data.columns)
        return out

    return wrapped


def metric_from(text: str, pattern: str | None) -> tuple[float | None, str]:
    """The metric and the line it came from: ``pattern``'s first group on the last line it matches,
    else the first number of the last printed line that has one."""
    for line in reversed([ln for ln in text.splitlines() if ln.strip()]):
        if pattern:
            found = re.search(pattern, line)
            if found:
                return float(found.group(1) if found.groups() else found.group(0)), line.strip()
            continue
        numbers = re.findall(NUMBER, line.split(":", 1)[-1])
        if numbers:
            return float(numbers[0]), line.strip()
    return None, ""


def main() -> int:
    with open(CONFIG, encoding="utf-8") as fh:
        config = json.load(fh)
    state: dict[str, Any] = {"drop": list(config.get("drop", [])), "watch": list(config.get("watch", []))}
    seed_all(int(config.get("seed", 0)), bool(config.get("torch")))
    if config.get("torch"):
        count_optimizer_params(state)
    if config.get("mode") == "features":
        drop_columns(state)
    tee = Tee(sys.stdout)
    sys.stdout = tee
    try:
        sys.argv = [config["script"]]
        runpy.run_path(config["script"], run_name="__main__")
    except SystemExit as exc:
        if exc.code not in (None, 0):
            raise
    finally:
        sys.stdout = tee.inner
        sys.stdout.flush()
    result: dict[str, Any] = {"name": config["name"]}
    metric, line = metric_from(tee.copy.getvalue(), config.get("metric_pattern"))
    if metric is None:
        print("opsgraft ablate: the trial printed no metric (no number on any output line)", file=sys.stderr)
        return 3
    result.update(metric=metric, metric_line=line)
    if config.get("mode") == "features":
        if state["drop"] and not state.get("dropped"):
            print(f"opsgraft ablate: columns {state['drop']} were not in any data frame the program loaded "
                  f"(frames seen: {state.get('frames', [])[:3]})", file=sys.stderr)
            return 3
        if "features" not in state:
            print("opsgraft ablate: the program loaded no data frame with the study's columns", file=sys.stderr)
            return 3
        result["features"] = state["features"]
    elif "n_params" in state:
        result["n_params"] = state["n_params"]
    with open(RESULT, "w", encoding="utf-8") as fh:
        json.dump(result, fh)
    return 0


if __name__ == "__main__":
    sys.exit(main())
