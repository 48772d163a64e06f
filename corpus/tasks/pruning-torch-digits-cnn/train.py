"""Train a small CNN on the 8x8 digit images with plain PyTorch."""

import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import nn

SEED = 1
EPOCHS = 7
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


def main() -> None:
    torch.manual_seed(SEED)
    X_tr, X_te, y_tr, y_te = data()
    model = SmallCNN().to(DEVICE)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    for epoch in range(EPOCHS):
        model.train()
        perm = torch.randperm(len(X_tr), device=DEVICE)
        for start in range(0, len(perm), 32):
            idx = perm[start : start + 32]
            optimizer.zero_grad()
            nn.functional.cross_entropy(model(X_tr[idx]), y_tr[idx]).backward()
            optimizer.step()
    print(f"test accuracy: {evaluate(model, X_te, y_te):.4f}")


if __name__ == "__main__":
    main()
