"""A linear classifier on two moons, trained with SGD one pass per epoch."""

import numpy as np
from sklearn.datasets import make_moons
from sklearn.linear_model import SGDClassifier
from sklearn.metrics import log_loss
from sklearn.model_selection import train_test_split

EPOCHS = 5
ALPHA = 1e-3


def main():
    X, y = make_moons(n_samples=400, noise=0.25, random_state=1)
    X_tr, X_va, y_tr, y_va = train_test_split(X, y, test_size=0.3, random_state=1)
    clf = SGDClassifier(loss="log_loss", alpha=ALPHA, random_state=1)
    for epoch in range(EPOCHS):
        clf.partial_fit(X_tr, y_tr, classes=np.unique(y))
        loss = log_loss(y_va, clf.predict_proba(X_va))
        acc = clf.score(X_va, y_va)
        print(f"epoch {epoch} val_loss {loss:.3f} val_acc {acc:.3f}")


if __name__ == "__main__":
    main()
