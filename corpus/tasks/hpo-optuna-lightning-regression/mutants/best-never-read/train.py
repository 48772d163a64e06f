"""Regress disease progression on the diabetes dataset with a Lightning MLP tuned by Optuna."""

import warnings

import optuna
import pytorch_lightning as pl
import torch
from sklearn.datasets import load_diabetes
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

SEED = 7
warnings.filterwarnings("ignore", ".*does not have many workers.*")


class Regressor(pl.LightningModule):
    def __init__(self, lr: float, weight_decay: float) -> None:
        super().__init__()
        self.lr = lr
        self.weight_decay = weight_decay
        self.net = nn.Sequential(nn.Linear(10, 32), nn.ReLU(), nn.Linear(32, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).squeeze(-1)

    def training_step(self, batch, batch_idx):
        x, y = batch
        return nn.functional.mse_loss(self(x), y)

    def validation_step(self, batch, batch_idx):
        x, y = batch
        self.log("val_mse", nn.functional.mse_loss(self(x), y))

    def configure_optimizers(self):
        return torch.optim.AdamW(self.parameters(), lr=self.lr, weight_decay=self.weight_decay)


def data() -> tuple[DataLoader, DataLoader]:
    X, y = load_diabetes(return_X_y=True)
    X_tr, X_va, y_tr, y_va = train_test_split(X, y, test_size=0.25, random_state=SEED)
    scaler = StandardScaler().fit(X_tr)
    mean, std = y_tr.mean(), y_tr.std()

    def tensors(X, y):
        return TensorDataset(torch.tensor(scaler.transform(X), dtype=torch.float32),
                             torch.tensor((y - mean) / std, dtype=torch.float32))

    return (DataLoader(tensors(X_tr, y_tr), batch_size=32, shuffle=True),
            DataLoader(tensors(X_va, y_va), batch_size=256))


def train(lr: float, weight_decay: float, epochs: int) -> float:
    pl.seed_everything(SEED, verbose=False)
    train_loader, val_loader = data()
    model = Regressor(lr, weight_decay)
    trainer = pl.Trainer(
        max_epochs=epochs, accelerator="auto", devices=1, enable_progress_bar=False,
        enable_model_summary=False, logger=False, enable_checkpointing=False,
    )
    trainer.fit(model, train_loader, val_loader)
    return float(trainer.callback_metrics["val_mse"])


def objective(trial: optuna.Trial) -> float:
    lr = trial.suggest_float("lr", 1e-3, 1e-1, log=True)
    weight_decay = trial.suggest_float("weight_decay", 1e-6, 1e-2, log=True)
    return train(lr, weight_decay, epochs=4)


def main() -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="minimize", sampler=optuna.samplers.TPESampler(seed=SEED))
    study.optimize(objective, n_trials=5)
    print(f"finished {len(study.trials)} trials")
    print(f"validation MSE (standardized): {train(lr=1e-2, weight_decay=1e-4, epochs=8):.4f}")


if __name__ == "__main__":
    main()
