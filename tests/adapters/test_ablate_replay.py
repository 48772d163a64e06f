"""The corpus's three ablation tasks run to a passing study in the default test run.

The trials really train in the sandbox; only the model would be replayed. With the tool's mechanical
variants (a marked layer becomes ``nn.Identity()``, a hint block is deleted, the next layer gets the
width it now receives) none of the three needs a model answer: the replay backend is strict, so a
model call here would fail on a missing cassette.
"""

import json
from pathlib import Path

import pytest

from tests.conftest import run_cli

MISSING = "no-such-cassette.jsonl"  # any request to the model would raise


@pytest.mark.parametrize("task_id", ["ablation-torch-annotated-mlp", "ablation-torch-hint-cnn",
                                     "ablation-sklearn-diabetes-features"])
def test_corpus_ablation_task_passes_without_a_model_answer(task_id: str, tmp_path: Path) -> None:
    code, out, err = run_cli(["ablate", "--task", task_id, "--backend", "replay", "--cassette", str(tmp_path / MISSING),
                              "--repair", "3", "--out-dir", str(tmp_path), "--isolation", "none"])
    assert code == 0, err
    assert "check:   ablation: PASSED" in out, out
    record = json.loads((tmp_path / "train_ablation" / "study.opsgraft.json").read_text())
    assert record["repairs"] == []
    sources = {o["source"] for name, o in record["outcomes"].items() if name != "baseline"}
    assert sources <= {"mechanical", "mechanical, widths adjusted"}
    assert all(o["status"] == "ok" for o in record["outcomes"].values())


CASSETTE = Path(__file__).parent / "cassettes" / "ablation_real_model.jsonl"


def test_the_embedded_models_recorded_one_line_repair_finishes_the_mlp_study(tmp_path: Path) -> None:
    """Recorded with --backend local --no-width-fix: the 1.5B model alone repairs the variant without
    the bottleneck (round 1 kept the head at 32 inputs, round 2 gave it 128)."""
    code, out, err = run_cli(["ablate", "--task", "ablation-torch-annotated-mlp", "--no-width-fix", "--backend",
                              "replay", "--cassette", str(CASSETTE), "--repair", "3", "--out-dir", str(tmp_path),
                              "--isolation", "none"])
    assert code == 0, err
    assert "check:   ablation: PASSED" in out, out
    record = json.loads((tmp_path / "train_ablation" / "study.opsgraft.json").read_text())
    assert record["outcomes"]["without_bottleneck"]["source"] == "model, repair round 2"
    variant = (tmp_path / "train_ablation" / "variants" / "without_bottleneck" / "train.py").read_text()
    assert "self.head = nn.Linear(128, 10)" in variant
