"""A multilayer perceptron on the 8x8 digits images, in Keras 3."""

import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras  # noqa: E402
import mlflow  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402

SEED = 0
HIDDEN = 64
DROPOUT = 0.2
LR = 2e-3
BATCH_SIZE = 64
EPOCHS = 8


def main() -> None:
    keras.utils.set_random_seed(SEED)
    X, y = load_digits(return_X_y=True)
    X_train, X_val, y_train, y_val = train_test_split(
        (X / 16.0).astype("float32"), y, test_size=0.25, random_state=SEED, stratify=y
    )
    model = keras.Sequential(
        [
            keras.Input(shape=(64,)),
            keras.layers.Dense(HIDDEN, activation="relu"),
            keras.layers.Dropout(DROPOUT),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=LR),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    history = model.fit(
        X_train, y_train, validation_data=(X_val, y_val), epochs=EPOCHS, batch_size=BATCH_SIZE, verbose=0
    )
    with mlflow.start_run():
        mlflow.log_params({"hidden": HIDDEN, "dropout": DROPOUT, "lr": LR})
        # Logged after training, without a step: every metric ends up with a single value.
        mlflow.log_metrics({k: v[-1] for k, v in history.history.items()})
    for epoch, (loss, acc) in enumerate(zip(history.history["val_loss"], history.history["val_accuracy"])):
        print(f"epoch {epoch}  val_loss {loss:.4f}  val_accuracy {acc:.4f}")


if __name__ == "__main__":
    main()
