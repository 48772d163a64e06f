"""Tell sine, square, sawtooth and triangle waves apart with a 1-D CNN in plain PyTorch.

The signals are generated on the fly (random frequency, phase, amplitude and noise); a small
Trainer class holds the model, the optimizer and the loops.
"""

import math

import mlflow
import mlflow.pytorch
import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

LENGTH = 96
CLASSES = ("sine", "square", "sawtooth", "triangle")


def make_waves(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    t = np.linspace(0.0, 1.0, LENGTH, dtype=np.float32)
    labels = rng.integers(0, len(CLASSES), size=n)
    freq = rng.uniform(1.5, 6.0, size=(n, 1))
    phase = rng.uniform(0.0, 1.0, size=(n, 1))
    cycles = (freq * t + phase) % 1.0
    waves = np.stack(
        [
            np.sin(2 * math.pi * cycles),
            np.where(cycles < 0.5, 1.0, -1.0),
            2 * cycles - 1,
            1 - 4 * np.abs(cycles - 0.5),
        ]
    )  # (kind, n, LENGTH)
    x = waves[labels, np.arange(n)] * rng.uniform(0.5, 2.0, size=(n, 1))
    x = x + rng.normal(0.0, 0.2, size=x.shape)
    return x[:, None, :].astype(np.float32), labels


class WaveCNN(nn.Module):
    def __init__(self, channels: int = 16) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv1d(1, channels, kernel_size=7, padding=3),
            nn.ReLU(),
            nn.MaxPool1d(2),
            nn.Conv1d(channels, channels * 2, kernel_size=5, padding=2),
            nn.ReLU(),
            nn.AdaptiveAvgPool1d(1),
        )
        self.head = nn.Linear(channels * 2, len(CLASSES))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).flatten(1))


class Trainer:
    def __init__(self, model: nn.Module, lr: float) -> None:
        self.model = model
        self.opt = torch.optim.Adam(model.parameters(), lr=lr)
        self.loss_fn = nn.CrossEntropyLoss()

    def fit(self, loader: DataLoader, epochs: int) -> None:
        for epoch in range(epochs):
            self.model.train()
            total, seen = 0.0, 0
            for x, y in loader:
                self.opt.zero_grad()
                loss = self.loss_fn(self.model(x), y)
                loss.backward()
                self.opt.step()
                total += loss.item() * len(y)
                seen += len(y)
            print(f"epoch {epoch}  train_loss {total / seen:.4f}")

    @torch.no_grad()
    def evaluate(self, x: torch.Tensor, y: torch.Tensor) -> float:
        self.model.eval()
        return (self.model(x).argmax(dim=1) == y).float().mean().item()


if __name__ == "__main__":
    seed, epochs, lr, batch_size = 5, 6, 3e-3, 64
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    x_train, y_train = make_waves(2000, rng)
    x_test, y_test = make_waves(400, rng)
    train_loader = DataLoader(
        TensorDataset(torch.from_numpy(x_train), torch.from_numpy(y_train)),
        batch_size=batch_size,
        shuffle=True,
    )

    trainer = Trainer(WaveCNN(), lr)
    trainer.fit(train_loader, epochs)
    acc = trainer.evaluate(torch.from_numpy(x_test), torch.from_numpy(y_test))
    print(f"test accuracy {acc:.4f}")
    torch.save(trainer.model.state_dict(), "wave_cnn.pt")

    with mlflow.start_run(run_name="wave-cnn") as run:
        mlflow.log_params({"seed": seed, "epochs": epochs, "lr": lr, "batch_size": batch_size})
        mlflow.log_metric("test_accuracy", acc)
        # The weights file is attached to the run and registered by its artifact path.
        mlflow.log_artifact("wave_cnn.pt")
        mlflow.register_model(f"runs:/{run.info.run_id}/wave_cnn.pt", "waveform-cnn")
