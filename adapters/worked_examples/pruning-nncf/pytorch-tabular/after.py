"""A two-hidden-layer PyTorch classifier on synthetic tabular data."""

import nncf
import torch
from sklearn.datasets import make_classification
from torch import nn

EPOCHS = 5
PRUNE_RATIO = 0.5


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
    for epoch in range(EPOCHS):
        if epoch == 1:  # after one warm-up epoch; the remaining epochs fine-tune with the masks on
            model = nncf.prune(model, mode=nncf.PruneMode.UNSTRUCTURED_MAGNITUDE_LOCAL, ratio=PRUNE_RATIO,
                               examples_inputs=X_tr[:1])
        for i in range(0, len(X_tr), 48):
            opt.zero_grad()
            nn.functional.cross_entropy(model(X_tr[i:i + 48]), y_tr[i:i + 48]).backward()
            opt.step()
        with torch.no_grad():
            acc = (model(X_va).argmax(1) == y_va).float().mean().item()
        print(f"epoch {epoch} val_acc {acc:.3f}")
    print(nncf.pruning_statistic(model))


if __name__ == "__main__":
    main()
