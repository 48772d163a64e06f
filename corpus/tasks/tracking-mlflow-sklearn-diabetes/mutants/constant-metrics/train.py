"""Linear regression on the diabetes data set, trained epoch by epoch with SGD."""

import mlflow
from sklearn.datasets import load_diabetes
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

SEED = 0
EPOCHS = 25
LEARNING_RATE = 0.005
ALPHA = 1e-4


def main() -> None:
    X, y = load_diabetes(return_X_y=True)
    X_train, X_val, y_train, y_val = train_test_split(X, y, test_size=0.25, random_state=SEED)
    scaler = StandardScaler().fit(X_train)
    X_train, X_val = scaler.transform(X_train), scaler.transform(X_val)

    # Wrong: four constant params and two steps of made-up metrics; no model is ever trained.
    mlflow.set_experiment("diabetes-sgd")
    with mlflow.start_run():
        mlflow.log_params(
            {"learning_rate": LEARNING_RATE, "alpha": ALPHA, "epochs": EPOCHS, "seed": SEED}
        )
        for epoch, (mse, r2) in enumerate([(3500.0, 0.35), (3100.0, 0.42)]):
            mlflow.log_metrics({"val_mse": mse, "val_r2": r2}, step=epoch)
            print(f"epoch {epoch:2d}  val_mse {mse:8.1f}  val_r2 {r2:.3f}")


if __name__ == "__main__":
    main()
