"""The report's figures as PNG bytes (matplotlib, Agg backend, imported only here and only when drawing)."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import Any

Series = Mapping[int, Sequence[float | None]]


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    # A fixed Software tag keeps the bytes of an unchanged report identical from one render to the next.
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight", metadata={"Software": "opsgraft"})
    _pyplot().close(fig)
    return buf.getvalue()


def functionality_png(data: Mapping[str, Mapping[str, Mapping[int, Mapping[str, float | None]]]]) -> bytes:
    """Grouped bars: one panel per (k, model), x = functionality, one bar per mode · temperature.

    Args:
        data: model -> cell label -> k -> functionality -> pass@k in [0, 1] (None: not enough samples).
    """
    plt = _pyplot()
    models = list(data)
    ks = sorted({k for cells in data.values() for per_k in cells.values() for k in per_k})
    functionalities = sorted({f for cells in data.values() for per_k in cells.values()
                              for values in per_k.values() for f in values})
    fig, axes = plt.subplots(len(ks), len(models), figsize=(max(5.0, 1.1 * len(functionalities) + 2) * len(models),
                                                               3.2 * len(ks)), squeeze=False)
    for row, k in enumerate(ks):
        for col, model in enumerate(models):
            ax = axes[row][col]
            cells = list(data[model])
            width = 0.8 / max(1, len(cells))
            for i, label in enumerate(cells):
                values = data[model][label].get(k, {})
                # No bar where the cell has no number (not run, or fewer than k samples); a measured 0 gets
                # a "0" so that the two do not look alike.
                points = [(j + (i - (len(cells) - 1) / 2) * width, 100 * v)
                          for j, f in enumerate(functionalities) if (v := values.get(f)) is not None]
                bars = ax.bar([p[0] for p in points], [p[1] for p in points], width=width, label=label)
                for (x, h), _bar in zip(points, bars, strict=True):
                    if h == 0:
                        ax.text(x, 1, "0", ha="center", va="bottom", fontsize=7)
            ax.set_xticks(range(len(functionalities)))
            ax.set_xlim(-0.5, len(functionalities) - 0.5)  # the same slots in every panel, bars or not
            ax.set_xticklabels(functionalities, rotation=20, ha="right", fontsize=8)
            ax.set_ylim(0, 105)
            ax.set_ylabel(f"pass@{k} (%)")
            ax.set_title(f"{model}: pass@{k}", fontsize=10)
            ax.grid(axis="y", alpha=0.3)
            if row == 0:
                ax.legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    return _png(fig)


def repair_png(data: Mapping[str, Series]) -> bytes:
    """Lines: one panel per k, x = repair round, one line per cell (model · mode · temperature).

    Args:
        data: cell name -> k -> pass@k per round in [0, 1] (None: not enough samples).
    """
    plt = _pyplot()
    ks = sorted({k for series in data.values() for k in series})
    fig, axes = plt.subplots(1, len(ks), figsize=(5.5 * len(ks), 3.6 + 0.25 * len(data)), squeeze=False)
    for col, k in enumerate(ks):
        ax = axes[0][col]
        for name, series in data.items():
            points = [(r, 100 * v) for r, v in enumerate(series.get(k, [])) if v is not None]
            if points:
                ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=name)
        rounds = max((len(s.get(k, [])) for s in data.values()), default=1)
        ax.set_xticks(range(rounds))
        ax.set_xlabel("repair round (0 = first answer)")
        ax.set_ylabel(f"pass@{k} (%)")
        ax.set_ylim(0, 105)
        ax.set_title(f"pass@{k} by repair round", fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2)
    fig.tight_layout()
    return _png(fig)
