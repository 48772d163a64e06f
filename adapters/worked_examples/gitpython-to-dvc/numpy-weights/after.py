"""Fit least-squares weights with numpy and version the weight file with DVC (git keeps the .dvc file)."""

import subprocess
import sys
from pathlib import Path

import numpy as np
from git import Actor, Repo

STORE = Path("weights-store")
WEIGHTS = "weights/linear.npy"
BOT = Actor("Trainer", "trainer@example.com")


def fit(seed=11):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(300, 5))
    y = X @ np.array([1.5, -2.0, 0.0, 0.7, 3.1]) + rng.normal(scale=0.1, size=300)
    w, *_ = np.linalg.lstsq(X, y, rcond=None)
    return w


def dvc(*args):
    # DVC has no dvc.init()/dvc.add() functions: drive its command line.
    subprocess.run([sys.executable, "-m", "dvc", *args], cwd=STORE, check=True)


def main():
    repo = Repo.init(STORE)
    if not (STORE / ".dvc").is_dir():
        dvc("init", "-q")
    dvc("remote", "add", "-d", "-f", "storage", "dvc-storage")
    (STORE / WEIGHTS).parent.mkdir(parents=True, exist_ok=True)
    np.save(STORE / WEIGHTS, fit())
    dvc("add", WEIGHTS)  # writes weights/linear.npy.dvc and weights/.gitignore
    repo.index.add([f"{WEIGHTS}.dvc", "weights/.gitignore", ".dvc/config"])
    repo.index.commit("Add fitted weights (tracked by DVC)", author=BOT, committer=BOT)
    dvc("push", "-q")
    print(f"committed {WEIGHTS}.dvc at {repo.head.commit.hexsha[:8]}")


if __name__ == "__main__":
    main()
