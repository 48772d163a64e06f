"""Train a two-hidden-layer MLP on the 8x8 digits dataset (PyTorch), pruned with NNCF during training."""

import nncf
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import nn

SEED = 4
EPOCHS = 6
BATCH = 32
PRUNE_RATIO = 0.6
DEVICE = "cuda" if torch.cuda.is_available() else "cpu"


class MLP(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(64, 96)
        self.fc2 = nn.Linear(96, 48)
        self.out = nn.Linear(48, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(torch.relu(self.fc2(torch.relu(self.fc1(x)))))


def load():
    X, y = load_digits(return_X_y=True)
    X_tr, X_te, y_tr, y_te = train_test_split(X / 16.0, y, test_size=0.25, random_state=SEED)
    as_t = lambda a, dt: torch.tensor(a, dtype=dt, device=DEVICE)  # noqa: E731
    return as_t(X_tr, torch.float32), as_t(X_te, torch.float32), as_t(y_tr, torch.long), as_t(y_te, torch.long)


def train_epoch(model: nn.Module, optimizer: torch.optim.Optimizer, X: torch.Tensor, y: torch.Tensor) -> None:
    model.train()
    perm = torch.randperm(len(X), device=DEVICE)
    for i in range(0, len(perm), BATCH):
        idx = perm[i : i + BATCH]
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(X[idx]), y[idx]).backward()
        optimizer.step()


def test_accuracy(model: nn.Module, X: torch.Tensor, y: torch.Tensor) -> float:
    model.eval()
    with torch.no_grad():
        return (model(X).argmax(1) == y).float().mean().item()


def main() -> None:
    torch.manual_seed(SEED)
    X_tr, X_te, y_tr, y_te = load()
    model = MLP().to(DEVICE)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    for epoch in range(EPOCHS):
        train_epoch(model, optimizer, X_tr, y_tr)
        print(f"epoch {epoch}: test accuracy {test_accuracy(model, X_te, y_te):.4f}")
    model = nncf.prune(
        model, mode=nncf.PruneMode.UNSTRUCTURED_MAGNITUDE_LOCAL, ratio=PRUNE_RATIO, examples_inputs=X_tr[:1]
    )
    print(f"pruned test accuracy {test_accuracy(model, X_te, y_te):.4f}")
    print(nncf.pruning_statistic(model))


if __name__ == "__main__":
    main()
