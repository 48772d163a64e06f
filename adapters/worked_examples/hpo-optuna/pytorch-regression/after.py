"""Fit a small PyTorch MLP to a noisy synthetic regression target."""

import optuna
import torch
from torch import nn

EPOCHS = 6


def make_data(n=600):
    g = torch.Generator().manual_seed(3)
    X = torch.rand(n, 4, generator=g) * 2 - 1
    y = (X[:, :1] * 3 - X[:, 1:2] ** 2 + 0.1 * torch.randn(n, 1, generator=g))
    return X[:500], y[:500], X[500:], y[500:]


def train(X_tr, y_tr, X_va, y_va, lr, hidden, epochs):
    """Train one model; returns the validation MSE."""
    torch.manual_seed(3)
    net = nn.Sequential(nn.Linear(4, hidden), nn.Tanh(), nn.Linear(hidden, 1))
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    for _ in range(epochs):
        for i in range(0, len(X_tr), 50):
            opt.zero_grad()
            loss = nn.functional.mse_loss(net(X_tr[i:i + 50]), y_tr[i:i + 50])
            loss.backward()
            opt.step()
    with torch.no_grad():
        return nn.functional.mse_loss(net(X_va), y_va).item()


def main():
    X_tr, y_tr, X_va, y_va = make_data()

    def objective(trial):
        lr = trial.suggest_float("lr", 1e-3, 1e-1, log=True)
        hidden = trial.suggest_int("hidden", 8, 64)
        return train(X_tr, y_tr, X_va, y_va, lr, hidden, epochs=3)  # short trials

    study = optuna.create_study(direction="minimize", sampler=optuna.samplers.TPESampler(seed=3))
    study.optimize(objective, n_trials=5)
    val_mse = train(X_tr, y_tr, X_va, y_va, epochs=EPOCHS, **study.best_params)
    print(f"best params {study.best_params} final val_mse {val_mse:.4f}")


if __name__ == "__main__":
    main()
