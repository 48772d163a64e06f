"""A two-layer Keras 3 regressor on a synthetic linear-plus-noise target."""

import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras  # noqa: E402
from sklearn.datasets import make_regression  # noqa: E402

UNITS = 16
LR = 0.01
EPOCHS = 4


def main():
    keras.utils.set_random_seed(2)
    X, y = make_regression(n_samples=400, n_features=6, noise=5.0, random_state=2)
    y = y / y.std()
    model = keras.Sequential([keras.Input(shape=(6,)), keras.layers.Dense(UNITS, activation="relu"),
                              keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=LR), loss="mse", metrics=["mae"])
    history = model.fit(X, y, validation_split=0.2, epochs=EPOCHS, batch_size=32, verbose=0)
    print(f"last val_mae {history.history['val_mae'][-1]:.4f}")


if __name__ == "__main__":
    main()
