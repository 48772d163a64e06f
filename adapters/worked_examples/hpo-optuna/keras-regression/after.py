"""A two-layer Keras 3 regressor on a synthetic linear-plus-noise target."""

import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras  # noqa: E402
import optuna  # noqa: E402
from sklearn.datasets import make_regression  # noqa: E402

EPOCHS = 4


def fit(X, y, units, lr, epochs):
    """Train one model; returns the last validation MAE."""
    keras.utils.set_random_seed(2)
    model = keras.Sequential([keras.Input(shape=(6,)), keras.layers.Dense(units, activation="relu"),
                              keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=lr), loss="mse", metrics=["mae"])
    history = model.fit(X, y, validation_split=0.2, epochs=epochs, batch_size=32, verbose=0)
    return float(history.history["val_mae"][-1])


def main():
    X, y = make_regression(n_samples=400, n_features=6, noise=5.0, random_state=2)
    y = y / y.std()

    def objective(trial):
        units = trial.suggest_int("units", 4, 32)
        lr = trial.suggest_float("lr", 1e-3, 5e-2, log=True)
        return fit(X, y, units, lr, epochs=2)

    study = optuna.create_study(direction="minimize", sampler=optuna.samplers.TPESampler(seed=2))
    study.optimize(objective, n_trials=5)
    print(f"best params {study.best_params}")
    print(f"last val_mae {fit(X, y, epochs=EPOCHS, **study.best_params):.4f}")


if __name__ == "__main__":
    main()
