"""A random forest that tells the three wine cultivars apart, saved with pickle."""

import pickle

import mlflow
import mlflow.sklearn
from sklearn.datasets import load_wine
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import accuracy_score
from sklearn.model_selection import train_test_split

SEED = 0
N_ESTIMATORS = 50
MAX_DEPTH = 6


def main() -> None:
    X, y = load_wine(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.3, random_state=SEED, stratify=y
    )
    forest = RandomForestClassifier(
        n_estimators=N_ESTIMATORS, max_depth=MAX_DEPTH, random_state=SEED, n_jobs=1
    )
    with mlflow.start_run(run_name="wine-forest"):
        mlflow.log_params({"n_estimators": N_ESTIMATORS, "max_depth": MAX_DEPTH, "seed": SEED})
        forest.fit(X_train, y_train)
        acc = accuracy_score(y_test, forest.predict(X_test))
        mlflow.log_metric("test_accuracy", acc)
        print(f"test accuracy {acc:.4f}")
        with open("wine_forest.pkl", "wb") as fh:
            pickle.dump(forest, fh)
        # The pickle is kept as a plain artifact: no MLflow model, nothing registered.
        mlflow.log_artifact("wine_forest.pkl")


if __name__ == "__main__":
    main()
