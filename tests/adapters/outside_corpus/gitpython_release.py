"""Build a labelled sensor dataset and release it with git-lfs through GitPython.

Not a corpus task: a user's own script, with its repository in a fresh temporary folder.
"""

import csv
import random
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


def main() -> None:
    workspace = Path(tempfile.mkdtemp(prefix="dataset-release-"))
    origin = Repo.init(workspace / "origin.git", bare=True)
    repo = Repo.init(workspace / "repo")
    repo.git.lfs("install", "--local")
    repo.git.lfs("track", "dataset/*.csv")
    data = build(workspace / "repo")
    repo.index.add([".gitattributes", str(data.relative_to(workspace / "repo"))])
    repo.index.commit("Release the readings dataset", author=AUTHOR, committer=AUTHOR)
    repo.create_tag("dataset-v1")
    repo.create_remote("origin", origin.git_dir).push(["HEAD:refs/heads/main", "dataset-v1"])
    print(f"released {data.name} at {repo.head.commit.hexsha[:8]} in {workspace}")


if __name__ == "__main__":
    main()
