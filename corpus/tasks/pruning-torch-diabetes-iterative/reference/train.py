"""Regress diabetes disease progression with a PyTorch MLP (one function per stage), with
iterative L1 magnitude pruning during training."""

import torch
from sklearn.datasets import load_diabetes
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
from torch import nn
from torch.nn.utils import prune

EPOCHS = 12
BATCH = 24
LR = 3e-3
PRUNE_EPOCHS = (2, 4, 6)
AMOUNT_PER_STEP = 0.2  # of the weights still unpruned: 1 - 0.8**3 = 48.8% in the end


def get_data():
    X, y = load_diabetes(return_X_y=True)
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.25, random_state=2)
    x_scaler = StandardScaler().fit(X_tr)
    y_mean, y_std = y_tr.mean(), y_tr.std()
    to_t = lambda a: torch.tensor(a, dtype=torch.float32)  # noqa: E731
    return (to_t(x_scaler.transform(X_tr)), to_t(x_scaler.transform(X_te)),
            to_t((y_tr - y_mean) / y_std)[:, None], to_t((y_te - y_mean) / y_std)[:, None])


def build_model(n_features: int) -> nn.Module:
    return nn.Sequential(
        nn.Linear(n_features, 96), nn.SiLU(),
        nn.Linear(96, 96), nn.SiLU(),
        nn.Linear(96, 1),
    )


def run_epoch(model: nn.Module, optimizer: torch.optim.Optimizer, X: torch.Tensor, y: torch.Tensor) -> float:
    model.train()
    losses = []
    for idx in torch.randperm(len(X)).split(BATCH):
        optimizer.zero_grad()
        loss = nn.functional.mse_loss(model(X[idx]), y[idx])
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return sum(losses) / len(losses)


def test_mse(model: nn.Module, X: torch.Tensor, y: torch.Tensor) -> float:
    model.eval()
    with torch.no_grad():
        return nn.functional.mse_loss(model(X), y).item()


def linears(model: nn.Module) -> list[nn.Linear]:
    return [m for m in model.modules() if isinstance(m, nn.Linear)]


def prune_step(model: nn.Module) -> None:
    """Prune AMOUNT_PER_STEP of each Linear's remaining weights; repeated calls stack the masks."""
    for layer in linears(model):
        prune.l1_unstructured(layer, name="weight", amount=AMOUNT_PER_STEP)


def sparsity(model: nn.Module) -> float:
    weights = [layer.weight for layer in linears(model)]
    return sum(int((w == 0).sum()) for w in weights) / sum(w.numel() for w in weights)


def main() -> None:
    torch.manual_seed(2)
    X_tr, X_te, y_tr, y_te = get_data()
    model = build_model(X_tr.shape[1])
    optimizer = torch.optim.AdamW(model.parameters(), lr=LR, weight_decay=1e-4)
    for epoch in range(EPOCHS):
        if epoch in PRUNE_EPOCHS:
            prune_step(model)
        loss = run_epoch(model, optimizer, X_tr, y_tr)
        print(f"epoch {epoch:2d}: train mse {loss:.4f}, sparsity {sparsity(model):.3f}")
    for layer in linears(model):
        prune.remove(layer, "weight")
    print(f"test mse (standardized target): {test_mse(model, X_te, y_te):.4f}, "
          f"final sparsity {sparsity(model):.3f}")


if __name__ == "__main__":
    main()
