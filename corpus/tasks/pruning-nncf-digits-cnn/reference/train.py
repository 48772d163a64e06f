"""Train a small CNN on the 8x8 digit images (PyTorch) with gradual NNCF magnitude pruning."""

import nncf
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from nncf.torch.function_hook.pruning.magnitude.schedulers import MultiStepMagnitudePruningScheduler
from torch import nn

SEED = 5
EPOCHS = 5
MODE = nncf.PruneMode.UNSTRUCTURED_MAGNITUDE_GLOBAL
RATIO_STEPS = {0: 0.1, 1: 0.3, 2: 0.5}
DEVICE = "cuda" if torch.cuda.is_available() else "cpu"


class DigitNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 12, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(12, 24, kernel_size=3, padding=1)
        self.fc = nn.Linear(24 * 2 * 2, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = nn.functional.max_pool2d(torch.relu(self.conv1(x)), 2)
        x = nn.functional.max_pool2d(torch.relu(self.conv2(x)), 2)
        return self.fc(x.flatten(1))


def load():
    digits = load_digits()
    X = digits.images[:, None] / 16.0
    X_tr, X_te, y_tr, y_te = train_test_split(X, digits.target, test_size=0.25, random_state=SEED)
    as_t = lambda a, dt: torch.tensor(a, dtype=dt, device=DEVICE)  # noqa: E731
    return as_t(X_tr, torch.float32), as_t(X_te, torch.float32), as_t(y_tr, torch.long), as_t(y_te, torch.long)


def main() -> None:
    torch.manual_seed(SEED)
    X_tr, X_te, y_tr, y_te = load()
    model = DigitNet().to(DEVICE)
    model = nncf.prune(model, mode=MODE, ratio=0.1, examples_inputs=X_tr[:1])
    scheduler = MultiStepMagnitudePruningScheduler(model, mode=MODE, steps=RATIO_STEPS)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    for epoch in range(EPOCHS):
        scheduler.step()
        model.train()
        perm = torch.randperm(len(X_tr), device=DEVICE)
        for i in range(0, len(perm), 32):
            idx = perm[i : i + 32]
            optimizer.zero_grad()
            nn.functional.cross_entropy(model(X_tr[idx]), y_tr[idx]).backward()
            optimizer.step()
        model.eval()
        with torch.no_grad():
            accuracy = (model(X_te).argmax(1) == y_te).float().mean().item()
        print(f"epoch {epoch}: test accuracy {accuracy:.4f}, pruning ratio {scheduler.current_ratio:.2f}")
    print(nncf.pruning_statistic(model))


if __name__ == "__main__":
    main()
