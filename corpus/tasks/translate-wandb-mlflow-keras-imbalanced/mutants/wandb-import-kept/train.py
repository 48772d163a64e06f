"""An imbalanced binary problem (about 1 positive in 10) learned by a Keras 3 network with
class weights, tracked with MLflow through a small Keras callback."""

import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras  # noqa: E402
import mlflow  # noqa: E402
import numpy as np  # noqa: E402
import wandb  # noqa: E402
from sklearn.datasets import make_classification  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

CONFIG = {
    "hidden": 32,
    "dropout": 0.2,
    "learning_rate": 2e-3,
    "epochs": 12,
    "batch_size": 64,
    "positive_weight": 5.0,
    "seed": 21,
}


class MlflowEpochLogger(keras.callbacks.Callback):
    """Sends Keras' epoch logs (loss, metrics and their val_ twins) to the active MLflow run."""

    def on_epoch_end(self, epoch, logs=None):
        mlflow.log_metrics({name: float(value) for name, value in (logs or {}).items()}, step=epoch)


def load_data(seed: int):
    X, y = make_classification(
        n_samples=3000, n_features=20, n_informative=8, weights=[0.9, 0.1], flip_y=0.02, random_state=seed
    )
    X_train, X_val, y_train, y_val = train_test_split(X, y, test_size=0.25, stratify=y, random_state=seed)
    scaler = StandardScaler().fit(X_train)
    return (
        scaler.transform(X_train).astype("float32"),
        scaler.transform(X_val).astype("float32"),
        y_train.astype("float32"),
        y_val.astype("float32"),
    )


def build_model(n_features: int, cfg: dict) -> keras.Model:
    model = keras.Sequential(
        [
            keras.Input(shape=(n_features,)),
            keras.layers.Dense(cfg["hidden"], activation="relu"),
            keras.layers.Dropout(cfg["dropout"]),
            keras.layers.Dense(1, activation="sigmoid"),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(cfg["learning_rate"]),
        loss="binary_crossentropy",
        metrics=[keras.metrics.AUC(name="auc"), keras.metrics.Recall(name="recall")],
    )
    return model


def train() -> None:
    # wandb.init(project=..., config=..., tags=[...]) -> an experiment, a run, params and tags.
    cfg = dict(CONFIG)
    mlflow.set_experiment("imbalanced-keras")
    wandb.init(project="imbalanced-keras", config=cfg, mode="disabled")  # kept "just in case"
    with mlflow.start_run():
        mlflow.log_params(cfg)
        mlflow.set_tags({"keras": "true", "class-weights": "true"})
        keras.utils.set_random_seed(cfg["seed"])
        X_train, X_val, y_train, y_val = load_data(cfg["seed"])
        model = build_model(X_train.shape[1], cfg)
        history = model.fit(
            X_train,
            y_train,
            validation_data=(X_val, y_val),
            epochs=cfg["epochs"],
            batch_size=cfg["batch_size"],
            class_weight={0: 1.0, 1: cfg["positive_weight"]},
            callbacks=[MlflowEpochLogger()],
            verbose=0,
        )
        best_epoch = int(np.argmax(history.history["val_auc"]))
        # run.summary[...] -> final metrics, logged once after training.
        mlflow.log_metrics({"best_val_auc": history.history["val_auc"][best_epoch], "best_epoch": best_epoch})
        print(f"best val_auc {history.history['val_auc'][best_epoch]:.4f} at epoch {best_epoch}")
    # Leaving the `with` block ends the run (run.finish()).


if __name__ == "__main__":
    train()
