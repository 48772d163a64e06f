"""Cross-validate a ridge regression on the diabetes dataset."""

from sklearn.datasets import load_diabetes
from sklearn.linear_model import Ridge
from sklearn.model_selection import cross_val_score

FEATURE_GROUPS = {
    "demographics": ["age", "sex"],
    "body": ["bmi", "bp"],
    "serum": ["s1", "s2", "s3", "s4", "s5", "s6"],
}


def main() -> None:
    X, y = load_diabetes(return_X_y=True, as_frame=True)
    scores = cross_val_score(Ridge(alpha=0.1), X, y, cv=5, scoring="r2")
    print(f"R2: {scores.mean():.4f} +- {scores.std():.4f}")


if __name__ == "__main__":
    main()
