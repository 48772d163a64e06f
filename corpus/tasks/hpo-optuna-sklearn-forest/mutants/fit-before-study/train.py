"""Fit a random forest regressor on the diabetes dataset, tuned with Optuna."""

import optuna
from sklearn.datasets import load_diabetes
from sklearn.ensemble import RandomForestRegressor
from sklearn.metrics import mean_squared_error
from sklearn.model_selection import cross_val_score, train_test_split

SEED = 42
N_TRIALS = 10


def main() -> None:
    X, y = load_diabetes(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=SEED)
    forest = RandomForestRegressor(n_estimators=50, max_depth=5, random_state=SEED)
    forest.fit(X_train, y_train)

    def objective(trial: optuna.Trial) -> float:
        params = {
            "n_estimators": trial.suggest_int("n_estimators", 20, 100),
            "max_depth": trial.suggest_int("max_depth", 2, 10),
        }
        model = RandomForestRegressor(random_state=SEED, **params)
        scores = cross_val_score(model, X_train, y_train, cv=3, scoring="neg_mean_squared_error")
        return -scores.mean()

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="minimize", sampler=optuna.samplers.TPESampler(seed=SEED))
    study.optimize(objective, n_trials=N_TRIALS)
    print(f"best cv MSE: {study.best_value:.1f} with {study.best_params}")
    print(f"test MSE: {mean_squared_error(y_test, forest.predict(X_test)):.1f}")


if __name__ == "__main__":
    main()
