"""Version two CSV exports with GitPython, the calls written over several lines (outside the corpus)."""

import git


def main() -> None:
    repo = git.Repo(".")
    repo.index.add([
        "exports/train.csv",
        "exports/test.csv",
    ])
    shipped = (
        repo.index.commit("exports v1"),
        repo.create_tag("exports-v1"),
    )
    repo.git.push(
        "origin",
        "--tags",
    )
    print(shipped)


if __name__ == "__main__":
    main()
