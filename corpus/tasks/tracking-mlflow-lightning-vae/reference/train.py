"""A variational autoencoder on the 8x8 digits images, trained with PyTorch Lightning."""

import mlflow
import mlflow.pytorch
import pytorch_lightning as pl
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import nn
from torch.nn import functional as F
from torch.utils.data import DataLoader, TensorDataset

SEED = 0
EPOCHS = 8
BATCH_SIZE = 64
LR = 3e-3
HIDDEN = 64
LATENT = 4
BETA = 1.0


class VAE(pl.LightningModule):
    def __init__(self, hidden: int = HIDDEN, latent: int = LATENT, lr: float = LR, beta: float = BETA) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.encoder = nn.Sequential(nn.Linear(64, hidden), nn.ReLU())
        self.mu = nn.Linear(hidden, latent)
        self.logvar = nn.Linear(hidden, latent)
        self.decoder = nn.Sequential(nn.Linear(latent, hidden), nn.ReLU(), nn.Linear(hidden, 64))

    def forward(self, x: torch.Tensor):
        h = self.encoder(x)
        mu, logvar = self.mu(h), self.logvar(h)
        # Reparameterisation trick: sample z while keeping gradients to mu and logvar.
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        return self.decoder(z), mu, logvar

    def losses(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits, mu, logvar = self(x)
        recon = F.binary_cross_entropy_with_logits(logits, x, reduction="sum") / len(x)
        kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp()) / len(x)
        return recon, kl

    def training_step(self, batch, batch_idx):
        (x,) = batch
        recon, kl = self.losses(x)
        loss = recon + self.hparams.beta * kl
        self.log("train_loss", loss, on_step=False, on_epoch=True)
        return loss

    def validation_step(self, batch, batch_idx):
        (x,) = batch
        recon, kl = self.losses(x)
        self.log("val_recon", recon)
        self.log("val_kl", kl)
        self.log("val_elbo", -(recon + kl))

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=self.hparams.lr)


class PrintMetrics(pl.Callback):
    def on_validation_epoch_end(self, trainer, pl_module):
        m = trainer.callback_metrics
        print(
            f"epoch {trainer.current_epoch}  val_recon {m['val_recon']:.2f}  "
            f"val_kl {m['val_kl']:.2f}  val_elbo {m['val_elbo']:.2f}"
        )


def main() -> None:
    pl.seed_everything(SEED, workers=True)
    X = load_digits().data / 16.0
    X_train, X_val = train_test_split(X, test_size=0.2, random_state=SEED)
    train = DataLoader(TensorDataset(torch.tensor(X_train, dtype=torch.float32)), batch_size=BATCH_SIZE, shuffle=True)
    val = DataLoader(TensorDataset(torch.tensor(X_val, dtype=torch.float32)), batch_size=256)
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
    model = VAE()
    # autolog() patches Trainer.fit: it starts and ends the run and logs every epoch's metrics.
    mlflow.pytorch.autolog(log_models=False)
    mlflow.set_experiment("digits-vae")
    with mlflow.start_run(run_name="vae"):
        mlflow.log_params(dict(model.hparams))
        trainer.fit(model, train, val)


if __name__ == "__main__":
    main()
