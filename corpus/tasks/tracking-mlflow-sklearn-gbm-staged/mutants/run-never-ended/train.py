"""Gradient boosting on the breast cancer data set, evaluated after every boosting stage."""

import os

import mlflow
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.metrics import accuracy_score, log_loss
from sklearn.model_selection import train_test_split

SEED = 0
N_ESTIMATORS = 60
LEARNING_RATE = 0.1
MAX_DEPTH = 2
SUBSAMPLE = 0.8


def main() -> None:
    X, y = load_breast_cancer(return_X_y=True)
    X_train, X_val, y_train, y_val = train_test_split(
        X, y, test_size=0.3, random_state=SEED, stratify=y
    )
    params = {
        "n_estimators": N_ESTIMATORS,
        "learning_rate": LEARNING_RATE,
        "max_depth": MAX_DEPTH,
        "subsample": SUBSAMPLE,
    }
    model = GradientBoostingClassifier(**params, random_state=SEED)
    mlflow.start_run()
    mlflow.log_params({**params, "seed": SEED})
    model.fit(X_train, y_train)
    for stage, proba in enumerate(model.staged_predict_proba(X_val), start=1):
        loss = log_loss(y_val, proba)
        mlflow.log_metric("val_logloss", loss, step=stage)
        if stage % 10 == 0:
            print(f"stage {stage:3d}  val_logloss {loss:.4f}")
    acc = accuracy_score(y_val, model.predict(X_val))
    mlflow.log_metric("val_accuracy", acc)
    print(f"final val_accuracy {acc:.4f}")
    # A hard exit skips MLflow's atexit hook, so the run is never ended.
    os._exit(0)


if __name__ == "__main__":
    main()
