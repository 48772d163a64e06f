"""Train an iris classifier and version the pickled model with DVC."""

import pickle
import subprocess
import sys
from pathlib import Path

from git import Actor, Repo
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

MODEL = Path("models/model.pkl")


def train() -> LogisticRegression:
    X, y = load_iris(return_X_y=True)
    return LogisticRegression(max_iter=500).fit(X, y)


def dvc(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "dvc", *args], check=True)


def main() -> None:
    model = train()
    MODEL.parent.mkdir(exist_ok=True)
    MODEL.write_bytes(pickle.dumps(model))
    if not Path(".dvc").is_dir():
        dvc("init")
    dvc("remote", "add", "-d", "-f", "local", "dvc-storage")
    dvc("add", str(MODEL))
    repo = Repo(".")
    repo.index.add([f"{MODEL}.dvc", str(MODEL.parent / ".gitignore"), ".dvc/config", str(MODEL)])
    bot = Actor("training-bot", "bot@example.com")
    commit = repo.index.commit(f"Model v1 (train accuracy {model.score(*load_iris(return_X_y=True)):.3f})", author=bot)
    dvc("push")
    print(f"committed {MODEL}.dvc as {commit.hexsha[:8]}")


if __name__ == "__main__":
    main()
