"""`opsgraft ablate` through its entry point: bad input, dry run, a feature study, resume after a kill."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import run_cli

PLAIN = '''\
import time


def main():
    score = 0.5
    bonus = 0.1  #ABLATABLE_COMPONENT
    score += 0.2  #ABLATABLE_COMPONENT
    time.sleep(SLEEP)
    print(f"score: {score + bonus:.3f}")


SLEEP = 0.0
if __name__ == "__main__":
    main()
'''


def write(tmp_path: Path, text: str, name: str = "train.py") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize("text, args, message", [
    ("x = 1\nprint(x)\n", [], "no ablation annotations found"),
    ("x = 1\n#ABLATION_HINT_START a\nprint(x)\n", [], "unmatched #ABLATION_HINT_START"),
    ("#ABLATABLE_COMPONENT\n\nx = 1\n", [], "marks a blank or comment line"),
    ("from sklearn.datasets import load_diabetes\nX, y = load_diabetes(return_X_y=True, as_frame=True)\n",
     ["--features", "bmi,weight"], "'weight' is not a column"),
])
def test_bad_input_is_one_line_and_non_zero(tmp_path: Path, text: str, args: list[str], message: str) -> None:
    script = write(tmp_path, text)
    code, out, err = run_cli(["ablate", str(script), *args, "--dry-run"])
    assert code != 0
    assert err.count("\n") == 1 and err.startswith("error: ") and message in err
    assert not (tmp_path / "train_ablation").exists()


def test_dry_run_shows_components_and_trials_and_calls_no_model(tmp_path: Path) -> None:
    script = write(tmp_path, PLAIN)
    # --backend replay without a cassette would fail if a backend were built
    code, out, err = run_cli(["ablate", str(script), "--dry-run", "--backend", "replay"])
    assert code == 0, err
    assert "trials:  baseline, without_bonus, without_line7" in out and "dry run: 3 trials planned" in out
    assert "bonus" in err  # the component table goes to the console (stderr)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["train.py"]


def test_corpus_feature_task_runs_to_a_passing_study_without_a_model(tmp_path: Path) -> None:
    code, out, err = run_cli(["ablate", "--task", "ablation-sklearn-diabetes-features", "--out-dir", str(tmp_path),
                              "--backend", "replay", "--isolation", "none"])
    assert code == 0, err
    assert "check:   ablation: PASSED" in out
    study = tmp_path / "train_ablation"
    results = json.loads((study / "ablation_results.json").read_text())
    assert [r["name"] for r in results] == ["baseline", "without_demographics", "without_body", "without_serum"]
    assert len(results[0]["features"]) == 10 and "age" not in results[1]["features"]
    assert results[0]["metric"] != results[3]["metric"]
    for png in ("ablation_metric.png", "ablation_features.png"):
        assert (study / png).read_bytes()[:4] == b"\x89PNG"
    record = json.loads((study / "study.opsgraft.json").read_text())
    assert record["verdict"]["passed"] is True and record["plan"]["mode"] == "features"


def test_a_crashing_trial_is_recorded_failed_and_the_others_run(tmp_path: Path) -> None:
    script = write(tmp_path, PLAIN)
    code, out, err = run_cli(["ablate", str(script), "--repair", "0", "--isolation", "none"])
    assert code == 0, err
    lines = [json.loads(ln) for ln in (tmp_path / "train_ablation" / "trials.jsonl").read_text().splitlines()]
    by_name = {ln["name"]: ln for ln in lines}
    assert by_name["without_bonus"]["status"] == "failed"
    assert "NameError" in by_name["without_bonus"]["reason"] and "bonus" in by_name["without_bonus"]["reason"]
    assert by_name["baseline"]["metric"] == pytest.approx(0.8)
    assert by_name["without_line7"]["metric"] == pytest.approx(0.6)
    assert "check:   ablation: FAILED" in out and "trial without_bonus" in out


def test_a_study_killed_after_its_first_trial_resumes_without_rerunning_it(tmp_path: Path) -> None:
    script = write(tmp_path, PLAIN.replace("SLEEP = 0.0", "SLEEP = 2.0").replace(
        "    bonus = 0.1  #ABLATABLE_COMPONENT\n", "    bonus = 0.1\n"))
    trials = tmp_path / "train_ablation" / "trials.jsonl"
    proc = subprocess.Popen([sys.executable, "-m", "opsgraft.cli", "ablate", str(script), "--repair", "0",
                             "--isolation", "none"], start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not (trials.is_file() and trials.read_text().count("\n") >= 1):
            time.sleep(0.1)
        assert trials.is_file(), "the first trial never finished"
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    first = [json.loads(ln) for ln in trials.read_text().splitlines()]
    assert [ln["name"] for ln in first] == ["baseline"]
    code, out, err = run_cli(["ablate", str(script), "--repair", "0", "--isolation", "none"])
    assert code == 0, err
    assert "(resumed)" in out and "baseline: already done, not rerun" in err
    names = [json.loads(ln)["name"] for ln in trials.read_text().splitlines()]
    assert names == ["baseline", "without_line7"]
    assert not (tmp_path / "train_ablation_2").exists()
