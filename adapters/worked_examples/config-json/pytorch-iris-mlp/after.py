import argparse
import json
import os
import sys

import torch
from sklearn.datasets import load_iris
from torch import nn

DEFAULT_CONFIG = {"lr": 0.1, "momentum": 0.9, "hidden": 24, "epochs": 30, "batch_size": 16}


def load_config(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("--config", default=None, help="JSON file overriding DEFAULT_CONFIG")
    args = parser.parse_args(argv)
    config = dict(DEFAULT_CONFIG)
    if args.config and os.path.exists(args.config):
        with open(args.config, encoding="utf-8") as fh:
            overrides = json.load(fh)
        unknown = sorted(set(overrides) - set(DEFAULT_CONFIG))
        if unknown:
            sys.exit(f"error: unknown config key(s): {', '.join(unknown)}")
        config.update(overrides)
    return config


def main():
    config = load_config()
    torch.manual_seed(1)
    X, y = load_iris(return_X_y=True)
    X = torch.tensor((X - X.mean(0)) / X.std(0), dtype=torch.float32)
    y = torch.tensor(y)
    model = nn.Sequential(nn.Linear(4, config["hidden"]), nn.Tanh(), nn.Linear(config["hidden"], 3))
    optimizer = torch.optim.SGD(model.parameters(), lr=config["lr"], momentum=config["momentum"])
    bs = config["batch_size"]
    for _epoch in range(config["epochs"]):
        for i in range(0, len(X), bs):
            optimizer.zero_grad()
            loss = nn.functional.cross_entropy(model(X[i:i + bs]), y[i:i + bs])
            loss.backward()
            optimizer.step()
    print(f"final loss: {loss.item():.4f}")


if __name__ == "__main__":
    main()
