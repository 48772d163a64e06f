"""Multi-target regression (three correlated targets) with PyTorch Lightning, logged to
MLflow through Lightning's MLFlowLogger."""

import pytorch_lightning as pl
import torch
from pytorch_lightning.loggers import MLFlowLogger, WandbLogger
from sklearn.datasets import make_regression
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
from torch import nn
from torch.nn import functional as F
from torch.utils.data import DataLoader, TensorDataset

CONFIG = {"width": 64, "depth": 2, "lr": 2e-3, "weight_decay": 1e-4, "batch_size": 64, "epochs": 8, "seed": 4}


class MultiTargetRegressor(pl.LightningModule):
    def __init__(self, n_in: int, n_out: int, width: int, depth: int, lr: float, weight_decay: float) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for i in range(depth):
            layers += [nn.Linear(n_in if i == 0 else width, width), nn.SiLU()]
        self.body = nn.Sequential(*layers, nn.Linear(width, n_out))
        self.lr, self.weight_decay = lr, weight_decay

    def forward(self, x):
        return self.body(x)

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = F.mse_loss(self(x), y)
        self.log("train_mse", loss, on_step=False, on_epoch=True)
        return loss

    def validation_step(self, batch, batch_idx):
        x, y = batch
        pred = self(x)
        r2 = 1 - ((pred - y) ** 2).sum(0) / ((y - y.mean(0)) ** 2).sum(0)
        self.log("val_mse", F.mse_loss(pred, y))
        self.log("val_r2", r2.mean())

    def configure_optimizers(self):
        return torch.optim.AdamW(self.parameters(), lr=self.lr, weight_decay=self.weight_decay)


def loaders(batch_size: int, seed: int):
    X, Y = make_regression(
        n_samples=2500, n_features=12, n_informative=8, n_targets=3, effective_rank=6, noise=5.0, random_state=seed
    )
    X_tr, X_va, Y_tr, Y_va = train_test_split(X, Y, test_size=0.2, random_state=seed)
    xs, ys = StandardScaler().fit(X_tr), StandardScaler().fit(Y_tr)
    as_set = lambda a, b: TensorDataset(  # noqa: E731
        torch.tensor(xs.transform(a), dtype=torch.float32), torch.tensor(ys.transform(b), dtype=torch.float32)
    )
    return (
        DataLoader(as_set(X_tr, Y_tr), batch_size=batch_size, shuffle=True),
        DataLoader(as_set(X_va, Y_va), batch_size=512),
    )


def main() -> None:
    pl.seed_everything(CONFIG["seed"], workers=True)
    train_loader, val_loader = loaders(CONFIG["batch_size"], CONFIG["seed"])
    model = MultiTargetRegressor(
        12, 3, CONFIG["width"], CONFIG["depth"], CONFIG["lr"], CONFIG["weight_decay"]
    )
    # WandbLogger(project=...) -> MLFlowLogger(experiment_name=...). Its tracking URI defaults to
    # the MLFLOW_TRACKING_URI the environment sets; the W&B config update -> log_hyperparams.
    logger = MLFlowLogger(experiment_name="multitarget-regression", log_model=False)
    logger.log_hyperparams(CONFIG)
    # W&B is kept as a second logger during the migration.
    wandb_logger = WandbLogger(project="multitarget-regression", log_model=False)
    wandb_logger.log_hyperparams(CONFIG)
    trainer = pl.Trainer(
        max_epochs=CONFIG["epochs"],
        accelerator="cpu",
        logger=[logger, wandb_logger],
        log_every_n_steps=10,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(model, train_loader, val_loader)
    print({k: round(float(v), 4) for k, v in trainer.callback_metrics.items()})


if __name__ == "__main__":
    main()
