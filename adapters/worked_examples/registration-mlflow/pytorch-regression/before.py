"""Fit a small PyTorch MLP to a noisy synthetic regression target."""

import torch
from torch import nn

LR = 0.01
EPOCHS = 6
HIDDEN = 32


def make_data(n=600):
    g = torch.Generator().manual_seed(3)
    X = torch.rand(n, 4, generator=g) * 2 - 1
    y = (X[:, :1] * 3 - X[:, 1:2] ** 2 + 0.1 * torch.randn(n, 1, generator=g))
    return X[:500], y[:500], X[500:], y[500:]


def main():
    torch.manual_seed(3)
    X_tr, y_tr, X_va, y_va = make_data()
    net = nn.Sequential(nn.Linear(4, HIDDEN), nn.Tanh(), nn.Linear(HIDDEN, 1))
    opt = torch.optim.Adam(net.parameters(), lr=LR)
    for epoch in range(EPOCHS):
        for i in range(0, len(X_tr), 50):
            opt.zero_grad()
            loss = nn.functional.mse_loss(net(X_tr[i:i + 50]), y_tr[i:i + 50])
            loss.backward()
            opt.step()
        with torch.no_grad():
            val_mse = nn.functional.mse_loss(net(X_va), y_va).item()
        print(f"epoch {epoch} train_mse {loss.item():.4f} val_mse {val_mse:.4f}")


if __name__ == "__main__":
    main()
