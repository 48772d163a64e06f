"""A tiny convolutional network on the 8x8 digits images, in Keras 3."""

import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras  # noqa: E402
import mlflow  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402

SEED = 0
FILTERS = 8
KERNEL = 3
LR = 3e-3
BATCH_SIZE = 64
EPOCHS = 6


def build_model() -> keras.Model:
    model = keras.Sequential(
        [
            keras.Input(shape=(8, 8, 1)),
            keras.layers.Conv2D(FILTERS, KERNEL, padding="same", activation="relu"),
            keras.layers.MaxPooling2D(2),
            keras.layers.Conv2D(2 * FILTERS, KERNEL, padding="same", activation="relu"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=LR),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


class PrintEpoch(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        mlflow.log_metrics(
            {"val_loss": float(logs["val_loss"]), "val_accuracy": float(logs["val_accuracy"])}, step=epoch
        )
        print(f"epoch {epoch}  val_loss {logs['val_loss']:.4f}  val_accuracy {logs['val_accuracy']:.4f}")


def main() -> None:
    keras.utils.set_random_seed(SEED)
    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype(np.float32).reshape(-1, 8, 8, 1)
    X_train, X_val, y_train, y_val = train_test_split(X, y, test_size=0.25, random_state=SEED, stratify=y)
    model = build_model()
    with mlflow.start_run(run_name="conv"):
        mlflow.log_params({"filters": FILTERS, "kernel": KERNEL, "lr": LR, "epochs": EPOCHS})
    # Training happens after the `with` block closed the run: the callback's metrics land in
    # a second run that MLflow starts implicitly, without the params.
    model.fit(
        X_train,
        y_train,
        validation_data=(X_val, y_val),
        epochs=EPOCHS,
        batch_size=BATCH_SIZE,
        verbose=0,
        callbacks=[PrintEpoch()],
    )


if __name__ == "__main__":
    main()
