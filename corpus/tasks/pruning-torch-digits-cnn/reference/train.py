"""Train a small CNN on the 8x8 digit images with plain PyTorch, with global magnitude pruning."""

import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import nn
from torch.nn.utils import prune

SEED = 1
EPOCHS = 7
PRUNE_EPOCH = 3
AMOUNT = 0.4
DEVICE = "cuda" if torch.cuda.is_available() else "cpu"


class SmallCNN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(16, 32, kernel_size=3, padding=1)
        self.pool = nn.MaxPool2d(2)
        self.fc = nn.Linear(32 * 4 * 4, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(torch.relu(self.conv1(x)))
        x = torch.relu(self.conv2(x))
        return self.fc(x.flatten(1))


def data():
    digits = load_digits()
    X = digits.images[:, None, :, :] / 16.0
    X_tr, X_te, y_tr, y_te = train_test_split(X, digits.target, test_size=0.25, random_state=SEED)
    as_t = lambda a, dt: torch.tensor(a, dtype=dt, device=DEVICE)  # noqa: E731
    return as_t(X_tr, torch.float32), as_t(X_te, torch.float32), as_t(y_tr, torch.long), as_t(y_te, torch.long)


def evaluate(model: nn.Module, X: torch.Tensor, y: torch.Tensor) -> float:
    model.eval()
    with torch.no_grad():
        return (model(X).argmax(1) == y).float().mean().item()


def prunable(model: nn.Module) -> list[tuple[nn.Module, str]]:
    return [(m, "weight") for m in model.modules() if isinstance(m, nn.Conv2d | nn.Linear)]


def global_prune(model: nn.Module) -> None:
    prune.global_unstructured(prunable(model), pruning_method=prune.L1Unstructured, amount=AMOUNT)


def sparsity(model: nn.Module) -> float:
    weights = [m.weight for m, _ in prunable(model)]
    return sum(int((w == 0).sum()) for w in weights) / sum(w.numel() for w in weights)


def main() -> None:
    torch.manual_seed(SEED)
    X_tr, X_te, y_tr, y_te = data()
    model = SmallCNN().to(DEVICE)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    for epoch in range(EPOCHS):
        if epoch == PRUNE_EPOCH:
            global_prune(model)
        model.train()
        perm = torch.randperm(len(X_tr), device=DEVICE)
        for start in range(0, len(perm), 32):
            idx = perm[start : start + 32]
            optimizer.zero_grad()
            nn.functional.cross_entropy(model(X_tr[idx]), y_tr[idx]).backward()
            optimizer.step()
    print(f"test accuracy: {evaluate(model, X_te, y_te):.4f}, sparsity {sparsity(model):.2f}")


if __name__ == "__main__":
    main()
