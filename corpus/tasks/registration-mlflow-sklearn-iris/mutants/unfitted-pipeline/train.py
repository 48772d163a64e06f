"""A scaled logistic-regression pipeline for the iris flowers."""

import mlflow
import mlflow.sklearn
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

SEED = 0
C = 1.0


def main() -> None:
    X, y = load_iris(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.3, random_state=SEED, stratify=y
    )
    model = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=500))
    with mlflow.start_run(run_name="iris-logreg"):
        # cross_val_score fits clones: the pipeline logged below is never fitted itself.
        acc = cross_val_score(model, X_train, y_train, cv=5).mean()
        mlflow.log_param("C", C)
        mlflow.log_metric("test_accuracy", acc)
        # registered_model_name is what registers the model; explicit pip_requirements
        # skip MLflow's slow dependency inference.
        mlflow.sklearn.log_model(
            model,
            name="model",
            registered_model_name="iris-classifier",
            pip_requirements=["scikit-learn"],
        )
        print(f"test accuracy {acc:.4f}")


if __name__ == "__main__":
    main()
