"""Feature ablation of a ridge regression on the diabetes dataset.

Mutant: the baseline is scored by 5-fold cross-validation, each variant by one holdout fit:
the comparison mixes two evaluations.
"""

import json

from sklearn.datasets import load_diabetes
from sklearn.linear_model import Ridge
from sklearn.model_selection import cross_val_score, train_test_split

FEATURE_GROUPS = {
    "demographics": ["age", "sex"],
    "body": ["bmi", "bp"],
    "serum": ["s1", "s2", "s3", "s4", "s5", "s6"],
}


def evaluate(X, y) -> float:
    return float(cross_val_score(Ridge(alpha=0.1), X, y, cv=5, scoring="r2").mean())


def main() -> None:
    X, y = load_diabetes(return_X_y=True, as_frame=True)
    results = [{"name": "baseline", "features": list(X.columns), "metric": evaluate(X, y)}]
    for group, columns in FEATURE_GROUPS.items():
        kept = [c for c in X.columns if c not in columns]
        X_tr, X_te, y_tr, y_te = train_test_split(X[kept], y, test_size=0.2, random_state=0)
        metric = float(Ridge(alpha=0.1).fit(X_tr, y_tr).score(X_te, y_te))
        results.append({"name": f"without_{group}", "features": kept, "metric": metric})
    for r in results:
        print(f"{r['name']}: {len(r['features'])} features, R2 {r['metric']:.4f}")
    with open("ablation_results.json", "w") as fh:
        json.dump(results, fh, indent=2)


if __name__ == "__main__":
    main()
