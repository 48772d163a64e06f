"""Fit ridge regressors on the diabetes data for a few regularisation strengths (not a corpus task)."""

from sklearn.datasets import load_diabetes
from sklearn.linear_model import Ridge
from sklearn.metrics import r2_score
from sklearn.model_selection import train_test_split

ALPHAS = [0.01, 0.1, 1.0, 10.0]


def main():
    X, y = load_diabetes(return_X_y=True)
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.25, random_state=0)
    for step, alpha in enumerate(ALPHAS):
        model = Ridge(alpha=alpha).fit(X_tr, y_tr)
        print(f"step {step} alpha {alpha} r2 {r2_score(y_te, model.predict(X_te)):.3f}")


if __name__ == "__main__":
    main()
