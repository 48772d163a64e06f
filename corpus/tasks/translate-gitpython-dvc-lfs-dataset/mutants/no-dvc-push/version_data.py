"""Generate the measurements dataset and version it with DVC (git for the .dvc metadata)."""

import csv
import random
import subprocess
import sys
from pathlib import Path

from git import Repo

DATA = Path("data/measurements.csv")
REMOTE_NAME = "storage"
REMOTE_DIR = "dvc-storage"


def generate(path: Path, rows: int = 300, seed: int = 0) -> None:
    rng = random.Random(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["sensor", "temperature", "humidity"])
        for i in range(rows):
            writer.writerow([f"s{i % 7}", round(rng.gauss(21.0, 3.0), 2), round(rng.uniform(30, 70), 1)])


def dvc(*args: str) -> None:
    """Run the DVC command line of this interpreter's environment."""
    subprocess.run([sys.executable, "-m", "dvc", *args], check=True)


def main() -> None:
    generate(DATA)
    repo = Repo(".")
    if not Path(".dvc").is_dir():
        dvc("init")
    dvc("remote", "add", "--default", "--force", REMOTE_NAME, REMOTE_DIR)
    dvc("add", str(DATA))
    repo.index.add([f"{DATA}.dvc", str(DATA.parent / ".gitignore"), ".dvc/config", ".dvc/.gitignore", ".dvcignore"])
    repo.index.commit("Add measurements dataset (tracked with DVC)")
    repo.remote("origin").push(repo.active_branch.name)
    print(f"versioned {DATA} at {repo.head.commit.hexsha[:8]}")


if __name__ == "__main__":
    main()
