"""`opsgraft bench` config: validation errors are one line naming the key, dry-run counts the grid."""

from __future__ import annotations

from pathlib import Path

import pytest

from opsgraft.errors import ConfigError, UnknownComponentError
from opsgraft.evaluation.benchmark.config import (
    Overrides,
    apply_overrides,
    load_config,
    parse_config,
    select_tasks,
    task_modes,
)
from opsgraft.evaluation.corpus import load_corpus
from tests.conftest import run_cli


@pytest.fixture
def cassette(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty (but existing) cassette: enough for a dry run, which never generates. The tests run in
    tmp_path, so a dry run does not read a run directory left in bench-runs/ of the checkout."""
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "empty.jsonl"
    path.write_text("")
    return path


def test_unknown_top_level_key_names_it(tmp_path: Path):
    cfg = tmp_path / "b.toml"
    cfg.write_text('modez = ["zero-shot"]\n')
    with pytest.raises(ConfigError) as err:
        load_config(cfg)
    assert str(err.value) == f"{cfg}: modez: unknown key"


def test_unknown_nested_key_names_its_place(tmp_path: Path):
    cfg = tmp_path / "b.toml"
    cfg.write_text('[tasks]\nids = ["*"]\n\n[[models]]\nbackend = "local"\n\n[[models]]\nbackend = "replay"\npathh = "x"\n')
    with pytest.raises(ConfigError, match=r"b\.toml: models\[1\]\.pathh: unknown key$"):
        load_config(cfg)
    cfg.write_text('[tasks]\nidz = ["*"]\n')
    with pytest.raises(ConfigError, match=r"tasks\.idz: unknown key$"):
        load_config(cfg)


def test_temperature_out_of_range_and_unknown_mode():
    with pytest.raises(ConfigError, match=r"temperatures: 2\.5 is out of range \(0 to 2\)"):
        parse_config({"temperatures": [0.2, 2.5]})
    with pytest.raises(ConfigError, match=r"temperatures: -0\.1 is out of range"):
        apply_overrides(parse_config({}), Overrides(temperatures=(-0.1,)))
    with pytest.raises(ConfigError, match="unknown mode 'few-shot'"):
        parse_config({"modes": ["few-shot"]})


def test_bad_toml_is_one_line(tmp_path: Path):
    cfg = tmp_path / "b.toml"
    cfg.write_text("n = \n")
    with pytest.raises(ConfigError, match="not valid TOML") as err:
        load_config(cfg)
    assert "\n" not in str(err.value)


def test_unknown_task_and_empty_glob():
    with pytest.raises(UnknownComponentError, match="Did you mean 'tracking-mlflow-sklearn-diabetes'"):
        select_tasks(parse_config({"tasks": {"ids": ["tracking-mlflow-sklearn-diabetis"]}}).tasks)
    with pytest.raises(UnknownComponentError, match="matches no corpus task"):
        select_tasks(parse_config({"tasks": {"ids": ["nothing-*"]}}).tasks)


def test_selection_by_fields_excludes_ablation():
    sel = parse_config({"tasks": {"ids": ["*"], "framework": ["sklearn"], "kind": ["inline"]}}).tasks
    got = [t.id for t in select_tasks(sel)]
    want = sorted(t.id for t in load_corpus() if t.framework == "sklearn" and t.kind == "inline")
    assert got == want and got
    assert not any(t.startswith("ablation") for t in [t.id for t in select_tasks(parse_config({}).tasks)])


def test_unknown_preset_and_model_file(tmp_path: Path, cassette: Path):
    code, _, err = run_cli(["bench", "--preset", "smok", "--dry-run"])
    assert code == 2 and err.count("\n") == 1 and "smok" in err
    code, _, err = run_cli(["bench", "--preset", "smoke", "--model", str(tmp_path / "nope.gguf"), "--dry-run"])
    assert code == 2 and err.strip() == f"error: model file not found: {tmp_path / 'nope.gguf'}"
    code, _, err = run_cli(["bench", "--preset", "smoke", "--model", "replay:" + str(tmp_path / "no.jsonl"),
                            "--dry-run"])
    assert code == 2 and "cassette not found" in err and err.count("\n") == 1
    code, _, err = run_cli(["bench", "--preset", "smoke", "--modes", "zero-shot,telepathy", "--dry-run",
                            "--model", f"replay:{cassette}"])
    assert code == 2 and "unknown mode 'telepathy'" in err


def test_dry_run_counts_the_smoke_grid(cassette: Path):
    code, out, err = run_cli(["bench", "--preset", "smoke", "--model", f"replay:{cassette}", "--dry-run"])
    assert code == 0, err
    cfg, _ = load_config(preset="smoke")
    assert len(cfg.tasks.ids) == 5 and cfg.n == 3 and cfg.temperatures == [0.2] and cfg.repair == 0
    tasks = select_tasks(cfg.tasks)
    assert {t.functionality for t in tasks} == {"tracking", "registration", "hpo", "pruning", "translation"}
    assert {t.kind for t in tasks} == {"inline", "translate"}
    assert "cells: 1; generations: 15 first answers" in out


def test_dry_run_counts_the_paper_grid_with_flags_over_the_file(cassette: Path):
    corpus = [t for t in load_corpus() if t.kind != "ablation"]
    cfg, _ = load_config(preset="paper")
    inline = sum(1 for t in corpus if t.kind == "inline")
    translate = len(corpus) - inline
    assert task_modes(cfg, "inline") == ["zero-shot", "docprompt"]
    assert task_modes(cfg, "translate") == ["docs-search", "llm-search", "llm-docs-search"]
    want = (inline * 2 + translate * 3) * 3 * 3
    code, out, err = run_cli(["bench", "--preset", "paper", "--model", f"replay:{cassette}", "--dry-run"])
    assert code == 0, err
    assert f"cells: 15; generations: {want} first answers" in out
    # Flags override the file: one temperature, n=1, repair 2.
    code, out, _ = run_cli(["bench", "--preset", "paper", "--model", f"replay:{cassette}", "--dry-run",
                            "--temperatures", "0.2", "--n", "1", "--repair", "2"])
    first = inline * 2 + translate * 3
    assert code == 0 and f"cells: 5; generations: {first} first answers + up to {2 * first} repair answers" in out


def test_config_and_flag_together_is_an_error(tmp_path: Path):
    cfg = tmp_path / "b.toml"
    cfg.write_text("n = 2\n")
    code, _, err = run_cli(["bench", str(cfg), "--preset", "smoke", "--dry-run"])
    assert code == 2 and "not both" in err


def test_every_prompt_knob_is_a_config_key_and_a_workflow_field():
    import dataclasses

    from opsgraft.adapters.workflow import Workflow
    from opsgraft.evaluation.benchmark.config import BenchConfig
    from opsgraft.evaluation.benchmark.runner import PROMPT_KNOBS

    fields = {f.name for f in dataclasses.fields(Workflow)}
    assert "exact_calls" in PROMPT_KNOBS
    for knob in PROMPT_KNOBS:
        assert knob in BenchConfig.model_fields and knob in fields, knob


def test_a_model_runs_only_its_own_modes_and_repair(cassette: Path):
    corpus = [t for t in load_corpus() if t.kind != "ablation"]
    inline = sum(1 for t in corpus if t.kind == "inline")
    translate = len(corpus) - inline
    cfg = parse_config({"modes": ["zero-shot", "rag"], "translation_modes": ["docs-search", "llm-search"],
                        "repair": 2, "models": [
                            {"name": "big", "backend": "replay", "cassette": str(cassette)},
                            {"name": "small", "backend": "replay", "cassette": str(cassette),
                             "modes": ["zero-shot", "docs-search"], "repair": 0}]})
    from opsgraft.evaluation.benchmark.runner import make_grid

    grid = make_grid(cfg)
    small = [u for u in grid.units() if u.model == "small"]
    assert {u.mode for u in small} == {"zero-shot", "docs-search"} and {u.rounds(cfg) for u in small} == {0}
    assert {u.rounds(cfg) for u in grid.units() if u.model == "big"} == {2}
    first_big = (inline * 2 + translate * 2) * 3
    first_small = (inline + translate) * 3
    assert grid.generations() == (first_big + first_small, 2 * first_big)
    # run.json keeps a model's own settings, and an entry without them dumps as before they existed
    dumped = grid.config_json()["models"]
    assert "modes" not in dumped[0] and "repair" not in dumped[0]
    assert dumped[1]["modes"] == ["zero-shot", "docs-search"] and dumped[1]["repair"] == 0


def test_a_models_mode_outside_the_grid_is_a_one_line_error(cassette: Path):
    with pytest.raises(ConfigError, match=r"models\[0\]: modes: 'rag' is not one of the grid's modes"):
        parse_config({"modes": ["zero-shot"], "models": [{"backend": "replay", "cassette": str(cassette),
                                                          "modes": ["rag"]}]})
    with pytest.raises(ConfigError, match=r"models\[0\]\.repair: Input should be greater than or equal to 0"):
        parse_config({"models": [{"backend": "local", "repair": -1}]})
