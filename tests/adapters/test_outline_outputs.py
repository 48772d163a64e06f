"""The outline's "keep" line: the prints and file writes the adapted script must keep (adapters/outputs.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from opsgraft.adapters.outline import render
from opsgraft.adapters.outputs import Output, find, keep_line
from opsgraft.adapters.specs import get_adapter

SCRIPT = '''import json
import pickle

import joblib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from pathlib import Path
from sklearn.ensemble import RandomForestClassifier

print("starting")
OUT = Path("out")


def unused_helper():
    print("never printed")
    torch.save({}, "never.pt")


def main():
    with open("train.csv") as fh:
        rows = fh.read()
    clf = RandomForestClassifier()
    clf.fit([[0], [1]], [0, 1])
    acc = clf.score([[0], [1]], [0, 1])
    print(f"test accuracy {acc:.4f}")
    with open("forest.pkl", "wb") as fh:
        pickle.dump(clf, fh)
    with open(OUT / "metrics.json", mode="w") as out:
        json.dump({"acc": acc}, out)
    torch.save(clf, "model.pt")
    np.save("weights.npy", np.zeros(2))
    np.savetxt("preds.txt", np.zeros(2))
    pd.DataFrame({"a": [1]}).to_csv("preds.csv", index=False)
    plt.savefig("curve.png")
    joblib.dump(clf, filename="forest.joblib")
    Path("notes.txt").write_text(rows)
    print(len(rows), file=open("log.txt", "a"))


if __name__ == "__main__":
    main()
    print("done")
'''

LIGHTNING = '''import pytorch_lightning as pl


class Net(pl.LightningModule):
    def training_step(self, batch, batch_idx):
        print("step", batch_idx)
        self.save_hyperparameters()


def main():
    trainer = pl.Trainer(max_epochs=1)
    model = Net()
    trainer.fit(model)
    trainer.save_checkpoint("net.ckpt")
    model.save("net.keras")


main()
'''


def by_line(outputs: list[Output]) -> dict[int, Output]:
    return {o.line: o for o in outputs}


def test_prints_reachable_from_module_level_and_main():
    outs = by_line(find(SCRIPT))
    prints = {o.line: o.text for o in outs.values() if not o.is_file}
    assert prints == {12: 'print("starting")', 27: 'print(f"test accuracy {acc:.4f}")', 44: 'print("done")'}
    assert outs[27].scope == "main" and outs[44].scope == "<module>"
    # the print to a file opened for appending is no stdout line, but the file is written
    assert outs[39].how == "open" and outs[39].text == "log.txt"


def test_every_file_writing_form_names_its_path():
    files = [(o.line, o.text, o.how) for o in find(SCRIPT) if o.is_file]
    assert files == [
        (29, "forest.pkl", "pickle.dump"),  # the path comes from the open() whose handle it writes to
        (31, 'OUT / "metrics.json"', "json.dump"),  # open(..., mode="w") as `out`
        (32, "model.pt", "torch.save"),
        (33, "weights.npy", "np.save"),
        (34, "preds.txt", "np.savetxt"),
        (35, "preds.csv", "pd.DataFrame().to_csv"),
        (36, "curve.png", "plt.savefig"),
        (37, "forest.joblib", "joblib.dump"),
        (38, "notes.txt", "Path().write_text"),
        (39, "log.txt", "open"),
    ]


def test_a_read_only_open_and_an_unreachable_helper_are_not_listed():
    texts = {o.text for o in find(SCRIPT)}
    assert "train.csv" not in texts  # open("train.csv") only reads
    assert not {"never.pt", 'print("never printed")'} & texts
    # the open() a dump writes through is listed once, as the dump
    assert [o.how for o in find(SCRIPT) if o.text == "forest.pkl"] == ["pickle.dump"]


def test_methods_of_a_used_class_count_and_save_hyperparameters_is_no_file():
    outs = find(LIGHTNING)
    assert [(o.line, o.text, o.how) for o in outs] == [
        (6, 'print("step", batch_idx)', ""),
        (14, "net.ckpt", "trainer.save_checkpoint"),
        (15, "net.keras", "model.save"),
    ]


def test_dump_to_a_stream_from_elsewhere_and_unparsable_source():
    assert find("import json, sys\njson.dump({}, sys.stdout)\n") == []
    assert find("def broken(:\n") == []


def test_the_line_caps_prints_and_files_with_and_n_more():
    outs = [Output(i, "<module>", f'print("p{i}")') for i in range(1, 10)]
    outs += [Output(20 + i, "<module>", f"f{i}.pt", "torch.save") for i in range(6)]
    line = keep_line(outs)
    assert line.startswith("- keep unchanged (the adapted script must still print and write these): line 1 ")
    assert 'line 6 `print("p6")`; and 3 more print(s); line 20 writes `f0.pt` (torch.save)' in line
    assert "line 23 writes `f3.pt` (torch.save); and 2 more file(s)" in line
    assert 'print("p7")' not in line and "f4.pt" not in line
    assert keep_line([]) == ""


def test_rendered_outline_has_the_keep_line_only_with_the_knob():
    spec = get_adapter("registration:mlflow")
    off = render(SCRIPT, spec, "train.py")
    assert off == render(SCRIPT, spec, "train.py", keep_outputs=False)
    assert off and "keep unchanged" not in off
    on = render(SCRIPT, spec, "train.py", keep_outputs=True)
    assert on == off + "\n" + keep_line(find(SCRIPT, "train.py"))
    assert on.splitlines()[-1].startswith("- keep unchanged") and "writes `forest.pkl` (pickle.dump)" in on


def _flow(tmp_path: Path, source: str = SCRIPT, **kw):  # type: ignore[no-untyped-def]
    from opsgraft.adapters.workflow import Workflow

    script = tmp_path / "train.py"
    script.write_text(source)
    return Workflow(spec=get_adapter("registration:mlflow"), script=script, source=source, **kw)


def test_the_first_prompt_with_the_knob_off_is_unchanged(tmp_path: Path):
    off = _flow(tmp_path)
    assert off.keep_outputs is False
    on = _flow(tmp_path, keep_outputs=True)
    text_off = off.build_prompt(off.source).messages[-1].content
    text_on = on.build_prompt(on.source).messages[-1].content
    assert "keep unchanged" not in text_off and "keep unchanged" in text_on
    # only the outline differs, by its last line
    assert on.outline_text() == off.outline_text() + "\n" + keep_line(find(SCRIPT, "train.py"))
    assert text_on.replace(on.outline_text(), off.outline_text(), 1) == text_off


def test_a_translation_outline_carries_it_too():
    spec = get_adapter("wandb->mlflow")
    source = ('import wandb\nfrom sklearn.linear_model import LinearRegression\n\n\ndef main():\n'
              '    wandb.init()\n    model = LinearRegression()\n    model.fit([[0], [1]], [0, 1])\n'
              '    print("fitted")\n    open("x.txt", "w").write("x")\n\n\nmain()\n')
    on = render(source, spec, "train.py", keep_outputs=True)
    assert on.endswith('line 9 `print("fitted")`; line 10 writes `x.txt` (open)')
    assert render(source, spec, "train.py") == on.rsplit("\n", 1)[0]


def test_cli_flag_and_config_key(tmp_path: Path):
    """--keep-outputs sends the prompt with the keep line (a strict replay hit); the config file takes the key."""
    from opsgraft.commands.config_file import parse_choices
    from tests.conftest import cassette_for_flow, run_cli

    flow = _flow(tmp_path, keep_outputs=True)
    cassette = cassette_for_flow(tmp_path / "c.jsonl", flow, [f"```python\n{SCRIPT}```"])
    args = ["adapt", str(flow.script), "--add", "registration:mlflow", "--backend", "replay",
            "--cassette", str(cassette)]
    code, _, err = run_cli([*args, "--keep-outputs"])
    assert code == 0, err
    record = json.loads((tmp_path / "train_registration_mlflow.opsgraft.json").read_text())
    assert "writes `model.pt` (torch.save)" in record["attempts"][0]["prompt"]["messages"][-1]["content"]
    (tmp_path / "out").mkdir()
    code, _, err = run_cli([*args, "--out-dir", str(tmp_path / "out")])  # off by default: another prompt, a miss
    assert code != 0
    assert parse_choices({"keep_outputs": True}, "adapt").keep_outputs is True  # type: ignore[union-attr]


@pytest.mark.parametrize("knob", [True, None])
def test_bench_knob_reaches_the_workflow(tmp_path: Path, knob: bool | None):
    from opsgraft import config
    from opsgraft.errors import ConfigError
    from opsgraft.evaluation.benchmark.config import parse_config
    from opsgraft.evaluation.benchmark.runner import RunOptions, make_grid, run_bench
    from opsgraft.llm.scripted import ScriptedBackend

    cassette = tmp_path / "unused.jsonl"
    cassette.write_text("")
    backend = ScriptedBackend(["```python\nraise SystemExit('not adapted')\n```"], model=config.MODEL_NAME)
    data = {"tasks": {"ids": ["registration-mlflow-sklearn-wine-forest"]}, "n": 1, "temperatures": [0.2],
            "models": [{"name": "s", "backend": "replay", "cassette": str(cassette)}]}
    if knob is not None:
        data["keep_outputs"] = knob
    run_bench(make_grid(parse_config(data)), tmp_path / "run",
              RunOptions(isolation="none", render=False, preserved=False, cache=False),
              backend_factory=lambda e: backend)
    prompt = backend.calls[0][0][-1].content
    keep = ("- keep unchanged (the adapted script must still print and write these): "
            "line 25 `print(f\"test accuracy {acc:.4f}\")`; line 27 writes `wine_forest.pkl` (pickle.dump)")
    assert (keep in prompt) is bool(knob)
    with pytest.raises(ConfigError, match="keep_outputs"):
        parse_config({"keep_outputs": [1]})


def test_handles_from_assignment_path_open_and_write_calls():
    source = '''import gzip, pickle
from pathlib import Path

out_path = Path("runs") / "model.pkl"
fh = open("log.txt", "w")
fh.write("x")
with out_path.open("wb") as f:
    pickle.dump(1, f)
with gzip.open("data.gz", "wt") as g:
    g.write("x")
with open("model.pkl", "rb") as f:
    model = pickle.load(f)
'''
    assert [(o.line, o.text, o.how) for o in find(source)] == [
        (5, "log.txt", "open"), (8, "out_path", "pickle.dump"), (9, "data.gz", "open")]


def test_a_script_with_many_outputs_is_capped_in_the_outline():
    source = "import torch\n\n\ndef main():\n    model = torch.nn.Linear(1, 1)\n    model(torch.ones(1)).sum().backward()\n"
    source += "".join(f'    print("metric {i}", {i})\n' for i in range(8))
    source += "".join(f'    torch.save(model, "m{i}.pt")\n' for i in range(6)) + "\n\nmain()\n"
    on = render(source, get_adapter("registration:mlflow"), "train.py", keep_outputs=True)
    keep = on.splitlines()[-1]
    assert 'line 12 `print("metric 5", 5)`; and 2 more print(s); line 15 writes `m0.pt` (torch.save)' in keep
    assert keep.endswith("line 18 writes `m3.pt` (torch.save); and 2 more file(s)")
