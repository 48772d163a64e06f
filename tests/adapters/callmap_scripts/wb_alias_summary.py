"""Fit a ridge regressor over a few alphas and track it with W&B under an alias (outside the corpus)."""

import numpy as np
import wandb as wb
from sklearn.datasets import make_regression
from sklearn.linear_model import Ridge

PARAMS = {"alphas": [0.1, 1.0, 10.0], "seed": 3}


def main() -> None:
    run = wb.init(project="ridge-alphas", config=PARAMS)
    X, y = make_regression(n_samples=200, n_features=5, noise=2.0, random_state=run.config["seed"])
    best = np.inf
    for step, alpha in enumerate(run.config.alphas):
        mse = float(np.mean((Ridge(alpha=alpha).fit(X, y).predict(X) - y) ** 2))
        run.log({"mse": mse, "alpha": alpha}, step=step)
        best = min(best, mse)
    wb.watch(None)
    run.summary["best_mse"] = best
    print(run.name)
    run.finish()


if __name__ == "__main__":
    main()
