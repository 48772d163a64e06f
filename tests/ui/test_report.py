"""opsgraft/ui/report.py: numbers of the LLM's report are checked against the records; rendering is safe."""

from __future__ import annotations

from pathlib import Path

from opsgraft.llm.scripted import ScriptedBackend
from opsgraft.ui.grid_run import GridResult, PointResult
from opsgraft.ui.report import (
    UNVERIFIED,
    build_prompt,
    ground,
    markdown_to_html,
    plot,
    primary_metric,
    recorded_values,
    write_report,
)


def make_grid(out_dir: Path) -> GridResult:
    points = [
        PointResult(0, {"alpha": 0.01, "epochs": 2}, "passed", 1.25,
                    {"train_accuracy": [0.9037, 0.926], "val_accuracy": [0.8741, 0.9]}),
        PointResult(1, {"alpha": 0.1, "epochs": 2}, "passed", 1.5,
                    {"train_accuracy": [0.95, 0.97], "val_accuracy": [0.9259, 0.91]}),
    ]
    return GridResult("train.py", out_dir, "sqlite:///x.db", "opsgraft-ui/train.py", points, ["alpha"])


def test_matched_numbers_are_not_marked_and_unmatched_are(tmp_path: Path) -> None:
    values = recorded_values(make_grid(tmp_path))
    text = ("Run 2 (alpha=0.1) reached val_accuracy 0.91, i.e. 91%, after a best of 0.926 (92.6%).\n"
            "The gap train-val is 0.06. Accuracy was 0.9999 and 42 runs were made.\n")
    grounded = ground(text, values)
    verdicts = dict(grounded.checked)
    assert verdicts["2"] and verdicts["0.1"] and verdicts["0.91"] and verdicts["91%"]
    assert verdicts["0.926"] and verdicts["92.6%"] and verdicts["0.06"]  # 0.97 - 0.91
    assert not verdicts["0.9999"] and not verdicts["42"]
    assert grounded.unverified == ["0.9999", "42"]
    assert f"0.9999{UNVERIFIED}" in grounded.text and f"42{UNVERIFIED} runs" in grounded.text
    assert f"0.91{UNVERIFIED}" not in grounded.text


def test_rounding_tolerance_is_half_a_unit_of_the_last_digit(tmp_path: Path) -> None:
    values = [0.92593]
    assert dict(ground("0.926 and 0.93 and 92.59%", values).checked) == {"0.926": True, "0.93": True, "92.59%": True}
    assert dict(ground("0.925 and 0.9", values).checked) == {"0.925": False, "0.9": True}
    assert dict(ground("1", values).checked) == {"1": False}  # no whole-number rounding of 0.93


def test_list_markers_and_identifiers_are_not_numbers() -> None:
    grounded = ground("1. Try a 2x2 grid on layer3 with lr 7.\n", [])
    assert grounded.checked == [("7", False)]


def test_prompt_carries_runs_curves_and_best(tmp_path: Path) -> None:
    grid = make_grid(tmp_path)
    _system, user, primary = build_prompt(grid)
    assert primary == primary_metric(grid.points) == "val_accuracy"
    assert "| 2 | 0.1 | passed | 0.97 | 0.91 |" in user
    assert "run 2 val_accuracy: first 0.9259, best 0.9259 at step 0, last 0.91" in user
    assert "Best setting by val_accuracy: run 2 (alpha=0.1): val_accuracy 0.91" in user


def test_markdown_is_rendered_with_html_escaped() -> None:
    html = markdown_to_html("## Best\n<script>alert(1)</script> **0.3 **(unverified)****\n[x](javascript:alert(1))")
    assert "<h2>Best</h2>" in html and "<script>" not in html and "&lt;script&gt;" in html
    assert 'href="javascript' not in html


def test_write_report_grounds_the_llm_text_and_plots(tmp_path: Path, scripted) -> None:  # type: ignore[no-untyped-def]
    grid = make_grid(tmp_path)
    backend = scripted(["## Summary\nBest val_accuracy 0.91 with alpha 0.1; overfitting gap 7.77.\n"])
    report = write_report(grid, backend)
    assert report.grounded.unverified == ["7.77"]
    text = report.path.read_text()
    assert f"7.77{UNVERIFIED}" in text and f"0.91{UNVERIFIED}" not in text
    assert sorted(p.name for p in report.plots) == ["curve_train_accuracy.png", "curve_val_accuracy.png",
                                                    "val_accuracy_vs_alpha.png"]
    assert all(p.stat().st_size > 2000 and p.read_bytes()[:4] == b"\x89PNG" for p in report.plots)
    assert "Signs of overfitting" in backend.calls[0][0][1].content
    assert sorted(p.name for p in plot(grid, "")) == ["curve_train_accuracy.png", "curve_val_accuracy.png"]


def test_a_failing_backend_leaves_a_report_saying_why(tmp_path: Path, scripted) -> None:  # type: ignore[no-untyped-def]
    report = write_report(make_grid(tmp_path), scripted([]))  # no answers: BackendError
    assert report.error == "scripted backend ran out of answers"
    assert "could not be written: scripted backend ran out of answers" in report.path.read_text()
    assert report.plots  # the plots are made anyway


def test_prompt_names_ties_and_says_when_overfitting_cannot_be_judged(tmp_path: Path) -> None:
    # the real 2x2 grid of session 6: three runs at 0.965, only a final test accuracy printed
    finals = [0.912, 0.965, 0.965, 0.965]
    points = [PointResult(i, {"lr": lr, "hidden": h}, "passed", 1.0, {"accuracy": [a]})
              for i, ((lr, h), a) in enumerate(zip([(0.003, 16), (0.003, 48), (0.03, 16), (0.03, 48)], finals, strict=True))]
    grid = GridResult("train.py", tmp_path, "sqlite:///x.db", "opsgraft-ui/train.py", points, ["lr", "hidden"])
    _system, user, _primary = build_prompt(grid)
    assert "Best setting by accuracy: runs 2, 3 and 4 tie at accuracy 0.965 (no single best)" in user
    assert "## Signs of overfitting" not in user  # the tool writes that section itself
    answer = "## Summary\nFour runs.\n\n## Best setting\nRuns 2, 3 and 4.\n\n## Next experiments\n1. lr 0.03\n"
    report = write_report(grid, ScriptedBackend([answer]))
    text = report.path.read_text()
    assert text.index("## Best setting") < text.index("## Signs of overfitting\nThese runs cannot show it") \
        < text.index("## Next experiments")
    own = answer.replace("## Next experiments", "## Signs of overfitting\nValidation keeps improving.\n\n## Next experiments")
    text = write_report(grid, ScriptedBackend([own])).path.read_text()
    assert "Validation keeps improving" not in text and text.count("## Signs of overfitting") == 1
    assert text.index("cannot show it") < text.index("## Next experiments")
    # curves and a train/val pair: the model writes the section, and make_grid's two runs do not tie
    _system, user, _primary = build_prompt(make_grid(tmp_path))
    assert "## Signs of overfitting" in user and "tie at" not in user
    assert "cannot show it" not in write_report(make_grid(tmp_path), ScriptedBackend([answer])).path.read_text()
