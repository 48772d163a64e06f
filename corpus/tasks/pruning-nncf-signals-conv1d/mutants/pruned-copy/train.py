"""Classify synthetic 1-D signals (sine, square, sawtooth, noise bursts) with a small Conv1d net,
pruned gradually during training with NNCF (global magnitude, exponential schedule).

Mutant: a deep copy of the model is pruned and scheduled while the original,
unpruned model is the one trained.
"""

import argparse
import copy
import math

import nncf
import torch
from nncf.torch.function_hook.pruning.magnitude.schedulers import ExponentialMagnitudePruningScheduler
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

LENGTH = 64
N_CLASSES = 4
MODE = nncf.PruneMode.UNSTRUCTURED_MAGNITUDE_GLOBAL


def synthetic_signals(n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """n noisy signals of LENGTH samples, one of four shapes with a random frequency and phase."""
    labels = torch.randint(0, N_CLASSES, (n,), generator=generator)
    t = torch.linspace(0, 1, LENGTH)
    freq = 2 + 4 * torch.rand(n, 1, generator=generator)
    phase = 2 * math.pi * torch.rand(n, 1, generator=generator)
    angle = 2 * math.pi * freq * t + phase
    shapes = torch.stack([
        torch.sin(angle),
        torch.sign(torch.sin(angle)),
        2 * ((angle / (2 * math.pi)) % 1.0) - 1,
        (torch.rand(n, LENGTH, generator=generator) < 0.1).float() * 2 - 0.2,
    ])
    x = shapes[labels, torch.arange(n)] + 0.3 * torch.randn(n, LENGTH, generator=generator)
    return x[:, None, :], labels


class SignalNet(nn.Module):
    def __init__(self, channels: int = 16) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv1d(1, channels, kernel_size=5, padding=2), nn.ReLU(), nn.MaxPool1d(2),
            nn.Conv1d(channels, 2 * channels, kernel_size=5, padding=2), nn.ReLU(), nn.MaxPool1d(2),
        )
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(2 * channels * LENGTH // 4, 64), nn.ReLU(),
                                        nn.Linear(64, N_CLASSES))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


def evaluate(model: nn.Module, loader: DataLoader) -> float:
    model.eval()
    correct = total = 0
    with torch.no_grad():
        for x, y in loader:
            correct += (model(x).argmax(1) == y).sum().item()
            total += len(y)
    return correct / total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=7)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--seed", type=int, default=21)
    args = parser.parse_args()

    gen = torch.Generator().manual_seed(args.seed)
    torch.manual_seed(args.seed)
    train_loader = DataLoader(TensorDataset(*synthetic_signals(1024, gen)), batch_size=32, shuffle=True)
    test_loader = DataLoader(TensorDataset(*synthetic_signals(256, gen)), batch_size=128)

    model = SignalNet()
    example = next(iter(train_loader))[0][:1]
    pruned = nncf.prune(copy.deepcopy(model), mode=MODE, ratio=0.2, examples_inputs=example)
    scheduler = ExponentialMagnitudePruningScheduler(
        pruned, mode=MODE, initial_ratio=0.2, target_ratio=0.6, target_epoch=3
    )
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    for epoch in range(args.epochs):
        scheduler.step()
        model.train()
        for x, y in train_loader:
            optimizer.zero_grad()
            nn.functional.cross_entropy(model(x), y).backward()
            optimizer.step()
        print(f"epoch {epoch}: test accuracy {evaluate(model, test_loader):.4f}, "
              f"pruning ratio {scheduler.current_ratio:.2f}")
    print(nncf.pruning_statistic(pruned))
    print(f"final test accuracy: {evaluate(model, test_loader):.4f}")


if __name__ == "__main__":
    main()
