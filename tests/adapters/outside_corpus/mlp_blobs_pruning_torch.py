"""Train a small PyTorch MLP on synthetic blobs (not a corpus task)."""

import torch
from torch import nn
from torch.nn.utils import prune

torch.manual_seed(0)


def data(n=512):
    centers = torch.randn(3, 8) * 3
    y = torch.randint(0, 3, (n,))
    return centers[y] + torch.randn(n, 8), y


def main():
    X, y = data()
    model = nn.Sequential(nn.Linear(8, 64), nn.ReLU(), nn.Linear(64, 3))
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    loss_fn = nn.CrossEntropyLoss()
    layers = [m for m in model if isinstance(m, nn.Linear)]
    for epoch in range(4):
        if epoch == 1:
            for layer in layers:
                prune.l1_unstructured(layer, name="weight", amount=0.5)
        for i in range(0, len(X), 32):
            opt.zero_grad()
            loss = loss_fn(model(X[i:i + 32]), y[i:i + 32])
            loss.backward()
            opt.step()
        acc = (model(X).argmax(1) == y).float().mean().item()
        print(f"epoch {epoch} loss {loss.item():.3f} acc {acc:.3f}")
    for layer in layers:
        prune.remove(layer, "weight")


if __name__ == "__main__":
    main()
