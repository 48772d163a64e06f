"""Train a random forest on the wine data set and report its test accuracy."""

import argparse
import json
import os
import sys

from sklearn.datasets import load_wine
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import accuracy_score
from sklearn.model_selection import train_test_split

DEFAULT_CONFIG = {"n_estimators": 40, "max_depth": 4, "min_samples_leaf": 2, "test_size": 0.25}


def load_config(argv=None):
    """DEFAULT_CONFIG overridden by the JSON object in --config PATH (a missing file: the defaults)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", default=None, help="JSON file whose keys override DEFAULT_CONFIG")
    args = parser.parse_args(argv)
    config = dict(DEFAULT_CONFIG)
    if args.config and os.path.exists(args.config):
        with open(args.config, encoding="utf-8") as fh:
            overrides = json.load(fh)
        unknown = sorted(set(overrides) - set(DEFAULT_CONFIG))
        if unknown:
            sys.exit(f"error: unknown config key(s) {', '.join(unknown)}; known: {', '.join(DEFAULT_CONFIG)}")
        config.update(overrides)
    return config


def main():
    config = load_config()
    print("config:", json.dumps(config))
    X, y = load_wine(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0)
    model = RandomForestClassifier(n_estimators=40, max_depth=4, min_samples_leaf=2, random_state=0)
    model.fit(X_train, y_train)
    acc = accuracy_score(y_test, model.predict(X_test))
    print(f"trees: {model.n_estimators}, depth: {model.max_depth}")
    print(f"test accuracy: {acc:.3f}")


if __name__ == "__main__":
    main()
