"""Nearest-neighbour classification of two noisy concentric circles."""

from sklearn.datasets import make_circles
from sklearn.model_selection import train_test_split
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

N_NEIGHBORS = 5
WEIGHTS = "uniform"


def main():
    X, y = make_circles(n_samples=500, noise=0.15, factor=0.5, random_state=4)
    X_tr, X_va, y_tr, y_va = train_test_split(X, y, test_size=0.3, random_state=4)
    knn = make_pipeline(StandardScaler(), KNeighborsClassifier(n_neighbors=N_NEIGHBORS, weights=WEIGHTS))
    knn.fit(X_tr, y_tr)
    print(f"validation accuracy {knn.score(X_va, y_va):.3f}")


if __name__ == "__main__":
    main()
