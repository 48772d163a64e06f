"""A multilayer perceptron on the 8x8 digits images in plain PyTorch, tracked with MLflow."""

import torch
import mlflow
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import nn

SEED = 0
HIDDEN = 64
LR = 1e-2
EPOCHS = 10
BATCH_SIZE = 64


def main() -> None:
    torch.manual_seed(SEED)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    X, y = load_digits(return_X_y=True)
    X_train, X_val, y_train, y_val = train_test_split(
        X / 16.0, y, test_size=0.25, random_state=SEED, stratify=y
    )
    X_train, X_val = (torch.tensor(a, dtype=torch.float32, device=device) for a in (X_train, X_val))
    y_train, y_val = (torch.tensor(a, device=device) for a in (y_train, y_val))

    config = {"hidden": HIDDEN, "lr": LR, "epochs": EPOCHS, "batch_size": BATCH_SIZE, "seed": SEED}
    # wandb.init(project=..., config=...) -> an MLflow experiment, a run and its params.
    mlflow.set_experiment("digits-mlp")
    mlflow.start_run()
    mlflow.log_params(config)
    model = nn.Sequential(nn.Linear(64, config["hidden"]), nn.ReLU(), nn.Linear(config["hidden"], 10)).to(device)
    opt = torch.optim.SGD(model.parameters(), lr=config["lr"], momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()
    for epoch in range(EPOCHS):
        model.train()
        perm = torch.randperm(len(X_train), device=device)
        total = 0.0
        for i in range(0, len(perm), BATCH_SIZE):
            idx = perm[i : i + BATCH_SIZE]
            opt.zero_grad()
            loss = loss_fn(model(X_train[idx]), y_train[idx])
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        model.eval()
        with torch.no_grad():
            logits = model(X_val)
            val_loss = loss_fn(logits, y_val).item()
            val_acc = (logits.argmax(1) == y_val).float().mean().item()
        train_loss = total / len(X_train)
        mlflow.log_metrics({"train_loss": train_loss, "val_loss": val_loss, "val_acc": val_acc}, step=epoch)
        print(f"epoch {epoch}  train_loss {train_loss:.4f}  val_loss {val_loss:.4f}  val_acc {val_acc:.4f}")
    # run.summary[...] -> a final metric; run.finish() -> end_run().
    mlflow.log_metric("best_val_acc", val_acc)
    mlflow.end_run()


if __name__ == "__main__":
    main()
