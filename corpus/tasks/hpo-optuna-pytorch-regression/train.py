"""Fit a feed-forward regressor to a synthetic nonlinear regression problem with plain PyTorch."""

import argparse

import numpy as np
import torch
from sklearn.datasets import make_regression
from sklearn.model_selection import train_test_split
from torch import nn


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--lr", type=float, default=0.01)
    parser.add_argument("--momentum", type=float, default=0.9)
    args = parser.parse_args()
    trainer = Trainer(args.width, args.lr, args.momentum)
    trainer.fit(args.epochs)
    print(f"validation RMSE: {trainer.evaluate():.4f}")


if __name__ == "__main__":
    main()
