"""A tiny DCGAN that learns to draw the 8x8 digits images."""

import torch
import wandb
from sklearn.datasets import load_digits
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

SEED = 0
EPOCHS = 4
BATCH_SIZE = 128
LATENT = 16
LR = 2e-3
BETA1 = 0.5


class Generator(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(LATENT, 32 * 2 * 2),
            nn.Unflatten(1, (32, 2, 2)),
            nn.BatchNorm2d(32),
            nn.ReLU(),
            nn.ConvTranspose2d(32, 16, 4, 2, 1),  # 2x2 -> 4x4
            nn.BatchNorm2d(16),
            nn.ReLU(),
            nn.ConvTranspose2d(16, 1, 4, 2, 1),  # 4x4 -> 8x8
            nn.Tanh(),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


class Discriminator(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(1, 16, 4, 2, 1),  # 8x8 -> 4x4
            nn.LeakyReLU(0.2),
            nn.Conv2d(16, 32, 4, 2, 1),  # 4x4 -> 2x2
            nn.BatchNorm2d(32),
            nn.LeakyReLU(0.2),
            nn.Flatten(),
            nn.Linear(32 * 2 * 2, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).squeeze(1)


def main() -> None:
    torch.manual_seed(SEED)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    images = torch.tensor(load_digits().images / 8.0 - 1.0, dtype=torch.float32).unsqueeze(1)
    loader = DataLoader(TensorDataset(images), batch_size=BATCH_SIZE, shuffle=True, drop_last=True)
    gen, disc = Generator().to(device), Discriminator().to(device)
    opt_g = torch.optim.Adam(gen.parameters(), lr=LR, betas=(BETA1, 0.999))
    opt_d = torch.optim.Adam(disc.parameters(), lr=LR, betas=(BETA1, 0.999))
    bce = nn.BCEWithLogitsLoss()

    # WANDB_MODE=offline in the environment keeps the run on disk (./wandb/offline-run-*).
    run = wandb.init(
        project="digits-dcgan",
        config={"latent": LATENT, "lr": LR, "beta1": BETA1, "batch_size": BATCH_SIZE, "epochs": EPOCHS, "seed": SEED},
    )
    for epoch in range(EPOCHS):
        d_total = g_total = 0.0
        for (real,) in loader:
            real = real.to(device)
            ones = torch.ones(len(real), device=device)
            zeros = torch.zeros(len(real), device=device)
            fake = gen(torch.randn(len(real), LATENT, device=device))

            opt_d.zero_grad()
            d_loss = bce(disc(real), ones) + bce(disc(fake.detach()), zeros)
            d_loss.backward()
            opt_d.step()

            opt_g.zero_grad()
            g_loss = bce(disc(fake), ones)
            g_loss.backward()
            opt_g.step()
            d_total += d_loss.item()
            g_total += g_loss.item()
        n = len(loader)
        print(f"epoch {epoch}  d_loss {d_total / n:.4f}  g_loss {g_total / n:.4f}")
        run.log({"epoch": epoch, "d_loss": d_total / n, "g_loss": g_total / n})
    run.finish()


if __name__ == "__main__":
    main()
