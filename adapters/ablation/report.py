"""``opsgraft ablate --report``: a Markdown report whose LLM paragraph has every number checked.

A number the paragraph quotes is verified when it matches, at the precision it is written with,
a value of ``ablation_results.json`` or one derived from it: a metric (also as a percentage), a
parameter or feature count, a trial's difference from the baseline (absolute, or relative in
percent), or the number of trials. Any other number is marked unverified in the report.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from opsgraft.types import Message

NUMBER = re.compile(r"(?<![\w.])([-+]?\d(?:\d|,(?=\d{3}))*(?:\.\d+)?)(%?)(?![\w])")
MARK = " _(unverified)_"
SYSTEM = "You interpret ablation studies for ML engineers. Be concise and quote numbers exactly as given."
ASK = """\
These are the results of an ablation study: the baseline, and one model per trial with a component \
removed. "metric" is the score (higher is better), "n_params" the number of parameters, "features" \
the columns used.

```json
{results}
```

Write one paragraph (3 to 5 sentences) on which components matter most and what removing each one \
costs, quoting metrics as they appear above."""


def prompt(entries: Sequence[dict[str, Any]]) -> list[Message]:
    """The messages asking for the interpretation."""
    return [Message("system", SYSTEM), Message("user", ASK.format(results=json.dumps(list(entries), indent=1)))]


def known_values(entries: Sequence[dict[str, Any]]) -> list[float]:
    """Every number the paragraph may truthfully quote."""
    values: list[float] = [float(len(entries)), float(max(0, len(entries) - 1))]
    base = next((e for e in entries if e.get("name") == "baseline"), None)
    for e in entries:
        metric = float(e["metric"])
        values += [metric, 100 * metric]
        size = len(e["features"]) if isinstance(e.get("features"), list) else e.get("n_params")
        if isinstance(size, int):
            values.append(float(size))
        if base is not None and e is not base:
            b = float(base["metric"])
            diff = metric - b
            values += [diff, abs(diff), 100 * diff, 100 * abs(diff)]
            if b:
                values += [100 * diff / b, 100 * abs(diff) / b]
            bsize = len(base["features"]) if isinstance(base.get("features"), list) else base.get("n_params")
            if isinstance(size, int) and isinstance(bsize, int):
                values += [float(bsize - size), float(abs(bsize - size))]
                if bsize:
                    values += [100 * (bsize - size) / bsize]
    return values


def _matches(text: str, values: Sequence[float]) -> bool:
    number = float(text.replace(",", ""))
    decimals = len(text.split(".", 1)[1]) if "." in text else 0
    tolerance = 0.5 * 10 ** -decimals + 1e-9
    return any(abs(abs(v) - abs(number)) <= tolerance for v in values)


def verify(paragraph: str, entries: Sequence[dict[str, Any]]) -> tuple[str, list[str], list[str]]:
    """The paragraph with unverified numbers marked, and the verified and unverified numbers."""
    values = known_values(entries)
    ok: list[str] = []
    bad: list[str] = []

    def mark(m: re.Match[str]) -> str:
        quoted = m.group(0)
        if _matches(m.group(1), values):
            ok.append(quoted)
            return quoted
        bad.append(quoted)
        return f"{quoted}{MARK}"

    return NUMBER.sub(mark, paragraph), ok, bad


def render(entries: Sequence[dict[str, Any]], failed: dict[str, str], paragraph: str, plots: Sequence[Path],
           passed: bool) -> tuple[str, list[str]]:
    """The report's Markdown and the unverified numbers of its paragraph."""
    base = next((e for e in entries if e.get("name") == "baseline"), None)
    size_col = "features" if any("features" in e for e in entries) else "parameters"
    lines = ["# Ablation study", "", f"Checked by the `ablation` checker: **{'passed' if passed else 'failed'}**.", "",
             f"| trial | {size_col} | metric | vs baseline |", "|---|---:|---:|---:|"]
    for e in entries:
        size = len(e["features"]) if "features" in e else e.get("n_params", "")
        delta = f"{e['metric'] - base['metric']:+.4f}" if base is not None and e is not base else ""
        lines.append(f"| {e['name']} | {size} | {e['metric']:.4f} | {delta} |")
    for name, reason in failed.items():
        lines.append(f"| {name} | | failed: {reason[:80]} | |")
    lines += [""] + [f"![{p.stem}]({p.name})" for p in plots]
    marked, _, bad = verify(paragraph.strip(), entries)
    lines += ["", "## Interpretation (written by the model; numbers checked against ablation_results.json)", "",
              marked, ""]
    if bad:
        lines += [f"Unverified numbers: {', '.join(bad)}.", ""]
    return "\n".join(lines), bad
