"""Fit a random forest regressor on the diabetes dataset."""

from sklearn.datasets import load_diabetes
from sklearn.ensemble import RandomForestRegressor
from sklearn.metrics import mean_squared_error
from sklearn.model_selection import train_test_split

SEED = 42


def main() -> None:
    X, y = load_diabetes(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=SEED)
    forest = RandomForestRegressor(n_estimators=50, max_depth=5, random_state=SEED)
    forest.fit(X_train, y_train)
    print(f"test MSE: {mean_squared_error(y_test, forest.predict(X_test)):.1f}")


if __name__ == "__main__":
    main()
