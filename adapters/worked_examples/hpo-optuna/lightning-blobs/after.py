"""Classify synthetic Gaussian blobs with a tiny PyTorch Lightning model."""

import optuna
import pytorch_lightning as pl
import torch
from sklearn.datasets import make_blobs
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

EPOCHS = 3


class BlobNet(pl.LightningModule):
    def __init__(self, lr):
        super().__init__()
        self.lr = lr
        self.layer = nn.Linear(2, 3)

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = nn.functional.cross_entropy(self.layer(x), y)
        self.log("train_loss", loss)
        return loss

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=self.lr)


def fit(data, lr, epochs):
    """Train one BlobNet; returns its last train_loss."""
    pl.seed_everything(5, verbose=False)
    trainer = pl.Trainer(max_epochs=epochs, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False)
    trainer.fit(BlobNet(lr), DataLoader(data, batch_size=32, shuffle=True))
    return float(trainer.callback_metrics["train_loss"])


def main():
    X, y = make_blobs(n_samples=300, centers=3, random_state=5)
    data = TensorDataset(torch.tensor(X, dtype=torch.float32), torch.tensor(y))

    def objective(trial):
        return fit(data, trial.suggest_float("lr", 1e-3, 0.5, log=True), epochs=1)

    study = optuna.create_study(direction="minimize", sampler=optuna.samplers.TPESampler(seed=5))
    study.optimize(objective, n_trials=5)
    print(f"best lr {study.best_params['lr']:.4f}")
    print(f"final train_loss {fit(data, study.best_params['lr'], EPOCHS):.4f}")


if __name__ == "__main__":
    main()
