"""Train an RBF support vector classifier on the breast cancer dataset, "tuned" with Optuna.

Mutant: the study copies Optuna's quickstart objective (a parameter x no model ever sees), and the
final pipeline is fitted with its defaults, so the study tunes nothing that training uses.
"""

import optuna
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import cross_val_score, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

SEED = 0
N_TRIALS = 12


def main() -> None:
    X, y = load_breast_cancer(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=SEED, stratify=y)
    model = make_pipeline(StandardScaler(), SVC(C=1.0, gamma="scale"))

    def objective(trial: optuna.Trial) -> float:
        x = trial.suggest_float("x", -10, 10)
        score = cross_val_score(model, X_train, y_train, cv=5, scoring="accuracy").mean()
        return score - (x - 2) ** 2

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=SEED))
    study.optimize(objective, n_trials=N_TRIALS)
    print(f"best value: {study.best_value:.4f} with {study.best_params}")

    model.fit(X_train, y_train)
    print(f"test accuracy: {model.score(X_test, y_test):.4f}")


if __name__ == "__main__":
    main()
