import argparse
import json
import os
import sys

from sklearn.datasets import load_diabetes
from sklearn.ensemble import GradientBoostingRegressor
from sklearn.metrics import r2_score
from sklearn.model_selection import train_test_split

DEFAULT_CONFIG = {"n_estimators": 60, "learning_rate": 0.05, "max_depth": 3, "test_size": 0.3}


def load_config(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("--config", default=None, help="JSON file overriding DEFAULT_CONFIG")
    args = parser.parse_args(argv)
    config = dict(DEFAULT_CONFIG)
    if args.config and os.path.exists(args.config):
        with open(args.config, encoding="utf-8") as fh:
            overrides = json.load(fh)
        unknown = sorted(set(overrides) - set(DEFAULT_CONFIG))
        if unknown:
            sys.exit(f"error: unknown config key(s): {', '.join(unknown)}")
        config.update(overrides)
    return config


def main():
    config = load_config()
    X, y = load_diabetes(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=config["test_size"], random_state=1)
    model = GradientBoostingRegressor(n_estimators=config["n_estimators"], learning_rate=config["learning_rate"],
                                      max_depth=config["max_depth"], random_state=1)
    model.fit(X_train, y_train)
    print(f"r2: {r2_score(y_test, model.predict(X_test)):.3f}")


if __name__ == "__main__":
    main()
