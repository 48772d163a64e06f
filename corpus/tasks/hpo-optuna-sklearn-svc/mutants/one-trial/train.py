"""Train an RBF support vector classifier on the breast cancer dataset, tuned with Optuna."""

import optuna
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import cross_val_score, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

SEED = 0
N_TRIALS = 1


def build(C: float, gamma: float):
    return make_pipeline(StandardScaler(), SVC(C=C, gamma=gamma))


def main() -> None:
    X, y = load_breast_cancer(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=SEED, stratify=y)

    def objective(trial: optuna.Trial) -> float:
        C = trial.suggest_float("C", 1e-2, 1e2, log=True)
        gamma = trial.suggest_float("gamma", 1e-4, 1e-1, log=True)
        return cross_val_score(build(C, gamma), X_train, y_train, cv=5, scoring="accuracy").mean()

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=SEED))
    study.optimize(objective, n_trials=N_TRIALS)
    print(f"best cv accuracy: {study.best_value:.4f} with {study.best_params}")

    model = build(**study.best_params)
    model.fit(X_train, y_train)
    print(f"test accuracy: {model.score(X_test, y_test):.4f}")


if __name__ == "__main__":
    main()
