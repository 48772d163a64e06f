"""Classify synthetic Gaussian blobs with a tiny PyTorch Lightning model."""

import mlflow
import mlflow.pytorch
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

    def forward(self, x):  # the registered model is served through forward: predict calls it
        return self.layer(x)

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = nn.functional.cross_entropy(self(x), y)
        self.log("train_loss", loss)
        return loss

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=self.lr)


def main():
    X, y = make_blobs(n_samples=300, centers=3, random_state=5)
    data = TensorDataset(torch.tensor(X, dtype=torch.float32), torch.tensor(y))
    trainer = pl.Trainer(max_epochs=EPOCHS, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False)
    model = BlobNet(LR)
    with mlflow.start_run():
        trainer.fit(model, DataLoader(data, batch_size=32, shuffle=True))
        final_loss = float(trainer.callback_metrics["train_loss"])
        mlflow.log_params({"lr": LR, "epochs": EPOCHS})
        mlflow.log_metric("train_loss", final_loss)
        # A LightningModule is an nn.Module: mlflow.pytorch logs it as it is.
        mlflow.pytorch.log_model(model.cpu(), name="model", registered_model_name="blob-classifier",
                                 serialization_format="pickle", pip_requirements=["torch", "pytorch-lightning"])
    print(f"final train_loss {final_loss:.4f}")


if __name__ == "__main__":
    main()
