"""Fit Friedman's synthetic regression problem with a Keras 3 functional-API network.

A plain script: it runs top to bottom, no functions. The inputs are standardized inside the
model (a Normalization layer adapted to the training data), so the saved model takes raw rows.
"""

import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.datasets import make_friedman1  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402

SEED = 3
N_SAMPLES = 1500
UNITS = (48, 24)
LR = 3e-3
EPOCHS = 25
BATCH_SIZE = 64

keras.utils.set_random_seed(SEED)
X, y = make_friedman1(n_samples=N_SAMPLES, n_features=8, noise=0.5, random_state=SEED)
X, y = X.astype("float32"), y.astype("float32")
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=SEED)

norm = keras.layers.Normalization()
norm.adapt(X_train)
inputs = keras.Input(shape=(X.shape[1],), name="features")
h = norm(inputs)
for units in UNITS:
    h = keras.layers.Dense(units, activation="gelu")(h)
outputs = keras.layers.Dense(1, name="target")(h)
model = keras.Model(inputs, outputs, name="friedman_mlp")
model.compile(optimizer=keras.optimizers.Adam(LR), loss="mse", metrics=["mae"])

history = model.fit(
    X_train, y_train, validation_split=0.1, epochs=EPOCHS, batch_size=BATCH_SIZE, verbose=0
)
test_mse, test_mae = model.evaluate(X_test, y_test, verbose=0)
baseline_mae = float(np.mean(np.abs(y_test - y_train.mean())))
print(f"test mse {test_mse:.3f}  test mae {test_mae:.3f}  (predicting the mean: mae {baseline_mae:.3f})")
model.save("friedman_mlp.keras")
