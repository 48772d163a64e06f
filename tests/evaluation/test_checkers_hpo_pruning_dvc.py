"""Checkers optuna-study, pruning, dvc-tracked and ablation, and the hooks that feed them.

Fast tests build the evidence by hand (one test per failure reason); the sandbox tests run tiny
programs through the real sandbox so that the hooks write real evidence; whole corpus tasks run
for real (a few cheap ones by default, the heavy ones marked ``slow``).
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import textwrap
from pathlib import Path
from typing import Any

import pytest

from opsgraft.evaluation.checkers.ablation import check_ablation
from opsgraft.evaluation.checkers.base import CheckContext
from opsgraft.evaluation.checkers.dvc_tracked import check_dvc_tracked, object_path
from opsgraft.evaluation.checkers.optuna_study import check_optuna_study, names_match
from opsgraft.evaluation.checkers.pruning import check_pruning
from opsgraft.types import ExecutionResult, Task

# --- helpers ----------------------------------------------------------------------------------


def make_ctx(workdir: Path, status: str = "passed", files: dict[str, str] | None = None) -> CheckContext:
    task = Task(
        id="t",
        kind="inline",
        functionality="x",
        component="x",
        framework="none",
        instruction="",
        entry="train.py",
        files=("train.py",),
        checker="x",
    )
    execution = ExecutionResult(
        status=status,  # type: ignore[arg-type]
        returncode=0 if status == "passed" else 1,
        wall_s=1.0,
        stderr_tail="Traceback...\nValueError: boom",
    )
    env = {"OPSGRAFT_EVIDENCE_DIR": str(evidence_of(workdir))}
    return CheckContext(task=task, workdir=workdir, execution=execution, env=env, files=files or {})


def evidence_of(workdir: Path) -> Path:
    """The evidence folder of these hand-made contexts (in a sandbox: <root>/.sandbox/evidence)."""
    return workdir / "_evidence"


def write_jsonl(workdir: Path, name: str, records: list[dict[str, Any]]) -> None:
    folder = evidence_of(workdir)
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / name).open("a") as fh:
        for record in records:
            fh.write(json.dumps({"pid": 1, **record}) + "\n")


TRIAL_CS = [0.5, 2.0, 12.5, 40.0, 0.03, 7.0, 1.5, 90.0, 0.2, 3.3]
TRIAL_GAMMAS = [0.01, 0.0004, 0.003, 0.07, 0.0002, 0.005, 0.02, 0.0009, 0.04, 0.0001]
SVC_TRIALS = [{"C": c, "gamma": g} for c, g in zip(TRIAL_CS, TRIAL_GAMMAS, strict=True)]


def study_events(
    n_complete: int = 10, end_t: int = 100_000, best: dict[str, Any] | None = None, trials: list[dict[str, Any]] | None = None
) -> list[dict[str, Any]]:
    """A study's hook lines; trial i runs in the window [1000 i + 1, 1000 i + 900]."""
    trials = SVC_TRIALS if trials is None else trials
    best = {"C": 12.5, "gamma": 0.003} if best is None else best
    summary = {"study": "s", "n_trials": n_complete, "n_complete": n_complete, "best_params": best}
    states = [{"number": i, "state": "COMPLETE", "params": p} for i, p in enumerate(trials)]
    windows = [
        e
        for i, p in enumerate(trials)
        for e in (
            {"event": "trial_start", "study": "s", "number": i, "t": 1000 * i + 1},
            {"event": "trial_end", "study": "s", "number": i, "t": 1000 * i + 900, "params": p, "state": "RETURNED"},
        )
    ]
    return [
        {"event": "optimize_start", "study": "s", "t": 0},
        *windows,
        {"event": "optimize_end", "t": end_t, "trials": states, **summary},
        {"event": "exit", "t": 10_000_000, **summary},
    ]


def trial_fits(
    make: Any = lambda p: {"svc__C": p["C"], "svc__gamma": p["gamma"]}, trials: list[dict[str, Any]] | None = None,
    framework: str = "sklearn",
) -> list[dict[str, Any]]:
    """One training inside each trial's window, with the settings ``make(trial params)``."""
    trials = SVC_TRIALS if trials is None else trials
    return [fit(1000 * i + 500, make(p), framework=framework) for i, p in enumerate(trials)]


def fit(t: int, params: dict[str, Any], framework: str = "sklearn", **extra: Any) -> dict[str, Any]:
    return {"event": "fit", "framework": framework, "estimator": "E", "t": t, "params": params, **extra}


# --- optuna-study -----------------------------------------------------------------------------


def test_optuna_passes_when_trials_and_the_final_fit_use_the_params(tmp_path: Path) -> None:
    write_jsonl(tmp_path, "optuna.jsonl", study_events())
    final = fit(200_000, {"svc__C": 12.5, "svc__gamma": 0.003, "svc__kernel": "rbf"})
    write_jsonl(tmp_path, "fit.jsonl", [*trial_fits(), fit(150_000, {"svc__C": 1.0}), final])
    v = check_optuna_study(make_ctx(tmp_path), min_trials=10)
    assert v.passed, v.reasons
    assert v.evidence["channels"] == {"C": "sklearn:svc__C", "gamma": "sklearn:svc__gamma"}


def test_optuna_fails_without_any_study(tmp_path: Path) -> None:
    write_jsonl(tmp_path, "fit.jsonl", [fit(200, {"C": 1.0})])
    v = check_optuna_study(make_ctx(tmp_path), min_trials=5)
    assert not v.passed and "no Optuna study" in v.reasons[0]


def test_optuna_fails_with_too_few_complete_trials(tmp_path: Path) -> None:
    write_jsonl(tmp_path, "optuna.jsonl", study_events(n_complete=3))
    write_jsonl(tmp_path, "fit.jsonl", [*trial_fits(), fit(200_000, {"C": 12.5, "gamma": 0.003})])
    v = check_optuna_study(make_ctx(tmp_path), min_trials=5)
    assert not v.passed and "3 COMPLETE trials" in v.reasons[0]


def test_optuna_fails_when_the_final_fit_uses_other_values(tmp_path: Path) -> None:
    write_jsonl(tmp_path, "optuna.jsonl", study_events() + [{"event": "best_access", "study": "s", "t": 150_000}])
    write_jsonl(tmp_path, "fit.jsonl", [*trial_fits(), fit(200_000, {"svc__C": 1.0, "svc__gamma": 0.003})])
    v = check_optuna_study(make_ctx(tmp_path), min_trials=5)
    assert not v.passed and "svc__C=1.0" in v.reasons[0]


def test_optuna_fails_when_no_training_follows_the_study(tmp_path: Path) -> None:
    write_jsonl(tmp_path, "optuna.jsonl", study_events())
    write_jsonl(tmp_path, "fit.jsonl", trial_fits())
    v = check_optuna_study(make_ctx(tmp_path), min_trials=5)
    assert not v.passed and "no training call" in v.reasons[0]


def test_optuna_fails_for_a_study_over_a_param_no_training_uses(tmp_path: Path) -> None:
    """The issue's case: a study over an unrelated parameter, then a final fit with defaults."""
    trials = [{"x": c} for c in TRIAL_CS]
    write_jsonl(tmp_path, "optuna.jsonl", study_events(best={"x": 12.5}, trials=trials))
    constant = {"svc__C": 1.0, "svc__gamma": "scale"}
    write_jsonl(tmp_path, "fit.jsonl", [*trial_fits(lambda p: constant, trials), fit(200_000, constant)])
    # the program even read best_params after the study: that proves nothing
    write_jsonl(tmp_path, "optuna.jsonl", [{"event": "best_access", "attr": "best_params", "study": "s", "t": 150_000}])
    v = check_optuna_study(make_ctx(tmp_path), min_trials=5)
    assert not v.passed and "did not use: x (no training inside" in v.reasons[0], v.reasons


def test_optuna_fails_when_trials_ignore_a_param_that_names_a_setting(tmp_path: Path) -> None:
    """The objective suggests gamma but builds the model without it: named, but never the value."""
    write_jsonl(tmp_path, "optuna.jsonl", study_events())
    fits = trial_fits(lambda p: {"svc__C": p["C"], "svc__gamma": "scale"})
    write_jsonl(tmp_path, "fit.jsonl", [*fits, fit(200_000, {"svc__C": 12.5, "svc__gamma": 0.003})])
    v = check_optuna_study(make_ctx(tmp_path), min_trials=5)
    assert not v.passed and "gamma (trial 0 suggested gamma=0.01, its training had svc__gamma='scale')" in v.reasons[0]


def test_optuna_a_constant_setting_that_equals_some_trial_values_is_no_channel(tmp_path: Path) -> None:
    trials = [{"flag": i % 2 == 0} for i in range(10)]
    write_jsonl(tmp_path, "optuna.jsonl", study_events(best={"flag": True}, trials=trials))
    fits = trial_fits(lambda p: {"shuffle": True}, trials)
    write_jsonl(tmp_path, "fit.jsonl", [*fits, fit(200_000, {"shuffle": True})])
    assert "flag (no training" in check_optuna_study(make_ctx(tmp_path), min_trials=5).reasons[0]


def test_optuna_matches_values_under_other_names_and_torch_optimizer_settings(tmp_path: Path) -> None:
    """Lightning without save_hyperparameters: lr and hidden reach training only through the torch
    optimizer line (its lr and the model's layer sizes); the final one must carry the best values."""
    trials = [{"lr": c / 1000, "hidden": 32 + 7 * i} for i, c in enumerate(TRIAL_CS)]
    write_jsonl(tmp_path, "optuna.jsonl", study_events(best=trials[2], trials=trials))

    def opt(t: int, p: dict[str, Any]) -> dict[str, Any]:
        setup = {"lr": p["lr"], "beta1": 0.9, "net.0.out_features": p["hidden"], "net.2.out_features": 10}
        return {"event": "optimizer", "opt": t, "class": "Adam", "t": t, "params": setup}

    write_jsonl(tmp_path, "torch.jsonl", [opt(1000 * i + 600, p) for i, p in enumerate(trials)])
    write_jsonl(tmp_path, "fit.jsonl", [fit(1000 * i + 500, {"max_epochs": 3}, "lightning") for i in range(10)])
    write_jsonl(tmp_path, "torch.jsonl", [opt(200_000, {"lr": 1e-3, "hidden": trials[2]["hidden"]})])
    v = check_optuna_study(make_ctx(tmp_path), min_trials=5)
    assert not v.passed and "lr=0.001 but the best trial has lr=0.0125" in v.reasons[0], v.reasons
    write_jsonl(tmp_path, "torch.jsonl", [opt(300_000, trials[2])])
    v = check_optuna_study(make_ctx(tmp_path), min_trials=5)
    assert v.passed, v.reasons
    assert v.evidence["channels"] == {"hidden": "torch:net.0.out_features", "lr": "torch:lr"}


def test_optuna_keras_layer_names_numbered_per_model_are_one_setting(tmp_path: Path) -> None:
    trials = [{"units": 8 + i} for i in range(10)]
    write_jsonl(tmp_path, "optuna.jsonl", study_events(best={"units": 10}, trials=trials))
    fits = [fit(1000 * i + 500, {f"dense_{2 * i}__units": p["units"], f"dense_{2 * i + 1}__units": 3}, "keras")
            for i, p in enumerate(trials)]
    write_jsonl(tmp_path, "fit.jsonl", [*fits, fit(200_000, {"dense_40__units": 10, "dense_41__units": 3}, "keras")])
    v = check_optuna_study(make_ctx(tmp_path), min_trials=5)
    assert v.passed, v.reasons


def test_optuna_forged_evidence_mutant_is_refused_and_its_lines_fail_anyway(tmp_path: Path) -> None:
    """The corpus mutant ships the .opsgraft/ lines that passed before evidence left the workdir:
    judge refuses it unrun, and the same lines in the real evidence folder (no timed trials,
    no training inside them) fail the checker too."""
    from opsgraft.evaluation.corpus import load_task, mutant_files
    from opsgraft.evaluation.evaluator import judge
    from opsgraft.types import Candidate

    task = load_task("hpo-optuna-sklearn-svc")
    files = mutant_files(task)["forged-evidence"]
    assert {".opsgraft/optuna.jsonl", ".opsgraft/fit.jsonl"} <= set(files)
    result = judge(task, Candidate(task.id, 0, files, task.entry, origin="forged-evidence"))
    assert result.status == "failed" and "refused unrun" in result.verdict.reasons[0]
    folder = evidence_of(tmp_path)
    folder.mkdir()
    for name in ("optuna.jsonl", "fit.jsonl"):
        (folder / name).write_text(files[f".opsgraft/{name}"])
    v = check_optuna_study(make_ctx(tmp_path), min_trials=10)
    assert not v.passed and "no COMPLETE trial" in v.reasons[0], v.reasons


def test_optuna_fails_when_the_program_failed(tmp_path: Path) -> None:
    write_jsonl(tmp_path, "optuna.jsonl", study_events())
    v = check_optuna_study(make_ctx(tmp_path, status="failed"), min_trials=5)
    assert not v.passed and "exited with code 1" in v.reasons[0]


@pytest.mark.parametrize(
    ("best", "observed", "expected"),
    [
        ("C", "svc__C", True),
        ("svc_C", "C", True),
        ("lr", "optimizer__learning_rate", True),
        ("epochs", "max_epochs", True),
        ("units", "dense__units", True),
        ("hidden", "torch:net.0.hidden", True),
        ("C", "cache_size", False),
        ("n_est", "n_estimators", False),
    ],
)
def test_names_match(best: str, observed: str, expected: bool) -> None:
    assert names_match(best, observed) is expected


# --- pruning ----------------------------------------------------------------------------------


def steps(sparsities: list[float], opt: int = 0) -> list[dict[str, Any]]:
    return [
        {"event": "step", "opt": opt, "opt_step": i + 1, "step": i + 1, "sparsity": s}
        for i, s in enumerate(sparsities)
    ]


def test_pruning_passes_when_training_continues_on_sparse_weights(tmp_path: Path) -> None:
    write_jsonl(
        tmp_path,
        "torch.jsonl",
        steps([0.0] * 10 + [0.5] * 30) + [{"event": "exit", "opt": 0, "steps": 40, "sparsity": 0.5}],
    )
    v = check_pruning(make_ctx(tmp_path), target_sparsity=0.45, min_steps_after=20)
    assert v.passed, v.reasons


def test_pruning_after_training_fails(tmp_path: Path) -> None:
    write_jsonl(
        tmp_path,
        "torch.jsonl",
        steps([0.0] * 40) + [{"event": "exit", "opt": 0, "steps": 40, "sparsity": 0.5}],
    )
    v = check_pruning(make_ctx(tmp_path), target_sparsity=0.45)
    assert not v.passed and "only after the last optimizer step" in v.reasons[0]


def test_pruning_too_light_fails(tmp_path: Path) -> None:
    write_jsonl(
        tmp_path,
        "torch.jsonl",
        steps([0.0] * 5 + [0.1] * 35) + [{"event": "exit", "opt": 0, "steps": 40, "sparsity": 0.1}],
    )
    v = check_pruning(make_ctx(tmp_path), target_sparsity=0.3)
    assert not v.passed and "0.10" in v.reasons[0]


def test_pruning_too_close_to_the_end_fails(tmp_path: Path) -> None:
    write_jsonl(
        tmp_path,
        "torch.jsonl",
        steps([0.0] * 38 + [0.5] * 2) + [{"event": "exit", "opt": 0, "steps": 40, "sparsity": 0.5}],
    )
    v = check_pruning(make_ctx(tmp_path), target_sparsity=0.3, min_steps_after=10)
    assert not v.passed and "steps before training ended" in v.reasons[0]


def test_pruning_undone_at_the_end_fails(tmp_path: Path) -> None:
    write_jsonl(
        tmp_path,
        "torch.jsonl",
        steps([0.5] * 40) + [{"event": "exit", "opt": 0, "steps": 40, "sparsity": 0.0}],
    )
    v = check_pruning(make_ctx(tmp_path), target_sparsity=0.3)
    assert not v.passed and "no zeros left" in v.reasons[0]


def test_pruning_without_training_fails(tmp_path: Path) -> None:
    v = check_pruning(make_ctx(tmp_path), target_sparsity=0.3)
    assert not v.passed and "no PyTorch optimizer step" in v.reasons[0]


def test_pruning_fails_when_the_pruned_weights_stop_learning(tmp_path: Path) -> None:
    """Frozen pruned weights (or an all-zero layer fed zeros) stay sparse while the optimizer
    steps on: sparsity alone would pass them; the weights' L1 norm shows nothing trained."""
    learning = [{**e, "l1": 100.0 + e["opt_step"]} for e in steps([0.0] * 10 + [0.5] * 30)]
    frozen = [{**e, "l1": 100.0 if e["opt_step"] > 10 else 90.0 + e["opt_step"]} for e in learning]
    for records, end_l1, passes in ((learning, 141.0, True), (frozen, 100.0, False)):
        folder = tmp_path / str(passes)
        folder.mkdir()
        exit_line = {"event": "exit", "opt": 0, "steps": 40, "sparsity": 0.5, "l1": end_l1}
        write_jsonl(folder, "torch.jsonl", [*records, exit_line])
        v = check_pruning(make_ctx(folder), target_sparsity=0.45, min_steps_after=20)
        assert v.passed is passes, v.reasons
    assert "never changed after reaching the target sparsity" in v.reasons[0]
    zero = tmp_path / "zero"
    zero.mkdir()
    write_jsonl(zero, "torch.jsonl", [{**e, "l1": 0.0} for e in steps([1.0] * 40)])
    assert "never changed" in check_pruning(make_ctx(zero), target_sparsity=0.45).reasons[0]


# --- dvc-tracked ------------------------------------------------------------------------------


def git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def dvc_workdir(
    tmp_path: Path, *, push_object: bool = True, commit: bool = True, git_push: bool = True
) -> Path:
    """A workdir as a correct DVC translation leaves it, built by hand (no dvc needed)."""
    remote = tmp_path / "remote.git"
    work = tmp_path / "work"
    (work / "data").mkdir(parents=True)
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(remote))
    git(work, "init", "-q", "-b", "main")
    git(work, "config", "user.email", "t@example.com")
    git(work, "config", "user.name", "t")
    git(work, "remote", "add", "origin", str(remote))
    content = b"a,b\n1,2\n"
    (work / "data" / "d.csv").write_bytes(content)
    md5 = hashlib.md5(content).hexdigest()
    (work / "data" / "d.csv.dvc").write_text(
        f"outs:\n- md5: {md5}\n  size: {len(content)}\n  hash: md5\n  path: d.csv\n"
    )
    (work / "data" / ".gitignore").write_text("/d.csv\n")
    if push_object:
        obj = object_path(work / "dvc-storage", md5)
        obj.parent.mkdir(parents=True)
        obj.write_bytes(content)
    git(work, "add", "data/.gitignore", *(["data/d.csv.dvc"] if commit else []))
    git(work, "commit", "-q", "-m", "data")
    if git_push:
        git(work, "push", "-q", "origin", "main")
    return work


def check_dvc(work: Path, files: dict[str, str] | None = None, **kwargs: Any):  # type: ignore[no-untyped-def]
    return check_dvc_tracked(
        make_ctx(work, files=files), data="data/d.csv", remote_dir="dvc-storage", **kwargs
    )


def test_dvc_passes_for_a_tracked_pushed_committed_file(tmp_path: Path) -> None:
    v = check_dvc(dvc_workdir(tmp_path), require_git_push=True)
    assert v.passed, v.reasons


def test_dvc_fails_without_a_dvc_file(tmp_path: Path) -> None:
    work = dvc_workdir(tmp_path)
    (work / "data" / "d.csv.dvc").unlink()
    assert "not tracked by DVC" in check_dvc(work).reasons[0]


def test_dvc_fails_without_dvc_push(tmp_path: Path) -> None:
    v = check_dvc(dvc_workdir(tmp_path, push_object=False))
    assert not v.passed and "dvc-storage/ does not exist" in v.reasons[0]


def test_dvc_fails_for_a_stale_dvc_file(tmp_path: Path) -> None:
    work = dvc_workdir(tmp_path)
    (work / "data" / "d.csv").write_text("a,b\n1,3\n")
    assert any("stale" in r for r in check_dvc(work).reasons)


def test_dvc_fails_when_the_dvc_file_is_not_committed(tmp_path: Path) -> None:
    assert any("not committed" in r for r in check_dvc(dvc_workdir(tmp_path, commit=False)).reasons)


def test_dvc_fails_when_the_data_is_still_in_git(tmp_path: Path) -> None:
    work = dvc_workdir(tmp_path)
    git(work, "add", "-f", "data/d.csv")
    git(work, "commit", "-q", "-m", "oops")
    assert any("still committed to git" in r for r in check_dvc(work).reasons)


def test_dvc_fails_when_the_commit_was_not_pushed(tmp_path: Path) -> None:
    work = dvc_workdir(tmp_path, git_push=False)
    assert check_dvc(work).passed  # pushing is only required when asked for
    assert any("not pushed" in r for r in check_dvc(work, require_git_push=True).reasons)


def test_dvc_fails_when_git_lfs_was_called_or_is_left_in_the_source(tmp_path: Path) -> None:
    work = dvc_workdir(tmp_path)
    assert any(
        "git lfs is still used" in r for r in check_dvc(work, files={"v.py": "repo.git.lfs('track')"}).reasons
    )
    evidence_of(work).mkdir()
    (evidence_of(work) / "git-lfs.log").write_text("git-lfs track *.csv\n")
    assert any("git-lfs was called 1" in r for r in check_dvc(work).reasons)


# A user's own script names no data and no remote: the checker finds both from what it left.

DVC_CONFIG = "[core]\n    remote = storage\n['remote \"storage\"']\n    url = ../dvc-storage\n"


def released_repo(root: Path, **kwargs: Any) -> tuple[Path, Path]:
    """(empty workdir, repo): a DVC repo as `tempfile.mkdtemp()` leaves it, under the sample root's tmp/."""
    (root / "work").mkdir(parents=True)
    repo = dvc_workdir(root / "tmp" / "release-x", **kwargs)
    (repo / ".dvc").mkdir()
    (repo / ".dvc" / "config").write_text(DVC_CONFIG)
    return root / "work", repo


def test_dvc_without_task_args_finds_the_repo_and_remote_under_tmpdir(tmp_path: Path) -> None:
    work, _ = released_repo(tmp_path)
    v = check_dvc_tracked(make_ctx(work))
    assert v.passed, v.reasons
    [repo] = v.evidence["repos"]
    assert repo["repo"] == "$TMPDIR/release-x/work" and repo["remote"] == "$TMPDIR/release-x/work/dvc-storage"
    assert [t["path"] for t in repo["tracked"]] == ["data/d.csv"] and repo["tracked"][0]["ok"]


def test_dvc_without_task_args_fails_what_a_named_check_fails(tmp_path: Path) -> None:
    work, _ = released_repo(tmp_path / "a", push_object=False)
    assert any("does not exist (no `dvc push`" in r for r in check_dvc_tracked(make_ctx(work)).reasons)
    work, repo = released_repo(tmp_path / "b")
    (repo / "data" / "d.csv").write_text("a,b\n9,9\n")
    assert any("stale" in r for r in check_dvc_tracked(make_ctx(work)).reasons)
    work, _ = released_repo(tmp_path / "c", commit=False)
    assert "data/d.csv.dvc is not committed to git" in check_dvc_tracked(make_ctx(work)).reasons
    work, _ = released_repo(tmp_path / "d", git_push=False)
    assert check_dvc_tracked(make_ctx(work)).passed
    assert any("not pushed" in r for r in check_dvc_tracked(make_ctx(work), require_git_push=True).reasons)


def test_dvc_without_task_args_fails_an_object_missing_from_the_configured_remote(tmp_path: Path) -> None:
    work, repo = released_repo(tmp_path)
    # The object sits in dvc-storage/, but the config's default remote is another folder.
    (repo / ".dvc" / "config").write_text(
        "[core]\n    remote = backup\n['remote \"storage\"']\n    url = ../dvc-storage\n"
        "['remote \"backup\"']\n    url = ../backup\n"
    )
    (repo / "backup").mkdir()
    reasons = check_dvc_tracked(make_ctx(work)).reasons
    assert any("is not in the DVC remote $TMPDIR/release-x/work/backup/ (missing `dvc push`)" in r for r in reasons)


def test_dvc_without_task_args_needs_a_repository_and_a_remote(tmp_path: Path) -> None:
    (tmp_path / "work").mkdir()
    [reason] = check_dvc_tracked(make_ctx(tmp_path / "work")).reasons
    assert reason.startswith("no DVC repository (a .dvc/ folder from `dvc init`) was found in the workdir")
    work, repo = released_repo(tmp_path / "r")
    (repo / ".dvc" / "config").write_text("[core]\n    autostage = true\n")
    assert any("no DVC remote is configured" in r for r in check_dvc_tracked(make_ctx(work)).reasons)
    (repo / ".dvc" / "config").write_text("['remote \"s3\"']\n    url = s3://bucket/x\n")
    assert any("not a local folder" in r for r in check_dvc_tracked(make_ctx(work)).reasons)
    (repo / "data" / "d.csv.dvc").unlink()
    (repo / ".dvc" / "config").write_text(DVC_CONFIG)
    assert any("tracks no data" in r for r in check_dvc_tracked(make_ctx(work)).reasons)


def test_dvc_search_stays_inside_the_sample_root(tmp_path: Path) -> None:
    _, elsewhere = released_repo(tmp_path / "other")
    (tmp_path / "root" / "work").mkdir(parents=True)
    ctx = make_ctx(tmp_path / "root" / "work")
    # A TMPDIR outside the sample root (the caller's own) is not searched.
    ctx = CheckContext(ctx.task, ctx.workdir, ctx.execution, env={**ctx.env, "TMPDIR": str(elsewhere.parent)})
    assert "no DVC repository" in check_dvc_tracked(ctx).reasons[0]


def test_dvc_named_data_reads_the_remote_from_the_config(tmp_path: Path) -> None:
    work = dvc_workdir(tmp_path)
    (work / ".dvc").mkdir()
    (work / ".dvc" / "config").write_text(DVC_CONFIG.replace("../dvc-storage", "/nowhere/absolute"))
    reasons = check_dvc_tracked(make_ctx(work), data="data/d.csv").reasons
    assert any("DVC remote folder /nowhere/absolute/ does not exist" in r for r in reasons)
    (work / ".dvc" / "config").write_text(DVC_CONFIG)
    assert check_dvc_tracked(make_ctx(work), data="data/d.csv").passed


# --- ablation ---------------------------------------------------------------------------------


def write_results(workdir: Path, entries: list[dict[str, Any]]) -> None:
    (workdir / "ablation_results.json").write_text(json.dumps(entries))


MODEL_RESULTS = [
    {"name": "baseline", "n_params": 1000, "metric": 0.9},
    {"name": "without_a", "n_params": 900, "metric": 0.8},
    {"name": "without_b", "n_params": 700, "metric": 0.85},
]


def optimizers(*n_params: int) -> list[dict[str, Any]]:
    return [{"event": "optimizer", "opt": i, "n_params": n} for i, n in enumerate(n_params)]


def test_ablation_passes_for_distinct_trained_models(tmp_path: Path) -> None:
    write_results(tmp_path, MODEL_RESULTS)
    write_jsonl(tmp_path, "torch.jsonl", optimizers(1000, 900, 700))
    v = check_ablation(make_ctx(tmp_path), min_trials=2)
    assert v.passed, v.reasons


@pytest.mark.parametrize(
    ("entries", "reason"),
    [
        (MODEL_RESULTS[1:], 'no entry named "baseline"'),
        (MODEL_RESULTS[:2], "at least 2 are required"),
        (
            [*MODEL_RESULTS[:2], {"name": "without_b", "n_params": 1000, "metric": 0.8}],
            "do not really differ",
        ),
        ([*MODEL_RESULTS[:2], {"name": "without_b", "n_params": 700, "metric": float("nan")}], "finite"),
        ([*MODEL_RESULTS[:2], {"name": "without_b", "metric": 0.8}], "no valid 'n_params'"),
    ],
)
def test_ablation_failure_reasons(tmp_path: Path, entries: list[dict[str, Any]], reason: str) -> None:
    write_results(tmp_path, entries)
    write_jsonl(tmp_path, "torch.jsonl", optimizers(1000, 900, 700))
    v = check_ablation(make_ctx(tmp_path), min_trials=2)
    assert not v.passed and any(reason in r for r in v.reasons), v.reasons


def test_ablation_fails_for_variants_that_were_never_trained(tmp_path: Path) -> None:
    write_results(tmp_path, MODEL_RESULTS)
    write_jsonl(tmp_path, "torch.jsonl", optimizers(1000))
    v = check_ablation(make_ctx(tmp_path), min_trials=2)
    assert not v.passed and "without_a, without_b" in v.reasons[0]
    assert check_ablation(make_ctx(tmp_path), min_trials=2, verify_training=False).passed


def test_ablation_fails_when_variants_train_far_less_than_the_baseline(tmp_path: Path) -> None:
    """One epoch (or one step) for each variant against the baseline's full run: an optimizer
    over each variant stepped, but the comparison measures training length."""
    write_results(tmp_path, MODEL_RESULTS)
    exits = [{"event": "exit", "opt": i, "steps": n} for i, n in enumerate((80, 20, 80))]
    write_jsonl(tmp_path, "torch.jsonl", [*optimizers(1000, 900, 700), *exits])
    v = check_ablation(make_ctx(tmp_path), min_trials=2)
    assert not v.passed and "fewer optimizer steps than the baseline (80): without_a (20)" in v.reasons[0]
    assert check_ablation(make_ctx(tmp_path), min_trials=2, min_step_ratio=0.2).passed


def test_ablation_features_variants_need_the_baselines_evaluation(tmp_path: Path) -> None:
    """Baseline by 5-fold cross-validation, variants by one holdout fit: not the same evaluation."""
    write_results(
        tmp_path,
        [
            {"name": "baseline", "features": ["a", "b", "c"], "metric": 0.5},
            {"name": "without_c", "features": ["a", "b"], "metric": 0.4},
        ],
    )
    write_jsonl(tmp_path, "fit.jsonl", [fit(i, {}, n_features_in=3, feature_names_in=["a", "b", "c"]) for i in range(5)])
    write_jsonl(tmp_path, "fit.jsonl", [fit(9, {}, n_features_in=2, feature_names_in=["a", "b"])])
    v = check_ablation(make_ctx(tmp_path), min_trials=1, mode="features")
    assert not v.passed and "far fewer fits than the baseline (5): without_c (1)" in v.reasons[0], v.reasons
    write_jsonl(tmp_path, "fit.jsonl", [fit(10 + i, {}, n_features_in=2, feature_names_in=["a", "b"]) for i in range(4)])
    assert check_ablation(make_ctx(tmp_path), min_trials=1, mode="features").passed


def test_ablation_fails_without_a_results_file(tmp_path: Path) -> None:
    assert "was not written" in check_ablation(make_ctx(tmp_path)).reasons[0]


def test_ablation_features_checks_the_columns_really_fitted(tmp_path: Path) -> None:
    write_results(
        tmp_path,
        [
            {"name": "baseline", "features": ["a", "b", "c"], "metric": 0.5},
            {"name": "without_c", "features": ["a", "b"], "metric": 0.4},
        ],
    )
    fits = [fit(1, {}, n_features_in=3, feature_names_in=["a", "b", "c"])]
    write_jsonl(tmp_path, "fit.jsonl", fits)
    v = check_ablation(make_ctx(tmp_path), min_trials=1, mode="features")
    assert not v.passed and "without_c" in v.reasons[0]
    write_jsonl(tmp_path, "fit.jsonl", [fit(2, {}, n_features_in=2, feature_names_in=["a", "b"])])
    assert check_ablation(make_ctx(tmp_path), min_trials=1, mode="features").passed


# --- real programs through the sandbox: the hooks write the evidence ---------------------------


def sandboxed(tmp_path: Path, source: str, setup: str = "none", timeout_s: float = 120) -> CheckContext:
    """Run ``source`` as train.py in the real sandbox and return the checker's context."""
    from opsgraft.evaluation.sandbox import run_program

    root = tmp_path / "root"
    root.mkdir(parents=True)
    files = {"train.py": textwrap.dedent(source)}
    run = run_program(files, "train.py", root=root, timeout_s=timeout_s, setup=setup)
    ctx = make_ctx(run.workdir, files=files)
    return CheckContext(task=ctx.task, workdir=run.workdir, execution=run.result, env=run.env, files=files)


OPTUNA_SKLEARN = """
    import optuna
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_score

    X, y = load_iris(return_X_y=True)
    def objective(trial):
        C = trial.suggest_float("C", 1e-2, 1e2, log=True)
        return cross_val_score(LogisticRegression(C=C, max_iter=300), X, y, cv=3).mean()
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=0))
    study.optimize(objective, n_trials=4)
    LogisticRegression(C=FINAL_C, max_iter=300).fit(X, y)
"""


def test_hooks_see_a_study_and_the_refit_with_its_best_params(tmp_path: Path) -> None:
    ctx = sandboxed(tmp_path, OPTUNA_SKLEARN.replace("FINAL_C", 'study.best_params["C"]'))
    assert ctx.execution.status == "passed", ctx.execution.stderr_tail
    v = check_optuna_study(ctx, min_trials=4)
    assert v.passed, v.reasons
    assert not check_optuna_study(ctx, min_trials=5).passed


OPTUNA_TORCH = """
    import optuna
    import torch
    from torch import nn

    torch.manual_seed(0)
    X = torch.randn(64, 8)
    y = (X[:, 0] > 0).long()

    def train(lr, hidden):
        model = nn.Sequential(nn.Linear(8, hidden), nn.ReLU(), nn.Linear(hidden, 2))
        opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
        for _ in range(3):
            opt.zero_grad()
            loss = nn.functional.cross_entropy(model(X), y)
            loss.backward()
            opt.step()
        return loss.item()

    def objective(trial):
        return train(trial.suggest_float("lr", 1e-4, 1e-1, log=True), trial.suggest_int("hidden", 4, 64))

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=0))
    trial = study.ask()  # one trial by ask/tell, the rest by optimize
    study.tell(trial, objective(trial))
    study.optimize(objective, n_trials=3)
    train(FINAL)
"""


def test_hooks_trace_trial_params_into_a_plain_torch_loop(tmp_path: Path) -> None:
    """hook_optuna times each trial (optimize and ask/tell); hook_torch's optimizer line carries
    lr and the layer sizes, so the checker sees the params reach training and the final fit."""
    ctx = sandboxed(tmp_path / "best", OPTUNA_TORCH.replace("FINAL", "**study.best_params"))
    assert ctx.execution.status == "passed", ctx.execution.stderr_tail
    v = check_optuna_study(ctx, min_trials=4)
    assert v.passed, v.reasons
    assert v.evidence["channels"]["lr"] == "torch:lr"
    assert v.evidence["channels"]["hidden"] in ("torch:0.out_features", "torch:2.in_features")
    ctx = sandboxed(tmp_path / "default", OPTUNA_TORCH.replace("FINAL", "1e-3, 32"))
    v = check_optuna_study(ctx, min_trials=4)
    assert not v.passed and "but the best trial has lr=" in v.reasons[0], v.reasons


@pytest.mark.slow
def test_hooks_see_a_refit_that_ignores_the_best_params(tmp_path: Path) -> None:
    ctx = sandboxed(tmp_path, OPTUNA_SKLEARN.replace("FINAL_C", "1.0"))
    v = check_optuna_study(ctx, min_trials=4)
    assert not v.passed and "C=1.0" in v.reasons[0], v.reasons


TORCH_PRUNE = """
    import torch
    from torch import nn
    from torch.nn.utils import prune

    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 2))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    X = torch.randn(256, 16)
    y = (X[:, 0] > 0).long()
    def prune_all():
        for m in model:
            if isinstance(m, nn.Linear):
                prune.l1_unstructured(m, "weight", amount=0.5)
    for epoch in range(6):
        if epoch == PRUNE_EPOCH:
            prune_all()
        for i in range(0, 256, 32):
            opt.zero_grad()
            nn.functional.cross_entropy(model(X[i:i + 32]), y[i:i + 32]).backward()
            opt.step()
    if PRUNE_EPOCH >= 6:
        prune_all()
"""


@pytest.mark.parametrize(
    ("prune_epoch", "passes"), [(2, True), pytest.param(6, False, marks=pytest.mark.slow)]
)
def test_torch_hook_measures_pruning_during_training(tmp_path: Path, prune_epoch: int, passes: bool) -> None:
    ctx = sandboxed(tmp_path, TORCH_PRUNE.replace("PRUNE_EPOCH", str(prune_epoch)))
    assert ctx.execution.status == "passed", ctx.execution.stderr_tail
    v = check_pruning(ctx, target_sparsity=0.45, min_steps_after=10)
    assert v.passed is passes, v.reasons
    records = [json.loads(line) for line in (ctx.evidence_dir / "torch.jsonl").read_text().splitlines()]
    exits = [r for r in records if r["event"] == "exit"]
    assert exits[0]["steps"] == 48 and exits[0]["sparsity"] == pytest.approx(0.5, abs=0.01)
    # a cpu sample sees no GPU (CUDA_VISIBLE_DEVICES is empty), and the hook says where it trained
    assert [r["device"] for r in records if r["event"] == "optimizer"] == ["cpu"]


def test_git_lfs_shim_logs_the_call_and_fails_it(tmp_path: Path) -> None:
    ctx = sandboxed(
        tmp_path,
        """
        import subprocess
        r = subprocess.run(["git", "lfs", "track", "*.csv"], capture_output=True, text=True)
        print("rc", r.returncode, r.stderr.strip())
        """,
        setup="git-repo",
    )
    assert "rc 1" in ctx.execution.stdout_tail and "not available" in ctx.execution.stdout_tail
    assert (ctx.evidence_dir / "git-lfs.log").read_text().strip() == "git-lfs track *.csv"


@pytest.mark.slow
def test_torch_hook_sees_nncf_masks(tmp_path: Path) -> None:
    """NNCF 3.x keeps weights dense and masks them in forward; the hook must apply the masks."""
    source = (
        TORCH_PRUNE.replace("from torch.nn.utils import prune", "import nncf")
        .replace(
            "model = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 2))",
            "class Net(nn.Module):\n"
            "        def __init__(self):\n"
            "            super().__init__()\n"
            "            self.a, self.b = nn.Linear(16, 32), nn.Linear(32, 2)\n"
            "        def forward(self, x):\n"
            "            return self.b(torch.relu(self.a(x)))\n"
            "    model = Net()",
        )
        .replace(
            '        for m in model:\n            if isinstance(m, nn.Linear):\n                prune.l1_unstructured(m, "weight", amount=0.5)',
            "        nncf.prune(model, mode=nncf.PruneMode.UNSTRUCTURED_MAGNITUDE_LOCAL, ratio=0.5, examples_inputs=X[:1])",
        )
        .replace("PRUNE_EPOCH", "2")
    )
    ctx = sandboxed(tmp_path, source, timeout_s=300)
    assert ctx.execution.status == "passed", ctx.execution.stderr_tail
    v = check_pruning(ctx, target_sparsity=0.45, min_steps_after=10)
    assert v.passed, v.reasons


# --- whole corpus tasks -----------------------------------------------------------------------


def judge_variant(task_id: str, variant: str):  # type: ignore[no-untyped-def]
    from opsgraft.evaluation.corpus import load_task, mutant_files, reference_files
    from opsgraft.evaluation.evaluator import judge
    from opsgraft.types import Candidate

    task = load_task(task_id)
    files = (
        {}
        if variant == "input"
        else reference_files(task)
        if variant == "reference"
        else mutant_files(task)[variant]
    )
    return judge(task, Candidate(task.id, 0, files, task.entry, origin=variant))


@pytest.mark.parametrize(
    ("task_id", "variant", "passes"),
    [
        ("ablation-sklearn-diabetes-features", "reference", True),
        ("ablation-sklearn-diabetes-features", "features-not-dropped", False),
        ("translate-gitpython-dvc-lfs-dataset", "input", False),
        ("translate-gitpython-dvc-lfs-dataset", "reference", True),
    ],
)
def test_cheap_corpus_tasks(task_id: str, variant: str, passes: bool) -> None:
    result = judge_variant(task_id, variant)
    assert (result.status == "passed") is passes, (result.execution.stderr_tail, result.verdict)
