"""Fit ridge regressors on the diabetes data for a few regularisation strengths (not a corpus task)."""

import mlflow
import mlflow.sklearn
from sklearn.datasets import load_diabetes
from sklearn.linear_model import Ridge
from sklearn.metrics import r2_score
from sklearn.model_selection import train_test_split

ALPHAS = [0.01, 0.1, 1.0, 10.0]


def main():
    X, y = load_diabetes(return_X_y=True)
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.25, random_state=0)
    best, best_r2 = None, float("-inf")
    with mlflow.start_run():
        for step, alpha in enumerate(ALPHAS):
            model = Ridge(alpha=alpha).fit(X_tr, y_tr)
            r2 = float(r2_score(y_te, model.predict(X_te)))
            print(f"step {step} alpha {alpha} r2 {r2:.3f}")
            if r2 > best_r2:
                best, best_r2 = model, r2
        mlflow.log_params({"alpha": best.alpha, "test_size": 0.25})
        mlflow.log_metric("r2", best_r2)
        mlflow.sklearn.log_model(best, name="model", registered_model_name="ridge-diabetes")


if __name__ == "__main__":
    main()
