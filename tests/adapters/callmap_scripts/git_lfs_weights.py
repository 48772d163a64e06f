"""Save weights and version them with git-lfs through GitPython (outside the corpus)."""

from pathlib import Path

import git
import numpy as np

WEIGHTS = Path("weights/w.npy")


def main() -> None:
    WEIGHTS.parent.mkdir(exist_ok=True)
    np.save(WEIGHTS, np.arange(10.0))
    repo = git.Repo.init(".")
    Path(".gitattributes").write_text("*.npy filter=lfs diff=lfs merge=lfs -text\n")
    repo.git.lfs("install")
    repo.git.add(".gitattributes")
    repo.index.add([str(WEIGHTS)])
    repo.index.commit("weights v1")
    repo.create_tag("weights-v1")
    repo.remotes.origin.push("--tags")


if __name__ == "__main__":
    main()
