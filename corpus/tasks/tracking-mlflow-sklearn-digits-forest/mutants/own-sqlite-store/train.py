"""A random forest on the 8x8 digits images, grown in stages with warm_start."""

import mlflow
from sklearn.datasets import load_digits
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import accuracy_score
from sklearn.model_selection import train_test_split

SEED = 0
MAX_DEPTH = 12
MAX_FEATURES = "sqrt"
STAGES = [5, 10, 20, 40, 60]


def main() -> None:
    X, y = load_digits(return_X_y=True)
    X_train, X_val, y_train, y_val = train_test_split(
        X, y, test_size=0.25, random_state=SEED, stratify=y
    )
    forest = RandomForestClassifier(
        max_depth=MAX_DEPTH, max_features=MAX_FEATURES, warm_start=True, random_state=SEED, n_jobs=1
    )
    # Overrides the environment's tracking URI with a private sqlite file.
    mlflow.set_tracking_uri("sqlite:///tracking.db")
    with mlflow.start_run():
        mlflow.log_params({"max_depth": MAX_DEPTH, "max_features": MAX_FEATURES, "seed": SEED})
        for n_trees in STAGES:
            forest.set_params(n_estimators=n_trees)
            forest.fit(X_train, y_train)
            acc = accuracy_score(y_val, forest.predict(X_val))
            mlflow.log_metric("val_accuracy", acc, step=n_trees)
            print(f"{n_trees:3d} trees  val_accuracy {acc:.4f}")


if __name__ == "__main__":
    main()
