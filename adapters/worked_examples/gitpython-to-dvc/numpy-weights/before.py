"""Fit least-squares weights with numpy and version the weight file with git-lfs (GitPython)."""

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


def main():
    repo = Repo.init(STORE)
    repo.git.lfs("install", "--local")
    repo.git.lfs("track", "*.npy")
    (STORE / WEIGHTS).parent.mkdir(parents=True, exist_ok=True)
    np.save(STORE / WEIGHTS, fit())
    repo.index.add([".gitattributes", WEIGHTS])
    repo.index.commit("Add fitted weights", author=BOT, committer=BOT)
    print(f"committed {WEIGHTS} at {repo.head.commit.hexsha[:8]}")


if __name__ == "__main__":
    main()
