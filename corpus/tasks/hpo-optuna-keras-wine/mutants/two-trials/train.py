"""Classify wine cultivars with a small Keras network (Keras 3, any backend), tuned by Optuna."""

import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras
import optuna
from sklearn.datasets import load_wine
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

SEED = 3
N_TRIALS = 2


def load():
    X, y = load_wine(return_X_y=True)
    X_tr, X_va, y_tr, y_va = train_test_split(X, y, test_size=0.3, random_state=SEED, stratify=y)
    scaler = StandardScaler().fit(X_tr)
    return scaler.transform(X_tr), scaler.transform(X_va), y_tr, y_va


def build_model(learning_rate: float, units: int) -> keras.Model:
    model = keras.Sequential([
        keras.Input(shape=(13,)),
        keras.layers.Dense(units, activation="relu"),
        keras.layers.Dense(3, activation="softmax"),
    ])
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def objective(trial: optuna.Trial) -> float:
    keras.utils.set_random_seed(SEED)
    X_tr, X_va, y_tr, y_va = load()
    model = build_model(
        learning_rate=trial.suggest_float("learning_rate", 1e-4, 1e-1, log=True),
        units=trial.suggest_int("units", 8, 128),
    )
    model.fit(X_tr, y_tr, epochs=5, batch_size=16, verbose=0)
    return model.evaluate(X_va, y_va, verbose=0)[1]


def main() -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=SEED))
    study.optimize(objective, n_trials=N_TRIALS)
    print(f"best params: {study.best_params}")

    keras.utils.set_random_seed(SEED)
    X_tr, X_va, y_tr, y_va = load()
    model = build_model(**study.best_params)
    model.fit(X_tr, y_tr, epochs=10, batch_size=16, verbose=0)
    _, accuracy = model.evaluate(X_va, y_va, verbose=0)
    print(f"validation accuracy: {accuracy:.4f}")


if __name__ == "__main__":
    main()
