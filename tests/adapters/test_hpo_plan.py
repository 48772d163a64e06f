"""HPO's study skeleton: the script's own build/train/score lines as the objective, nested where the data exists."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from opsgraft.adapters import hpo_plan
from opsgraft.adapters.outline import build, render, work_scope
from opsgraft.adapters.specs import get_adapter
from opsgraft.evaluation.corpus import input_files, load_task

SCRIPT = '''from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split


def main():
    X, y = load_iris(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
    clf = LogisticRegression(C=1.0, max_iter=300)
    clf.fit(X_train, y_train)
    print(f"test accuracy: {clf.score(X_test, y_test):.3f}")


if __name__ == "__main__":
    main()
'''


def _code(lines: list[str]) -> str:
    start, end = lines.index("```python"), lines.index("```")
    return "\n".join(lines[start + 1:end])


def test_the_objective_holds_the_scripts_lines_and_returns_the_printed_score():
    o = build(SCRIPT)
    lines = hpo_plan.skeleton(o, SCRIPT, work_scope(o), "tune C over at least 7 trials")
    assert lines[0].startswith("- the study, in main() where line 9 is now: the objective runs lines 9-11")
    assert _code(lines).splitlines() == [
        "    def objective(trial):",
        '        clf = LogisticRegression(C=trial.suggest_float("C", 0.1, 10, log=True), max_iter=300)',
        "        clf.fit(X_train, y_train)",
        "        return clf.score(X_test, y_test)",
        "",
        '    study = optuna.create_study(direction="maximize")',
        "    study.optimize(objective, n_trials=7)",
    ]


def test_the_instructions_ranges_become_the_suggestions_by_name():
    script = SCRIPT.replace("LogisticRegression(C=1.0, max_iter=300)",
                            "LogisticRegression(C=1.0, max_iter=300, tol=1e-4, class_weight=None)")
    o = build(script)
    instruction = ("tune the inverse regularization C (log scale, 1e-3 to 1e3), the tolerance (one of 1e-4 or 1e-3) "
                   "and the iterations max_iter (100 to 500) over 5 trials")
    code = _code(hpo_plan.skeleton(o, script, work_scope(o), instruction))
    assert ('LogisticRegression(C=trial.suggest_float("C", 1e-3, 1e3, log=True), '
            'max_iter=trial.suggest_int("max_iter", 100, 500), tol=1e-4, class_weight=None)') in code
    assert "n_trials=5" in code


def test_a_score_printed_from_a_call_is_returned_with_single_quoted_suggestions():
    task = load_task("hpo-optuna-lightning-regression")  # main() prints train(lr=1e-2, ...) in an f-string
    source = input_files(task)[task.entry]
    o = build(source)
    code = _code(hpo_plan.skeleton(o, source, work_scope(o), task.instruction))
    assert ("        return train(lr=trial.suggest_float('lr', 1e-3, 1e-1, log=True), "
            "weight_decay=trial.suggest_float('weight_decay', 1e-6, 1e-2, log=True), epochs=8)") in code
    assert 'direction="minimize"' in code and "n_trials=5" in code


def test_a_loss_is_minimized_and_without_a_count_ten_trials_run():
    script = SCRIPT.replace('print(f"test accuracy: {clf.score(X_test, y_test):.3f}")',
                            "loss = 1 - clf.score(X_test, y_test)\n    print(loss)")
    o = build(script)
    code = _code(hpo_plan.skeleton(o, script, work_scope(o)))
    assert "return loss" in code and 'direction="minimize"' in code and "n_trials=10" in code


def test_no_skeleton_without_a_score_after_training_or_for_bad_source():
    script = SCRIPT.replace('    print(f"test accuracy: {clf.score(X_test, y_test):.3f}")\n', "")
    o = build(script)
    assert hpo_plan.skeleton(o, script, work_scope(o)) == []
    assert hpo_plan.skeleton(build("def broken(:\n"), "def broken(:\n", "main") == []


def test_the_outline_shows_it_and_without_exact_calls_the_old_lines():
    spec = get_adapter("hpo:optuna")
    on = render(SCRIPT, spec, "train.py", instruction="at least 6 trials")
    assert "def objective(trial):" in on and "n_trials=6" in on and "the values to tune must reach" not in on
    off = render(SCRIPT, spec, "train.py", exact_calls=False)
    assert "def objective(trial):" not in off and "the values to tune must reach the model built at line 9" in off


def test_the_skeleton_put_in_place_runs_a_study_inside_main(tmp_path: Path):
    """In place of the lines it holds, the skeleton (plus the original lines as the final fit) runs as it is."""
    task = load_task("hpo-optuna-sklearn-svc")
    source = input_files(task)[task.entry]
    o = build(source)
    lines = hpo_plan.skeleton(o, source, work_scope(o), task.instruction)
    start = int(lines[0].split("where line ")[1].split(" ")[0])
    src = source.splitlines()
    grafted = ["import optuna", *src[: start - 1], *_code(lines).splitlines(),
               "    print('trials', len(study.trials))", *src[start - 1:]]
    tree = ast.parse("\n".join(grafted))
    main = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "main")
    assert any(isinstance(n, ast.FunctionDef) and n.name == "objective" for n in main.body)
    (tmp_path / "train.py").write_text("\n".join(grafted) + "\n")
    done = subprocess.run([sys.executable, "train.py"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-1500:]
    assert "trials 10" in done.stdout and "test accuracy" in done.stdout
