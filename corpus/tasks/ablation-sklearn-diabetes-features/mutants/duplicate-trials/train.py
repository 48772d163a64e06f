"""Feature ablation of a ridge regression on the diabetes dataset."""

import json

from sklearn.datasets import load_diabetes
from sklearn.linear_model import Ridge
from sklearn.model_selection import cross_val_score

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
        kept = list(X.columns)  # TODO drop the group
        results.append({"name": f"without_{group}", "features": kept, "metric": evaluate(X[kept], y)})
    for r in results:
        print(f"{r['name']}: {len(r['features'])} features, R2 {r['metric']:.4f}")
    with open("ablation_results.json", "w") as fh:
        json.dump(results, fh, indent=2)


if __name__ == "__main__":
    main()
