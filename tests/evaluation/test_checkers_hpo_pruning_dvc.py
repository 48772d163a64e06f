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


def study_events(
    n_complete: int = 10, end_t: int = 100, best: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    best = {"C": 12.5, "gamma": 0.003} if best is None else best
    summary = {"study": "s", "n_trials": n_complete, "n_complete": n_complete, "best_params": best}
    return [
        {"event": "optimize_start", "study": "s", "t": 1},
        {"event": "optimize_end", "t": end_t, **summary},
        {"event": "exit", "t": 10_000, **summary},
    ]


def fit(t: int, params: dict[str, Any], framework: str = "sklearn", **extra: Any) -> dict[str, Any]:
    return {"event": "fit", "framework": framework, "estimator": "E", "t": t, "params": params, **extra}


# --- optuna-study -----------------------------------------------------------------------------


def test_optuna_passes_when_a_fit_after_the_study_uses_the_best_params(tmp_path: Path) -> None:
    write_jsonl(tmp_path, "optuna.jsonl", study_events())
    write_jsonl(
        tmp_path, "fit.jsonl", [fit(50, {"svc__C": 1.0}), fit(200, {"svc__C": 12.5, "svc__gamma": 0.003})]
    )
    v = check_optuna_study(make_ctx(tmp_path), min_trials=10)
    assert v.passed, v.reasons


def test_optuna_fails_without_any_study(tmp_path: Path) -> None:
    write_jsonl(tmp_path, "fit.jsonl", [fit(200, {"C": 1.0})])
    v = check_optuna_study(make_ctx(tmp_path), min_trials=5)
    assert not v.passed and "no Optuna study" in v.reasons[0]


def test_optuna_fails_with_too_few_complete_trials(tmp_path: Path) -> None:
    write_jsonl(tmp_path, "optuna.jsonl", study_events(n_complete=3))
    write_jsonl(tmp_path, "fit.jsonl", [fit(200, {"C": 12.5, "gamma": 0.003})])
    v = check_optuna_study(make_ctx(tmp_path), min_trials=5)
    assert not v.passed and "3 COMPLETE trials" in v.reasons[0]


def test_optuna_fails_when_the_final_fit_uses_other_values(tmp_path: Path) -> None:
    write_jsonl(tmp_path, "optuna.jsonl", study_events() + [{"event": "best_access", "study": "s", "t": 150}])
    write_jsonl(tmp_path, "fit.jsonl", [fit(200, {"svc__C": 1.0, "svc__gamma": 0.003})])
    v = check_optuna_study(make_ctx(tmp_path), min_trials=5)
    assert not v.passed and "svc__C=1.0" in v.reasons[0]


def test_optuna_fails_when_no_training_follows_the_study(tmp_path: Path) -> None:
    write_jsonl(tmp_path, "optuna.jsonl", study_events(end_t=300))
    write_jsonl(tmp_path, "fit.jsonl", [fit(200, {"C": 12.5, "gamma": 0.003})])
    v = check_optuna_study(make_ctx(tmp_path), min_trials=5)
    assert not v.passed and "no training call" in v.reasons[0]


def test_optuna_without_comparable_settings_needs_a_read_of_the_best_params(tmp_path: Path) -> None:
    best = {"lr": 0.01, "weight_decay": 1e-4}
    write_jsonl(tmp_path, "optuna.jsonl", study_events(best=best))
    write_jsonl(tmp_path, "fit.jsonl", [fit(200, {"max_epochs": 8}, framework="lightning")])
    v = check_optuna_study(make_ctx(tmp_path), min_trials=5)
    assert not v.passed and "never read" in v.reasons[0]
    write_jsonl(
        tmp_path, "optuna.jsonl", [{"event": "best_access", "attr": "best_params", "study": "s", "t": 150}]
    )
    assert check_optuna_study(make_ctx(tmp_path), min_trials=5).passed


def test_optuna_lightning_hparams_that_disagree_fail_even_after_reading(tmp_path: Path) -> None:
    write_jsonl(tmp_path, "optuna.jsonl", study_events(best={"lr": 0.02, "hidden": 100}))
    write_jsonl(tmp_path, "optuna.jsonl", [{"event": "best_access", "study": "s", "t": 150}])
    write_jsonl(tmp_path, "fit.jsonl", [fit(200, {"lr": 0.001, "hidden": 64}, framework="lightning")])
    assert not check_optuna_study(make_ctx(tmp_path), min_trials=5).passed


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
    root.mkdir()
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
