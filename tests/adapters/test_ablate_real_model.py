"""`opsgraft ablate` with the embedded model repairing a variant by itself (slow: real model, training).

Measured with --no-width-fix (the model alone adjusts the next layer): the MLP passes in round 2; the
CNN's ``hidden_fc`` was not repaired in 3 rounds (the 1.5B kept ``nn.Linear(64, 10)`` or wrote 32, not
256), so only the MLP is asserted here. With the width fix on (the default) neither needs the model.
"""

import json
from pathlib import Path

import pytest

from tests.conftest import run_cli


@pytest.mark.slow
def test_real_model_repairs_the_mlp_without_its_bottleneck_within_three_rounds(tmp_path: Path) -> None:
    code, out, err = run_cli(["ablate", "--task", "ablation-torch-annotated-mlp", "--no-width-fix", "--backend",
                              "local", "--no-cache", "--repair", "3", "--out-dir", str(tmp_path)])
    assert code == 0, err
    assert "check:   ablation: PASSED" in out, out
    record = json.loads((tmp_path / "train_ablation" / "study.opsgraft.json").read_text())
    assert record["outcomes"]["without_bottleneck"]["source"].startswith("model, repair round")
