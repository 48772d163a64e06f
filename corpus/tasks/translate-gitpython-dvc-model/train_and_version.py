"""Train an iris classifier and commit the pickled model to git with GitPython."""

import pickle
from pathlib import Path

from git import Actor, Repo
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

MODEL = Path("models/model.pkl")


def train() -> LogisticRegression:
    X, y = load_iris(return_X_y=True)
    return LogisticRegression(max_iter=500).fit(X, y)


def main() -> None:
    model = train()
    MODEL.parent.mkdir(exist_ok=True)
    MODEL.write_bytes(pickle.dumps(model))
    repo = Repo(".")
    repo.index.add([str(MODEL)])
    bot = Actor("training-bot", "bot@example.com")
    commit = repo.index.commit(f"Model v1 (train accuracy {model.score(*load_iris(return_X_y=True)):.3f})", author=bot)
    print(f"committed {MODEL} as {commit.hexsha[:8]}")


if __name__ == "__main__":
    main()
