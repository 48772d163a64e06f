"""Ablation study of a small CNN on the 8x8 digit images."""

import json

import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import nn

SEED = 2
EPOCHS = 3
DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
COMPONENTS = ("batchnorm", "second_conv", "hidden_fc")


class CNN(nn.Module):
    def __init__(self, removed: str | None = None) -> None:
        super().__init__()
        self.removed = removed
        self.conv1 = nn.Conv2d(1, 16, kernel_size=3, padding=1)
        #ABLATION_HINT_START batchnorm
        self.bn = nn.BatchNorm2d(16) if removed != "batchnorm" else None
        #ABLATION_HINT_END
        #ABLATION_HINT_START second_conv
        self.conv2 = nn.Conv2d(16, 16, kernel_size=3, padding=1) if removed != "second_conv" else None
        #ABLATION_HINT_END
        self.pool = nn.MaxPool2d(2)
        #ABLATION_HINT_START hidden_fc
        self.fc1 = nn.Linear(16 * 4 * 4, 64) if removed != "hidden_fc" else None
        #ABLATION_HINT_END
        self.out = nn.Linear(64 if self.fc1 is not None else 16 * 4 * 4, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv1(x)
        #ABLATION_HINT_START batchnorm
        if self.bn is not None:
            x = self.bn(x)
        #ABLATION_HINT_END
        x = torch.relu(x)
        #ABLATION_HINT_START second_conv
        if self.conv2 is not None:
            x = torch.relu(self.conv2(x))
        #ABLATION_HINT_END
        x = self.pool(x).flatten(1)
        #ABLATION_HINT_START hidden_fc
        if self.fc1 is not None:
            x = torch.relu(self.fc1(x))
        #ABLATION_HINT_END
        return self.out(x)


def data():
    digits = load_digits()
    X = digits.images[:, None] / 16.0
    X_tr, X_te, y_tr, y_te = train_test_split(X, digits.target, test_size=0.3, random_state=SEED)
    f = lambda a, dt: torch.tensor(a, dtype=dt, device=DEVICE)  # noqa: E731
    return f(X_tr, torch.float32), f(X_te, torch.float32), f(y_tr, torch.long), f(y_te, torch.long)


def run(removed: str | None) -> dict:
    torch.manual_seed(SEED)
    X_tr, X_te, y_tr, y_te = data()
    model = CNN().to(DEVICE)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(EPOCHS):
        model.train()
        perm = torch.randperm(len(X_tr), device=DEVICE)
        for i in range(0, len(perm), 64):
            idx = perm[i : i + 64]
            optimizer.zero_grad()
            nn.functional.cross_entropy(model(X_tr[idx]), y_tr[idx]).backward()
            optimizer.step()
    model.eval()
    with torch.no_grad():
        accuracy = (model(X_te).argmax(1) == y_te).float().mean().item()
    n_params = sum(p.numel() for p in model.parameters())
    return {"name": removed or "baseline", "n_params": n_params, "metric": accuracy}


def main() -> None:
    results = [run(removed) for removed in (None, *COMPONENTS)]
    for r in results:
        print(f"{r['name']}: {r['n_params']} params, test accuracy {r['metric']:.4f}")
    with open("ablation_results.json", "w") as fh:
        json.dump(results, fh, indent=2)


if __name__ == "__main__":
    main()
