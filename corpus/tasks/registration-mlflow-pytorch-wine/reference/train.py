"""Classify the three wine cultivars with a small PyTorch network (plain training loop, argparse)."""

import argparse

import mlflow
import mlflow.pytorch
import torch
from sklearn.datasets import load_wine
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
from torch import nn


class WineNet(nn.Module):
    """Two hidden layers with dropout; 13 chemical measurements in, 3 cultivars out."""

    def __init__(self, n_features: int, hidden: int, dropout: float) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            nn.Linear(n_features, hidden),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(hidden, hidden // 2),
            nn.ReLU(),
            nn.Linear(hidden // 2, 3),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--hidden", type=int, default=32)
    parser.add_argument("--dropout", type=float, default=0.1)
    parser.add_argument("--lr", type=float, default=5e-3)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--seed", type=int, default=7)
    return parser.parse_args()


def train(model: nn.Module, X: torch.Tensor, y: torch.Tensor, lr: float, epochs: int) -> None:
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    loss_fn = nn.CrossEntropyLoss()
    for epoch in range(epochs):
        model.train()
        opt.zero_grad()
        loss = loss_fn(model(X), y)  # the whole training set is one batch
        loss.backward()
        opt.step()
        if epoch % 10 == 0:
            print(f"epoch {epoch:3d}  loss {loss.item():.4f}")


@torch.no_grad()
def accuracy(model: nn.Module, X: torch.Tensor, y: torch.Tensor) -> float:
    model.eval()
    return (model(X).argmax(dim=1) == y).float().mean().item()


def main() -> None:
    args = parse_args()
    torch.manual_seed(args.seed)
    X, y = load_wine(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, random_state=args.seed, stratify=y
    )
    scaler = StandardScaler().fit(X_train)
    X_train = torch.tensor(scaler.transform(X_train), dtype=torch.float32)
    X_test = torch.tensor(scaler.transform(X_test), dtype=torch.float32)
    y_train, y_test = torch.tensor(y_train), torch.tensor(y_test)

    model = WineNet(X_train.shape[1], args.hidden, args.dropout)
    train(model, X_train, y_train, args.lr, args.epochs)
    acc = accuracy(model, X_test, y_test)
    print(f"test accuracy {acc:.4f}")
    torch.save(model.state_dict(), "wine_net.pt")

    with mlflow.start_run(run_name="wine-net"):
        mlflow.log_params(vars(args))
        mlflow.log_metric("test_accuracy", acc)
        # registered_model_name creates the registry version. "pickle" stores the module as it is
        # (MLflow's cloudpickle keeps WineNet, defined in __main__, loadable); the default "pt2"
        # format would need an input_example. pip_requirements skips slow dependency inference.
        mlflow.pytorch.log_model(
            model,
            name="model",
            registered_model_name="wine-net",
            serialization_format="pickle",
            pip_requirements=["torch"],
        )


if __name__ == "__main__":
    main()
