"""A linear classifier for the breast cancer data set trained with SGD, tracked with MLflow."""

import mlflow
import numpy as np
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import SGDClassifier
from sklearn.metrics import accuracy_score, log_loss
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

SEED = 0
EPOCHS = 15
ALPHA = 1e-3
ETA0 = 0.01


def main() -> None:
    X, y = load_breast_cancer(return_X_y=True)
    X_train, X_val, y_train, y_val = train_test_split(
        X, y, test_size=0.3, random_state=SEED, stratify=y
    )
    scaler = StandardScaler().fit(X_train)
    X_train, X_val = scaler.transform(X_train), scaler.transform(X_val)

    cfg = {"loss": "log_loss", "alpha": ALPHA, "eta0": ETA0, "epochs": EPOCHS}
    mlflow.set_experiment("cancer-sgd")
    run = mlflow.start_run()
    mlflow.log_params(cfg)
    clf = SGDClassifier(
        loss=cfg["loss"], alpha=cfg["alpha"], learning_rate="constant", eta0=cfg["eta0"], random_state=SEED
    )
    rng = np.random.default_rng(SEED)
    classes = np.unique(y_train)
    best = 0.0
    for epoch in range(cfg["epochs"]):
        order = rng.permutation(len(X_train))
        clf.partial_fit(X_train[order], y_train[order], classes=classes)
        val_acc = accuracy_score(y_val, clf.predict(X_val))
        val_loss = log_loss(y_val, clf.predict_proba(X_val))
        best = max(best, val_acc)
        # wandb.log's implicit step counter becomes an explicit MLflow step.
        last = {"val_acc": val_acc, "val_loss": val_loss}
        print(f"epoch {epoch:2d}  val_loss {val_loss:.4f}  val_acc {val_acc:.4f}")
    mlflow.log_metrics({**last, "best_val_acc": best})
    mlflow.end_run()
    print(f"run {run.info.run_id} finished")


if __name__ == "__main__":
    main()
