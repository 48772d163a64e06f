"""Nearest-neighbour classification of two noisy concentric circles."""

import optuna
from sklearn.datasets import make_circles
from sklearn.model_selection import train_test_split
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler


def main():
    X, y = make_circles(n_samples=500, noise=0.15, factor=0.5, random_state=4)
    X_tr, X_va, y_tr, y_va = train_test_split(X, y, test_size=0.3, random_state=4)

    # Defined inside main(), after the split: the objective sees X_tr, y_tr, X_va, y_va.
    def objective(trial):
        n_neighbors = trial.suggest_int("n_neighbors", 1, 30)
        weights = trial.suggest_categorical("weights", ["uniform", "distance"])
        knn = make_pipeline(StandardScaler(), KNeighborsClassifier(n_neighbors=n_neighbors, weights=weights))
        knn.fit(X_tr, y_tr)
        return knn.score(X_va, y_va)

    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=4))
    study.optimize(objective, n_trials=10)
    best = study.best_params
    knn = make_pipeline(StandardScaler(), KNeighborsClassifier(**best))
    knn.fit(X_tr, y_tr)
    print(f"best params {best}")
    print(f"validation accuracy {knn.score(X_va, y_va):.3f}")


if __name__ == "__main__":
    main()
