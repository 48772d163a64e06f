"""Fit a gradient-boosting regressor on scikit-learn's bundled diabetes data.

The example script of the README: no MLOps tool yet. `opsgraft adapt` adds one.
"""

from sklearn.datasets import load_diabetes
from sklearn.ensemble import GradientBoostingRegressor
from sklearn.metrics import mean_squared_error, r2_score
from sklearn.model_selection import train_test_split

N_ESTIMATORS = 120
LEARNING_RATE = 0.05
MAX_DEPTH = 3


def main() -> None:
    X, y = load_diabetes(return_X_y=True)
    X_train, X_val, y_train, y_val = train_test_split(X, y, test_size=0.2, random_state=42)
    model = GradientBoostingRegressor(
        n_estimators=N_ESTIMATORS, learning_rate=LEARNING_RATE, max_depth=MAX_DEPTH, random_state=42
    )
    model.fit(X_train, y_train)
    # Validation error after every 20 boosting stages, like epochs of a network.
    for stage, y_pred in enumerate(model.staged_predict(X_val), start=1):
        if stage % 20 == 0:
            print(f"stage {stage}: val_mse={mean_squared_error(y_val, y_pred):.1f}")
    print(f"final r2={r2_score(y_val, model.predict(X_val)):.3f}")


if __name__ == "__main__":
    main()
