"""A small fully-connected autoencoder for the 8x8 digit images (PyTorch), pruned with NNCF
after a few warm-up epochs and fine-tuned with the masks in place.

Mutant: the autoencoder is trained dense and pruned only after the last epoch.
"""

import argparse

import nncf
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import nn

PRUNE_RATIO = 0.5


class AutoEncoder(nn.Module):
    def __init__(self, n_pixels: int = 64, code: int = 12) -> None:
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(n_pixels, 48), nn.Tanh(), nn.Linear(48, code))
        self.decoder = nn.Sequential(nn.Linear(code, 48), nn.Tanh(), nn.Linear(48, n_pixels), nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))


def load_images(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    X = load_digits().data / 16.0
    X_tr, X_te = train_test_split(X, test_size=0.2, random_state=seed)
    return torch.tensor(X_tr, dtype=torch.float32), torch.tensor(X_te, dtype=torch.float32)


def reconstruction_error(model: nn.Module, X: torch.Tensor) -> float:
    model.eval()
    with torch.no_grad():
        return nn.functional.mse_loss(model(X), X).item()


def train(model: nn.Module, optimizer: torch.optim.Optimizer, X: torch.Tensor, batch_size: int) -> float:
    model.train()
    total = 0.0
    for batch in torch.randperm(len(X)).split(batch_size):
        optimizer.zero_grad()
        loss = nn.functional.mse_loss(model(X[batch]), X[batch])
        loss.backward()
        optimizer.step()
        total += loss.item() * len(batch)
    return total / len(X)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--warmup-epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args()

    torch.manual_seed(0)
    X_tr, X_te = load_images(seed=0)
    model = AutoEncoder()
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    for epoch in range(args.epochs):
        loss = train(model, optimizer, X_tr, args.batch_size)
        print(f"epoch {epoch}: train mse {loss:.4f}, test mse {reconstruction_error(model, X_te):.4f}")
    model = nncf.prune(
        model, mode=nncf.PruneMode.UNSTRUCTURED_MAGNITUDE_LOCAL, ratio=PRUNE_RATIO, examples_inputs=X_tr[:1]
    )
    print(nncf.pruning_statistic(model))
    print(f"final test mse: {reconstruction_error(model, X_te):.4f}")


if __name__ == "__main__":
    main()
