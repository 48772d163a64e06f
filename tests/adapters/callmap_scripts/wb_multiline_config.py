"""Fit a gradient-boosting classifier whose settings live in W&B's config, read inside calls written
over several lines, once through `wandb.config` and once through an alias of the run's config
(outside the corpus)."""

import wandb
from sklearn.datasets import make_classification
from sklearn.ensemble import GradientBoostingClassifier

SETTINGS = {"samples": 400, "features": 8, "n_estimators": 40, "depth": 3, "rate": 0.1}


def main() -> None:
    run = wandb.init(project="gb-multiline", config=SETTINGS)
    X, y = make_classification(
        n_samples=wandb.config.samples,
        n_features=wandb.config.features,
        random_state=0,
    )
    cfg = run.config
    model = GradientBoostingClassifier(
        n_estimators=cfg.n_estimators,
        max_depth=cfg.depth,
        learning_rate=cfg.rate,
    ).fit(X, y)
    wandb.log(
        {"train_acc": model.score(X, y)},
        step=0,
    )
    run.finish()


if __name__ == "__main__":
    main()
