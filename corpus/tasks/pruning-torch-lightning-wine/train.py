"""Classify wine cultivars with a PyTorch Lightning MLP."""

import warnings

import pytorch_lightning as pl
import torch
from sklearn.datasets import load_wine
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

SEED = 8
EPOCHS = 10
warnings.filterwarnings("ignore", ".*does not have many workers.*")


class WineNet(pl.LightningModule):
    def __init__(self, lr: float = 5e-3) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.net = nn.Sequential(nn.Linear(13, 64), nn.ReLU(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = nn.functional.cross_entropy(self(x), y)
        self.log("train_loss", loss)
        return loss

    def validation_step(self, batch, batch_idx):
        x, y = batch
        self.log("val_acc", (self(x).argmax(1) == y).float().mean())

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=self.hparams.lr)


def dataloaders() -> tuple[DataLoader, DataLoader]:
    X, y = load_wine(return_X_y=True)
    X_tr, X_va, y_tr, y_va = train_test_split(X, y, test_size=0.25, random_state=SEED, stratify=y)
    scaler = StandardScaler().fit(X_tr)
    ds = lambda a, b: TensorDataset(torch.tensor(a, dtype=torch.float32), torch.tensor(b))  # noqa: E731
    return (DataLoader(ds(scaler.transform(X_tr), y_tr), batch_size=16, shuffle=True),
            DataLoader(ds(scaler.transform(X_va), y_va), batch_size=64))


def main() -> None:
    pl.seed_everything(SEED, verbose=False)
    train_loader, val_loader = dataloaders()
    model = WineNet()
    trainer = pl.Trainer(max_epochs=EPOCHS, accelerator="auto", devices=1, logger=False,
                         enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False)
    trainer.fit(model, train_loader, val_loader)
    print(f"validation accuracy: {float(trainer.callback_metrics['val_acc']):.4f}")


if __name__ == "__main__":
    main()
