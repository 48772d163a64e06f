from sklearn.datasets import load_diabetes
from sklearn.ensemble import GradientBoostingRegressor
from sklearn.metrics import r2_score
from sklearn.model_selection import train_test_split


def main():
    X, y = load_diabetes(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, random_state=1)
    model = GradientBoostingRegressor(n_estimators=60, learning_rate=0.05, max_depth=3, random_state=1)
    model.fit(X_train, y_train)
    print(f"r2: {r2_score(y_test, model.predict(X_test)):.3f}")


if __name__ == "__main__":
    main()
