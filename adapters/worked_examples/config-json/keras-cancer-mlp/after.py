import argparse
import json
import os
import sys

import keras
from sklearn.datasets import load_breast_cancer
from sklearn.preprocessing import StandardScaler

DEFAULT_CONFIG = {"learning_rate": 0.002, "units": 16, "epochs": 3, "batch_size": 32, "validation_split": 0.2}


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
    keras.utils.set_random_seed(1)
    X, y = load_breast_cancer(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    model = keras.Sequential([
        keras.Input(shape=(30,)),
        keras.layers.Dense(config["units"], activation="relu"),
        keras.layers.Dense(1, activation="sigmoid"),
    ])
    model.compile(optimizer=keras.optimizers.RMSprop(learning_rate=config["learning_rate"]),
                  loss="binary_crossentropy", metrics=["accuracy"])
    history = model.fit(X, y, epochs=config["epochs"], batch_size=config["batch_size"],
                        validation_split=config["validation_split"], verbose=0)
    print(f"val accuracy: {history.history['val_accuracy'][-1]:.3f}")


if __name__ == "__main__":
    main()
