"""Train a random forest on the wine data set and report its test accuracy."""

from sklearn.datasets import load_wine
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import accuracy_score
from sklearn.model_selection import train_test_split


def main():
    X, y = load_wine(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0)
    model = RandomForestClassifier(n_estimators=40, max_depth=4, min_samples_leaf=2, random_state=0)
    model.fit(X_train, y_train)
    acc = accuracy_score(y_test, model.predict(X_test))
    print(f"trees: {model.n_estimators}, depth: {model.max_depth}")
    print(f"test accuracy: {acc:.3f}")


if __name__ == "__main__":
    main()
