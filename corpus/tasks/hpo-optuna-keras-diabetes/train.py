"""Predict diabetes progression with a small Keras MLP (functional API, Keras 3, any backend)."""

import argparse
import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras
import numpy as np
from sklearn.datasets import load_diabetes
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

SEED = 11


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--dropout", type=float, default=0.1)
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()

    keras.utils.set_random_seed(SEED)
    X_tr, X_va, y_tr, y_va = split_data()
    model = make_regressor(X_tr.shape[1], args.learning_rate, args.dropout)
    model.fit(X_tr, y_tr, epochs=args.epochs, batch_size=args.batch_size, verbose=0)
    _, mae = model.evaluate(X_va, y_va, verbose=0)
    print(f"validation MAE: {mae * 100:.2f}")


if __name__ == "__main__":
    main()
