"""Ablation study of an MLP with normalisation and a bottleneck on the 8x8 digits dataset.

Mutant: only the baseline gets the full training; each variant is trained for one epoch "to
save time", so the comparison measures training length, not the removed component.
"""

import json

import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import nn

SEED = 0
EPOCHS = 4
DEVICE = "cuda" if torch.cuda.is_available() else "cpu"


COMPONENTS = ("norm", "hidden", "bottleneck")


class Net(nn.Module):
    def __init__(self, remove: str | None = None) -> None:
        super().__init__()
        self.inp = nn.Linear(64, 128)
        self.norm = nn.Identity() if remove == "norm" else nn.BatchNorm1d(128)  #ABLATABLE_COMPONENT
        self.hidden = nn.Identity() if remove == "hidden" else nn.Linear(128, 128)  #ABLATABLE_COMPONENT
        self.bottleneck = nn.Identity() if remove == "bottleneck" else nn.Linear(128, 32)  #ABLATABLE_COMPONENT
        self.head = nn.Linear(128 if remove == "bottleneck" else 32, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.norm(self.inp(x)))
        x = torch.relu(self.hidden(x))
        x = torch.relu(self.bottleneck(x))
        return self.head(x)


def data():
    X, y = load_digits(return_X_y=True)
    X_tr, X_te, y_tr, y_te = train_test_split(X / 16.0, y, test_size=0.3, random_state=SEED, stratify=y)
    f = lambda a, dt: torch.tensor(a, dtype=dt, device=DEVICE)  # noqa: E731
    return f(X_tr, torch.float32), f(X_te, torch.float32), f(y_tr, torch.long), f(y_te, torch.long)


def train_and_evaluate(model: nn.Module, epochs: int = EPOCHS) -> float:
    X_tr, X_te, y_tr, y_te = data()
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    for _ in range(epochs):
        model.train()
        perm = torch.randperm(len(X_tr), device=DEVICE)
        for i in range(0, len(perm), 64):
            idx = perm[i : i + 64]
            optimizer.zero_grad()
            nn.functional.cross_entropy(model(X_tr[idx]), y_tr[idx]).backward()
            optimizer.step()
    model.eval()
    with torch.no_grad():
        return (model(X_te).argmax(1) == y_te).float().mean().item()


def main() -> None:
    results = []
    for removed in (None, *COMPONENTS):
        torch.manual_seed(SEED)
        model = Net(remove=removed).to(DEVICE)
        accuracy = train_and_evaluate(model, EPOCHS if removed is None else 1)
        name = "baseline" if removed is None else f"without_{removed}"
        n_params = sum(p.numel() for p in model.parameters())
        results.append({"name": name, "n_params": n_params, "metric": accuracy})
        print(f"{name}: {n_params} params, test accuracy {accuracy:.4f}")
    with open("ablation_results.json", "w") as fh:
        json.dump(results, fh, indent=2)


if __name__ == "__main__":
    main()
