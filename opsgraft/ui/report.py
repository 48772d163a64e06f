"""The grid report: an LLM writes Markdown from the recorded numbers; every number it writes is checked.

Grounding: each number in the LLM's text must match a recorded value (a parameter, any metric
value of any step, a gap between two final metrics of one run, the run count or a run's number),
as written (rounding tolerance of half a unit in its last digit) or as a percentage of it. An
unmatched number gets `` **(unverified)**`` after it. Plots (matplotlib, Agg) and the .md go to the
grid's folder. Markdown becomes HTML with raw HTML escaped (markdown-it, ``html: False``).
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from opsgraft.ui import report_prompts
from opsgraft.ui.grid import is_step_name
from opsgraft.ui.grid_run import GridResult, PointResult
from opsgraft.ui.security import safe_name

log = logging.getLogger(__name__)

UNVERIFIED = " **(unverified)**"
_NUM = re.compile(r"(?<![\w.])(-?\d+(?:\.(\d+))?(?:[eE]([-+]?\d+))?)(%?)(?![\w])")
_LIST_MARKER = re.compile(r"^\s*\d+[.)]\s")
_LOWER_BETTER = ("loss", "error", "err", "mse", "mae", "rmse", "perplexity", "ppl")
_HIGHER_FIRST = ("val_acc", "val_accuracy", "accuracy", "acc", "f1", "auc", "r2", "score")
MAX_CURVE_PLOTS = 4


@dataclass
class Grounded:
    """The LLM's text with unmatched numbers marked, and the verdict on each number."""

    text: str
    checked: list[tuple[str, bool]] = field(default_factory=list)

    @property
    def unverified(self) -> list[str]:
        """The numbers no recorded value backs."""
        return [n for n, ok in self.checked if not ok]


@dataclass
class Report:
    """A written report: its Markdown (grounded), the file, the plots and the checked numbers."""

    markdown: str
    path: Path
    plots: list[Path]
    grounded: Grounded
    error: str = ""


def lower_is_better(metric: str) -> bool:
    """True for loss-like names."""
    name = metric.lower()
    return any(key in name for key in _LOWER_BETTER)


def primary_metric(points: list[PointResult]) -> str:
    """The metric to rank runs by: a validation score first, then any score, then a loss."""
    names: list[str] = []
    for p in points:
        names += [k for k in p.metrics if k not in names]
    names = [n for n in names if not is_step_name(n)]  # parse_printed leaves them out; older results.json may not
    if not names:
        return ""
    for key in _HIGHER_FIRST:
        for n in names:
            if key in n.lower() and ("val" in n.lower() or "test" in n.lower() or key.startswith("val")):
                return n
    for key in _HIGHER_FIRST:
        for n in names:
            if key in n.lower():
                return n
    for n in names:
        if lower_is_better(n) and ("val" in n.lower() or "test" in n.lower()):
            return n
    return names[0]


def best_point(points: list[PointResult], metric: str) -> PointResult | None:
    """The run with the best final ``metric`` (among runs that printed it)."""
    scored = [p for p in points if metric in p.final()]
    if not scored:
        return None
    key = (lambda p: p.final()[metric]) if lower_is_better(metric) else (lambda p: -p.final()[metric])
    return min(scored, key=key)


def recorded_values(grid: GridResult) -> list[float]:
    """Every number a report may cite: params, metric values, same-run final gaps, counts and run numbers."""
    values: list[float] = [float(len(grid.points)), *range(1, len(grid.points) + 1)]

    def numbers(value: Any) -> Iterable[float]:
        if isinstance(value, bool):
            return
        if isinstance(value, int | float):
            yield float(value)
        elif isinstance(value, list):
            for item in value:
                yield from numbers(item)

    for point in grid.points:
        for v in point.config.values():
            values += list(numbers(v))
        for name, history in point.metrics.items():
            values += history
            values += point.xs(name)  # "best at epoch 3"
            values.append(float(len(history)))
        finals = list(point.final().values())
        values += [abs(a - b) for i, a in enumerate(finals) for b in finals[i + 1:]]
        values.append(point.wall_s)
    return [v for v in values if math.isfinite(v)]


def _matches(token: str, decimals: str | None, exponent: str | None, percent: bool, values: list[float]) -> bool:
    x = abs(float(token))
    d = len(decimals or "")
    tol = 0.5 * 10.0 ** (-d + (int(exponent) if exponent else 0))
    candidates = [(x, tol)]
    if percent:
        candidates = [(x / 100.0, tol / 100.0), (x, tol)]
    for target, t in candidates:
        for v in values:
            v = abs(v)
            if d == 0 and not exponent and not float(v).is_integer() and v < 10 and not percent:
                continue  # "1" is no rounding of 0.93: whole numbers below 10 must be exact
            if abs(v - target) <= t * (1 + 1e-9) + 1e-12:
                return True
    return False


def ground(text: str, values: list[float]) -> Grounded:
    """``text`` with `` **(unverified)**`` after each number that matches none of ``values``."""
    out_lines, checked = [], []
    for line in text.splitlines(keepends=True):
        skip_to = 0
        marker = _LIST_MARKER.match(line)
        if marker:
            skip_to = marker.end()
        pieces, last = [], 0
        for m in _NUM.finditer(line):
            if m.start() < skip_to:
                continue
            token, decimals, exponent, percent = m.group(1), m.group(2), m.group(3), m.group(4)
            ok = _matches(token, decimals, exponent, bool(percent), values)
            checked.append((m.group(0), ok))
            if not ok:
                pieces += [line[last:m.end()], UNVERIFIED]
                last = m.end()
        pieces.append(line[last:])
        out_lines.append("".join(pieces))
    return Grounded("".join(out_lines), checked)


def markdown_to_html(text: str) -> str:
    """Markdown as HTML, raw HTML escaped and unsafe links refused; (unverified) marks get a class."""
    from markdown_it import MarkdownIt

    html = MarkdownIt("commonmark", {"html": False}).enable("table").render(text)
    return html.replace("<strong>(unverified)</strong>", '<strong class="unverified">(unverified)</strong>')


def _fmt(value: Any) -> str:
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def overfitting_note(grid: GridResult) -> str:
    """The tool's own overfitting section when the runs hold no evidence either way ('' when they do)."""
    names = {n.lower() for p in grid.points for n in p.metrics}
    curves = any(len(h) > 1 for p in grid.points for h in p.metrics.values())
    pair = any(n.startswith(("val", "test")) for n in names) and any(n.startswith("train") for n in names)
    return "" if curves or pair or not grid.points else report_prompts.NO_OVERFITTING_EVIDENCE


def _insert_section(text: str, section: str, before: str = "## Next experiments") -> str:
    """``section`` in place of the model's section of the same title, else before ``before``, else at the end."""
    title = section.splitlines()[0]
    at = text.find(title)
    if at >= 0:  # the model wrote one anyway: the tool's replaces it
        end = text.find("\n## ", at + len(title))
        return f"{text[:at]}{section}" + (f"\n{text[end:]}" if end >= 0 else "")
    at = text.find(before)
    return f"{text[:at]}{section}\n\n{text[at:]}" if at >= 0 else f"{text}\n\n{section}"


def build_prompt(grid: GridResult) -> tuple[str, str, str]:
    """(system, user, primary metric) for the grid's report."""
    points = grid.points
    primary = primary_metric(points)
    metric_names: list[str] = []
    for p in points:
        metric_names += [k for k in p.metrics if k not in metric_names]
    shown = (grid.varied or list(points[0].config)) if points else []
    head = ["run", *shown, "status", *metric_names]
    rows = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for p in points:
        final = p.final()
        cells = [str(p.index + 1), *(_fmt(p.config.get(k)) for k in shown), p.status,
                 *(_fmt(final[m]) if m in final else "-" for m in metric_names)]
        rows.append("| " + " | ".join(cells) + " |")
    curves = []
    for p in points:
        for name, hist in p.metrics.items():
            if len(hist) > 1:
                sign = 1.0 if lower_is_better(name) else -1.0
                best_i = min(range(len(hist)), key=lambda i: sign * hist[i])  # noqa: B023  (used at once)
                curves.append(f"- run {p.index + 1} {name}: first {_fmt(hist[0])}, best {_fmt(hist[best_i])} at "
                              f"{p.step_name or 'step'} {_fmt(p.xs(name)[best_i])}, last {_fmt(hist[-1])} "
                              f"({len(hist)} steps)")
    best = best_point(points, primary) if primary else None
    best_text = "none (no run printed the metric)"
    if best is not None:
        setting = ", ".join(f"{k}={_fmt(best.config[k])}" for k in shown)
        top = best.final()[primary]
        best_text = f"run {best.index + 1} ({setting}): {primary} {_fmt(top)}"
        # a real grid on a small data set: 3 of 4 runs at 0.965, and the model called run 2 "the best"
        tied = [p.index + 1 for p in points if p is not best and p.final().get(primary) == top]
        if tied:
            runs = [str(i) for i in [best.index + 1, *tied]]
            best_text = f"runs {', '.join(runs[:-1])} and {runs[-1]} tie at {primary} {_fmt(top)} (no single best)"
    user = report_prompts.USER.format(
        script=grid.script, n_points=len(points), varied=", ".join(grid.varied) or "none",
        primary=primary or "none", direction="lower" if lower_is_better(primary) else "higher",
        runs_table="\n".join(rows), curves="\n".join(curves) or "(no metric printed more than once)", best=best_text,
        overfitting="" if overfitting_note(grid) else report_prompts.OVERFITTING_SECTION)
    return report_prompts.SYSTEM, user, primary


def plot(grid: GridResult, primary: str) -> list[Path]:
    """PNG plots in the grid's folder: final ``primary`` vs each numeric varied parameter, and curves."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    written: list[Path] = []
    points = [p for p in grid.points if p.metrics]
    if primary:
        for name in grid.varied:
            xs = [p.config.get(name) for p in points]
            if not all(isinstance(x, int | float) and not isinstance(x, bool) for x in xs):
                continue
            others = [k for k in grid.varied if k != name]
            groups: dict[str, list[PointResult]] = {}
            for p in points:
                groups.setdefault(", ".join(f"{k}={_fmt(p.config[k])}" for k in others) or primary, []).append(p)
            fig, ax = plt.subplots(figsize=(5.5, 3.6))
            for label, members in groups.items():
                members = sorted((m for m in members if primary in m.final()), key=lambda m: m.config[name])
                ax.plot([m.config[name] for m in members], [m.final()[primary] for m in members], "o-", label=label)
            positive = [x for x in xs if isinstance(x, int | float) and x > 0]
            if len(positive) == len(xs) and positive and max(positive) / min(positive) >= 100:
                ax.set_xscale("log")
            ax.set_xlabel(name)
            ax.set_ylabel(f"final {primary}")
            ax.set_title(f"{primary} vs {name}")
            ax.legend(fontsize=7)
            fig.tight_layout()
            path = grid.out_dir / f"{safe_name(primary)}_vs_{safe_name(name)}.png"
            fig.savefig(path, dpi=90)
            plt.close(fig)
            written.append(path)
    curve_names: list[str] = []
    for p in points:
        curve_names += [k for k, v in p.metrics.items() if len(v) > 1 and k not in curve_names
                        and not is_step_name(k)]
    axes = {p.step_name for p in points}
    x_label = axes.pop() if len(axes) == 1 and "" not in axes else "step (printed line)"
    for name in curve_names[:MAX_CURVE_PLOTS]:
        fig, ax = plt.subplots(figsize=(5.5, 3.6))
        for p in points:
            if len(p.metrics.get(name, [])) > 1:
                label = ", ".join(f"{k}={_fmt(p.config[k])}" for k in grid.varied) or f"run {p.index + 1}"
                ax.plot(p.xs(name), p.metrics[name], marker=".", label=label)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel(x_label)
        ax.set_ylabel(name)
        ax.set_title(f"{name} curves")
        ax.legend(fontsize=7)
        fig.tight_layout()
        path = grid.out_dir / f"curve_{safe_name(name)}.png"
        fig.savefig(path, dpi=90)
        plt.close(fig)
        written.append(path)
    return written


def write_report(grid: GridResult, backend: Any, max_tokens: int = 900) -> Report:
    """Ask ``backend`` for the report, ground it, plot, and write ``report.md`` in the grid's folder.

    A backend that fails leaves a report saying so (the runs are recorded anyway).
    """
    from opsgraft.errors import OpsgraftError
    from opsgraft.types import Message

    system, user, primary = build_prompt(grid)
    plots = plot(grid, primary)
    error = ""
    try:
        answer = backend.generate([Message("system", system), Message("user", user)], n=1, temperature=0.2,
                                  max_tokens=max_tokens, seed=0)[0].text
    except OpsgraftError as exc:
        error = " ".join(str(exc).split())
        answer = f"_The LLM report could not be written: {error}_"
    grounded = ground(answer.strip(), recorded_values(grid))
    note = overfitting_note(grid)
    if note and not error:
        grounded.text = _insert_section(grounded.text, note)
    images = "\n".join(f"![{p.stem}]({p.name})" for p in plots)
    markdown = f"# Grid report: {grid.script}\n\n{grounded.text}\n\n## Plots\n\n{images}\n"
    path = grid.out_dir / "report.md"
    path.write_text(markdown, encoding="utf-8")
    (grid.out_dir / "report_prompt.md").write_text(f"{system}\n\n---\n\n{user}", encoding="utf-8")
    if grounded.unverified:
        log.info("report numbers not found in the records: %s", ", ".join(grounded.unverified))
    return Report(grounded.text, path, plots, grounded, error)
