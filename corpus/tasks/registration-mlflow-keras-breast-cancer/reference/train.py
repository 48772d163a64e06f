"""A small Keras 3 classifier for the breast cancer data set, saved as a .keras file."""

import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras  # noqa: E402
import mlflow  # noqa: E402
import mlflow.keras  # noqa: E402
from sklearn.datasets import load_breast_cancer  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

SEED = 0
HIDDEN = 16
LR = 1e-2
EPOCHS = 10
BATCH_SIZE = 32


def main() -> None:
    keras.utils.set_random_seed(SEED)
    X, y = load_breast_cancer(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.3, random_state=SEED, stratify=y
    )
    scaler = StandardScaler().fit(X_train)
    X_train = scaler.transform(X_train).astype("float32")
    X_test = scaler.transform(X_test).astype("float32")
    model = keras.Sequential(
        [
            keras.Input(shape=(X.shape[1],)),
            keras.layers.Dense(HIDDEN, activation="relu"),
            keras.layers.Dense(1, activation="sigmoid"),
        ]
    )
    model.compile(optimizer=keras.optimizers.Adam(LR), loss="binary_crossentropy", metrics=["accuracy"])
    model.fit(X_train, y_train, epochs=EPOCHS, batch_size=BATCH_SIZE, verbose=0)
    _, acc = model.evaluate(X_test, y_test, verbose=0)
    print(f"test accuracy {acc:.4f}")
    model.save("breast_cancer.keras")
    with mlflow.start_run(run_name="breast-cancer-keras"):
        mlflow.log_params({"hidden": HIDDEN, "lr": LR, "epochs": EPOCHS, "batch_size": BATCH_SIZE})
        mlflow.log_metric("test_accuracy", acc)
        # registered_model_name registers the logged model; explicit pip_requirements skip
        # MLflow's slow dependency inference.
        mlflow.keras.log_model(
            model,
            name="model",
            registered_model_name="breast-cancer-keras",
            pip_requirements=["keras", "torch"],
        )


if __name__ == "__main__":
    main()
