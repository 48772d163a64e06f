"""A word-level LSTM language model trained on a short text written into this script."""

import math

import torch
import wandb
from torch import nn

SEED = 0
EMBED = 32
HIDDEN = 64
SEQ_LEN = 12
BATCH_SIZE = 16
LR = 1e-2
EPOCHS = 8

TEXT = """
the river runs past the old mill and the mill wheel turns with the river .
in the morning the baker walks to the mill and buys a sack of flour .
the baker bakes bread and the bread is sold in the market by the river .
children run to the market in the morning and buy warm bread from the baker .
in the evening the mill is quiet and the river runs slowly past the wheel .
the miller counts the sacks of flour and writes the numbers in a small book .
when the rain comes the river runs fast and the wheel turns faster than before .
the baker says the flour is good when the wheel turns fast and the river is high .
on market day the square is full and the bread is gone before the evening .
the miller and the baker sit by the river and talk about the rain and the flour .
a cat sleeps on the sacks of flour and the miller lets the cat sleep in the sun .
the children watch the wheel and count how many times it turns in a minute .
"""


def batches(ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Cut the token stream into (input, next-token target) windows."""
    n = (len(ids) - 1) // SEQ_LEN
    x = ids[: n * SEQ_LEN].view(n, SEQ_LEN)
    y = ids[1 : n * SEQ_LEN + 1].view(n, SEQ_LEN)
    return x, y


class WordLM(nn.Module):
    def __init__(self, vocab: int) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, EMBED)
        self.lstm = nn.LSTM(EMBED, HIDDEN, batch_first=True)
        self.head = nn.Linear(HIDDEN, vocab)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(self.embed(x))
        return self.head(out)


def main() -> None:
    torch.manual_seed(SEED)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    words = TEXT.split()
    vocab = sorted(set(words))
    ids = torch.tensor([vocab.index(w) for w in words])
    split = int(0.8 * len(ids))
    x_train, y_train = batches(ids[:split])
    x_val, y_val = batches(ids[split:])
    x_train, y_train, x_val, y_val = (t.to(device) for t in (x_train, y_train, x_val, y_val))

    model = WordLM(len(vocab)).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    loss_fn = nn.CrossEntropyLoss()
    config = {"embed": EMBED, "hidden": HIDDEN, "seq_len": SEQ_LEN, "batch_size": BATCH_SIZE, "lr": LR, "epochs": EPOCHS}
    run = wandb.init(project="tiny-word-lm", config=config)
    for epoch in range(EPOCHS):
        model.train()
        perm = torch.randperm(len(x_train), device=device)
        total = 0.0
        for i in range(0, len(perm), BATCH_SIZE):
            idx = perm[i : i + BATCH_SIZE]
            opt.zero_grad()
            loss = loss_fn(model(x_train[idx]).flatten(0, 1), y_train[idx].flatten())
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            total += loss.item() * len(idx)
        train_loss = total / len(x_train)
        model.eval()
        with torch.no_grad():
            val_loss = loss_fn(model(x_val).flatten(0, 1), y_val.flatten()).item()
        print(f"epoch {epoch}  train_loss {train_loss:.3f}  val_ppl {math.exp(val_loss):.1f}")
    # Only the final epoch reaches W&B.
    wandb.log({"train_loss": train_loss, "val_perplexity": math.exp(val_loss)})
    run.finish()


if __name__ == "__main__":
    main()
