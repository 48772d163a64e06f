"""`opsgraft ablate --report`: every number of the model's paragraph is checked against the results."""

import json
from pathlib import Path

from opsgraft import config
from opsgraft.adapters.ablation import report
from opsgraft.llm.base import sample_params
from opsgraft.llm.replay import append_entries, cassette_entry
from opsgraft.types import Generation
from tests.conftest import run_cli

ENTRIES = [
    {"name": "baseline", "n_params": 26154, "metric": 0.9685},
    {"name": "without_norm", "n_params": 25898, "metric": 0.9556},
    {"name": "without_hidden", "n_params": 9642, "metric": 0.9611},
]


def test_a_wrong_number_is_marked_unverified_and_true_ones_are_not() -> None:
    paragraph = ("Removing the norm layer costs the most: accuracy falls from 0.9685 to 0.9556 (1.29 points, "
                 "256 fewer parameters), while without_hidden keeps 96.1% with 9,642 parameters. "
                 "The hidden layer alone adds 0.0420 accuracy.")
    marked, ok, bad = report.verify(paragraph, ENTRIES)
    assert bad == ["0.0420"]
    assert "0.0420 _(unverified)_" in marked and marked.count("_(unverified)_") == 1
    assert {"0.9685", "0.9556", "1.29", "256", "96.1%", "9,642"} <= set(ok)
    assert "without_hidden keeps" in marked  # names with digits or words are left alone


def test_report_renders_table_plots_and_marks(tmp_path: Path) -> None:
    text, bad = report.render(ENTRIES, {"without_x": "RuntimeError: shapes"}, "Accuracy is 0.5.",
                              [tmp_path / "ablation_metric.png"], passed=True)
    assert "| without_norm | 25898 | 0.9556 | -0.0129 |" in text
    assert "![ablation_metric](ablation_metric.png)" in text and "failed: RuntimeError" in text
    assert bad == ["0.5"] and "0.5 _(unverified)_" in text


def test_cli_report_on_a_finished_study_resumes_it_and_writes_the_checked_report(tmp_path: Path) -> None:
    args = ["ablate", "--task", "ablation-sklearn-diabetes-features", "--out-dir", str(tmp_path), "--isolation", "none"]
    code, _, err = run_cli([*args, "--repair", "0"])
    assert code == 0, err
    study = tmp_path / "train_ablation"
    entries = json.loads((study / "ablation_results.json").read_text())
    serum = next(e for e in entries if e["name"] == "without_serum")
    paragraph = f"Without the serum group R2 drops to {serum['metric']:.3f}; the body group matters 7.77 times more."
    cassette = tmp_path / "c.jsonl"
    params = sample_params(0.2, 512, 0)
    append_entries(cassette, [cassette_entry(config.MODEL_NAME, report.prompt(entries), params, 0,
                                             Generation(text=paragraph, index=0, model=config.MODEL_NAME))])
    code, out, err = run_cli([*args, "--repair", "0", "--report", "--backend", "replay", "--cassette", str(cassette)])
    assert code == 0, err
    assert "(resumed)" in out and "1 unverified number(s): 7.77" in out
    text = (study / "ablation_report.md").read_text()
    assert f"{serum['metric']:.3f};" in text and "7.77 _(unverified)_" in text
    assert len((study / "trials.jsonl").read_text().splitlines()) == 4  # nothing was rerun
