"""Append a day of store events to data/events.csv and version the new data with DVC."""

import csv
import subprocess
import sys
from pathlib import Path

from git import Repo

EVENTS = Path("data/events.csv")
NEW_ROWS = [("2024-04-10", "north", 312, 3744.0), ("2024-04-10", "south", 228, 2508.5)]


def append_rows(path: Path) -> int:
    with path.open("a", newline="") as fh:
        csv.writer(fh).writerows(NEW_ROWS)
    with path.open() as fh:
        return sum(1 for _ in fh) - 1


def dvc(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "dvc", *args], check=True)


def main() -> None:
    repo = Repo(".")
    # git tracked the CSV so far; DVC refuses to track a file git still tracks.
    if str(EVENTS) in {path for path, _stage in repo.index.entries}:
        repo.index.remove([str(EVENTS)], working_tree=False)
        repo.index.commit(f"stop tracking {EVENTS} in git (moving it to DVC)")
    total = append_rows(EVENTS)
    if not Path(".dvc").is_dir():
        dvc("init")
    dvc("remote", "add", "-d", "-f", "backup", "dvc-storage")
    dvc("add", str(EVENTS))
    repo.index.add([f"{EVENTS}.dvc", str(EVENTS.parent / ".gitignore"), ".dvc/config"])
    repo.index.commit(f"events: {total} rows (DVC)")
    dvc("push")
    repo.remote("origin").push(repo.active_branch.name)
    print(f"data/events.csv now has {total} rows")


if __name__ == "__main__":
    main()
