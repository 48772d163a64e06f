"""Train a small PyTorch MLP on synthetic blobs (not a corpus task), pruned with NNCF during training."""

import nncf
import torch
from torch import nn

torch.manual_seed(0)


def data(n=512):
    centers = torch.randn(3, 8) * 3
    y = torch.randint(0, 3, (n,))
    return centers[y] + torch.randn(n, 8), y


class MLP(nn.Module):
    # A module of its own, not nn.Sequential: NNCF keeps its hooks in a child module, which
    # Sequential would call as a layer.
    def __init__(self):
        super().__init__()
        self.hidden = nn.Linear(8, 64)
        self.out = nn.Linear(64, 3)

    def forward(self, x):
        return self.out(torch.relu(self.hidden(x)))


def main():
    X, y = data()
    model = MLP()
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    loss_fn = nn.CrossEntropyLoss()
    for epoch in range(4):
        if epoch == 1:
            model = nncf.prune(model, mode=nncf.PruneMode.UNSTRUCTURED_MAGNITUDE_LOCAL, ratio=0.5,
                               examples_inputs=X[:1])
        for i in range(0, len(X), 32):
            opt.zero_grad()
            loss = loss_fn(model(X[i:i + 32]), y[i:i + 32])
            loss.backward()
            opt.step()
        acc = (model(X).argmax(1) == y).float().mean().item()
        print(f"epoch {epoch} loss {loss.item():.3f} acc {acc:.3f}")
    print(nncf.pruning_statistic(model))


if __name__ == "__main__":
    main()
