"""A two-hidden-layer PyTorch classifier on synthetic tabular data."""

import torch
import torch.nn.utils.prune as prune
from sklearn.datasets import make_classification
from torch import nn

EPOCHS = 5


class TabularNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.hidden = nn.Sequential(nn.Linear(12, 64), nn.ReLU(), nn.Linear(64, 32), nn.ReLU())
        self.head = nn.Linear(32, 2)

    def forward(self, x):
        return self.head(self.hidden(x))


def main():
    torch.manual_seed(6)
    X, y = make_classification(n_samples=600, n_features=12, n_informative=6, random_state=6)
    X, y = torch.tensor(X, dtype=torch.float32), torch.tensor(y)
    X_tr, y_tr, X_va, y_va = X[:480], y[:480], X[480:], y[480:]
    model = TabularNet()
    opt = torch.optim.Adam(model.parameters(), lr=5e-3)
    layers = [(m, "weight") for m in model.modules() if isinstance(m, nn.Linear)]
    for epoch in range(EPOCHS):
        if epoch == 1:  # after one warm-up epoch; the optimizer keeps training weight_orig under the mask
            prune.global_unstructured(layers, pruning_method=prune.L1Unstructured, amount=0.5)
        for i in range(0, len(X_tr), 48):
            opt.zero_grad()
            nn.functional.cross_entropy(model(X_tr[i:i + 48]), y_tr[i:i + 48]).backward()
            opt.step()
        with torch.no_grad():
            acc = (model(X_va).argmax(1) == y_va).float().mean().item()
        print(f"epoch {epoch} val_acc {acc:.3f}")
    for module, name in layers:  # only after the last epoch: make the zeros permanent
        prune.remove(module, name)


if __name__ == "__main__":
    main()
