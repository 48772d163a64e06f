"""Train a small Keras MLP on the 8x8 digits data set and report its test accuracy."""

import argparse
import json
import os
import sys

import keras
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

DEFAULT_CONFIG = {"learning_rate": 0.005, "units": 32, "dropout": 0.2, "epochs": 4, "batch_size": 64}


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
    keras.utils.set_random_seed(0)
    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=0)
    model = keras.Sequential([
        keras.Input(shape=(64,)),
        keras.layers.Dense(32, activation="relu"),
        keras.layers.Dropout(0.2),
        keras.layers.Dense(10, activation="softmax"),
    ])
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.005),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(X_train, y_train, epochs=4, batch_size=64, verbose=0)
    loss, acc = model.evaluate(X_test, y_test, verbose=0)
    print(f"test loss: {loss:.4f}")
    print(f"test accuracy: {acc:.3f}")


if __name__ == "__main__":
    main()
