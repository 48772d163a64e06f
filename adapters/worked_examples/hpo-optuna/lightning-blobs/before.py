"""Classify synthetic Gaussian blobs with a tiny PyTorch Lightning model."""

import pytorch_lightning as pl
import torch
from sklearn.datasets import make_blobs
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

LR = 0.05
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


def main():
    X, y = make_blobs(n_samples=300, centers=3, random_state=5)
    data = TensorDataset(torch.tensor(X, dtype=torch.float32), torch.tensor(y))
    trainer = pl.Trainer(max_epochs=EPOCHS, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False)
    trainer.fit(BlobNet(LR), DataLoader(data, batch_size=32, shuffle=True))
    print(f"final train_loss {float(trainer.callback_metrics['train_loss']):.4f}")


if __name__ == "__main__":
    main()
