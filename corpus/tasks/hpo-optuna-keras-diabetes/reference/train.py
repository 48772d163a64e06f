"""Predict diabetes progression with a small Keras MLP (functional API, Keras 3, any backend),
with its learning rate, dropout and batch size tuned by Optuna."""

import argparse
import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras
import numpy as np
import optuna
from sklearn.datasets import load_diabetes
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

SEED = 11
TRIAL_EPOCHS = 8


def split_data() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    X, y = load_diabetes(return_X_y=True)
    X_tr, X_va, y_tr, y_va = train_test_split(X, y, test_size=0.2, random_state=SEED)
    scaler = StandardScaler().fit(X_tr)
    # Targets are scaled to about unit range so a plain Adam setup converges in a few epochs.
    return scaler.transform(X_tr), scaler.transform(X_va), y_tr / 100.0, y_va / 100.0


def make_regressor(n_features: int, learning_rate: float, dropout: float) -> keras.Model:
    inputs = keras.Input(shape=(n_features,))
    x = keras.layers.Dense(64, activation="relu")(inputs)
    x = keras.layers.Dropout(dropout)(x)
    x = keras.layers.Dense(32, activation="relu")(x)
    outputs = keras.layers.Dense(1)(x)
    model = keras.Model(inputs, outputs, name="diabetes_mlp")
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=learning_rate), loss="mse", metrics=["mae"])
    return model


def train_and_score(learning_rate: float, dropout: float, batch_size: int, epochs: int) -> float:
    """Train a fresh regressor and return its validation MAE (in scaled units)."""
    keras.utils.set_random_seed(SEED)
    X_tr, X_va, y_tr, y_va = split_data()
    model = make_regressor(X_tr.shape[1], learning_rate, dropout)
    model.fit(X_tr, y_tr, epochs=epochs, batch_size=batch_size, verbose=0)
    return float(model.evaluate(X_va, y_va, verbose=0)[1])


def objective(trial: optuna.Trial) -> float:
    return train_and_score(
        learning_rate=trial.suggest_float("learning_rate", 1e-4, 3e-2, log=True),
        dropout=trial.suggest_float("dropout", 0.0, 0.5),
        batch_size=trial.suggest_categorical("batch_size", [16, 32, 64]),
        epochs=TRIAL_EPOCHS,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--n-trials", type=int, default=6)
    args = parser.parse_args()

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="minimize", sampler=optuna.samplers.TPESampler(seed=SEED))
    study.optimize(objective, n_trials=args.n_trials)
    print(f"best trial MAE {study.best_value * 100:.2f} with {study.best_params}")

    mae = train_and_score(**study.best_params, epochs=args.epochs)
    print(f"validation MAE: {mae * 100:.2f}")


if __name__ == "__main__":
    main()
