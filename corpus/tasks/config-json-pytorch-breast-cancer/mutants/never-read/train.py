"""Train a small MLP on the breast cancer data set with PyTorch and report its test accuracy."""

import argparse
import json
import os
import sys

import torch
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
from torch import nn

DEFAULT_CONFIG = {"lr": 0.003, "weight_decay": 0.0001, "hidden": 48, "dropout": 0.1, "epochs": 8, "batch_size": 64}


def load_config(argv=None):
    """DEFAULT_CONFIG overridden by the JSON object in --config PATH (a missing file: the defaults)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", default=None, help="JSON file whose keys override DEFAULT_CONFIG")
    args = parser.parse_args(argv)
    config = dict(DEFAULT_CONFIG)
    if args.config and os.path.exists(args.config):
        with open(args.config, encoding="utf-8") as fh:
            overrides = json.load(fh)
        unknown = sorted(set(overrides) - set(DEFAULT_CONFIG))
        if unknown:
            sys.exit(f"error: unknown config key(s) {', '.join(unknown)}; known: {', '.join(DEFAULT_CONFIG)}")
        config.update(overrides)
    return config


def main():
    config = load_config()
    torch.manual_seed(0)
    X, y = load_breast_cancer(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=0)
    scaler = StandardScaler().fit(X_train)
    X_train = torch.tensor(scaler.transform(X_train), dtype=torch.float32)
    X_test = torch.tensor(scaler.transform(X_test), dtype=torch.float32)
    y_train = torch.tensor(y_train, dtype=torch.float32)
    y_test = torch.tensor(y_test, dtype=torch.float32)
    print("config:", json.dumps(config))
    model = nn.Sequential(nn.Linear(30, 48), nn.ReLU(), nn.Dropout(0.1), nn.Linear(48, 1))
    optimizer = torch.optim.Adam(model.parameters(), lr=0.003, weight_decay=0.0001)
    loss_fn = nn.BCEWithLogitsLoss()
    for epoch in range(8):
        model.train()
        perm = torch.randperm(len(X_train))
        for i in range(0, len(X_train), 64):
            idx = perm[i:i + 64]
            optimizer.zero_grad()
            loss = loss_fn(model(X_train[idx]).squeeze(1), y_train[idx])
            loss.backward()
            optimizer.step()
        print(f"epoch {epoch}: loss {loss.item():.4f}")
    model.eval()
    with torch.no_grad():
        acc = ((model(X_test).squeeze(1) > 0).float() == y_test).float().mean().item()
    print(f"test accuracy: {acc:.3f}")


if __name__ == "__main__":
    main()
