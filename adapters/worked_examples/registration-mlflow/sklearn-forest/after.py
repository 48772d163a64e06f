"""A random forest on a synthetic 3-class problem with a few informative features."""

import mlflow
import mlflow.sklearn
from sklearn.datasets import make_classification
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import f1_score
from sklearn.model_selection import train_test_split

N_TREES = 40
MAX_DEPTH = 6


def main():
    X, y = make_classification(n_samples=500, n_features=10, n_informative=5, n_classes=3, random_state=8)
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.2, random_state=8)
    forest = RandomForestClassifier(n_estimators=N_TREES, max_depth=MAX_DEPTH, random_state=8)
    with mlflow.start_run():
        forest.fit(X_tr, y_tr)
        f1 = f1_score(y_te, forest.predict(X_te), average="macro")
        mlflow.log_params({"n_estimators": N_TREES, "max_depth": MAX_DEPTH})
        mlflow.log_metric("macro_f1", float(f1))
        # skops, MLflow 3's default format for scikit-learn, refuses tree ensembles: use cloudpickle.
        mlflow.sklearn.log_model(forest, name="model", registered_model_name="synthetic-forest",
                                 serialization_format="cloudpickle", pip_requirements=["scikit-learn", "cloudpickle"])
    print(f"macro F1 {f1:.3f}")


if __name__ == "__main__":
    main()
