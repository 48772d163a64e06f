"""Plots of a finished study: metric and parameter count (or feature count) per trial vs the baseline."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any


def _bars(entries: Sequence[dict[str, Any]], key: str, label: str, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [str(e["name"]) for e in entries]
    values = [float(len(e[key])) if isinstance(e.get(key), list) else float(e.get(key) or 0) for e in entries]
    colors = ["#555555" if n == "baseline" else "#3b75af" for n in names]
    fig, ax = plt.subplots(figsize=(max(4.0, 1.2 * len(names)), 3.2))
    ax.bar(range(len(names)), values, color=colors)
    if "baseline" in names:
        ax.axhline(values[names.index("baseline")], color="#c44e52", linestyle="--", linewidth=1, label="baseline")
        ax.legend(loc="best", fontsize=8)
    if key == "metric" and values:
        # metrics of an ablation differ by a few points: zoom in, and write each value on its bar
        low, high = min(values), max(values)
        pad = max(0.15 * (high - low), 0.01 * max(abs(high), 1e-9))
        ax.set_ylim(low - pad, high + pad)
        for x, v in enumerate(values):
            ax.annotate(f"{v:.4g}", (x, v), ha="center", va="bottom", fontsize=7)
    ax.set_xticks(range(len(names)), names, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel(label)
    ax.set_title(f"{label} per trial")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def write_plots(entries: Sequence[dict[str, Any]], directory: Path, mode: str) -> list[Path]:
    """``ablation_metric.png`` and ``ablation_params.png`` (or ``ablation_features.png``)."""
    if not entries:
        return []
    out = [_bars(entries, "metric", "metric", directory / "ablation_metric.png")]
    if mode == "features":
        out.append(_bars(entries, "features", "number of features", directory / "ablation_features.png"))
    elif any("n_params" in e for e in entries):
        out.append(_bars(entries, "n_params", "parameters", directory / "ablation_params.png"))
    return out
