"""Build a labelled sensor dataset and release it with DVC (git keeps the .dvc metadata).

The right translation of gitpython_release.py: its repository stays in a fresh temporary folder.
"""

import csv
import random
import subprocess
import tempfile
from pathlib import Path

from git import Actor, Repo

AUTHOR = Actor("Release Bot", "release@example.com")


def build(root: Path, rows: int = 200, seed: int = 7) -> Path:
    """Write dataset/readings.csv under ``root``."""
    rng = random.Random(seed)
    path = root / "dataset" / "readings.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["station", "pressure", "label"])
        for i in range(rows):
            writer.writerow([f"st{i % 5}", round(rng.gauss(1013.0, 6.0), 1), rng.choice(["calm", "storm"])])
    return path


def dvc(repo_dir: Path, *args: str) -> None:
    subprocess.run(["dvc", *args], cwd=repo_dir, check=True)


def main() -> None:
    workspace = Path(tempfile.mkdtemp(prefix="dataset-release-"))
    origin = Repo.init(workspace / "origin.git", bare=True)
    repo_dir = workspace / "repo"
    repo = Repo.init(repo_dir)
    dvc(repo_dir, "init", "-q")
    dvc(repo_dir, "remote", "add", "-d", "storage", str(workspace / "dvc-storage"))
    data = build(repo_dir)
    rel = str(data.relative_to(repo_dir))
    dvc(repo_dir, "add", rel)
    repo.index.add([f"{rel}.dvc", "dataset/.gitignore", ".dvc/config", ".dvc/.gitignore", ".dvcignore"])
    repo.index.commit("Release the readings dataset", author=AUTHOR, committer=AUTHOR)
    repo.create_tag("dataset-v1")
    dvc(repo_dir, "push", "-q")
    repo.create_remote("origin", origin.git_dir).push(["HEAD:refs/heads/main", "dataset-v1"])
    print(f"released {data.name} at {repo.head.commit.hexsha[:8]} in {workspace}")


if __name__ == "__main__":
    main()
