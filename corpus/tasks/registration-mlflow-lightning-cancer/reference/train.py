"""Breast cancer diagnosis with PyTorch Lightning: a LightningDataModule and a small
batch-normalized network, configured from the command line."""

import argparse

import mlflow
import mlflow.pytorch
import pytorch_lightning as pl
import torch
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import train_test_split
from torch import nn
from torch.nn import functional as F
from torch.utils.data import DataLoader, TensorDataset


class CancerData(pl.LightningDataModule):
    def __init__(self, batch_size: int, seed: int) -> None:
        super().__init__()
        self.batch_size = batch_size
        self.seed = seed

    def setup(self, stage: str | None = None) -> None:
        X, y = load_breast_cancer(return_X_y=True)
        X_train, X_val, y_train, y_val = train_test_split(
            X, y, test_size=0.2, random_state=self.seed, stratify=y
        )
        as_tensors = lambda a, b: TensorDataset(  # noqa: E731
            torch.tensor(a, dtype=torch.float32), torch.tensor(b, dtype=torch.float32)
        )
        self.train_set = as_tensors(X_train, y_train)
        self.val_set = as_tensors(X_val, y_val)

    def train_dataloader(self) -> DataLoader:
        return DataLoader(self.train_set, batch_size=self.batch_size, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(self.val_set, batch_size=256)


class CancerNet(pl.LightningModule):
    """Raw features in: the first BatchNorm standardizes them, a logit comes out."""

    def __init__(self, n_features: int = 30, hidden: int = 24, lr: float = 1e-2) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.net = nn.Sequential(
            nn.BatchNorm1d(n_features),
            nn.Linear(n_features, hidden),
            nn.ReLU(),
            nn.BatchNorm1d(hidden),
            nn.Linear(hidden, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).squeeze(-1)

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = F.binary_cross_entropy_with_logits(self(x), y)
        self.log("train_loss", loss, on_epoch=True, on_step=False)
        return loss

    def validation_step(self, batch, batch_idx):
        x, y = batch
        logits = self(x)
        self.log("val_loss", F.binary_cross_entropy_with_logits(logits, y))
        self.log("val_acc", ((logits > 0).float() == y).float().mean())

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=self.hparams.lr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--hidden", type=int, default=24)
    parser.add_argument("--lr", type=float, default=1e-2)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()

    pl.seed_everything(args.seed, workers=True)
    data = CancerData(args.batch_size, args.seed)
    model = CancerNet(hidden=args.hidden, lr=args.lr)
    trainer = pl.Trainer(
        max_epochs=args.epochs,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(model, datamodule=data)
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
    print("  ".join(f"{k} {v:.4f}" for k, v in sorted(metrics.items())))
    trainer.save_checkpoint("cancer_net.ckpt")

    with mlflow.start_run(run_name="cancer-net"):
        mlflow.log_params(vars(args))
        mlflow.log_metrics({"val_acc": metrics["val_acc"], "val_loss": metrics["val_loss"]})
        # A LightningModule is an nn.Module: mlflow.pytorch logs it, in eval mode so that BatchNorm
        # uses its running statistics. "pickle" avoids the default "pt2" export, which needs an
        # input_example; registered_model_name creates the registry version.
        mlflow.pytorch.log_model(
            model.eval().cpu(),
            name="model",
            registered_model_name="cancer-classifier",
            serialization_format="pickle",
            pip_requirements=["torch", "pytorch-lightning"],
        )


if __name__ == "__main__":
    main()
