"""Gradient boosting on the breast cancer data set, evaluated after every boosting stage."""

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
    model = GradientBoostingClassifier(
        n_estimators=N_ESTIMATORS,
        learning_rate=LEARNING_RATE,
        max_depth=MAX_DEPTH,
        subsample=SUBSAMPLE,
        random_state=SEED,
    )
    model.fit(X_train, y_train)
    # staged_predict_proba replays the ensemble one stage at a time.
    for stage, proba in enumerate(model.staged_predict_proba(X_val), start=1):
        loss = log_loss(y_val, proba)
        if stage % 10 == 0:
            print(f"stage {stage:3d}  val_logloss {loss:.4f}")
    acc = accuracy_score(y_val, model.predict(X_val))
    print(f"final val_accuracy {acc:.4f}")


if __name__ == "__main__":
    main()
