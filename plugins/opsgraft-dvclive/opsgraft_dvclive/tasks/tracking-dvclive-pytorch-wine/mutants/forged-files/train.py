"""A small MLP on the wine data, trained with a plain PyTorch loop."""

import json
import os

import torch
from sklearn.datasets import load_wine
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
from torch import nn

SEED = 0
EPOCHS = 12
LR = 1e-2
HIDDEN = 32
BATCH_SIZE = 32


def data():
    X, y = load_wine(return_X_y=True)
    X_train, X_val, y_train, y_val = train_test_split(X, y, test_size=0.3, random_state=SEED, stratify=y)
    scaler = StandardScaler().fit(X_train)

    def tensors(x, t):
        return torch.tensor(scaler.transform(x), dtype=torch.float32), torch.tensor(t)

    return tensors(X_train, y_train), tensors(X_val, y_val)


def main() -> None:
    torch.manual_seed(SEED)
    (X_train, y_train), (X_val, y_val) = data()
    model = nn.Sequential(nn.Linear(X_train.shape[1], HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, 3))
    optimizer = torch.optim.SGD(model.parameters(), lr=LR, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()
    os.makedirs("dvclive/plots/metrics", exist_ok=True)
    with open("dvclive/params.yaml", "w") as fh:
        fh.write(f"lr: {LR}\nhidden: {HIDDEN}\nepochs: {EPOCHS}\n")
    rows = {"train_loss": ["step\ttrain_loss"], "val_acc": ["step\tval_acc"]}
    for epoch in range(EPOCHS):
        model.train()
        order = torch.randperm(len(X_train))
        total = 0.0
        for start in range(0, len(order), BATCH_SIZE):
            idx = order[start:start + BATCH_SIZE]
            optimizer.zero_grad()
            loss = loss_fn(model(X_train[idx]), y_train[idx])
            loss.backward()
            optimizer.step()
            total += loss.item() * len(idx)
        train_loss = total / len(X_train)
        model.eval()
        with torch.no_grad():
            val_acc = (model(X_val).argmax(dim=1) == y_val).float().mean().item()
        print(f"epoch {epoch}  train_loss {train_loss:.4f}  val_acc {val_acc:.3f}")
        rows["train_loss"].append(f"{epoch}\t{train_loss}")
        rows["val_acc"].append(f"{epoch}\t{val_acc}")
    for name, lines in rows.items():
        with open(f"dvclive/plots/metrics/{name}.tsv", "w") as fh:
            fh.write("\n".join(lines) + "\n")
    with open("dvclive/metrics.json", "w") as fh:
        json.dump({"train_loss": train_loss, "val_acc": val_acc, "step": EPOCHS - 1}, fh)


if __name__ == "__main__":
    main()
