"""`opsgraft report`: every number checked against an independent pass@k (math.comb) over hand-written records."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from math import comb
from pathlib import Path

import pytest

from opsgraft.evaluation.benchmark import report
from opsgraft.evaluation.benchmark.tables import Link, Table
from tests.conftest import run_cli
from tests.evaluation.report_runs import EXPECTED, TASKS, TOKENS, WALL, make_run

Key = tuple[str, str, float, str]


def oracle(n: int, c: int, k: int) -> float:
    return 1 - comb(n - c, k) / comb(n, k)


def expected(keys: list[Key], k: int, by_round: int | None = None) -> str:
    values = []
    for key in keys:
        samples = EXPECTED[key]
        c = sum(p is not None and (by_round is None or p <= by_round) for p in samples)
        if len(samples) >= k:
            values.append(oracle(len(samples), c, k))
    return "—" if not values else f"{100 * sum(values) / len(values):.1f}"


def keys(model: str, mode: str, temp: float, split: str = "all", tasks: tuple[str, ...] | None = None) -> list[Key]:
    return [key for key in EXPECTED if key[:3] == (model, mode, temp)
            and (split == "all" or TASKS[key[3]]["split"] == split) and (tasks is None or key[3] in tasks)]


def pair(ks: list[Key], by_round: int | None = None) -> str:
    return f"{expected(ks, 1, by_round)} / {expected(ks, 3, by_round)}"


@pytest.fixture()
def built(tmp_path: Path) -> report.Report:
    return report.build(make_run(tmp_path / "run"))


def table(rep: report.Report, key: str) -> Table:
    return next(t for t in rep.tables if t.key == key)


def column(t: Table, row: list, name: str) -> object:
    return row[t.columns.index(name)]


CELLS = sorted({key[:3] for key in EXPECTED})


def test_the_oracle_is_not_the_shipped_estimator() -> None:
    # Spot values, so that the oracle itself is pinned: 3 samples, 1 passing -> pass@1 1/3, pass@3 1.
    assert oracle(3, 1, 1) == pytest.approx(1 / 3) and oracle(3, 1, 3) == 1.0 and oracle(3, 0, 3) == 0.0


def test_split_table_matches_math_comb(built: report.Report) -> None:
    t = table(built, "splits")
    assert len(t.rows) == len(CELLS)
    for row in t.rows:
        model, mode, temp = row[0], row[1], float(str(row[2]))
        cell = next(c for c in CELLS if c[0] == model and c[1] == mode and c[2] == temp)
        for k in (1, 3):
            for split in ("all", "tune", "heldout"):
                assert column(t, row, f"pass@{k} {split}") == expected(keys(*cell, split), k), (cell, k, split)
        assert column(t, row, "tasks") == str(len(keys(*cell)))
        assert column(t, row, "samples") == str(sum(len(EXPECTED[key]) for key in keys(*cell)))


def test_unfinished_and_torn_samples_do_not_count(built: report.Report) -> None:
    # small|zero-shot|0.2 on hpo-c: two finished samples (one passed); the third is unfinished and the
    # torn line that would have finished it as passed is dropped. So pass@1 = 1/2 and pass@3 is undefined.
    t = table(built, "tasks")
    row = next(r for r in t.rows if r[0] == "hpo-c" and str(r[2]).startswith("small"))
    assert row[3:7] == ["2", "1", "50.0", "—"]
    whole_lines = (built.run_dir / "records.jsonl").read_text().count("\n")  # the torn piece has none
    assert ("Samples", f"{sum(map(len, EXPECTED.values()))} finished samples ({whole_lines} records); "
                       "ignored: 1 unfinished sample(s)") in built.facts


def test_paper_layout_rows_and_columns(built: report.Report) -> None:
    t = table(built, "layout-inline")
    assert t.columns[:2] == ["Component / framework", "Model"]
    assert {"T=0.2 zero-shot", "T=0.2 rag", "T=1 rag"} <= set(t.columns)
    rows = {(r[0] or prev, r[1]): r for r, prev in _with_labels(t.rows)}
    both = ("tracking-a", "tracking-b")
    big_all = rows[("tracking: mlflow (all)", "big")]
    assert column(t, big_all, "T=0.2 zero-shot") == pair(keys("big", "zero-shot", 0.2, tasks=both))
    assert column(t, big_all, "T=0.2 rag") == pair(keys("big", "rag", 0.2, tasks=both))
    assert column(t, big_all, "T=1 rag") == pair(keys("big", "rag", 1.0, tasks=both))
    assert "GPT-3.5-turbo 100%" in str(t.rows[t.rows.index(big_all)][-1])
    assert ("tracking: mlflow / keras", "big") in rows
    assert ("tracking: mlflow / keras", "small") not in rows  # small never ran tracking-b: no empty row
    sklearn_small = rows[("tracking: mlflow / sklearn", "small")]
    assert column(t, sklearn_small, "T=0.2 zero-shot") == pair(keys("small", "zero-shot", 0.2, tasks=("tracking-a",)))
    assert column(t, sklearn_small, "T=0.2 rag") == ""  # small ran no rag cell
    hpo_small = rows[("hpo: optuna / keras", "small")]
    assert column(t, hpo_small, "T=0.2 zero-shot") == pair(keys("small", "zero-shot", 0.2, tasks=("hpo-c",)))
    assert "WizardCoder-15B 0%" in str(rows[("pruning: nncf / pytorch", "big")][-1])
    translate = table(built, "layout-translate")
    row = next(r for r in translate.rows if r[1] == "big")
    assert row[0] == "→dvc / none"
    assert column(translate, row, "T=0.2 docs-search") == pair(keys("big", "docs-search", 0.2))


def _with_labels(rows: list[list]) -> list[tuple[list, str]]:
    out, label = [], ""
    for row in rows:
        label = row[0] or label
        out.append((row, label))
    return out


def test_repair_rounds(built: report.Report) -> None:
    t = table(built, "repair")
    assert t.columns == ["Cell", "round 0", "round 1", "round 2"]
    for row in t.rows:
        model, mode, temp = (part.strip() for part in str(row[0]).split("·"))
        cell = (model, {"DocPrompt": "docprompt"}.get(mode, mode), float(temp.removeprefix("T=")))
        for r in range(3):
            assert row[1 + r] == pair(keys(*cell), by_round=r), (cell, r)
    # Repair matters here: big|zero-shot|0.2 passes more by round 2 than at round 0.
    big = next(r for r in t.rows if str(r[0]) == "big · zero-shot · T=0.2")
    assert big[1] != big[3]


def test_per_task_failure_reason_best_diff_and_preserved(built: report.Report) -> None:
    t = table(built, "tasks")
    hpo = next(r for r in t.rows if r[0] == "hpo-c" and r[2] == "big · zero-shot · T=0.2")
    assert column(t, hpo, "Most common failure") == "no Optuna study was created (3/3)"
    assert column(t, hpo, "Best passing diff") == ""
    pruning = next(r for r in t.rows if r[0] == "pruning-d")
    link = column(t, pruning, "Best passing diff")
    # Sample 0 kept the original (preserved=true), so it wins over sample 1 (also round 0, not preserved).
    assert isinstance(link, Link) and link.href == "code/big_zero-shot_0.2/pruning-d/s0r0.diff"
    assert (built.run_dir / link.href).is_file()
    translate = next(r for r in t.rows if r[0] == "translate-e")
    link = column(t, translate, "Best passing diff")
    assert isinstance(link, Link) and link.text == "s2 r0"  # fewest repair rounds among the passing
    splits = table(built, "splits")
    preserved = {(r[0], r[1], r[2]): r[-1] for r in splits.rows}
    assert preserved[("big", "zero-shot", "0.2")] == "1/2 (50%)"
    assert preserved[("big", "rag", "0.2")] == "—"


def test_cost_per_model_counts_only_the_last_attempt(built: report.Report) -> None:
    t = table(built, "cost")
    for row in t.rows:
        model = row[0]
        chains = [p for key, ps in EXPECTED.items() if key[0] == model for p in ps]
        rounds = sum((2 if p is None else p) + 1 for p in chains)  # LAST_ROUND = 2
        assert row[1:6] == [str(len(chains)), str(rounds), str(rounds * TOKENS["prompt"]),
                            str(rounds * TOKENS["completion"]), f"{TOKENS['completion'] / WALL['generate']:.1f}"]
        assert column(t, row, "judge s") == f"{rounds * WALL['judge']:.1f}"
        assert column(t, row, "wall s / sample") == f"{rounds * sum(WALL.values()) / len(chains):.1f}"


class _Refs(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.refs: list[tuple[str, str, str]] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.refs += [(tag, name, value or "") for name, value in attrs if name in ("src", "href")]


def test_render_writes_markdown_html_and_plots(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run")
    code, out, err = run_cli(["report", str(run)])
    assert code == 0, err
    assert str(run / "report.html") in out
    md = (run / "report.md").read_text()
    assert "## Inline adaptation: component → framework × temperature × mode" in md
    assert "## Translation × strategy" in md and "## pass@k by repair round" in md
    big_row = f"| tracking: mlflow (all) | big | {pair(keys('big', 'zero-shot', 0.2, tasks=('tracking-a', 'tracking-b')))} |"
    assert big_row in md
    assert "arXiv:2405.06835" in md
    assert "[s0 r0](code/big_zero-shot_0.2/pruning-d/s0r0.diff)" in md
    for rel in report.PLOT_FILES.values():
        png = (run / rel).read_bytes()
        assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 5000
        assert f"]({rel})" in md
    html = (run / "report.html").read_text()
    parser = _Refs()
    parser.feed(html)
    assert "script" not in parser.tags and "link" not in parser.tags and "iframe" not in parser.tags
    images = [v for tag, name, v in parser.refs if tag == "img"]
    assert len(images) == 2 and all(v.startswith("data:image/png;base64,") for v in images)
    for _tag, _name, value in parser.refs:
        assert not value.lower().startswith(("http:", "https:", "//")), value
    assert "@import" not in html and "url(" not in html
    assert html.count('<table class="report"') == 7


def test_rerender_is_identical(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run")
    first = {name: p.read_bytes() for name, p in report.render(run).items()}
    second = {name: p.read_bytes() for name, p in report.render(run).items()}
    assert first == second


def test_a_record_naming_a_url_gets_no_link(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run")
    text = (run / "records.jsonl").read_text().replace('"code/big_rag_0.2/tracking-a/s0r0.diff"',
                                                      '"https://example.com/x.diff"')
    (run / "records.jsonl").write_text(text)
    report.render(run)
    html = (run / "report.html").read_text()
    assert "<td>s0 r0</td>" in html  # the cell is there, as text
    assert 'href="https://example.com' not in html


def test_a_run_without_finished_samples_still_renders(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run")
    (run / "records.jsonl").write_text("")  # a bench that was just started
    written = report.render(run)
    assert set(written) == {"markdown", "html"}  # no plots without numbers
    assert "0 finished samples (0 records)" in written["markdown"].read_text()
    assert "<img" not in written["html"].read_text()


def test_bad_run_dirs_are_one_line_errors(tmp_path: Path) -> None:
    code, _out, err = run_cli(["report", str(tmp_path / "missing")])
    assert code != 0 and err.startswith("error: ") and err.count("\n") == 1 and "no such run directory" in err
    empty = tmp_path / "empty"
    empty.mkdir()
    code, _out, err = run_cli(["report", str(empty)])
    assert code != 0 and "no run.json" in err
    run = make_run(tmp_path / "run")
    meta = json.loads((run / "run.json").read_text())
    meta["opsgraft_bench"] = 2
    (run / "run.json").write_text(json.dumps(meta))
    code, _out, err = run_cli(["report", str(run)])
    assert code != 0 and "format 2" in err and err.count("\n") == 1
    assert not (run / "report.md").exists()


def test_a_replay_bench_renders_both_reports(tmp_path: Path) -> None:
    # End to end with the runner: real corpus tasks, sandbox and checkers; one of three answers passes.
    from opsgraft.evaluation.benchmark.runner import RunOptions, run_bench
    from tests.evaluation.test_bench_runner import FAIL, TASKS, grid_for, record_cassette, reference_answer

    cassette = record_cassette(tmp_path / "c.jsonl", {t: [reference_answer(t), FAIL, FAIL] for t in TASKS})
    run_dir = tmp_path / "run"
    summary = run_bench(grid_for(cassette), run_dir, RunOptions(isolation="none"))
    assert set(summary.report) >= {"markdown", "html"}
    md = (run_dir / "report.md").read_text()
    one_of_three = f"{100 * oracle(3, 1, 1):.1f} / {100 * oracle(3, 1, 3):.1f}"
    for task in TASKS:
        row = next(line for line in md.splitlines() if line.startswith(f"| {task} |"))
        assert f"| 3 | 1 | {100 * oracle(3, 1, 1):.1f} | {100 * oracle(3, 1, 3):.1f} |" in row
        diff = row.rsplit("](", 1)[1].split(")", 1)[0]
        assert (run_dir / diff).is_file() and "+++ b/" in (run_dir / diff).read_text()
    assert f"| rec | {one_of_three} |" in md  # both tasks, one layout row each
    assert 'src="data:image/png;base64,' in (run_dir / "report.html").read_text()


def test_rounds_a_model_was_not_given_are_not_counted_as_repairs(tmp_path: Path) -> None:
    # The paper grid gives the 0.5B no repair rounds: its row must not read as if repairs ran and fixed nothing.
    run_dir = make_run(tmp_path / "run")
    run = json.loads((run_dir / "run.json").read_text())
    run["models"]["small"]["repair"] = 0
    (run_dir / "run.json").write_text(json.dumps(run))
    assert report.model_repairs(run) == {"big": 2, "small": 0}
    t = table(report.build(run_dir), "repair")
    for row in t.rows:
        model = str(row[0]).split("·")[0].strip()
        if model == "small":
            assert row[1] != "n/a" and row[2:] == ["n/a", "n/a"]
        else:
            assert "n/a" not in row
    assert any(str(row[0]).startswith("small") for row in t.rows)
    series = report.tables.repair_series(report.build(run_dir).stats, report.model_repairs(run))
    small = [v for name, per_k in series.items() if name.startswith("small") for v in per_k[1]]
    assert small and small[1::3] == [None] * len(small[1::3]) and small[2::3] == [None] * len(small[2::3])
