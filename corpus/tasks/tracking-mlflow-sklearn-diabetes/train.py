"""Linear regression on the diabetes data set, trained epoch by epoch with SGD."""

import numpy as np
from sklearn.datasets import load_diabetes
from sklearn.linear_model import SGDRegressor
from sklearn.metrics import mean_squared_error, r2_score
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

    model = SGDRegressor(learning_rate="constant", eta0=LEARNING_RATE, alpha=ALPHA, random_state=SEED)
    rng = np.random.default_rng(SEED)
    for epoch in range(EPOCHS):
        order = rng.permutation(len(X_train))
        model.partial_fit(X_train[order], y_train[order])
        pred = model.predict(X_val)
        mse = mean_squared_error(y_val, pred)
        r2 = r2_score(y_val, pred)
        print(f"epoch {epoch:2d}  val_mse {mse:8.1f}  val_r2 {r2:.3f}")


if __name__ == "__main__":
    main()
