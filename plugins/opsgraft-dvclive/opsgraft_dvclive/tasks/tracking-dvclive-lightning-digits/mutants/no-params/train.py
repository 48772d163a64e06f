"""An MLP on the 8x8 digits images, trained with PyTorch Lightning."""

import pytorch_lightning as pl
import torch
from dvclive.lightning import DVCLiveLogger
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import nn
from torch.nn import functional as F
from torch.utils.data import DataLoader, TensorDataset

SEED = 0
EPOCHS = 5
BATCH_SIZE = 64
LR = 3e-3
HIDDEN = 64


def loaders() -> tuple[DataLoader, DataLoader]:
    X, y = load_digits(return_X_y=True)
    X_train, X_val, y_train, y_val = train_test_split(X / 16.0, y, test_size=0.25, random_state=SEED, stratify=y)

    def dataset(x, t):
        return TensorDataset(torch.tensor(x, dtype=torch.float32), torch.tensor(t))

    return (DataLoader(dataset(X_train, y_train), batch_size=BATCH_SIZE, shuffle=True),
            DataLoader(dataset(X_val, y_val), batch_size=256))


class DigitsMLP(pl.LightningModule):
    def __init__(self, hidden: int = HIDDEN, lr: float = LR) -> None:
        super().__init__()
        self.hidden, self.lr = hidden, lr
        self.net = nn.Sequential(nn.Linear(64, hidden), nn.ReLU(), nn.Linear(hidden, 10))

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
        return torch.optim.Adam(self.parameters(), lr=self.lr)


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
        logger=DVCLiveLogger(save_dvc_exp=False),
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        callbacks=[PrintMetrics()],
    )
    trainer.fit(DigitsMLP(), train, val)


if __name__ == "__main__":
    main()
