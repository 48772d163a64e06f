"""Train an MLP on the 8x8 digits dataset with plain PyTorch, pruned during training.

Mutant: the pruned weights are frozen, so the optimizer steps on but only the biases learn:
the model stays sparse without training on the pruned weights.
"""

import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import nn
from torch.nn.utils import prune

SEED = 0
EPOCHS = 8
PRUNE_AFTER_EPOCH = 2
AMOUNT = 0.5
DEVICE = "cuda" if torch.cuda.is_available() else "cpu"


def data():
    X, y = load_digits(return_X_y=True)
    X_tr, X_te, y_tr, y_te = train_test_split(X / 16.0, y, test_size=0.25, random_state=SEED, stratify=y)

    def t(a, dtype):
        return torch.tensor(a, dtype=dtype, device=DEVICE)

    return t(X_tr, torch.float32), t(X_te, torch.float32), t(y_tr, torch.long), t(y_te, torch.long)


def accuracy(model: nn.Module, X: torch.Tensor, y: torch.Tensor) -> float:
    model.eval()
    with torch.no_grad():
        return (model(X).argmax(dim=1) == y).float().mean().item()


def linear_layers(model: nn.Module) -> list[nn.Linear]:
    return [m for m in model.modules() if isinstance(m, nn.Linear)]


def sparsity(model: nn.Module) -> float:
    weights = [m.weight for m in linear_layers(model)]
    return sum((w == 0).sum().item() for w in weights) / sum(w.numel() for w in weights)


def main() -> None:
    torch.manual_seed(SEED)
    X_tr, X_te, y_tr, y_te = data()
    model = nn.Sequential(
        nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 64), nn.ReLU(), nn.Linear(64, 10)
    ).to(DEVICE)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    for epoch in range(EPOCHS):
        if epoch == PRUNE_AFTER_EPOCH:
            for layer in linear_layers(model):
                prune.l1_unstructured(layer, name="weight", amount=AMOUNT)
                layer.weight_orig.requires_grad_(False)  # "keep the pruned weights fixed"
        model.train()
        order = torch.randperm(len(X_tr), device=DEVICE)
        for i in range(0, len(order), 64):
            idx = order[i : i + 64]
            optimizer.zero_grad()
            loss = nn.functional.cross_entropy(model(X_tr[idx]), y_tr[idx])
            loss.backward()
            optimizer.step()
        print(f"epoch {epoch}: test accuracy {accuracy(model, X_te, y_te):.4f}")
    for layer in linear_layers(model):
        prune.remove(layer, "weight")
    print(f"final test accuracy: {accuracy(model, X_te, y_te):.4f}, sparsity {sparsity(model):.2f}")


if __name__ == "__main__":
    main()
