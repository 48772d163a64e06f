"""Breast cancer diagnosis with a plain PyTorch MLP: a config, a model class and a train loop,
with the learning rate, hidden width and dropout tuned by Optuna.

Mutant: the study is real, but the final model is trained with the default Config.
"""

from dataclasses import dataclass

import optuna
import torch
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

N_TRIALS = 8
TRIAL_EPOCHS = 10


@dataclass
class Config:
    lr: float = 1e-3
    hidden: int = 32
    dropout: float = 0.2
    epochs: int = 25
    batch_size: int = 32
    seed: int = 7


class Classifier(nn.Module):
    def __init__(self, n_features: int, hidden: int, dropout: float) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Linear(n_features, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, 2)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


def datasets(seed: int) -> tuple[TensorDataset, TensorDataset]:
    X, y = load_breast_cancer(return_X_y=True)
    X_tr, X_va, y_tr, y_va = train_test_split(X, y, test_size=0.25, random_state=seed, stratify=y)
    scaler = StandardScaler().fit(X_tr)
    to_ds = lambda a, b: TensorDataset(torch.tensor(a, dtype=torch.float32), torch.tensor(b))  # noqa: E731
    return to_ds(scaler.transform(X_tr), y_tr), to_ds(scaler.transform(X_va), y_va)


def train(cfg: Config) -> float:
    """Train a classifier with ``cfg`` and return its validation accuracy."""
    torch.manual_seed(cfg.seed)
    train_ds, val_ds = datasets(cfg.seed)
    model = Classifier(train_ds.tensors[0].shape[1], cfg.hidden, cfg.dropout)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    loader = DataLoader(train_ds, batch_size=cfg.batch_size, shuffle=True)
    for _ in range(cfg.epochs):
        model.train()
        for xb, yb in loader:
            optimizer.zero_grad()
            nn.functional.cross_entropy(model(xb), yb).backward()
            optimizer.step()
    model.eval()
    X_va, y_va = val_ds.tensors
    with torch.no_grad():
        return (model(X_va).argmax(1) == y_va).float().mean().item()


def objective(trial: optuna.Trial) -> float:
    cfg = Config(
        lr=trial.suggest_float("lr", 1e-4, 1e-1, log=True),
        hidden=trial.suggest_int("hidden", 8, 128),
        dropout=trial.suggest_float("dropout", 0.0, 0.5),
        epochs=TRIAL_EPOCHS,
    )
    return train(cfg)


if __name__ == "__main__":
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=Config.seed))
    study.optimize(objective, n_trials=N_TRIALS)
    print(f"best trial accuracy {study.best_value:.4f} with {study.best_params}")
    best = Config()
    print(f"validation accuracy: {train(best):.4f}")
