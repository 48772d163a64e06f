import torch
from sklearn.datasets import load_iris
from torch import nn


def main():
    torch.manual_seed(1)
    X, y = load_iris(return_X_y=True)
    X = torch.tensor((X - X.mean(0)) / X.std(0), dtype=torch.float32)
    y = torch.tensor(y)
    model = nn.Sequential(nn.Linear(4, 24), nn.Tanh(), nn.Linear(24, 3))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    for _epoch in range(30):
        for i in range(0, len(X), 16):
            optimizer.zero_grad()
            loss = nn.functional.cross_entropy(model(X[i:i + 16]), y[i:i + 16])
            loss.backward()
            optimizer.step()
    print(f"final loss: {loss.item():.4f}")


if __name__ == "__main__":
    main()
