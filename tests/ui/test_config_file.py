"""`opsgraft adapt/translate --config FILE`: the file runs like the flags, flags override it, bad keys are one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from opsgraft.commands.config_file import AdaptChoices, TranslateChoices, from_file, parse_choices, to_file
from opsgraft.errors import ConfigError
from tests.adapters.test_adapt_cli import ADAPTED, ANSWER
from tests.conftest import make_cassette, run_cli


def _record(folder: Path) -> dict:
    return json.loads((folder / "train_tracking_mlflow.opsgraft.json").read_text())


def _same_run(a: dict, b: dict) -> None:
    for key in ("adapter", "mode", "model", "options", "status", "input_source"):
        assert a[key] == b[key], key
    assert [x["generation"]["text"] for x in a["attempts"]] == [x["generation"]["text"] for x in b["attempts"]]
    assert [x["result"] for x in a["attempts"]] == [x["result"] for x in b["attempts"]]


def test_file_runs_the_same_as_the_flags(sklearn_script: Path, tmp_path: Path, monkeypatch) -> None:
    cassette = make_cassette(tmp_path / "c.jsonl", sklearn_script, "tracking:mlflow", [ANSWER])
    flags_out, file_out = tmp_path / "by-flags", tmp_path / "by-file"
    code, _, err = run_cli(["adapt", str(sklearn_script), "--add", "tracking:mlflow", "--backend", "replay",
                            "--cassette", str(cassette), "--n", "1", "--repair", "0", "--seed", "0",
                            "--edit-format", "whole", "--out-dir", str(flags_out)])
    assert code == 0, err
    # Paths relative to the file's folder, run from elsewhere: the file must not depend on the cwd.
    cfg = tmp_path / "adapt.toml"
    cfg.write_text('script = "train.py"\nadd = "tracking:mlflow"\nbackend = "replay"\ncassette = "c.jsonl"\n'
                   'n = 1\nrepair = 0\nseed = 0\nedit_format = "whole"\nout_dir = "by-file"\n')
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    code, out, err = run_cli(["adapt", "--config", str(cfg)])
    assert code == 0, err
    assert (file_out / "train_tracking_mlflow.py").read_text() == ADAPTED
    assert f"adapted: {file_out / 'train_tracking_mlflow.py'}" in out
    _same_run(_record(flags_out), _record(file_out))


def test_a_flag_overrides_the_file(sklearn_script: Path, tmp_path: Path) -> None:
    cassette = make_cassette(tmp_path / "c.jsonl", sklearn_script, "tracking:mlflow", [ANSWER])
    cfg = tmp_path / "adapt.toml"
    # The cassette was recorded at temperature 0.2: the file's 0.9 alone would miss in strict replay.
    cfg.write_text(f'script = "train.py"\nadd = "tracking:mlflow"\nbackend = "replay"\ncassette = "{cassette}"\n'
                   'temperature = 0.9\nout_dir = "from-file"\n')
    code, _, err = run_cli(["adapt", "--config", str(cfg)])
    assert code == 3 and len(err.strip().splitlines()) == 1, err  # a ReplayMiss: the file's 0.9 was used
    assert not (tmp_path / "from-file" / "train_tracking_mlflow.py").exists()
    flag_out = tmp_path / "from-flag"
    code, _, err = run_cli(["adapt", "--config", str(cfg), "--temperature", "0.2", "--out-dir", str(flag_out)])
    assert code == 0, err
    assert (flag_out / "train_tracking_mlflow.py").read_text() == ADAPTED
    assert _record(flag_out)["options"]["temperature"] == 0.2
    assert not (tmp_path / "from-file").exists()


@pytest.mark.parametrize(("text", "expected"), [
    ('tempreature = 0.3\n', "tempreature: unknown key (did you mean 'temperature'?)"),
    ('from = "wandb"\n', "from: a key of 'opsgraft translate', not of 'opsgraft adapt'"),
    ('n = 50\n', "n: 50 is not in the range 1<=x<=20"),
    ('n = "three"\n', "n: Input should be a valid integer"),
    ('mode = "fancy"\n', "mode: 'fancy' is not one of"),
    ('backend = "nope"\n', "backend: 'nope' is not one of"),
    ('n = \n', "not valid TOML"),
])
def test_bad_file_is_a_one_line_error_naming_the_key(tmp_path: Path, text: str, expected: str) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text('script = "train.py"\nadd = "tracking:mlflow"\n' + text)
    code, out, err = run_cli(["adapt", "--config", str(cfg)])
    assert code == 2, (out, err)
    assert len(err.strip().splitlines()) == 1 and err.startswith(f"error: {cfg}: "), err
    assert expected in err, err


def test_missing_file_is_one_line(tmp_path: Path) -> None:
    code, _, err = run_cli(["translate", "--config", str(tmp_path / "none.toml")])
    assert code == 2 and "cannot read the config" in err and len(err.strip().splitlines()) == 1


def test_translate_reads_its_own_keys(tmp_path: Path) -> None:
    cfg = tmp_path / "t.toml"
    cfg.write_text('script = "x.py"\nfrom = "wandb"\nto = "mlflow"\nstrategy = "none"\ncheck_arg = ["a=b"]\n')
    choices = from_file(cfg, "translate")
    assert isinstance(choices, TranslateChoices)
    assert (choices.source, choices.target, choices.check_arg) == ("wandb", "mlflow", ["a=b"])
    cfg.write_text('add = "tracking:mlflow"\n')
    code, _, err = run_cli(["translate", "--config", str(cfg)])
    assert code == 2 and "add: a key of 'opsgraft adapt', not of 'opsgraft translate'" in err


def test_to_file_round_trips(tmp_path: Path) -> None:
    choices = AdaptChoices.model_validate({
        "script": 'dir with "quotes"/train.py', "add": "tracking:mlflow", "mode": "rag", "backend": "openai",
        "model": "gpt-4o-mini", "n": 2, "temperature": 0.5, "repair": 1, "run": True, "with": ["data.csv"],
        "pass_env": ["HOME"], "no_preserved": False})
    text = to_file(choices)
    assert "with = [\"data.csv\"]" in text and "run = true" in text and "seed" not in text
    path = tmp_path / "a.toml"
    path.write_text(text)
    assert from_file(path, "adapt") == choices
    translated = parse_choices({"from": "wandb", "to": "mlflow", "n": 1}, "translate")
    path.write_text(to_file(translated))
    assert from_file(path, "translate") == translated


def test_parse_choices_refuses_unknown_keys_without_a_file() -> None:
    with pytest.raises(ConfigError, match=r"^form: bogus: unknown key"):
        parse_choices({"bogus": 1}, "adapt", "form")
