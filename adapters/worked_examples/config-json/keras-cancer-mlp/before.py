import keras
from sklearn.datasets import load_breast_cancer
from sklearn.preprocessing import StandardScaler


def main():
    keras.utils.set_random_seed(1)
    X, y = load_breast_cancer(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    model = keras.Sequential([
        keras.Input(shape=(30,)),
        keras.layers.Dense(16, activation="relu"),
        keras.layers.Dense(1, activation="sigmoid"),
    ])
    model.compile(optimizer=keras.optimizers.RMSprop(learning_rate=0.002), loss="binary_crossentropy",
                  metrics=["accuracy"])
    history = model.fit(X, y, epochs=3, batch_size=32, validation_split=0.2, verbose=0)
    print(f"val accuracy: {history.history['val_accuracy'][-1]:.3f}")


if __name__ == "__main__":
    main()
