"""A multilayer perceptron on the 8x8 digits images, trained with PyTorch Lightning."""

import mlflow
import mlflow.sklearn
import pytorch_lightning as pl
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import nn
from torch.nn import functional as F
from torch.utils.data import DataLoader, TensorDataset

SEED = 0
EPOCHS = 4
BATCH_SIZE = 64
HIDDEN = 64
LR = 3e-3


class DigitsMLP(pl.LightningModule):
    def __init__(self, hidden: int = HIDDEN, lr: float = LR) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.net = nn.Sequential(nn.Linear(64, hidden), nn.ReLU(), nn.Linear(hidden, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def training_step(self, batch, batch_idx):
        x, y = batch
        return F.cross_entropy(self(x), y)

    def validation_step(self, batch, batch_idx):
        x, y = batch
        self.log("val_acc", (self(x).argmax(dim=1) == y).float().mean())

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=self.hparams.lr)


def main() -> None:
    pl.seed_everything(SEED, workers=True)
    X, y = load_digits(return_X_y=True)
    X_train, X_val, y_train, y_val = train_test_split(
        X / 16.0, y, test_size=0.25, random_state=SEED, stratify=y
    )

    def loader(x, t, shuffle):
        data = TensorDataset(torch.tensor(x, dtype=torch.float32), torch.tensor(t))
        return DataLoader(data, batch_size=BATCH_SIZE, shuffle=shuffle)

    model = DigitsMLP()
    trainer = pl.Trainer(
        max_epochs=EPOCHS,
        accelerator="auto",
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
    )
    trainer.fit(model, loader(X_train, y_train, True), loader(X_val, y_val, False))
    val_acc = float(trainer.callback_metrics["val_acc"])
    print(f"final val_acc {val_acc:.4f}")
    torch.save(model.state_dict(), "digits_mlp.pt")
    with mlflow.start_run(run_name="digits-mlp"):
        mlflow.log_params(dict(model.hparams))
        mlflow.log_metric("val_acc", val_acc)
        # Registered, but under the scikit-learn flavor: cloudpickle stores the LightningModule,
        # which has no predict(), so the version cannot serve a prediction.
        mlflow.sklearn.log_model(
            model.cpu(),
            name="model",
            registered_model_name="digits-mlp",
            serialization_format="cloudpickle",
            pip_requirements=["torch", "pytorch-lightning"],
        )


if __name__ == "__main__":
    main()
