"""Fit a feed-forward regressor to a synthetic nonlinear regression problem with plain PyTorch,
with SGD's learning rate and momentum and the network width tuned by Optuna.

Mutant: the study runs 4 trials, half the required number.
"""

import argparse

import numpy as np
import optuna
import torch
from sklearn.datasets import make_regression
from sklearn.model_selection import train_test_split
from torch import nn

TRIAL_EPOCHS = 6


def make_data(seed: int) -> tuple[torch.Tensor, ...]:
    X, y = make_regression(n_samples=1200, n_features=12, n_informative=8, noise=5.0, random_state=seed)
    y = np.tanh(y / 100.0) * 3.0 + 0.1 * y / 100.0  # make it nonlinear
    X_tr, X_va, y_tr, y_va = train_test_split(X, y, test_size=0.2, random_state=seed)
    mu, sd = X_tr.mean(0), X_tr.std(0)
    f = lambda a: torch.tensor(a, dtype=torch.float32)  # noqa: E731
    return f((X_tr - mu) / sd), f((X_va - mu) / sd), f(y_tr)[:, None], f(y_va)[:, None]


class Net(nn.Module):
    def __init__(self, n_in: int, width: int) -> None:
        super().__init__()
        self.hidden1 = nn.Linear(n_in, width)
        self.hidden2 = nn.Linear(width, width)
        self.head = nn.Linear(width, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.relu(self.hidden2(torch.relu(self.hidden1(x)))))


class Trainer:
    def __init__(self, width: int, lr: float, momentum: float, seed: int = 0, batch_size: int = 64) -> None:
        torch.manual_seed(seed)
        self.X_tr, self.X_va, self.y_tr, self.y_va = make_data(seed)
        self.net = Net(self.X_tr.shape[1], width)
        self.optimizer = torch.optim.SGD(self.net.parameters(), lr=lr, momentum=momentum)
        self.batch_size = batch_size

    def fit(self, epochs: int) -> None:
        for _ in range(epochs):
            self.net.train()
            order = torch.randperm(len(self.X_tr))
            for start in range(0, len(order), self.batch_size):
                idx = order[start : start + self.batch_size]
                self.optimizer.zero_grad()
                nn.functional.mse_loss(self.net(self.X_tr[idx]), self.y_tr[idx]).backward()
                nn.utils.clip_grad_norm_(self.net.parameters(), 5.0)
                self.optimizer.step()

    def evaluate(self) -> float:
        self.net.eval()
        with torch.no_grad():
            return nn.functional.mse_loss(self.net(self.X_va), self.y_va).sqrt().item()


def objective(trial: optuna.Trial) -> float:
    trainer = Trainer(
        width=trial.suggest_int("width", 16, 128),
        lr=trial.suggest_float("lr", 1e-3, 5e-2, log=True),
        momentum=trial.suggest_float("momentum", 0.0, 0.9),
    )
    trainer.fit(TRIAL_EPOCHS)
    return trainer.evaluate()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--trials", type=int, default=4)
    args = parser.parse_args()

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="minimize", sampler=optuna.samplers.TPESampler(seed=0))
    study.optimize(objective, n_trials=args.trials)
    best = study.best_params
    print(f"best trial RMSE {study.best_value:.4f} with {best}")

    trainer = Trainer(best["width"], best["lr"], best["momentum"])
    trainer.fit(args.epochs)
    print(f"validation RMSE: {trainer.evaluate():.4f}")


if __name__ == "__main__":
    main()
