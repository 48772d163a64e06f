"""A random forest on a synthetic 3-class problem with a few informative features."""

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
    forest.fit(X_tr, y_tr)
    f1 = f1_score(y_te, forest.predict(X_te), average="macro")
    print(f"macro F1 {f1:.3f}")


if __name__ == "__main__":
    main()
