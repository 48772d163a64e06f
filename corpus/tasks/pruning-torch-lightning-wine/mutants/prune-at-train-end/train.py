"""Classify wine cultivars with a PyTorch Lightning MLP, magnitude-pruned during training with
torch.nn.utils.prune from a Lightning Callback.

Mutant: the callback prunes in on_train_end, after the last optimizer step, so the
model is never trained with the masks.
"""

import warnings

import pytorch_lightning as pl
import torch
from sklearn.datasets import load_wine
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
from torch import nn
from torch.nn.utils import prune
from torch.utils.data import DataLoader, TensorDataset

SEED = 8
EPOCHS = 10
PRUNE_EPOCH = 2
AMOUNT = 0.5
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


def linear_layers(model: nn.Module) -> list[nn.Linear]:
    return [m for m in model.modules() if isinstance(m, nn.Linear)]


def weight_sparsity(model: nn.Module) -> float:
    weights = [layer.weight for layer in linear_layers(model)]
    return sum(int((w == 0).sum()) for w in weights) / sum(w.numel() for w in weights)


class MagnitudePruning(pl.Callback):
    """Prune ``amount`` of every Linear weight (L1) at the start of ``epoch``; the masks stay on
    while training continues and are made permanent when training ends."""

    def __init__(self, epoch: int, amount: float) -> None:
        self.epoch = epoch
        self.amount = amount

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        for layer in linear_layers(pl_module):
            prune.l1_unstructured(layer, name="weight", amount=self.amount)
            if prune.is_pruned(layer):
                prune.remove(layer, "weight")


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
                         enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                         callbacks=[MagnitudePruning(PRUNE_EPOCH, AMOUNT)])
    trainer.fit(model, train_loader, val_loader)
    print(f"validation accuracy: {float(trainer.callback_metrics['val_acc']):.4f}, "
          f"weight sparsity {weight_sparsity(model):.2f}")


if __name__ == "__main__":
    main()
