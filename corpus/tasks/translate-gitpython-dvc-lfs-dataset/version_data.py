"""Generate the measurements dataset and version it with git-lfs through GitPython."""

import csv
import random
from pathlib import Path

from git import Repo

DATA = Path("data/measurements.csv")


def generate(path: Path, rows: int = 300, seed: int = 0) -> None:
    rng = random.Random(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["sensor", "temperature", "humidity"])
        for i in range(rows):
            writer.writerow([f"s{i % 7}", round(rng.gauss(21.0, 3.0), 2), round(rng.uniform(30, 70), 1)])


def main() -> None:
    generate(DATA)
    repo = Repo(".")
    repo.git.lfs("track", "data/*.csv")
    repo.index.add([".gitattributes", str(DATA)])
    repo.index.commit("Add measurements dataset (stored with git-lfs)")
    repo.remote("origin").push(repo.active_branch.name)
    print(f"versioned {DATA} at {repo.head.commit.hexsha[:8]}")


if __name__ == "__main__":
    main()
