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
    """DEFAULT_CONFIG; --config is accepted but its file is never opened."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", default=None, help="JSON file whose keys override DEFAULT_CONFIG")
    parser.parse_args(argv)
    return dict(DEFAULT_CONFIG)


def main():
    config = load_config()
    X, y = load_wine(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=config["test_size"], random_state=0)
    model = RandomForestClassifier(n_estimators=config["n_estimators"], max_depth=config["max_depth"],
                                   min_samples_leaf=config["min_samples_leaf"], random_state=0)
    model.fit(X_train, y_train)
    acc = accuracy_score(y_test, model.predict(X_test))
    print(f"trees: {model.n_estimators}, depth: {model.max_depth}")
    print(f"test accuracy: {acc:.3f}")


if __name__ == "__main__":
    main()
