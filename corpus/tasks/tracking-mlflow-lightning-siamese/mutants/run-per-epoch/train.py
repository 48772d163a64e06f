"""A siamese network that learns whether two synthetic feature vectors share a class."""

import mlflow
import pytorch_lightning as pl
import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.data import DataLoader, TensorDataset

SEED = 0
DIM = 16
CLASSES = 8
EMBED = 8
MARGIN = 2.0
NOISE = 1.2
LR = 5e-3
EPOCHS = 6
BATCH_SIZE = 128


def make_pairs(n: int, prototypes: torch.Tensor, gen: torch.Generator) -> TensorDataset:
    """Pairs of noisy class prototypes; half of them share a class (label 1)."""
    a = torch.randint(CLASSES, (n,), generator=gen)
    same = torch.rand(n, generator=gen) < 0.5
    other = (a + torch.randint(1, CLASSES, (n,), generator=gen)) % CLASSES
    b = torch.where(same, a, other)
    x1 = prototypes[a] + NOISE * torch.randn(n, DIM, generator=gen)
    x2 = prototypes[b] + NOISE * torch.randn(n, DIM, generator=gen)
    return TensorDataset(x1, x2, same.float())


class Siamese(pl.LightningModule):
    def __init__(self, embed: int = EMBED, margin: float = MARGIN, lr: float = LR) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.encoder = nn.Sequential(nn.Linear(DIM, 32), nn.ReLU(), nn.Linear(32, embed))

    def forward(self, x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
        return F.pairwise_distance(self.encoder(x1), self.encoder(x2))

    def contrastive(self, dist: torch.Tensor, same: torch.Tensor) -> torch.Tensor:
        # Pull matching pairs together, push the others at least `margin` apart.
        return (same * dist.pow(2) + (1 - same) * F.relu(self.hparams.margin - dist).pow(2)).mean()

    def training_step(self, batch, batch_idx):
        x1, x2, same = batch
        loss = self.contrastive(self(x1, x2), same)
        self.log("train_loss", loss, on_step=False, on_epoch=True)
        return loss

    def validation_step(self, batch, batch_idx):
        x1, x2, same = batch
        dist = self(x1, x2)
        pred = (dist < self.hparams.margin / 2).float()
        self.log("val_loss", self.contrastive(dist, same))
        self.log("val_pair_acc", (pred == same).float().mean())

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=self.hparams.lr)


class PrintMetrics(pl.Callback):
    def on_validation_epoch_end(self, trainer, pl_module):
        m = trainer.callback_metrics
        # A fresh run for every epoch: each run holds one value per metric and no params.
        with mlflow.start_run(run_name=f"epoch-{trainer.current_epoch}"):
            mlflow.log_metrics({k: float(v) for k, v in m.items()}, step=trainer.current_epoch)
        print(
            f"epoch {trainer.current_epoch}  train_loss {m.get('train_loss', float('nan')):.4f}  "
            f"val_loss {m['val_loss']:.4f}  val_pair_acc {m['val_pair_acc']:.4f}"
        )


def main() -> None:
    pl.seed_everything(SEED, workers=True)
    gen = torch.Generator().manual_seed(SEED)
    prototypes = 1.5 * torch.randn(CLASSES, DIM, generator=gen)
    train = DataLoader(make_pairs(3000, prototypes, gen), batch_size=BATCH_SIZE, shuffle=True)
    val = DataLoader(make_pairs(1000, prototypes, gen), batch_size=500)
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
    model = Siamese()
    with mlflow.start_run(run_name="hparams"):
        mlflow.log_params({**dict(model.hparams), "seed": SEED})
    trainer.fit(model, train, val)


if __name__ == "__main__":
    main()
