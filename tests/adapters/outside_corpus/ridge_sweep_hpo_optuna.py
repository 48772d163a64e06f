"""Fit ridge regressors on the diabetes data for a few regularisation strengths (not a corpus task)."""

import optuna
from sklearn.datasets import load_diabetes
from sklearn.linear_model import Ridge
from sklearn.metrics import r2_score
from sklearn.model_selection import train_test_split


def main():
    X, y = load_diabetes(return_X_y=True)
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.25, random_state=0)

    def objective(trial):
        alpha = trial.suggest_float("alpha", 1e-3, 10.0, log=True)
        model = Ridge(alpha=alpha).fit(X_tr, y_tr)
        return r2_score(y_te, model.predict(X_te))

    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=0))
    study.optimize(objective, n_trials=8)
    model = Ridge(alpha=study.best_params["alpha"]).fit(X_tr, y_tr)
    print(f"best alpha {study.best_params['alpha']:.4f} r2 {r2_score(y_te, model.predict(X_te)):.3f}")


if __name__ == "__main__":
    main()
